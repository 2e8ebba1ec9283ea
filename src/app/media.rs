//! The daemon's side of the media seam (`docs/architecture.md`, "The seams"): one
//! [`media::Leg`] per call, asked for by the mapper ([`mapper::Media`]).
//!
//! ```text
//!   mapper ─Media::Open─▶ Engine::open(law) ─▶ handle_media_opened(leg.local_addr())
//!   mapper ─Media::Remote─▶ leg.set_remote(from the peer's SDP)
//!   mapper ─Media::Connect─▶ stack thread: open_b_channel, samples ⇄ LineEnd
//!   mapper ─Media::Play─▶ leg.play(ringback of the span's tone plan)
//!   mapper ─Media::Close─▶ drop the leg (its ports are free at once)
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use crate::line::Law;
use crate::mapper::{self, CallId};
use crate::media::tone::{TonePlan, ToneSpec};
use crate::media::{self, DtmfRelay, Remote};
use crate::routing::dial_peer;
use crate::sip;

pub(crate) use crate::media::LineEnd;

/// Where legs bind.
#[derive(Clone, Debug)]
pub(crate) struct MediaConfig {
    /// Local address of the RTP sockets (and the address in our SDP).
    pub(crate) bind: IpAddr,
    /// Port range; RTP takes even ports, RTCP the odd one above.
    pub(crate) rtp_ports: RangeInclusive<u16>,
    /// Each span's tone plan, by [`mapper::SpanId`].
    pub(crate) tone_plans: Vec<TonePlan>,
}

struct Leg {
    leg: media::Leg,
    law: Law,
    /// The tone plan of the span the leg is connected to (until then, its law's).
    plan: TonePlan,
}

/// The open legs, by call.
pub(crate) struct Legs {
    engine: media::Engine,
    legs: HashMap<CallId, Leg>,
    tone_plans: Vec<TonePlan>,
}

impl Legs {
    /// Start the media engine (inside the tokio runtime).
    pub(crate) fn start(config: MediaConfig) -> io::Result<Self> {
        let engine = media::Engine::start(media::Config {
            bind: config.bind,
            rtp_ports: config.rtp_ports,
            ..media::Config::default()
        })?;
        Ok(Self {
            engine,
            legs: HashMap::new(),
            tone_plans: config.tone_plans,
        })
    }

    /// Bind an RTP/RTCP pair for the call.
    pub(crate) fn open(&mut self, call: CallId, law: Law) -> Option<SocketAddr> {
        match self.engine.open(law) {
            Ok(leg) => {
                let addr = leg.local_addr();
                let plan = TonePlan::for_law(law);
                self.legs.insert(call, Leg { leg, law, plan });
                Some(addr)
            }
            Err(error) => {
                tracing::warn!(%call, %error, "no media leg for the call");
                None
            }
        }
    }

    /// The peer's SDP: its first G.711 codec is the one the offer/answer settled on;
    /// `policy` is what the peer's dial peer says of DTMF and NAT.
    pub(crate) fn set_remote(
        &mut self,
        call: CallId,
        media: sip::Media,
        policy: mapper::MediaPolicy,
    ) {
        let Some(leg) = self.legs.get(&call) else {
            return;
        };
        let (law, payload_type) = match media.codecs.first() {
            Some(sip::Codec::Pcma) => (Law::ALaw, 8),
            Some(sip::Codec::Pcmu) => (Law::MuLaw, 0),
            None => (leg.law, if leg.law == Law::ALaw { 8 } else { 0 }),
        };
        let ptime_ms = media
            .ptime
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(20)
            .clamp(10, 30);
        let dtmf_relay = match policy.dtmf_relay {
            dial_peer::DtmfRelay::RtpNte if media.telephone_event.is_some() => DtmfRelay::RtpNte,
            // No telephone-event in the SDP, `inband`, or `sip-info` (there is no SIP INFO
            // relay): the digits stay in the audio, where the PBX and the peer hear them.
            _ => DtmfRelay::Inband,
        };
        tracing::debug!(
            %call,
            remote = %media.rtp,
            ?law,
            ptime_ms,
            ?dtmf_relay,
            symmetric = policy.symmetric_rtp,
            "peer media"
        );
        leg.leg.set_remote(Remote {
            addr: media.rtp,
            law,
            payload_type,
            ptime_ms,
            telephone_event: media.telephone_event,
            dtmf_relay,
            symmetric: policy.symmetric_rtp,
            rtcp: media.rtcp,
        });
    }

    /// The call's leg now carries the B-channel of `span`: its tones follow that span's
    /// plan.
    pub(crate) fn connected(&mut self, call: CallId, span: mapper::SpanId) {
        if let (Some(leg), Some(&plan)) = (self.legs.get_mut(&call), self.tone_plans.get(span)) {
            leg.plan = plan;
        }
    }

    /// A tone of the span's plan into the B-channel instead of the RTP audio, or back to
    /// RTP.
    pub(crate) fn play(&mut self, call: CallId, tone: Option<mapper::Tone>) {
        if let Some(leg) = self.legs.get(&call) {
            let plan = leg.plan;
            leg.leg.play(tone.map(|t| match t {
                mapper::Tone::Ringback => ToneSpec::ringback(plan),
                mapper::Tone::Busy => ToneSpec::busy(plan),
                mapper::Tone::Congestion => ToneSpec::congestion(plan),
            }));
        }
    }

    pub(crate) fn line_end(&self, call: CallId) -> Option<LineEnd> {
        self.legs.get(&call).map(|l| l.leg.line_end())
    }

    pub(crate) fn close(&mut self, call: CallId) {
        if let Some(leg) = self.legs.remove(&call) {
            tracing::debug!(%call, stats = ?leg.leg.stats(), "media leg closed");
        }
    }

    /// Legs open now.
    pub(crate) fn len(&self) -> usize {
        self.legs.len()
    }
}
