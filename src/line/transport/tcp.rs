//! TCP byte streams: `tcp://HOST:PORT` (we connect, and reconnect with backoff) and
//! `tcp-listen://HOST:PORT` (we listen and serve one peer at a time).

use std::io;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Opener, PortOptions, Stream};

/// How long one connect attempt may take before it counts as a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer that stops reading must not stall our reads forever: a write that cannot
/// finish in this time counts as a lost line.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

fn prepare(stream: &TcpStream, options: &PortOptions) -> io::Result<()> {
    // Frames are small and paced by the line; Nagle would only add delay.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(options.poll_interval.max(Duration::from_millis(1))))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(())
}

/// `tcp://HOST:PORT`.
pub(crate) struct ConnectOpener {
    addr: String,
}

impl ConnectOpener {
    pub(crate) fn new(addr: String) -> Self {
        ConnectOpener { addr }
    }
}

impl Opener for ConnectOpener {
    fn open(&mut self, options: &PortOptions) -> io::Result<(Box<dyn Stream>, String)> {
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no address", self.addr),
        );
        // Resolve on every attempt: a DNS name may move while we are down.
        for sa in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    prepare(&stream, options)?;
                    return Ok((Box::new(stream), sa.to_string()));
                }
                Err(e) => last = io::Error::new(e.kind(), format!("{sa}: {e}")),
            }
        }
        Err(last)
    }
}

/// `tcp-listen://HOST:PORT`: bound once, then one peer at a time. Further peers wait in
/// the listen backlog until the current one leaves.
pub(crate) struct ListenOpener {
    listener: TcpListener,
}

impl ListenOpener {
    pub(crate) fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        // Non-blocking accept lets the driver thread notice a shutdown while it waits.
        listener.set_nonblocking(true)?;
        Ok(ListenOpener { listener })
    }

    pub(crate) fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl Opener for ListenOpener {
    fn open(&mut self, options: &PortOptions) -> io::Result<(Box<dyn Stream>, String)> {
        let (stream, peer) = self.listener.accept()?;
        stream.set_nonblocking(false)?;
        prepare(&stream, options)?;
        Ok((Box::new(stream), peer.to_string()))
    }
}
