//! T1 framing, ESF and SF (D4): contract `spec/line-format.md` section 2, algorithms in
//! `t1-e1-hdlc-notes.md` sections 2, 3 and 5.
//!
//! A frame is the F bit and 24 timeslots (193 bits); frames are not byte aligned, so the
//! [`Transmitter`] keeps a bit accumulator and the [`Receiver`] reads 64-bit windows at
//! any bit offset.
//!
//! ```text
//!               24 FPS bits, then the CRC-6 of the previous superframe matches (ESF)
//!               48 Ft/Fs bits (SF)
//!               within 6 superframes of an OOF and 8 bits of the old offset: half of that
//!   ┌─────────┐ ─────────────────────────────────────────────────────────────▶ ┌─────────┐
//!   │ Hunting │                                                                 │ Aligned │
//!   └─────────┘ ◀───────────────────────────────────────────────────────────── └─────────┘
//!    193 shift registers,   2 errors in 4 consecutive FPS (ESF) or Ft (SF) bits: OOF;
//!    one per bit position   re-hunt from one superframe before the last clean F bit
//! ```
//!
//! The shortened pattern after an OOF is what keeps a small slip's realignment within
//! the two superframes after the one it hit: 12 FPS bits plus a CRC-6 near the old
//! offset (17 offsets) are about as unlikely to mimic as 24 FPS bits plus a CRC-6 over
//! all 193. A realignment onto a new bit position counts a slip.
//!
//! ESF frame n (1..24): n = 4k carries the FPS 0 0 1 0 1 1, n = 4k + 2 carries C1..C6
//! (CRC-6 of the previous superframe with every F bit taken as 1), odd frames carry the
//! FDL (all ones idle, `FF 00` repeating for RAI). SF frame n (1..12): odd frames Ft =
//! 1 0 1 0 1 0, even frames Fs = 0 0 1 1 1 0; RAI is bit 2 of every timeslot at 0.
//!
//! While hunting, the receiver goes bit by bit (O(1) per bit, the register trick of the
//! notes); that only runs until lock. In frame, each frame costs four big-endian 64-bit
//! loads shifted into place, a CRC-6 fold of the three timeslot words in which only one
//! lookup depends on the running CRC ([`Crc6::update_t1_frame`]), and a few F-bit tests.

use std::collections::VecDeque;

use super::alarm::Indication;
use super::crc::{Crc6, Crc6Ring};
use super::{RxBits, T1Framing};

/// Bits in a T1 frame.
pub const FRAME_BITS: u64 = 193;
/// Bits in an ESF superframe (24 frames, exactly 579 bytes).
const ESF_BITS: u64 = 24 * FRAME_BITS;

/// FPS bits of frames 4, 8, .., 24.
const FPS: [u8; 6] = [0, 0, 1, 0, 1, 1];
/// Ft bits of frames 1, 3, .., 11.
const FT: [u8; 6] = [1, 0, 1, 0, 1, 0];
/// Fs bits of frames 2, 4, .., 12.
const FS: [u8; 6] = [0, 0, 1, 1, 1, 0];

/// One received, aligned frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Frame number in the superframe: 1..24 (ESF) or 1..12 (SF).
    pub number: u8,
    /// TS1..TS24 at indices 0..23.
    pub timeslots: [u8; 24],
}

/// Receive-side counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Aligned frames delivered.
    pub frames: u64,
    /// Wrong FPS (ESF) or Ft/Fs (SF) bits while in frame.
    pub framing_bit_errors: u64,
    /// Superframes whose CRC-6 did not match the C bits of the next one (ESF).
    pub crc_errors: u64,
    /// Superframes whose CRC-6 was checked.
    pub crc_checked: u64,
    /// Realignments that landed on a different bit position than the previous alignment.
    pub slips: u64,
    /// Losses of frame alignment.
    pub oof: u64,
}

/// Packs frames into the line byte stream, MSB first, 193 bits per frame.
#[derive(Clone, Debug)]
pub struct Transmitter {
    format: T1Framing,
    /// Next frame number, 1-based.
    frame: u8,
    crc: Crc6,
    /// CRC-6 of the previous superframe, sent in this one.
    c_bits: u8,
    rai: bool,
    /// Position in the 16-bit yellow pattern of the FDL.
    fdl_phase: u8,
    /// Bits not yet making a whole byte, top-aligned, and how many.
    acc: u8,
    acc_bits: u32,
}

impl Transmitter {
    /// A transmitter that starts with frame 1 of a superframe.
    pub fn new(format: T1Framing) -> Self {
        Transmitter {
            format,
            frame: 1,
            crc: Crc6::new(),
            c_bits: 0,
            rai: false,
            fdl_phase: 0,
            acc: 0,
            acc_bits: 0,
        }
    }

    /// Send the remote alarm indication (yellow) while `on`.
    pub fn set_rai(&mut self, on: bool) {
        self.rai = on;
    }

    /// Append one frame carrying `timeslots` (TS1..TS24) to `out`. Whole bytes only are
    /// written; the remaining 1..7 bits wait for the next frame (8 frames = 193 bytes).
    pub fn push_frame(&mut self, timeslots: &[u8; 24], out: &mut Vec<u8>) {
        let n = self.frame;
        let mut ts = *timeslots;
        let f = match self.format {
            T1Framing::Esf => {
                let f = match n % 4 {
                    0 => FPS[(n / 4 - 1) as usize],
                    2 => (self.c_bits >> (5 - (n - 2) / 4)) & 1,
                    _ => {
                        let bit = if self.rai {
                            u8::from(self.fdl_phase < 8)
                        } else {
                            1
                        };
                        self.fdl_phase = (self.fdl_phase + 1) % 16;
                        bit
                    }
                };
                // The CRC covers the superframe with every F bit taken as 1.
                self.crc.update_t1_frame(words(&ts));
                if n == 24 {
                    self.c_bits = self.crc.value();
                    self.crc = Crc6::new();
                }
                f
            }
            T1Framing::Sf => {
                if self.rai {
                    for t in &mut ts {
                        *t &= 0xBF;
                    }
                }
                if n % 2 == 1 {
                    FT[(n / 2) as usize]
                } else {
                    FS[(n / 2 - 1) as usize]
                }
            }
        };
        self.frame = if n == self.frames_per_superframe() {
            1
        } else {
            n + 1
        };
        // Pack F and the 24 octets behind the 0..7 bits already pending, in a local
        // buffer so the Vec sees one append.
        let sh = self.acc_bits;
        let mut buf = [0u8; 25];
        let mut acc = self.acc | ((f & 1) << (7 - sh));
        if sh == 7 {
            // F completed a byte: the octets follow byte aligned.
            buf[0] = acc;
            buf[1..].copy_from_slice(&ts);
            out.extend_from_slice(&buf);
            self.acc = 0;
            self.acc_bits = 0;
            return;
        }
        let sh = sh + 1;
        for (o, &b) in buf.iter_mut().zip(&ts) {
            *o = acc | (b >> sh);
            acc = b << (8 - sh);
        }
        out.extend_from_slice(&buf[..24]);
        self.acc = acc;
        self.acc_bits = sh;
    }

    fn frames_per_superframe(&self) -> u8 {
        match self.format {
            T1Framing::Esf => 24,
            T1Framing::Sf => 12,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Hunting,
    Aligned,
}

/// Finds and follows frame alignment, delivers frames, counts errors, detects RAI and AIS.
#[derive(Debug)]
pub struct Receiver {
    format: T1Framing,
    bits: RxBits,
    state: State,
    counters: Counters,
    indications: VecDeque<Indication>,
    /// Latest stream position reported, so indications never go backwards.
    last_at: u64,

    // Hunting.
    /// One register per bit position mod 193: the history of that position, newest in
    /// bit 0. Reset to all ones: both patterns start with a 0, so a register cannot
    /// match before it holds the whole pattern's worth of real bits.
    regs: Box<[u128; 193]>,
    /// Next stream bit to shift into a register.
    hunt_pos: u64,
    /// `hunt_pos % 193`.
    reg_index: usize,
    /// F position (mod 193) of the previous alignment, for slips and the quick re-hunt.
    last_offset: Option<u64>,
    /// Until this stream bit, a candidate near `last_offset` needs only half the pattern.
    near_until: u64,
    ones_run: u64,
    ais: bool,
    ais_window_bits: u64,
    ais_window_zeros: u64,

    // Aligned.
    /// F bit of the next frame.
    pos: u64,
    /// Number of the next frame, 1-based.
    frame: u8,
    crc: Crc6Ring,
    /// CRC-6 of the previous superframe, to compare with this one's C bits.
    expected_crc: Option<u8>,
    c_bits: u8,
    /// Last four FPS/Ft results, 1 = error, newest in bit 0.
    f_errors: u8,
    /// F bit of the last framing bit that was right with no error in the window: the
    /// slip, if any, came after it, so a re-hunt starts a superframe before it.
    good_until: u64,
    /// Last 32 FDL bits, newest in bit 0, and how many are valid.
    fdl: u32,
    fdl_count: u8,
    /// Frames of this superframe with bit 2 zero in every timeslot (SF RAI).
    sf_rai_frames: u8,
    /// Consecutive superframes agreeing with the opposite RAI state (hysteresis).
    rai_votes: u8,
    rai: bool,
}

impl Receiver {
    /// A receiver hunting for alignment from the first bit it is given.
    pub fn new(format: T1Framing) -> Self {
        Receiver {
            format,
            bits: RxBits::default(),
            state: State::Hunting,
            counters: Counters::default(),
            indications: VecDeque::new(),
            last_at: 0,
            regs: Box::new([u128::MAX; 193]),
            hunt_pos: 0,
            reg_index: 0,
            last_offset: None,
            near_until: 0,
            ones_run: 0,
            ais: false,
            ais_window_bits: 0,
            ais_window_zeros: 0,
            pos: 0,
            frame: 1,
            crc: Crc6Ring::new(),
            expected_crc: None,
            c_bits: 0,
            f_errors: 0,
            good_until: 0,
            fdl: 0,
            fdl_count: 0,
            sf_rai_frames: 0,
            rai_votes: 0,
            rai: false,
        }
    }

    /// Whether the receiver is in frame.
    pub fn is_aligned(&self) -> bool {
        self.state == State::Aligned
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

    /// The stream was interrupted (transport down): drop alignment and hunt afresh on
    /// whatever comes next.
    pub fn reset(&mut self) {
        let at = self.bits.end();
        if self.state == State::Aligned {
            self.lose_alignment(at, at);
        }
        self.hunt_pos = at;
        self.reg_index = (at % FRAME_BITS) as usize;
        self.regs.fill(u128::MAX);
    }

    /// Take line bytes; `on_frame` is called for every aligned frame, in order.
    pub fn handle_rx(&mut self, bytes: &[u8], mut on_frame: impl FnMut(&Frame)) {
        self.bits.extend(bytes);
        loop {
            match self.state {
                State::Hunting => {
                    if !self.hunt() {
                        break;
                    }
                }
                State::Aligned => {
                    if !self.follow(&mut on_frame) {
                        break;
                    }
                }
            }
        }
        // Keep five superframes behind the oldest position still needed: the CRC
        // confirmation looks two back and a re-hunt rewinds one.
        let keep = match self.state {
            State::Hunting => self.hunt_pos,
            State::Aligned => self.good_until.min(self.pos),
        };
        self.bits.discard_before(keep.saturating_sub(5 * ESF_BITS));
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

    /// Shift bits into the registers until a candidate is confirmed (returns true) or
    /// the bits run out (false).
    fn hunt(&mut self) -> bool {
        let (near_mask, near_value, full_mask, full_value, per_sf): (u128, u128, u128, u128, u64) =
            match self.format {
                // 12 / 24 FPS bits, one per nibble.
                T1Framing::Esf => (
                    0x1111_1111_1111,
                    0x0010_1100_1011,
                    0x1111_1111_1111_1111_1111_1111,
                    0x0010_1100_1011_0010_1100_1011,
                    24,
                ),
                // 24 / 48 F bits, every frame.
                T1Framing::Sf => (0xFF_FFFF, 0x8D_C8DC, 0xFFFF_FFFF_FFFF, 0x8DC8_DC8D_C8DC, 12),
            };
        let end = self.bits.end();
        while self.hunt_pos < end {
            let g = self.hunt_pos;
            let b = self.bits.bit(g);
            let r = &mut self.regs[self.reg_index];
            *r = (*r << 1) | u128::from(b);
            let reg = *r;
            self.hunt_pos += 1;
            self.reg_index += 1;
            if self.reg_index == FRAME_BITS as usize {
                self.reg_index = 0;
            }
            self.watch_ais(g, b);
            if reg & near_mask == near_value {
                let full = reg & full_mask == full_value;
                let near = g < self.near_until
                    && self.last_offset.is_some_and(|o| {
                        let d = (g % FRAME_BITS + FRAME_BITS - o) % FRAME_BITS;
                        d <= 8 || d >= FRAME_BITS - 8
                    });
                if (full || near) && self.confirm(g, per_sf) {
                    return true;
                }
            }
        }
        false
    }

    /// AIS: a frame-length of ones while hunting sets it; a two-frame window with more
    /// than two zeros clears it (so a few bit errors do not make it flicker).
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

    /// The F bit at `g` completed the framing pattern with `g` as the last frame of a
    /// superframe. ESF also needs the previous superframe's CRC-6 to match the C bits of
    /// this one. On success, lock onto frame 1 of this superframe.
    fn confirm(&mut self, g: u64, frames_per_sf: u64) -> bool {
        let Some(first) = g.checked_sub((frames_per_sf - 1) * FRAME_BITS) else {
            return false;
        };
        let mut expected = None;
        if self.format == T1Framing::Esf {
            let Some(prev) = first.checked_sub(ESF_BITS) else {
                return false;
            };
            if prev < self.bits.start() {
                return false;
            }
            let mut crc = Crc6::new();
            for k in 0..24 {
                let w = self.bits.words::<3>(prev + k * FRAME_BITS + 1);
                crc.update_one();
                crc.update_u64(w[0]);
                crc.update_u64(w[1]);
                crc.update_u64(w[2]);
            }
            let mut c = 0;
            for k in 0..6 {
                c = (c << 1) | self.bits.bit(first + (1 + 4 * k) * FRAME_BITS);
            }
            if c != crc.value() {
                return false;
            }
            expected = Some(c);
        }
        let offset = first % FRAME_BITS;
        if self.last_offset.is_some_and(|o| o != offset) {
            self.counters.slips += 1;
        }
        self.last_offset = Some(offset);
        self.state = State::Aligned;
        self.pos = first;
        self.frame = 1;
        self.crc = Crc6Ring::new();
        self.expected_crc = expected;
        self.c_bits = 0;
        self.f_errors = 0;
        self.good_until = first;
        if self.ais {
            self.ais = false;
            self.indicate(Indication::Ais {
                active: false,
                at_bit: g + 1,
            });
        }
        self.indicate(Indication::Alignment {
            aligned: true,
            at_bit: g + 1,
        });
        true
    }

    fn lose_alignment(&mut self, at: u64, restart: u64) {
        self.counters.oof += 1;
        self.state = State::Hunting;
        self.indicate(Indication::Alignment {
            aligned: false,
            at_bit: at,
        });
        self.hunt_pos = restart.max(self.bits.start());
        self.reg_index = (self.hunt_pos % FRAME_BITS) as usize;
        self.regs.fill(u128::MAX);
        self.near_until = at + 6 * ESF_BITS;
        self.ones_run = 0;
        self.ais_window_bits = 0;
        self.ais_window_zeros = 0;
        self.fdl_count = 0;
        self.sf_rai_frames = 0;
    }

    /// Deliver aligned frames while whole frames are available. Returns true if
    /// alignment was lost (the caller hunts), false when the bits run out.
    fn follow(&mut self, on_frame: &mut impl FnMut(&Frame)) -> bool {
        let end = self.bits.end();
        while self.pos + FRAME_BITS <= end {
            let pos = self.pos;
            let (f, w) = frame_words(&self.bits, pos);
            let n = self.frame;
            let mut frame = Frame {
                number: n,
                timeslots: [0; 24],
            };
            for (k, word) in w.iter().enumerate() {
                frame.timeslots[k * 8..k * 8 + 8].copy_from_slice(&word.to_be_bytes());
            }
            let mut f_error = None;
            match self.format {
                T1Framing::Esf => {
                    self.crc.update_t1_frame(w);
                    match n % 4 {
                        0 => f_error = Some(f != FPS[(n / 4 - 1) as usize]),
                        2 => self.c_bits = (self.c_bits << 1) | f,
                        _ => self.fdl_bit(pos, f),
                    }
                }
                T1Framing::Sf => {
                    if n % 2 == 1 {
                        f_error = Some(f != FT[(n / 2) as usize]);
                    } else if f != FS[(n / 2 - 1) as usize] {
                        self.counters.framing_bit_errors += 1;
                    }
                    let or = (w[0] | w[1] | w[2]) & 0x4040_4040_4040_4040;
                    if or == 0 {
                        self.sf_rai_frames += 1;
                    }
                }
            }
            self.counters.frames += 1;
            on_frame(&frame);
            self.pos += FRAME_BITS;
            let last = match self.format {
                T1Framing::Esf => 24,
                T1Framing::Sf => 12,
            };
            self.frame = if n == last { 1 } else { n + 1 };
            if let Some(err) = f_error {
                self.counters.framing_bit_errors += u64::from(err);
                self.f_errors = ((self.f_errors << 1) | u8::from(err)) & 0xF;
                if self.f_errors == 0 {
                    self.good_until = pos;
                }
                // Two or more of the last four wrong (no popcnt on the baseline target).
                if self.f_errors & self.f_errors.wrapping_sub(1) != 0 {
                    // Re-hunt from one superframe before the last clean framing bit: the
                    // slip came after it, and the new position's pattern has been running
                    // since. Only one superframe, so the old position cannot show enough
                    // of its pattern to be found again.
                    let restart = self.good_until.saturating_sub(u64::from(last) * FRAME_BITS);
                    self.lose_alignment(pos, restart);
                    return true;
                }
            }
            if n == last {
                self.end_of_superframe(pos);
            }
        }
        false
    }

    fn end_of_superframe(&mut self, pos: u64) {
        match self.format {
            T1Framing::Esf => {
                if let Some(expected) = self.expected_crc {
                    self.counters.crc_checked += 1;
                    if expected != self.c_bits {
                        self.counters.crc_errors += 1;
                    }
                }
                self.expected_crc = Some(self.crc.value());
                self.crc = Crc6Ring::new();
                self.c_bits = 0;
            }
            T1Framing::Sf => {
                // Bit 2 zero in (nearly) every frame: allow two frames hit by errors.
                let yellow = self.sf_rai_frames >= 10;
                self.sf_rai_frames = 0;
                self.vote_rai(yellow, pos);
            }
        }
    }

    /// ESF: the FDL carries `FF 00` repeating for RAI. Decide once per 12 FDL bits
    /// (a superframe) on the last 32.
    #[inline(always)]
    fn fdl_bit(&mut self, pos: u64, f: u8) {
        self.fdl = (self.fdl << 1) | u32::from(f);
        self.fdl_count = self.fdl_count.saturating_add(1);
        if self.fdl_count >= 32 && self.frame == 23 {
            let w = self.fdl as u16;
            let periodic = (self.fdl >> 16) as u16 == w;
            let yellow =
                periodic && w.count_ones() == 8 && (w ^ w.rotate_left(1)).count_ones() == 2;
            self.vote_rai(yellow, pos);
        }
    }

    /// Two superframes in a row must agree before RAI changes state.
    fn vote_rai(&mut self, yellow: bool, pos: u64) {
        if yellow == self.rai {
            self.rai_votes = 0;
            return;
        }
        self.rai_votes += 1;
        if self.rai_votes >= 2 {
            self.rai_votes = 0;
            self.rai = yellow;
            self.indicate(Indication::Rai {
                active: yellow,
                at_bit: pos + FRAME_BITS,
            });
        }
    }
}

/// TS1..TS24 as three big-endian words, the form the CRC folds take.
fn words(ts: &[u8; 24]) -> [u64; 3] {
    let mut w = [0u64; 3];
    for (o, c) in w.iter_mut().zip(ts.chunks_exact(8)) {
        *o = u64::from_be_bytes(<[u8; 8]>::try_from(c).unwrap_or([0; 8]));
    }
    w
}

/// The F bit and the three 64-bit words of TS1..TS24 of the frame whose F bit is at
/// `pos`: four big-endian loads, shifted into place.
#[inline(always)]
fn frame_words(bits: &RxBits, pos: u64) -> (u8, [u64; 3]) {
    let ([l0, l1, l2, l3], sh) = bits.loads::<4>(pos);
    // `>> 1 >> (63 - sh)` is `>> (64 - sh)` without a shift by 64 when sh is 0.
    let join = |a: u64, b: u64| (a << sh) | ((b >> 1) >> (63 - sh));
    let (a0, a1, a2, a3) = (join(l0, l1), join(l1, l2), join(l2, l3), l3 << sh);
    let f = (a0 >> 63) as u8;
    (
        f,
        [
            (a0 << 1) | (a1 >> 63),
            (a1 << 1) | (a2 >> 63),
            (a2 << 1) | (a3 >> 63),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TS n of frame f: a pattern that differs in every frame and timeslot.
    fn payload(f: u64) -> [u8; 24] {
        let mut ts = [0u8; 24];
        for (n, t) in ts.iter_mut().enumerate() {
            *t = (f.wrapping_mul(131) as u8) ^ (n as u8).wrapping_mul(37) ^ 0x5A;
        }
        ts
    }

    fn stream(format: T1Framing, frames: u64) -> Vec<u8> {
        let mut tx = Transmitter::new(format);
        let mut out = Vec::new();
        for f in 0..frames {
            tx.push_frame(&payload(f), &mut out);
        }
        out
    }

    /// Drop the first `skip` bits of a byte stream.
    fn shift(bytes: &[u8], skip: usize) -> Vec<u8> {
        let bits: Vec<u8> = bytes
            .iter()
            .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1))
            .skip(skip)
            .collect();
        bits.chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0, |a, (i, &b)| a | (b << (7 - i)))
            })
            .collect()
    }

    fn receive(format: T1Framing, bytes: &[u8]) -> (Receiver, Vec<Frame>) {
        let mut rx = Receiver::new(format);
        let mut frames = Vec::new();
        rx.handle_rx(bytes, |f| frames.push(*f));
        (rx, frames)
    }

    #[test]
    fn transmitter_eight_frames_make_193_bytes() {
        assert_eq!(stream(T1Framing::Esf, 8).len(), 193);
        assert_eq!(stream(T1Framing::Sf, 16).len(), 386);
    }

    #[test]
    fn transmitter_esf_first_superframe_has_fps_in_frame_4k() {
        let bytes = stream(T1Framing::Esf, 24);
        let bit = |i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
        let fps: Vec<u8> = (1..=6).map(|k| bit((4 * k - 1) * 193)).collect();
        assert_eq!(fps, FPS);
    }

    #[test]
    fn hunting_esf_stream_locks_and_delivers_exact_timeslots() {
        let (rx, frames) = receive(T1Framing::Esf, &stream(T1Framing::Esf, 24 * 8));
        assert!(rx.is_aligned());
        // Locks on frame 1 of the fourth superframe (the 24-bit pattern ends there).
        assert_eq!(frames[0].number, 1);
        let first = 24 * 3;
        for (k, fr) in frames.iter().enumerate() {
            assert_eq!(fr.timeslots, payload(first + k as u64));
        }
        assert_eq!(rx.counters().crc_errors, 0);
        assert!(rx.counters().crc_checked >= 4);
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }

    #[test]
    fn hunting_sf_stream_at_odd_offset_locks() {
        let (rx, frames) = receive(T1Framing::Sf, &shift(&stream(T1Framing::Sf, 12 * 8), 77));
        assert!(rx.is_aligned());
        assert!(!frames.is_empty());
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }

    #[test]
    fn aligned_esf_one_payload_bit_flipped_counts_one_crc_error() {
        let mut bytes = stream(T1Framing::Esf, 24 * 10);
        // A timeslot bit of superframe 7, frame 5 (F of frame f is at bit 193 f).
        let bit = (6 * 24 + 4) * 193 + 50;
        bytes[bit / 8] ^= 0x80 >> (bit % 8);
        let (rx, _) = receive(T1Framing::Esf, &bytes);
        assert_eq!(rx.counters().crc_errors, 1);
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }

    #[test]
    fn aligned_esf_two_fps_errors_in_four_is_oof() {
        let mut bytes = stream(T1Framing::Esf, 24 * 10);
        for f in [6 * 24 + 3, 6 * 24 + 7] {
            let bit = f * 193;
            bytes[bit / 8] ^= 0x80 >> (bit % 8);
        }
        let (mut rx, _) = receive(T1Framing::Esf, &bytes);
        let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
        assert!(inds.contains(&Indication::Alignment {
            aligned: false,
            at_bit: ((6 * 24 + 7) * 193) as u64
        }));
        assert_eq!(rx.counters().oof, 1);
    }

    #[test]
    fn aligned_esf_single_fps_error_is_counted_not_oof() {
        let mut bytes = stream(T1Framing::Esf, 24 * 10);
        let bit = (6 * 24 + 3) * 193;
        bytes[bit / 8] ^= 0x80 >> (bit % 8);
        let (rx, _) = receive(T1Framing::Esf, &bytes);
        assert_eq!(rx.counters().framing_bit_errors, 1);
        assert_eq!(rx.counters().oof, 0);
        assert!(rx.is_aligned());
    }

    #[test]
    fn hunting_all_ones_is_ais() {
        let (mut rx, _) = receive(T1Framing::Esf, &[0xFF; 100]);
        assert_eq!(
            rx.poll_indication(),
            Some(Indication::Ais {
                active: true,
                at_bit: 193
            })
        );
    }

    #[test]
    fn aligned_esf_yellow_fdl_is_rai() {
        let mut tx = Transmitter::new(T1Framing::Esf);
        tx.set_rai(true);
        let mut out = Vec::new();
        for f in 0..24 * 12 {
            tx.push_frame(&payload(f), &mut out);
        }
        let (mut rx, _) = receive(T1Framing::Esf, &out);
        let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
        assert!(
            inds.iter()
                .any(|i| matches!(i, Indication::Rai { active: true, .. }))
        );
    }

    #[test]
    fn aligned_sf_bit2_zero_is_rai() {
        let mut tx = Transmitter::new(T1Framing::Sf);
        tx.set_rai(true);
        let mut out = Vec::new();
        for f in 0..12 * 8 {
            tx.push_frame(&payload(f), &mut out);
        }
        let (mut rx, _) = receive(T1Framing::Sf, &out);
        let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
        assert!(
            inds.iter()
                .any(|i| matches!(i, Indication::Rai { active: true, .. }))
        );
    }

    #[test]
    fn hunting_random_bytes_never_panics_in_any_chunking() {
        let mut rng = fastrand::Rng::with_seed(7);
        let bytes: Vec<u8> = (0..20_000).map(|_| rng.u8(..)).collect();
        let mut rx = Receiver::new(T1Framing::Esf);
        let mut i = 0;
        while i < bytes.len() {
            let n = rng.usize(1..300).min(bytes.len() - i);
            rx.handle_rx(&bytes[i..i + n], |_| {});
            i += n;
        }
        assert_eq!(rx.bits_received(), 8 * 20_000);
    }
}
