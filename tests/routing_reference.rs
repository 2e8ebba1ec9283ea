//! The worked example of `reference/dial-peers.md` §8 (10 peers, 12 numbers),
//! reproduced row by row, plus the edge cases §8 asks a suite to add.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use dialgate::routing::router::{Skip, Target};
use dialgate::routing::translation::Number;
use dialgate::routing::{CallRequest, Idle, Origin, PeerState, RouteError, RoutingTable, Tag};

const REFERENCE: &str = r#"
dial_peers:
  - {tag: 10, type: voip, destination_pattern: "2...", session_target: "ipv4:10.1.1.10:5060", preference: 0}
  - {tag: 11, type: voip, destination_pattern: "2...", session_target: "ipv4:10.1.1.11:5060", preference: 1}
  - {tag: 12, type: voip, destination_pattern: "20[0-4].", session_target: "ipv4:10.1.1.12:5060", huntstop: true}
  - {tag: 20, type: pots, destination_pattern: "9T", port: span1}
  - {tag: 21, type: pots, destination_pattern: "9T", port: span2}
  - {tag: 22, type: pots, destination_pattern: "91[2-9]..[2-9]......", prefix: "1", port: span1}
  - {tag: 23, type: pots, destination_pattern: "911$", digit_strip: false, huntstop: true, port: span1}
  - {tag: 24, type: pots, destination_pattern: "9911$", forward_digits: 3, port: span1}
  - {tag: 30, type: voip, destination_pattern: "5[^0]..$", session_target: "ipv4:10.1.1.30:5060", max_conn: 4}
  - {tag: 31, type: voip, destination_pattern: "5...$", session_target: "ipv4:10.1.1.31:5060", preference: 2}
"#;

fn table(yaml: &str) -> RoutingTable {
    RoutingTable::from_sources(&[(Path::new("reference.yaml"), yaml)])
        .expect("reference plan loads")
}

/// Peer 30 is at its max-conn limit (4 of 4 calls up).
#[derive(Default)]
struct Busy {
    calls: HashMap<Tag, u32>,
    down: Vec<Tag>,
    used: RefCell<HashMap<Tag, u64>>,
}

impl PeerState for Busy {
    fn active_calls(&self, tag: Tag) -> u32 {
        self.calls.get(&tag).copied().unwrap_or(0)
    }
    fn is_up(&self, tag: Tag) -> bool {
        !self.down.contains(&tag)
    }
    fn last_used(&self, tag: Tag) -> Option<u64> {
        self.used.borrow().get(&tag).copied()
    }
}

fn peer30_full() -> Busy {
    Busy {
        calls: HashMap::from([(30, 4)]),
        ..Busy::default()
    }
}

/// Route a dialled number with the hunt list computed over both peer types, as the
/// reference's table does (hairpin on, so POTS and VoIP peers are both candidates).
fn hunt(
    t: &RoutingTable,
    number: &str,
    state: &dyn PeerState,
) -> Result<Vec<(Tag, String)>, RouteError> {
    let request = CallRequest {
        origin: Origin::Span("span1".into()),
        called: Number::new(number),
        calling: None,
        seed: 0,
    };
    let route = t.route(&request, state)?;
    Ok(route
        .attempts
        .iter()
        .map(|a| (a.peer.tag, a.called.digits.clone()))
        .collect())
}

fn with_hairpin(yaml: &str) -> String {
    format!("settings: {{hairpin: true}}\n{yaml}")
}

#[test]
fn reference_table_of_twelve_numbers() {
    let t = table(&with_hairpin(REFERENCE));
    let state = peer30_full();
    type Row = (&'static str, Result<&'static [(Tag, &'static str)], u8>);
    let rows: &[Row] = &[
        ("2001", Ok(&[(12, "2001")])),
        ("2055", Ok(&[(10, "2055"), (11, "2055")])),
        ("3001", Err(1)),
        ("95551234", Ok(&[(20, "5551234"), (21, "5551234")])),
        (
            "914085551234",
            Ok(&[
                (22, "14085551234"),
                (20, "14085551234"),
                (21, "14085551234"),
            ]),
        ),
        ("911", Ok(&[(23, "911")])),
        ("9911", Ok(&[(24, "911"), (20, "911"), (21, "911")])),
        ("5123", Ok(&[(31, "5123")])),
        ("5023", Ok(&[(31, "5023")])),
        ("51234", Err(1)),
        ("20011", Ok(&[(12, "20011")])),
        (
            "9011441234567890",
            Ok(&[(20, "011441234567890"), (21, "011441234567890")]),
        ),
    ];
    for (number, expected) in rows {
        let got = hunt(&t, number, &state);
        match expected {
            Ok(list) => {
                let want: Vec<(Tag, String)> =
                    list.iter().map(|(t, d)| (*t, d.to_string())).collect();
                assert_eq!(got, Ok(want), "number {number}");
            }
            Err(cause) => assert_eq!(got.map_err(|e| e.cause()), Err(*cause), "number {number}"),
        }
    }
}

#[test]
fn reference_table_explicit_counts_and_matching_peers() {
    // Column "matching peers (exp/pref)" of §8: every matching peer with its count.
    let t = table(REFERENCE);
    let rows: &[(&str, &[(Tag, u32)])] = &[
        ("2001", &[(12, 2), (10, 1), (11, 1)]),
        ("2055", &[(10, 1), (11, 1)]),
        ("3001", &[]),
        ("95551234", &[(20, 1), (21, 1)]),
        ("914085551234", &[(22, 2), (20, 1), (21, 1)]),
        ("911", &[(23, 3), (20, 1), (21, 1)]),
        ("9911", &[(24, 4), (20, 1), (21, 1)]),
        ("5123", &[(30, 1), (31, 1)]),
        ("5023", &[(31, 1)]),
        ("51234", &[]),
        ("20011", &[(12, 2), (10, 1), (11, 1)]),
        ("9011441234567890", &[(20, 1), (21, 1)]),
    ];
    for (number, expected) in rows {
        let digits = dialgate::routing::pattern::Digits::parse(number).unwrap();
        let (attempts, skipped) = t.hunt(
            &digits,
            &[
                dialgate::routing::dial_peer::PeerType::Pots,
                dialgate::routing::dial_peer::PeerType::Voip,
            ],
            &Idle,
            0,
        );
        let mut got: Vec<(Tag, u32)> = attempts
            .iter()
            .map(|c| (c.peer.tag, c.matched.explicit))
            .collect();
        got.extend(skipped.iter().map(|s| (s.peer.tag, s.explicit)));
        assert_eq!(got, expected.to_vec(), "number {number}");
    }
}

#[test]
fn huntstop_peer_lists_the_rest_as_not_reached() {
    let t = table(&with_hairpin(REFERENCE));
    let request = CallRequest {
        origin: Origin::Span("span1".into()),
        called: Number::new("2001"),
        calling: None,
        seed: 0,
    };
    let route = t.route(&request, &Idle).unwrap();
    let skipped: Vec<(Tag, Skip)> = route.skipped.iter().map(|s| (s.peer.tag, s.skip)).collect();
    assert_eq!(
        skipped,
        vec![
            (10, Skip::AfterHuntstop { huntstop_tag: 12 }),
            (11, Skip::AfterHuntstop { huntstop_tag: 12 })
        ]
    );
}

#[test]
fn shutdown_peer_never_appears() {
    let yaml = REFERENCE.replace("preference: 0}", "preference: 0, enabled: false}");
    let t = table(&with_hairpin(&yaml));
    assert_eq!(hunt(&t, "2055", &Idle), Ok(vec![(11, "2055".into())]));
}

#[test]
fn peer_marked_down_is_skipped_like_max_conn() {
    let t = table(&with_hairpin(REFERENCE));
    let state = Busy {
        down: vec![30],
        ..Busy::default()
    };
    assert_eq!(hunt(&t, "5123", &state), Ok(vec![(31, "5123".into())]));
    assert_eq!(
        hunt(&t, "5123", &Idle),
        Ok(vec![(30, "5123".into()), (31, "5123".into())])
    );
}

#[test]
fn all_candidates_skipped_clears_with_cause_34() {
    let t = table(&with_hairpin(REFERENCE));
    let state = Busy {
        calls: HashMap::from([(30, 4)]),
        down: vec![31],
        ..Busy::default()
    };
    assert_eq!(hunt(&t, "5123", &state).map_err(|e| e.cause()), Err(34));
}

#[test]
fn preference_first_hunt_makes_pref_1_lose_to_pref_0_even_when_more_explicit() {
    // §8 edge case: `dial-peer hunt 2`; peer 11 made more explicit than peer 10.
    let yaml = REFERENCE.replace(
        r#"tag: 11, type: voip, destination_pattern: "2...""#,
        r#"tag: 11, type: voip, destination_pattern: "205.""#,
    );
    let t = table(&format!(
        "settings: {{hairpin: true, hunt: {{order: preference}}}}\n{yaml}"
    ));
    assert_eq!(
        hunt(&t, "2055", &Idle),
        Ok(vec![(10, "2055".into()), (11, "2055".into())])
    );
    let t = table(&with_hairpin(&yaml));
    assert_eq!(
        hunt(&t, "2055", &Idle),
        Ok(vec![(11, "2055".into()), (10, "2055".into())])
    );
}

#[test]
fn round_robin_ties_go_to_the_least_recently_used() {
    let t = table(&format!(
        "settings: {{hairpin: true, hunt: {{ties: round-robin}}}}\n{REFERENCE}"
    ));
    let state = Busy::default();
    assert_eq!(hunt(&t, "95551234", &state).unwrap()[0].0, 20);
    state.used.borrow_mut().insert(20, 1);
    assert_eq!(hunt(&t, "95551234", &state).unwrap()[0].0, 21);
    state.used.borrow_mut().insert(21, 2);
    assert_eq!(hunt(&t, "95551234", &state).unwrap()[0].0, 20);
}

#[test]
fn random_ties_depend_only_on_the_seed_and_keep_the_ranking() {
    let t = table(&format!(
        "settings: {{hairpin: true, hunt: {{ties: random}}}}\n{REFERENCE}"
    ));
    let mut firsts = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let request = CallRequest {
            origin: Origin::Span("span1".into()),
            called: Number::new("914085551234"),
            calling: None,
            seed,
        };
        let a: Vec<Tag> = t
            .route(&request, &Idle)
            .unwrap()
            .attempts
            .iter()
            .map(|a| a.peer.tag)
            .collect();
        let b: Vec<Tag> = t
            .route(&request, &Idle)
            .unwrap()
            .attempts
            .iter()
            .map(|a| a.peer.tag)
            .collect();
        assert_eq!(a, b, "same seed, same order");
        assert_eq!(a[0], 22, "the more explicit peer stays first");
        firsts.insert(a[1]);
    }
    assert_eq!(firsts.len(), 2, "both 20 and 21 come second for some seed");
}

#[test]
fn without_hairpin_a_pri_call_only_considers_voip_peers() {
    let t = table(REFERENCE);
    let request = CallRequest {
        origin: Origin::Span("span1".into()),
        called: Number::new("95551234"),
        calling: None,
        seed: 0,
    };
    let err = t.route(&request, &Idle).unwrap_err();
    assert_eq!(err, RouteError::Unallocated("95551234".into()));
    let request = CallRequest {
        origin: Origin::Span("span1".into()),
        called: Number::new("2055"),
        calling: None,
        seed: 0,
    };
    let route = t.route(&request, &Idle).unwrap();
    assert_eq!(
        route.attempts[0].target,
        Target::Sip {
            request_uri: "sip:2055@10.1.1.10:5060".into()
        }
    );
}
