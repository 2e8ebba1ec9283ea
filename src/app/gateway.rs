//! The gateway wired up: per span a driver thread and a stack thread owning its
//! [`Pri`], and on tokio the SIP endpoint and the mapper task (`docs/architecture.md`,
//! "The seams").
//!
//! ```text
//!  driver thread ─PortEvent─▶ stack thread (Pri) ──(span, isdn::Event)──▶ ┐ tokio (unbounded)
//!  (line::transport) ◀─Bytes─  │  ▲ ToStack (crossbeam)                    │
//!                              │  └──────────────────────────── mapper task ◀─ sip::Endpoint
//!            B-channel samples ⇄ LineEnd (media leg)                  │ ▲     ◀─ Control
//!                                                                     ▼ │
//!                                                          Legs (RTP ports), Trace tap
//! ```
//!
//! The mapper task is the only owner of the [`Mapper`]; it reads the routing table
//! from the [`LiveTable`] before every input, so a reload (SIGHUP or a file change)
//! applies to the next call and never to one in progress.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use tokio::sync::mpsc;

use super::media::{Legs, LineEnd, MediaConfig};
use super::peers::{self, Directory};
use crate::config::{Side, SpanDef, SwitchType};
use crate::isdn::q931::{CallRef, Variant};
use crate::isdn::{self, Pri, lapd, pri};
use crate::line::span;
use crate::line::transport::{self, LinePort, PortEvent, PortOptions};
use crate::mapper::{self, Action, Mapper, SpanId, SpanInfo};
use crate::routing::reload::LiveTable;
use crate::routing::table::RoutingTable;
use crate::sip;

#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: the gateway's clock for the stack threads and the mapper task"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// What the gateway needs to start.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The spans to run.
    pub spans: Vec<SpanDef>,
    /// The dial peers (reloadable).
    pub dial_peers: Arc<LiveTable>,
    /// SIP listening address (UDP).
    pub sip_listen: SocketAddr,
    /// SIP over TLS listening address (needs a certificate and key in `tls`).
    pub sip_tls_listen: Option<SocketAddr>,
    /// Certificate, key and CA roots for TLS (listener and `transport: tls` peers).
    pub tls: Option<sip::Tls>,
    /// Address put in our SDP and bound by the RTP legs.
    pub rtp_bind: IpAddr,
    /// RTP port range.
    pub rtp_ports: RangeInclusive<u16>,
    /// INVITE given up after this long without any response (then hunting).
    pub invite_timeout: Duration,
    /// SIP base timers.
    pub sip_timers: sip::Timers,
    /// OPTIONS keepalive toward the peers.
    pub keepalive: Option<sip::Keepalive>,
    /// Report every message-level event in and command out (the demo's ladder).
    pub trace: Option<mpsc::UnboundedSender<Trace>>,
}

/// One thing the mapper task saw or did, for the demo's ladders and for tests.
#[derive(Clone, Debug)]
pub struct Trace {
    /// When.
    pub at: Instant,
    /// The gateway call it belongs to, when known.
    pub call: Option<mapper::CallId>,
    /// What.
    pub kind: TraceKind,
}

/// What a [`Trace`] records.
#[derive(Clone, Debug)]
pub enum TraceKind {
    /// A D-channel event from a span.
    IsdnIn(SpanId, isdn::Event),
    /// A command to a span's D-channel.
    IsdnOut(SpanId, isdn::Command),
    /// An event from the SIP endpoint.
    SipIn(sip::Event),
    /// A command to the SIP endpoint.
    SipOut(sip::Command),
    /// A call event from the mapper.
    Call(mapper::Event),
}

/// Control of a running gateway.
#[derive(Debug)]
enum Control {
    Drain,
    ClearAll,
}

/// What a span's stack thread reports to the mapper task.
enum FromStack {
    Isdn(isdn::Event),
    /// The call reference the D-channel chose for a SETUP we sent.
    CallRef(isdn::CallId, CallRef),
}

/// How often the mapper task looks for a reloaded dial-peer table.
const RELOAD_POLL: Duration = Duration::from_millis(200);

/// Commands to a span's stack thread.
enum ToStack {
    Isdn(isdn::Command),
    Attach { channel: u8, line: LineEnd },
    Detach { channel: u8 },
}

/// A running gateway. Dropping it stops everything.
pub struct Gateway {
    control: mpsc::UnboundedSender<Control>,
    calls: Arc<AtomicUsize>,
    sip_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    stacks: Vec<JoinHandle<()>>,
}

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A span's line could not be opened.
    #[error("span {span}: cannot open {line}: {source}")]
    Line {
        /// The span.
        span: String,
        /// Its line.
        line: String,
        /// The error.
        source: io::Error,
    },
    /// The SIP endpoint did not start.
    #[error("SIP: {0}")]
    Sip(#[from] sip::StartError),
    /// A thread could not be spawned.
    #[error("cannot start a thread: {0}")]
    Thread(io::Error),
    /// The media engine did not start (e.g. an RTP range without a port pair).
    #[error("media: {0}")]
    Media(io::Error),
}

impl Gateway {
    /// Open every span, start the SIP endpoint and the mapper task on the current
    /// tokio runtime.
    pub async fn start(config: GatewayConfig) -> Result<Gateway, StartError> {
        let table = config.dial_peers.current();
        // Every VoIP session target with an address becomes a SIP peer (its index is
        // the mapper's PeerId); `dns:` targets are resolved here and on every reload.
        let mut directory = Directory::default();
        let (sip_peers, sip_targets) = directory.update(&peers::resolve(&table).await);
        let mut listen = vec![sip::Listen {
            transport: sip::Transport::Udp,
            addr: config.sip_listen,
        }];
        if let Some(addr) = config.sip_tls_listen {
            listen.push(sip::Listen {
                transport: sip::Transport::Tls,
                addr,
            });
        }
        let sip_config = sip::Config {
            listen,
            tls: config.tls.clone(),
            peers: sip_peers,
            trusted: trusted(&table),
            timers: config.sip_timers,
            keepalive: config.keepalive.clone(),
            // 100 Trying at once (interworking §4.1).
            trying_delay: Duration::ZERO,
            ..sip::Config::default()
        };
        let endpoint = sip::Endpoint::start(sip_config).await?;
        let sip_addr = endpoint
            .local_addr(sip::Transport::Udp)
            .unwrap_or(config.sip_listen);
        let tls_addr = endpoint.local_addr(sip::Transport::Tls);
        let legs = Legs::start(MediaConfig {
            bind: config.rtp_bind,
            rtp_ports: config.rtp_ports.clone(),
            tone_plans: config.spans.iter().map(|s| s.tone_plan).collect(),
        })
        .map_err(StartError::Media)?;

        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut stacks = Vec::new();
        let mut to_stacks = Vec::new();
        let mut infos = Vec::new();
        for (index, def) in config.spans.iter().enumerate() {
            let port = transport::spawn(
                &def.line,
                PortOptions {
                    baud: def.baud,
                    ..PortOptions::default()
                },
            )
            .map_err(|source| StartError::Line {
                span: def.name.clone(),
                line: def.line.to_string(),
                source,
            })?;
            let (tx, rx) = crossbeam_channel::unbounded();
            let stack = StackThread::new(index, def, port, rx, events_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("stack-{}", def.name))
                .spawn(move || stack.run())
                .map_err(StartError::Thread)?;
            stacks.push(handle);
            to_stacks.push(tx);
            infos.push(SpanInfo {
                name: def.name.clone(),
                side: match def.side {
                    Side::User => lapd::Side::User,
                    Side::Network => lapd::Side::Network,
                },
                law: def.config.law,
                channels: def.b_channels.len(),
            });
        }
        drop(events_tx);

        let mut mapper_config = mapper::Config::new(infos, Vec::new());
        mapper_config.sip_peers = sip_targets;
        mapper_config.host = config.rtp_bind.to_string();
        mapper_config.invite_timeout = config.invite_timeout;
        mapper_config.seed = u64::from(sip_addr.port()) ^ 0x9e37_79b9;
        let mapper = Mapper::new(mapper_config, table.clone(), endpoint.call_ids().clone());
        let calls = Arc::new(AtomicUsize::new(0));
        let (control, control_rx) = mpsc::unbounded_channel();
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        let task = MapperTask {
            applied: table.clone(),
            mapper,
            endpoint,
            directory,
            live: config.dial_peers.clone(),
            stacks: to_stacks,
            legs,
            attached: HashMap::new(),
            calls: calls.clone(),
            trace: config.trace.clone(),
            memo_sip: HashMap::new(),
            memo_isdn: HashMap::new(),
            resolved: resolved_tx,
        };
        let task = tokio::spawn(task.run(events_rx, control_rx, resolved_rx));
        tracing::info!(sip = %sip_addr, tls = ?tls_addr, spans = config.spans.len(), "gateway started");
        Ok(Gateway {
            control,
            calls,
            sip_addr,
            tls_addr,
            task,
            stacks,
        })
    }

    /// The bound SIP address.
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The bound SIP over TLS address, when listening on TLS.
    pub fn sip_tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Stop taking new calls.
    pub fn drain(&self) {
        let _ = self.control.send(Control::Drain);
    }

    /// Clear every call (cause 16 / BYE).
    pub fn clear_all(&self) {
        let _ = self.control.send(Control::ClearAll);
    }

    /// Stop the mapper task and the span threads, and wait for the threads.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        for t in self.stacks {
            // Dropping the mapper task dropped the command senders: the threads end.
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// The Q.931 variant of a hardware `switch:`.
pub(crate) fn variant(switch: SwitchType) -> Variant {
    match switch {
        SwitchType::National => Variant::National,
        SwitchType::Ess5 => Variant::Ess5,
        SwitchType::Dms100 => Variant::Dms100,
        SwitchType::EuroIsdn => Variant::EuroIsdn,
    }
}

/// The D-channel configuration of a span.
pub(crate) fn d_channel_config(def: &SpanDef) -> isdn::Config {
    let side = match def.side {
        Side::User => lapd::Side::User,
        Side::Network => lapd::Side::Network,
    };
    isdn::Config::new(side, variant(def.switch), def.b_channels.clone())
}

struct StackThread {
    index: SpanId,
    name: String,
    pri: Pri,
    port: LinePort,
    commands: Receiver<ToStack>,
    events: mpsc::UnboundedSender<(SpanId, FromStack)>,
    attached: HashMap<u8, LineEnd>,
    buf: Vec<u8>,
}

impl StackThread {
    fn new(
        index: SpanId,
        def: &SpanDef,
        port: LinePort,
        commands: Receiver<ToStack>,
        events: mpsc::UnboundedSender<(SpanId, FromStack)>,
    ) -> Self {
        Self {
            index,
            name: def.name.clone(),
            pri: Pri::new(def.config.clone(), d_channel_config(def), now()),
            port,
            commands,
            events,
            attached: HashMap::new(),
            buf: vec![0; 1024],
        }
    }

    fn run(mut self) {
        let _span = tracing::info_span!("span", name = %self.name).entered();
        loop {
            let deadline = self
                .pri
                .poll_timeout()
                .unwrap_or_else(|| now() + Duration::from_secs(1));
            select! {
                recv(self.port.events) -> event => {
                    let Ok(event) = event else { break };
                    self.port_event(event);
                }
                recv(self.commands) -> command => {
                    // The mapper task is gone: shut the span down.
                    let Ok(command) = command else { break };
                    self.command(command);
                }
                recv(crossbeam_channel::at(deadline)) -> _ => self.pri.handle_timeout(now()),
            }
            self.move_samples();
            while let Some(bytes) = self.pri.poll_transmit() {
                let _ = self.port.tx.send(bytes);
            }
            while let Some(event) = self.pri.poll_event() {
                match event {
                    pri::Event::Isdn(event) => {
                        if self
                            .events
                            .send((self.index, FromStack::Isdn(event)))
                            .is_err()
                        {
                            return;
                        }
                    }
                    pri::Event::Line(event) => log_line_event(&event),
                    pri::Event::Frame { .. } => {}
                }
            }
        }
    }

    fn port_event(&mut self, event: PortEvent) {
        match event {
            PortEvent::Data(chunk) => {
                if chunk.lost_before > 0 {
                    self.pri.handle_rx_lost(chunk.read_at, chunk.lost_before);
                }
                self.pri.handle_rx(chunk.read_at, &chunk.bytes);
            }
            PortEvent::Up { at, peer } => {
                tracing::info!(%peer, "line connected");
                self.pri.handle_transport_up(at);
            }
            PortEvent::Down { at, reason } => {
                tracing::warn!(%reason, "line lost");
                self.pri.handle_transport_down(at);
            }
        }
    }

    fn command(&mut self, command: ToStack) {
        match command {
            ToStack::Isdn(command) => {
                let setup = match &command {
                    isdn::Command::Setup { call, .. } => Some(*call),
                    _ => None,
                };
                self.pri.handle_command(now(), command);
                if let Some(call) = setup
                    && let Some(call_ref) = self.pri.d_channel().call_ref(call)
                {
                    let _ = self
                        .events
                        .send((self.index, FromStack::CallRef(call, call_ref)));
                }
            }
            ToStack::Attach { channel, line } => {
                if self.pri.span_mut().open_b_channel(channel) {
                    self.attached.insert(channel, line);
                }
            }
            ToStack::Detach { channel } => {
                self.attached.remove(&channel);
                self.pri.span_mut().close_b_channel(channel);
            }
        }
    }

    /// B-channel samples of the connected calls, both ways.
    fn move_samples(&mut self) {
        for (&channel, line) in &self.attached {
            loop {
                let n = self.pri.span_mut().read_b_samples(channel, &mut self.buf);
                if n == 0 {
                    break;
                }
                line.push_from_line(&self.buf[..n]);
            }
            let n = line.pull_to_line(&mut self.buf);
            if n > 0 {
                self.pri.span_mut().write_b_samples(channel, &self.buf[..n]);
            }
        }
    }
}

fn log_line_event(event: &span::Event) {
    match event {
        span::Event::SpanUp => tracing::info!("span up"),
        span::Event::SpanDown => tracing::warn!("span down: calls cleared with cause 38"),
        span::Event::Alarm { alarm, active } => tracing::info!(?alarm, active, "alarm"),
        span::Event::FrameAlignment { aligned } => tracing::debug!(aligned, "frame alignment"),
        span::Event::DFrame(_) => {}
    }
}

struct MapperTask {
    mapper: Mapper,
    endpoint: sip::Endpoint,
    /// The SIP peers of the dial-peer table in use.
    directory: Directory,
    /// The table the mapper and the endpoint's peers follow.
    applied: Arc<RoutingTable>,
    live: Arc<LiveTable>,
    stacks: Vec<Sender<ToStack>>,
    legs: Legs,
    /// Which B-channel each call's leg is attached to.
    attached: HashMap<mapper::CallId, (SpanId, u8)>,
    calls: Arc<AtomicUsize>,
    trace: Option<mpsc::UnboundedSender<Trace>>,
    memo_sip: HashMap<sip::CallId, mapper::CallId>,
    memo_isdn: HashMap<(SpanId, isdn::CallId), mapper::CallId>,
    /// Reloaded tables whose `dns:` targets have been looked up.
    resolved: mpsc::UnboundedSender<Resolution>,
}

/// A reloaded table with its targets resolved.
type Resolution = (Arc<RoutingTable>, Vec<peers::Resolved>);

impl MapperTask {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<(SpanId, FromStack)>,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut resolved: mpsc::UnboundedReceiver<Resolution>,
    ) {
        let mut reload_poll = tokio::time::interval(RELOAD_POLL);
        loop {
            let deadline = self.mapper.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.endpoint.next_event() => {
                    let Some(event) = event else { break };
                    self.follow_reload().await;
                    let at = now();
                    if self.trace.is_some() {
                        let before = event.call().and_then(|c| self.sip_call(c));
                        self.mapper.handle_sip(at, event.clone());
                        let call = before.or_else(|| {
                            let id = event.call()?;
                            let call = self.mapper.call_for_sip(id)?;
                            self.memo_sip.insert(id, call);
                            Some(call)
                        });
                        self.emit(at, call, TraceKind::SipIn(event));
                    } else {
                        self.mapper.handle_sip(at, event);
                    }
                }
                event = events.recv() => {
                    let Some((span, event)) = event else { break };
                    let event = match event {
                        FromStack::Isdn(event) => event,
                        FromStack::CallRef(call, call_ref) => {
                            self.mapper.handle_call_ref(span, call, call_ref);
                            continue;
                        }
                    };
                    self.follow_reload().await;
                    let at = now();
                    if self.trace.is_some() {
                        let id = event.call();
                        let before = id.and_then(|i| self.isdn_call(span, i));
                        self.mapper.handle_isdn(at, span, event.clone());
                        let call = before.or_else(|| {
                            let id = id?;
                            let call = self.mapper.call_for_isdn(span, id)?;
                            self.memo_isdn.insert((span, id), call);
                            Some(call)
                        });
                        self.emit(at, call, TraceKind::IsdnIn(span, event));
                    } else {
                        self.mapper.handle_isdn(at, span, event);
                    }
                }
                c = control.recv() => {
                    let Some(c) = c else { break };
                    match c {
                        Control::Drain => {
                            tracing::info!("draining: no new calls");
                            self.mapper.handle_drain();
                        }
                        Control::ClearAll => {
                            tracing::info!(calls = self.mapper.call_count(), "clearing every call");
                            self.mapper.handle_clear_all(now());
                        }
                    }
                }
                () = sleep => self.mapper.handle_timeout(now()),
                _ = reload_poll.tick() => self.follow_reload().await,
                Some((table, targets)) = resolved.recv() => self.apply_reload(table, &targets),
            }
            self.run_actions();
            self.calls
                .store(self.mapper.call_count(), Ordering::Relaxed);
        }
    }

    /// A reloaded table applies once its targets are resolved: the endpoint gets the
    /// new peers and trusted list, the mapper the targets and the table, together, so
    /// a call never sees a table whose targets the endpoint does not know. A table of
    /// `ipv4:` targets resolves at once and applies before the next input; one that
    /// names `dns:` targets is resolved in a task of its own (a lookup may take its
    /// whole timeout) while calls go on with the table in use.
    async fn follow_reload(&mut self) {
        let table = self.live.current();
        if Arc::ptr_eq(&table, &self.applied) {
            return;
        }
        self.applied = table.clone();
        if peers::needs_lookup(&table) {
            let done = self.resolved.clone();
            tokio::spawn(async move {
                let resolved = peers::resolve(&table).await;
                let _ = done.send((table, resolved));
            });
        } else {
            // No lookups: this completes without waiting.
            let resolved = peers::resolve(&table).await;
            self.apply_reload(table, &resolved);
        }
    }

    fn apply_reload(&mut self, table: Arc<RoutingTable>, resolved: &[peers::Resolved]) {
        // A newer table was loaded while this one resolved: only the newest applies.
        if !Arc::ptr_eq(&table, &self.applied) {
            return;
        }
        let (sip_peers, targets) = self.directory.update(resolved);
        self.endpoint.command(sip::Command::SetPeers {
            peers: sip_peers,
            trusted: trusted(&table),
        });
        self.mapper.set_sip_peers(targets);
        self.mapper.set_table(table);
    }

    fn sip_call(&self, id: sip::CallId) -> Option<mapper::CallId> {
        self.mapper
            .call_for_sip(id)
            .or_else(|| self.memo_sip.get(&id).copied())
    }

    fn isdn_call(&self, span: SpanId, id: isdn::CallId) -> Option<mapper::CallId> {
        self.mapper
            .call_for_isdn(span, id)
            .or_else(|| self.memo_isdn.get(&(span, id)).copied())
    }

    fn emit(&self, at: Instant, call: Option<mapper::CallId>, kind: TraceKind) {
        if let Some(tx) = &self.trace {
            let _ = tx.send(Trace { at, call, kind });
        }
    }

    fn run_actions(&mut self) {
        loop {
            while let Some(event) = self.mapper.poll_event() {
                if self.trace.is_some() {
                    let call = match &event {
                        mapper::Event::Started { call, .. }
                        | mapper::Event::Attempt { call, .. }
                        | mapper::Event::Answered { call }
                        | mapper::Event::Ended { call, .. } => *call,
                    };
                    if let mapper::Event::Attempt {
                        leg: mapper::Leg::Sip(id),
                        ..
                    } = &event
                    {
                        self.memo_sip.insert(*id, call);
                    }
                    self.emit(now(), Some(call), TraceKind::Call(event));
                }
            }
            let Some(action) = self.mapper.poll_action() else {
                break;
            };
            match action {
                Action::Isdn { span, command } => {
                    if self.trace.is_some() {
                        let id = isdn_call_of_command(&command);
                        let call = id.and_then(|i| self.isdn_call(span, i));
                        if let (Some(i), Some(c)) = (id, call) {
                            self.memo_isdn.insert((span, i), c);
                        }
                        self.emit(now(), call, TraceKind::IsdnOut(span, command.clone()));
                    }
                    if let Some(tx) = self.stacks.get(span) {
                        let _ = tx.send(ToStack::Isdn(command));
                    }
                }
                Action::Sip(command) => {
                    if self.trace.is_some() {
                        let call = sip_call_of_command(&command).and_then(|c| self.sip_call(c));
                        self.emit(now(), call, TraceKind::SipOut(command.clone()));
                    }
                    self.endpoint.command(command);
                }
                Action::Media(media) => self.media(media),
            }
        }
    }

    fn media(&mut self, media: mapper::Media) {
        match media {
            mapper::Media::Open { call, law } => {
                let addr = self.legs.open(call, law);
                self.mapper.handle_media_opened(now(), call, addr);
            }
            mapper::Media::Remote {
                call,
                media,
                policy,
            } => self.legs.set_remote(call, media, policy),
            mapper::Media::Connect {
                call,
                span,
                channel,
            } => {
                self.detach(call);
                self.legs.connected(call, span);
                if let (Some(line), Some(tx)) = (self.legs.line_end(call), self.stacks.get(span)) {
                    let _ = tx.send(ToStack::Attach { channel, line });
                    self.attached.insert(call, (span, channel));
                }
            }
            mapper::Media::Play { call, tone } => self.legs.play(call, tone),
            mapper::Media::Close { call } => {
                self.detach(call);
                self.legs.close(call);
                tracing::debug!(legs = self.legs.len(), "media legs open");
            }
        }
    }

    fn detach(&mut self, call: mapper::CallId) {
        if let Some((span, channel)) = self.attached.remove(&call)
            && let Some(tx) = self.stacks.get(span)
        {
            let _ = tx.send(ToStack::Detach { channel });
        }
    }
}

/// The explicit `trusted_sources`, or empty: the endpoint then trusts its peers'
/// addresses (resolved `dns:` targets included).
fn trusted(table: &RoutingTable) -> Vec<ipnet::IpNet> {
    if table.trusted_sources_explicit() {
        table.trusted_sources().to_vec()
    } else {
        Vec::new()
    }
}

fn sip_call_of_command(command: &sip::Command) -> Option<sip::CallId> {
    match command {
        sip::Command::Place(o) => Some(o.call),
        sip::Command::Provisional { call, .. }
        | sip::Command::Answer { call, .. }
        | sip::Command::Release { call, .. } => Some(*call),
        sip::Command::SetPeers { .. } => None,
    }
}

fn isdn_call_of_command(command: &isdn::Command) -> Option<isdn::CallId> {
    match command {
        isdn::Command::Setup { call, .. }
        | isdn::Command::Proceeding { call }
        | isdn::Command::Alerting { call, .. }
        | isdn::Command::Progress { call, .. }
        | isdn::Command::Connect { call, .. }
        | isdn::Command::Release { call, .. }
        | isdn::Command::StatusEnquiry { call } => Some(*call),
        isdn::Command::Restart { .. } => None,
    }
}
