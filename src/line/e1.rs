//! E1 framing with and without the CRC-4 multiframe: contract `spec/line-format.md`
//! section 3, search procedure of G.706 in `t1-e1-hdlc-notes.md` section 4.
//!
//! A frame is 32 timeslots (256 bits). TS0 alternates between the frame alignment signal
//! (FAS, bits 2..8 = 0011011) and NFAS (bit 2 = 1, bit 3 = A, bits 4..8 = Sa4..Sa8 = 1).
//! Bit 1 (Si) of TS0 carries, with CRC-4, C1..C4 in the FAS frames and MFAS 001011 then
//! E1, E2 in the NFAS frames of the 16-frame multiframe; without CRC-4 it is 1.
//!
//! ```text
//!              FAS at s, NFAS bit 2 = 1 at s+256,        (CRC-4 only)
//!              FAS again at s+512                        two MFAS 16n frames apart
//!  ┌─────────┐ ───────────────────▶ ┌─────────────┐ ──────────────────▶ ┌──────────────┐
//!  │ Hunting │                      │ Basic frame │                     │ Multiframe   │
//!  └─────────┘ ◀─────────────────── └─────────────┘ ◀── 3 bad FAS ────── └──────────────┘
//!       ▲        3 consecutive bad FAS, or no         │
//!       │        MFAS pair within 8 ms (a mimic)      │
//!       └─────────────────────────────────────────────┘
//! ```
//!
//! "Aligned" ([`Indication::Alignment`], [`Receiver::is_aligned`]) is basic frame
//! alignment without CRC-4, and basic plus multiframe alignment with it: on random data
//! the G.706 basic search finds a mimic every few tens of milliseconds, and reporting
//! those would keep resetting the red-alarm integration. The CRC-4 checks and the E bits
//! run once the multiframe is found. After a slip, the multiframe phase predicted from
//! the previous alignment is accepted on the first MFAS that falls where predicted
//! (instead of waiting for a second one), so realignment stays within two multiframes. A received errored sub-multiframe is
//! reported back to the far end by the [`Transmitter`] as an E bit of 0 (G.704 2.3.3.4);
//! the span feeds the receiver's CRC error count into [`Transmitter::report_errored_blocks`].
//! The G.706 "915 errored blocks in 1000" false-framing rule is not implemented.

use std::collections::VecDeque;

use super::RxBits;
use super::alarm::Indication;
use super::crc::{Crc4, Crc4Ring};

/// Bits in an E1 frame.
pub const FRAME_BITS: u64 = 256;
/// FAS bits 2..8 as the low 7 bits of TS0.
const FAS: u8 = 0x1B;
/// MFAS bits of NFAS frames 1, 3, .., 11.
const MFAS: u8 = 0b001011;
/// Frames to find the multiframe in before the basic alignment counts as a mimic (8 ms).
const MF_SEARCH_FRAMES: u32 = 64;

/// One received, aligned frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Frame number in the multiframe, 0..15 (only meaningful once the CRC-4
    /// multiframe is found; even numbers are FAS frames).
    pub number: u8,
    /// TS0..TS31.
    pub timeslots: [u8; 32],
}

/// Receive-side counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Aligned frames delivered.
    pub frames: u64,
    /// FAS words in error while in frame.
    pub framing_bit_errors: u64,
    /// Sub-multiframes whose CRC-4 did not match the C bits of the next one.
    pub crc_errors: u64,
    /// Sub-multiframes whose CRC-4 was checked.
    pub crc_checked: u64,
    /// E bits received at 0: the far end saw one of our sub-multiframes errored.
    pub far_end_block_errors: u64,
    /// Realignments that landed on a different bit position than the previous one.
    pub slips: u64,
    /// Losses of reported frame alignment (3 bad FAS).
    pub oof: u64,
    /// Basic alignments dropped because no CRC-4 multiframe followed within 8 ms.
    pub mimics: u64,
}

/// Builds E1 frames: TS0 from the framer, TS1..TS31 from the caller.
#[derive(Clone, Debug)]
pub struct Transmitter {
    crc4: bool,
    /// Frame number in the multiframe, 0..15.
    frame: u8,
    crc: Crc4,
    /// CRC-4 of the previous sub-multiframe, sent in this one.
    c_bits: u8,
    rai: bool,
    /// Received errored sub-multiframes not yet reported in an E bit.
    pending_errors: u64,
}

impl Transmitter {
    /// A transmitter starting at frame 0 of a multiframe.
    pub fn new(crc4: bool) -> Self {
        Transmitter {
            crc4,
            frame: 0,
            crc: Crc4::new(),
            c_bits: 0,
            rai: false,
            pending_errors: 0,
        }
    }

    /// Send the remote alarm (A bit = 1) while `on`.
    pub fn set_rai(&mut self, on: bool) {
        self.rai = on;
    }

    /// Report `n` more received errored sub-multiframes; each clears one E bit.
    /// At most a multiframe's worth (2) is kept: E bits report recent blocks.
    pub fn report_errored_blocks(&mut self, n: u64) {
        self.pending_errors = (self.pending_errors + n).min(2);
    }

    /// Append one frame to `out`. `timeslots[0]` is ignored: TS0 belongs to the framer.
    pub fn push_frame(&mut self, timeslots: &[u8; 32], out: &mut Vec<u8>) {
        let n = self.frame;
        let si = if !self.crc4 {
            1
        } else if n.is_multiple_of(2) {
            // FAS frames 0, 2, 4, 6 (and 8..14) carry C1..C4.
            (self.c_bits >> (3 - (n % 8) / 2)) & 1
        } else if n < 12 {
            (MFAS >> (5 - n / 2)) & 1
        } else if self.pending_errors > 0 {
            self.pending_errors -= 1;
            0
        } else {
            1
        };
        let ts0 = if n.is_multiple_of(2) {
            (si << 7) | FAS
        } else {
            (si << 7) | 0x40 | (u8::from(self.rai) << 5) | 0x1F
        };
        let start = out.len();
        out.push(ts0);
        out.extend_from_slice(&timeslots[1..]);
        if self.crc4 {
            // The block is the sub-multiframe with its C bits taken as 0.
            let masked = if n.is_multiple_of(2) { ts0 & 0x7F } else { ts0 };
            self.crc.update(&[masked]);
            self.crc.update(out.get(start + 1..).unwrap_or(&[]));
            if n % 8 == 7 {
                self.c_bits = self.crc.value();
                self.crc = Crc4::new();
            }
        }
        self.frame = (n + 1) % 16;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Hunting,
    Aligned,
}

/// Finds and follows E1 frame and CRC-4 multiframe alignment.
#[derive(Debug)]
pub struct Receiver {
    crc4: bool,
    bits: RxBits,
    state: State,
    counters: Counters,
    indications: VecDeque<Indication>,
    last_at: u64,

    // Hunting.
    hunt_pos: u64,
    /// The last seven bits seen by the hunt.
    window: u8,
    last_offset: Option<u64>,
    ones_run: u64,
    ais: bool,
    ais_window_bits: u64,
    ais_window_zeros: u64,

    // Basic frame alignment.
    /// Start of the next frame.
    pos: u64,
    /// Where the current alignment was found: a mimic restarts the hunt just after it.
    locked_at: u64,
    /// Number of the next frame in the multiframe (arbitrary phase until it is found;
    /// even = FAS either way).
    frame: u8,
    bad_fas: u8,
    a_votes: u8,
    rai: bool,

    // CRC-4 multiframe.
    mf_aligned: bool,
    frames_since_lock: u32,
    mfas_reg: u8,
    last_mfas: Option<u32>,
    crc: Crc4Ring,
    c_bits: u8,
    expected_crc: Option<u8>,
    /// Alignment as reported in indications (see the module docs).
    reported: bool,
    /// Stream bit of a multiframe's frame 0 under the last multiframe alignment: after a
    /// slip the new phase is predicted from it.
    mf_origin: Option<u64>,
    /// The current sub-multiframe was followed from its first frame (the one in which
    /// the multiframe is found is not).
    smf_complete: bool,
}

impl Receiver {
    /// A receiver hunting from the first bit; `crc4` selects the CRC-4 multiframe.
    pub fn new(crc4: bool) -> Self {
        Receiver {
            crc4,
            bits: RxBits::default(),
            state: State::Hunting,
            counters: Counters::default(),
            indications: VecDeque::new(),
            last_at: 0,
            hunt_pos: 0,
            window: 0x7F,
            last_offset: None,
            ones_run: 0,
            ais: false,
            ais_window_bits: 0,
            ais_window_zeros: 0,
            pos: 0,
            locked_at: 0,
            frame: 0,
            bad_fas: 0,
            a_votes: 0,
            rai: false,
            mf_aligned: false,
            frames_since_lock: 0,
            mfas_reg: 0,
            last_mfas: None,
            crc: Crc4Ring::new(),
            c_bits: 0,
            expected_crc: None,
            smf_complete: false,
            reported: false,
            mf_origin: None,
        }
    }

    /// Whether the receiver is in frame: basic alignment, and with CRC-4 also the
    /// multiframe.
    pub fn is_aligned(&self) -> bool {
        self.state == State::Aligned && (!self.crc4 || self.mf_aligned)
    }

    /// Whether basic frame alignment (FAS/NFAS) is held.
    pub fn is_basic_aligned(&self) -> bool {
        self.state == State::Aligned
    }

    /// Whether the CRC-4 multiframe is found.
    pub fn is_multiframe_aligned(&self) -> bool {
        self.state == State::Aligned && self.mf_aligned
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Stream bits received so far.
    pub fn bits_received(&self) -> u64 {
        self.bits.end()
    }

    /// The next alarm-relevant observation, oldest first.
    pub fn poll_indication(&mut self) -> Option<Indication> {
        self.indications.pop_front()
    }

    /// The stream was interrupted: drop alignment and hunt on what comes next.
    pub fn reset(&mut self) {
        let at = self.bits.end();
        if self.state == State::Aligned {
            self.lose_alignment(at, at);
        }
        self.mf_origin = None;
        self.hunt_pos = at;
        // Ones, not zeros: FAS starts with 0s, so a window not yet refilled with seven
        // real bits cannot match.
        self.window = 0x7F;
    }

    /// Take line bytes; `on_frame` is called for every aligned frame, in order.
    pub fn handle_rx(&mut self, bytes: &[u8], mut on_frame: impl FnMut(&Frame)) {
        self.bits.extend(bytes);
        loop {
            let progressed = match self.state {
                State::Hunting => self.hunt(),
                State::Aligned => self.follow(&mut on_frame),
            };
            if !progressed {
                break;
            }
        }
        let keep = match self.state {
            State::Hunting => self.hunt_pos,
            State::Aligned => self.pos,
        };
        self.bits
            .discard_before(keep.saturating_sub(8 * FRAME_BITS));
    }

    fn indicate(&mut self, mut ind: Indication) {
        let at = match &mut ind {
            Indication::Alignment { at_bit, .. }
            | Indication::Ais { at_bit, .. }
            | Indication::Rai { at_bit, .. } => at_bit,
        };
        *at = (*at).max(self.last_at);
        self.last_at = *at;
        self.indications.push_back(ind);
    }

    /// G.706 basic frame search. Each bit is examined once the two frames after it are
    /// in, so the NFAS and second FAS checks are direct reads. Returns true on lock.
    fn hunt(&mut self) -> bool {
        let end = self.bits.end();
        while self.hunt_pos + 2 * FRAME_BITS + 8 <= end {
            let g = self.hunt_pos;
            let b = self.bits.bit(g);
            self.hunt_pos += 1;
            self.watch_ais(g, b);
            self.window = ((self.window << 1) | b) & 0x7F;
            if self.window != FAS {
                continue;
            }
            // FAS bits 2..8 end at g, so TS0 (and the frame) starts 7 bits earlier.
            let Some(s) = g.checked_sub(7) else {
                continue;
            };
            if s < self.bits.start() {
                continue;
            }
            let nfas_bit2 = self.bits.bit(s + FRAME_BITS + 1);
            let fas2 = self.bits.byte_at(s + 2 * FRAME_BITS) & 0x7F;
            if nfas_bit2 == 1 && fas2 == FAS {
                self.lock(s);
                return true;
            }
        }
        false
    }

    fn watch_ais(&mut self, g: u64, b: u8) {
        if b == 1 {
            self.ones_run += 1;
            if self.ones_run >= FRAME_BITS && !self.ais {
                self.ais = true;
                self.indicate(Indication::Ais {
                    active: true,
                    at_bit: g + 1,
                });
            }
        } else {
            self.ones_run = 0;
            self.ais_window_zeros += 1;
        }
        self.ais_window_bits += 1;
        if self.ais_window_bits == 2 * FRAME_BITS {
            if self.ais && self.ais_window_zeros > 2 {
                self.ais = false;
                self.indicate(Indication::Ais {
                    active: false,
                    at_bit: g + 1,
                });
            }
            self.ais_window_bits = 0;
            self.ais_window_zeros = 0;
        }
    }

    fn lock(&mut self, s: u64) {
        let offset = s % FRAME_BITS;
        if self.last_offset.is_some_and(|o| o != offset) {
            self.counters.slips += 1;
        }
        self.last_offset = Some(offset);
        self.state = State::Aligned;
        self.pos = s;
        self.locked_at = s;
        self.frame = 0;
        self.bad_fas = 0;
        self.mf_aligned = false;
        self.frames_since_lock = 0;
        self.mfas_reg = 0;
        self.last_mfas = None;
        self.crc = Crc4Ring::new();
        self.c_bits = 0;
        self.expected_crc = None;
        let at = s + 2 * FRAME_BITS + 8;
        if self.ais {
            self.ais = false;
            self.indicate(Indication::Ais {
                active: false,
                at_bit: at,
            });
        }
        if !self.crc4 {
            self.report(true, at);
        }
    }

    fn report(&mut self, aligned: bool, at: u64) {
        if self.reported != aligned {
            self.reported = aligned;
            if !aligned {
                self.counters.oof += 1;
            }
            self.indicate(Indication::Alignment {
                aligned,
                at_bit: at,
            });
        }
    }

    fn lose_alignment(&mut self, at: u64, restart: u64) {
        self.state = State::Hunting;
        self.mf_aligned = false;
        self.report(false, at);
        self.hunt_pos = restart.max(self.bits.start());
        // Ones, not zeros: FAS starts with 0s, so a window not yet refilled with seven
        // real bits cannot match.
        self.window = 0x7F;
        self.ones_run = 0;
        self.ais_window_bits = 0;
        self.ais_window_zeros = 0;
        self.a_votes = 0;
    }

    /// Deliver aligned frames while whole frames are in. Returns true if alignment was
    /// lost (the caller hunts), false when the bits run out.
    fn follow(&mut self, on_frame: &mut impl FnMut(&Frame)) -> bool {
        let end = self.bits.end();
        while self.pos + FRAME_BITS <= end {
            let s = self.pos;
            let w = frame_words(&self.bits, s);
            let mut frame = Frame {
                number: self.frame,
                timeslots: [0; 32],
            };
            for (k, word) in w.iter().enumerate() {
                frame.timeslots[k * 8..k * 8 + 8].copy_from_slice(&word.to_be_bytes());
            }
            let ts0 = frame.timeslots[0];
            let n = self.frame;
            let si = ts0 >> 7;
            if n.is_multiple_of(2) {
                if ts0 & 0x7F == FAS {
                    self.bad_fas = 0;
                } else {
                    self.counters.framing_bit_errors += 1;
                    self.bad_fas += 1;
                    if self.bad_fas >= 3 {
                        // The slip is at most five frames back: search from there so the
                        // new position is found without waiting for fresh frames.
                        self.lose_alignment(s + 8, s.saturating_sub(5 * FRAME_BITS));
                        return true;
                    }
                }
            } else {
                // A mimic's A bits mean nothing: only a reported alignment votes.
                if self.reported {
                    let a = (ts0 >> 5) & 1 == 1;
                    self.vote_rai(a, s + FRAME_BITS);
                }
            }
            if self.crc4 {
                if self.mf_aligned {
                    self.multiframe(n, si, w);
                } else if n % 2 == 1 {
                    self.mfas_reg = ((self.mfas_reg << 1) | si) & 0x3F;
                    if self.mfas_reg == MFAS {
                        let at = self.frames_since_lock;
                        let predicted = self.mf_origin.is_some_and(|o| {
                            let d = (s as i128 - o as i128).rem_euclid(16 * FRAME_BITS as i128);
                            (d + FRAME_BITS as i128 / 2) / FRAME_BITS as i128 % 16 == 11
                        });
                        if predicted || self.last_mfas.is_some_and(|p| (at - p).is_multiple_of(16))
                        {
                            // This is NFAS frame 11 of the multiframe.
                            self.mf_aligned = true;
                            self.smf_complete = false;
                            self.crc = Crc4Ring::new();
                            self.frame = 11;
                            frame.number = 11;
                            self.mf_origin = Some(s.saturating_sub(11 * FRAME_BITS));
                            self.report(true, s + FRAME_BITS);
                        }
                        self.last_mfas = Some(at);
                    }
                }
            }
            self.counters.frames += 1;
            on_frame(&frame);
            self.pos += FRAME_BITS;
            self.frame = (self.frame + 1) % 16;
            self.frames_since_lock = self.frames_since_lock.saturating_add(1);
            if self.crc4 && !self.mf_aligned && self.frames_since_lock >= MF_SEARCH_FRAMES {
                // No multiframe within 8 ms: the basic alignment was a mimic. Search
                // on from the next bit: the window must not re-read the same FAS, so it
                // starts one bit past its first bit.
                let restart = self.locked_at + 2;
                self.counters.mimics += 1;
                self.mf_origin = None;
                self.lose_alignment(self.pos, restart);
                return true;
            }
        }
        false
    }

    /// CRC-4 check and E bits for frame `n` of an aligned multiframe.
    #[inline(always)]
    fn multiframe(&mut self, n: u8, si: u8, w: [u64; 4]) {
        let first = if n.is_multiple_of(2) {
            w[0] & !(1 << 63)
        } else {
            w[0]
        };
        self.crc.update_e1_frame([first, w[1], w[2], w[3]]);
        if n.is_multiple_of(2) {
            self.c_bits = (self.c_bits << 1) | si;
        } else if n >= 13 && si == 0 {
            self.counters.far_end_block_errors += 1;
        }
        if n % 8 == 7 {
            if let Some(expected) = self.expected_crc {
                self.counters.crc_checked += 1;
                if expected != self.c_bits & 0xF {
                    self.counters.crc_errors += 1;
                }
            }
            self.expected_crc = self.smf_complete.then(|| self.crc.value());
            self.smf_complete = true;
            self.crc = Crc4Ring::new();
            self.c_bits = 0;
        }
    }

    /// Three NFAS words in a row must agree before RAI changes state.
    fn vote_rai(&mut self, a: bool, at: u64) {
        if a == self.rai {
            self.a_votes = 0;
            return;
        }
        self.a_votes += 1;
        if self.a_votes >= 3 {
            self.a_votes = 0;
            self.rai = a;
            self.indicate(Indication::Rai {
                active: a,
                at_bit: at,
            });
        }
    }
}

/// The four 64-bit words of the frame starting at `pos`: five big-endian loads,
/// shifted into place.
#[inline(always)]
fn frame_words(bits: &RxBits, pos: u64) -> [u64; 4] {
    let (l, sh) = bits.loads::<5>(pos);
    let join = |a: u64, b: u64| (a << sh) | ((b >> 1) >> (63 - sh));
    [
        join(l[0], l[1]),
        join(l[1], l[2]),
        join(l[2], l[3]),
        join(l[3], l[4]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(f: u64) -> [u8; 32] {
        let mut ts = [0u8; 32];
        for (n, t) in ts.iter_mut().enumerate() {
            *t = (f.wrapping_mul(29) as u8) ^ (n as u8).wrapping_mul(71) ^ 0x3C;
        }
        ts
    }

    fn stream(crc4: bool, frames: u64) -> Vec<u8> {
        let mut tx = Transmitter::new(crc4);
        let mut out = Vec::new();
        for f in 0..frames {
            tx.push_frame(&payload(f), &mut out);
        }
        out
    }

    fn receive(crc4: bool, bytes: &[u8]) -> (Receiver, Vec<Frame>) {
        let mut rx = Receiver::new(crc4);
        let mut frames = Vec::new();
        rx.handle_rx(bytes, |f| frames.push(*f));
        (rx, frames)
    }

    #[test]
    fn transmitter_crc4_ts0_follows_fas_nfas_and_mfas() {
        let bytes = stream(true, 16);
        let ts0: Vec<u8> = (0..16).map(|f| bytes[f * 32]).collect();
        for (f, t) in ts0.iter().enumerate() {
            if f % 2 == 0 {
                assert_eq!(t & 0x7F, FAS);
            } else {
                assert_eq!(t & 0x7F, 0x5F);
            }
        }
        let mfas: Vec<u8> = (0..6).map(|k| ts0[2 * k + 1] >> 7).collect();
        assert_eq!(mfas, [0, 0, 1, 0, 1, 1]);
        // No errors reported: E bits 1.
        assert_eq!(ts0[13] >> 7, 1);
        assert_eq!(ts0[15] >> 7, 1);
    }

    #[test]
    fn transmitter_no_crc4_si_is_one() {
        let bytes = stream(false, 4);
        assert_eq!([bytes[0], bytes[32], bytes[64]], [0x9B, 0xDF, 0x9B]);
    }

    #[test]
    fn hunting_crc4_stream_locks_and_finds_multiframe() {
        let (rx, frames) = receive(true, &stream(true, 16 * 8));
        assert!(rx.is_multiframe_aligned());
        assert_eq!(frames[0].timeslots[1..], payload(0)[1..]);
        assert!(rx.counters().crc_checked > 4);
        assert_eq!(rx.counters().crc_errors, 0);
        assert_eq!(rx.counters().far_end_block_errors, 0);
    }

    #[test]
    fn aligned_crc4_one_payload_bit_flipped_counts_one_crc_error() {
        let mut bytes = stream(true, 16 * 8);
        bytes[16 * 5 * 32 + 100] ^= 0x10;
        let (rx, _) = receive(true, &bytes);
        assert_eq!(rx.counters().crc_errors, 1);
    }

    #[test]
    fn aligned_crc4_errored_blocks_reported_come_back_as_e_bits() {
        let mut tx = Transmitter::new(true);
        let mut out = Vec::new();
        for f in 0..16 * 6 {
            if f == 16 * 4 {
                tx.report_errored_blocks(1);
            }
            tx.push_frame(&payload(f), &mut out);
        }
        let (rx, _) = receive(true, &out);
        assert_eq!(rx.counters().far_end_block_errors, 1);
    }

    #[test]
    fn aligned_three_bad_fas_loses_alignment() {
        let mut bytes = stream(false, 40);
        for f in [20, 22, 24] {
            bytes[f * 32] ^= 0x01;
        }
        let (rx, _) = receive(false, &bytes);
        assert_eq!(rx.counters().oof, 1);
        assert_eq!(rx.counters().framing_bit_errors, 3);
        assert!(rx.is_aligned(), "re-found the unchanged position");
    }

    #[test]
    fn aligned_a_bit_is_rai() {
        let mut tx = Transmitter::new(false);
        tx.set_rai(true);
        let mut out = Vec::new();
        for f in 0..20 {
            tx.push_frame(&payload(f), &mut out);
        }
        let (mut rx, _) = receive(false, &out);
        let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
        assert!(
            inds.iter()
                .any(|i| matches!(i, Indication::Rai { active: true, .. }))
        );
    }

    #[test]
    fn basic_aligned_without_multiframe_is_a_mimic() {
        // The far end sends no CRC-4 but we expect it: after 8 ms the alignment is dropped.
        let (rx, _) = receive(true, &stream(false, 100));
        assert!(rx.counters().mimics >= 1);
        assert_eq!(rx.counters().oof, 0, "never reported aligned");
        assert!(!rx.is_aligned());
    }

    #[test]
    fn hunting_all_ones_is_ais() {
        let (mut rx, _) = receive(true, &[0xFF; 200]);
        assert_eq!(
            rx.poll_indication(),
            Some(Indication::Ais {
                active: true,
                at_bit: 256
            })
        );
    }
}
