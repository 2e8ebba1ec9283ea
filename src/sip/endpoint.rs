//! The SIP leg's public interface: configuration, commands in, events out.
//!
//! The call mapper sees only these types; nothing of rsipstack crosses this boundary. A
//! call is named by our own [`CallId`] from the first command or event to its one and only
//! [`Event::Released`].
//!
//! ```text
//!   mapper ──Command──▶ Endpoint (tokio task: sockets + sans-IO UserAgent) ──▶ network
//!   mapper ◀──Event───  Endpoint                                          ◀── network
//! ```
//!
//! Call life as the mapper sees it:
//!
//! ```text
//!   outbound: Place ─▶ Trying? ─▶ Ringing/Progress* ─▶ Answered ─▶ … ─▶ Released
//!   inbound:  Incoming ─▶ (Provisional/Progress)* ─▶ Answer ─▶ … ─▶ Released
//!   either side, any time: Release{cause} ─▶ Released (after CANCEL/487, BYE/200 or final)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;

pub use super::auth::Credentials;
pub use super::sdp::{Capabilities, Codec, Direction, Media};
pub use super::security::RateLimit;
pub use super::tls::Tls;

/// A SIP transport (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams; retransmission timers run.
    Udp,
    /// Byte stream; Content-Length frames messages.
    Tcp,
    /// TCP inside TLS (RFC 3261 §26.2; certificates from [`Config::tls`]).
    Tls,
}

impl Transport {
    /// The Via token.
    pub fn token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// Whether the transport is reliable (no retransmissions, zero linger timers).
    pub fn reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    pub(crate) fn parse(token: &str) -> Option<Self> {
        match token {
            t if t.eq_ignore_ascii_case("UDP") => Some(Self::Udp),
            t if t.eq_ignore_ascii_case("TCP") => Some(Self::Tcp),
            t if t.eq_ignore_ascii_case("TLS") => Some(Self::Tls),
            _ => None,
        }
    }
}

/// Our own name for a call, stable across INVITE retries (auth) and re-INVITEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sip-{}", self.0)
    }
}

/// Hands out call ids shared by the endpoint (inbound calls) and the mapper (outbound).
#[derive(Clone, Debug, Default)]
pub struct CallIds(Arc<AtomicU64>);

impl CallIds {
    /// The next unused id.
    pub fn next(&self) -> CallId {
        CallId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Index of a peer in [`Config::peers`].
pub type PeerId = usize;

/// A VoIP peer (what a dial peer's session target becomes once resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Name for logs (the dial peer tag, for example).
    pub name: String,
    /// Where to send requests (the resolved session target).
    pub addr: SocketAddr,
    /// Host part of Request-URIs and To; defaults to the address.
    pub host: Option<String>,
    /// Transport toward this peer.
    pub transport: Transport,
    /// Digest credentials for 401/407 challenges.
    pub credentials: Option<Credentials>,
    /// Inside our trust domain: P-Asserted-Identity is sent only to such peers (RFC 3325).
    pub trust_domain: bool,
    /// No longer in the configuration (a reload removed it): its index stays so that
    /// calls in progress keep their peer, but it gets no new calls and no keepalive.
    pub retired: bool,
}

impl Peer {
    /// A peer with defaults: UDP, no credentials, trusted.
    pub fn new(name: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            name: name.into(),
            addr,
            host: None,
            transport: Transport::Udp,
            credentials: None,
            trust_domain: true,
            retired: false,
        }
    }
}

/// What to do with an INVITE from outside the trusted list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Untrusted {
    /// Answer 403 Forbidden.
    #[default]
    Reject,
    /// Send nothing (do not confirm to a scanner that a SIP stack is here).
    Drop,
}

/// RFC 3261 base timers; every other timer derives from them (§17, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Retransmission cap (4 s).
    pub t2: Duration,
    /// Maximum message lifetime (5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// OPTIONS keepalive toward every peer (Cisco `voice-class sip options-keepalive`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between probes to one peer.
    pub interval: Duration,
    /// Consecutive failed probes that mark a peer down.
    pub down_after: u32,
    /// Final responses counted as failures (a timeout always is).
    pub down_statuses: Vec<u16>,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            down_after: 3,
            down_statuses: vec![503],
        }
    }
}

/// One registrar the gateway registers its numbers with (Cisco `sip-ua registrar`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registrar {
    /// Where REGISTER goes.
    pub addr: SocketAddr,
    /// Transport to it.
    pub transport: Transport,
    /// Domain of the address of record and of the Request-URI (`sip:DOMAIN`).
    pub domain: String,
    /// User parts of the addresses of record, one binding each.
    pub aors: Vec<String>,
    /// Requested expiry.
    pub expires: Duration,
    /// Digest credentials.
    pub credentials: Option<Credentials>,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Cap of the back-off.
    pub retry_max: Duration,
}

/// A listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// Transport.
    pub transport: Transport,
    /// Address (port 0 picks an ephemeral port; see [`Endpoint::local_addrs`]).
    pub addr: SocketAddr,
}

/// Configuration of the SIP leg.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sockets to listen on.
    pub listen: Vec<Listen>,
    /// Certificate, key and CA roots for TLS; `None` with TLS in use means no identity
    /// (so no TLS listener) and the webpki roots.
    pub tls: Option<Tls>,
    /// VoIP peers (resolved dial-peer session targets).
    pub peers: Vec<Peer>,
    /// Sources allowed to send INVITE; empty means the peers' addresses only.
    pub trusted: Vec<IpNet>,
    /// What an untrusted INVITE gets.
    pub untrusted: Untrusted,
    /// Codecs, telephone-event payload type and ptime.
    pub media: Capabilities,
    /// T1, T2, T4.
    pub timers: Timers,
    /// Outbound calls: CANCEL after this long without an answer once a 1xx came (§7.2);
    /// inbound calls the mapper leaves unanswered this long get 480.
    pub no_answer: Duration,
    /// How long an inbound INVITE waits for a mapper response before we send 100 Trying
    /// (RFC 3261 §17.2.1 allows up to 200 ms; zero sends it at once).
    pub trying_delay: Duration,
    /// OPTIONS keepalive; `None` sends none.
    pub keepalive: Option<Keepalive>,
    /// Registrars; empty registers nowhere.
    pub registrars: Vec<Registrar>,
    /// Per-source limit on new requests; `None` is unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Largest message accepted, in octets (UDP and stream alike).
    pub max_message_size: usize,
    /// User-Agent and Server header value.
    pub user_agent: String,
    /// Seed for tags, branches and Call-IDs (`None`: from the OS clock at start).
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            tls: None,
            peers: Vec::new(),
            trusted: Vec::new(),
            untrusted: Untrusted::Reject,
            media: Capabilities::default(),
            timers: Timers::default(),
            no_answer: Duration::from_secs(180),
            trying_delay: Duration::from_millis(100),
            keepalive: None,
            registrars: Vec::new(),
            rate_limit: None,
            max_message_size: 16 * 1024,
            user_agent: concat!("dialgate/", env!("CARGO_PKG_VERSION")).to_owned(),
            seed: None,
        }
    }
}

/// Who the caller is, as the INVITE's From carries it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Party {
    /// User part (digits); `None` sends the RFC 3323 anonymous form.
    pub user: Option<String>,
    /// Display name.
    pub display: Option<String>,
}

/// The local end of the media for an offer or answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address (the B-channel's port).
    pub rtp: SocketAddr,
    /// Codecs in our preference order; empty means [`Config::media`]'s.
    pub codecs: Vec<Codec>,
}

/// A call to place toward a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Our name for it (from [`Endpoint::call_ids`]).
    pub call: CallId,
    /// Which peer.
    pub peer: PeerId,
    /// Called number (Request-URI and To user part).
    pub called: String,
    /// Calling party for From.
    pub calling: Party,
    /// P-Asserted-Identity URI (sent only to a trust-domain peer).
    pub asserted_identity: Option<String>,
    /// Privacy header value (`id`, `none`, ...).
    pub privacy: Option<String>,
    /// Our SDP offer.
    pub media: LocalMedia,
}

/// Provisional responses the mapper can ask for on an inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provisional {
    /// 180 Ringing without SDP.
    Ringing,
    /// 180 Ringing with the SDP answer (early media).
    RingingWithMedia(LocalMedia),
    /// 183 Session Progress with the SDP answer (early media).
    Progress(LocalMedia),
}

/// Commands from the mapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send an INVITE.
    Place(Box<Outgoing>),
    /// Send a 180 or 183 on an inbound call.
    Provisional {
        /// Call.
        call: CallId,
        /// Which response.
        response: Provisional,
    },
    /// Answer an inbound call with 200 and the SDP answer.
    Answer {
        /// Call.
        call: CallId,
        /// Our media.
        media: LocalMedia,
    },
    /// Replace the peer list and the trusted sources (a reload). Indices are
    /// [`PeerId`]s: keep the old peers at their places (mark removed ones
    /// [`Peer::retired`]) and append new ones; a shorter list keeps the old tail.
    /// Calls in progress keep their peer's address.
    SetPeers {
        /// The new list.
        peers: Vec<Peer>,
        /// The new [`Config::trusted`].
        trusted: Vec<IpNet>,
    },
    /// End a call: a final response (inbound, unanswered), CANCEL (outbound, unanswered) or
    /// BYE (answered), with `Reason: Q.850;cause=N`.
    Release {
        /// Call.
        call: CallId,
        /// Q.850 cause for the Reason header.
        cause: u8,
        /// Final response status for an unanswered inbound call (default 480).
        status: Option<u16>,
    },
}

/// Protocol of a Reason header (RFC 3326).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasonProtocol {
    /// An ISDN cause.
    Q850,
    /// A SIP status code.
    Sip,
}

/// A Reason header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// Q.850 or SIP.
    pub protocol: ReasonProtocol,
    /// The cause or status.
    pub cause: u16,
    /// Optional text.
    pub text: Option<String>,
}

impl Reason {
    /// Parses `Q.850;cause=17;text="User busy"` (the first value of a list).
    pub fn parse(value: &str) -> Option<Self> {
        let first = super::message::split_comma(value).next()?;
        // Byte scans and ASCII trims: a Reason comes with every BYE and CANCEL.
        let mut parts = super::message::split_byte(first, b';');
        let protocol = match parts.next()?.trim_ascii() {
            p if p.eq_ignore_ascii_case("Q.850") => ReasonProtocol::Q850,
            p if p.eq_ignore_ascii_case("SIP") => ReasonProtocol::Sip,
            _ => return None,
        };
        let mut cause = None;
        let mut text = None;
        for p in parts {
            let Some((k, v)) = super::message::split_once_byte(p, b'=') else {
                continue;
            };
            match k.trim_ascii() {
                k if k.eq_ignore_ascii_case("cause") => cause = v.trim_ascii().parse().ok(),
                k if k.eq_ignore_ascii_case("text") => {
                    text = Some(v.trim_ascii().trim_matches('"').to_owned())
                }
                _ => {}
            }
        }
        Some(Self {
            protocol,
            cause: cause?,
            text,
        })
    }
}

/// An INVITE that arrived and passed the trust, rate and SDP checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Our name for the call.
    pub call: CallId,
    /// The peer whose address sent it, if it is one of ours.
    pub peer: Option<PeerId>,
    /// Source of the request.
    pub source: SocketAddr,
    /// Transport it came on.
    pub transport: Transport,
    /// The Call-ID header as received (for logs that must match the peer's).
    pub sip_call_id: String,
    /// The Request-URI as received.
    pub request_uri: String,
    /// Called number: the Request-URI user part.
    pub called: Option<String>,
    /// From user part and display name.
    pub calling: Party,
    /// P-Asserted-Identity value, if any (the source is trusted, or it would be refused).
    pub asserted_identity: Option<String>,
    /// Privacy header value, if any.
    pub privacy: Option<String>,
    /// The offer; `None` for a delayed-offer INVITE (we offer in the 200).
    pub offer: Option<Media>,
}

/// Registration state of one address of record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registration {
    /// The registrar accepted the binding for this long.
    Registered {
        /// Granted expiry.
        expires: Duration,
    },
    /// The attempt failed (status, or 408 on timeout); retry after the back-off.
    Failed {
        /// Final status (408 for a timeout, 503 for a transport error).
        status: u16,
        /// When the next attempt goes out.
        retry_in: Duration,
    },
}

/// Events to the mapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new inbound call.
    Incoming(Box<Incoming>),
    /// An outbound INVITE was built: its Call-ID header, once per call (before any
    /// other event of the call; a `Place` refused at once gets only `Released`).
    Placed {
        /// Call.
        call: CallId,
        /// The Call-ID header we chose.
        sip_call_id: String,
    },
    /// 100 Trying arrived for an outbound call.
    Trying {
        /// Call.
        call: CallId,
    },
    /// 180 arrived (with SDP: early media).
    Ringing {
        /// Call.
        call: CallId,
        /// The peer's media, when the 180 carried SDP.
        media: Option<Media>,
    },
    /// 183 (or another 1xx) arrived.
    Progress {
        /// Call.
        call: CallId,
        /// The peer's media, when it carried SDP.
        media: Option<Media>,
    },
    /// 200 to our INVITE (outbound) or the ACK to our 200 (inbound) arrived.
    Answered {
        /// Call.
        call: CallId,
        /// The peer's media (for inbound, the offer we answered).
        media: Option<Media>,
    },
    /// A re-INVITE changed the peer's media (hold, resume, new address).
    MediaChanged {
        /// Call.
        call: CallId,
        /// The new media.
        media: Media,
    },
    /// The call is over, whoever ended it. Exactly one per call.
    Released {
        /// Call.
        call: CallId,
        /// The final response that ended an unanswered call (408 for a timeout, 503 for a
        /// transport failure, 487 for a cancel); `None` after BYE.
        status: Option<u16>,
        /// The peer's Reason header, if it sent one.
        reason: Option<Reason>,
    },
    /// A peer's keepalive state changed.
    PeerStatus {
        /// Peer.
        peer: PeerId,
        /// Whether it answers.
        up: bool,
    },
    /// A registration changed state.
    Registration {
        /// Index in [`Config::registrars`].
        registrar: usize,
        /// The address-of-record user part.
        aor: String,
        /// New state.
        state: Registration,
    },
}

impl Event {
    /// The call the event is about, if it is about one.
    pub fn call(&self) -> Option<CallId> {
        match self {
            Event::Incoming(i) => Some(i.call),
            Event::Placed { call, .. }
            | Event::Trying { call }
            | Event::Ringing { call, .. }
            | Event::Progress { call, .. }
            | Event::Answered { call, .. }
            | Event::MediaChanged { call, .. }
            | Event::Released { call, .. } => Some(*call),
            Event::PeerStatus { .. } | Event::Registration { .. } => None,
        }
    }
}

/// Counters, for `show sip-ua statistics`-like output and the tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages received and parsed.
    pub received: AtomicU64,
    /// Messages sent (retransmissions included).
    pub sent: AtomicU64,
    /// Malformed messages (answered 400/501 where possible).
    pub malformed: AtomicU64,
    /// INVITEs refused (or dropped) because their source was not trusted.
    pub untrusted: AtomicU64,
    /// Requests refused with 503 by the rate limit.
    pub rate_limited: AtomicU64,
    /// Messages over the size limit.
    pub too_large: AtomicU64,
    /// Retransmissions sent.
    pub retransmissions: AtomicU64,
    /// Gauge: live calls (set by the endpoint task after each step).
    pub calls: AtomicU64,
    /// Gauge: live transactions (client and non-INVITE server).
    pub transactions: AtomicU64,
}

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub use super::transport::Endpoint;
