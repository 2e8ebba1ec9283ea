//! RTP packets for G.711 and RFC 4733 telephone-events, and the receive statistics of
//! RFC 3550 Appendix A (sequence tracking, loss, interarrival jitter).
//!
//! The fixed header is parsed and built by the `rtp-types` crate (it handles padding, CSRCs
//! and extensions on receipt); this file adds the telephone-event payload and the
//! per-source arithmetic, which no crate offers in a sans-IO form.
//!
//! ```text
//!   telephone-event payload (RFC 4733 section 2.3)
//!   | event (8) |E|R| volume (6) | duration (16) |
//! ```

use rtp_types::{RtpPacket, RtpPacketBuilder};

/// Static payload type of PCMU (mu-law), RFC 3551.
pub const PT_PCMU: u8 = 0;
/// Static payload type of PCMA (A-law), RFC 3551.
pub const PT_PCMA: u8 = 8;
/// Largest RTP datagram we send: header and 30 ms of G.711.
pub const MAX_DATAGRAM: usize = 12 + 240;

/// One RFC 4733 telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// 0-9 digits, 10 `*`, 11 `#`, 12-15 A-D, 16 flash.
    pub event: u8,
    /// The E bit: this packet carries the end of the event.
    pub end: bool,
    /// Power as -dBm0, 0..63.
    pub volume: u8,
    /// Length so far in timestamp units from the event's start.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Payload length on the wire.
    pub const LEN: usize = 4;

    /// Decode a payload; `None` when it is shorter than four octets.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Encode the payload (R sent as 0).
    pub fn encode(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            u8::from(self.end) << 7 | (self.volume & 0x3F),
            d0,
            d1,
        ]
    }
}

/// The telephone-event code of a DTMF key (`g711-rtp.md` section 7.1).
pub fn event_of_digit(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The DTMF key of a telephone-event code (`None` for flash and beyond).
pub fn digit_of_event(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Header fields of a packet we send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Marker bit: first packet of a talk-spurt or of an event.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp (8 kHz).
    pub timestamp: u32,
    /// Our SSRC.
    pub ssrc: u32,
}

/// Write a packet into `buf`; returns its length, or `None` if `buf` is too small.
pub fn encode(header: Header, payload: &[u8], buf: &mut [u8]) -> Option<usize> {
    RtpPacketBuilder::<&[u8], &[u8]>::new()
        .marker_bit(header.marker)
        .payload_type(header.payload_type)
        .sequence_number(header.sequence)
        .timestamp(header.timestamp)
        .ssrc(header.ssrc)
        .payload(payload)
        .write_into(buf)
        .ok()
}

/// A received packet, past the header checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Sender's SSRC.
    pub ssrc: u32,
    /// Payload without padding, CSRCs or extension.
    pub payload: &'a [u8],
}

/// Parse a datagram as RTP version 2; `None` for anything else.
pub fn decode(datagram: &[u8]) -> Option<Received<'_>> {
    let p = RtpPacket::parse(datagram).ok()?;
    Some(Received {
        marker: p.marker_bit(),
        payload_type: p.payload_type(),
        sequence: p.sequence_number(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
        payload: &datagram[p.payload_offset()..p.payload_offset() + p.payload_len()],
    })
}

/// A sequence jump larger than this restarts the source (RFC 3550 A.1 MAX_DROPOUT).
const MAX_DROPOUT: u16 = 3000;
/// Packets this far behind are duplicates or very late, not a restart (A.1 MAX_MISORDER).
const MAX_MISORDER: u16 = 100;

/// Receive statistics of one source (RFC 3550 Appendix A.1, A.3, A.8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// SSRC of the source.
    pub ssrc: u32,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    /// Packets received.
    pub received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Interarrival jitter, in timestamp units × 16 (A.8 keeps it scaled).
    jitter_x16: u32,
    /// Previous (arrival − timestamp) transit, in timestamp units.
    transit: Option<i32>,
}

impl SourceStats {
    /// Start tracking `ssrc` at its first packet.
    pub fn new(ssrc: u32, sequence: u16) -> Self {
        Self {
            ssrc,
            base_seq: u32::from(sequence),
            max_seq: sequence.wrapping_sub(1),
            ..Self::default()
        }
    }

    /// Count a packet. `arrival` is our 8 kHz clock at arrival. Returns `false` when the
    /// jump is so large that the caller should treat the source as restarted.
    pub fn update(&mut self, sequence: u16, timestamp: u32, arrival: u32) -> bool {
        let delta = sequence.wrapping_sub(self.max_seq);
        if delta == 0 {
            // A duplicate of the highest packet: counted, not advanced.
        } else if delta < MAX_DROPOUT {
            // A wrap, unless this is the first packet: `new` put `max_seq` one behind it,
            // which for a first sequence of 0 is 65535.
            if sequence < self.max_seq && self.received > 0 {
                self.cycles += 1;
            }
            self.max_seq = sequence;
        } else if delta <= u16::MAX - MAX_MISORDER {
            return false;
        }
        self.received += 1;
        let transit = arrival.wrapping_sub(timestamp) as i32;
        if let Some(prev) = self.transit {
            let d = transit.wrapping_sub(prev).unsigned_abs();
            // J += (|D| - J) / 16, kept as 16 J in integers (A.8).
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.transit = Some(transit);
        true
    }

    /// Extended highest sequence number received.
    pub fn extended_max(&self) -> u32 {
        (self.cycles << 16) | u32::from(self.max_seq)
    }

    /// Packets expected from the first to the highest.
    pub fn expected(&self) -> u32 {
        self.extended_max()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Cumulative packets lost (negative with duplicates, clamped to 0).
    pub fn lost(&self) -> u32 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// Fraction lost since the last call, as RTCP's 8-bit fixed point, and start a new
    /// interval.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost = expected_interval.saturating_sub(received_interval);
        if expected_interval == 0 || lost == 0 {
            0
        } else {
            ((lost << 8) / expected_interval).min(255) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_pcmu_packet_of_the_reference_encodes_byte_for_byte() {
        // g711-rtp.md section 6.1.
        let mut buf = [0u8; MAX_DATAGRAM];
        let h = Header {
            marker: true,
            payload_type: PT_PCMU,
            sequence: 0x1A2B,
            timestamp: 160_000,
            ssrc: 0x5EED_1234,
        };
        let n = encode(h, &[0xFF; 160], &mut buf).unwrap();
        assert_eq!(n, 172);
        assert_eq!(
            buf[..12],
            [
                0x80, 0x80, 0x1A, 0x2B, 0x00, 0x02, 0x71, 0x00, 0x5E, 0xED, 0x12, 0x34
            ]
        );
        let next = Header {
            marker: false,
            sequence: 0x1A2C,
            timestamp: 160_160,
            ..h
        };
        encode(next, &[0xFF; 160], &mut buf).unwrap();
        assert_eq!(
            buf[..12],
            [
                0x80, 0x00, 0x1A, 0x2C, 0x00, 0x02, 0x71, 0xA0, 0x5E, 0xED, 0x12, 0x34
            ]
        );
        let r = decode(&buf[..172]).unwrap();
        assert_eq!(
            (r.sequence, r.timestamp, r.ssrc, r.payload.len()),
            (0x1A2C, 160_160, 0x5EED_1234, 160)
        );
    }

    #[test]
    fn telephone_event_packets_of_the_reference_round_trip() {
        // g711-rtp.md section 7.2: digit 5 start and end.
        let start = TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert_eq!(start.encode(), [0x05, 0x0A, 0x00, 0xA0]);
        let end = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(end.encode(), [0x05, 0x8A, 0x03, 0x20]);
        assert_eq!(
            TelephoneEvent::decode(&[0x05, 0xCA, 0x03, 0x20]),
            Some(end),
            "R ignored"
        );
        assert_eq!(TelephoneEvent::decode(&[0x05, 0x8A, 0x03]), None);
        let mut buf = [0u8; 64];
        let h = Header {
            marker: true,
            payload_type: 101,
            sequence: 0x1A3A,
            timestamp: 162_400,
            ssrc: 0x5EED_1234,
        };
        let n = encode(h, &start.encode(), &mut buf).unwrap();
        assert_eq!(
            buf[..n],
            [
                0x80, 0xE5, 0x1A, 0x3A, 0x00, 0x02, 0x7A, 0x60, 0x5E, 0xED, 0x12, 0x34, 0x05, 0x0A,
                0x00, 0xA0
            ]
        );
    }

    #[test]
    fn digits_and_events_map_both_ways() {
        for (d, e) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('d', 15),
        ] {
            assert_eq!(event_of_digit(d), Some(e));
            assert_eq!(digit_of_event(e), Some(d.to_ascii_uppercase()));
        }
        assert_eq!(event_of_digit('x'), None);
        assert_eq!(digit_of_event(16), None);
    }

    #[test]
    fn garbage_and_version_1_are_not_rtp() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0x80, 0x00, 0x00]), None);
        assert_eq!(decode(&[0x40; 20]), None);
    }

    #[test]
    fn source_counts_loss_across_wrap_and_restarts_on_a_big_jump() {
        let mut s = SourceStats::new(7, 65_534);
        for (i, seq) in [65_534u16, 65_535, 1, 2].into_iter().enumerate() {
            assert!(s.update(seq, i as u32 * 160, i as u32 * 160));
        }
        assert_eq!(s.extended_max(), (1 << 16) | 2);
        assert_eq!(s.expected(), 5);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.take_fraction_lost(), 51); // 1/5 × 256
        assert_eq!(s.take_fraction_lost(), 0);
        assert!(!s.update(20_000, 0, 0));
    }

    #[test]
    fn a_source_starting_anywhere_loses_nothing_until_a_gap() {
        // (first sequence, sequences after it, lost, extended highest)
        let rows: [(u16, &[u16], u32, u32); 4] = [
            (0, &[1, 2], 0, 2),
            (0, &[1, 3], 1, 3),
            (65_535, &[0, 1], 0, (1 << 16) | 1),
            (1_000, &[1_001], 0, 1_001),
        ];
        for (first, rest, lost, max) in rows {
            let mut s = SourceStats::new(1, first);
            for (i, &seq) in std::iter::once(&first).chain(rest).enumerate() {
                assert!(s.update(seq, i as u32 * 160, i as u32 * 160));
            }
            assert_eq!((s.lost(), s.extended_max()), (lost, max), "from {first}");
        }
    }

    #[test]
    fn jitter_grows_with_uneven_arrivals() {
        let mut s = SourceStats::new(1, 0);
        for i in 0..50u32 {
            let wobble = if i % 2 == 0 { 0 } else { 80 };
            s.update(i as u16, i * 160, 1000 + i * 160 + wobble);
        }
        assert!((60..=80).contains(&s.jitter()), "jitter {}", s.jitter());
    }
}
