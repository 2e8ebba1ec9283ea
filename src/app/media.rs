//! The daemon's side of the media seam (`docs/architecture.md`, "The seams"): one RTP
//! leg per call, asked for by the mapper ([`mapper::Media`]).
//!
//! Until `media::Engine` is wired in, a leg is an honest placeholder: a real even RTP
//! port (and the RTCP port above it) bound from the configured range, so the address
//! in our SDP is one we own and nobody else gets it while the call lasts; the peer's
//! SDP is recorded; the B-channel is opened on the span and its samples are consumed,
//! but no RTP is sent or played out yet.
//!
//! ```text
//!   mapper ─Media::Open─▶ Legs::open ─▶ bind RTP/RTCP ─▶ handle_media_opened(addr)
//!   mapper ─Media::Connect─▶ stack thread: open_b_channel, samples ⇄ LineEnd
//!   mapper ─Media::Close─▶ drop the sockets (ports free at once)
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;

use crate::line::Law;
use crate::mapper::{self, CallId};
use crate::sip;

/// Where legs bind.
#[derive(Clone, Debug)]
pub(crate) struct MediaConfig {
    /// Local address of the RTP sockets (and the address in our SDP).
    pub(crate) bind: IpAddr,
    /// Port range; RTP takes even ports, RTCP the odd one above.
    pub(crate) rtp_ports: RangeInclusive<u16>,
}

struct Leg {
    _rtp: UdpSocket,
    _rtcp: UdpSocket,
    addr: SocketAddr,
    law: Law,
    remote: Option<sip::Media>,
    tone: Option<mapper::Tone>,
}

/// The open legs, by call.
pub(crate) struct Legs {
    config: MediaConfig,
    next: u16,
    legs: HashMap<CallId, Leg>,
}

/// The line side of a leg, handed to the span's stack thread.
#[derive(Debug)]
pub(crate) struct LineEnd {}

impl LineEnd {
    /// B-channel samples read from the line.
    pub(crate) fn push_from_line(&self, samples: &[u8]) {
        // Placeholder leg: nothing to send them to yet.
        let _ = samples;
    }

    /// Samples to write to the line; 0 leaves the channel at its idle code.
    pub(crate) fn pull_to_line(&self, out: &mut [u8]) -> usize {
        let _ = out;
        0
    }
}

impl Legs {
    pub(crate) fn new(config: MediaConfig) -> Self {
        let next = *config.rtp_ports.start() & !1;
        Self {
            config,
            next,
            legs: HashMap::new(),
        }
    }

    /// Bind an even RTP port and the RTCP port above it, walking the range once.
    pub(crate) fn open(&mut self, call: CallId, law: Law) -> Option<SocketAddr> {
        let (first, last) = (
            *self.config.rtp_ports.start() & !1,
            *self.config.rtp_ports.end(),
        );
        let span = u32::from(last.saturating_sub(first)) / 2 + 1;
        for _ in 0..span {
            let port = self.next;
            self.next = if port.saturating_add(2) > last {
                first
            } else {
                port + 2
            };
            let Ok(rtp) = UdpSocket::bind((self.config.bind, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind((self.config.bind, port + 1)) else {
                continue;
            };
            let addr = SocketAddr::new(self.config.bind, port);
            self.legs.insert(
                call,
                Leg {
                    _rtp: rtp,
                    _rtcp: rtcp,
                    addr,
                    law,
                    remote: None,
                    tone: None,
                },
            );
            return Some(addr);
        }
        tracing::warn!(%call, "no free RTP port pair in the range");
        None
    }

    pub(crate) fn set_remote(&mut self, call: CallId, media: sip::Media) {
        if let Some(leg) = self.legs.get_mut(&call) {
            tracing::debug!(%call, remote = %media.rtp, "peer media");
            leg.remote = Some(media);
        }
    }

    pub(crate) fn play(&mut self, call: CallId, tone: Option<mapper::Tone>) {
        if let Some(leg) = self.legs.get_mut(&call) {
            leg.tone = tone;
        }
    }

    pub(crate) fn line_end(&self, call: CallId) -> Option<LineEnd> {
        self.legs.get(&call).map(|_| LineEnd {})
    }

    pub(crate) fn close(&mut self, call: CallId) {
        if let Some(leg) = self.legs.remove(&call) {
            tracing::debug!(%call, addr = %leg.addr, law = ?leg.law, "media leg closed");
        }
    }

    /// Legs open now.
    pub(crate) fn len(&self) -> usize {
        self.legs.len()
    }
}
