//! Batched UDP socket calls for the SIP and RTP shells: one `recvmmsg` takes up to a
//! batch of datagrams, one `sendmmsg` sends a flush's worth of them (Linux; nix's safe
//! wrappers).
//!
//! Per datagram, plain `recv_from`/`send_to` cost a system call each, and every drain of
//! the socket ended with one more that only returned `EAGAIN`. Elsewhere than Linux the
//! same interface falls back to one call per datagram.
//!
//! The SIP transport receives on tokio sockets ([`RecvBatch::recv`], which keeps tokio's
//! readiness right); the media engine reads plain non-blocking sockets on its own
//! schedule, with the kernel's arrival stamps ([`RecvBatch::recv_stamped`]).

use std::io;
#[cfg(target_os = "linux")]
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
#[cfg(target_os = "linux")]
use std::net::{SocketAddrV4, SocketAddrV6};
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use bytes::Bytes;
#[cfg(target_os = "linux")]
use nix::sys::socket::{
    self as sock, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};
#[cfg(target_os = "linux")]
use nix::sys::time::TimeSpec;
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Most datagrams per `sendmmsg`.
pub(crate) const BATCH: usize = 32;

/// Receive buffers for one socket, reused across batches.
pub(crate) struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    /// Each datagram of the last receive.
    got: Vec<Got>,
}

/// Where one received datagram is, and what the kernel said of it.
#[derive(Clone, Copy)]
struct Got {
    buf: usize,
    len: usize,
    source: SocketAddr,
    /// Arrival, since the Unix epoch (`SO_TIMESTAMPNS`), when the socket asked for it.
    stamp: Option<Duration>,
}

impl RecvBatch {
    /// Up to `count` datagrams per receive (at least one); `size` is the largest datagram
    /// accepted whole. The buffers are zeroed lazily by the allocator, so only the pages
    /// that datagrams reach become resident.
    pub(crate) fn new(size: usize, count: usize) -> Self {
        let count = count.max(1);
        Self {
            bufs: (0..count).map(|_| vec![0u8; size]).collect(),
            got: Vec::with_capacity(count),
        }
    }

    /// Takes what the socket holds, up to a batch, without waiting.
    ///
    /// Returns whether the socket may hold more (the batch came back full). When it came
    /// back short the socket was empty at that moment, so tokio's readiness is cleared
    /// here and the next wake-up is the next datagram's: this saves the extra receive
    /// that would only have returned `EAGAIN`.
    #[cfg(target_os = "linux")]
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<bool> {
        self.got.clear();
        let full = self.bufs.len();
        let result = socket.try_io(Interest::READABLE, || {
            if self.recvmmsg(socket.as_raw_fd(), false)? < full {
                // Short batch: tell tokio the socket is drained (data that arrives from now
                // on raises a new readiness edge).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Takes what a non-blocking socket holds, up to a batch, with each datagram's arrival
    /// stamp when the socket was set up by [`stamp_arrivals`]. Returns whether the socket
    /// may hold more (the batch came back full).
    #[cfg(target_os = "linux")]
    pub(crate) fn recv_stamped(&mut self, socket: &std::net::UdpSocket) -> io::Result<bool> {
        self.got.clear();
        match self.recvmmsg(socket.as_raw_fd(), true) {
            Ok(n) => Ok(n == self.bufs.len()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One `recvmmsg` without waiting; returns the datagrams it took (an error only when
    /// it took none).
    #[cfg(target_os = "linux")]
    fn recvmmsg(&mut self, fd: RawFd, stamps: bool) -> io::Result<usize> {
        let Self { bufs, got } = self;
        let cmsg = stamps.then(|| nix::cmsg_space!(TimeSpec));
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(bufs.len(), cmsg);
        let slices: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let results = sock::recvmmsg(
            fd,
            &mut headers,
            slices.iter(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let mut count = 0;
        for (i, r) in results.enumerate() {
            count = i + 1;
            // Without a control buffer there are no messages: the stamp is `None`.
            let stamp = r.cmsgs().find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(t) => Some(Duration::from(t)),
                _ => None,
            });
            if let Some(source) = r.address.as_ref().and_then(std_addr) {
                got.push(Got {
                    buf: i,
                    len: r.bytes,
                    source,
                    stamp,
                });
            }
        }
        Ok(count)
    }

    /// One datagram per call where there is no `recvmmsg`.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<bool> {
        self.recv_one(|buf| socket.try_recv_from(buf))
    }

    /// One datagram per call, unstamped, where there is no `recvmmsg`.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn recv_stamped(&mut self, socket: &std::net::UdpSocket) -> io::Result<bool> {
        self.recv_one(|buf| socket.recv_from(buf))
    }

    #[cfg(not(target_os = "linux"))]
    fn recv_one(
        &mut self,
        recv_from: impl FnOnce(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
    ) -> io::Result<bool> {
        let Self { bufs, got } = self;
        got.clear();
        let Some(buf) = bufs.first_mut() else {
            return Ok(false);
        };
        match recv_from(buf) {
            Ok((len, source)) => {
                got.push(Got {
                    buf: 0,
                    len,
                    source,
                    stamp: None,
                });
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The datagrams of the last receive: (source, bytes).
    pub(crate) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.stamped().map(|(source, bytes, _)| (source, bytes))
    }

    /// The datagrams of the last receive: (source, bytes, arrival since the Unix epoch if
    /// the kernel stamped it).
    pub(crate) fn stamped(&self) -> impl Iterator<Item = (SocketAddr, &[u8], Option<Duration>)> {
        self.got.iter().filter_map(|g| {
            let bytes = self.bufs.get(g.buf)?.get(..g.len)?;
            Some((g.source, bytes, g.stamp))
        })
    }
}

/// Ask the kernel to stamp each datagram's arrival on `socket` (`SO_TIMESTAMPNS`), for
/// [`RecvBatch::recv_stamped`]. Elsewhere than Linux a no-op: arrivals are then the time of
/// the read.
#[cfg(target_os = "linux")]
pub(crate) fn stamp_arrivals(socket: &std::net::UdpSocket) -> io::Result<()> {
    sock::setsockopt(socket.as_raw_fd(), sock::sockopt::ReceiveTimestampns, &true)
        .map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn stamp_arrivals(_socket: &std::net::UdpSocket) -> io::Result<()> {
    Ok(())
}

/// Sends the datagrams with one `sendmmsg`, without waiting.
///
/// Returns how many went (from the front). An error is about the first datagram only:
/// the kernel reports a later failure as a short count, and the caller retries from there.
#[cfg(target_os = "linux")]
pub(crate) fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, Bytes)]) -> io::Result<usize> {
    let datagrams = datagrams
        .get(..BATCH.min(datagrams.len()))
        .unwrap_or_default();
    if datagrams.is_empty() {
        return Ok(0);
    }
    socket.try_io(Interest::WRITABLE, || {
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
        let slices: Vec<[IoSlice<'_>; 1]> =
            datagrams.iter().map(|(_, b)| [IoSlice::new(b)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = datagrams
            .iter()
            .map(|(a, _)| Some(SockaddrStorage::from(*a)))
            .collect();
        let results = sock::sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter(),
            addrs,
            [],
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        Ok(results.count())
    })
}

/// One datagram per call where there is no `sendmmsg`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, Bytes)]) -> io::Result<usize> {
    let Some((dest, bytes)) = datagrams.first() else {
        return Ok(0);
    };
    socket.try_send_to(bytes, *dest).map(|_| 1)
}

#[cfg(target_os = "linux")]
fn std_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}
