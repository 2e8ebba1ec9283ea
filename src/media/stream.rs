//! One call's media, sans-IO: B-channel octets ↔ RTP/RTCP datagrams, DTMF both ways,
//! local tones.
//!
//! ```text
//!  line octets ─handle_line─▶ [delay] ─▶ ptime packets ─┬─▶ audio RTP ─┐
//!              └─▶ DtmfDetector (rtp-nte) ─▶ events ────┴─▶ RFC 4733 ──┴─▶ poll_transmit
//!  fill_line ◀── local tone | NTE tone | Playout (jitter, concealment) ◀── handle_rtp
//!  handle_timeout: RTCP SR/RR + SDES every ~5 s, RTP timeout   ──▶ poll_event
//! ```
//!
//! The TDM side is the clock: timestamps count line samples, never `now`. RFC 3550
//! (sequence, timestamp, SSRC, RTCP), RFC 3551 (PCMU/PCMA), RFC 4733 (telephone-event),
//! `g711-rtp.md` sections 6 to 9. With `rtp-nte`, line audio waits 45 ms in a delay line
//! so that the detector (which needs about 45 ms to confirm a digit) can mute the digit's
//! start and send it only as events: the far end must not hear it twice.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtcp_types::RtcpPacketWriterExt as _;

use crate::line::Law;

use super::detect::DtmfDetector;
use super::g711;
use super::jitter::{Playout, PlayoutStats};
use super::rtp::{self, Header, SourceStats, TelephoneEvent};
use super::tone::{DTMF_LEVEL_DBM0, ToneGenerator, ToneSpec};

/// How DTMF crosses to the SIP side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DtmfRelay {
    /// RFC 4733 telephone-events (needs a negotiated telephone-event payload type).
    #[default]
    RtpNte,
    /// Tones stay in the audio.
    Inband,
}

/// What the peer's SDP said, as the mapper hands it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    /// RTP address from the SDP.
    pub addr: SocketAddr,
    /// Negotiated codec: PCMU = mu-law, PCMA = A-law.
    pub law: Law,
    /// Payload type of that codec (0 or 8).
    pub payload_type: u8,
    /// Packet time to send, 10 to 30 ms.
    pub ptime_ms: u8,
    /// Dynamic payload type of telephone-event, if negotiated.
    pub telephone_event: Option<u8>,
    /// DTMF relay policy of the peer.
    pub dtmf_relay: DtmfRelay,
    /// Send to where the peer's packets come from (NAT), not to `addr`.
    pub symmetric: bool,
    /// RTCP address from the SDP (`a=rtcp`, RFC 3605); `None`: `addr`'s port + 1.
    pub rtcp: Option<SocketAddr>,
}

/// Fixed parameters of a stream, chosen by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Law of the B-channel.
    pub line_law: Law,
    /// Upper bound of the playout delay.
    pub jitter_max_ms: u16,
    /// Our SSRC (random).
    pub ssrc: u32,
    /// First sequence number (random).
    pub initial_sequence: u16,
    /// First timestamp (random).
    pub initial_timestamp: u32,
    /// NTP time (RFC 3550 64-bit format) at the `now` the stream is created.
    pub ntp_at_start: u64,
    /// Seed for the RTCP interval randomisation.
    pub seed: u64,
    /// No RTP or RTCP from the peer this long: [`Event::RtpTimeout`].
    pub rtp_timeout: Duration,
}

/// What a stream reports upwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A digit detected in band on the B-channel (and sent as RFC 4733 events).
    DtmfFromLine {
        /// The key.
        digit: char,
        /// Its length.
        duration_ms: u32,
    },
    /// A telephone-event received, played as tones into the B-channel.
    DtmfFromRtp {
        /// The key.
        digit: char,
    },
    /// Nothing received from the peer for the configured time.
    RtpTimeout,
    /// Symmetric RTP latched onto this source address.
    Latched(SocketAddr),
}

/// A datagram to send.
#[derive(Clone, Copy, Debug)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// RTCP (send from the RTCP socket) rather than RTP.
    pub rtcp: bool,
    len: u16,
    buf: [u8; DATAGRAM],
}

impl Transmit {
    /// The datagram's bytes.
    pub fn payload(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

const DATAGRAM: usize = 256;
/// Audio octets taken from one received packet (60 ms); the rest is dropped.
const MAX_PAYLOAD: usize = 480;

/// Statistics of one leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload octets sent.
    pub octets_sent: u64,
    /// RTP packets accepted.
    pub packets_received: u64,
    /// Packets lost (RFC 3550 cumulative count of the current source).
    pub packets_lost: u64,
    /// Interarrival jitter in ms.
    pub jitter_ms: u32,
    /// Datagrams that were not RTP, or of a payload type not negotiated.
    pub dropped: u64,
    /// RTCP compound packets sent and received.
    pub rtcp_sent: u64,
    /// RTCP compound packets received.
    pub rtcp_received: u64,
    /// Digits sent as telephone-events.
    pub dtmf_sent: u64,
    /// Digits received as telephone-events.
    pub dtmf_received: u64,
    /// Playout counters.
    pub playout: PlayoutStats,
}

/// Samples of line audio held back while DTMF is detected (45 ms).
const NTE_DELAY: usize = 360;
const DELAY_RING: usize = 1024;
/// RTCP minimum interval (RFC 3550 section 6.2).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Audio muted past a relayed digit's measured end (the measure is ±13 ms).
const MUTE_MARGIN: u32 = 160;
/// Shortest DTMF tone and gap played into the B-channel.
const MIN_TONE: u32 = 320;

/// An RFC 4733 event we are sending.
#[derive(Clone, Copy, Debug)]
struct OutEvent {
    event: u8,
    start_ts: u32,
    first: bool,
    /// Duration in the last packet sent.
    duration: u16,
}

/// An RFC 4733 event being played to the line.
#[derive(Clone, Debug)]
struct InEvent {
    ssrc: u32,
    start_ts: u32,
    event: u8,
    tone: ToneGenerator,
    /// Samples played so far.
    played: u32,
    /// Samples the sender says it lasted (0 until the end packet).
    end_at: Option<u32>,
    /// Last update (packet) time, to end an event whose end packets were lost.
    last_update: Instant,
}

/// One call's media (see the module doc).
#[derive(Debug)]
pub struct Stream {
    config: StreamConfig,
    created: Instant,
    remote: Option<Remote>,
    /// Where RTP goes (the SDP address, or the latched source).
    rtp_to: Option<SocketAddr>,
    rtcp_to: Option<SocketAddr>,
    latched: bool,
    // Sending.
    sequence: u16,
    /// Timestamp of the next packet (counts line samples handed to the packetiser).
    timestamp: u32,
    marker: bool,
    delay: Box<[u8; DELAY_RING]>,
    delay_head: usize,
    delay_len: usize,
    detector: Option<DtmfDetector>,
    out_event: Option<OutEvent>,
    /// Audio before this timestamp is sent as silence (the end of a relayed digit).
    mute_until: Option<u32>,
    sent_since_report: bool,
    // Receiving.
    source: Option<SourceStats>,
    playout: Playout,
    in_event: Option<InEvent>,
    /// Key (SSRC, start timestamp, event) of the last event played, so its repeated
    /// end packets do not replay it.
    recent_event: Option<(u32, u32, u8)>,
    /// Gap to leave after an event before the next (samples left).
    tone_gap: u32,
    last_heard: Instant,
    timed_out: bool,
    /// Middle 32 bits of the last SR's NTP time, and when it arrived.
    last_sr: Option<(u32, Instant)>,
    local_tone: Option<ToneGenerator>,
    tone_buf: Vec<i16>,
    // Timers and output.
    next_rtcp: Instant,
    rng: fastrand::Rng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: LegStats,
    /// [`Stream::close`] ran: nothing more goes out.
    closed: bool,
}

impl Stream {
    /// A stream with no remote yet: it plays silence (or a tone) and sends nothing.
    pub fn new(now: Instant, config: StreamConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let first_rtcp = RTCP_INTERVAL.mul_f64(rng.f64() * 0.5 + 0.25);
        Self {
            config,
            created: now,
            remote: None,
            rtp_to: None,
            rtcp_to: None,
            latched: false,
            sequence: config.initial_sequence,
            timestamp: config.initial_timestamp,
            marker: true,
            delay: Box::new([config.line_law.idle_code(); DELAY_RING]),
            delay_head: 0,
            delay_len: 0,
            detector: None,
            out_event: None,
            mute_until: None,
            sent_since_report: false,
            source: None,
            playout: Playout::new(config.line_law, 20, config.jitter_max_ms),
            in_event: None,
            recent_event: None,
            tone_gap: 0,
            last_heard: now,
            timed_out: false,
            last_sr: None,
            local_tone: None,
            tone_buf: Vec::new(),
            next_rtcp: now + first_rtcp,
            rng,
            transmits: VecDeque::with_capacity(4),
            events: VecDeque::new(),
            stats: LegStats::default(),
            closed: false,
        }
    }

    /// Bytes this stream holds, inline and on the heap, when idle (no tone or detector
    /// scratch grown yet): the figure the benchmark's per-call budget counts.
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + DELAY_RING
            + Playout::footprint()
            + self
                .detector
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<DtmfDetector>())
            + self.tone_buf.capacity() * 2
            + self.transmits.capacity() * std::mem::size_of::<Transmit>()
            + self.events.capacity() * std::mem::size_of::<Event>()
    }

    /// Set or change (re-INVITE) the peer.
    pub fn set_remote(&mut self, now: Instant, remote: Remote) {
        let nte = remote.dtmf_relay == DtmfRelay::RtpNte && remote.telephone_event.is_some();
        if nte && self.detector.is_none() {
            self.detector = Some(DtmfDetector::new());
        } else if !nte {
            self.detector = None;
        }
        let ptime_changed = self.remote.is_none_or(|r| r.ptime_ms != remote.ptime_ms);
        if ptime_changed {
            let mut p = Playout::new(
                self.config.line_law,
                remote.ptime_ms,
                self.config.jitter_max_ms,
            );
            std::mem::swap(&mut p, &mut self.playout);
        }
        if self
            .remote
            .is_none_or(|r| r.addr != remote.addr || r.rtcp != remote.rtcp)
            || !remote.symmetric
        {
            self.rtp_to = Some(remote.addr);
            self.rtcp_to = Some(remote.rtcp.unwrap_or(SocketAddr::new(
                remote.addr.ip(),
                remote.addr.port().wrapping_add(1),
            )));
            self.latched = false;
        }
        self.remote = Some(remote);
        self.last_heard = now;
        self.timed_out = false;
    }

    /// Play a local tone into the B-channel instead of the received audio (`None`: back
    /// to RTP).
    pub fn play(&mut self, tone: Option<ToneSpec>) {
        self.local_tone = tone.map(ToneGenerator::new);
    }

    /// B-channel octets read from the line (line law), any count.
    pub fn handle_line(&mut self, _now: Instant, samples: &[u8]) {
        let law = self.config.line_law;
        if let Some(det) = &mut self.detector {
            det.push_g711(law, samples);
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let room = DELAY_RING - self.delay_len;
            let (now_part, later) = rest.split_at(room.min(rest.len()));
            // At most two copies: up to the ring's end, then from its start.
            let tail = (self.delay_head + self.delay_len) % DELAY_RING;
            let first = now_part.len().min(DELAY_RING - tail);
            self.delay[tail..tail + first].copy_from_slice(&now_part[..first]);
            self.delay[..now_part.len() - first].copy_from_slice(&now_part[first..]);
            self.delay_len += now_part.len();
            rest = later;
            self.packetise();
        }
    }

    /// Line octets the shell should collect before it runs the stream again (at least
    /// one): until the next packet is complete, so a packet leaves as soon as its last
    /// octet is in, whatever share of it an earlier run took in; and never more than a
    /// packet-time, so playout toward the line moves a packet-time at a time even while
    /// the first packets are held back for the DTMF detector (a run that took in several
    /// packet-times at once would play past the packets read at its start).
    pub fn octets_until_packet(&self) -> usize {
        let packet = self.packet_samples();
        (self.hold() + packet)
            .saturating_sub(self.delay_len)
            .clamp(1, packet)
    }

    fn packet_samples(&self) -> usize {
        self.remote
            .map_or(160, |r| usize::from(r.ptime_ms.clamp(10, 30)) * 8)
    }

    /// Line octets the delay line holds back: the detector's look-ahead, when it runs.
    fn hold(&self) -> usize {
        if self.detector.is_some() {
            NTE_DELAY
        } else {
            0
        }
    }

    /// Send every packet-time the delay line has beyond its hold-back.
    fn packetise(&mut self) {
        let n = self.packet_samples();
        let hold = self.hold();
        while self.delay_len >= hold + n {
            self.check_detector();
            let head = self.delay_head;
            self.delay_head = (head + n) % DELAY_RING;
            self.delay_len -= n;
            if let Some(ev) = self.out_event {
                self.out_event = Some(self.send_event(ev, false));
            } else {
                let muted = match self.mute_until {
                    Some(until) if (until.wrapping_sub(self.timestamp) as i32) > 0 => true,
                    Some(_) => {
                        self.mute_until = None;
                        false
                    }
                    None => false,
                };
                self.send_audio(head, n, muted);
            }
            self.timestamp = self.timestamp.wrapping_add(n as u32);
        }
    }

    /// Open or close an RFC 4733 event from what the detector has seen, before the
    /// packet starting at `self.timestamp` is built.
    fn check_detector(&mut self) {
        let n = self.packet_samples() as u32;
        let Some(det) = &mut self.detector else {
            return;
        };
        let ended = det.poll_event();
        let on = det.digit_on();
        if let Some(e) = ended {
            if let Some(mut ev) = self.out_event.take() {
                // The detector measured the tone; durations never go backwards.
                let measured = (e.duration_ms * 8).min(u32::from(u16::MAX)) as u16;
                ev.duration = ev.duration.max(measured);
                // The end packet goes three times (RFC 4733 section 2.5.1.4).
                for _ in 0..3 {
                    ev = self.send_event(ev, true);
                }
                self.stats.dtmf_sent += 1;
                self.marker = true;
                // The delay line still holds the tone's tail: keep it out of the audio.
                self.mute_until = Some(
                    ev.start_ts
                        .wrapping_add(u32::from(ev.duration) + MUTE_MARGIN),
                );
            }
            self.events.push_back(Event::DtmfFromLine {
                digit: e.digit,
                duration_ms: e.duration_ms,
            });
        }
        if self.out_event.is_none()
            && let Some((digit, start)) = on
            && let Some(event) = rtp::event_of_digit(digit)
        {
            // Line sample i went out (or will) with timestamp initial + i.
            let start_ts = self.config.initial_timestamp.wrapping_add(start as u32);
            let ahead = start_ts.wrapping_sub(self.timestamp) as i32;
            if ahead < n as i32 {
                // Starts in this packet or already went (the delay line was too short):
                // the event opens here and this packet's audio is muted.
                let start_ts = if ahead > 0 { start_ts } else { self.timestamp };
                self.out_event = Some(OutEvent {
                    event,
                    start_ts,
                    first: true,
                    duration: 0,
                });
            }
        }
    }

    /// Send one packet of `ev`; returns it with the marker spent and the duration sent.
    fn send_event(&mut self, ev: OutEvent, end: bool) -> OutEvent {
        let (Some(remote), Some(to)) = (self.remote, self.rtp_to) else {
            return ev;
        };
        let Some(pt) = remote.telephone_event else {
            return ev;
        };
        let n = self.packet_samples() as u32;
        let duration = if end {
            ev.duration
        } else {
            let upto = self.timestamp.wrapping_add(n).wrapping_sub(ev.start_ts);
            upto.min(u32::from(u16::MAX)) as u16
        };
        let te = TelephoneEvent {
            event: ev.event,
            end,
            volume: (-DTMF_LEVEL_DBM0) as u8,
            duration,
        };
        let header = Header {
            marker: ev.first,
            payload_type: pt,
            sequence: self.sequence,
            timestamp: ev.start_ts,
            ssrc: self.config.ssrc,
        };
        if let Some((mut t, at)) = self.rtp_transmit(to, header, TelephoneEvent::LEN) {
            t.buf[at..at + TelephoneEvent::LEN].copy_from_slice(&te.encode());
            self.queue_rtp(t);
        }
        OutEvent {
            first: false,
            duration,
            ..ev
        }
    }

    /// Send the `n` octets of the delay line from `head` as one audio packet (silence if
    /// `muted`), written straight into the datagram behind its header.
    fn send_audio(&mut self, head: usize, n: usize, muted: bool) {
        let (Some(remote), Some(to)) = (self.remote, self.rtp_to) else {
            return;
        };
        let header = Header {
            marker: std::mem::take(&mut self.marker),
            payload_type: remote.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.config.ssrc,
        };
        self.stats.octets_sent += n as u64;
        let Some((mut t, at)) = self.rtp_transmit(to, header, n) else {
            return;
        };
        let payload = &mut t.buf[at..at + n];
        if muted {
            payload.fill(self.config.line_law.idle_code());
        } else {
            // At most two copies: up to the ring's end, then from its start.
            let first = n.min(DELAY_RING - head);
            payload[..first].copy_from_slice(&self.delay[head..head + first]);
            payload[first..].copy_from_slice(&self.delay[..n - first]);
        }
        // Silence too goes through the conversion: A-law's idle code is mu-law 0xFE.
        g711::transcode_in_place(self.config.line_law, remote.law, payload);
        self.queue_rtp(t);
    }

    /// An RTP datagram to `to` holding `header`, and where its `len` payload octets go;
    /// `None` once closed (or if they would not fit).
    fn rtp_transmit(
        &self,
        to: SocketAddr,
        header: Header,
        len: usize,
    ) -> Option<(Transmit, usize)> {
        if self.closed {
            return None;
        }
        let mut t = Transmit {
            to,
            rtcp: false,
            len: 0,
            buf: [0; DATAGRAM],
        };
        // The header alone; the caller writes the payload behind it in place, the same
        // octets `rtp::encode` would copy there.
        let at = rtp::encode(header, &[], &mut t.buf)?;
        t.len = u16::try_from(at + len)
            .ok()
            .filter(|&l| usize::from(l) <= DATAGRAM)?;
        Some((t, at))
    }

    /// Queue a datagram from [`Stream::rtp_transmit`]: it takes the sequence number.
    fn queue_rtp(&mut self, t: Transmit) {
        self.transmits.push_back(t);
        self.sequence = self.sequence.wrapping_add(1);
        self.stats.packets_sent += 1;
        self.sent_since_report = true;
    }

    /// The next octets for the B-channel (line law), exactly `out.len()` of them.
    pub fn fill_line(&mut self, now: Instant, out: &mut [u8]) {
        let law = self.config.line_law;
        // Received audio always advances, so the buffer stays in step under tones.
        self.playout.read(out);
        if let Some(tone) = &mut self.local_tone {
            self.tone_buf.resize(out.len(), 0);
            tone.fill(&mut self.tone_buf);
            g711::encode_into(law, &self.tone_buf, out);
            return;
        }
        let mut start = 0;
        if self.tone_gap > 0 && self.in_event.is_none() {
            let n = (self.tone_gap as usize).min(out.len());
            out[..n].fill(law.idle_code());
            self.tone_gap -= n as u32;
            start = n;
        }
        if let Some(ev) = &mut self.in_event {
            let lost_end = now.duration_since(ev.last_update) > Duration::from_millis(200);
            let until = match ev.end_at {
                Some(d) => d.max(MIN_TONE),
                None if lost_end => ev.played.max(MIN_TONE),
                None => u32::MAX,
            };
            let n = ((until - ev.played.min(until)) as usize).min(out.len() - start);
            self.tone_buf.resize(n, 0);
            ev.tone.fill(&mut self.tone_buf);
            g711::encode_into(law, &self.tone_buf, &mut out[start..start + n]);
            ev.played += n as u32;
            if ev.played >= until {
                self.in_event = None;
                self.tone_gap = MIN_TONE;
            }
        }
    }

    /// A datagram from the RTP socket.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Some(remote) = self.remote else {
            self.stats.dropped += 1;
            return;
        };
        let Some(p) = rtp::decode(datagram) else {
            self.stats.dropped += 1;
            return;
        };
        let is_event = Some(p.payload_type) == remote.telephone_event;
        if p.payload_type != remote.payload_type && !is_event {
            self.stats.dropped += 1;
            return;
        }
        self.last_heard = now;
        if remote.symmetric && (!self.latched || self.rtp_to != Some(from)) {
            self.latched = true;
            self.rtp_to = Some(from);
            self.events.push_back(Event::Latched(from));
        }
        let arrival = self.arrival_clock(now);
        let restart = match &mut self.source {
            Some(s) if s.ssrc == p.ssrc => !s.update(p.sequence, p.timestamp, arrival),
            _ => true,
        };
        if restart {
            // A new source (re-INVITE, transfer) restarts playout; it is not loss.
            let mut s = SourceStats::new(p.ssrc, p.sequence);
            s.update(p.sequence, p.timestamp, arrival);
            self.source = Some(s);
            self.playout.reset();
        }
        self.stats.packets_received += 1;
        if is_event {
            self.handle_event(now, p.ssrc, p.timestamp, p.payload);
            return;
        }
        if let Some(s) = &self.source {
            self.playout.set_jitter(s.jitter());
        }
        let payload = &p.payload[..p.payload.len().min(MAX_PAYLOAD)];
        if remote.law == self.config.line_law {
            self.playout.write(p.timestamp, payload);
        } else {
            let mut buf = [0u8; MAX_PAYLOAD];
            let buf = &mut buf[..payload.len()];
            buf.copy_from_slice(payload);
            g711::transcode_in_place(remote.law, self.config.line_law, buf);
            self.playout.write(p.timestamp, buf);
        }
    }

    fn handle_event(&mut self, now: Instant, ssrc: u32, ts: u32, payload: &[u8]) {
        let Some(te) = TelephoneEvent::decode(payload) else {
            self.stats.dropped += 1;
            return;
        };
        if let Some(ev) = &mut self.in_event
            && ev.ssrc == ssrc
            && ev.start_ts == ts
            && ev.event == te.event
        {
            ev.last_update = now;
            if te.end {
                ev.end_at.get_or_insert(u32::from(te.duration));
            }
            return;
        }
        let Some(digit) = rtp::digit_of_event(te.event) else {
            return;
        };
        let Some(spec) = ToneSpec::dtmf(digit) else {
            return;
        };
        if self.in_event.is_some() || self.tone_gap > 0 {
            // A new key while one still plays: the old one is over.
            self.tone_gap = 0;
        }
        // An end packet for an event that is already over (its repeats) is not a new key.
        if te.end && self.recent_event == Some((ssrc, ts, te.event)) {
            return;
        }
        self.recent_event = Some((ssrc, ts, te.event));
        self.stats.dtmf_received += 1;
        self.events.push_back(Event::DtmfFromRtp { digit });
        self.in_event = Some(InEvent {
            ssrc,
            start_ts: ts,
            event: te.event,
            tone: ToneGenerator::new(spec),
            played: 0,
            end_at: te.end.then_some(u32::from(te.duration)),
            last_update: now,
        });
    }

    /// Our 8 kHz clock, for interarrival jitter.
    fn arrival_clock(&self, now: Instant) -> u32 {
        let d = now.duration_since(self.created);
        (d.as_micros() / 125) as u32
    }

    /// A datagram from the RTCP socket.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Ok(compound) = rtcp_types::Compound::parse(datagram) else {
            self.stats.dropped += 1;
            return;
        };
        self.stats.rtcp_received += 1;
        self.last_heard = now;
        if self.remote.is_some_and(|r| r.symmetric) {
            self.rtcp_to = Some(from);
        }
        for packet in compound.flatten() {
            if let rtcp_types::Packet::Sr(sr) = packet {
                let middle = (sr.ntp_timestamp() >> 16) as u32;
                self.last_sr = Some((middle, now));
            }
        }
    }

    /// Run the timers: RTCP reports and the RTP timeout. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.remote.is_some()
            && !self.timed_out
            && now.duration_since(self.last_heard) >= self.config.rtp_timeout
        {
            self.timed_out = true;
            self.events.push_back(Event::RtpTimeout);
        }
        if now >= self.next_rtcp {
            self.send_report(now, false);
            // Randomised between 0.5 and 1.5 times the interval, over e - 3/2 (RFC 3550 6.3.1).
            let k = (self.rng.f64() + 0.5) / 1.218_28;
            self.next_rtcp = now + RTCP_INTERVAL.mul_f64(k);
        }
    }

    fn ntp(&self, now: Instant) -> u64 {
        let d = now.duration_since(self.created);
        let frac = ((u128::from(d.subsec_nanos()) << 32) / 1_000_000_000) as u64;
        self.config
            .ntp_at_start
            .wrapping_add((d.as_secs() << 32) | frac)
    }

    /// The stream is ending (the call hung up): queue an RTCP BYE (RFC 3550 section 6.6)
    /// after a last report, so the peer drops our SSRC at once instead of timing it out.
    /// Nothing goes if we never sent RTP or RTCP (section 6.3.7) or have no peer; the
    /// stream sends nothing after this.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.stats.packets_sent > 0 || self.stats.rtcp_sent > 0 {
            self.send_report(now, true);
        }
    }

    fn send_report(&mut self, now: Instant, bye: bool) {
        let Some(to) = self.rtcp_to else { return };
        let block = self.source.as_mut().map(|s| {
            let fraction = s.take_fraction_lost();
            rtcp_types::ReportBlock::builder(s.ssrc)
                .fraction_lost(fraction)
                .cumulative_lost(s.lost().min(0x7F_FFFF))
                .extended_sequence_number(s.extended_max())
                .interarrival_jitter(s.jitter())
        });
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => (lsr, (now.duration_since(at).as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        let block = block.map(|b| {
            b.last_sender_report_timestamp(lsr)
                .delay_since_last_sender_report_timestamp(dlsr)
        });
        let cname = format!("dialgate-{:08x}", self.config.ssrc);
        let sdes = rtcp_types::Sdes::builder().add_chunk(
            rtcp_types::SdesChunk::builder(self.config.ssrc).add_item(
                rtcp_types::SdesItem::builder(rtcp_types::SdesItem::CNAME, &cname),
            ),
        );
        // BYE goes last in its compound packet (RFC 3550 section 6.1).
        let bye_packet = rtcp_types::Bye::builder().add_source(self.config.ssrc);
        let mut t = Transmit {
            to,
            rtcp: true,
            len: 0,
            buf: [0; DATAGRAM],
        };
        let written = if self.sent_since_report {
            let mut sr = rtcp_types::SenderReport::builder(self.config.ssrc)
                .ntp_timestamp(self.ntp(now))
                .rtp_timestamp(self.timestamp)
                .packet_count(self.stats.packets_sent as u32)
                .octet_count(self.stats.octets_sent as u32);
            if let Some(b) = block {
                sr = sr.add_report_block(b);
            }
            let compound = rtcp_types::Compound::builder()
                .add_packet(sr)
                .add_packet(sdes);
            if bye {
                compound.add_packet(bye_packet).write_into(&mut t.buf)
            } else {
                compound.write_into(&mut t.buf)
            }
        } else {
            let mut rr = rtcp_types::ReceiverReport::builder(self.config.ssrc);
            if let Some(b) = block {
                rr = rr.add_report_block(b);
            }
            let compound = rtcp_types::Compound::builder()
                .add_packet(rr)
                .add_packet(sdes);
            if bye {
                compound.add_packet(bye_packet).write_into(&mut t.buf)
            } else {
                compound.write_into(&mut t.buf)
            }
        };
        if let Ok(len) = written {
            t.len = len as u16;
            self.transmits.push_back(t);
            self.stats.rtcp_sent += 1;
        }
        self.sent_since_report = false;
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the call.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeout = (self.remote.is_some() && !self.timed_out)
            .then(|| self.last_heard + self.config.rtp_timeout);
        Some(timeout.map_or(self.next_rtcp, |t| t.min(self.next_rtcp)))
    }

    /// Counters so far.
    pub fn stats(&self) -> LegStats {
        let mut s = self.stats;
        if let Some(src) = &self.source {
            s.packets_lost = u64::from(src.lost());
            s.jitter_ms = src.jitter() / 8;
        }
        s.playout = self.playout.stats();
        s
    }
}
