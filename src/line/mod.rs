//! The line: bits on the wire to frames, timeslots and D-channel HDLC frames.
//!
//! Contract: `spec/line-format.md` (binding). Everything here but [`transport`] is
//! sans-IO: it is handed `now` and the bytes read from the span and hands back the bytes
//! to write, events and its next deadline.
//!
//! ```text
//!  transport (driver thread) ──RxChunk──▶ Span ──Event──▶ isdn
//!                            ◀──Bytes───  │ t1 / e1   framer + deframer, CRC-6 / CRC-4
//!                                         │ alarm     LOS, OOF, red, AIS, RAI
//!                                         │ timeslot  D-channel and B-channel mux/demux
//!                                         │ hdlc      flags, zero insertion, FCS
//! ```
//!
//! The receivers ([`t1::Receiver`], [`e1::Receiver`]) hunt bit by bit only until they
//! lock; once in frame they read the stream a 64-bit word at a time. Both keep the
//! received bytes in a [`RxBits`] window so that a confirmation or a re-hunt can look
//! back a few multiframes without asking the transport again.

use std::time::Duration;

pub mod alarm;
pub mod crc;
pub mod e1;
pub mod hdlc;
pub mod pcap;
pub mod span;
pub mod t1;
pub mod timeslot;
pub mod transport;

pub use span::Span;

/// T1 superframe format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T1Framing {
    /// 24-frame extended superframe with CRC-6 and the FDL (the default).
    Esf,
    /// 12-frame D4 superframe (Ft/Fs).
    Sf,
}

/// Framing of a span: which line it is and how its frames are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// T1, 193-bit frames at 8000 frames/s.
    T1(T1Framing),
    /// E1, 256-bit frames at 8000 frames/s; `crc4` enables the CRC-4 multiframe.
    E1 { crc4: bool },
}

impl Framing {
    /// Bits in one frame: 193 on T1, 256 on E1.
    pub const fn frame_bits(self) -> usize {
        match self {
            Framing::T1(_) => 193,
            Framing::E1 { .. } => 256,
        }
    }

    /// The D-channel timeslot: TS24 on T1, TS16 on E1.
    pub const fn d_timeslot(self) -> u8 {
        match self {
            Framing::T1(_) => 24,
            Framing::E1 { .. } => 16,
        }
    }
}

/// G.711 companding law of the B-channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// mu-law, the T1 default; idle code `FF`.
    MuLaw,
    /// A-law, the E1 default; idle code `D5`.
    ALaw,
}

impl Law {
    /// The silence code an idle B-channel carries (`t1-e1-hdlc-notes.md` section 8).
    pub const fn idle_code(self) -> u8 {
        match self {
            Law::MuLaw => 0xFF,
            Law::ALaw => 0xD5,
        }
    }
}

/// Where the transmit frame rate comes from (contract section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// One frame sent for every frame-length of bits received (the default).
    Line,
    /// Paced at 8000 frames/s from our own clock.
    Internal,
}

/// Everything the sans-IO span needs to know about its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    pub framing: Framing,
    pub law: Law,
    pub clock: Clock,
    /// How long OOF must persist before red alarm is declared (default 2.5 s).
    pub red_alarm_after: Duration,
    /// How long alignment must hold before the span comes back up (default 10 s).
    pub recovery_after: Duration,
    /// No bytes for this long is loss of signal (default 100 ms).
    pub los_after: Duration,
}

impl SpanConfig {
    /// Default red-alarm integration time (contract section 7).
    pub const RED_ALARM_AFTER: Duration = Duration::from_millis(2500);
    /// Default time alignment must hold before the span is declared up again.
    pub const RECOVERY_AFTER: Duration = Duration::from_secs(10);
    /// Default silence on the transport that counts as LOS.
    pub const LOS_AFTER: Duration = Duration::from_millis(100);

    /// A span with the contract's defaults for its framing: mu-law on T1, A-law on E1,
    /// line clocking and the default alarm timers.
    pub fn new(framing: Framing) -> Self {
        let law = match framing {
            Framing::T1(_) => Law::MuLaw,
            Framing::E1 { .. } => Law::ALaw,
        };
        SpanConfig {
            framing,
            law,
            clock: Clock::Line,
            red_alarm_after: Self::RED_ALARM_AFTER,
            recovery_after: Self::RECOVERY_AFTER,
            los_after: Self::LOS_AFTER,
        }
    }
}

/// The received line bits, addressed by their position in the whole stream.
///
/// Positions are absolute (bit 0 is the first bit ever received) so that the framers can
/// keep them across chunks; the window drops old bytes only when asked, and reads outside
/// it return zeros rather than panicking.
#[derive(Clone, Debug, Default)]
pub(crate) struct RxBits {
    buf: Vec<u8>,
    /// Stream position of the most significant bit of `buf[0]`.
    base: u64,
}

impl RxBits {
    /// Append received bytes.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Stream position of the oldest bit still held.
    pub(crate) fn start(&self) -> u64 {
        self.base
    }

    /// Stream position one past the newest bit.
    pub(crate) fn end(&self) -> u64 {
        self.base + 8 * self.buf.len() as u64
    }

    /// Forget bytes wholly before `pos`, but only in large steps: moving the tail is
    /// cheap when it happens once per many kilobytes.
    pub(crate) fn discard_before(&mut self, pos: u64) {
        let Some(rel) = pos.checked_sub(self.base) else {
            return;
        };
        let bytes = (rel / 8) as usize;
        if bytes >= 16 * 1024 || bytes >= self.buf.len() {
            let bytes = bytes.min(self.buf.len());
            self.buf.drain(..bytes);
            self.base += 8 * bytes as u64;
        }
    }

    /// The bit at `pos` (0 outside the window).
    #[inline]
    pub(crate) fn bit(&self, pos: u64) -> u8 {
        let Some(rel) = pos.checked_sub(self.base) else {
            return 0;
        };
        match self.buf.get((rel / 8) as usize) {
            Some(b) => (b >> (7 - (rel % 8))) & 1,
            None => 0,
        }
    }

    /// Eight bytes from byte index `i` of the window, big-endian, zero padded.
    #[inline(always)]
    fn load(&self, i: usize) -> u64 {
        match self.buf.get(i..i + 8) {
            Some(s) => {
                let mut w = [0u8; 8];
                w.copy_from_slice(s);
                u64::from_be_bytes(w)
            }
            None => {
                let mut w = [0u8; 8];
                for (k, b) in w.iter_mut().enumerate() {
                    *b = self.buf.get(i + k).copied().unwrap_or(0);
                }
                u64::from_be_bytes(w)
            }
        }
    }

    /// `N` consecutive 64-bit words starting at stream bit `pos`, first bit in the MSB.
    #[inline(always)]
    pub(crate) fn words<const N: usize>(&self, pos: u64) -> [u64; N] {
        let rel = pos.wrapping_sub(self.base);
        if pos < self.base {
            return [0; N];
        }
        let byte = (rel / 8) as usize;
        let sh = (rel % 8) as u32;
        let mut out = [0u64; N];
        let mut cur = self.load(byte);
        for (k, o) in out.iter_mut().enumerate() {
            let next = self.load(byte + 8 * (k + 1));
            // `>> 1 >> (63 - sh)` is `>> (64 - sh)` without the undefined shift by 64.
            *o = (cur << sh) | ((next >> 1) >> (63 - sh));
            cur = next;
        }
        out
    }

    /// `N` big-endian 64-bit loads from the byte holding stream bit `pos`, zero padded
    /// past the end, and the bit offset of `pos` in that byte. One bounds check for a
    /// whole frame, and no copy through the stack: the in-frame paths shift these into
    /// place.
    #[inline(always)]
    pub(crate) fn loads<const N: usize>(&self, pos: u64) -> ([u64; N], u32) {
        let rel = pos.wrapping_sub(self.base);
        let mut out = [0u64; N];
        if pos < self.base {
            return (out, 0);
        }
        let byte = (rel / 8) as usize;
        match self.buf.get(byte..byte + 8 * N) {
            Some(s) => {
                for (o, c) in out.iter_mut().zip(s.chunks_exact(8)) {
                    *o = u64::from_be_bytes(<[u8; 8]>::try_from(c).unwrap_or([0; 8]));
                }
            }
            None => {
                for (k, o) in out.iter_mut().enumerate() {
                    *o = self.load(byte + 8 * k);
                }
            }
        }
        (out, (rel % 8) as u32)
    }

    /// The byte made of the 8 bits from `pos`.
    #[inline]
    pub(crate) fn byte_at(&self, pos: u64) -> u8 {
        (self.words::<1>(pos)[0] >> 56) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_bits_words_at_every_offset_match_bit_reads() {
        let mut bits = RxBits::default();
        let data: Vec<u8> = (0..64u32).map(|i| (i * 73 + 5) as u8).collect();
        bits.extend(&data);
        for pos in 0..(64 * 8 - 64) as u64 {
            let w = bits.words::<1>(pos)[0];
            let (l, sh) = bits.loads::<2>(pos);
            let joined = (l[0] << sh) | ((l[1] >> 1) >> (63 - sh));
            for k in 0..64 {
                let b = u8::from(w >> (63 - k) & 1 == 1);
                assert_eq!(b, bits.bit(pos + k), "pos {pos} bit {k}");
            }
            assert_eq!(joined, w);
        }
    }

    #[test]
    fn rx_bits_reads_outside_the_window_are_zero() {
        let mut bits = RxBits::default();
        bits.extend(&[0xFF; 4]);
        assert_eq!(bits.bit(32), 0);
        assert_eq!(bits.words::<2>(24), [0xFF00_0000_0000_0000, 0]);
        bits.discard_before(32);
        assert_eq!(bits.start(), 32);
        assert_eq!(bits.bit(0), 0);
    }
}
