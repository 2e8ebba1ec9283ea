//! The I/O shell of the SIP leg: tokio UDP, TCP and TLS sockets around the sans-IO
//! [`UserAgent`].
//!
//! One task owns the user agent and loops: take input (a datagram, a framed stream
//! message, a command, a deadline), hand it in with the time, then drain transmits to the
//! sockets and events to the mapper. Socket readers are their own small tasks feeding one
//! channel, so the user agent never waits on a socket.
//!
//! ```text
//!  UDP reader(s) ─┐                          ┌─▶ UdpSocket::send_to
//!  TCP readers ───┼─▶ input ─▶ [UserAgent] ──┼─▶ per-connection writer task
//!  Command ───────┘      deadline ─┘         └─▶ Event channel (mapper)
//! ```
//!
//! Stream framing (RFC 3261 §18.3): headers end at the first CRLFCRLF, then exactly
//! Content-Length octets of body; bare CRLFs between messages are keepalives (RFC 5626).
//! TLS connections carry the same framing inside the TLS stream (`tls.rs` builds the
//! rustls configurations); a connection appears to the user agent only once its handshake
//! is done, and a failed handshake toward a peer counts as that peer being unreachable.
//! A connection whose framing cannot be trusted (no or bad Content-Length, oversize) has
//! its last message handed in for a 400/513 and is then closed.
//!
//! Every message sent or received is logged whole at DEBUG under the target
//! `dialgate::sip::messages` (the equivalent of Cisco's `debug ccsip messages`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::endpoint::{CallIds, Command, Config, Event, Stats, Transport};
use super::tls::{self, TlsError};
use super::ua::{ConnId, Dest, Input, UserAgent};
use crate::udp_batch;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening socket could not be bound.
    #[error("cannot bind {transport:?} {addr}: {source}")]
    Bind {
        /// Transport.
        transport: Transport,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: io::Error,
    },
    /// The TLS certificate, key or roots could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Nothing to listen on.
    #[error("no listening address configured")]
    NoListen,
}

/// The SIP leg, running: send [`Command`]s, receive [`Event`]s.
///
/// Dropping it stops the task and closes the sockets.
pub struct Endpoint {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    locals: Vec<(Transport, SocketAddr)>,
    ids: CallIds,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
        for r in &self.readers {
            r.abort();
        }
    }
}

enum Io {
    Datagram {
        source: SocketAddr,
        data: Bytes,
    },
    Stream {
        conn: ConnId,
        transport: Transport,
        source: SocketAddr,
        data: Bytes,
        close: bool,
    },
    Accepted {
        conn: ConnId,
        peer: SocketAddr,
        writer: mpsc::UnboundedSender<Bytes>,
    },
    Closed {
        conn: ConnId,
    },
    ConnectFailed {
        conn: ConnId,
        addr: SocketAddr,
    },
}

#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: the only clock the user agent sees"
)]
fn now() -> Instant {
    Instant::now()
}

#[expect(
    clippy::disallowed_methods,
    reason = "I/O shell: seed from the wall clock"
)]
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x5eed, |d| d.as_nanos() as u64)
}

impl Endpoint {
    /// Binds the configured sockets and starts the user agent task on the current runtime.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        if config.listen.is_empty() {
            return Err(StartError::NoListen);
        }
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let conn_ids = Arc::new(AtomicU64::new(0));
        let mut locals = Vec::new();
        let mut udp = Vec::new();
        let mut readers = Vec::new();
        let tls_in_use = config.tls.is_some()
            || config.listen.iter().any(|l| l.transport == Transport::Tls)
            || config.peers.iter().any(|p| p.transport == Transport::Tls)
            || config
                .registrars
                .iter()
                .any(|r| r.transport == Transport::Tls);
        let tls = if tls_in_use {
            let listening = config.listen.iter().any(|l| l.transport == Transport::Tls);
            let settings = config.tls.clone().unwrap_or_default();
            Some(tls::Context::load(&settings, listening)?)
        } else {
            None
        };
        for listen in &config.listen {
            let bind_err = |source| StartError::Bind {
                transport: listen.transport,
                addr: listen.addr,
                source,
            };
            match listen.transport {
                Transport::Udp => {
                    let socket = Arc::new(UdpSocket::bind(listen.addr).await.map_err(bind_err)?);
                    let local = socket.local_addr().map_err(bind_err)?;
                    locals.push((Transport::Udp, local));
                    // The first UDP socket is read by the driver itself (no task hop, no
                    // copy); any further ones by reader tasks.
                    if !udp.is_empty() {
                        readers.push(tokio::spawn(read_udp(
                            socket.clone(),
                            input_tx.clone(),
                            config.max_message_size,
                        )));
                    }
                    udp.push(socket);
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(listen.addr).await.map_err(bind_err)?;
                    let local = listener.local_addr().map_err(bind_err)?;
                    locals.push((Transport::Tcp, local));
                    readers.push(tokio::spawn(accept_tcp(
                        listener,
                        input_tx.clone(),
                        conn_ids.clone(),
                        config.max_message_size,
                    )));
                }
                Transport::Tls => {
                    let listener = TcpListener::bind(listen.addr).await.map_err(bind_err)?;
                    let local = listener.local_addr().map_err(bind_err)?;
                    locals.push((Transport::Tls, local));
                    let acceptor = tls
                        .as_ref()
                        .and_then(|t| t.acceptor.clone())
                        .ok_or(TlsError::MissingIdentity)?;
                    readers.push(tokio::spawn(accept_tls(
                        listener,
                        acceptor,
                        input_tx.clone(),
                        conn_ids.clone(),
                        config.max_message_size,
                    )));
                }
            }
        }
        let ids = CallIds::default();
        let stats = Arc::new(Stats::default());
        let seed = config.seed.unwrap_or_else(clock_seed);
        let max = config.max_message_size;
        // Name checks and SNI for connections we open: the peer's or registrar's host.
        let mut server_names = HashMap::new();
        for peer in config
            .peers
            .iter()
            .filter(|p| p.transport == Transport::Tls)
        {
            let name = tls::server_name(peer.host.as_deref(), peer.addr.ip());
            server_names.insert(peer.addr, name);
        }
        for registrar in config
            .registrars
            .iter()
            .filter(|r| r.transport == Transport::Tls)
        {
            let name = tls::server_name(Some(&registrar.domain), registrar.addr.ip());
            server_names.insert(registrar.addr, name);
        }
        let ua = UserAgent::new(
            now(),
            config,
            locals.clone(),
            ids.clone(),
            stats.clone(),
            seed,
        );
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let driver = Driver {
            ua,
            udp_locals: udp.iter().filter_map(|s| s.local_addr().ok()).collect(),
            udp,
            rx: udp_batch::RecvBatch::new(65_535.max(max + 1), udp_batch::BATCH),
            udp_out: Vec::new(),
            conns: HashMap::new(),
            by_addr: HashMap::new(),
            conn_ids,
            input_tx,
            event_tx,
            max,
            closing: Vec::new(),
            tls: tls.map(|t| t.connector),
            server_names,
        };
        let task = tokio::spawn(driver.run(input_rx, command_rx));
        Ok(Self {
            commands,
            events,
            locals,
            ids,
            stats,
            task,
            readers,
        })
    }

    /// Queues a command (never blocks; the task handles it in order).
    pub fn command(&self, command: Command) {
        // A closed channel means the task is gone; the call is then lost with it.
        let _ = self.commands.send(command);
    }

    /// A sender for commands, to hand to another task.
    pub fn commands(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }

    /// Waits for the next event.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is queued.
    pub fn try_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The bound listening addresses (ephemeral ports resolved).
    pub fn local_addrs(&self) -> &[(Transport, SocketAddr)] {
        &self.locals
    }

    /// The bound address of the first listener with this transport.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.locals
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// Allocator for outbound call ids.
    pub fn call_ids(&self) -> &CallIds {
        &self.ids
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

struct Conn {
    writer: mpsc::UnboundedSender<Bytes>,
    peer: SocketAddr,
}

struct Driver {
    ua: UserAgent,
    udp: Vec<Arc<UdpSocket>>,
    /// Local address of each UDP socket (looked up once, not per send).
    udp_locals: Vec<SocketAddr>,
    /// Receive buffers for the first UDP socket.
    rx: udp_batch::RecvBatch,
    /// UDP datagrams of one flush, sent together.
    udp_out: Vec<(SocketAddr, Bytes)>,
    conns: HashMap<ConnId, Conn>,
    by_addr: HashMap<SocketAddr, ConnId>,
    conn_ids: Arc<AtomicU64>,
    input_tx: mpsc::UnboundedSender<Io>,
    event_tx: mpsc::UnboundedSender<Event>,
    max: usize,
    closing: Vec<ConnId>,
    /// Opens TLS connections (present when any TLS is configured).
    tls: Option<tokio_rustls::TlsConnector>,
    /// Name a TLS peer's certificate must carry, by address; else its IP address.
    server_names: HashMap<SocketAddr, ServerName<'static>>,
}

impl Driver {
    async fn run(
        mut self,
        mut input: mpsc::UnboundedReceiver<Io>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            self.flush().await;
            for conn in std::mem::take(&mut self.closing) {
                self.close(conn);
            }
            let deadline = self.ua.poll_timeout();
            let primary = self.udp.first().cloned();
            tokio::select! {
                ready = readable(primary.as_deref()) => {
                    if ready.is_ok() {
                        self.drain_primary_udp();
                    }
                }
                io = input.recv() => {
                    let Some(io) = io else { break };
                    self.handle_io(io);
                    // Batch what is already queued before flushing.
                    for _ in 0..64 {
                        match input.try_recv() {
                            Ok(io) => self.handle_io(io),
                            Err(_) => break,
                        }
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    self.ua.handle_command(now(), command);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.ua.handle_timeout(now());
                }
            }
        }
    }

    /// Reads what the first UDP socket holds (a few batches at most, so commands and
    /// timers get their turn) straight into the agent.
    fn drain_primary_udp(&mut self) {
        let Some(socket) = self.udp.first().cloned() else {
            return;
        };
        for _ in 0..4 {
            let more = match self.rx.recv(&socket) {
                Ok(more) => more,
                // ICMP errors surface here on some systems; they concern one peer only.
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            };
            // One clock read per batch: its datagrams were all waiting at this instant.
            let t = now();
            for (source, data) in self.rx.datagrams() {
                log_message("received from", Transport::Udp, source, data);
                let input = Input {
                    transport: Transport::Udp,
                    source,
                    conn: None,
                    data,
                };
                self.ua.handle_input(t, input);
            }
            if !more {
                return;
            }
        }
    }

    fn handle_io(&mut self, io: Io) {
        let t = now();
        match io {
            Io::Datagram { source, data } => {
                log_message("received from", Transport::Udp, source, &data);
                self.ua.handle_input(
                    t,
                    Input {
                        transport: Transport::Udp,
                        source,
                        conn: None,
                        data: &data,
                    },
                );
            }
            Io::Stream {
                conn,
                transport,
                source,
                data,
                close,
            } => {
                log_message("received from", transport, source, &data);
                self.ua.handle_input(
                    t,
                    Input {
                        transport,
                        source,
                        conn: Some(conn),
                        data: &data,
                    },
                );
                if close {
                    // Closed after the next flush, so the 400/513 is written first.
                    self.closing.push(conn);
                }
            }
            Io::Accepted { conn, peer, writer } => {
                self.by_addr.insert(peer, conn);
                self.conns.insert(conn, Conn { writer, peer });
            }
            // Deferred too: a response to the connection's last message may still be queued.
            Io::Closed { conn } => self.closing.push(conn),
            Io::ConnectFailed { conn, addr } => {
                self.close(conn);
                tracing::info!(%addr, "SIP connection failed");
                self.ua.handle_unreachable(t, addr);
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn)
            && self.by_addr.get(&c.peer) == Some(&conn)
        {
            self.by_addr.remove(&c.peer);
        }
    }

    async fn flush(&mut self) {
        while let Some(transmit) = self.ua.poll_transmit() {
            log_message(
                "sent to",
                transmit.dest.transport,
                transmit.dest.addr,
                &transmit.bytes,
            );
            match transmit.dest.transport {
                Transport::Udp => self.udp_out.push((transmit.dest.addr, transmit.bytes)),
                Transport::Tcp | Transport::Tls => self.send_stream(transmit.dest, transmit.bytes),
            }
        }
        if !self.udp_out.is_empty() {
            self.send_udp().await;
        }
        while let Some(event) = self.ua.poll_event() {
            let _ = self.event_tx.send(event);
        }
        let stats = self.ua.stats.clone();
        stats
            .calls
            .store(self.ua.call_count() as u64, Ordering::Relaxed);
        stats
            .transactions
            .store(self.ua.transaction_count() as u64, Ordering::Relaxed);
    }

    /// Sends the queued datagrams, in order, each from the socket of its address family.
    async fn send_udp(&mut self) {
        let mut out = std::mem::take(&mut self.udp_out);
        let index = |addr: &SocketAddr| {
            self.udp_locals
                .iter()
                .position(|a| a.is_ipv4() == addr.is_ipv4())
                .unwrap_or(0)
        };
        let first = out.first().map_or(0, |(a, _)| index(a));
        if out.iter().all(|(a, _)| index(a) == first) {
            self.send_udp_on(first, &out).await;
        } else {
            // Both families in one flush: per socket (order kept per destination).
            let groups: Vec<(usize, Vec<(SocketAddr, Bytes)>)> = (0..self.udp.len())
                .map(|i| {
                    let mine = out.iter().filter(|(a, _)| index(a) == i).cloned();
                    (i, mine.collect())
                })
                .collect();
            for (i, group) in groups {
                self.send_udp_on(i, &group).await;
            }
        }
        out.clear();
        self.udp_out = out;
    }

    async fn send_udp_on(&mut self, index: usize, datagrams: &[(SocketAddr, Bytes)]) {
        let Some(socket) = self.udp.get(index).cloned() else {
            if let Some((dest, _)) = datagrams.first() {
                tracing::warn!(%dest, "no UDP socket to send from");
            }
            return;
        };
        let mut rest = datagrams;
        while let Some((dest, bytes)) = rest.first() {
            match udp_batch::send(&socket, rest) {
                Ok(n) if n > 0 => rest = rest.get(n..).unwrap_or_default(),
                result => {
                    // Send queue full (or a refusal of the first one): this datagram
                    // alone, waiting for room if need be, then batches again.
                    let result = match result {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                        _ => socket.send_to(bytes, *dest).await.map(|_| ()),
                    };
                    if let Err(e) = result {
                        tracing::debug!(%dest, error = %e, "UDP send failed");
                    }
                    rest = rest.get(1..).unwrap_or_default();
                }
            }
        }
    }

    fn send_stream(&mut self, dest: Dest, bytes: Bytes) {
        let conn = dest
            .conn
            .filter(|c| self.conns.contains_key(c))
            .or_else(|| self.by_addr.get(&dest.addr).copied());
        if let Some(conn) = conn.and_then(|c| self.conns.get(&c))
            && conn.writer.send(bytes.clone()).is_ok()
        {
            return;
        }
        // Open a new connection; messages queue in its channel until it is up.
        let tls = match dest.transport {
            Transport::Tls => {
                let Some(connector) = self.tls.clone() else {
                    tracing::warn!(dest = %dest.addr, "TLS destination but no TLS configured");
                    self.ua.handle_unreachable(now(), dest.addr);
                    return;
                };
                let name = self
                    .server_names
                    .get(&dest.addr)
                    .cloned()
                    .unwrap_or_else(|| ServerName::IpAddress(dest.addr.ip().into()));
                Some((connector, name))
            }
            _ => None,
        };
        let conn = self.conn_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let (writer, queue) = mpsc::unbounded_channel();
        let _ = writer.send(bytes);
        self.by_addr.insert(dest.addr, conn);
        self.conns.insert(
            conn,
            Conn {
                writer,
                peer: dest.addr,
            },
        );
        tokio::spawn(connect(
            conn,
            dest.addr,
            tls,
            queue,
            self.input_tx.clone(),
            self.max,
        ));
    }
}

async fn readable(socket: Option<&UdpSocket>) -> io::Result<()> {
    match socket {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn log_message(what: &str, transport: Transport, addr: SocketAddr, data: &[u8]) {
    tracing::debug!(
        target: "dialgate::sip::messages",
        "{what} {addr} ({}):\n{}",
        transport.token(),
        String::from_utf8_lossy(data)
    );
}

async fn read_udp(socket: Arc<UdpSocket>, input: mpsc::UnboundedSender<Io>, max: usize) {
    // RFC 3261 §18.1.1: accept datagrams up to 65,535 octets; the size limit is the UA's.
    let mut buf = vec![0u8; 65_535.max(max + 1)];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                if input.send(Io::Datagram { source, data }).is_err() {
                    return;
                }
            }
            // ICMP errors surface here on some systems; they concern one peer, not the socket.
            Err(e) => tracing::debug!(error = %e, "UDP receive error"),
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    input: mpsc::UnboundedSender<Io>,
    ids: Arc<AtomicU64>,
    max: usize,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = ids.fetch_add(1, Ordering::Relaxed) + 1;
        let (writer, queue) = mpsc::unbounded_channel();
        if input.send(Io::Accepted { conn, peer, writer }).is_err() {
            return;
        }
        let link = Link {
            conn,
            transport: Transport::Tcp,
            peer,
            max,
        };
        tokio::spawn(serve_stream(link, stream, queue, input.clone()));
    }
}

/// Accepts TCP connections and runs each TLS handshake in its own task, so a slow or
/// hostile client holds up only itself.
async fn accept_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    input: mpsc::UnboundedSender<Io>,
    ids: Arc<AtomicU64>,
    max: usize,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let input = input.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "SIP TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "SIP TLS handshake timed out");
                    return;
                }
            };
            // Registered only now: the user agent never sees a connection without TLS.
            let conn = ids.fetch_add(1, Ordering::Relaxed) + 1;
            let (writer, queue) = mpsc::unbounded_channel();
            if input.send(Io::Accepted { conn, peer, writer }).is_err() {
                return;
            }
            let link = Link {
                conn,
                transport: Transport::Tls,
                peer,
                max,
            };
            serve_stream(link, stream, queue, input).await;
        });
    }
}

/// Opens a TCP connection (and the TLS session over it when `tls` is given), then serves it.
async fn connect(
    conn: ConnId,
    addr: SocketAddr,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    queue: mpsc::UnboundedReceiver<Bytes>,
    input: mpsc::UnboundedSender<Io>,
    max: usize,
) {
    let failed = || {
        let _ = input.send(Io::ConnectFailed { conn, addr });
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!(%addr, error = %e, "SIP TCP connect failed");
            return failed();
        }
    };
    let _ = stream.set_nodelay(true);
    let mut link = Link {
        conn,
        transport: Transport::Tcp,
        peer: addr,
        max,
    };
    let Some((connector, name)) = tls else {
        return serve_stream(link, stream, queue, input).await;
    };
    let handshake = tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, connector.connect(name, stream));
    match handshake.await {
        Ok(Ok(stream)) => {
            link.transport = Transport::Tls;
            serve_stream(link, stream, queue, input).await;
        }
        Ok(Err(e)) => {
            // A certificate that does not verify ends up here: the peer is unreachable.
            tracing::warn!(%addr, error = %e, "SIP TLS handshake failed");
            failed();
        }
        Err(_) => {
            tracing::warn!(%addr, "SIP TLS handshake timed out");
            failed();
        }
    }
}

/// What a stream task knows about its connection.
#[derive(Clone, Copy)]
struct Link {
    conn: ConnId,
    transport: Transport,
    peer: SocketAddr,
    max: usize,
}

async fn serve_stream<S>(
    link: Link,
    stream: S,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    input: mpsc::UnboundedSender<Io>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Link {
        conn,
        transport,
        peer,
        max,
    } = link;
    let (mut rd, mut wr) = tokio::io::split(stream);
    // The writer ends when the driver drops the connection's sender (after Io::Closed, or
    // after a refusal was queued), having written what was queued.
    tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(8192);
    'read: loop {
        loop {
            match frame(&mut buf, max) {
                Framed::Message(data) => {
                    let io = Io::Stream {
                        conn,
                        transport,
                        source: peer,
                        data,
                        close: false,
                    };
                    if input.send(io).is_err() {
                        break 'read;
                    }
                }
                Framed::Broken(data) => {
                    let _ = input.send(Io::Stream {
                        conn,
                        transport,
                        source: peer,
                        data,
                        close: true,
                    });
                    break 'read;
                }
                Framed::Incomplete => break,
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = input.send(Io::Closed { conn });
}

enum Framed {
    Message(Bytes),
    /// The framing is lost: hand this in for a 400/513, then close the connection.
    Broken(Bytes),
    Incomplete,
}

/// Cuts one message off a stream buffer (§18.3).
fn frame(buf: &mut BytesMut, max: usize) -> Framed {
    while buf.starts_with(b"\r\n") {
        buf.advance(2);
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > max {
            return Framed::Broken(buf.split().freeze());
        }
        return Framed::Incomplete;
    };
    let head = &buf[..end];
    let length = content_length(head);
    match length {
        Some(Ok(cl)) if end + 4 + cl > max => Framed::Broken(buf.split().freeze()),
        Some(Ok(cl)) => {
            let total = end + 4 + cl;
            if buf.len() < total {
                Framed::Incomplete
            } else {
                Framed::Message(buf.split_to(total).freeze())
            }
        }
        // Without a usable Content-Length the next message's start is unknown.
        Some(Err(())) | None => Framed::Broken(buf.split_to(end + 4).freeze()),
    }
}

fn content_length(head: &[u8]) -> Option<Result<usize, ()>> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse::<usize>().map_err(|_| ()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_framing_cuts_at_content_length_and_skips_crlf_pings() {
        let mut buf = BytesMut::from(
            &b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcBYE sip:b SIP/2.0\r\nl: 0\r\n\r\nINV"[..],
        );
        let Framed::Message(m) = frame(&mut buf, 4096) else {
            panic!("first")
        };
        assert!(m.ends_with(b"\r\n\r\nabc"));
        let Framed::Message(m) = frame(&mut buf, 4096) else {
            panic!("second")
        };
        assert!(m.starts_with(b"BYE"));
        assert!(matches!(frame(&mut buf, 4096), Framed::Incomplete));
        assert_eq!(&buf[..], b"INV");
    }

    #[test]
    fn stream_without_content_length_is_broken() {
        let mut buf = BytesMut::from(&b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nrest"[..]);
        assert!(matches!(frame(&mut buf, 4096), Framed::Broken(_)));
        let mut buf = BytesMut::from(&b"OPTIONS sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n"[..]);
        assert!(matches!(frame(&mut buf, 4096), Framed::Broken(_)));
    }

    #[test]
    fn oversize_stream_message_is_broken() {
        let mut buf =
            BytesMut::from(&b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 100000\r\n\r\n"[..]);
        assert!(matches!(frame(&mut buf, 4096), Framed::Broken(_)));
        let mut buf = BytesMut::from(&vec![b'a'; 5000][..]);
        assert!(matches!(frame(&mut buf, 4096), Framed::Broken(_)));
    }
}
