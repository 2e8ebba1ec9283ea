//! TEMPORARY stand-in; replaced by the real codec at merge.
//!
//! HDLC on the D-channel, contract `spec/line-format.md` section 4, receiver and
//! transmitter as in `t1-e1-hdlc-notes.md` section 6, bit-serial. It exists so the span
//! compiles and its tests run while the real codec is written in parallel with the same
//! API.
//!
//! ```text
//!  Decoder: hunting ──flag──▶ in frame ──flag──▶ check length/octets/FCS ──▶ on_frame
//!              ▲                  │ seven 1s: abort
//!              └──────────────────┘
//!  Encoder: idle flags ──queued frame──▶ octets LSB first, 0 after five 1s ──▶ flag
//! ```

use std::collections::VecDeque;

const FCS: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC);
/// Octets before the FCS: at least address + control, at most N201 + 4.
const MIN_OCTETS: usize = 3;
const MAX_OCTETS: usize = 264;
/// Stop storing a little beyond the longest valid frame plus its FCS.
const MAX_BITS: usize = (MAX_OCTETS + 2 + 1) * 8 + 8;

/// Frames discarded and delivered, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub good: u64,
    pub bad_fcs: u64,
    pub aborted: u64,
    pub too_short: u64,
    pub too_long: u64,
    pub non_octet: u64,
}

/// Bit-serial HDLC receiver.
#[derive(Debug, Default)]
pub struct Decoder {
    hunting: bool,
    ones: u32,
    buf: Vec<u8>,
    nbits: usize,
    overflow: bool,
    counters: Counters,
}

impl Decoder {
    /// A decoder waiting for the first flag.
    pub fn new() -> Self {
        Decoder {
            hunting: true,
            ..Decoder::default()
        }
    }

    /// Feed line bits: each byte carries 8 D-channel bits, most significant first. Calls
    /// `on_frame` with each good frame, FCS removed.
    pub fn decode(&mut self, bits: &[u8], mut on_frame: impl FnMut(&[u8])) {
        for &byte in bits {
            for i in (0..8).rev() {
                self.bit((byte >> i) & 1, &mut on_frame);
            }
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn bit(&mut self, b: u8, on_frame: &mut impl FnMut(&[u8])) {
        if b == 1 {
            self.ones += 1;
            if self.ones == 7 {
                if !self.hunting && self.nbits > 6 {
                    self.counters.aborted += 1;
                }
                self.hunting = true;
                self.clear();
            } else if self.ones < 6 {
                self.store(1);
            }
        } else {
            match self.ones {
                6 => self.flag(on_frame),
                5 => {} // a stuffed zero
                n if n >= 7 => {}
                _ => self.store(0),
            }
            self.ones = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.nbits = 0;
        self.overflow = false;
    }

    fn store(&mut self, b: u8) {
        if self.hunting {
            return;
        }
        if self.nbits >= MAX_BITS {
            self.overflow = true;
            return;
        }
        if self.nbits.is_multiple_of(8) {
            self.buf.push(0);
        }
        if let Some(last) = self.buf.last_mut() {
            *last |= b << (self.nbits % 8);
        }
        self.nbits += 1;
    }

    fn flag(&mut self, on_frame: &mut impl FnMut(&[u8])) {
        if !self.hunting {
            // The flag's leading 0 and first five 1s were stored.
            let bits = self.nbits.saturating_sub(6);
            if self.overflow {
                self.counters.too_long += 1;
            } else if bits == 0 {
                // Idle flags.
            } else if !bits.is_multiple_of(8) {
                self.counters.non_octet += 1;
            } else {
                let octets = bits / 8;
                let frame = self.buf.get(..octets).unwrap_or(&[]);
                if octets < MIN_OCTETS + 2 {
                    self.counters.too_short += 1;
                } else if octets > MAX_OCTETS + 2 {
                    self.counters.too_long += 1;
                } else {
                    let (body, fcs) = frame.split_at(octets - 2);
                    let want = FCS.checksum(body).to_le_bytes();
                    if fcs == want {
                        self.counters.good += 1;
                        on_frame(body);
                    } else {
                        self.counters.bad_fcs += 1;
                    }
                }
            }
        }
        self.hunting = false;
        self.clear();
    }
}

/// Bit-serial HDLC transmitter.
#[derive(Debug, Default)]
pub struct Encoder {
    queue: VecDeque<Vec<u8>>,
    /// The frame being sent (with FCS) and the next bit index in it.
    current: Option<(Vec<u8>, usize)>,
    ones: u32,
    stuff_pending: bool,
    flag_left: u32,
    flag_sent: bool,
}

impl Encoder {
    /// An idle encoder (it sends flags).
    pub fn new() -> Self {
        Encoder::default()
    }

    /// Queue a frame (address..information); the FCS is added.
    pub fn push_frame(&mut self, frame: &[u8]) {
        let mut f = frame.to_vec();
        f.extend_from_slice(&FCS.checksum(frame).to_le_bytes());
        self.queue.push_back(f);
    }

    /// Fill `out` with line bits (each byte 8 bits MSB first): queued frames, flags when
    /// idle.
    pub fn fill(&mut self, out: &mut [u8]) {
        for o in out {
            let mut byte = 0;
            for _ in 0..8 {
                byte = (byte << 1) | self.next_bit();
            }
            *o = byte;
        }
    }

    /// Nothing queued or in progress.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.current.is_none() && !self.stuff_pending
    }

    fn next_bit(&mut self) -> u8 {
        if self.stuff_pending {
            self.stuff_pending = false;
            self.ones = 0;
            return 0;
        }
        if self.flag_left > 0 {
            self.flag_left -= 1;
            if self.flag_left == 0 {
                self.flag_sent = true;
            }
            return (0x7E >> self.flag_left) & 1;
        }
        if self.current.is_none() && self.flag_sent {
            self.current = self.queue.pop_front().map(|f| (f, 0));
            self.ones = 0;
        }
        if let Some((frame, idx)) = &mut self.current {
            if let Some(&octet) = frame.get(*idx / 8) {
                let b = (octet >> (*idx % 8)) & 1;
                *idx += 1;
                self.flag_sent = false;
                if b == 1 {
                    self.ones += 1;
                    if self.ones == 5 {
                        self.stuff_pending = true;
                    }
                } else {
                    self.ones = 0;
                }
                return b;
            }
            self.current = None;
        }
        // Closing flag, or idle fill.
        self.ones = 0;
        self.flag_left = 7;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_sabme_decodes_back() {
        let mut enc = Encoder::new();
        enc.push_frame(&[0x00, 0x01, 0x7F]);
        let mut bits = [0u8; 16];
        enc.fill(&mut bits);
        assert!(enc.is_idle());
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        dec.decode(&bits, |f| got.push(f.to_vec()));
        assert_eq!(got, vec![vec![0x00, 0x01, 0x7F]]);
    }

    #[test]
    fn encoder_flag_aligned_ua_matches_notes_vector() {
        let mut enc = Encoder::new();
        // One idle flag first, then the frame right behind it.
        let mut first = [0u8; 1];
        enc.fill(&mut first);
        assert_eq!(first, [0x7E]);
        enc.push_frame(&[0x00, 0x01, 0x73]);
        let mut bits = [0u8; 7];
        enc.fill(&mut bits);
        assert_eq!(bits, [0x00, 0x80, 0xCE, 0x10, 0x79, 0x7E, 0x7E]);
    }

    #[test]
    fn decoder_all_ones_and_short_frames_are_counted() {
        let mut dec = Decoder::new();
        // flag, 2 octets + garbage, flag.
        dec.decode(&[0x7E, 0x00, 0x80, 0x7E], |_| panic!("no frame"));
        assert_eq!(dec.counters().too_short, 1);
        dec.decode(&[0xFF; 4], |_| {});
        dec.decode(&[0x7E, 0x00, 0x80, 0xCE, 0x10, 0x79, 0xFF, 0xFF], |_| {});
        assert_eq!(dec.counters().aborted, 1);
    }
}
