//! Matching a call to dial peers: inbound selection (§4), incoming translation
//! (§5.3 steps 1-5), outbound hunt (§3), and per-peer digit manipulation (§5.1-5.2).
//!
//! ```text
//!   CallRequest ─▶ trust check (SIP) ─▶ inbound peer ─▶ incoming profiles
//!       ─▶ outbound candidates (trie) ─▶ order + skip (PeerState) ─▶ per peer:
//!          select digits ─▶ outgoing profiles ─▶ prefix ─▶ Request-URI / Q.931 number
//! ```
//!
//! Lookups run on an [`Index`]: one digit trie (`trie.rs`) per (peer type, match
//! key), walked without allocation or hashing. Runtime state (calls up per peer,
//! keepalive status, last use) belongs to the caller and comes in through
//! [`PeerState`]; randomness comes in as a per-call seed. Nothing here reads a clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::dial_peer::{ForwardDigits, HuntOrder, NoInboundMatch, PeerType, TieBreak, Transport};
use super::pattern::{Digits, Pattern, PatternMatch};
use super::table::{DialPeer, PeerKind, Port, RoutingTable, Tag, Voip};
use super::translation::{Number, NumberType, NumberingPlan, Outcome, Party, Profile};
pub use super::trie::Hit;
use super::trie::{Key, Sink, Trie, TrieBuilder};

/// Runtime state of the peers, owned by the call mapper.
pub trait PeerState {
    /// Calls currently up on the peer (counted against `max_conn`).
    fn active_calls(&self, tag: Tag) -> u32 {
        let _ = tag;
        0
    }
    /// False when the peer is marked down (e.g. SIP OPTIONS keepalive failed).
    fn is_up(&self, tag: Tag) -> bool {
        let _ = tag;
        true
    }
    /// Whether a SIP source is the address a VoIP peer's `dns:` session target resolved
    /// to (the table cannot know it: resolving is the caller's I/O). While
    /// `trusted_sources` is not set, such a source is trusted like an `ipv4:` target.
    fn is_resolved_target(&self, addr: IpAddr) -> bool {
        let _ = addr;
        false
    }
    /// A monotonic sequence number of the peer's last use, for round-robin ties;
    /// `None` if never used.
    fn last_used(&self, tag: Tag) -> Option<u64> {
        let _ = tag;
        None
    }
}

/// No calls up, every peer up, nothing used yet.
#[derive(Clone, Copy, Debug, Default)]
pub struct Idle;

impl PeerState for Idle {}

/// Where a call came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A PRI SETUP on this span.
    Span(String),
    /// A SIP INVITE from this address.
    Sip(IpAddr),
}

/// A call to route.
#[derive(Clone, Debug)]
pub struct CallRequest {
    /// Where it came from.
    pub origin: Origin,
    /// Called number (DNIS / Request-URI user part).
    pub called: Number,
    /// Calling number (ANI / From or PAI user part), if any.
    pub calling: Option<Number>,
    /// Seed for the `random` tie-break; the caller picks one per call.
    pub seed: u64,
}

/// Which inbound criterion matched (§4.1, §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboundStep {
    /// `incoming called-number` against the called number.
    IncomingCalledNumber,
    /// `answer-address` against the calling number.
    AnswerAddress,
    /// `destination-pattern` against the calling number.
    DestinationPattern,
    /// `port`: the span the SETUP came in on (PRI only).
    Port,
    /// Nothing matched: the built-in dial peer 0.
    DialPeer0,
}

/// The inbound peer bound to the incoming leg.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// The peer; `None` is dial peer 0.
    pub peer: Option<Arc<DialPeer>>,
    /// The step that matched.
    pub step: InboundStep,
    /// Explicit digits of the match (0 for the port step and dial peer 0).
    pub explicit: u32,
}

impl Inbound {
    /// The tag (0 for dial peer 0).
    pub fn tag(&self) -> Tag {
        self.peer.as_ref().map_or(0, |p| p.tag)
    }
}

/// Where a translation profile was applied (§5.3 numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// 2: incoming profile of the trunk group the call arrived on.
    TrunkGroupIncoming,
    /// 3: incoming profile of the inbound dial peer.
    InboundPeer,
    /// 4: `voice service pots` incoming.
    VoiceServicePotsIncoming,
    /// 5: `voip-incoming translation-profile`.
    VoiceServiceVoipIncoming,
    /// 6: `voice service pots` outgoing.
    VoiceServicePotsOutgoing,
    /// 7: outgoing profile of the outbound dial peer.
    OutboundPeer,
    /// 8: outgoing profile of the trunk group the call leaves by.
    TrunkGroupOutgoing,
}

/// One rule set applied to one number, and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranslationStep {
    /// Where.
    pub stage: Stage,
    /// Profile name.
    pub profile: String,
    /// Called or calling number.
    pub party: Party,
    /// Rule-set id.
    pub rule_set: u32,
    /// Number before the step.
    pub before: Number,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Where an outbound attempt sends the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// A SIP INVITE to this Request-URI.
    Sip {
        /// The Request-URI.
        request_uri: String,
    },
    /// A Q.931 SETUP on a span of this port with this called party number.
    Q931 {
        /// Span or trunk-group name.
        port: String,
        /// Called party number: digits, type, plan.
        called: Number,
    },
}

/// One peer of the hunt list, with the numbers as they would be sent to it.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The outbound peer (kept alive by the `Arc` even if the table is replaced).
    pub peer: Arc<DialPeer>,
    /// Explicit digits of its destination-pattern match.
    pub explicit: u32,
    /// Called number as sent.
    pub called: Number,
    /// Calling number as sent.
    pub calling: Option<Number>,
    /// Outgoing translation steps for this peer.
    pub translations: Vec<TranslationStep>,
    /// Request-URI or Q.931 called number.
    pub target: Target,
}

/// Why a matching peer is not in the hunt list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Skip {
    /// At its `max_conn` limit.
    MaxConn { active: u32, max: u32 },
    /// Marked down by keepalive.
    Down,
    /// An outgoing translation rule blocked the call on this peer.
    Rejected { precedence: u32, cause: u8 },
    /// After a peer with `huntstop` in the list.
    AfterHuntstop { huntstop_tag: Tag },
    /// A peer of the same leg type as the incoming call (hairpin disabled).
    Hairpin,
}

/// A matching peer that will not be attempted, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// The peer.
    pub peer: Arc<DialPeer>,
    /// Explicit digits.
    pub explicit: u32,
    /// Why.
    pub skip: Skip,
}

/// Why a call cannot be routed; each maps to a Q.850 cause.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A SIP request from a source outside `trusted_sources` (toll-fraud protection).
    #[error("source {0} is not a trusted SIP source")]
    Untrusted(IpAddr),
    /// No inbound peer matched and `no_inbound_match: reject`.
    #[error("no inbound dial peer matched and no_inbound_match is reject")]
    NoInboundPeer,
    /// An incoming translation rule blocked the call.
    #[error("blocked by translation rule {precedence} ({profile})")]
    Rejected {
        profile: String,
        precedence: u32,
        cause: u8,
    },
    /// The number to route holds a non-dial character.
    #[error("called number {0:?} is not a dialable number")]
    InvalidNumber(String),
    /// No outbound peer matches.
    #[error("no outbound dial peer matches {0}")]
    Unallocated(String),
    /// Peers match but all are skipped (max-conn, down, blocked).
    #[error("every matching dial peer is busy, down or blocked")]
    NoneAvailable,
}

impl RouteError {
    /// The Q.850 cause to clear the call with.
    pub fn cause(&self) -> u8 {
        match self {
            Self::Untrusted(_) | Self::NoInboundPeer => 21,
            Self::Rejected { cause, .. } => *cause,
            Self::InvalidNumber(_) => 28,
            Self::Unallocated(_) => 1,
            Self::NoneAvailable => 34,
        }
    }
}

/// Everything the router decided for one call, successful or not.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The call as given.
    pub request: CallRequest,
    /// Inbound selection (absent if the source was refused first).
    pub inbound: Option<Inbound>,
    /// Incoming translation steps, in order.
    pub translations: Vec<TranslationStep>,
    /// Called number after incoming translation: what outbound selection used.
    pub called: Number,
    /// Calling number after incoming translation.
    pub calling: Option<Number>,
    /// The hunt list, in order.
    pub attempts: Vec<Attempt>,
    /// Matching peers not attempted.
    pub skipped: Vec<Skipped>,
    /// Set when the call cannot be routed.
    pub error: Option<RouteError>,
}

/// A successful routing decision: the inbound peer and the ordered hunt list.
#[derive(Clone, Debug)]
pub struct Route {
    /// Inbound peer.
    pub inbound: Inbound,
    /// Incoming translation steps.
    pub translations: Vec<TranslationStep>,
    /// Called number after incoming translation.
    pub called: Number,
    /// Calling number after incoming translation.
    pub calling: Option<Number>,
    /// Peers to try, in order; the caller stops early on a non-hunting cause.
    pub attempts: Vec<Attempt>,
    /// Matching peers not attempted, with the reason.
    pub skipped: Vec<Skipped>,
}

/// A peer whose pattern matched, before ordering.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The peer.
    pub peer: Arc<DialPeer>,
    /// The match.
    pub matched: PatternMatch,
}

/// The compiled lookup structures of a table.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    /// `[pots, voip]` × destination-pattern (outbound-capable peers only).
    outbound: [Arc<Trie>; 2],
    /// `[pots, voip]` × key for inbound matching (every enabled peer). The
    /// destination-pattern trie is the outbound one when both hold the same peers,
    /// as they do unless a peer is enabled but cannot place calls.
    inbound: [[Arc<Trie>; 3]; 2],
    /// `(preference, tag)` per peer, by index: the hunt-order keys in one dense
    /// array, so ordering hits does not chase each peer's `Arc`.
    rank: Vec<(u8, Tag)>,
    /// Span name -> enabled POTS peers on it, by tag.
    ports: HashMap<String, Vec<u32>>,
}

fn type_slot(t: PeerType) -> usize {
    match t {
        PeerType::Pots => 0,
        PeerType::Voip => 1,
    }
}

const INBOUND_KEYS: [Key; 3] = [
    Key::IncomingCalledNumber,
    Key::AnswerAddress,
    Key::DestinationPattern,
];

impl Index {
    pub(crate) fn build(peers: &[Arc<DialPeer>]) -> Self {
        let mut outbound = [
            TrieBuilder::new(Key::DestinationPattern),
            TrieBuilder::new(Key::DestinationPattern),
        ];
        let mut counts = [0usize; 2];
        for p in peers.iter().filter(|p| p.is_outbound_capable()) {
            counts[type_slot(p.peer_type())] += 1;
        }
        for (b, n) in outbound.iter_mut().zip(counts) {
            b.reserve(n);
        }
        let mut inbound = [INBOUND_KEYS; 2].map(|keys| keys.map(TrieBuilder::new));
        // Per type: does the inbound destination-pattern trie hold only the outbound
        // peers? Then it is not built twice.
        let mut shared = [true; 2];
        let mut ports: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, peer) in peers.iter().enumerate() {
            if !peer.enabled {
                continue;
            }
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let slot = type_slot(peer.peer_type());
            if let Some(p) = &peer.destination_pattern {
                if peer.is_outbound_capable() {
                    outbound[slot].insert(i, p, peer.preference);
                } else {
                    shared[slot] = false;
                }
            }
            for trie in &mut inbound[slot] {
                if trie.key == Key::DestinationPattern && shared[slot] {
                    continue;
                }
                if let Some(p) = trie.key.of(peer) {
                    trie.insert(i, p, peer.preference);
                }
            }
            if let PeerKind::Pots(pots) = &peer.kind {
                let spans: &[String] = match &pots.port {
                    Port::None => &[],
                    Port::Span(s) => std::slice::from_ref(s),
                    Port::TrunkGroup(g) => &g.spans,
                };
                for s in spans {
                    ports.entry(s.clone()).or_default().push(i);
                }
            }
        }
        // A type that turned out not shared: its destination-pattern trie so far
        // lacks the peers seen while it was; rebuild it from scratch.
        for slot in 0..2 {
            if !shared[slot] {
                let mut trie = TrieBuilder::new(Key::DestinationPattern);
                for (i, peer) in peers.iter().enumerate() {
                    if peer.enabled
                        && type_slot(peer.peer_type()) == slot
                        && let Some(p) = &peer.destination_pattern
                    {
                        trie.insert(u32::try_from(i).unwrap_or(u32::MAX), p, peer.preference);
                    }
                }
                inbound[slot][2] = trie;
            }
        }
        let outbound = outbound.map(|t| Arc::new(t.freeze()));
        let mut slot = 0;
        let inbound = inbound.map(|tries| {
            let [called, answer, destination] = tries.map(|t| Arc::new(t.freeze()));
            let destination = if shared[slot] {
                outbound[slot].clone()
            } else {
                destination
            };
            slot += 1;
            [called, answer, destination]
        });
        Self {
            outbound,
            inbound,
            rank: peers.iter().map(|p| (p.preference, p.tag)).collect(),
            ports,
        }
    }
}

/// Best inbound match within one step: most explicit digits, then lowest tag.
fn best(peers: &[Arc<DialPeer>], hits: &[Hit]) -> Option<Candidate> {
    hits.iter()
        .min_by_key(|h| {
            (
                std::cmp::Reverse(h.matched.explicit),
                peers[h.peer as usize].tag,
            )
        })
        .map(|h| Candidate {
            peer: peers[h.peer as usize].clone(),
            matched: h.matched,
        })
}

/// Hits a walk keeps in (reverse) hunt order as it finds them (insertion into a short
/// sorted list, turned round when the walk ends), so the lookup needs no sort and
/// reads no peer: a terminal brings its peer's preference, and the tag order is the
/// peer index order (peers are sorted by tag). Past [`SORTED_HITS`] hits the rest are
/// only collected and the caller sorts.
struct HuntSink<'a> {
    out: &'a mut Vec<Hit>,
    /// The hunt key of each hit in `out` while not `overflow`.
    keys: [u64; SORTED_HITS],
    order: HuntOrder,
    /// `(preference, tag)` by peer index, for hits the trie knows no preference of.
    rank: &'a [(u8, Tag)],
    overflow: bool,
}

/// Hits kept ordered on the fly; far more than any real number matches (the keys are
/// zeroed for every lookup, so a longer array costs every lookup).
const SORTED_HITS: usize = 16;

/// The hunt order as one integer: explicit digits (at most 64, as numbers are),
/// preference, then the peer index for the tag.
fn hunt_key(order: HuntOrder, explicit: u32, preference: u8, peer: u32) -> u64 {
    let fewer = u64::from(0xFFFF - explicit.min(0xFFFF));
    let preference = u64::from(preference);
    let peer = u64::from(peer);
    match order {
        HuntOrder::LongestMatch => fewer << 40 | preference << 32 | peer,
        HuntOrder::Preference => preference << 48 | fewer << 32 | peer,
    }
}

impl Sink for HuntSink<'_> {
    // Called once or twice per lookup from deep in the walk; out of line, the call and
    // its register saves cost about as much as the append itself.
    #[inline(always)]
    fn hit(&mut self, hit: Hit, preference: Option<u8>) {
        let n = self.out.len();
        if self.overflow || n >= SORTED_HITS {
            self.overflow = true;
            self.out.push(hit);
            return;
        }
        let preference = preference
            .or_else(|| self.rank.get(hit.peer as usize).map(|r| r.0))
            .unwrap_or(u8::MAX);
        let key = hunt_key(self.order, hit.matched.explicit, preference, hit.peer);
        // `out` is kept in reverse hunt order until the walk ends: most hits are the
        // first, or rank before every hit found so far (a longer match sits deeper
        // in the walk), and go on the end without the insertion shift.
        if n == 0 || self.keys[n - 1] > key {
            self.keys[n] = key;
            self.out.push(hit);
            return;
        }
        let keys = &mut self.keys[..=n];
        let mut i = n;
        while i > 0 && keys[i - 1] <= key {
            keys[i] = keys[i - 1];
            i -= 1;
        }
        keys[i] = key;
        self.out.insert(i, hit);
    }
}

impl RoutingTable {
    /// Outbound candidates for a number among peers of one type, unordered.
    pub fn outbound_candidates(&self, number: &Digits, peer_type: PeerType) -> Vec<Candidate> {
        let mut out = Vec::new();
        self.index.outbound[type_slot(peer_type)].lookup(&self.peers, number, &mut out);
        self.candidates(&out)
    }

    fn candidates(&self, hits: &[Hit]) -> Vec<Candidate> {
        hits.iter()
            .map(|h| Candidate {
                peer: self.peers[h.peer as usize].clone(),
                matched: h.matched,
            })
            .collect()
    }

    /// The index lookup alone: every outbound peer of these types whose pattern
    /// matches, into `out` (cleared first), ordered by the hunt order with ties by
    /// tag. No runtime state, no allocation once `out` has grown.
    pub fn lookup_outbound(&self, number: &Digits, peer_types: &[PeerType], out: &mut Vec<Hit>) {
        out.clear();
        let order = self.settings.hunt.order;
        let rank = &self.index.rank;
        let mut sink = HuntSink {
            out,
            keys: [0; SORTED_HITS],
            order,
            rank,
            overflow: false,
        };
        for &t in peer_types {
            self.index.outbound[type_slot(t)].walk(&self.peers, number, &mut sink);
        }
        if !sink.overflow {
            out.reverse();
            return;
        }
        let key = |h: &Hit| {
            rank.get(h.peer as usize)
                .copied()
                .unwrap_or((u8::MAX, Tag::MAX))
        };
        match order {
            HuntOrder::LongestMatch => out.sort_unstable_by_key(|h| {
                let (preference, tag) = key(h);
                (std::cmp::Reverse(h.matched.explicit), preference, tag)
            }),
            HuntOrder::Preference => out.sort_unstable_by_key(|h| {
                let (preference, tag) = key(h);
                (preference, std::cmp::Reverse(h.matched.explicit), tag)
            }),
        }
    }

    /// The ordered outbound hunt for a number (§3.1 steps 2-4): candidates sorted by
    /// the hunt order, then split into peers to attempt and peers skipped.
    pub fn hunt(
        &self,
        number: &Digits,
        peer_types: &[PeerType],
        state: &dyn PeerState,
        seed: u64,
    ) -> (Vec<Candidate>, Vec<Skipped>) {
        let mut hits = Vec::new();
        self.lookup_outbound(number, peer_types, &mut hits);
        let mut candidates = self.candidates(&hits);
        self.break_ties(&mut candidates, state, seed);
        let mut attempts = Vec::with_capacity(candidates.len());
        let mut skipped = Vec::new();
        let mut huntstop: Option<Tag> = None;
        for c in candidates {
            let tag = c.peer.tag;
            let explicit = c.matched.explicit;
            let skip = if let Some(huntstop_tag) = huntstop {
                Some(Skip::AfterHuntstop { huntstop_tag })
            } else if !state.is_up(tag) {
                Some(Skip::Down)
            } else {
                let active = state.active_calls(tag);
                c.peer
                    .max_conn
                    .filter(|&max| active >= max)
                    .map(|max| Skip::MaxConn { active, max })
            };
            match skip {
                Some(skip) => skipped.push(Skipped {
                    peer: c.peer,
                    explicit,
                    skip,
                }),
                None => {
                    if c.peer.huntstop {
                        huntstop = Some(tag);
                    }
                    attempts.push(c);
                }
            }
        }
        (attempts, skipped)
    }

    /// Reorder peers equal on both criteria (already sorted by tag) per `hunt.ties`.
    fn break_ties(&self, candidates: &mut [Candidate], state: &dyn PeerState, seed: u64) {
        let hunt = self.settings.hunt;
        let same = |a: &Candidate, b: &Candidate| {
            a.matched.explicit == b.matched.explicit && a.peer.preference == b.peer.preference
        };
        match hunt.ties {
            TieBreak::Tag => {}
            TieBreak::RoundRobin => {
                for group in candidates.chunk_by_mut(same) {
                    group.sort_by_key(|c| (state.last_used(c.peer.tag), c.peer.tag));
                }
            }
            TieBreak::Random => {
                let mut rng = fastrand::Rng::with_seed(seed);
                for group in candidates.chunk_by_mut(same) {
                    rng.shuffle(group);
                }
            }
        }
    }

    /// Select the inbound peer (§4): the first step that matches decides; within a
    /// step the most explicit match wins, then the lowest tag.
    pub fn match_inbound(
        &self,
        origin: &Origin,
        called: &Number,
        calling: Option<&Number>,
    ) -> Option<Inbound> {
        let slot = match origin {
            Origin::Span(_) => 0,
            Origin::Sip(_) => 1,
        };
        let tries = &self.index.inbound[slot];
        let called = Digits::parse(&called.digits).ok();
        let calling = calling.and_then(|c| Digits::parse(&c.digits).ok());
        let steps = [
            (
                InboundStep::IncomingCalledNumber,
                &tries[0],
                called.as_ref(),
            ),
            (InboundStep::AnswerAddress, &tries[1], calling.as_ref()),
            (InboundStep::DestinationPattern, &tries[2], calling.as_ref()),
        ];
        for (step, trie, number) in steps {
            let Some(number) = number else { continue };
            let mut out = Vec::new();
            trie.lookup(&self.peers, number, &mut out);
            if let Some(c) = best(&self.peers, &out) {
                return Some(Inbound {
                    peer: Some(c.peer),
                    step,
                    explicit: c.matched.explicit,
                });
            }
        }
        if let Origin::Span(span) = origin
            && let Some(&i) = self.index.ports.get(span).and_then(|v| v.first())
        {
            return Some(Inbound {
                peer: Some(self.peers[i as usize].clone()),
                step: InboundStep::Port,
                explicit: 0,
            });
        }
        None
    }

    /// Route a call; the mapper's entry point.
    pub fn route(&self, request: &CallRequest, state: &dyn PeerState) -> Result<Route, RouteError> {
        let t = self.trace(request, state);
        match (t.error, t.inbound) {
            (Some(e), _) => Err(e),
            (None, Some(inbound)) => Ok(Route {
                inbound,
                translations: t.translations,
                called: t.called,
                calling: t.calling,
                attempts: t.attempts,
                skipped: t.skipped,
            }),
            (None, None) => Err(RouteError::NoInboundPeer),
        }
    }

    /// Route a call and keep every intermediate decision (used by `dialgate dialplan`).
    pub fn trace(&self, request: &CallRequest, state: &dyn PeerState) -> Trace {
        let mut t = Trace {
            request: request.clone(),
            inbound: None,
            translations: Vec::new(),
            called: request.called.clone(),
            calling: request.calling.clone(),
            attempts: Vec::new(),
            skipped: Vec::new(),
            error: None,
        };
        if let Origin::Sip(addr) = request.origin
            && !self.is_trusted(addr)
            && (self.trusted_sources_explicit() || !state.is_resolved_target(addr))
        {
            t.error = Some(RouteError::Untrusted(addr));
            return t;
        }
        let inbound = self
            .match_inbound(&request.origin, &request.called, request.calling.as_ref())
            .unwrap_or(Inbound {
                peer: None,
                step: InboundStep::DialPeer0,
                explicit: 0,
            });
        let dial_peer_0 = inbound.peer.is_none();
        t.inbound = Some(inbound.clone());
        if dial_peer_0 && self.settings.no_inbound_match == NoInboundMatch::Reject {
            t.error = Some(RouteError::NoInboundPeer);
            return t;
        }
        if dial_peer_0 {
            tracing::warn!(origin = ?request.origin, called = %request.called.digits, "no inbound dial peer matched: using dial peer 0");
        }

        // Incoming profiles, §5.3 steps 2-5.
        let mut profiles: Vec<(Stage, &Arc<Profile>)> = Vec::new();
        if let Origin::Span(span) = &request.origin
            && let Some(g) = self.trunk_group_of(inbound.peer.as_deref(), span)
            && let Some(p) = &g.incoming
        {
            profiles.push((Stage::TrunkGroupIncoming, p));
        }
        if let Some(p) = inbound
            .peer
            .as_ref()
            .and_then(|p| p.incoming_profile.as_ref())
        {
            profiles.push((Stage::InboundPeer, p));
        }
        match &request.origin {
            Origin::Span(_) => {
                if let Some(p) = &self.pots_incoming {
                    profiles.push((Stage::VoiceServicePotsIncoming, p));
                }
            }
            Origin::Sip(_) => {
                if let Some(p) = &self.voip_incoming {
                    profiles.push((Stage::VoiceServiceVoipIncoming, p));
                }
            }
        }
        if let Err(e) = apply_profiles(
            &profiles,
            &mut t.called,
            &mut t.calling,
            &mut t.translations,
        ) {
            t.error = Some(e);
            return t;
        }

        // Outbound selection on the translated number, §3.
        let Ok(number) = Digits::parse(&t.called.digits) else {
            t.error = Some(RouteError::InvalidNumber(t.called.digits.clone()));
            return t;
        };
        let (own, other) = match request.origin {
            Origin::Span(_) => (PeerType::Pots, PeerType::Voip),
            Origin::Sip(_) => (PeerType::Voip, PeerType::Pots),
        };
        let types: &[PeerType] = if self.settings.hairpin {
            &[PeerType::Pots, PeerType::Voip]
        } else {
            &[other]
        };
        let (candidates, mut skipped) = self.hunt(&number, types, state, request.seed);
        if !self.settings.hairpin {
            // In hunt order, like the attempts: the trie's walk order is not an order.
            let mut hits = Vec::new();
            self.lookup_outbound(&number, &[own], &mut hits);
            skipped.extend(self.candidates(&hits).into_iter().map(|c| Skipped {
                explicit: c.matched.explicit,
                peer: c.peer,
                skip: Skip::Hairpin,
            }));
        }
        let matched_any = !candidates.is_empty() || skipped.iter().any(|s| s.skip != Skip::Hairpin);
        for c in candidates {
            match self.attempt(&c, &number, &t.called, t.calling.as_ref()) {
                Ok(a) => t.attempts.push(a),
                Err((precedence, cause)) => t.skipped.push(Skipped {
                    explicit: c.matched.explicit,
                    peer: c.peer,
                    skip: Skip::Rejected { precedence, cause },
                }),
            }
        }
        t.skipped.extend(skipped);
        let first_block = t.skipped.iter().find_map(|s| match s.skip {
            Skip::Rejected { precedence, cause } => Some((s.peer.tag, precedence, cause)),
            _ => None,
        });
        if t.attempts.is_empty()
            && let Some((tag, precedence, cause)) = first_block
        {
            // Blocked by an outgoing rule: the rule's cause, not "no circuit".
            t.error = Some(RouteError::Rejected {
                profile: format!("outgoing profile of dial peer {tag}"),
                precedence,
                cause,
            });
        } else if t.attempts.is_empty() {
            t.error = Some(if matched_any {
                RouteError::NoneAvailable
            } else {
                RouteError::Unallocated(t.called.digits.clone())
            });
        }
        t
    }

    /// The trunk group a POTS call arrived through: the inbound peer's group if it
    /// holds the span, else the first group (by name) listing the span.
    fn trunk_group_of<'a>(
        &'a self,
        peer: Option<&'a DialPeer>,
        span: &str,
    ) -> Option<&'a super::table::TrunkGroup> {
        if let Some(PeerKind::Pots(p)) = peer.map(|p| &p.kind)
            && let Port::TrunkGroup(g) = &p.port
            && g.spans.iter().any(|s| s == span)
        {
            return Some(g);
        }
        self.trunk_groups
            .values()
            .find(|g| g.spans.iter().any(|s| s == span))
            .map(|g| &**g)
    }

    /// Digits, profiles and target for one outbound peer (§5.1, §5.2, §5.3 6-8).
    /// `Err((precedence, cause))` when an outgoing rule blocks the call.
    fn attempt(
        &self,
        c: &Candidate,
        number: &Digits,
        called: &Number,
        calling: Option<&Number>,
    ) -> Result<Attempt, (u32, u8)> {
        let peer = &c.peer;
        let mut out_called = called.clone();
        let mut out_calling = calling.cloned();
        let mut steps = Vec::new();
        let mut profiles: Vec<(Stage, &Arc<Profile>)> = Vec::new();
        let target = match &peer.kind {
            PeerKind::Pots(pots) => {
                out_called.digits = select_digits(
                    pots.forward_digits,
                    pots.digit_strip,
                    peer,
                    number,
                    c.matched,
                );
                if let Some(p) = &self.pots_outgoing {
                    profiles.push((Stage::VoiceServicePotsOutgoing, p));
                }
                if let Some(p) = &peer.outgoing_profile {
                    profiles.push((Stage::OutboundPeer, p));
                }
                if let Port::TrunkGroup(g) = &pots.port
                    && let Some(p) = &g.outgoing
                {
                    profiles.push((Stage::TrunkGroupOutgoing, p));
                }
                apply_profiles(&profiles, &mut out_called, &mut out_calling, &mut steps)
                    .map_err(|e| blocked(&e))?;
                out_called.digits.insert_str(0, &pots.prefix);
                let mut q931 = out_called.clone();
                if let Some(rest) = q931.digits.strip_prefix('+') {
                    // interworking.md §4.2: a leading + becomes TON international.
                    q931.digits = rest.to_owned();
                    q931.number_type = NumberType::International;
                    q931.plan = NumberingPlan::Isdn;
                }
                let port = match &pots.port {
                    Port::None => String::new(),
                    Port::Span(s) => s.clone(),
                    Port::TrunkGroup(g) => format!("trunk-group {}", g.name),
                };
                Target::Q931 { port, called: q931 }
            }
            PeerKind::Voip(voip) => {
                if let Some(p) = &peer.outgoing_profile {
                    profiles.push((Stage::OutboundPeer, p));
                }
                apply_profiles(&profiles, &mut out_called, &mut out_calling, &mut steps)
                    .map_err(|e| blocked(&e))?;
                Target::Sip {
                    request_uri: request_uri(&out_called.digits, voip),
                }
            }
        };
        Ok(Attempt {
            peer: peer.clone(),
            explicit: c.matched.explicit,
            called: out_called,
            calling: out_calling,
            translations: steps,
            target,
        })
    }
}

fn blocked(e: &RouteError) -> (u32, u8) {
    match e {
        RouteError::Rejected {
            precedence, cause, ..
        } => (*precedence, *cause),
        other => (0, other.cause()),
    }
}

/// §5.1 (a): forward-digits if configured, else automatic strip unless disabled.
fn select_digits(
    forward: Option<ForwardDigits>,
    digit_strip: bool,
    peer: &DialPeer,
    number: &Digits,
    matched: PatternMatch,
) -> String {
    let text = number.as_str();
    match forward {
        Some(ForwardDigits::Count(n)) => {
            let n = usize::from(n).min(text.len());
            text[text.len() - n..].to_owned()
        }
        Some(ForwardDigits::All) => text.to_owned(),
        Some(ForwardDigits::Extra) => {
            if peer
                .destination_pattern
                .as_ref()
                .is_some_and(Pattern::ends_with_t)
            {
                String::new()
            } else {
                text.get(matched.matched_len..)
                    .unwrap_or_default()
                    .to_owned()
            }
        }
        None if digit_strip => {
            let prefix = peer
                .destination_pattern
                .as_ref()
                .map(Pattern::literal_prefix)
                .unwrap_or_default();
            text.strip_prefix(prefix.as_str())
                .unwrap_or(text)
                .to_owned()
        }
        None => text.to_owned(),
    }
}

/// `sip:USER@HOST:PORT`, `;transport=tcp`, or `sips:` for TLS; `#` escaped.
fn request_uri(digits: &str, voip: &Voip) -> String {
    let user = digits.replace('#', "%23");
    let target = voip
        .target
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    match voip.transport {
        Transport::Udp => format!("sip:{user}@{target}"),
        Transport::Tcp => format!("sip:{user}@{target};transport=tcp"),
        Transport::Tls => format!("sips:{user}@{target}"),
    }
}

fn apply_profiles(
    profiles: &[(Stage, &Arc<Profile>)],
    called: &mut Number,
    calling: &mut Option<Number>,
    steps: &mut Vec<TranslationStep>,
) -> Result<(), RouteError> {
    for (stage, profile) in profiles {
        for party in [Party::Called, Party::Calling] {
            let Some(set) = profile.rule_set(party) else {
                continue;
            };
            let number = match party {
                Party::Called => &mut *called,
                Party::Calling => match calling.as_mut() {
                    Some(n) => n,
                    None => continue,
                },
            };
            let outcome = set.apply(number);
            let before = number.clone();
            if let Outcome::Translated { number: after, .. } = &outcome {
                *number = after.clone();
            }
            let rejected = match &outcome {
                Outcome::Rejected {
                    precedence, cause, ..
                } => Some((*precedence, *cause)),
                _ => None,
            };
            steps.push(TranslationStep {
                stage: *stage,
                profile: profile.name.clone(),
                party,
                rule_set: set.id,
                before,
                outcome,
            });
            if let Some((precedence, cause)) = rejected {
                return Err(RouteError::Rejected {
                    profile: format!("profile {}", profile.name),
                    precedence,
                    cause,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const INBOUND: &str = r#"
trunk_groups:
  - {name: tg, spans: [span3]}
dial_peers:
  - {tag: 1, type: pots, port: span1, incoming_called_number: "5551..."}
  - {tag: 2, type: pots, port: span1, incoming_called_number: "555...."}
  - {tag: 3, type: pots, port: span1, answer_address: "212......."}
  - {tag: 4, type: pots, port: span1, destination_pattern: "3125551..."}
  - {tag: 5, type: pots, port: span2}
  - {tag: 6, type: pots, trunk_group: tg}
  - {tag: 7, type: pots, port: span1, incoming_called_number: "5551...", enabled: false}
  - {tag: 20, type: voip, incoming_called_number: "2..."}
  - {tag: 21, type: voip, answer_address: "555...."}
  - {tag: 22, type: voip, destination_pattern: "9T", session_target: "ipv4:192.0.2.1"}
"#;

    fn inbound(origin: Origin, called: &str, calling: Option<&str>) -> (Tag, InboundStep) {
        let t = RoutingTable::from_sources(&[(Path::new("t.yaml"), INBOUND)]).unwrap();
        let calling = calling.map(Number::new);
        match t.match_inbound(&origin, &Number::new(called), calling.as_ref()) {
            Some(i) => (i.tag(), i.step),
            None => (0, InboundStep::DialPeer0),
        }
    }

    #[test]
    fn inbound_selection_table() {
        let span = |s: &str| Origin::Span(s.into());
        let sip = Origin::Sip("192.0.2.1".parse().unwrap());
        use InboundStep::*;
        type Row = (
            Origin,
            &'static str,
            Option<&'static str>,
            (Tag, InboundStep),
        );
        let rows: &[Row] = &[
            // Step 1 beats every later step; the more explicit pattern wins within it.
            (
                span("span1"),
                "5551234",
                Some("2125551000"),
                (1, IncomingCalledNumber),
            ),
            (
                span("span1"),
                "5559999",
                Some("2125551000"),
                (2, IncomingCalledNumber),
            ),
            // Step 2 (answer-address on ANI) before step 3 (destination-pattern on ANI).
            (
                span("span1"),
                "4000",
                Some("2125551000"),
                (3, AnswerAddress),
            ),
            (
                span("span1"),
                "4000",
                Some("3125551000"),
                (4, DestinationPattern),
            ),
            // Step 4: the span (lowest tag on it), or a trunk group holding it.
            (span("span1"), "4000", Some("4125551000"), (1, Port)),
            (span("span2"), "4000", None, (5, Port)),
            (span("span3"), "4000", None, (6, Port)),
            (span("span9"), "4000", None, (0, DialPeer0)),
            // SIP calls see only VoIP peers.
            (sip.clone(), "2001", None, (20, IncomingCalledNumber)),
            (sip.clone(), "4000", Some("5551234"), (21, AnswerAddress)),
            (sip.clone(), "4000", Some("91234"), (22, DestinationPattern)),
            (sip, "4000", Some("777"), (0, DialPeer0)),
        ];
        for (origin, called, calling, expected) in rows {
            assert_eq!(
                inbound(origin.clone(), called, *calling),
                *expected,
                "{origin:?} {called} {calling:?}"
            );
        }
    }

    /// `lookup_outbound` against every pattern's exact matcher sorted by the hunt
    /// key, for both hunt orders: few hits (kept ordered during the walk), more than
    /// [`SORTED_HITS`] (sorted after it), complex patterns (no preference in the trie)
    /// and tags not in file order.
    #[test]
    fn lookup_outbound_is_the_hunt_order() {
        let patterns = [
            "9T",
            "95551...",
            "9555....",
            "9[5-6]551234",
            "9(55)+51234",
            "95551234",
            "9%T",
            ".T",
            "9555123.",
            "95551234$",
        ];
        for order in ["longest-match", "preference"] {
            let mut yaml = format!("settings:\n  hunt: {{order: {order}}}\ndial_peers:\n");
            // 30 peers: the patterns three times over, preferences 0-4, tags shuffled.
            for i in 0..30u32 {
                let tag = (i * 37) % 61 + 1;
                let pattern = patterns[i as usize % patterns.len()];
                yaml.push_str(&format!(
                    "  - {{tag: {tag}, type: voip, destination_pattern: \"{pattern}\", \
                     session_target: \"ipv4:192.0.2.1\", preference: {}}}\n",
                    (i * 7) % 5
                ));
            }
            let t = RoutingTable::from_sources(&[(Path::new("t.yaml"), yaml.as_str())]).unwrap();
            for (number, few) in [("95551234", false), ("9666", true), ("8", true), ("", true)] {
                let digits = Digits::parse(number).unwrap();
                let mut want: Vec<(u32, u32, usize)> = t
                    .peers()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        let m = p.destination_pattern.as_ref()?.matches(&digits)?;
                        Some((u32::try_from(i).unwrap(), m.explicit, m.matched_len))
                    })
                    .collect();
                assert_eq!(want.len() <= SORTED_HITS, few, "{number}: {}", want.len());
                let peers = t.peers();
                want.sort_by_key(|&(i, explicit, _)| {
                    let p = &peers[i as usize];
                    let fewer = std::cmp::Reverse(explicit);
                    match order {
                        "preference" => (p.preference, fewer, 0, p.tag),
                        _ => (0, fewer, p.preference, p.tag),
                    }
                });
                let mut hits = Vec::new();
                t.lookup_outbound(&digits, &[PeerType::Voip], &mut hits);
                let got: Vec<_> = hits
                    .iter()
                    .map(|h| (h.peer, h.matched.explicit, h.matched.matched_len))
                    .collect();
                assert_eq!(got, want, "{order} {number}");
            }
        }
    }

    #[test]
    fn route_survives_table_drop_with_its_peers() {
        let t = RoutingTable::from_sources(&[(Path::new("t.yaml"), INBOUND)]).unwrap();
        let request = CallRequest {
            origin: Origin::Span("span1".into()),
            called: Number::new("91234"),
            calling: None,
            seed: 0,
        };
        let route = t.route(&request, &Idle).unwrap();
        drop(t);
        assert_eq!(route.attempts[0].peer.tag, 22);
        assert_eq!(
            (route.inbound.tag(), route.inbound.step),
            (1, InboundStep::Port)
        );
    }

    #[test]
    fn digit_selection_table() {
        // (pattern, digit_strip, forward_digits, number, sent)
        type Row = (
            &'static str,
            bool,
            Option<ForwardDigits>,
            &'static str,
            &'static str,
        );
        let rows: &[Row] = &[
            ("9T", true, None, "95551234", "5551234"),
            ("555....", true, None, "5551234", "1234"),
            (
                "555....",
                true,
                Some(ForwardDigits::Count(7)),
                "5551234",
                "5551234",
            ),
            (
                "555....",
                true,
                Some(ForwardDigits::Count(9)),
                "5551234",
                "5551234",
            ),
            (
                "555....",
                true,
                Some(ForwardDigits::Count(0)),
                "5551234",
                "",
            ),
            (
                "555....",
                true,
                Some(ForwardDigits::All),
                "5551234",
                "5551234",
            ),
            (
                "555....",
                true,
                Some(ForwardDigits::Extra),
                "555123499",
                "99",
            ),
            ("9T", true, Some(ForwardDigits::Extra), "95551234", ""),
            ("911$", false, None, "911", "911"),
            ("911$", true, None, "911", ""),
            ("[2-9]..", true, None, "234", "234"),
        ];
        for (pattern, strip, forward, number, sent) in rows {
            let t = RoutingTable::from_sources(&[(
                Path::new("t.yaml"),
                format!("dial_peers:\n  - {{tag: 1, type: pots, destination_pattern: \"{pattern}\", port: span1}}\n").as_str(),
            )])
            .unwrap();
            let peer = t.peer(1).unwrap();
            let digits = Digits::parse(number).unwrap();
            let matched = peer
                .destination_pattern
                .as_ref()
                .unwrap()
                .matches(&digits)
                .unwrap();
            assert_eq!(
                select_digits(*forward, *strip, peer, &digits, matched),
                *sent,
                "{pattern} {number}"
            );
        }
    }
}
