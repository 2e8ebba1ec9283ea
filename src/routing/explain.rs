//! `dialgate dialplan`: why a number routes the way it does (`reference/dial-peers.md`
//! §7, `show dialplan number`, extended to the inbound side and translations).
//!
//! ```text
//!   Trace (router) ──▶ Explanation { inbound + why-not list, translation steps,
//!                                    number to route, hunt list, not attempted, result }
//!                  ──▶ plain text, or JSON for scripts
//! ```
//!
//! The chosen inbound peer comes from the router itself; the "why not" list is a
//! plain scan of every peer, so the explanation cannot drift from the real decision.

use std::fmt::Write as _;

use serde::Serialize;

use super::CallRequest;
use super::dial_peer::{HuntOrder, PeerType, TieBreak};
use super::pattern::{Digits, Pattern};
use super::router::{
    Attempt, InboundStep, Origin, PeerState, Skip, Skipped, Target, Trace, TranslationStep,
};
use super::table::{DialPeer, PeerKind, RoutingTable, Tag};
use super::translation::{Number, Outcome, Party};

/// A serialisable explanation of one routing decision.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// Called number as dialled.
    pub called: String,
    /// Calling number, if given.
    pub calling: Option<String>,
    /// Where the call came from.
    pub origin: Origin,
    /// For a SIP call: whether the source is trusted.
    pub trusted: Option<bool>,
    /// The inbound decision.
    pub inbound: Option<InboundReport>,
    /// Incoming translation steps.
    pub incoming_translations: Vec<TranslationStep>,
    /// Called number after incoming translation.
    pub number_to_route: Number,
    /// How ties are ordered.
    pub hunt_order: String,
    /// The hunt list.
    pub hunt: Vec<AttemptReport>,
    /// Matching peers not attempted.
    pub not_attempted: Vec<SkippedReport>,
    /// `ok`, or the error with its Q.850 cause and SIP status.
    pub result: ResultReport,
}

/// The inbound peer and every other peer with the reason it lost.
#[derive(Debug, Serialize)]
pub struct InboundReport {
    /// Chosen tag (0 = dial peer 0).
    pub tag: Tag,
    /// The step that decided.
    pub step: InboundStep,
    /// Explicit digits of the deciding match.
    pub explicit: u32,
    /// Other peers of the leg's type and why each was not chosen.
    pub not_chosen: Vec<NotChosen>,
}

/// One peer that was not chosen as inbound peer.
#[derive(Debug, Serialize)]
pub struct NotChosen {
    /// Tag.
    pub tag: Tag,
    /// Why, in words.
    pub reason: String,
}

/// One hunt-list entry.
#[derive(Debug, Serialize)]
pub struct AttemptReport {
    /// Tag.
    pub tag: Tag,
    /// `pots` or `voip`.
    #[serde(rename = "type")]
    pub peer_type: PeerType,
    /// Destination pattern.
    pub pattern: String,
    /// Explicit digits.
    pub explicit: u32,
    /// Preference.
    pub preference: u8,
    /// Huntstop on this peer.
    pub huntstop: bool,
    /// Outgoing translation steps.
    pub translations: Vec<TranslationStep>,
    /// Called number as sent.
    pub called: Number,
    /// Calling number as sent.
    pub calling: Option<Number>,
    /// Request-URI or Q.931 called number.
    pub target: Target,
}

/// A matching peer that is not attempted.
#[derive(Debug, Serialize)]
pub struct SkippedReport {
    /// Tag.
    pub tag: Tag,
    /// Destination pattern.
    pub pattern: String,
    /// Explicit digits.
    pub explicit: u32,
    /// Why.
    #[serde(flatten)]
    pub skip: Skip,
}

/// The outcome.
#[derive(Debug, Serialize)]
pub struct ResultReport {
    /// True when there is at least one peer to try.
    pub routed: bool,
    /// The error, in words.
    pub error: Option<String>,
    /// Q.850 cause the call would clear with.
    pub cause: Option<u8>,
    /// SIP status a SIP caller would get.
    pub sip_status: Option<u16>,
}

/// SIP status for the causes the router produces (`interworking.md` §6.1).
fn sip_status(cause: u8) -> u16 {
    match cause {
        1 => 404,
        17 => 486,
        21 => 403,
        28 => 484,
        34 => 503,
        _ => 480,
    }
}

fn pattern_text(p: Option<&Pattern>) -> String {
    p.map(|p| p.as_str().to_owned()).unwrap_or_default()
}

impl RoutingTable {
    /// Explain the routing of one call.
    pub fn explain(&self, request: &CallRequest, state: &dyn PeerState) -> Explanation {
        let trace = self.trace(request, state);
        let trusted = match request.origin {
            Origin::Sip(a) => Some(self.is_trusted(a)),
            Origin::Span(_) => None,
        };
        let inbound = trace.inbound.as_ref().map(|i| InboundReport {
            tag: i.tag(),
            step: i.step,
            explicit: i.explicit,
            not_chosen: self.why_not_inbound(&trace),
        });
        let hunt = &self.settings.hunt;
        let hunt_order = format!(
            "{}, ties by {}",
            match hunt.order {
                HuntOrder::LongestMatch => "longest match, then preference",
                HuntOrder::Preference => "preference, then longest match",
            },
            match hunt.ties {
                TieBreak::Tag => "lowest tag",
                TieBreak::RoundRobin => "least recently used",
                TieBreak::Random => "random (seeded per call)",
            }
        );
        let result = ResultReport {
            routed: trace.error.is_none(),
            error: trace.error.as_ref().map(ToString::to_string),
            cause: trace.error.as_ref().map(super::RouteError::cause),
            sip_status: trace.error.as_ref().map(|e| sip_status(e.cause())),
        };
        Explanation {
            called: request.called.digits.clone(),
            calling: request.calling.as_ref().map(|c| c.digits.clone()),
            origin: request.origin.clone(),
            trusted,
            inbound,
            incoming_translations: trace.translations.clone(),
            number_to_route: trace.called.clone(),
            hunt_order,
            hunt: trace.attempts.iter().map(attempt_report).collect(),
            not_attempted: trace.skipped.iter().map(skipped_report).collect(),
            result,
        }
    }

    fn why_not_inbound(&self, trace: &Trace) -> Vec<NotChosen> {
        let Some(inbound) = &trace.inbound else {
            return Vec::new();
        };
        let request = &trace.request;
        let leg = match request.origin {
            Origin::Span(_) => PeerType::Pots,
            Origin::Sip(_) => PeerType::Voip,
        };
        let called = Digits::parse(&request.called.digits).ok();
        let calling = request
            .calling
            .as_ref()
            .and_then(|c| Digits::parse(&c.digits).ok());
        let rank = |s: InboundStep| match s {
            InboundStep::IncomingCalledNumber => 1,
            InboundStep::AnswerAddress => 2,
            InboundStep::DestinationPattern => 3,
            InboundStep::Port => 4,
            InboundStep::DialPeer0 => 5,
        };
        let chosen = inbound.tag();
        let mut out = Vec::new();
        for peer in &self.peers {
            if peer.tag == chosen || peer.peer_type() != leg {
                continue;
            }
            let reason = if !peer.enabled {
                "shutdown (enabled: false)".to_owned()
            } else {
                match first_inbound_match(peer, &request.origin, called.as_ref(), calling.as_ref())
                {
                    None => no_match_reason(peer, &request.called.digits, request.calling.as_ref()),
                    Some((step, explicit)) if step == inbound.step => format!(
                        "{} also matches with {explicit} explicit digit(s), but dial peer {chosen} {}",
                        step_name(step),
                        if explicit < inbound.explicit {
                            format!("has more ({})", inbound.explicit)
                        } else {
                            "has as many and a lower tag".to_owned()
                        }
                    ),
                    Some((step, _)) if rank(step) > rank(inbound.step) => format!(
                        "matches only by {} (a later step); {} decided first",
                        step_name(step),
                        step_name(inbound.step)
                    ),
                    Some((step, _)) => {
                        format!("matches by {} but was not selected", step_name(step))
                    }
                }
            };
            out.push(NotChosen {
                tag: peer.tag,
                reason,
            });
        }
        out
    }
}

fn first_inbound_match(
    peer: &DialPeer,
    origin: &Origin,
    called: Option<&Digits>,
    calling: Option<&Digits>,
) -> Option<(InboundStep, u32)> {
    let tries = [
        (
            InboundStep::IncomingCalledNumber,
            peer.incoming_called_number.as_ref(),
            called,
        ),
        (
            InboundStep::AnswerAddress,
            peer.answer_address.as_ref(),
            calling,
        ),
        (
            InboundStep::DestinationPattern,
            peer.destination_pattern.as_ref(),
            calling,
        ),
    ];
    for (step, pattern, number) in tries {
        if let (Some(p), Some(n)) = (pattern, number)
            && let Some(m) = p.matches(n)
        {
            return Some((step, m.explicit));
        }
    }
    if let (Origin::Span(span), PeerKind::Pots(p)) = (origin, &peer.kind)
        && p.port.contains(span)
    {
        return Some((InboundStep::Port, 0));
    }
    None
}

fn no_match_reason(peer: &DialPeer, called: &str, calling: Option<&Number>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &peer.incoming_called_number {
        parts.push(format!(
            "incoming_called_number \"{p}\" does not match {called}"
        ));
    }
    let calling = calling.map_or("(no calling number)", |c| c.digits.as_str());
    if let Some(p) = &peer.answer_address {
        parts.push(format!("answer_address \"{p}\" does not match {calling}"));
    }
    if let Some(p) = &peer.destination_pattern {
        parts.push(format!(
            "destination_pattern \"{p}\" does not match calling {calling}"
        ));
    }
    if let PeerKind::Pots(_) = peer.kind {
        parts.push("not on this span".to_owned());
    }
    if parts.is_empty() {
        "has no inbound key".to_owned()
    } else {
        parts.join("; ")
    }
}

fn step_name(step: InboundStep) -> &'static str {
    match step {
        InboundStep::IncomingCalledNumber => "incoming_called_number",
        InboundStep::AnswerAddress => "answer_address",
        InboundStep::DestinationPattern => "destination_pattern (on the calling number)",
        InboundStep::Port => "port",
        InboundStep::DialPeer0 => "dial peer 0",
    }
}

fn attempt_report(a: &Attempt) -> AttemptReport {
    AttemptReport {
        tag: a.peer.tag,
        peer_type: a.peer.peer_type(),
        pattern: pattern_text(a.peer.destination_pattern.as_ref()),
        explicit: a.explicit,
        preference: a.peer.preference,
        huntstop: a.peer.huntstop,
        translations: a.translations.clone(),
        called: a.called.clone(),
        calling: a.calling.clone(),
        target: a.target.clone(),
    }
}

fn skipped_report(s: &Skipped) -> SkippedReport {
    SkippedReport {
        tag: s.peer.tag,
        pattern: pattern_text(s.peer.destination_pattern.as_ref()),
        explicit: s.explicit,
        skip: s.skip,
    }
}

fn origin_text(o: &Origin) -> String {
    match o {
        Origin::Span(s) => format!("PRI span {s}"),
        Origin::Sip(a) => format!("SIP {a}"),
    }
}

fn step_text(s: &TranslationStep) -> String {
    let stage = serde_json::to_value(s.stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let party = match s.party {
        Party::Called => "called",
        Party::Calling => "calling",
    };
    let head = format!(
        "[{stage}] profile {}, {party}, rule set {}:",
        s.profile, s.rule_set
    );
    match &s.outcome {
        Outcome::NoMatch => format!("{head} no rule matched, {} unchanged", s.before),
        Outcome::Translated {
            precedence,
            rule,
            number,
        } => {
            format!("{head} rule {precedence} {rule}: {} -> {number}", s.before)
        }
        Outcome::Rejected {
            precedence,
            rule,
            cause,
        } => {
            format!(
                "{head} {} blocked on rule {precedence} {rule} (cause {cause})",
                s.before
            )
        }
    }
}

fn skip_text(s: &Skip) -> String {
    match s {
        Skip::MaxConn { active, max } => format!("at max-conn ({active}/{max} calls)"),
        Skip::Down => "marked down (keepalive)".to_owned(),
        Skip::Rejected { precedence, cause } => {
            format!("blocked by outgoing rule {precedence} (cause {cause})")
        }
        Skip::AfterHuntstop { huntstop_tag } => {
            format!("not reached: dial peer {huntstop_tag} has huntstop")
        }
        Skip::Hairpin => {
            "same leg type as the incoming call (settings.hairpin is false)".to_owned()
        }
    }
}

impl Explanation {
    /// The plain-text rendering.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let calling = self.calling.as_deref().unwrap_or("none");
        let _ = writeln!(
            o,
            "Number {}  calling {calling}  from {}",
            self.called,
            origin_text(&self.origin)
        );
        if let Some(t) = self.trusted {
            let _ = writeln!(
                o,
                "Source: {}",
                if t {
                    "trusted"
                } else {
                    "NOT trusted (trusted_sources)"
                }
            );
        }
        if let Some(i) = &self.inbound {
            let _ = writeln!(o, "\nInbound dial peer");
            if i.tag == 0 {
                let _ = writeln!(
                    o,
                    "  chosen: dial peer 0 (no inbound peer matched; codecs pcmu, pcma; dtmf rtp-nte)"
                );
            } else {
                let _ = writeln!(
                    o,
                    "  chosen: dial peer {} by {} ({} explicit digit(s))",
                    i.tag,
                    step_name(i.step),
                    i.explicit
                );
            }
            for n in &i.not_chosen {
                let _ = writeln!(o, "  not {}: {}", n.tag, n.reason);
            }
        }
        let _ = writeln!(o, "\nIncoming translation");
        if self.incoming_translations.is_empty() {
            let _ = writeln!(o, "  none");
        }
        for s in &self.incoming_translations {
            let _ = writeln!(o, "  {}", step_text(s));
        }
        let _ = writeln!(o, "\nNumber to route: {}", self.number_to_route);
        let _ = writeln!(o, "\nHunt list ({})", self.hunt_order);
        if self.hunt.is_empty() {
            let _ = writeln!(o, "  none");
        }
        for (n, a) in self.hunt.iter().enumerate() {
            let ty = match a.peer_type {
                PeerType::Pots => "pots",
                PeerType::Voip => "voip",
            };
            let _ = writeln!(
                o,
                "  {}. dial peer {} ({ty}) pattern \"{}\"  explicit {}  preference {}{}",
                n + 1,
                a.tag,
                a.pattern,
                a.explicit,
                a.preference,
                if a.huntstop { "  huntstop" } else { "" }
            );
            for s in &a.translations {
                let _ = writeln!(o, "       {}", step_text(s));
            }
            match &a.target {
                Target::Sip { request_uri } => {
                    let _ = writeln!(
                        o,
                        "       send {}  ->  INVITE {request_uri}",
                        a.called.digits
                    );
                }
                Target::Q931 { port, called } => {
                    let _ = writeln!(
                        o,
                        "       send {}  ->  SETUP on {port}, called party number {called}",
                        a.called.digits
                    );
                }
            }
        }
        if !self.not_attempted.is_empty() {
            let _ = writeln!(o, "  not attempted:");
            for s in &self.not_attempted {
                let _ = writeln!(
                    o,
                    "     dial peer {} pattern \"{}\" explicit {}: {}",
                    s.tag,
                    s.pattern,
                    s.explicit,
                    skip_text(&s.skip)
                );
            }
        }
        let _ = writeln!(o);
        match (
            &self.result.error,
            self.result.cause,
            self.result.sip_status,
        ) {
            (Some(e), Some(c), Some(s)) => {
                let _ = writeln!(o, "Result: {e}: clear with cause {c} (SIP {s})");
            }
            _ => {
                let _ = writeln!(
                    o,
                    "Result: routed, {} peer(s) to try in order",
                    self.hunt.len()
                );
            }
        }
        o
    }
}
