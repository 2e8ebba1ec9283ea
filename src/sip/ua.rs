//! The user agent core: transactions (RFC 3261 §17, RFC 6026) and dialogs (§12), sans-IO.
//!
//! Why not rsipstack's transaction and dialog layers: they own tokio tasks and the wall
//! clock (so no virtual-clock tests), answer unparsable requests by dropping them, and
//! spend a task and several channels per transaction, which does not fit 40 µs of CPU per
//! call. We keep its message parser (see `message.rs`) and write the state machines here,
//! in the house shape: `handle_input` / `handle_command` / `handle_timeout` in,
//! `poll_transmit` / `poll_event` / `poll_timeout` out.
//!
//! ```text
//!            ┌──────────────── UserAgent ────────────────┐
//!  bytes ──▶ │ parse ─▶ checks (size, trust, rate) ─▶    │
//!            │   request ─▶ server txn / dialog / call   │ ──▶ Event
//!            │   response ─▶ client txn ─▶ call/keepalive│
//!  Command ─▶│ call ─▶ client txn (A/B, E/F timers)      │ ──▶ Transmit
//!            └───────────────────────────────────────────┘
//! ```
//!
//! INVITE server side as implemented (a call owns its INVITE server transaction):
//!
//! ```text
//!  INVITE ─▶ Proceeding (100 sent) ─18x─▶ Proceeding ─2xx─▶ Accepted (2xx resent T1..T2
//!                │                                           until ACK, BYE at 64*T1)
//!                └─3xx..6xx─▶ Completed (resent on G until ACK or H) ─ACK─▶ gone
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

// foldhash instead of SipHash: hashing branch and Call-ID keys was a visible share of the
// per-message CPU. Its per-process random seed still keeps peer-chosen keys from being
// aimed at one bucket.
use foldhash::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;

use super::endpoint::{
    CallId, CallIds, Command, Config, Event, Incoming, LocalMedia, Outgoing, Party, Peer, PeerId,
    Provisional, Reason, ReasonProtocol, Stats, Transport, Untrusted,
};
use super::message::{self, Echo, Inbound, Malformed, Method, StartLine, Via, Writer};
use super::options::PeerState;
use super::register::Binding;
use super::sdp::{self, Media};
use super::security::{RateLimiter, Trusted};

/// Identifies a TCP/TLS connection in the transport shell.
pub(crate) type ConnId = u64;

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dest {
    pub(crate) transport: Transport,
    pub(crate) addr: SocketAddr,
    /// The connection to reuse (responses and in-dialog requests on streams).
    pub(crate) conn: Option<ConnId>,
}

/// One message for the transport shell to send.
#[derive(Clone, Debug)]
pub(crate) struct Transmit {
    pub(crate) dest: Dest,
    pub(crate) bytes: Bytes,
}

/// One received message, as the transport shell hands it in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Input<'a> {
    pub(crate) transport: Transport,
    pub(crate) source: SocketAddr,
    pub(crate) conn: Option<ConnId>,
    pub(crate) data: &'a [u8],
}

pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// Who waits for a client transaction's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Call(CallId),
    Keepalive(PeerId),
    Register(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Trying,
    Proceeding,
    Completed,
}

/// A client transaction (§17.1): the request, its retransmission and timeout timers.
#[derive(Debug)]
pub(crate) struct ClientTxn {
    method: Method,
    request: Bytes,
    dest: Dest,
    owner: Owner,
    state: ClientState,
    interval: Duration,
    next_send: Option<Instant>,
    /// Timer B or F.
    timeout: Option<Instant>,
    /// Timer D or K (Completed lingers to absorb retransmitted finals).
    linger: Option<Instant>,
    /// INVITE: the Request-URI, for the ACK of a non-2xx final.
    request_uri: Option<String>,
    /// INVITE: that ACK, resent when the final comes again.
    ack: Option<Bytes>,
}

/// A non-INVITE server transaction in Completed: the final to resend on a retransmission.
#[derive(Debug)]
struct ServerTxn {
    response: Bytes,
    dest: Dest,
    until: Instant,
}

// Ord only so the key can ride in the timer heap next to its deadline.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Client(String),
    Server(String),
    Call(CallId),
    Keepalive(PeerId),
    Register(usize),
}

/// The INVITE server transaction of an inbound call or re-INVITE.
#[derive(Debug)]
struct UasInvite {
    echo: Echo,
    branch: String,
    received: Option<(IpAddr, u16)>,
    dest: Dest,
    cseq: u32,
    last: Option<Bytes>,
    /// When to send the deferred 100 Trying (RFC 3261 §17.2.1 lets it wait 200 ms for a
    /// response of the TU; most calls then need no 100 at all).
    trying_at: Option<Instant>,
    final_status: Option<u16>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    give_up_at: Option<Instant>,
}

impl UasInvite {
    /// The response a retransmitted INVITE (or the Trying timer) sends: the last one, or
    /// else the held-back 100 Trying, written now and kept as the last.
    fn last_or_trying(&mut self) -> Bytes {
        let (echo, received) = (&self.echo, self.received);
        self.last
            .get_or_insert_with(|| Writer::reply(100, echo, None, received).finish(None))
            .clone()
    }
}

/// What an outbound call needs to send its INVITE again (digest) and to CANCEL it.
#[derive(Debug)]
struct UacInvite {
    branch: String,
    request_uri: String,
    /// To as sent (no tag).
    to: String,
    /// Header lines after CSeq (Contact, identity, Allow...), CRLF-terminated.
    extra: String,
    body: Vec<u8>,
    provisional: bool,
    trying: bool,
    ringing: bool,
    cancel: Option<u8>,
    cancel_sent: bool,
    auth_tries: u8,
    early_media: Option<Media>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// Before any final response.
    Early,
    /// UAS: 2xx sent, ACK awaited.
    Accepted,
    /// Dialog confirmed.
    Confirmed,
    /// Our BYE is out, or the call is released and lingers to absorb retransmissions.
    Ending,
}

/// One call: a dialog plus the INVITE transaction that creates it.
#[derive(Debug)]
pub(crate) struct Call {
    outbound: bool,
    state: CallState,
    released: bool,
    sip_call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// Our From/To value without tag.
    local_party: String,
    /// Their From/To value without tag.
    remote_party: String,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
    dest: Dest,
    peer: Option<PeerId>,
    local_sdp: Option<sdp::Local>,
    remote_media: Option<Media>,
    uas: Option<Box<UasInvite>>,
    uac: Option<Box<UacInvite>>,
    /// ACK for the 2xx, resent when the 2xx is retransmitted.
    ack: Option<Bytes>,
    no_answer_at: Option<Instant>,
    /// Remove the call at this instant (after lingering for retransmissions).
    linger_until: Option<Instant>,
}

impl Call {
    fn next_deadline(&self) -> Option<Instant> {
        let uas = self
            .uas
            .as_ref()
            .and_then(|u| min_opt(min_opt(u.retransmit_at, u.give_up_at), u.trying_at));
        min_opt(min_opt(uas, self.no_answer_at), self.linger_until)
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The sans-IO user agent.
pub(crate) struct UserAgent {
    pub(super) config: Config,
    /// Bound local addresses per transport (after ephemeral ports are chosen).
    pub(super) locals: Vec<(Transport, SocketAddr)>,
    pub(super) calls: HashMap<CallId, Call>,
    by_sip_id: HashMap<String, CallId>,
    pub(super) client: HashMap<String, ClientTxn>,
    server: HashMap<String, ServerTxn>,
    /// Deadlines with what they are for; stale entries are skipped when they come due.
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    trusted: Trusted,
    limiter: Option<RateLimiter>,
    pub(super) stats: Arc<Stats>,
    pub(super) rng: fastrand::Rng,
    ids: CallIds,
    pub(super) peers: Vec<PeerState>,
    pub(super) bindings: Vec<Binding>,
}

impl UserAgent {
    /// Builds the core; `locals` are the bound listening addresses.
    pub(crate) fn new(
        now: Instant,
        config: Config,
        locals: Vec<(Transport, SocketAddr)>,
        ids: CallIds,
        stats: Arc<Stats>,
        seed: u64,
    ) -> Self {
        let trusted = Trusted::new(&config.trusted, config.peers.iter().map(|p| p.addr.ip()));
        let limiter = config.rate_limit.map(RateLimiter::new);
        let peers = config.peers.iter().map(|_| PeerState::default()).collect();
        let mut ua = Self {
            locals,
            calls: HashMap::default(),
            by_sip_id: HashMap::default(),
            client: HashMap::default(),
            server: HashMap::default(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            trusted,
            limiter,
            stats,
            rng: fastrand::Rng::with_seed(seed),
            ids,
            peers,
            bindings: Vec::new(),
            config,
        };
        ua.start_keepalive(now);
        ua.start_registrations(now);
        ua
    }

    /// Next message to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the mapper.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest pending deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Number of live calls (dialogs and calls still setting up), for tests and benches.
    pub(crate) fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Number of live transactions (client and non-INVITE server), for leak tests.
    pub(crate) fn transaction_count(&self) -> usize {
        self.client.len() + self.server.len()
    }

    // ---- time -------------------------------------------------------------------------

    pub(super) fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.timers.push(Reverse((at, key)));
    }

    /// Fires every timer due at `now`; early calls do nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while self
            .timers
            .peek()
            .is_some_and(|Reverse((at, _))| *at <= now)
        {
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            match key {
                TimerKey::Client(branch) => self.client_timer(now, &branch),
                TimerKey::Server(key) => {
                    if self.server.get(&key).is_some_and(|t| t.until <= now) {
                        self.server.remove(&key);
                    }
                }
                TimerKey::Call(id) => self.call_timer(now, id),
                TimerKey::Keepalive(peer) => self.keepalive_timer(now, peer),
                TimerKey::Register(i) => self.register_timer(now, i),
            }
        }
    }

    fn t64(&self) -> Duration {
        self.config.timers.t1 * 64
    }

    // ---- output helpers ---------------------------------------------------------------

    pub(super) fn send(&mut self, dest: Dest, bytes: Bytes) {
        Stats::bump(&self.stats.sent);
        self.transmits.push_back(Transmit { dest, bytes });
    }

    pub(super) fn local_addr(&self, transport: Transport) -> SocketAddr {
        self.locals
            .iter()
            .find(|(t, _)| *t == transport)
            .or(self.locals.first())
            .map_or(SocketAddr::from(([127, 0, 0, 1], 5060)), |(_, a)| *a)
    }

    // Identifiers by hand rather than `format!`: every call makes several, and the fmt
    // machinery cost more than the random numbers behind them.
    pub(super) fn branch(&mut self) -> String {
        let mut s = String::with_capacity(23);
        s.push_str("z9hG4bK");
        message::push_hex(&mut s, self.rng.u64(..), 16);
        s
    }

    pub(super) fn tag(&mut self) -> String {
        let mut s = String::with_capacity(8);
        message::push_hex(&mut s, u64::from(self.rng.u32(..)), 8);
        s
    }

    pub(super) fn new_call_id(&mut self, transport: Transport) -> String {
        let host = self.local_addr(transport).ip();
        let mut s = String::with_capacity(48);
        message::push_hex(&mut s, self.rng.u64(..), 16);
        message::push_hex(&mut s, self.rng.u64(..), 16);
        s.push('@');
        message::push_host(&mut s, host);
        s
    }

    /// Starts a request with our Via and the dialog-independent headers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_head(
        &self,
        method: Method,
        uri: &str,
        transport: Transport,
        branch: &str,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
    ) -> Writer {
        let local = self.local_addr(transport);
        let mut w = Writer::request(method, uri);
        let via = format!(
            "SIP/2.0/{} {}:{};branch={branch};rport",
            transport.token(),
            message::host_text(local.ip()),
            local.port()
        );
        w.header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", from)
            .header("To", to)
            .header("Call-ID", call_id)
            .header("CSeq", &format!("{cseq} {}", method.as_str()));
        w
    }

    /// Starts a client transaction and sends its request.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per request kind; a struct adds nothing"
    )]
    pub(super) fn start_client(
        &mut self,
        now: Instant,
        method: Method,
        branch: String,
        request: Bytes,
        dest: Dest,
        owner: Owner,
        request_uri: Option<String>,
    ) {
        let t1 = self.config.timers.t1;
        let reliable = dest.transport.reliable();
        let txn = ClientTxn {
            method,
            request: request.clone(),
            dest,
            owner,
            state: ClientState::Trying,
            interval: t1,
            next_send: (!reliable).then(|| now + t1),
            timeout: Some(now + self.t64()),
            linger: None,
            request_uri,
            ack: None,
        };
        let key = client_key(&branch, method);
        if let Some(at) = txn.next_send {
            self.schedule(at, TimerKey::Client(key.clone()));
        }
        self.schedule(now + self.t64(), TimerKey::Client(key.clone()));
        self.client.insert(key, txn);
        self.send(dest, request);
    }

    fn client_timer(&mut self, now: Instant, key: &str) {
        let t2 = self.config.timers.t2;
        let Some(txn) = self.client.get_mut(key) else {
            return;
        };
        if let Some(linger) = txn.linger {
            if linger <= now {
                self.client.remove(key);
            }
            return;
        }
        if txn.timeout.is_some_and(|t| t <= now) {
            let Some(txn) = self.client.remove(key) else {
                return;
            };
            self.client_failed(now, txn.owner, txn.method, 408);
            return;
        }
        if let Some(at) = txn.next_send
            && at <= now
        {
            txn.interval = if txn.method == Method::Invite {
                txn.interval * 2
            } else if txn.state == ClientState::Proceeding {
                t2
            } else {
                (txn.interval * 2).min(t2)
            };
            let next = now + txn.interval;
            txn.next_send = Some(next);
            let (dest, request) = (txn.dest, txn.request.clone());
            Stats::bump(&self.stats.retransmissions);
            self.send(dest, request);
            self.schedule(next, TimerKey::Client(key.to_owned()));
        }
    }

    /// The transport shell could not reach `addr`: fail what was sent there (as a 503).
    pub(crate) fn handle_unreachable(&mut self, now: Instant, addr: SocketAddr) {
        let failed: Vec<String> = self
            .client
            .iter()
            .filter(|(_, t)| t.dest.addr == addr && t.state != ClientState::Completed)
            .map(|(k, _)| k.clone())
            .collect();
        for key in failed {
            if let Some(txn) = self.client.remove(&key) {
                self.client_failed(now, txn.owner, txn.method, 503);
            }
        }
    }

    fn client_failed(&mut self, now: Instant, owner: Owner, method: Method, status: u16) {
        match owner {
            Owner::Call(id) => self.call_request_failed(now, id, method, status),
            Owner::Keepalive(peer) => self.keepalive_result(now, peer, None),
            Owner::Register(i) => self.register_failed(now, i, status),
        }
    }

    // ---- input ------------------------------------------------------------------------

    /// Handles one received message.
    pub(crate) fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        if input.data.len() > self.config.max_message_size {
            Stats::bump(&self.stats.too_large);
            tracing::warn!(source = %input.source, len = input.data.len(), "SIP message over the size limit");
            self.refuse_malformed(input, &Malformed::TooLarge);
            return;
        }
        if input.data.iter().all(|b| b.is_ascii_whitespace()) {
            return; // RFC 5626 CRLF keepalive
        }
        let parsed = Inbound::parse(input.data).and_then(|m| {
            if input.transport.reliable() && !m.has_content_length {
                Err(Malformed::MissingHeader("Content-Length"))
            } else {
                Ok(m)
            }
        });
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                Stats::bump(&self.stats.malformed);
                tracing::info!(source = %input.source, error = %e, "malformed SIP message");
                self.refuse_malformed(input, &e);
                return;
            }
        };
        Stats::bump(&self.stats.received);
        if msg.top_via.transport != input.transport {
            tracing::debug!(source = %input.source, "Via transport differs from the arrival transport");
        }
        match msg.start {
            StartLine::Request { .. } => self.handle_request(now, input, msg),
            StartLine::Response { .. } => self.handle_response(now, msg),
        }
    }

    fn refuse_malformed(&mut self, input: Input<'_>, error: &Malformed) {
        let Some(echo) = message::salvage(input.data) else {
            return;
        };
        let Some(via) = message::salvage_via(&echo) else {
            return;
        };
        if echo.cseq.ends_with("ACK") {
            return; // never answer an ACK
        }
        let dest = response_dest(&input, &via);
        let tag = self.tag();
        let mut w = Writer::reply(error.status(), &echo, Some(&tag), received(&input, &via));
        w.header("Warning", &format!("399 dialgate \"{error}\""));
        if error.status() == 501 {
            w.header("Allow", ALLOW);
        }
        self.send(dest, w.finish(None));
    }

    fn handle_request(&mut self, now: Instant, input: Input<'_>, msg: Inbound) {
        let Some(method) = msg.method() else { return };
        let via = &msg.top_via;
        let dest = response_dest(&input, via);
        let rcvd = received(&input, via);
        // Non-INVITE retransmission: resend the cached final (§17.2.2).
        if !matches!(method, Method::Invite | Method::Ack) {
            let key = client_key(&via.branch, method);
            if let Some(txn) = self.server.get(&key) {
                let (d, r) = (txn.dest, txn.response.clone());
                Stats::bump(&self.stats.retransmissions);
                self.send(d, r);
                return;
            }
        }
        match method {
            Method::Ack => self.handle_ack(now, &msg),
            Method::Cancel => self.handle_cancel(now, &msg, dest, rcvd),
            Method::Invite if msg.to_tag.is_none() => {
                self.handle_invite(now, input, msg, dest, rcvd)
            }
            Method::Invite => self.handle_reinvite(now, msg, dest, rcvd),
            Method::Bye => self.handle_bye(now, &msg, dest, rcvd),
            Method::Options => {
                if msg.to_tag.is_none() && !self.admit(now, input.source.ip(), &msg, dest, rcvd) {
                    return;
                }
                let tag = self.tag();
                let mut w = Writer::reply_to(200, &msg, Some(&tag), rcvd);
                w.header("Allow", ALLOW)
                    .header("Accept", "application/sdp")
                    .header("Supported", "")
                    .header("Server", &self.config.user_agent);
                self.respond_non_invite(now, &msg, dest, w.finish(None));
            }
            // We are not a registrar (Cisco gateways refuse too).
            Method::Register => self.reply_simple(now, &msg, 405, dest, rcvd, &[("Allow", ALLOW)]),
            _ => self.reply_simple(now, &msg, 405, dest, rcvd, &[("Allow", ALLOW)]),
        }
    }

    /// Rate limit for new out-of-dialog requests; sends 503 and returns false when over.
    fn admit(
        &mut self,
        now: Instant,
        ip: IpAddr,
        msg: &Inbound,
        dest: Dest,
        rcvd: Option<(IpAddr, u16)>,
    ) -> bool {
        let Some(limiter) = self.limiter.as_mut() else {
            return true;
        };
        if limiter.admit(now, ip) {
            return true;
        }
        let retry = limiter.retry_after().as_secs().to_string();
        Stats::bump(&self.stats.rate_limited);
        tracing::warn!(source = %ip, "SIP request over the rate limit: 503");
        if msg.method() == Some(Method::Invite) {
            let tag = self.tag();
            let mut w = Writer::reply_to(503, msg, Some(&tag), rcvd);
            w.header("Retry-After", &retry);
            // An INVITE error response is ACKed; no call exists, so the ACK is absorbed.
            self.send(dest, w.finish(None));
        } else {
            self.reply_simple(now, msg, 503, dest, rcvd, &[("Retry-After", &retry)]);
        }
        false
    }

    fn reply_simple(
        &mut self,
        now: Instant,
        msg: &Inbound,
        status: u16,
        dest: Dest,
        rcvd: Option<(IpAddr, u16)>,
        headers: &[(&str, &str)],
    ) {
        let tag = self.tag();
        let mut w = Writer::reply_to(status, msg, Some(&tag), rcvd);
        for (n, v) in headers {
            w.header(n, v);
        }
        let bytes = w.finish(None);
        if msg.method() == Some(Method::Invite) {
            self.send(dest, bytes);
        } else {
            self.respond_non_invite(now, msg, dest, bytes);
        }
    }

    /// Sends a non-INVITE final and keeps it for Timer J (UDP only) to absorb retransmissions.
    fn respond_non_invite(&mut self, now: Instant, msg: &Inbound, dest: Dest, bytes: Bytes) {
        if !dest.transport.reliable() {
            let key = client_key(&msg.top_via.branch, msg.cseq_method);
            let until = now + self.t64();
            self.server.insert(
                key.clone(),
                ServerTxn {
                    response: bytes.clone(),
                    dest,
                    until,
                },
            );
            self.schedule(until, TimerKey::Server(key));
        }
        self.send(dest, bytes);
    }

    // ---- inbound calls ----------------------------------------------------------------

    fn handle_invite(
        &mut self,
        now: Instant,
        input: Input<'_>,
        mut msg: Inbound,
        dest: Dest,
        rcvd: Option<(IpAddr, u16)>,
    ) {
        // Retransmission of an INVITE we are handling: resend the last response.
        if let Some(id) = self.by_sip_id.get(&msg.call_id).copied() {
            let Some(call) = self.calls.get(&id) else {
                return;
            };
            match &call.uas {
                Some(uas) if uas.branch == msg.top_via.branch => {
                    if let Some(uas) = self.calls.get_mut(&id).and_then(|c| c.uas.as_mut()) {
                        let (d, last) = (uas.dest, uas.last_or_trying());
                        uas.trying_at = None;
                        Stats::bump(&self.stats.retransmissions);
                        self.send(d, last);
                    }
                }
                // Same Call-ID and From tag, other branch: merged or looped (§8.2.2.2).
                _ if call.remote_tag == msg.from_tag && !call.outbound => {
                    self.reply_simple(now, &msg, 482, dest, rcvd, &[]);
                }
                _ => self.reply_simple(now, &msg, 482, dest, rcvd, &[]),
            }
            return;
        }
        let source = input.source;
        if !self.trusted.allows(source.ip()) {
            Stats::bump(&self.stats.untrusted);
            tracing::warn!(source = %source, call_id = %msg.call_id, "INVITE from an untrusted source");
            if self.config.untrusted == Untrusted::Reject {
                self.reply_simple(now, &msg, 403, dest, rcvd, &[]);
            }
            return;
        }
        if !self.admit(now, source.ip(), &msg, dest, rcvd) {
            return;
        }
        if let Some(tag) = msg
            .require
            .iter()
            .find(|t| !t.eq_ignore_ascii_case("timer"))
        {
            let tag = tag.clone();
            self.reply_simple(now, &msg, 420, dest, rcvd, &[("Unsupported", &tag)]);
            return;
        }
        let Some(contact) = msg.contact.take() else {
            self.reply_simple(
                now,
                &msg,
                400,
                dest,
                rcvd,
                &[("Warning", "399 dialgate \"missing Contact\"")],
            );
            return;
        };
        let offer = match msg.sdp().map(sdp::parse) {
            None => None,
            Some(Err(_)) => {
                self.reply_simple(
                    now,
                    &msg,
                    400,
                    dest,
                    rcvd,
                    &[("Warning", "399 dialgate \"bad SDP\"")],
                );
                return;
            }
            Some(Ok(session)) => {
                let audio = session
                    .audio
                    .filter(|a| sdp::answer_codecs(a, &self.config.media).is_ok());
                let Some(audio) = audio else {
                    let warning = format!(
                        "305 {} \"Incompatible media format\"",
                        self.local_addr(input.transport).ip()
                    );
                    self.reply_simple(now, &msg, 488, dest, rcvd, &[("Warning", &warning)]);
                    return;
                };
                Some(audio)
            }
        };
        let id = self.ids.next();
        let local_tag = self.tag();
        // A deferred 100 Trying is written only if it comes due (most calls are answered
        // first): see `UasInvite::last_or_trying`.
        let trying = self
            .config
            .trying_delay
            .is_zero()
            .then(|| Writer::reply_to(100, &msg, None, rcvd).finish(None));
        let local_party = message::without_tag(&msg.to);
        let remote_party = message::without_tag(&msg.from);
        let calling = Party {
            user: message::angle_uri(&msg.from)
                .and_then(message::uri_user)
                .map(str::to_owned),
            display: display_name(&msg.from),
        };
        let echo_cseq = msg.echo_cseq();
        // The request is ours now: its strings move into the call instead of being copied.
        let Inbound {
            start,
            vias,
            top_via,
            from,
            from_tag,
            to,
            call_id,
            cseq,
            record_route,
            asserted_identity,
            privacy,
            ..
        } = msg;
        let (request_uri, called) = match start {
            StartLine::Request { uri, .. } => {
                let called = message::uri_user(&uri).map(str::to_owned);
                (uri, called)
            }
            StartLine::Response { .. } => (String::new(), None),
        };
        let call = Call {
            outbound: false,
            state: CallState::Early,
            released: false,
            sip_call_id: call_id.clone(),
            local_tag,
            remote_tag: from_tag,
            local_party,
            remote_party,
            remote_target: contact,
            route_set: record_route,
            local_cseq: self.rng.u32(1..10_000),
            remote_cseq: cseq,
            dest,
            peer: self
                .config
                .peers
                .iter()
                .position(|p| !p.retired && p.addr.ip() == source.ip()),
            local_sdp: None,
            remote_media: offer.clone(),
            uas: Some(Box::new(UasInvite {
                echo: Echo {
                    vias,
                    from,
                    to,
                    call_id: call_id.clone(),
                    cseq: echo_cseq,
                },
                branch: top_via.branch,
                received: rcvd,
                dest,
                cseq,
                last: trying.clone(),
                trying_at: (!self.config.trying_delay.is_zero())
                    .then(|| now + self.config.trying_delay),
                final_status: None,
                retransmit_at: None,
                interval: self.config.timers.t1,
                give_up_at: None,
            })),
            uac: None,
            ack: None,
            no_answer_at: Some(now + self.config.no_answer),
            linger_until: None,
        };
        tracing::info!(call = %id, source = %source, called = ?called, "inbound SIP call");
        self.by_sip_id.insert(call_id.clone(), id);
        self.calls.insert(id, call);
        self.reschedule_call(id);
        if let Some(trying) = trying {
            self.send(dest, trying);
        }
        self.events.push_back(Event::Incoming(Box::new(Incoming {
            call: id,
            peer: self.calls.get(&id).and_then(|c| c.peer),
            source,
            transport: input.transport,
            sip_call_id: call_id,
            request_uri,
            called,
            calling,
            asserted_identity,
            privacy,
            offer,
        })));
    }

    /// Builds our SDP for an inbound call: the answer to its offer, or our offer.
    fn local_sdp_for(&mut self, id: CallId, media: &LocalMedia) -> Option<Bytes> {
        let mut caps = self.config.media.clone();
        if !media.codecs.is_empty() {
            caps.codecs = media.codecs.clone();
        }
        let session_id = self.rng.u64(1..1 << 40);
        let call = self.calls.get_mut(&id)?;
        if let Some(local) = &call.local_sdp {
            return Some(Bytes::from(local.print()));
        }
        let local = match &call.remote_media {
            Some(offer) => {
                let (codecs, dtmf) = sdp::answer_codecs(offer, &caps).ok()?;
                sdp::Local {
                    session_id,
                    version: session_id,
                    rtp: media.rtp,
                    codecs,
                    telephone_event: dtmf,
                    ptime: caps.ptime,
                    direction: offer.direction.reverse(),
                }
            }
            None => sdp::Local {
                session_id,
                version: session_id,
                rtp: media.rtp,
                codecs: caps.codecs.clone(),
                telephone_event: caps.telephone_event,
                ptime: caps.ptime,
                direction: sdp::Direction::SendRecv,
            },
        };
        let bytes = Bytes::from(local.print());
        call.local_sdp = Some(local);
        Some(bytes)
    }

    fn uas_response(
        &mut self,
        id: CallId,
        status: u16,
        body: Option<Bytes>,
        extra: &[(&str, &str)],
    ) -> Option<(Dest, Bytes)> {
        let contact = self.contact_for(id)?;
        let call = self.calls.get(&id)?;
        let uas = call.uas.as_ref()?;
        let mut w = Writer::reply(status, &uas.echo, Some(&call.local_tag), uas.received);
        for rr in &call.route_set {
            w.header("Record-Route", rr);
        }
        if status < 300 {
            w.header("Contact", &contact);
        }
        if (200..300).contains(&status) {
            w.header("Allow", ALLOW);
        }
        for (n, v) in extra {
            w.header(n, v);
        }
        let bytes = w.finish(body.as_deref().map(|b| ("application/sdp", b)));
        Some((uas.dest, bytes))
    }

    fn contact_for(&self, id: CallId) -> Option<String> {
        let call = self.calls.get(&id)?;
        let local = self.local_addr(call.dest.transport);
        let user = message::angle_uri(&call.local_party)
            .and_then(message::uri_user)
            .unwrap_or("dialgate");
        let transport = match call.dest.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        let mut contact = String::with_capacity(64);
        contact.push_str("<sip:");
        contact.push_str(user);
        contact.push('@');
        message::push_host(&mut contact, local.ip());
        contact.push(':');
        message::push_decimal(&mut contact, local.port());
        contact.push_str(transport);
        contact.push('>');
        Some(contact)
    }

    /// Handles a command from the mapper.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Place(out) => self.place(now, *out),
            Command::Provisional { call, response } => self.provisional(call, response),
            Command::Answer { call, media } => self.answer(now, call, &media),
            Command::Release {
                call,
                cause,
                status,
            } => self.release(now, call, cause, status),
            Command::SetPeers { peers, trusted } => self.set_peers(now, peers, trusted),
        }
    }

    /// A reload: new peers are appended (indices of the old ones stay), a retired one
    /// gets no new calls and no probes; the trusted list is rebuilt.
    fn set_peers(&mut self, now: Instant, peers: Vec<Peer>, trusted: Vec<IpNet>) {
        let old = self.config.peers.len();
        let mut peers = peers;
        if peers.len() < old {
            peers.extend(self.config.peers.drain(peers.len()..).map(|mut p| {
                p.retired = true;
                p
            }));
        }
        self.config.peers = peers;
        self.config.trusted = trusted;
        self.trusted = Trusted::new(
            &self.config.trusted,
            self.config
                .peers
                .iter()
                .filter(|p| !p.retired)
                .map(|p| p.addr.ip()),
        );
        self.peers
            .resize_with(self.config.peers.len(), PeerState::default);
        if self.config.keepalive.is_some() {
            for peer in old..self.config.peers.len() {
                self.schedule(now, TimerKey::Keepalive(peer));
            }
        }
        tracing::info!(peers = self.config.peers.len(), "SIP peers updated");
    }

    fn provisional(&mut self, id: CallId, response: Provisional) {
        let pending = self.calls.get(&id).is_some_and(|c| {
            !c.outbound && c.uas.as_ref().is_some_and(|u| u.final_status.is_none())
        });
        if !pending {
            tracing::debug!(call = %id, "provisional for a call that cannot take one");
            return;
        }
        let (status, media) = match response {
            Provisional::Ringing => (180, None),
            Provisional::RingingWithMedia(m) => (180, Some(m)),
            Provisional::Progress(m) => (183, Some(m)),
        };
        // No early media without an offer to answer (§14.2: no 100rel here).
        let has_offer = self
            .calls
            .get(&id)
            .is_some_and(|c| c.remote_media.is_some());
        let body = match media {
            Some(m) if has_offer => self.local_sdp_for(id, &m),
            _ => None,
        };
        let Some((dest, bytes)) = self.uas_response(id, status, body, &[]) else {
            return;
        };
        if let Some(uas) = self.calls.get_mut(&id).and_then(|c| c.uas.as_mut()) {
            uas.last = Some(bytes.clone());
            uas.trying_at = None;
        }
        self.send(dest, bytes);
    }

    fn answer(&mut self, now: Instant, id: CallId, media: &LocalMedia) {
        let pending = self.calls.get(&id).is_some_and(|c| {
            !c.outbound && c.uas.as_ref().is_some_and(|u| u.final_status.is_none())
        });
        if !pending {
            tracing::debug!(call = %id, "answer for a call that cannot take one");
            return;
        }
        let body = self.local_sdp_for(id, media);
        let Some((dest, bytes)) = self.uas_response(id, 200, body, &[]) else {
            return;
        };
        let t1 = self.config.timers.t1;
        let give_up = now + self.t64();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Accepted;
        call.no_answer_at = None;
        if let Some(uas) = call.uas.as_mut() {
            uas.last = Some(bytes.clone());
            uas.trying_at = None;
            uas.final_status = Some(200);
            // §13.3.1.4: the core retransmits the 2xx until the ACK, on every transport
            // only the give-up; on UDP also the resends.
            uas.retransmit_at = (!dest.transport.reliable()).then(|| now + t1);
            uas.interval = t1;
            uas.give_up_at = Some(give_up);
        }
        let at = call.next_deadline();
        if let Some(at) = at {
            self.schedule(at, TimerKey::Call(id));
        }
        self.send(dest, bytes);
    }

    fn release(&mut self, now: Instant, id: CallId, cause: u8, status: Option<u16>) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.released {
            return;
        }
        let reason = q850_reason(cause);
        if call.outbound {
            match call.state {
                CallState::Early => self.cancel_outbound(now, id, cause),
                CallState::Confirmed | CallState::Accepted => self.send_bye(now, id, &reason),
                CallState::Ending => {}
            }
            return;
        }
        let unanswered = call.uas.as_ref().is_some_and(|u| u.final_status.is_none());
        if unanswered {
            let status = status.unwrap_or(480).clamp(300, 699);
            self.uas_final_error(now, id, status, Some(&reason));
            self.emit_released(id, Some(status), None);
        } else if matches!(call.state, CallState::Accepted | CallState::Confirmed) {
            self.send_bye(now, id, &reason);
        }
    }

    /// Sends a 3xx-6xx to the pending INVITE and lingers for the ACK (Timer G/H).
    fn uas_final_error(&mut self, now: Instant, id: CallId, status: u16, reason: Option<&str>) {
        let extra: Vec<(&str, &str)> = reason.map(|r| ("Reason", r)).into_iter().collect();
        let Some((dest, bytes)) = self.uas_response(id, status, None, &extra) else {
            return;
        };
        let t1 = self.config.timers.t1;
        let t64 = self.t64();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Ending;
        if let Some(uas) = call.uas.as_mut() {
            uas.last = Some(bytes.clone());
            uas.trying_at = None;
            uas.final_status = Some(status);
            if dest.transport.reliable() {
                uas.retransmit_at = None;
                call.linger_until = Some(now);
            } else {
                uas.retransmit_at = Some(now + t1);
                uas.interval = t1;
                uas.give_up_at = Some(now + t64);
            }
        }
        if let Some(at) = call.next_deadline() {
            self.schedule(at, TimerKey::Call(id));
        }
        self.send(dest, bytes);
    }

    fn handle_ack(&mut self, now: Instant, msg: &Inbound) {
        let Some(id) = self.by_sip_id.get(&msg.call_id).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.outbound {
            return;
        }
        let Some(uas) = call.uas.as_mut() else { return };
        if uas.cseq != msg.cseq {
            return;
        }
        match uas.final_status {
            Some(200..=299) => {
                uas.retransmit_at = None;
                uas.give_up_at = None;
                let reinvite = call.state == CallState::Confirmed;
                call.state = CallState::Confirmed;
                // Delayed offer: the answer arrives in the ACK.
                if let Some(Ok(session)) = msg.sdp().map(sdp::parse)
                    && let Some(audio) = session.audio
                {
                    call.remote_media = Some(audio.clone());
                    if reinvite {
                        self.events.push_back(Event::MediaChanged {
                            call: id,
                            media: audio,
                        });
                    }
                }
                if !reinvite {
                    let media = call.remote_media.clone();
                    self.events.push_back(Event::Answered { call: id, media });
                }
                // The INVITE server transaction is done; free its copy of the headers.
                call.uas = None;
            }
            Some(_) => {
                // ACK for our error response: stop Timer G; nothing more to do.
                call.uas = None;
                call.linger_until = Some(now);
                self.schedule(now, TimerKey::Call(id));
            }
            None => {}
        }
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        msg: &Inbound,
        dest: Dest,
        rcvd: Option<(IpAddr, u16)>,
    ) {
        let found = self.by_sip_id.get(&msg.call_id).copied().filter(|id| {
            self.calls.get(id).is_some_and(|c| {
                !c.outbound
                    && c.uas
                        .as_ref()
                        .is_some_and(|u| u.branch == msg.top_via.branch)
            })
        });
        let Some(id) = found else {
            self.reply_simple(now, msg, 481, dest, rcvd, &[]);
            return;
        };
        let local_tag = self.calls.get(&id).map(|c| c.local_tag.clone());
        let ok = Writer::reply_to(200, msg, local_tag.as_deref(), rcvd).finish(None);
        self.respond_non_invite(now, msg, dest, ok);
        let unanswered = self
            .calls
            .get(&id)
            .and_then(|c| c.uas.as_ref())
            .is_some_and(|u| u.final_status.is_none());
        if unanswered {
            self.uas_final_error(now, id, 487, None);
            let reason = msg.reason.as_deref().and_then(Reason::parse);
            tracing::info!(call = %id, "inbound call cancelled by the caller");
            self.emit_released(id, Some(487), reason);
        }
    }

    fn handle_bye(&mut self, now: Instant, msg: &Inbound, dest: Dest, rcvd: Option<(IpAddr, u16)>) {
        let Some(id) = self.dialog_of(msg) else {
            self.reply_simple(now, msg, 481, dest, rcvd, &[]);
            return;
        };
        let ok = Writer::reply_to(200, msg, None, rcvd).finish(None);
        self.respond_non_invite(now, msg, dest, ok);
        // A caller may BYE an early dialog; the pending INVITE then gets 487 (§15.1.2).
        let unanswered = self.calls.get(&id).is_some_and(|c| {
            !c.outbound && c.uas.as_ref().is_some_and(|u| u.final_status.is_none())
        });
        if unanswered {
            self.uas_final_error(now, id, 487, None);
        }
        let reason = msg.reason.as_deref().and_then(Reason::parse);
        tracing::info!(call = %id, "call cleared by the SIP side");
        self.emit_released(id, None, reason);
        self.finish_call(id);
    }

    /// The call of an in-dialog request: Call-ID plus our tag in To.
    fn dialog_of(&self, msg: &Inbound) -> Option<CallId> {
        let id = *self.by_sip_id.get(&msg.call_id)?;
        let call = self.calls.get(&id)?;
        let ours = msg.to_tag.as_deref() == Some(call.local_tag.as_str());
        let theirs = call.remote_tag.is_none() || call.remote_tag == msg.from_tag;
        (ours && theirs && !call.released).then_some(id)
    }

    fn handle_reinvite(
        &mut self,
        now: Instant,
        msg: Inbound,
        dest: Dest,
        rcvd: Option<(IpAddr, u16)>,
    ) {
        let Some(id) = self.dialog_of(&msg) else {
            // Retransmission of a re-INVITE we already answered?
            if let Some(call) = self
                .by_sip_id
                .get(&msg.call_id)
                .and_then(|id| self.calls.get(id))
                && let Some(uas) = call.uas.as_ref().filter(|u| u.branch == msg.top_via.branch)
            {
                if let Some(last) = uas.last.clone() {
                    let d = uas.dest;
                    self.send(d, last);
                }
                return;
            }
            self.reply_simple(now, &msg, 481, dest, rcvd, &[]);
            return;
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if let Some(uas) = &call.uas {
            if uas.branch == msg.top_via.branch {
                if let Some(last) = uas.last.clone() {
                    let d = uas.dest;
                    self.send(d, last);
                }
                return;
            }
            // Still answering an earlier INVITE (§14.2): 500 with Retry-After.
            self.reply_simple(now, &msg, 500, dest, rcvd, &[("Retry-After", "2")]);
            return;
        }
        if call.state != CallState::Confirmed {
            self.reply_simple(now, &msg, 491, dest, rcvd, &[]);
            return;
        }
        if msg.cseq <= call.remote_cseq {
            self.reply_simple(now, &msg, 500, dest, rcvd, &[]);
            return;
        }
        let Some(old_local) = call.local_sdp.clone() else {
            self.reply_simple(now, &msg, 488, dest, rcvd, &[]);
            return;
        };
        let mut caps = self.config.media.clone();
        caps.codecs = old_local.codecs.clone();
        let mut new_remote = None;
        let local = match msg.sdp().map(sdp::parse) {
            None => old_local.clone(), // refresh without offer: we offer what we have
            Some(Err(_)) => {
                self.reply_simple(now, &msg, 400, dest, rcvd, &[]);
                return;
            }
            Some(Ok(session)) => {
                let Some(audio) = session.audio else {
                    self.reply_simple(now, &msg, 488, dest, rcvd, &[]);
                    return;
                };
                // Answer from the full local set so a codec change is possible.
                caps.codecs = self.config.media.codecs.clone();
                let Ok((codecs, dtmf)) = sdp::answer_codecs(&audio, &caps) else {
                    // A failed re-INVITE leaves the session as it was.
                    self.reply_simple(now, &msg, 488, dest, rcvd, &[]);
                    return;
                };
                let mut next = sdp::Local {
                    codecs,
                    telephone_event: dtmf,
                    direction: match audio.direction {
                        sdp::Direction::SendRecv => sdp::Direction::SendRecv,
                        d => d.reverse(),
                    },
                    ..old_local.clone()
                };
                if next != old_local {
                    next.version = old_local.version + 1;
                }
                new_remote = Some(audio);
                next
            }
        };
        let t1 = self.config.timers.t1;
        let t64 = self.t64();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.remote_cseq = msg.cseq;
        if let Some(contact) = &msg.contact {
            call.remote_target = contact.clone();
        }
        call.local_sdp = Some(local.clone());
        call.uas = Some(Box::new(UasInvite {
            echo: msg.echo(),
            branch: msg.top_via.branch.clone(),
            received: rcvd,
            dest,
            cseq: msg.cseq,
            last: None,
            trying_at: None,
            final_status: Some(200),
            retransmit_at: (!dest.transport.reliable()).then(|| now + t1),
            interval: t1,
            give_up_at: Some(now + t64),
        }));
        let changed = new_remote
            .as_ref()
            .is_some_and(|r| call.remote_media.as_ref() != Some(r));
        if let Some(r) = &new_remote {
            call.remote_media = Some(r.clone());
        }
        let body = Bytes::from(local.print());
        let Some((d, bytes)) = self.uas_response(id, 200, Some(body), &[]) else {
            return;
        };
        if let Some(uas) = self.calls.get_mut(&id).and_then(|c| c.uas.as_mut()) {
            uas.last = Some(bytes.clone());
            uas.trying_at = None;
        }
        if let Some(at) = self.calls.get(&id).and_then(Call::next_deadline) {
            self.schedule(at, TimerKey::Call(id));
        }
        self.send(d, bytes);
        if changed && let Some(media) = new_remote {
            tracing::info!(call = %id, direction = ?media.direction, "re-INVITE changed the media");
            self.events
                .push_back(Event::MediaChanged { call: id, media });
        }
    }

    fn call_timer(&mut self, now: Instant, id: CallId) {
        let t2 = self.config.timers.t2;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.linger_until.is_some_and(|t| t <= now) {
            self.remove_call(id);
            return;
        }
        if call.no_answer_at.is_some_and(|t| t <= now) {
            call.no_answer_at = None;
            if call.outbound {
                let ringing = call.uac.as_ref().is_some_and(|u| u.ringing);
                let cause = if ringing { 19 } else { 18 };
                tracing::info!(call = %id, cause, "no answer: cancelling");
                self.cancel_outbound(now, id, cause);
            } else if call.uas.as_ref().is_some_and(|u| u.final_status.is_none()) {
                // The mapper never answered: bound the INVITE server transaction anyway.
                tracing::warn!(call = %id, "inbound call unanswered: 480");
                self.uas_final_error(now, id, 480, Some(&q850_reason(19)));
                self.emit_released(id, Some(480), None);
            }
            return self.reschedule_call(id);
        }
        let mut resend = None;
        let mut gave_up = None;
        if let Some(uas) = call.uas.as_mut() {
            if uas.trying_at.is_some_and(|t| t <= now) {
                uas.trying_at = None;
                resend = Some((uas.dest, uas.last_or_trying()));
            }
            if uas.give_up_at.is_some_and(|t| t <= now) {
                gave_up = uas.final_status;
                uas.retransmit_at = None;
                uas.give_up_at = None;
            } else if uas.retransmit_at.is_some_and(|t| t <= now) {
                uas.interval = (uas.interval * 2).min(t2);
                uas.retransmit_at = Some(now + uas.interval);
                resend = uas.last.clone().map(|b| (uas.dest, b));
            }
        }
        if let Some((dest, bytes)) = resend {
            Stats::bump(&self.stats.retransmissions);
            self.send(dest, bytes);
        }
        match gave_up {
            Some(200..=299) => {
                // A 2xx never ACKed: the session is dead (§13.3.1.4); BYE with cause 102.
                tracing::warn!(call = %id, "no ACK for our 200: clearing with cause 102");
                if let Some(c) = self.calls.get_mut(&id) {
                    c.uas = None;
                    c.state = CallState::Confirmed;
                }
                self.send_bye(now, id, &q850_reason(102));
            }
            Some(_) => self.remove_call(id),
            None => {}
        }
        self.reschedule_call(id);
    }

    fn reschedule_call(&mut self, id: CallId) {
        if let Some(at) = self.calls.get(&id).and_then(Call::next_deadline) {
            self.schedule(at, TimerKey::Call(id));
        }
    }

    pub(super) fn emit_released(
        &mut self,
        id: CallId,
        status: Option<u16>,
        reason: Option<Reason>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.released {
            return;
        }
        call.released = true;
        call.no_answer_at = None;
        self.events.push_back(Event::Released {
            call: id,
            status,
            reason,
        });
    }

    /// Ends a call whose last transaction is done, keeping it only while the INVITE
    /// server transaction still needs to absorb an ACK.
    fn finish_call(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Ending;
        let waiting_ack = call.uas.as_ref().is_some_and(|u| u.retransmit_at.is_some());
        if !waiting_ack {
            self.remove_call(id);
        }
    }

    fn remove_call(&mut self, id: CallId) {
        if let Some(call) = self.calls.remove(&id) {
            if self.by_sip_id.get(&call.sip_call_id) == Some(&id) {
                self.by_sip_id.remove(&call.sip_call_id);
            }
            if !call.released {
                self.events.push_back(Event::Released {
                    call: id,
                    status: None,
                    reason: None,
                });
            }
        }
    }

    // ---- outbound calls ---------------------------------------------------------------

    fn place(&mut self, now: Instant, out: Outgoing) {
        let id = out.call;
        if self.calls.contains_key(&id) {
            tracing::warn!(call = %id, "Place for a call id already in use");
            return;
        }
        let Some(peer) = self.config.peers.get(out.peer).cloned() else {
            self.events.push_back(Event::Released {
                call: id,
                status: Some(404),
                reason: None,
            });
            return;
        };
        if peer.retired || self.peers.get(out.peer).is_some_and(|p| !p.up) {
            // The mapper should skip it when hunting; refuse rather than wait for Timer B.
            self.events.push_back(Event::Released {
                call: id,
                status: Some(503),
                reason: None,
            });
            return;
        }
        let transport = peer.transport;
        let local = self.local_addr(transport);
        let local_host = message::host_text(local.ip());
        let peer_host = peer
            .host
            .clone()
            .unwrap_or_else(|| message::host_text(peer.addr.ip()));
        let uri_transport = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        let request_uri = format!(
            "sip:{}@{}:{}{uri_transport}",
            out.called,
            peer_host,
            peer.addr.port()
        );
        let to = format!("<sip:{}@{}>", out.called, peer_host);
        let local_party = match (&out.calling.user, &out.calling.display) {
            (Some(user), Some(display)) => format!("\"{display}\" <sip:{user}@{local_host}>"),
            (Some(user), None) => format!("<sip:{user}@{local_host}>"),
            (None, _) => "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_owned(),
        };
        let contact_user = out.calling.user.as_deref().unwrap_or("dialgate");
        let mut extra = String::with_capacity(256);
        let _ = write!(
            extra,
            "Contact: <sip:{contact_user}@{local_host}:{}{uri_transport}>\r\n",
            local.port()
        );
        if let (Some(pai), true) = (&out.asserted_identity, peer.trust_domain) {
            let _ = write!(extra, "P-Asserted-Identity: {pai}\r\n");
        }
        if let Some(privacy) = &out.privacy {
            let _ = write!(extra, "Privacy: {privacy}\r\n");
        }
        let _ = write!(
            extra,
            "Allow: {ALLOW}\r\nUser-Agent: {}\r\n",
            self.config.user_agent
        );
        let mut caps = self.config.media.clone();
        if !out.media.codecs.is_empty() {
            caps.codecs = out.media.codecs.clone();
        }
        let session_id = self.rng.u64(1..1 << 40);
        let local_sdp = sdp::Local {
            session_id,
            version: session_id,
            rtp: out.media.rtp,
            codecs: caps.codecs.clone(),
            telephone_event: caps.telephone_event,
            ptime: caps.ptime,
            direction: sdp::Direction::SendRecv,
        };
        let sip_call_id = self.new_call_id(transport);
        let local_tag = self.tag();
        let call = Call {
            outbound: true,
            state: CallState::Early,
            released: false,
            sip_call_id: sip_call_id.clone(),
            local_tag,
            remote_tag: None,
            local_party,
            remote_party: to.clone(),
            remote_target: request_uri.clone(),
            route_set: Vec::new(),
            local_cseq: self.rng.u32(1..10_000),
            remote_cseq: 0,
            dest: Dest {
                transport,
                addr: peer.addr,
                conn: None,
            },
            peer: Some(out.peer),
            local_sdp: Some(local_sdp.clone()),
            remote_media: None,
            uas: None,
            uac: Some(Box::new(UacInvite {
                branch: String::new(),
                request_uri,
                to,
                extra,
                body: local_sdp.print(),
                provisional: false,
                trying: false,
                ringing: false,
                cancel: None,
                cancel_sent: false,
                auth_tries: 0,
                early_media: None,
            })),
            ack: None,
            no_answer_at: None,
            linger_until: None,
        };
        tracing::info!(call = %id, peer = %peer.name, called = %out.called, "outbound SIP call");
        self.events.push_back(Event::Placed {
            call: id,
            sip_call_id: sip_call_id.clone(),
        });
        self.by_sip_id.insert(sip_call_id, id);
        self.calls.insert(id, call);
        self.send_invite(now, id, None);
    }

    fn send_invite(&mut self, now: Instant, id: CallId, auth: Option<(&str, String)>) {
        let branch = self.branch();
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some(uac) = call.uac.as_ref() else { return };
        let from = format!("{};tag={}", call.local_party, call.local_tag);
        let mut w = self.request_head(
            Method::Invite,
            &uac.request_uri,
            call.dest.transport,
            &branch,
            &from,
            &uac.to,
            &call.sip_call_id,
            call.local_cseq,
        );
        if let Some((name, value)) = &auth {
            w.header(name, value);
        }
        let mut text_extra = uac.extra.clone();
        text_extra.truncate(text_extra.trim_end().len());
        for line in text_extra.split("\r\n") {
            if let Some((n, v)) = line.split_once(": ") {
                w.header(n, v);
            }
        }
        let bytes = w.finish(Some(("application/sdp", &uac.body)));
        let (dest, uri) = (call.dest, uac.request_uri.clone());
        if let Some(uac) = self.calls.get_mut(&id).and_then(|c| c.uac.as_mut()) {
            uac.branch = branch.clone();
        }
        self.start_client(
            now,
            Method::Invite,
            branch,
            bytes,
            dest,
            Owner::Call(id),
            Some(uri),
        );
    }

    fn cancel_outbound(&mut self, now: Instant, id: CallId, cause: u8) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(uac) = call.uac.as_mut() else { return };
        if uac.cancel_sent {
            return;
        }
        uac.cancel = Some(cause);
        // §9.1: CANCEL only after a provisional; otherwise wait for one (or Timer B).
        if !uac.provisional {
            return;
        }
        uac.cancel_sent = true;
        let (branch, uri, to) = (uac.branch.clone(), uac.request_uri.clone(), uac.to.clone());
        let from = format!("{};tag={}", call.local_party, call.local_tag);
        let (dest, call_id, cseq) = (call.dest, call.sip_call_id.clone(), call.local_cseq);
        let mut w = self.request_head(
            Method::Cancel,
            &uri,
            dest.transport,
            &branch,
            &from,
            &to,
            &call_id,
            cseq,
        );
        w.header("Reason", &q850_reason(cause));
        let bytes = w.finish(None);
        self.start_client(
            now,
            Method::Cancel,
            branch,
            bytes,
            dest,
            Owner::Call(id),
            None,
        );
    }

    /// Builds and sends an in-dialog request (BYE) through the route set to the remote target.
    fn send_bye(&mut self, now: Instant, id: CallId, reason: &str) {
        let branch = self.branch();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        call.state = CallState::Ending;
        call.local_cseq += 1;
        let dest = in_dialog_dest(call);
        let call = &self.calls[&id];
        let from = format!("{};tag={}", call.local_party, call.local_tag);
        let to = match &call.remote_tag {
            Some(t) => format!("{};tag={t}", call.remote_party),
            None => call.remote_party.clone(),
        };
        let mut w = self.request_head(
            Method::Bye,
            &call.remote_target,
            dest.transport,
            &branch,
            &from,
            &to,
            &call.sip_call_id,
            call.local_cseq,
        );
        for route in &call.route_set {
            w.header("Route", route);
        }
        w.header("Reason", reason);
        let bytes = w.finish(None);
        self.start_client(now, Method::Bye, branch, bytes, dest, Owner::Call(id), None);
    }

    fn handle_response(&mut self, now: Instant, msg: Inbound) {
        let Some(status) = msg.status() else { return };
        let key = client_key(&msg.top_via.branch, msg.cseq_method);
        let Some(txn) = self.client.get_mut(&key) else {
            // A 2xx retransmission after the INVITE transaction ended: ACK again (§13.2.2.4).
            if msg.cseq_method == Method::Invite && (200..300).contains(&status) {
                let ack = self
                    .by_sip_id
                    .get(&msg.call_id)
                    .and_then(|id| self.calls.get(id))
                    .and_then(|c| c.ack.clone().map(|a| (in_dialog_dest(c), a)));
                if let Some((dest, ack)) = ack {
                    self.send(dest, ack);
                }
            }
            return;
        };
        if txn.state == ClientState::Completed {
            if let Some(ack) = txn.ack.clone() {
                let dest = txn.dest;
                self.send(dest, ack);
            }
            return;
        }
        let (owner, method) = (txn.owner, txn.method);
        if status < 200 {
            txn.state = ClientState::Proceeding;
            if method == Method::Invite {
                txn.next_send = None;
                txn.timeout = None;
            }
        } else if method == Method::Invite && status >= 300 {
            // The transaction ACKs a non-2xx final itself, same branch (§17.1.1.3).
            let uri = txn.request_uri.clone().unwrap_or_default();
            let mut w = Writer::request(Method::Ack, &uri);
            w.header("Via", &msg.vias[0])
                .header("Max-Forwards", "70")
                .header("From", &msg.from)
                .header("To", &msg.to)
                .header("Call-ID", &msg.call_id)
                .header("CSeq", &format!("{} ACK", msg.cseq));
            let ack = w.finish(None);
            txn.ack = Some(ack.clone());
            txn.state = ClientState::Completed;
            txn.next_send = None;
            txn.timeout = None;
            let dest = txn.dest;
            if dest.transport.reliable() {
                self.client.remove(&key);
            } else {
                // Timer D: "> 32 s" with the default T1; derived from T1 like the others.
                let linger = now + self.t64();
                if let Some(t) = self.client.get_mut(&key) {
                    t.linger = Some(linger);
                }
                self.schedule(linger, TimerKey::Client(key));
            }
            self.send(dest, ack);
        } else if method == Method::Invite {
            self.client.remove(&key);
        } else {
            txn.state = ClientState::Completed;
            txn.next_send = None;
            txn.timeout = None;
            if txn.dest.transport.reliable() {
                self.client.remove(&key);
            } else {
                let linger = now + self.config.timers.t4;
                txn.linger = Some(linger);
                self.schedule(linger, TimerKey::Client(key));
            }
        }
        match owner {
            Owner::Call(id) => self.call_response(now, id, method, status, &msg),
            Owner::Keepalive(peer) => {
                if status >= 200 {
                    self.keepalive_result(now, peer, Some(status));
                }
            }
            Owner::Register(i) => {
                if status >= 200 {
                    self.register_response(now, i, status, &msg);
                }
            }
        }
    }

    fn call_response(
        &mut self,
        now: Instant,
        id: CallId,
        method: Method,
        status: u16,
        msg: &Inbound,
    ) {
        match method {
            Method::Invite => self.invite_response(now, id, status, msg),
            Method::Bye if status >= 200 => {
                // 481 to our BYE counts as success: the dialog is gone either way.
                self.emit_released(id, None, None);
                self.remove_call(id);
            }
            _ => {}
        }
    }

    fn invite_response(&mut self, now: Instant, id: CallId, status: u16, msg: &Inbound) {
        let no_answer = self.config.no_answer;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(uac) = call.uac.as_mut() else { return };
        let media = match msg.sdp().map(sdp::parse) {
            Some(Ok(session)) => session.audio,
            _ => None,
        };
        if status < 200 {
            if status == 100 {
                if !uac.trying {
                    uac.trying = true;
                    self.events.push_back(Event::Trying { call: id });
                }
                let first = !uac.provisional;
                uac.provisional = true;
                if first && call.no_answer_at.is_none() {
                    call.no_answer_at = Some(now + no_answer);
                }
            } else {
                uac.provisional = true;
                if call.remote_tag.is_none()
                    && let Some(tag) = &msg.to_tag
                {
                    call.remote_tag = Some(tag.clone());
                    call.route_set = msg.record_route.iter().rev().cloned().collect();
                }
                if let Some(contact) = &msg.contact {
                    call.remote_target = contact.clone();
                }
                if call.no_answer_at.is_none() {
                    call.no_answer_at = Some(now + no_answer);
                }
                if let Some(m) = &media {
                    uac.early_media = Some(m.clone());
                    call.remote_media = Some(m.clone());
                }
                if status == 180 {
                    uac.ringing = true;
                    self.events.push_back(Event::Ringing { call: id, media });
                } else {
                    self.events.push_back(Event::Progress { call: id, media });
                }
            }
            let pending_cancel = self
                .calls
                .get(&id)
                .and_then(|c| c.uac.as_ref())
                .and_then(|u| u.cancel);
            if let Some(cause) = pending_cancel {
                self.cancel_outbound(now, id, cause);
            }
            self.reschedule_call(id);
            return;
        }
        call.no_answer_at = None;
        if (200..300).contains(&status) {
            call.remote_tag = msg.to_tag.clone();
            call.route_set = msg.record_route.iter().rev().cloned().collect();
            if let Some(contact) = &msg.contact {
                call.remote_target = contact.clone();
            }
            let answer_media = media.or_else(|| uac.early_media.clone());
            let cancelled = uac.cancel;
            call.remote_media = answer_media.clone();
            call.state = CallState::Confirmed;
            let branch = self.branch();
            let call = &self.calls[&id];
            let dest = in_dialog_dest(call);
            let from = format!("{};tag={}", call.local_party, call.local_tag);
            let to = match &call.remote_tag {
                Some(t) => format!("{};tag={t}", call.remote_party),
                None => call.remote_party.clone(),
            };
            let mut w = Writer::request(Method::Ack, &call.remote_target);
            let local = self.local_addr(dest.transport);
            w.header(
                "Via",
                &format!(
                    "SIP/2.0/{} {}:{};branch={branch};rport",
                    dest.transport.token(),
                    message::host_text(local.ip()),
                    local.port()
                ),
            )
            .header("Max-Forwards", "70")
            .header("From", &from)
            .header("To", &to)
            .header("Call-ID", &call.sip_call_id)
            .header("CSeq", &format!("{} ACK", msg.cseq));
            for route in &call.route_set {
                w.header("Route", route);
            }
            let ack = w.finish(None);
            if let Some(c) = self.calls.get_mut(&id) {
                c.ack = Some(ack.clone());
                if let Some(u) = c.uac.as_mut() {
                    u.body = Vec::new(); // the offer is no longer needed: keep dialogs small
                    u.extra = String::new();
                }
            }
            self.send(dest, ack);
            match cancelled {
                // CANCEL crossed the 200: ACK it, then BYE (§9, interworking §5.4).
                Some(cause) => self.send_bye(now, id, &q850_reason(cause)),
                None => {
                    tracing::info!(call = %id, "outbound call answered");
                    self.events.push_back(Event::Answered {
                        call: id,
                        media: answer_media,
                    });
                }
            }
            return;
        }
        // 401/407: answer the challenge once (twice for a stale nonce), CSeq + 1.
        if matches!(status, 401 | 407) && uac.cancel.is_none() && uac.auth_tries < 2 {
            let creds = call
                .peer
                .and_then(|p| self.config.peers.get(p))
                .and_then(|p| p.credentials.clone());
            if let (Some(creds), Some((proxy, challenge))) = (creds, &msg.challenge) {
                uac.auth_tries += 1;
                let cnonce = format!("{:016x}", self.rng.u64(..));
                let uri = uac.request_uri.clone();
                match super::auth::answer(*proxy, challenge, &creds, "INVITE", &uri, &cnonce) {
                    Ok((name, value)) => {
                        call.local_cseq += 1;
                        tracing::info!(call = %id, status, "answering digest challenge");
                        self.send_invite(now, id, Some((name, value)));
                        return;
                    }
                    Err(e) => tracing::warn!(call = %id, error = %e, "cannot answer challenge"),
                }
            }
        }
        let reason = msg.reason.as_deref().and_then(Reason::parse);
        let reason = reason.or_else(|| {
            uac.cancel.filter(|_| status == 487).map(|c| Reason {
                protocol: ReasonProtocol::Q850,
                cause: u16::from(c),
                text: None,
            })
        });
        tracing::info!(call = %id, status, "outbound call failed");
        self.emit_released(id, Some(status), reason);
        self.remove_call(id);
    }

    fn call_request_failed(&mut self, now: Instant, id: CallId, method: Method, status: u16) {
        let _ = now;
        match method {
            Method::Invite => {
                tracing::info!(call = %id, status, "INVITE got no answer");
                self.emit_released(id, Some(status), None);
                self.remove_call(id);
            }
            Method::Bye => {
                self.emit_released(id, None, None);
                self.remove_call(id);
            }
            _ => {}
        }
    }
}

/// `Reason: Q.850;cause=N;text="..."` for the causes we send most.
pub(crate) fn q850_reason(cause: u8) -> String {
    let text = match cause {
        16 => Some("Normal call clearing"),
        17 => Some("User busy"),
        18 => Some("No user responding"),
        19 => Some("No answer from user"),
        31 => Some("Normal, unspecified"),
        34 => Some("No circuit/channel available"),
        102 => Some("Recovery on timer expiry"),
        _ => None,
    };
    match text {
        Some(t) => format!("Q.850;cause={cause};text=\"{t}\""),
        None => format!("Q.850;cause={cause}"),
    }
}

/// The key of a client or server transaction: the branch, apart for CANCEL (§17.2.3).
pub(super) fn client_key(branch: &str, method: Method) -> String {
    if method == Method::Cancel {
        format!("{branch}|CANCEL")
    } else {
        branch.to_owned()
    }
}

/// Where the response to a request goes (§18.2.2, RFC 3581).
fn response_dest(input: &Input<'_>, via: &Via) -> Dest {
    if input.transport.reliable() {
        return Dest {
            transport: input.transport,
            addr: input.source,
            conn: input.conn,
        };
    }
    let addr = if via.rport {
        input.source
    } else {
        SocketAddr::new(input.source.ip(), via.port.unwrap_or(5060))
    };
    Dest {
        transport: input.transport,
        addr,
        conn: None,
    }
}

/// The `received`/`rport` stamp for the top Via, when RFC 3581 or §18.2.1 asks for one.
fn received(input: &Input<'_>, via: &Via) -> Option<(IpAddr, u16)> {
    let differs = via
        .host
        .parse::<IpAddr>()
        .map_or(true, |h| h != input.source.ip());
    (via.rport || differs).then_some((input.source.ip(), input.source.port()))
}

/// The destination of an in-dialog request: the first route or the remote target, when it
/// is an IP literal; otherwise where the dialog's first request went (no DNS in here).
fn in_dialog_dest(call: &Call) -> Dest {
    let target = call
        .route_set
        .first()
        .map_or(call.remote_target.as_str(), String::as_str);
    let addr = message::uri_host_port(target).and_then(|(h, p)| {
        let ip: IpAddr = h.parse().ok()?;
        Some(SocketAddr::new(ip, p.unwrap_or(5060)))
    });
    match (call.dest.transport.reliable(), addr) {
        // On streams keep the connection the dialog uses (it may be the only way back).
        (true, _) => call.dest,
        (false, Some(addr)) => Dest { addr, ..call.dest },
        (false, None) => call.dest,
    }
}

#[cfg(test)]
mod tests;

fn display_name(value: &str) -> Option<String> {
    let (head, _) = message::split_once_byte(value, b'<')?;
    let name = head.trim_ascii().trim_matches('"').trim_ascii();
    (!name.is_empty()).then(|| name.to_owned())
}
