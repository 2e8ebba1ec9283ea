//! Property tests of the router: the trie agrees with a brute-force scan, a longer
//! explicit match is never ranked behind a shorter one, preference is honoured, and
//! no input (pattern text, number, YAML) makes anything panic.

use std::path::Path;

use dialgate::routing::dial_peer::PeerType;
use dialgate::routing::pattern::{Digits, Pattern};
use dialgate::routing::{Idle, RoutingTable};
use proptest::prelude::*;

/// Simple and complex patterns over a small alphabet so they collide often.
fn pattern_strategy() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        4 => "[0-3]".prop_map(|s| s),
        2 => Just(".".to_owned()),
        1 => Just("[1-2]".to_owned()),
        1 => Just("[^0]".to_owned()),
        1 => "[0-3]%".prop_map(|s| s),
        1 => "\\([0-3][0-3]\\)\\?".prop_map(|s| s.replace('\\', "")),
    ];
    (
        prop::collection::vec(item, 1..6),
        prop_oneof![Just(""), Just("$"), Just("T")],
    )
        .prop_map(|(items, end)| format!("{}{end}", items.concat()))
}

fn number_strategy() -> impl Strategy<Value = String> {
    "[0-3]{0,8}"
}

fn table_of(patterns: &[(String, u8)]) -> RoutingTable {
    let mut y = String::from("dial_peers:\n");
    for (i, (p, pref)) in patterns.iter().enumerate() {
        y.push_str(&format!(
            "  - {{tag: {}, type: voip, destination_pattern: \"{p}\", session_target: \"ipv4:192.0.2.1\", preference: {pref}}}\n",
            i + 1
        ));
    }
    RoutingTable::from_sources(&[(Path::new("p.yaml"), y.as_str())]).expect("generated plan loads")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn trie_lookup_equals_brute_force_scan(
        patterns in prop::collection::vec((pattern_strategy(), 0u8..3), 1..12),
        number in number_strategy(),
    ) {
        let t = table_of(&patterns);
        let digits = Digits::parse(&number).unwrap();
        let mut got: Vec<(u32, u32)> = t
            .outbound_candidates(&digits, PeerType::Voip)
            .iter()
            .map(|c| (c.peer.tag, c.matched.explicit))
            .collect();
        got.sort();
        let mut want: Vec<(u32, u32)> = patterns
            .iter()
            .enumerate()
            .filter_map(|(i, (p, _))| Pattern::parse(p).unwrap().matches(&digits).map(|m| (i as u32 + 1, m.explicit)))
            .collect();
        want.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn longer_explicit_match_is_never_behind_a_shorter_one_and_preference_orders_ties(
        patterns in prop::collection::vec((pattern_strategy(), 0u8..3), 1..12),
        number in number_strategy(),
    ) {
        let t = table_of(&patterns);
        let digits = Digits::parse(&number).unwrap();
        let (attempts, _) = t.hunt(&digits, &[PeerType::Voip], &Idle, 0);
        for pair in attempts.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            prop_assert!(a.matched.explicit >= b.matched.explicit, "{} before {}", a.peer.tag, b.peer.tag);
            if a.matched.explicit == b.matched.explicit {
                prop_assert!(a.peer.preference <= b.peer.preference);
                if a.peer.preference == b.peer.preference {
                    prop_assert!(a.peer.tag < b.peer.tag);
                }
            }
        }
    }

    #[test]
    fn pattern_parse_and_match_never_panic(text in "\\PC{0,24}", number in "[0-9A-D*#]{0,40}") {
        if let Ok(p) = Pattern::parse(&text) {
            let _ = p.matches(&Digits::parse(&number).unwrap());
        }
    }

    #[test]
    fn number_parse_never_panics(text in "\\PC{0,80}") {
        let _ = Digits::parse(&text);
    }

    #[test]
    fn yaml_load_never_panics(text in "[a-z_:{} \\[\\],\"\\n0-9.$T-]{0,200}") {
        let _ = RoutingTable::from_sources(&[(Path::new("f.yaml"), text.as_str())]);
    }

    #[test]
    fn yaml_with_arbitrary_numbers_never_panics(tag in any::<i64>(), pref in any::<i64>(), max in any::<i64>(), fwd in any::<i64>()) {
        let y = format!(
            "dial_peers:\n  - {{tag: {tag}, type: pots, destination_pattern: \"9T\", port: span1, preference: {pref}, max_conn: {max}, forward_digits: {fwd}}}\n"
        );
        let _ = RoutingTable::from_sources(&[(Path::new("f.yaml"), y.as_str())]);
    }
}
