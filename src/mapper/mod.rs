//! The call mapper: Q.931 calls on the spans ↔ SIP dialogs, per
//! `reference/interworking.md` (RFC 3398, RFC 3666), sans-IO.
//!
//! The mapper owns every call's two legs, its hunt list and its causes, and the runtime
//! view of the peers the router asks about (calls up per dial peer, SIP peers marked
//! down by OPTIONS, spans whose D-channel is down). It reads no clock and touches no
//! socket: the daemon (`app::run`) hands it events with the time and carries out the
//! actions it asks for.
//!
//! ```text
//!   handle_isdn(now, span, isdn::Event) ──┐                 ┌──▶ Action::Isdn { span, command }
//!   handle_sip(now, sip::Event) ──────────┼──▶ [ Mapper ] ──┼──▶ Action::Sip(sip::Command)
//!   handle_media_opened(now, call, addr) ─┤   calls, hunt,  ├──▶ Action::Media(Media::Open …)
//!   handle_timeout(now) ──────────────────┘   peer state    └──▶ poll_event: Event (logs)
//! ```
//!
//! A call's life (either direction):
//!
//! ```text
//!   Setup/Incoming ─▶ route ─▶ Media::Open ─▶ (opened) ─▶ attempt ─┬─▶ answered ─▶ clearing ─▶ gone
//!                       │ error: cause/status                      └─▶ refused ─▶ hunt? ─▶ next attempt
//!                       ▼                                                   └─ no ─▶ mapped cause/status
//!                    refused at once
//! ```
//!
//! The Q.931 call ids of calls we place are allocated here with the top bit set, so
//! they never meet the ids the D-channel gives to incoming calls (it counts from 1).

pub mod cause;
pub mod number;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::Empty;

use crate::isdn::lapd::Side;
use crate::isdn::q931::ie::{
    BearerCapability, Layer1Protocol, NumberingPlan, PartyNumber, Presentation,
    ProgressDescription, Screening, TransferCapability, TypeOfNumber,
};
use crate::isdn::q931::{CallRef, Cause};
use crate::isdn::{self, SetupIndication, SetupRequest};
use crate::line::Law;
use crate::routing::Tag;
use crate::routing::dial_peer::{DtmfRelay, Transport};
use crate::routing::router::{Attempt, CallRequest, Origin, PeerState, Target};
use crate::routing::table::{CauseOverrides, Host, PeerKind, Port, RoutingTable, SessionTarget};
use crate::sip;

/// Index of a span in [`Config::spans`].
pub type SpanId = usize;

/// Our name for one call through the gateway (both legs, every hunt attempt).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CallId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// A span as the mapper needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanInfo {
    /// The name the dial peers use (`port: span1`).
    pub name: String,
    /// Which side of the PRI the gateway plays: on the network side we play ringback
    /// ourselves (the PBX expects the network to).
    pub side: Side,
    /// The B-channels' law (the SETUP's bearer, the SDP's first codec).
    pub law: Law,
    /// B-channels in service.
    pub channels: usize,
}

/// A VoIP session target as the SIP endpoint knows it: a dial peer's target and
/// transport are looked up among these to find its [`sip::PeerId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipTarget {
    /// `ipv4:` or `dns:` target, as the dial peer names it.
    pub target: SessionTarget,
    /// The dial peer's transport.
    pub transport: Transport,
    /// The endpoint's peer; `None` when the name did not resolve: the dial peer counts
    /// as down (skipped in hunting) until a reload resolves it.
    pub peer: Option<sip::PeerId>,
}

impl SipTarget {
    /// An `ipv4:` UDP target that is the endpoint's peer `peer`.
    pub fn udp(addr: std::net::SocketAddrV4, peer: sip::PeerId) -> Self {
        Self {
            target: SessionTarget {
                host: Host::Ipv4(*addr.ip()),
                port: addr.port(),
            },
            transport: Transport::Udp,
            peer: Some(peer),
        }
    }
}

/// Mapper configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The spans, indexed by [`SpanId`].
    pub spans: Vec<SpanInfo>,
    /// The session targets the SIP endpoint has peers for (see [`Mapper::set_sip_peers`]).
    pub sip_peers: Vec<SipTarget>,
    /// Host part of the URIs we build (P-Asserted-Identity).
    pub host: String,
    /// Country code for national numbers in URIs (`+<cc><digits>`); `None` sends them
    /// as they are.
    pub country_code: Option<String>,
    /// An INVITE with no response at all for this long is given up and the call hunts
    /// on, as if it had timed out (408): Timer B's 32 s is longer than callers wait.
    pub invite_timeout: Duration,
    /// Seed for the router's `random` tie-break.
    pub seed: u64,
}

impl Config {
    /// A configuration with defaults: no country code, 8 s INVITE timeout. `sip_peers`
    /// are UDP `ipv4:` targets, the endpoint's peers in order (IPv6 ones are skipped).
    pub fn new(spans: Vec<SpanInfo>, sip_peers: Vec<SocketAddr>) -> Self {
        let sip_peers = sip_peers
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                SocketAddr::V4(a) => Some(SipTarget::udp(a, i)),
                SocketAddr::V6(_) => None,
            })
            .collect();
        Self {
            spans,
            sip_peers,
            host: "dialgate.invalid".to_owned(),
            country_code: None,
            invite_timeout: Duration::from_secs(8),
            seed: 0x5eed,
        }
    }
}

/// A local tone the media leg plays into the B-channel instead of RTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Ringback, while the SIP side rings without early media and the PBX expects the
    /// network (us) to provide it.
    Ringback,
    /// Busy (cause 17), after a DISCONNECT with PI 8 to a PBX that expects the network
    /// to say why in band.
    Busy,
    /// Congestion (reorder): the same for the other failures.
    Congestion,
}

/// The media settings of the VoIP dial peer a call's SIP side belongs to (the current
/// attempt's peer from the PSTN, the inbound peer from SIP; defaults without one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaPolicy {
    /// `dtmf_relay`: how digits cross to the SIP side.
    pub dtmf_relay: DtmfRelay,
    /// `symmetric_rtp`: send to where the peer's packets come from (NAT).
    pub symmetric_rtp: bool,
}

impl MediaPolicy {
    fn of(kind: Option<&PeerKind>) -> Self {
        match kind {
            Some(PeerKind::Voip(v)) => Self {
                dtmf_relay: v.dtmf_relay,
                symmetric_rtp: v.symmetric_rtp,
            },
            _ => Self::default(),
        }
    }
}

/// What the mapper asks of the media layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    /// Open an RTP leg for `call` in the B-channel's `law`; answer with
    /// [`Mapper::handle_media_opened`] (the address goes into our SDP).
    Open {
        /// The call.
        call: CallId,
        /// B-channel law.
        law: Law,
    },
    /// The peer's SDP (offer, answer, or a re-INVITE's new one).
    Remote {
        /// The call.
        call: CallId,
        /// Where and how to send RTP.
        media: sip::Media,
        /// What the VoIP dial peer of the call says of its media.
        policy: MediaPolicy,
    },
    /// Move samples between the leg and this B-channel.
    Connect {
        /// The call.
        call: CallId,
        /// The span.
        span: SpanId,
        /// The B-channel.
        channel: u8,
    },
    /// Play a local tone into the B-channel, or (`None`) go back to RTP.
    Play {
        /// The call.
        call: CallId,
        /// The tone.
        tone: Option<Tone>,
    },
    /// Close the leg: the call is over.
    Close {
        /// The call.
        call: CallId,
    },
}

/// An output of the mapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A command for a span's D-channel.
    Isdn {
        /// The span.
        span: SpanId,
        /// The command.
        command: isdn::Command,
    },
    /// A command for the SIP endpoint.
    Sip(sip::Command),
    /// A media request.
    Media(Media),
}

/// Where a call came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A SETUP from a span, going to SIP.
    FromPstn,
    /// An INVITE, going to a span.
    FromSip,
}

/// What happened to calls, for logs, the demo's summary and the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call was accepted for routing.
    Started {
        /// The call.
        call: CallId,
        /// Its direction.
        direction: Direction,
        /// Called number as received.
        called: String,
    },
    /// An outbound attempt was made (one per hunt step).
    Attempt {
        /// The call.
        call: CallId,
        /// The outbound dial peer.
        peer: Tag,
        /// Span (PRI attempts) or SIP call (SIP attempts).
        leg: Leg,
    },
    /// The call was answered.
    Answered {
        /// The call.
        call: CallId,
    },
    /// The call is over on both legs.
    Ended {
        /// The call.
        call: CallId,
        /// The Q.850 cause it ended with.
        cause: Cause,
        /// The SIP final status, when the SIP side ended with one.
        status: Option<u16>,
        /// Whether it was answered.
        answered: bool,
        /// Hunt attempts made.
        attempts: u32,
    },
}

/// One leg of an attempt, for [`Event::Attempt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// A SETUP on this span.
    Span(SpanId),
    /// An INVITE with this SIP call id.
    Sip(sip::CallId),
}

/// Counters for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls accepted from the spans.
    pub from_pstn: u64,
    /// Calls accepted from SIP.
    pub from_sip: u64,
    /// Calls refused before any attempt (routing, bearer, draining, no channel).
    pub refused: u64,
    /// Hunt steps past the first attempt.
    pub hunts: u64,
    /// Calls answered.
    pub answered: u64,
    /// Events for calls we do not know (late or stray), ignored.
    pub stray: u64,
}

/// The PRI leg of a call.
#[derive(Clone, Debug)]
struct PstnLeg {
    span: SpanId,
    id: isdn::CallId,
    channel: Option<u8>,
}

/// The SIP leg of a call.
#[derive(Clone, Debug)]
struct SipLeg {
    id: sip::CallId,
    /// The dial peer the leg counts against (max-conn), if outbound.
    tag: Option<Tag>,
    /// A provisional (or any response) came: the peer is alive.
    responded: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaState {
    Opening,
    Open(SocketAddr),
}

/// A SIP → PRI candidate: an attempt of the hunt list on one span of its port.
#[derive(Clone, Debug)]
struct SpanCandidate {
    attempt: usize,
    span: SpanId,
}

#[derive(Debug)]
struct Call {
    direction: Direction,
    law: Law,
    /// PRI leg: the caller's (from PSTN) or the current attempt's (from SIP).
    pstn: Option<PstnLeg>,
    /// SIP leg: the caller's (from SIP) or the current attempt's (from PSTN).
    sip: Option<SipLeg>,
    media: Option<MediaState>,
    /// The hunt list as routed.
    attempts: Vec<Attempt>,
    /// Index of the next SIP attempt (from PSTN).
    next_attempt: usize,
    /// Spans still to try, in order (from SIP).
    candidates: VecDeque<SpanCandidate>,
    /// The attempt in progress (index into `attempts`).
    current: Option<usize>,
    attempts_made: u32,
    /// The caller's SETUP (from PSTN): identity and bearer.
    setup: Option<Box<SetupIndication>>,
    /// The caller's INVITE (from SIP).
    incoming: Option<Box<sip::Incoming>>,
    /// Octet 3a for the SETUP's calling number (from SIP, §4.3).
    presentation: (Presentation, Screening),
    /// Cause overrides of the VoIP dial peer concerned.
    overrides: CauseOverrides,
    /// Media settings of the same peer.
    policy: MediaPolicy,
    alerted: bool,
    early_media: bool,
    ringback: bool,
    answered: bool,
    /// The caller side is gone or leaving: no further attempts.
    abandoned: bool,
    cause: Option<Cause>,
    status: Option<u16>,
    /// An attempt with no answer at all is given up at this time.
    deadline: Option<Instant>,
    /// The call's tracing span: every log line about the call is emitted inside it.
    span: tracing::Span,
}

/// Runtime state of the peers, as the router sees it.
#[derive(Debug, Default)]
struct Peers {
    active: HashMap<Tag, u32>,
    last_used: HashMap<Tag, u64>,
    uses: u64,
    sip_down: HashSet<sip::PeerId>,
}

struct PeerView<'a> {
    mapper: &'a Mapper,
    /// The source of the INVITE being routed, when the endpoint matched it to one of
    /// its (resolved, not retired) peers.
    peer_source: Option<IpAddr>,
}

impl PeerState for PeerView<'_> {
    fn is_resolved_target(&self, addr: IpAddr) -> bool {
        self.peer_source == Some(addr)
    }

    fn active_calls(&self, tag: Tag) -> u32 {
        self.mapper.peers.active.get(&tag).copied().unwrap_or(0)
    }

    fn is_up(&self, tag: Tag) -> bool {
        let Some(peer) = self.mapper.table.peer(tag) else {
            return true;
        };
        match &peer.kind {
            PeerKind::Voip(_) => match self.mapper.sip_target(peer) {
                // Not a target of ours: the attempt is skipped when it comes up.
                None => true,
                Some(SipTarget { peer: None, .. }) => false,
                Some(SipTarget { peer: Some(id), .. }) => !self.mapper.peers.sip_down.contains(id),
            },
            PeerKind::Pots(p) => self
                .mapper
                .port_spans(&p.port)
                .iter()
                .any(|&s| self.mapper.spans[s].up),
        }
    }

    fn last_used(&self, tag: Tag) -> Option<u64> {
        self.mapper.peers.last_used.get(&tag).copied()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SpanState {
    up: bool,
    busy: usize,
}

/// The call mapper. See the module docs.
#[derive(Debug)]
pub struct Mapper {
    config: Config,
    table: Arc<RoutingTable>,
    sip_ids: sip::CallIds,
    calls: BTreeMap<CallId, Call>,
    by_isdn: HashMap<(SpanId, isdn::CallId), CallId>,
    by_sip: HashMap<sip::CallId, CallId>,
    spans: Vec<SpanState>,
    span_by_name: HashMap<String, SpanId>,
    peers: Peers,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    next_call: u64,
    next_isdn: u32,
    draining: bool,
    counters: Counters,
}

impl std::fmt::Debug for PeerView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerView")
    }
}

/// Top bit of the Q.931 call ids we allocate (see the module docs).
const OUR_ISDN_IDS: u32 = 0x8000_0000;

impl Mapper {
    /// A mapper with every span down (until its D-channel reports `LinkUp`).
    /// `sip_ids` is the SIP endpoint's allocator ([`sip::Endpoint::call_ids`]).
    pub fn new(config: Config, table: Arc<RoutingTable>, sip_ids: sip::CallIds) -> Self {
        let spans = vec![SpanState::default(); config.spans.len()];
        let span_by_name = config
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Self {
            config,
            table,
            sip_ids,
            calls: BTreeMap::new(),
            by_isdn: HashMap::new(),
            by_sip: HashMap::new(),
            spans,
            span_by_name,
            peers: Peers::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            next_call: 0,
            next_isdn: 0,
            draining: false,
            counters: Counters::default(),
        }
    }

    /// Use a new routing table for the calls that start from now on (a reload);
    /// calls in progress keep the peers they matched.
    pub fn set_table(&mut self, table: Arc<RoutingTable>) {
        self.table = table;
    }

    /// The SIP endpoint's peers after a reload (next attempts look targets up here;
    /// a call in progress keeps the [`sip::PeerId`] it placed its INVITE to).
    pub fn set_sip_peers(&mut self, sip_peers: Vec<SipTarget>) {
        self.config.sip_peers = sip_peers;
    }

    /// The tracing span of a call in progress (for the shell's own log lines).
    pub fn call_span(&self, call: CallId) -> Option<&tracing::Span> {
        self.calls.get(&call).map(|c| &c.span)
    }

    /// The Q.931 call reference the D-channel chose for a SETUP we sent (recorded in
    /// the call's span; the mapper itself names Q.931 calls by [`isdn::CallId`]).
    pub fn handle_call_ref(&mut self, span: SpanId, call: isdn::CallId, call_ref: CallRef) {
        if let Some(c) = self
            .by_isdn
            .get(&(span, call))
            .and_then(|id| self.calls.get(id))
        {
            c.span.record("cref", tracing::field::display(call_ref));
        }
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next call event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest attempt deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls.values().filter_map(|c| c.deadline).min()
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The call a Q.931 call belongs to.
    pub fn call_for_isdn(&self, span: SpanId, id: isdn::CallId) -> Option<CallId> {
        self.by_isdn.get(&(span, id)).copied()
    }

    /// The call a SIP call belongs to.
    pub fn call_for_sip(&self, id: sip::CallId) -> Option<CallId> {
        self.by_sip.get(&id).copied()
    }

    /// Whether a span's D-channel is up.
    pub fn span_up(&self, span: SpanId) -> bool {
        self.spans.get(span).is_some_and(|s| s.up)
    }

    /// Stop taking new calls (SIGTERM): new SETUPs get cause 41, new INVITEs 503.
    pub fn handle_drain(&mut self) {
        self.draining = true;
    }

    /// Clear every call with cause 16 (the end of the drain).
    pub fn handle_clear_all(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let _in = self.enter(id);
            self.clear_both(now, id, Cause::NORMAL_CLEARING);
        }
    }

    // ---- inputs ------------------------------------------------------------------

    /// An event from a span's D-channel.
    pub fn handle_isdn(&mut self, now: Instant, span: SpanId, event: isdn::Event) {
        if span >= self.spans.len() {
            self.counters.stray += 1;
            return;
        }
        let _in = event
            .call()
            .and_then(|c| self.by_isdn.get(&(span, c)).copied())
            .and_then(|id| self.enter(id));
        match event {
            isdn::Event::LinkUp => {
                self.spans[span].up = true;
                tracing::info!(span = %self.config.spans[span].name, "D-channel up: span takes calls");
            }
            isdn::Event::LinkDown => {
                self.spans[span].up = false;
                tracing::warn!(span = %self.config.spans[span].name, "D-channel down: new calls go elsewhere");
            }
            isdn::Event::Setup(setup) => self.pstn_setup(now, span, setup),
            isdn::Event::Proceeding { call, channel } => {
                if let Some(id) = self.find_isdn(span, call) {
                    self.pstn_channel(id, channel);
                }
            }
            isdn::Event::Alerting {
                call,
                channel,
                progress,
            } => {
                if let Some(id) = self.find_isdn(span, call) {
                    self.pstn_channel(id, channel);
                    let in_band = progress.iter().any(|p| p.in_band());
                    self.pstn_alerting(id, in_band);
                }
            }
            isdn::Event::Progress { call, progress, .. } => {
                if let Some(id) = self.find_isdn(span, call)
                    && progress.iter().any(|p| p.in_band())
                {
                    self.pstn_early_media(id);
                }
            }
            isdn::Event::Connect { call, channel, .. } => {
                if let Some(id) = self.find_isdn(span, call) {
                    self.pstn_channel(id, channel);
                    self.pstn_connect(id);
                }
            }
            isdn::Event::Disconnect { call, cause, .. } => {
                // Only with hold_inband_disconnect: release now, the announcement is
                // not relayed.
                if let Some(id) = self.find_isdn(span, call) {
                    self.push_isdn(
                        span,
                        isdn::Command::Release {
                            call,
                            cause,
                            progress: None,
                        },
                    );
                    let _ = id;
                }
            }
            isdn::Event::Cleared {
                call,
                cause,
                location,
                ..
            } => self.pstn_cleared(now, span, call, cause, location),
            isdn::Event::ChannelsOutOfService { .. } | isdn::Event::Trace { .. } => {}
        }
    }

    /// An event from the SIP endpoint.
    pub fn handle_sip(&mut self, now: Instant, event: sip::Event) {
        let _in = event
            .call()
            .and_then(|c| self.by_sip.get(&c).copied())
            .and_then(|id| self.enter(id));
        match event {
            sip::Event::Incoming(incoming) => self.sip_incoming(now, incoming),
            sip::Event::Placed { call, sip_call_id } => {
                if let Some(c) = self.by_sip.get(&call).and_then(|id| self.calls.get(id)) {
                    c.span
                        .record("sip_call_id", tracing::field::display(&sip_call_id));
                    tracing::debug!("INVITE built");
                }
            }
            sip::Event::Trying { call } => {
                if let Some(id) = self.find_sip(call) {
                    self.sip_responded(id);
                }
            }
            sip::Event::Ringing { call, media } => {
                if let Some(id) = self.find_sip(call) {
                    self.sip_responded(id);
                    self.sip_ringing(id, media);
                }
            }
            sip::Event::Progress { call, media } => {
                if let Some(id) = self.find_sip(call) {
                    self.sip_responded(id);
                    if let Some(media) = media {
                        self.sip_early_media(id, media);
                    }
                }
            }
            sip::Event::Answered { call, media } => {
                if let Some(id) = self.find_sip(call) {
                    self.sip_responded(id);
                    self.sip_answered(id, media);
                }
            }
            sip::Event::MediaChanged { call, media } => {
                if let Some(id) = self.find_sip(call) {
                    let policy = self.calls.get(&id).map(|c| c.policy).unwrap_or_default();
                    self.push_media(Media::Remote {
                        call: id,
                        media,
                        policy,
                    });
                }
            }
            sip::Event::Released {
                call,
                status,
                reason,
            } => self.sip_released(now, call, status, reason),
            sip::Event::PeerStatus { peer, up } => {
                if up {
                    self.peers.sip_down.remove(&peer);
                } else {
                    self.peers.sip_down.insert(peer);
                }
                tracing::info!(peer, up, "SIP peer keepalive state");
            }
            sip::Event::Registration { .. } => {}
        }
    }

    /// The media leg asked for with [`Media::Open`] is open at `addr` (or could not
    /// be opened: `None`).
    pub fn handle_media_opened(&mut self, now: Instant, call: CallId, addr: Option<SocketAddr>) {
        let _in = self.enter(call);
        let Some(c) = self.calls.get_mut(&call) else {
            // The call ended while the leg was opening.
            if addr.is_some() {
                self.push_media(Media::Close { call });
            }
            return;
        };
        let Some(addr) = addr else {
            tracing::warn!(%call, "no RTP port for the call: cause 47");
            c.media = None;
            let cause = Cause::RESOURCE_UNAVAILABLE;
            self.refuse_caller(now, call, cause);
            return;
        };
        c.media = Some(MediaState::Open(addr));
        if c.abandoned {
            self.try_finish(call);
            return;
        }
        match c.direction {
            Direction::FromPstn => self.next_sip_attempt(now, call),
            Direction::FromSip => {
                if let Some(offer) = c.incoming.as_ref().and_then(|i| i.offer.clone()) {
                    let policy = c.policy;
                    self.push_media(Media::Remote {
                        call,
                        media: offer,
                        policy,
                    });
                }
                self.next_span_attempt(now, call);
            }
        }
    }

    /// Runs the attempt deadlines that have passed; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let _in = self.enter(id);
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            c.deadline = None;
            let Some(leg) = c.sip.take() else { continue };
            tracing::info!(call = %id, sip = %leg.id, "no response to INVITE: giving up the attempt as 408");
            self.by_sip.remove(&leg.id);
            self.release_peer(leg.tag);
            self.actions.push_back(Action::Sip(sip::Command::Release {
                call: leg.id,
                cause: Cause::RECOVERY_ON_TIMER_EXPIRY.0,
                status: None,
            }));
            self.sip_attempt_failed(now, id, 408, None);
        }
    }

    // ---- PSTN -> SIP -----------------------------------------------------------------

    fn pstn_setup(&mut self, _now: Instant, span: SpanId, setup: Box<SetupIndication>) {
        let isdn_call = setup.call;
        let refuse = |m: &mut Self, cause: Cause| {
            m.counters.refused += 1;
            m.push_isdn(
                span,
                isdn::Command::Release {
                    call: isdn_call,
                    cause,
                    progress: None,
                },
            );
        };
        self.spans[span].busy += 1;
        // The D-channel reports Cleared for the refused call too; the busy count and
        // the map entry are undone there.
        let called = setup
            .called
            .as_ref()
            .map(|c| c.digits.clone())
            .unwrap_or_default();
        let id = self.new_call_id();
        let call_span = new_span(Some(id), Direction::FromPstn);
        call_span.record(
            "span",
            tracing::field::display(&self.config.spans[span].name),
        );
        call_span.record("cref", tracing::field::display(setup.call_ref));
        call_span.record("channel", setup.channel);
        let _in = call_span.clone().entered();
        self.by_isdn.insert((span, isdn_call), id);
        if self.draining {
            tracing::info!(call = %id, "draining: SETUP refused with cause 41");
            return refuse(self, Cause::TEMPORARY_FAILURE);
        }
        let capability = setup.bearer.transfer_capability;
        if !matches!(
            capability,
            TransferCapability::SPEECH | TransferCapability::AUDIO_3_1_KHZ
        ) {
            tracing::info!(call = %id, %capability, "bearer is not voice: cause 65");
            return refuse(self, Cause::BEARER_CAPABILITY_NOT_IMPLEMENTED);
        }
        let Some(called_ie) = setup.called.as_ref() else {
            return refuse(self, Cause::INVALID_NUMBER_FORMAT);
        };
        let request = CallRequest {
            origin: Origin::Span(self.config.spans[span].name.clone()),
            called: number::number_from_party(called_ie),
            calling: setup.calling.as_ref().map(number::number_from_party),
            seed: self.config.seed ^ id.0,
        };
        let route = match self.table.route(
            &request,
            &PeerView {
                mapper: self,
                peer_source: None,
            },
        ) {
            Ok(route) => route,
            Err(e) => {
                tracing::info!(call = %id, called = %called, error = %e, "not routed");
                return refuse(self, Cause(e.cause()));
            }
        };
        let attempts: Vec<Attempt> = route
            .attempts
            .into_iter()
            .filter(|a| matches!(a.target, Target::Sip { .. }))
            .collect();
        if attempts.is_empty() {
            return refuse(self, Cause::NO_ROUTE_TO_DESTINATION);
        }
        // CALL PROCEEDING at once: the SIP side may take seconds and T303 is 4 s.
        self.push_isdn(span, isdn::Command::Proceeding { call: isdn_call });
        let law = match setup.law {
            Layer1Protocol::G711_A_LAW => Law::ALaw,
            Layer1Protocol::G711_MU_LAW => Law::MuLaw,
            _ => self.config.spans[span].law,
        };
        self.counters.from_pstn += 1;
        tracing::info!(
            call = %id, span = %self.config.spans[span].name, cref = %setup.call_ref,
            channel = setup.channel, called = %called, "SETUP from the PBX"
        );
        self.events.push_back(Event::Started {
            call: id,
            direction: Direction::FromPstn,
            called,
        });
        let channel = setup.channel;
        self.calls.insert(
            id,
            Call {
                direction: Direction::FromPstn,
                law,
                pstn: Some(PstnLeg {
                    span,
                    id: isdn_call,
                    channel: Some(channel),
                }),
                sip: None,
                media: Some(MediaState::Opening),
                attempts,
                next_attempt: 0,
                candidates: VecDeque::new(),
                current: None,
                attempts_made: 0,
                setup: Some(setup),
                incoming: None,
                presentation: (Presentation::ALLOWED, Screening::USER_NOT_SCREENED),
                overrides: CauseOverrides::default(),
                policy: MediaPolicy::default(),
                alerted: false,
                early_media: false,
                ringback: false,
                answered: false,
                abandoned: false,
                cause: None,
                status: None,
                deadline: None,
                span: call_span.clone(),
            },
        );
        self.push_media(Media::Open { call: id, law });
        self.push_media(Media::Connect {
            call: id,
            span,
            channel,
        });
    }

    /// Place the next SIP attempt of the hunt list, or clear the PRI leg with the
    /// last failure's cause when none is left.
    fn next_sip_attempt(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(MediaState::Open(rtp)) = call.media else {
            return;
        };
        loop {
            let Some(attempt) = call.attempts.get(call.next_attempt).cloned() else {
                let cause = call.cause.unwrap_or(Cause::NO_ROUTE_TO_DESTINATION);
                self.refuse_caller(now, id, cause);
                return;
            };
            call.next_attempt += 1;
            let Some(target) = sip_target_of(&self.config.sip_peers, &attempt.peer) else {
                tracing::warn!(call = %id, peer = attempt.peer.tag, "session target is not a SIP peer of this gateway: skipped");
                continue;
            };
            let Some(peer_id) = target.peer else {
                tracing::info!(call = %id, peer = attempt.peer.tag, "session target did not resolve: skipped");
                continue;
            };
            if self.peers.sip_down.contains(&peer_id) {
                continue;
            }
            let overrides = match &attempt.peer.kind {
                PeerKind::Voip(v) => v.cause_map.clone(),
                PeerKind::Pots(_) => CauseOverrides::default(),
            };
            let policy = MediaPolicy::of(Some(&attempt.peer.kind));
            let setup = call.setup.as_deref();
            let identity = number::calling_to_sip(
                attempt.calling.as_ref(),
                setup.and_then(|s| s.calling.as_ref()),
                setup.and_then(|s| s.display.as_deref()),
                &self.config.host,
                self.config.country_code.as_deref(),
            );
            let called = number::sip_user(&attempt.called, self.config.country_code.as_deref());
            let sip_id = self.sip_ids.next();
            let tag = attempt.peer.tag;
            call.span.record("peer", tag);
            call.overrides = overrides;
            call.policy = policy;
            call.current = Some(call.next_attempt - 1);
            call.attempts_made += 1;
            if call.attempts_made > 1 {
                self.counters.hunts += 1;
            }
            call.sip = Some(SipLeg {
                id: sip_id,
                tag: Some(tag),
                responded: false,
            });
            call.deadline = Some(now + self.config.invite_timeout);
            let codecs = codecs_for(call.law);
            self.by_sip.insert(sip_id, id);
            *self.peers.active.entry(tag).or_default() += 1;
            self.peers.uses += 1;
            self.peers.last_used.insert(tag, self.peers.uses);
            tracing::info!(call = %id, sip = %sip_id, peer = tag, called = %called, "INVITE");
            self.events.push_back(Event::Attempt {
                call: id,
                peer: tag,
                leg: Leg::Sip(sip_id),
            });
            self.actions
                .push_back(Action::Sip(sip::Command::Place(Box::new(sip::Outgoing {
                    call: sip_id,
                    peer: peer_id,
                    called,
                    calling: identity.from,
                    asserted_identity: identity.asserted,
                    privacy: identity.privacy,
                    media: sip::LocalMedia { rtp, codecs },
                }))));
            return;
        }
    }

    fn sip_responded(&mut self, id: CallId) {
        if let Some(c) = self.calls.get_mut(&id)
            && c.direction == Direction::FromPstn
            && let Some(leg) = c.sip.as_mut()
        {
            leg.responded = true;
            c.deadline = None;
        }
    }

    /// 180 from the SIP side: ALERTING, with PI 8 when we provide the in-band
    /// information (the 180's early media, or our own ringback on the network side).
    fn sip_ringing(&mut self, id: CallId, media: Option<sip::Media>) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.direction != Direction::FromPstn {
            return;
        }
        let Some(pstn) = c.pstn.clone() else { return };
        let network_side = self.config.spans[pstn.span].side == Side::Network;
        let progress = if let Some(media) = media {
            c.early_media = true;
            self.actions.push_back(Action::Media(Media::Remote {
                call: id,
                media,
                policy: c.policy,
            }));
            if c.ringback {
                c.ringback = false;
                self.actions.push_back(Action::Media(Media::Play {
                    call: id,
                    tone: None,
                }));
            }
            Some(ProgressDescription::IN_BAND_AVAILABLE)
        } else if network_side && !c.early_media {
            if !c.ringback {
                c.ringback = true;
                self.actions.push_back(Action::Media(Media::Play {
                    call: id,
                    tone: Some(Tone::Ringback),
                }));
            }
            Some(ProgressDescription::IN_BAND_AVAILABLE)
        } else {
            None
        };
        if !c.alerted {
            c.alerted = true;
            self.push_isdn(
                pstn.span,
                isdn::Command::Alerting {
                    call: pstn.id,
                    progress,
                },
            );
        }
    }

    /// 183 with SDP: PROGRESS PI 8 and the early media through.
    fn sip_early_media(&mut self, id: CallId, media: sip::Media) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.direction != Direction::FromPstn {
            return;
        }
        let Some(pstn) = c.pstn.clone() else { return };
        self.actions.push_back(Action::Media(Media::Remote {
            call: id,
            media,
            policy: c.policy,
        }));
        if c.ringback {
            c.ringback = false;
            self.actions.push_back(Action::Media(Media::Play {
                call: id,
                tone: None,
            }));
        }
        if !c.early_media {
            c.early_media = true;
            self.push_isdn(
                pstn.span,
                isdn::Command::Progress {
                    call: pstn.id,
                    progress: ProgressDescription::IN_BAND_AVAILABLE,
                },
            );
        }
    }

    fn sip_answered(&mut self, id: CallId, media: Option<sip::Media>) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.direction != Direction::FromPstn || c.answered {
            return;
        }
        c.answered = true;
        c.deadline = None;
        // Earlier attempts' failures no longer describe the call.
        c.cause = None;
        c.status = None;
        let pstn = c.pstn.clone();
        let ringback = std::mem::take(&mut c.ringback);
        self.counters.answered += 1;
        self.events.push_back(Event::Answered { call: id });
        let policy = c.policy;
        if let Some(media) = media {
            self.push_media(Media::Remote {
                call: id,
                media,
                policy,
            });
        }
        if ringback {
            self.push_media(Media::Play {
                call: id,
                tone: None,
            });
        }
        if let Some(pstn) = pstn {
            tracing::info!(call = %id, "answered by SIP: CONNECT");
            self.push_isdn(
                pstn.span,
                isdn::Command::Connect {
                    call: pstn.id,
                    connected: None,
                },
            );
        }
    }

    /// An outbound SIP attempt failed with `status`: hunt on, or clear the PRI leg.
    fn sip_attempt_failed(&mut self, now: Instant, id: CallId, status: u16, reason: Option<u8>) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let cause = cause::cause_for_status(status, reason, &c.overrides);
        c.cause = Some(cause);
        c.status = Some(status);
        if c.abandoned || c.pstn.is_none() {
            self.try_finish(id);
            return;
        }
        // huntstop is in the list already: the router drops the peers after it.
        let more = c.next_attempt < c.attempts.len();
        if cause::status_hunts(status) && more {
            tracing::info!(call = %id, status, "attempt failed: hunting to the next dial peer");
            self.next_sip_attempt(now, id);
        } else {
            tracing::info!(call = %id, status, cause = cause.0, "SIP refused the call");
            self.refuse_caller(now, id, cause);
        }
    }

    // ---- SIP -> PSTN -----------------------------------------------------------------

    fn sip_incoming(&mut self, now: Instant, incoming: Box<sip::Incoming>) {
        let sip_id = incoming.call;
        let call_span = new_span(None, Direction::FromSip);
        call_span.record(
            "sip_call_id",
            tracing::field::display(&incoming.sip_call_id),
        );
        let _in = call_span.clone().entered();
        let refuse = |m: &mut Self, cause: Cause, status: u16| {
            m.counters.refused += 1;
            m.actions.push_back(Action::Sip(sip::Command::Release {
                call: sip_id,
                cause: cause.0,
                status: Some(status),
            }));
        };
        let none = CauseOverrides::default();
        if self.draining {
            return refuse(self, Cause::TEMPORARY_FAILURE, 503);
        }
        if let Some(offer) = &incoming.offer
            && offer.codecs.is_empty()
        {
            return refuse(self, Cause::BEARER_CAPABILITY_NOT_IMPLEMENTED, 488);
        }
        let Some(called) = incoming.called.clone().filter(|c| !c.is_empty()) else {
            return refuse(self, Cause::UNALLOCATED_NUMBER, 404);
        };
        let (calling, presentation, screening) = number::calling_from_sip(
            incoming.calling.user.as_deref(),
            incoming.asserted_identity.as_deref(),
            incoming.privacy.as_deref(),
        );
        let request = CallRequest {
            origin: Origin::Sip(incoming.source.ip()),
            called: crate::routing::translation::Number::new(called.clone()),
            calling: calling.clone(),
            seed: self.config.seed ^ self.next_call,
        };
        let view = PeerView {
            mapper: self,
            peer_source: incoming.peer.map(|_| incoming.source.ip()),
        };
        let route = match self.table.route(&request, &view) {
            Ok(route) => route,
            Err(e) => {
                let cause = Cause(e.cause());
                let status = cause::sip_status(cause, None, &none);
                tracing::info!(sip = %sip_id, called = %called, error = %e, status, "INVITE not routed");
                return refuse(self, cause, status);
            }
        };
        let overrides = match route.inbound.peer.as_ref().map(|p| &p.kind) {
            Some(PeerKind::Voip(v)) => v.cause_map.clone(),
            _ => CauseOverrides::default(),
        };
        let policy = MediaPolicy::of(route.inbound.peer.as_ref().map(|p| &p.kind));
        let attempts: Vec<Attempt> = route
            .attempts
            .into_iter()
            .filter(|a| matches!(a.target, Target::Q931 { .. }))
            .collect();
        let mut candidates = VecDeque::new();
        for (i, a) in attempts.iter().enumerate() {
            if let PeerKind::Pots(p) = &a.peer.kind {
                for span in self.port_spans(&p.port) {
                    candidates.push_back(SpanCandidate { attempt: i, span });
                }
            }
        }
        if candidates.is_empty() {
            return refuse(self, Cause::NO_ROUTE_TO_DESTINATION, 404);
        }
        // The law of the first usable span decides the leg's law; a later span of
        // another law is transcoded by the media layer.
        let law = candidates
            .iter()
            .find(|c| self.span_usable(c.span))
            .map(|c| self.config.spans[c.span].law);
        let Some(law) = law else {
            tracing::info!(sip = %sip_id, called = %called, "every B-channel busy or span down: 503");
            return refuse(self, Cause::NO_CIRCUIT_AVAILABLE, 503);
        };
        let id = self.new_call_id();
        call_span.record("call", tracing::field::display(id));
        self.by_sip.insert(sip_id, id);
        self.counters.from_sip += 1;
        tracing::info!(call = %id, sip = %sip_id, called = %called, source = %incoming.source, "INVITE from SIP");
        self.events.push_back(Event::Started {
            call: id,
            direction: Direction::FromSip,
            called,
        });
        let mut incoming = incoming;
        // Keep the calling identity as the SETUP will carry it.
        incoming.calling.user = calling.map(|n| n.digits);
        let call = Call {
            direction: Direction::FromSip,
            law,
            pstn: None,
            sip: Some(SipLeg {
                id: sip_id,
                tag: None,
                responded: true,
            }),
            media: Some(MediaState::Opening),
            attempts,
            next_attempt: 0,
            candidates,
            current: None,
            attempts_made: 0,
            setup: None,
            incoming: Some(incoming),
            presentation: (presentation, screening),
            overrides,
            policy,
            alerted: false,
            early_media: false,
            ringback: false,
            answered: false,
            abandoned: false,
            cause: None,
            status: None,
            deadline: None,
            span: call_span.clone(),
        };
        self.calls.insert(id, call);
        self.push_media(Media::Open { call: id, law });
        let _ = now;
    }

    /// SETUP on the next usable span candidate, or refuse the SIP caller. A span
    /// with every B-channel busy (or its D-channel down) is passed over; huntstop is
    /// already in the hunt list (the router drops the peers after a huntstop peer).
    fn next_span_attempt(&mut self, now: Instant, id: CallId) {
        let candidate = loop {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            match c.candidates.pop_front() {
                None => {
                    let cause = c.cause.unwrap_or(Cause::NO_CIRCUIT_AVAILABLE);
                    self.refuse_caller(now, id, cause);
                    return;
                }
                Some(candidate) if self.span_usable(candidate.span) => break candidate,
                Some(_) => {}
            }
        };
        let span_law = self.config.spans[candidate.span].law;
        let isdn_id = isdn::CallId(OUR_ISDN_IDS | self.next_isdn);
        self.next_isdn = (self.next_isdn + 1) & !OUR_ISDN_IDS;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let attempt = &c.attempts[candidate.attempt];
        let called = match &attempt.target {
            Target::Q931 { called, .. } => called,
            Target::Sip { .. } => &attempt.called,
        };
        let mut request = SetupRequest::new(number::party_from_number(called));
        let (presentation, screening) = c.presentation;
        let calling = match attempt.calling.as_ref() {
            Some(n) => number::party_from_number(n),
            None => PartyNumber::new(TypeOfNumber::UNKNOWN, NumberingPlan::UNKNOWN, ""),
        };
        request.calling = Some(calling.with_presentation(presentation, screening));
        request.bearer = Some(BearerCapability::speech(match span_law {
            Law::MuLaw => Layer1Protocol::G711_MU_LAW,
            Law::ALaw => Layer1Protocol::G711_A_LAW,
        }));
        request.display = c.incoming.as_ref().and_then(|i| i.calling.display.clone());
        let tag = attempt.peer.tag;
        c.span.record("peer", tag);
        c.span.record(
            "span",
            tracing::field::display(&self.config.spans[candidate.span].name),
        );
        c.current = Some(candidate.attempt);
        c.attempts_made += 1;
        if c.attempts_made > 1 {
            self.counters.hunts += 1;
        }
        c.pstn = Some(PstnLeg {
            span: candidate.span,
            id: isdn_id,
            channel: None,
        });
        self.by_isdn.insert((candidate.span, isdn_id), id);
        self.spans[candidate.span].busy += 1;
        *self.peers.active.entry(tag).or_default() += 1;
        self.peers.uses += 1;
        self.peers.last_used.insert(tag, self.peers.uses);
        tracing::info!(call = %id, span = %self.config.spans[candidate.span].name, peer = tag, "SETUP to the PBX");
        self.events.push_back(Event::Attempt {
            call: id,
            peer: tag,
            leg: Leg::Span(candidate.span),
        });
        self.push_isdn(
            candidate.span,
            isdn::Command::Setup {
                call: isdn_id,
                request: Box::new(request),
            },
        );
    }

    fn pstn_channel(&mut self, id: CallId, channel: u8) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(pstn) = c.pstn.as_mut() else { return };
        if pstn.channel != Some(channel) {
            pstn.channel = Some(channel);
            c.span.record("channel", channel);
            let span = pstn.span;
            self.push_media(Media::Connect {
                call: id,
                span,
                channel,
            });
        }
    }

    fn local_media(&self, id: CallId) -> Option<sip::LocalMedia> {
        let c = self.calls.get(&id)?;
        let Some(MediaState::Open(rtp)) = c.media else {
            return None;
        };
        Some(sip::LocalMedia {
            rtp,
            codecs: codecs_for(c.law),
        })
    }

    /// ALERTING from the PBX: 180, or 183 with our SDP when it says in-band
    /// information is there (PI 1 or 8).
    fn pstn_alerting(&mut self, id: CallId, in_band: bool) {
        if in_band {
            return self.pstn_early_media(id);
        }
        let relay = self.relay_to_sip(id, |c| c.alerted || c.early_media, |c| c.alerted = true);
        if let Some(Some(leg)) = relay {
            self.push_sip(sip::Command::Provisional {
                call: leg,
                response: sip::Provisional::Ringing,
            });
        }
    }

    fn pstn_early_media(&mut self, id: CallId) {
        let Some(media) = self.local_media(id) else {
            return;
        };
        let relay = self.relay_to_sip(
            id,
            |c| c.early_media,
            |c| {
                c.early_media = true;
                c.alerted = true;
            },
        );
        if let Some(Some(leg)) = relay {
            self.push_sip(sip::Command::Provisional {
                call: leg,
                response: sip::Provisional::Progress(media),
            });
        }
    }

    fn pstn_connect(&mut self, id: CallId) {
        let Some(media) = self.local_media(id) else {
            return;
        };
        let relay = self.relay_to_sip(
            id,
            |c| c.answered,
            |c| {
                c.answered = true;
                c.cause = None;
                c.status = None;
            },
        );
        let Some(leg) = relay else { return };
        self.counters.answered += 1;
        self.events.push_back(Event::Answered { call: id });
        if let Some(leg) = leg {
            tracing::info!(call = %id, "answered by the PBX: 200");
            self.push_sip(sip::Command::Answer { call: leg, media });
        }
    }

    /// The guard the PBX's answers toward a SIP caller share: a call from SIP that has
    /// not `done` this step yet gets `mark`ed; then `Some` of its SIP leg (if any).
    fn relay_to_sip(
        &mut self,
        id: CallId,
        done: impl FnOnce(&Call) -> bool,
        mark: impl FnOnce(&mut Call),
    ) -> Option<Option<sip::CallId>> {
        let c = self.calls.get_mut(&id)?;
        if c.direction != Direction::FromSip || done(c) {
            return None;
        }
        mark(c);
        Some(c.sip.as_ref().map(|l| l.id))
    }

    fn push_sip(&mut self, command: sip::Command) {
        self.actions.push_back(Action::Sip(command));
    }

    fn pstn_cleared(
        &mut self,
        now: Instant,
        span: SpanId,
        isdn_call: isdn::CallId,
        cause: Cause,
        location: Option<crate::isdn::q931::Location>,
    ) {
        let Some(id) = self.by_isdn.remove(&(span, isdn_call)) else {
            self.counters.stray += 1;
            return;
        };
        self.spans[span].busy = self.spans[span].busy.saturating_sub(1);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.pstn.as_ref().is_none_or(|p| p.id != isdn_call) {
            return;
        }
        c.pstn = None;
        if c.cause.is_none() || c.direction == Direction::FromSip {
            c.cause = Some(cause);
        }
        match c.direction {
            Direction::FromPstn => {
                // The caller hung up (or the span failed, cause 38): CANCEL or BYE.
                c.abandoned = true;
                c.deadline = None;
                if let Some(leg) = &c.sip {
                    tracing::info!(call = %id, cause = cause.0, "PBX cleared: ending the SIP leg");
                    self.actions.push_back(Action::Sip(sip::Command::Release {
                        call: leg.id,
                        cause: cause.0,
                        status: None,
                    }));
                }
                self.try_finish(id);
            }
            Direction::FromSip => {
                let tag = c
                    .current
                    .and_then(|i| c.attempts.get(i))
                    .map(|a| a.peer.tag);
                self.release_peer(tag);
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                if c.abandoned || c.sip.is_none() {
                    self.try_finish(id);
                    return;
                }
                if c.answered {
                    let leg = c.sip.as_ref().map(|l| l.id);
                    if let Some(leg) = leg {
                        self.actions.push_back(Action::Sip(sip::Command::Release {
                            call: leg,
                            cause: cause.0,
                            status: None,
                        }));
                    }
                    return;
                }
                // Unanswered: a resource or network failure tries the next span or
                // POTS peer before the caller hears about it.
                if cause::cause_hunts(cause) && !c.alerted && !c.candidates.is_empty() {
                    tracing::info!(call = %id, cause = cause.0, "span refused: hunting");
                    self.next_span_attempt(now, id);
                } else {
                    let status = cause::sip_status(cause, location, &c.overrides);
                    let leg = c.sip.as_ref().map(|l| l.id);
                    c.status = Some(status);
                    c.abandoned = true;
                    if let Some(leg) = leg {
                        tracing::info!(call = %id, cause = cause.0, status, "PBX refused the call");
                        self.actions.push_back(Action::Sip(sip::Command::Release {
                            call: leg,
                            cause: cause.0,
                            status: Some(status),
                        }));
                    }
                }
            }
        }
    }

    fn sip_released(
        &mut self,
        now: Instant,
        sip_call: sip::CallId,
        status: Option<u16>,
        reason: Option<sip::Reason>,
    ) {
        let Some(id) = self.by_sip.remove(&sip_call) else {
            // A leg we gave up (INVITE timeout) or refused before creating a call.
            return;
        };
        let reason_cause = reason
            .filter(|r| r.protocol == sip::ReasonProtocol::Q850)
            .and_then(|r| u8::try_from(r.cause).ok());
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.sip.as_ref().is_none_or(|l| l.id != sip_call) {
            return;
        }
        let leg = c.sip.take();
        match c.direction {
            Direction::FromPstn => {
                c.deadline = None;
                self.release_peer(leg.and_then(|l| l.tag));
                let Some(c) = self.calls.get_mut(&id) else {
                    return;
                };
                if c.answered || c.abandoned {
                    // BYE from the far end, or the end of our own CANCEL/BYE.
                    if c.status.is_none() {
                        c.status = status;
                    }
                    let cause = reason_cause.map(Cause).unwrap_or(Cause::NORMAL_CLEARING);
                    if c.cause.is_none() {
                        c.cause = Some(cause);
                    }
                    if let Some(pstn) = c.pstn.clone() {
                        c.abandoned = true;
                        self.push_isdn(
                            pstn.span,
                            isdn::Command::Release {
                                call: pstn.id,
                                cause,
                                progress: None,
                            },
                        );
                    }
                    self.try_finish(id);
                } else {
                    // A final response (or 408 timeout, 503 transport failure).
                    let status = status.unwrap_or(500);
                    self.sip_attempt_failed(now, id, status, reason_cause);
                }
            }
            Direction::FromSip => {
                // CANCEL, BYE, or the end of our own refusal.
                let cause = reason_cause.map(Cause).unwrap_or(Cause::NORMAL_CLEARING);
                if c.status.is_none() {
                    c.status = status;
                }
                if c.cause.is_none() {
                    c.cause = Some(cause);
                }
                c.abandoned = true;
                if let Some(pstn) = c.pstn.clone() {
                    tracing::info!(call = %id, cause = cause.0, "SIP side ended: clearing the PBX leg");
                    self.push_isdn(
                        pstn.span,
                        isdn::Command::Release {
                            call: pstn.id,
                            cause,
                            progress: None,
                        },
                    );
                }
                self.try_finish(id);
            }
        }
    }

    // ---- common ------------------------------------------------------------------

    /// No attempt could complete the call: give the caller the cause (from PSTN:
    /// DISCONNECT; from SIP: the mapped final response).
    ///
    /// Where the gateway is the network side of the PRI, the PBX expects the network to
    /// say in band why a call failed, as a central office does: the DISCONNECT carries
    /// PI 8 and the B-channel plays busy (cause 17) or congestion (any other failure)
    /// until the PBX releases (our T305 bounds the wait).
    fn refuse_caller(&mut self, _now: Instant, id: CallId, cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.cause = Some(cause);
        c.abandoned = true;
        c.deadline = None;
        match c.direction {
            Direction::FromPstn => {
                if let Some(pstn) = c.pstn.clone() {
                    let network_side = self
                        .config
                        .spans
                        .get(pstn.span)
                        .is_some_and(|s| s.side == Side::Network);
                    let tone = (network_side && c.media.is_some())
                        .then(|| in_band_tone(cause))
                        .flatten();
                    if let Some(tone) = tone {
                        c.ringback = false;
                        self.push_media(Media::Play {
                            call: id,
                            tone: Some(tone),
                        });
                    }
                    self.push_isdn(
                        pstn.span,
                        isdn::Command::Release {
                            call: pstn.id,
                            cause,
                            progress: tone.map(|_| ProgressDescription::IN_BAND_AVAILABLE),
                        },
                    );
                }
            }
            Direction::FromSip => {
                let status = cause::sip_status(cause, None, &c.overrides);
                c.status = Some(status);
                if let Some(leg) = &c.sip {
                    self.actions.push_back(Action::Sip(sip::Command::Release {
                        call: leg.id,
                        cause: cause.0,
                        status: Some(status),
                    }));
                }
            }
        }
        self.try_finish(id);
    }

    /// End both legs of a call with `cause` (drain, shutdown).
    fn clear_both(&mut self, _now: Instant, id: CallId, cause: Cause) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.abandoned = true;
        c.deadline = None;
        if c.cause.is_none() {
            c.cause = Some(cause);
        }
        let status = (!c.answered && c.direction == Direction::FromSip).then_some(480);
        let pstn = c.pstn.clone();
        let sip_leg = c.sip.as_ref().map(|l| l.id);
        if let Some(pstn) = pstn {
            self.push_isdn(
                pstn.span,
                isdn::Command::Release {
                    call: pstn.id,
                    cause,
                    progress: None,
                },
            );
        }
        if let Some(leg) = sip_leg {
            self.actions.push_back(Action::Sip(sip::Command::Release {
                call: leg,
                cause: cause.0,
                status,
            }));
        }
    }

    /// Forget a call once both its legs are gone.
    fn try_finish(&mut self, id: CallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.pstn.is_some() || c.sip.is_some() {
            return;
        }
        // A leg still opening is closed by handle_media_opened when it finds the
        // call gone.
        let Some(c) = self.calls.remove(&id) else {
            return;
        };
        if matches!(c.media, Some(MediaState::Open(_))) {
            self.push_media(Media::Close { call: id });
        }
        let cause = c.cause.unwrap_or(Cause::NORMAL_CLEARING);
        tracing::info!(call = %id, cause = cause.0, status = ?c.status, answered = c.answered, "call ended");
        self.events.push_back(Event::Ended {
            call: id,
            cause,
            status: c.status,
            answered: c.answered,
            attempts: c.attempts_made,
        });
    }

    fn release_peer(&mut self, tag: Option<Tag>) {
        if let Some(tag) = tag
            && let Some(n) = self.peers.active.get_mut(&tag)
        {
            *n = n.saturating_sub(1);
        }
    }

    fn find_isdn(&mut self, span: SpanId, call: isdn::CallId) -> Option<CallId> {
        let id = self.by_isdn.get(&(span, call)).copied();
        if id.is_none() {
            self.counters.stray += 1;
        }
        id
    }

    fn find_sip(&mut self, call: sip::CallId) -> Option<CallId> {
        let id = self.by_sip.get(&call).copied();
        if id.is_none() {
            self.counters.stray += 1;
        }
        id
    }

    fn new_call_id(&mut self) -> CallId {
        self.next_call += 1;
        CallId(self.next_call)
    }

    fn push_isdn(&mut self, span: SpanId, command: isdn::Command) {
        self.actions.push_back(Action::Isdn { span, command });
    }

    fn push_media(&mut self, media: Media) {
        self.actions.push_back(Action::Media(media));
    }

    /// A span can take a new call: D-channel up and a B-channel free.
    fn span_usable(&self, span: SpanId) -> bool {
        let s = self.spans[span];
        s.up && s.busy < self.config.spans[span].channels
    }

    fn port_spans(&self, port: &Port) -> Vec<SpanId> {
        let names: Vec<&str> = match port {
            Port::None => Vec::new(),
            Port::Span(name) => vec![name.as_str()],
            Port::TrunkGroup(group) => group.spans.iter().map(String::as_str).collect(),
        };
        names
            .into_iter()
            .filter_map(|n| self.span_by_name.get(n).copied())
            .collect()
    }

    fn sip_target(&self, peer: &crate::routing::DialPeer) -> Option<&SipTarget> {
        sip_target_of(&self.config.sip_peers, peer)
    }

    /// Enters a call's span (for the rest of the caller's scope).
    fn enter(&self, id: CallId) -> Option<tracing::span::EnteredSpan> {
        self.calls.get(&id).map(|c| c.span.clone().entered())
    }
}

fn sip_target_of<'a>(
    peers: &'a [SipTarget],
    peer: &crate::routing::DialPeer,
) -> Option<&'a SipTarget> {
    let PeerKind::Voip(v) = &peer.kind else {
        return None;
    };
    let target = v.target.as_ref()?;
    peers
        .iter()
        .find(|t| t.target == *target && t.transport == v.transport)
}

/// A call's span; the fields are filled in as the call learns them (an INVITE gets
/// its `call` once routed).
fn new_span(id: Option<CallId>, direction: Direction) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "call",
        call = Empty,
        direction = %match direction {
            Direction::FromPstn => "pstn-to-sip",
            Direction::FromSip => "sip-to-pstn",
        },
        span = Empty,
        cref = Empty,
        channel = Empty,
        sip_call_id = Empty,
        peer = Empty,
    );
    if let Some(id) = id {
        span.record("call", tracing::field::display(id));
    }
    span
}

/// The SDP codec order for a B-channel law (§3.4): its own law first.
/// The tone that tells a caller in band why the network refused: busy for a busy
/// callee, congestion (reorder) for every other failure; none for a normal clearing.
fn in_band_tone(cause: Cause) -> Option<Tone> {
    match cause {
        Cause::USER_BUSY => Some(Tone::Busy),
        Cause::NORMAL_CLEARING => None,
        _ => Some(Tone::Congestion),
    }
}

fn codecs_for(law: Law) -> Vec<sip::Codec> {
    match law {
        Law::MuLaw => vec![sip::Codec::Pcmu, sip::Codec::Pcma],
        Law::ALaw => vec![sip::Codec::Pcma, sip::Codec::Pcmu],
    }
}

#[cfg(test)]
mod tests;
