//! `dialgate check`: lints on a loaded table, for the person editing the YAML.
//!
//! Loading already refuses what cannot work (syntax, bad patterns, unknown names).
//! The lints here find what loads but is probably not what was meant: peers that are
//! always behind a more explicit one, ties only the tag decides, patterns no number
//! can match, spans no inbound peer covers, VoIP peers without G.711, and toll-fraud
//! exposure. Errors make `check` exit non-zero; warnings are printed.
//!
//! Shadowing is decided exactly for the patterns the trie spells out (literals,
//! `.`, `[..]`, final `T`, `$`): pattern B covers A when every position of A's set is
//! inside B's and B's end condition admits every number A admits. Patterns with
//! groups or quantifiers are not compared (no false warnings; some misses).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::dial_peer::{Codec, HuntOrder, PeerType};
use super::pattern::{MAX_NUMBER_LEN, Pattern};
use super::table::{DialPeer, Host, Location, PeerKind, Port, RoutingTable, Tag};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// `check` fails.
    Error,
    /// Printed; `check` still passes.
    Warning,
}

/// What a lint found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "lint", rename_all = "kebab-case")]
pub enum Lint {
    /// Every number the peer matches also matches a more explicit peer (or one
    /// ahead of it with huntstop): it is only reached when those fail, or never.
    Shadowed {
        tag: Tag,
        by: Vec<Tag>,
        never_reached: bool,
    },
    /// Peers with the same pattern and preference: only the tie-break orders them.
    TieOnHuntOrder { tags: Vec<Tag>, pattern: String },
    /// A pattern no number can match.
    NeverMatches {
        tag: Tag,
        key: &'static str,
        pattern: String,
        why: &'static str,
    },
    /// A span that no enabled POTS peer names: its calls can only land on dial peer 0
    /// unless a called-number or answer-address peer matches.
    SpanWithoutInboundPeer { span: String },
    /// A span named in the dial peers but absent from the hardware definition.
    UnknownSpan { span: String },
    /// A VoIP peer without G.711: the POTS side only carries pcmu/pcma.
    NoCommonCodec { tag: Tag, codecs: Vec<Codec> },
    /// No SIP source is trusted although VoIP peers exist: every SIP call is refused.
    TrustedSourcesEmpty,
    /// A VoIP peer's address is not in an explicit `trusted_sources` list.
    TargetNotTrusted { tag: Tag },
    /// Automatic strip removes every digit (e.g. `911$`): add `digit_strip: false`.
    StripsAllDigits { tag: Tag, pattern: String },
    /// An outgoing profile on a POTS peer that also strips digits (§5.1 warning).
    ProfileWithDefaultStrip { tag: Tag },
    /// `forward_digits` together with `prefix` (§5.1 warning).
    ForwardDigitsWithPrefix { tag: Tag },
    /// A VoIP peer with a destination pattern and no session target (never outbound).
    NoSessionTarget { tag: Tag },
}

/// One finding, with where it is.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Where (the peer's tag), when it belongs to one peer.
    #[serde(skip)]
    pub at: Option<Location>,
    /// The finding.
    #[serde(flatten)]
    pub lint: Lint,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{sev}: {}", self.lint)
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shadowed {
                tag,
                by,
                never_reached: true,
            } => write!(
                f,
                "dial peer {tag} is never reached: dial peer {} matches every number it does, ranks ahead and has huntstop",
                tags(by)
            ),
            Self::Shadowed {
                tag,
                by,
                never_reached: false,
            } => write!(
                f,
                "dial peer {tag} is shadowed by longer matches (dial peer {}): it only gets calls when they fail",
                tags(by)
            ),
            Self::TieOnHuntOrder { tags, pattern } => write!(
                f,
                "dial peers {} tie on pattern \"{pattern}\" and preference: only the hunt tie-break orders them (set `preference` to make it explicit)",
                self::tags(tags)
            ),
            Self::NeverMatches {
                tag,
                key,
                pattern,
                why,
            } => {
                write!(
                    f,
                    "dial peer {tag}: `{key}` \"{pattern}\" can never match: {why}"
                )
            }
            Self::SpanWithoutInboundPeer { span } => write!(
                f,
                "span {span} has no POTS peer on it: its calls land on dial peer 0 unless a called-number or answer-address peer matches"
            ),
            Self::UnknownSpan { span } => {
                write!(f, "span {span} is not defined in the hardware files")
            }
            Self::NoCommonCodec { tag, codecs } => write!(
                f,
                "dial peer {tag} offers {} but the POTS side carries only pcmu and pcma: every call would fail with 488",
                codecs
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::TrustedSourcesEmpty => write!(
                f,
                "no SIP source is trusted but VoIP peers exist: every SIP call will be refused (add `trusted_sources`)"
            ),
            Self::TargetNotTrusted { tag } => write!(
                f,
                "dial peer {tag}'s session target is not in trusted_sources: calls from it will be refused"
            ),
            Self::StripsAllDigits { tag, pattern } => write!(
                f,
                "dial peer {tag}: automatic digit strip removes every digit of \"{pattern}\": add `digit_strip: false`"
            ),
            Self::ProfileWithDefaultStrip { tag } => write!(
                f,
                "dial peer {tag} has an outgoing profile and the default digit strip: the profile sees stripped digits; say `digit_strip: false` and do the work in the profile"
            ),
            Self::ForwardDigitsWithPrefix { tag } => write!(
                f,
                "dial peer {tag} combines forward_digits with prefix: do the work in an outgoing profile"
            ),
            Self::NoSessionTarget { tag } => {
                write!(
                    f,
                    "dial peer {tag} has a destination pattern but no session_target: it is never used outbound"
                )
            }
        }
    }
}

/// Run every lint. `hardware_spans` are the span names the hardware defines, when
/// known.
pub fn check(table: &RoutingTable, hardware_spans: Option<&BTreeSet<String>>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, peer: Option<&DialPeer>, lint| {
        out.push(Finding {
            severity,
            at: peer.map(|p| p.location.clone()),
            lint,
        });
    };
    let enabled: Vec<&DialPeer> = table
        .peers()
        .iter()
        .map(|p| &**p)
        .filter(|p| p.enabled)
        .collect();

    for p in &enabled {
        let keys = [
            ("destination_pattern", &p.destination_pattern),
            ("incoming_called_number", &p.incoming_called_number),
            ("answer_address", &p.answer_address),
        ];
        for (key, pattern) in keys {
            if let Some(pattern) = pattern
                && let Some(why) = never_matches(pattern)
            {
                push(
                    Severity::Error,
                    Some(p),
                    Lint::NeverMatches {
                        tag: p.tag,
                        key,
                        pattern: pattern.to_string(),
                        why,
                    },
                );
            }
        }
        match &p.kind {
            PeerKind::Voip(v) => {
                if !v
                    .codecs
                    .iter()
                    .any(|c| matches!(c, Codec::Pcmu | Codec::Pcma))
                {
                    push(
                        Severity::Error,
                        Some(p),
                        Lint::NoCommonCodec {
                            tag: p.tag,
                            codecs: v.codecs.clone(),
                        },
                    );
                }
                if p.destination_pattern.is_some() && v.target.is_none() {
                    push(
                        Severity::Warning,
                        Some(p),
                        Lint::NoSessionTarget { tag: p.tag },
                    );
                }
                match v.target.as_ref().map(|t| &t.host) {
                    Some(Host::Ipv4(a))
                        if table.trusted_sources_explicit() && !table.is_trusted((*a).into()) =>
                    {
                        push(
                            Severity::Warning,
                            Some(p),
                            Lint::TargetNotTrusted { tag: p.tag },
                        );
                    }
                    _ => {}
                }
            }
            PeerKind::Pots(pots) => {
                if let Some(d) = &p.destination_pattern {
                    let strips_all = pots.forward_digits.is_none()
                        && pots.digit_strip
                        && pots.prefix.is_empty()
                        && d.simple_steps()
                            .is_some_and(|s| s.iter().all(|s| s.explicit))
                        && d.is_end_anchored()
                        && !d.ends_with_t();
                    if strips_all {
                        push(
                            Severity::Warning,
                            Some(p),
                            Lint::StripsAllDigits {
                                tag: p.tag,
                                pattern: d.to_string(),
                            },
                        );
                    }
                    if p.outgoing_profile.is_some()
                        && pots.digit_strip
                        && pots.forward_digits.is_none()
                        && !d.literal_prefix().is_empty()
                    {
                        push(
                            Severity::Warning,
                            Some(p),
                            Lint::ProfileWithDefaultStrip { tag: p.tag },
                        );
                    }
                }
                if pots.forward_digits.is_some() && !pots.prefix.is_empty() {
                    push(
                        Severity::Warning,
                        Some(p),
                        Lint::ForwardDigitsWithPrefix { tag: p.tag },
                    );
                }
            }
        }
    }

    // Shadowing and ties, per outbound peer type.
    let by_order = table.settings().hunt.order;
    for t in [PeerType::Pots, PeerType::Voip] {
        let outbound: Vec<&DialPeer> = enabled
            .iter()
            .copied()
            .filter(|p| p.peer_type() == t && p.is_outbound_capable())
            .collect();
        let mut tie_reported: BTreeSet<Tag> = BTreeSet::new();
        for a in &outbound {
            let Some(pa) = &a.destination_pattern else {
                continue;
            };
            let ties: Vec<Tag> = outbound
                .iter()
                .filter(|b| {
                    b.preference == a.preference
                        && b.destination_pattern
                            .as_ref()
                            .is_some_and(|pb| pb.as_str() == pa.as_str())
                })
                .map(|b| b.tag)
                .collect();
            if ties.len() > 1 && !tie_reported.contains(&a.tag) {
                tie_reported.extend(ties.iter().copied());
                push(
                    Severity::Warning,
                    Some(a),
                    Lint::TieOnHuntOrder {
                        tags: ties,
                        pattern: pa.to_string(),
                    },
                );
            }
            let Some(sa) = pa.simple_steps() else {
                continue;
            };
            let masks_a: Vec<u32> = sa.iter().map(|s| s.mask).collect();
            let ea = explicit_of(&sa);
            let mut ahead: Vec<(Tag, Vec<u32>, bool)> = Vec::new();
            for b in &outbound {
                let Some(pb) = &b.destination_pattern else {
                    continue;
                };
                let Some(sb) = pb.simple_steps() else {
                    continue;
                };
                if b.tag == a.tag || !ends_admit(pb, sb.len(), pa, sa.len()) {
                    continue;
                }
                let eb = explicit_of(&sb);
                let ranks_ahead = match by_order {
                    HuntOrder::LongestMatch => eb > ea || (eb == ea && b.preference < a.preference),
                    HuntOrder::Preference => {
                        b.preference < a.preference || (b.preference == a.preference && eb > ea)
                    }
                };
                if ranks_ahead && (eb > ea || b.huntstop) {
                    ahead.push((b.tag, sb.iter().map(|s| s.mask).collect(), b.huntstop));
                }
            }
            // A single huntstop peer covering everything: never reached at all.
            if let Some((by, _, _)) = ahead.iter().find(|(_, m, h)| *h && subsumes(m, &masks_a)) {
                push(
                    Severity::Warning,
                    Some(a),
                    Lint::Shadowed {
                        tag: a.tag,
                        by: vec![*by],
                        never_reached: true,
                    },
                );
                continue;
            }
            let longer: Vec<&[u32]> = ahead.iter().map(|(_, m, _)| m.as_slice()).collect();
            let mut budget = 20_000u32;
            if !longer.is_empty() && covered(&masks_a, &longer, &mut budget) {
                let by: Vec<Tag> = ahead.iter().map(|(t, _, _)| *t).collect();
                push(
                    Severity::Warning,
                    Some(a),
                    Lint::Shadowed {
                        tag: a.tag,
                        by,
                        never_reached: false,
                    },
                );
            }
        }
    }

    // Spans.
    let mut spans: BTreeSet<String> = BTreeSet::new();
    for g in table.trunk_groups().values() {
        spans.extend(g.spans.iter().cloned());
    }
    for p in table.peers() {
        if let PeerKind::Pots(pots) = &p.kind
            && let Port::Span(s) = &pots.port
        {
            spans.insert(s.clone());
        }
    }
    if let Some(hw) = hardware_spans {
        for s in &spans {
            if !hw.contains(s) {
                push(Severity::Error, None, Lint::UnknownSpan { span: s.clone() });
            }
        }
        spans.extend(hw.iter().cloned());
    }
    for s in &spans {
        let covered = enabled
            .iter()
            .any(|p| matches!(&p.kind, PeerKind::Pots(pots) if pots.port.contains(s)));
        if !covered {
            push(
                Severity::Warning,
                None,
                Lint::SpanWithoutInboundPeer { span: s.clone() },
            );
        }
    }

    if table.trusted_sources().is_empty() && enabled.iter().any(|p| p.peer_type() == PeerType::Voip)
    {
        push(Severity::Warning, None, Lint::TrustedSourcesEmpty);
    }
    out
}

/// Why a pattern can never match a dialled number, if it cannot.
fn never_matches(p: &Pattern) -> Option<&'static str> {
    if p.min_len() as usize > MAX_NUMBER_LEN {
        return Some("it needs more digits than the longest number (64)");
    }
    if p.as_str().get(1..).is_some_and(|rest| rest.contains("\\+")) {
        return Some("a literal + can only be the first character of a number");
    }
    None
}

fn tags(list: &[Tag]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn explicit_of(steps: &[super::pattern::Step]) -> u32 {
    u32::try_from(steps.iter().filter(|s| s.explicit).count()).unwrap_or(u32::MAX)
}

/// True when pattern `b` (with `lb` steps) accepts every length `a` (with `la` steps)
/// accepts, given matching sets on the first `lb` positions.
fn ends_admit(b: &Pattern, lb: usize, a: &Pattern, la: usize) -> bool {
    if lb > la {
        return false;
    }
    let a_exact = a.is_end_anchored() && !a.ends_with_t();
    match (b.is_end_anchored(), b.ends_with_t()) {
        (false, _) => true,
        (true, false) => a_exact && lb == la,
        // T$ admits up to 32 more digits: enough unless a is open-ended.
        (true, true) => a.is_end_anchored(),
    }
}

/// Every set of `a` inside the matching set of `b` (b no longer than a).
fn subsumes(b: &[u32], a: &[u32]) -> bool {
    b.iter().zip(a).all(|(bm, am)| am & !bm == 0)
}

/// True when the numbers `a` spells (one set per position) are all inside the union
/// of the `bs`. Splits `a` digit by digit where some `b` restricts it; gives up
/// (false) when the budget runs out, so a lint never takes long.
fn covered(a: &[u32], bs: &[&[u32]], budget: &mut u32) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    if bs.iter().any(|b| subsumes(b, a)) {
        return true;
    }
    let Some(pos) = (0..a.len()).find(|&p| bs.iter().any(|b| p < b.len() && a[p] & !b[p] != 0))
    else {
        return false;
    };
    let mut rest = a.to_vec();
    for d in 0..16 {
        let bit = 1u32 << d;
        if a[pos] & bit == 0 {
            continue;
        }
        rest[pos] = bit;
        let live: Vec<&[u32]> = bs
            .iter()
            .copied()
            .filter(|b| pos >= b.len() || b[pos] & bit != 0)
            .collect();
        if live.is_empty() || !covered(&rest, &live, budget) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn lints(yaml: &str) -> Vec<Lint> {
        let t = RoutingTable::from_sources(&[(Path::new("t.yaml"), yaml)]).unwrap();
        check(&t, None).into_iter().map(|f| f.lint).collect()
    }

    const TARGET: &str = "session_target: \"ipv4:192.0.2.1\"";

    fn peers(list: &[(u32, &str, &str)]) -> String {
        let mut y = String::from("dial_peers:\n");
        for (tag, pattern, extra) in list {
            y.push_str(&format!(
                "  - {{tag: {tag}, type: voip, destination_pattern: '{pattern}', {TARGET}{extra}}}\n"
            ));
        }
        y
    }

    #[test]
    fn lint_table() {
        let ten: Vec<(u32, String)> = (0..10).map(|d| (10 + d, format!("2{d}.."))).collect();
        let mut all_ten: Vec<(u32, &str, &str)> =
            ten.iter().map(|(t, p)| (*t, p.as_str(), "")).collect();
        // `.` also takes A-D, * and #, so the covered pattern spells out 0-9.
        all_ten.push((1, "2[0-9]..", ""));
        let nine = &all_ten[1..];
        type Row<'a> = (Vec<(u32, &'a str, &'a str)>, Vec<Lint>);
        let rows: Vec<Row<'_>> = vec![
            // 2[0-9].. is covered by 20.. to 29..: always behind a longer match.
            (
                all_ten.clone(),
                vec![Lint::Shadowed {
                    tag: 1,
                    by: (10..20).collect(),
                    never_reached: false,
                }],
            ),
            // Without 20.. the numbers 20xx still reach peer 1.
            (nine.to_vec(), vec![]),
            // A huntstop peer ahead that covers: never reached.
            (
                vec![
                    (1, "5...", ", huntstop: true"),
                    (2, "5...", ", preference: 1"),
                ],
                vec![Lint::Shadowed {
                    tag: 2,
                    by: vec![1],
                    never_reached: true,
                }],
            ),
            // Same pattern, same preference: only the tie-break decides.
            (
                vec![(1, "9T", ""), (2, "9T", "")],
                vec![Lint::TieOnHuntOrder {
                    tags: vec![1, 2],
                    pattern: "9T".into(),
                }],
            ),
            // Different preference: an intended failover, no finding.
            (vec![(1, "9T", ""), (2, "9T", ", preference: 1")], vec![]),
            // A longer explicit pattern of fixed length does not shadow an open one.
            (vec![(1, "9T", ""), (2, "911$", "")], vec![]),
            (
                vec![(1, "1\\+", "")],
                vec![Lint::NeverMatches {
                    tag: 1,
                    key: "destination_pattern",
                    pattern: "1\\+".into(),
                    why: "a literal + can only be the first character of a number",
                }],
            ),
            (
                vec![(1, "2...", ", codecs: [g729]")],
                vec![Lint::NoCommonCodec {
                    tag: 1,
                    codecs: vec![Codec::G729],
                }],
            ),
        ];
        for (list, expected) in rows {
            let y = peers(&list);
            assert_eq!(lints(&y), expected, "{y}");
        }
    }

    #[test]
    fn pots_lints_table() {
        let rows: &[(&str, Vec<Lint>)] = &[
            (
                "{tag: 1, type: pots, destination_pattern: \"911$\", port: span1}",
                vec![Lint::StripsAllDigits {
                    tag: 1,
                    pattern: "911$".into(),
                }],
            ),
            (
                "{tag: 1, type: pots, destination_pattern: \"911$\", port: span1, digit_strip: false}",
                vec![],
            ),
            (
                "{tag: 1, type: pots, destination_pattern: \"9T\", port: span1, forward_digits: 4, prefix: \"1\"}",
                vec![Lint::ForwardDigitsWithPrefix { tag: 1 }],
            ),
        ];
        for (peer, expected) in rows {
            let y = format!("dial_peers:\n  - {peer}\n");
            assert_eq!(lints(&y), *expected, "{y}");
        }
    }

    #[test]
    fn spans_and_trust_lints() {
        let y = "trunk_groups:\n  - {name: tg1, spans: [span1, span2]}\ntrusted_sources: []\ndial_peers:\n  - {tag: 1, type: pots, incoming_called_number: \"2...\", port: span1}\n  - {tag: 2, type: voip, destination_pattern: \"2...\", session_target: \"ipv4:192.0.2.1\"}\n";
        assert_eq!(
            lints(y),
            vec![
                Lint::TargetNotTrusted { tag: 2 },
                Lint::SpanWithoutInboundPeer {
                    span: "span2".into()
                },
                Lint::TrustedSourcesEmpty,
            ]
        );
        let t = RoutingTable::from_sources(&[(Path::new("t.yaml"), y)]).unwrap();
        let hw: BTreeSet<String> = ["span1".to_owned()].into();
        let found: Vec<Lint> = check(&t, Some(&hw)).into_iter().map(|f| f.lint).collect();
        assert!(found.contains(&Lint::UnknownSpan {
            span: "span2".into()
        }));
    }
}
