//! D-channel HDLC: flags, zero-bit insertion and the FCS-16.
//!
//! Contract: `spec/line-format.md` section 4 (binding); algorithms and vectors:
//! `t1-e1-hdlc-notes.md` sections 1, 6 and 7.
//!
//! ```text
//!  line bits (D timeslot values, MSB first)                 frames (address..information)
//!        │                                                          ▲
//!        ▼                                                          │
//!  Decoder: 7-byte word, no six 1s ─▶ stuffed 0s removed ─▶ octets ─▶ FCS ─▶ Counters
//!           else RX table (ones-run, byte) ───────────────┘   ▲
//!           else (flag, abort, 6+ ones) bit loop ─────────────┘
//!
//!  Encoder: frame ─▶ FCS ─▶ 6-octet word, no ten 1s ─▶ 0s inserted ─▶ line bytes
//!                           else TX table (ones-run, octet) ──┘
//!           idle: flags, at whatever bit phase the last closing flag ended
//! ```
//!
//! The wire: flags `01111110` between frames and as idle fill; octets LSB first on a bit
//! stream whose bytes carry their bits MSB first; a 0 after every five 1s of frame content
//! (the run carries across octets); seven 1s abort; FCS = CRC-16/X.25, low octet first.
//! The receiver is a pure bit stream: frames may start at any bit offset and two flags may
//! share a zero. Frames with a bad FCS, fewer than [`MIN_FRAME`] octets, more than
//! [`MAX_FRAME`] octets (storage stops there, memory is bounded), a length that is not a
//! whole number of octets, or an abort are discarded and counted in [`Counters`]. The
//! precedence, when several apply: too long, then non-octet, then too short, then FCS.
//!
//! Why hand-written: no well-kept crate does HDLC zero-bit removal on an unaligned bit
//! stream at line-simulation speed (the simulator pushes hours of traffic through here), and
//! a bit-serial loop manages ~16 MB/s. Both directions are table-driven as notes section 6
//! ("Table-driven speedups") sketches. Receive: index (ones-run at entry, line byte) gives
//! the destuffed bits, their count and the run at exit, or "slow" when a run of six 1s
//! completes inside the byte (a flag, an abort or garbage); only those bytes go through
//! the bit loop. Transmit: index (run at entry, octet) gives up to 10 stuffed bits.
//!
//! One lookup per byte still leaves a serial chain (run out of one lookup, index of the
//! next) and measured well under the 300 MB/s target, so each direction puts a word path
//! in front of its table: between flags (almost all the time) seven line bytes, or six
//! octets, are handled at once with shifts and masks, and the tables take only the bytes
//! near a flag and the rare long runs of 1s. The baseline x86-64 target has no PEXT or
//! POPCNT, so the word paths use constant shifts and isolate one bit at a time. The FCS
//! uses the `crc` crate's slice-by-16 table over the whole frame at once.

use std::collections::VecDeque;

use crc::{CRC_16_IBM_SDLC, Crc, Table};

/// Fewest octets before the FCS: address (2) and a one-octet control field (SABME, UA...).
pub const MIN_FRAME: usize = 3;
/// Most octets before the FCS: N201 = 260 information octets plus address and control.
pub const MAX_FRAME: usize = 264;
/// Frames the [`Encoder`] holds before it refuses more (LAPD's window is 7; this leaves
/// room for retransmissions without letting a stalled line grow memory without bound).
pub const MAX_QUEUED: usize = 64;

const FLAG: u8 = 0x7E;
const FCS_LEN: usize = 2;
/// Octets stored per frame, FCS included; one more means "too long".
const MAX_STORED: usize = MAX_FRAME + FCS_LEN;
/// Receive buffer: a power of two above `MAX_STORED + 1` so `& (RX_BUF - 1)` is an index the
/// compiler can see is in bounds, which lets the fast loop store without a branch.
const RX_BUF: usize = 512;

static FCS: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_SDLC);

/// The HDLC frame check sequence of `frame` (CRC-16/X.25), sent low octet first.
pub fn fcs(frame: &[u8]) -> u16 {
    FCS.checksum(frame)
}

// Receive table entry: bits 0-7 destuffed bits (first line bit in bit 0), bits 8-11 their
// count, bits 12-14 the ones-run at exit; `RX_SLOW` when the byte needs the bit loop.
const RX_SLOW: u16 = 0x8000;
static RX: [u16; 8 * 256] = rx_table();

const fn rx_table() -> [u16; 8 * 256] {
    let mut table = [0u16; 8 * 256];
    let mut index = 0;
    while index < table.len() {
        let mut ones = (index >> 8) as u32;
        let byte = (index & 0xFF) as u32;
        // A run of six or more at entry means the first bit decides flag or abort.
        let mut slow = ones >= 6;
        let (mut out, mut count) = (0u32, 0u32);
        let mut k = 0;
        while k < 8 && !slow {
            if (byte >> (7 - k)) & 1 == 1 {
                ones += 1;
                if ones >= 6 {
                    slow = true;
                } else {
                    out |= 1 << count;
                    count += 1;
                }
            } else {
                // After five 1s a 0 is the stuffed one: drop it.
                if ones != 5 {
                    count += 1;
                }
                ones = 0;
            }
            k += 1;
        }
        table[index] = if slow {
            RX_SLOW
        } else {
            (out | count << 8 | ones << 12) as u16
        };
        index += 1;
    }
    table
}

// Transmit table entry: bits 0-9 the stuffed bits in line order (first bit highest), bits
// 16-19 their count (8..=10), bits 24-26 the ones-run at exit (0..=4).
static TX: [u32; 8 * 256] = tx_table();

const fn tx_table() -> [u32; 8 * 256] {
    let mut table = [0u32; 8 * 256];
    let mut index = 0;
    while index < table.len() {
        // Runs 5..7 never occur at entry (a 0 follows every fifth 1); treat them as 4 so
        // every entry is still a valid encoding.
        let mut ones = (index >> 8) as u32;
        if ones > 4 {
            ones = 4;
        }
        let octet = (index & 0xFF) as u32;
        let (mut bits, mut count) = (0u32, 0u32);
        let mut k = 0;
        while k < 8 {
            let bit = (octet >> k) & 1;
            bits = bits << 1 | bit;
            count += 1;
            if bit == 1 {
                ones += 1;
                if ones == 5 {
                    bits <<= 1;
                    count += 1;
                    ones = 0;
                }
            } else {
                ones = 0;
            }
            k += 1;
        }
        table[index] = bits | count << 16 | ones << 24;
        index += 1;
    }
    table
}

/// What the [`Decoder`] has delivered and discarded since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed on.
    pub good: u64,
    /// Frames whose FCS did not check.
    pub bad_fcs: u64,
    /// Frames ended by seven or more 1s (also counted once when an all-ones line begins).
    pub aborted: u64,
    /// Frames of fewer than [`MIN_FRAME`] octets before the FCS.
    pub too_short: u64,
    /// Frames of more than [`MAX_FRAME`] octets before the FCS.
    pub too_long: u64,
    /// Frames whose length is not a whole number of octets.
    pub non_octet: u64,
}

/// The receive half: line bits in, checked frames out.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Run of consecutive 1s, saturating at 7 (an abort in progress).
    ones: u32,
    /// Destuffed bits not yet a whole octet; the oldest is bit 0.
    acc: u32,
    /// How many bits `acc` holds (0..=7).
    nbits: u32,
    /// Octets stored in `buf`; `MAX_STORED + 1` means the frame overflowed.
    len: usize,
    /// No flag seen since start or the last abort: bits are discarded, not judged.
    hunting: bool,
    buf: [u8; RX_BUF],
    counters: Counters,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A receiver hunting for its first flag.
    pub fn new() -> Self {
        Decoder {
            ones: 0,
            acc: 0,
            nbits: 0,
            len: 0,
            hunting: true,
            buf: [0; RX_BUF],
            counters: Counters::default(),
        }
    }

    /// Feed line bits: each byte carries 8 D-channel bits, most significant first. Calls
    /// `on_frame` with each good frame, FCS removed.
    pub fn decode(&mut self, bits: &[u8], mut on_frame: impl FnMut(&[u8])) {
        let mut rest = bits;
        while !rest.is_empty() {
            let used = self.decode_fast(rest);
            rest = rest.get(used..).unwrap_or_default();
            if let Some((&byte, tail)) = rest.split_first() {
                self.decode_slow(byte, &mut on_frame);
                rest = tail;
            }
        }
    }

    /// What has been delivered and discarded so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Runs the fast paths over `bits` until a byte needs the bit loop; returns the bytes
    /// used. Seven bytes at a time while no run of six 1s is near, else byte by byte.
    #[inline]
    fn decode_fast(&mut self, bits: &[u8]) -> usize {
        // A local copy, so the loops keep the state in registers.
        let mut fast = Fast {
            ones: self.ones,
            acc: self.acc,
            nbits: self.nbits,
            len: self.len,
        };
        let buf = &mut self.buf;
        let mut used = 0;
        'bytes: loop {
            while let Some(word) = bits.get(used..used + 8) {
                let Ok(word) = <[u8; 8]>::try_from(word) else {
                    break;
                };
                if !fast.word(buf, u64::from_be_bytes(word)) {
                    break;
                }
                used += 7;
            }
            // A flag, an abort or the end is near: up to eight bytes through the byte table.
            let end = bits.len().min(used + 8);
            if used == end {
                break;
            }
            for &byte in &bits[used..end] {
                if !fast.byte(buf, byte) {
                    break 'bytes;
                }
                used += 1;
            }
        }
        (self.ones, self.acc, self.nbits, self.len) = (fast.ones, fast.acc, fast.nbits, fast.len);
        used
    }

    /// The bit loop of notes section 6, for the bytes holding a flag, abort or six 1s. Only
    /// flag and abort branch; storing is arithmetic, since the bits here are random.
    #[inline(never)]
    fn decode_slow(&mut self, byte: u8, on_frame: &mut impl FnMut(&[u8])) {
        for shift in (0..8).rev() {
            let bit = u32::from(byte >> shift) & 1;
            let ones = self.ones;
            if ones == 6 {
                if bit == 0 {
                    self.flag(on_frame);
                } else {
                    self.abort();
                }
            }
            // Below five 1s every bit is frame content; at five a 0 is the stuffed one and a
            // 1 is the sixth of a flag or an abort, and past that nothing is stored.
            let keep = u32::from(ones < 5);
            self.acc |= (bit & keep) << self.nbits;
            self.nbits += keep;
            self.buf[self.len & (RX_BUF - 1)] = self.acc as u8;
            let full = self.nbits >> 3;
            self.acc >>= full * 8;
            self.nbits &= 7;
            self.len = (self.len + full as usize).min(MAX_STORED + 1);
            self.ones = (ones + 1).min(7) * bit;
        }
    }

    fn abort(&mut self) {
        // Hunting from here on, so an all-ones line is one abort, not one per bit.
        if !self.hunting {
            self.counters.aborted += 1;
        }
        self.hunting = true;
    }

    fn flag(&mut self, on_frame: &mut impl FnMut(&[u8])) {
        let (len, nbits, hunting) = (self.len, self.nbits, self.hunting);
        self.len = 0;
        self.acc = 0;
        self.nbits = 0;
        self.hunting = false;
        // The stored bits end with the flag's leading 0 and its first five 1s.
        let stored = len * 8 + nbits as usize;
        if hunting || stored <= 6 {
            return; // first flag after hunting, or back-to-back flags
        }
        let counters = &mut self.counters;
        if len > MAX_STORED || (len == MAX_STORED && nbits > 6) {
            counters.too_long += 1;
        } else if nbits != 6 {
            counters.non_octet += 1;
        } else if len < MIN_FRAME + FCS_LEN {
            counters.too_short += 1;
        } else {
            let (frame, sent) = self.buf[..len].split_at(len - FCS_LEN);
            if FCS.checksum(frame).to_le_bytes() == sent {
                counters.good += 1;
                on_frame(frame);
            } else {
                counters.bad_fcs += 1;
            }
        }
    }
}

/// The receive state the fast paths touch, held in registers while they run.
struct Fast {
    ones: u32,
    acc: u32,
    nbits: u32,
    len: usize,
}

impl Fast {
    /// Seven line bytes at once (the first seven of `word`, first line bit most
    /// significant), unless a run of six 1s (flag, abort) ends among them: then it returns
    /// false and changes nothing. Seven, not eight, so the byte before (rebuilt from the
    /// run) fits in the same 64 bits and the result with the pending bits still fits too.
    #[inline(always)]
    fn word(&mut self, buf: &mut [u8; RX_BUF], word: u64) -> bool {
        if self.ones >= 6 {
            return false; // the next bit ends a flag or continues an abort
        }
        let before = (1u64 << self.ones) - 1;
        // Bit i of `line` is the i-th line bit (the order octets are assembled in): bits
        // 0-7 the byte before, 8-63 the seven new bytes.
        let line = (before << 56 | word >> 8).reverse_bits();
        // Bit i of `five`: the five line bits before bit i are all 1.
        let two = line & line << 1;
        let five = (two & two << 2 & line << 4) << 1;
        if (line & five) >> 8 != 0 {
            return false;
        }
        // No run of six, so every 0 after five 1s is a stuffed one. Random data has about
        // one per 62 bits: remove up to two without branching, more in a loop.
        let (mut bits, mut marks, mut count) = (line, !line & five & !0xFF, 56);
        for _ in 0..2 {
            count -= u32::from(marks != 0);
            (bits, marks) = remove_lowest(bits, marks);
        }
        while marks != 0 {
            (bits, marks) = remove_lowest(bits, marks);
            count -= 1;
        }
        let out = u64::from(self.acc) | (bits >> 8) << self.nbits;
        // Whole octets go to the buffer; storing eight every time keeps this branch-free.
        let at = self.len.min(MAX_STORED + 1);
        if let Some(slot) = buf.get_mut(at..at + 8) {
            slot.copy_from_slice(&out.to_le_bytes());
        }
        let nbits = self.nbits + count;
        let full = nbits >> 3;
        self.acc = (out >> (full * 8)) as u32;
        self.nbits = nbits & 7;
        self.len = (self.len + full as usize).min(MAX_STORED + 1);
        self.ones = ((word >> 8) as u8).trailing_ones();
        true
    }

    /// One line byte through the receive table, unless it needs the bit loop: then it
    /// returns false and changes nothing.
    #[inline(always)]
    fn byte(&mut self, buf: &mut [u8; RX_BUF], byte: u8) -> bool {
        let entry = RX[((self.ones as usize) << 8 | usize::from(byte)) & (RX.len() - 1)];
        if entry & RX_SLOW != 0 {
            return false;
        }
        // A byte the table takes holds a 0, so the run at its exit is just its trailing
        // 1s; reading it from the byte keeps each lookup off the previous one's path.
        self.ones = byte.trailing_ones();
        let entry = u32::from(entry);
        self.acc |= (entry & 0xFF) << self.nbits;
        self.nbits += (entry >> 8) & 0xF;
        // Store the low octet every time and advance only when it is complete.
        buf[self.len & (RX_BUF - 1)] = self.acc as u8;
        let full = self.nbits >> 3;
        self.acc >>= full * 8;
        self.nbits &= 7;
        self.len = (self.len + full as usize).min(MAX_STORED + 1);
        true
    }
}

/// Removes from `bits` the bit at the lowest position set in `marks` (nothing if `marks` is
/// 0): the bits above it move down one, and so do the remaining marks. Constant shifts
/// only: variable ones cost three micro-ops each on the baseline x86-64 target.
#[inline(always)]
fn remove_lowest(bits: u64, marks: u64) -> (u64, u64) {
    let lowest = marks & marks.wrapping_neg();
    let below = lowest.wrapping_sub(1);
    (
        (bits & below) | ((bits >> 1) & !below),
        (marks ^ lowest) >> 1,
    )
}

/// Why [`Encoder::try_push_frame`] refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Outside [`MIN_FRAME`]..=[`MAX_FRAME`] octets: the far end would discard it.
    #[error("frame of {0} octets is outside {MIN_FRAME}..={MAX_FRAME}")]
    Length(usize),
    /// [`MAX_QUEUED`] frames are already waiting for the line.
    #[error("{MAX_QUEUED} frames already queued")]
    QueueFull,
}

/// The transmit half: frames in, line bits out, flags when idle.
#[derive(Clone, Debug)]
pub struct Encoder {
    /// Encoded line bytes not yet handed out start at `head`.
    line: Vec<u8>,
    head: usize,
    /// Bits of the last flag that did not fill a whole byte (0..=7). They are the flag's
    /// last bits, so they need no storage: idle fill and the next frame continue from them.
    phase: u32,
    /// An opening flag has gone into the stream (idle fill counts).
    started: bool,
    /// Line bytes ever staged before `line[0]`, so `ends` survive compaction.
    base: u64,
    /// Where each queued frame ends, counted in line bytes since creation.
    ends: VecDeque<u64>,
    rejected: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An idle transmitter: it sends flags until a frame is queued.
    pub fn new() -> Self {
        Encoder {
            line: Vec::new(),
            head: 0,
            phase: 0,
            started: false,
            base: 0,
            ends: VecDeque::new(),
            rejected: 0,
        }
    }

    /// Queue a frame (address..information); the FCS is added. A frame
    /// [`try_push_frame`](Self::try_push_frame) refuses is dropped and counted in
    /// [`rejected`](Self::rejected).
    pub fn push_frame(&mut self, frame: &[u8]) {
        if self.try_push_frame(frame).is_err() {
            self.rejected += 1;
        }
    }

    /// Queue a frame (address..information), or say why not.
    pub fn try_push_frame(&mut self, frame: &[u8]) -> Result<(), PushError> {
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
            return Err(PushError::Length(frame.len()));
        }
        let sent = self.base + self.head as u64;
        while self.ends.front().is_some_and(|&end| end <= sent) {
            self.ends.pop_front();
        }
        if self.ends.len() >= MAX_QUEUED {
            return Err(PushError::QueueFull);
        }
        self.compact();
        if !self.started {
            self.line.push(FLAG);
            self.started = true;
        }
        self.phase = encode_stuffed(frame, self.phase, &mut self.line);
        self.ends.push_back(self.base + self.line.len() as u64);
        Ok(())
    }

    /// Fill `out` with line bits (each byte 8 bits MSB first): queued frames, flags when
    /// idle.
    pub fn fill(&mut self, out: &mut [u8]) {
        let staged = self.line.get(self.head..).unwrap_or_default();
        let n = staged.len().min(out.len());
        let (now, idle) = out.split_at_mut(n);
        now.copy_from_slice(&staged[..n]);
        self.head += n;
        if !idle.is_empty() {
            // Flags repeat every 8 bits, so idle fill at a fixed phase is one constant byte.
            idle.fill(((u16::from_be_bytes([FLAG, FLAG]) >> self.phase) & 0xFF) as u8);
            self.started = true;
        }
    }

    /// True when every queued frame has been handed out: only flags follow. Up to 7 bits
    /// of the last closing flag go out with the next byte of idle fill.
    pub fn is_idle(&self) -> bool {
        self.head >= self.line.len()
    }

    /// Line bytes queued before idle fill starts.
    pub fn queued_bytes(&self) -> usize {
        self.line.len().saturating_sub(self.head)
    }

    /// Frames [`push_frame`](Self::push_frame) has dropped (bad length or full queue).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Drops line bytes already handed out, so `line` stays bounded under steady traffic.
    fn compact(&mut self) {
        if self.head == self.line.len() || self.head > self.line.len() / 2 {
            self.base += self.head as u64;
            self.line.drain(..self.head.min(self.line.len()));
            self.head = 0;
        }
    }
}

/// Line bytes one stuffed frame can take: 10 bits per octet at worst, the closing flag,
/// and room for the 8-byte stores that always write past the end.
const STUFFED_MAX: usize = (MAX_FRAME + FCS_LEN) * 10 / 8 + 2 + 8;

/// Appends `frame`, its FCS and a closing flag, bit-stuffed, to `line`. The stream so far
/// ends with a flag of which `phase` bits are still pending (not yet in a whole byte);
/// returns the pending bits of the new closing flag.
fn encode_stuffed(frame: &[u8], phase: u32, line: &mut Vec<u8>) -> u32 {
    let frame = &frame[..frame.len().min(MAX_FRAME)];
    // Stuff straight into `line`, then cut it back to the bytes written.
    let start = line.len();
    line.resize(start + STUFFED_MAX, 0);
    let mut out = Stuffed {
        bytes: &mut line[start..],
        len: 0,
        // The pending bits are the flag's last `phase` bits.
        top: u64::from(FLAG) << 56 << (8 - phase),
        bits: phase,
    };
    // The flag ends with a 0, so the run starts at 0. Words are loaded eight octets at a
    // time, so the last few octets and the FCS go through a small padded copy.
    let done = out.octets(0, frame, frame.len().saturating_sub(7));
    let mut tail = [0u8; 7 + FCS_LEN + 8];
    let rest = &frame[done.1..];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()..rest.len() + FCS_LEN].copy_from_slice(&FCS.checksum(frame).to_le_bytes());
    out.octets(done.0, &tail, rest.len() + FCS_LEN);
    out.push(u64::from(FLAG) << 56, 8);
    let (len, bits) = (out.len, out.bits);
    line.truncate(start + len);
    bits
}

/// Stuffed line bits being packed into bytes, first bit most significant.
struct Stuffed<'a> {
    /// At least [`STUFFED_MAX`] bytes.
    bytes: &'a mut [u8],
    len: usize,
    /// Bits not yet in a whole byte, left-aligned.
    top: u64,
    bits: u32,
}

impl Stuffed<'_> {
    /// Stuffs `octets[..count]` after a run of `ones` 1s, six at a time while eight can be
    /// loaded; returns the run at exit and how many octets it took.
    #[inline(always)]
    fn octets(&mut self, mut ones: u32, octets: &[u8], count: usize) -> (u32, usize) {
        let mut i = 0;
        while i < count {
            let Some(word) = octets
                .get(i..i + 8)
                .and_then(|w| <[u8; 8]>::try_from(w).ok())
            else {
                break;
            };
            let n = (count - i).min(6) as u32;
            if let Some((bits, len, exit)) = stuff_six(ones, u64::from_le_bytes(word), n) {
                self.push(bits, len);
                ones = exit;
                i += n as usize;
            } else {
                let entry = TX[((ones as usize) << 8 | usize::from(word[0])) & (TX.len() - 1)];
                let len = (entry >> 16) & 0xF;
                self.push(u64::from(entry & 0x3FF) << (64 - len), len);
                ones = entry >> 24;
                i += 1;
            }
        }
        (ones, i)
    }

    /// Appends the `count` (at most 56) left-aligned bits of `bits`; stores whole bytes.
    #[inline(always)]
    fn push(&mut self, bits: u64, count: u32) {
        self.top |= bits >> self.bits;
        self.bits += count;
        // Store eight bytes every time and advance by the whole ones: no branch.
        let at = self.len.min(STUFFED_MAX - 8);
        if let Some(slot) = self.bytes.get_mut(at..at + 8) {
            slot.copy_from_slice(&self.top.to_be_bytes());
        }
        let full = self.bits / 8;
        self.len += full as usize;
        self.top <<= full * 8; // at most 56: `bits` stays below 64
        self.bits %= 8;
    }
}

/// Stuffs the first `n` (1..=6) octets of `octets` (first octet lowest) sent after a run
/// of `ones` 1s. Returns the stuffed bits left-aligned in line order, their count and the
/// run at exit, or `None` for the rare run of ten or more 1s (two zeros in one run): the
/// table handles those octets. Six octets, because with at most eight zeros inserted
/// (one per six bits) and seven bits pending the result still fits in 64 bits.
#[inline(always)]
fn stuff_six(ones: u32, octets: u64, n: u32) -> Option<(u64, u32, u32)> {
    // Bit i of `line` is the i-th line bit before stuffing: bits 0-7 stand for the bits
    // already sent (a 0, then `ones` 1s), bits 8.. the octets.
    let before = ((1u64 << ones) - 1) << (8 - ones);
    let line = (octets & ((1u64 << (8 * n)) - 1)) << 8 | before;
    // Bit i of `run5`: line bits i-4..=i are all 1.
    let two = line & line << 1;
    let run5 = two & two << 2 & line << 4;
    if run5 & run5 << 5 != 0 {
        return None;
    }
    // A 0 goes after the bit where each run first reaches five (runs are now below ten).
    let mut marks = (run5 & !(run5 << 1)) >> 8;
    let (mut bits, mut count) = (line >> 8, 8 * n);
    for _ in 0..2 {
        count += u32::from(marks != 0);
        (bits, marks) = insert_zero_after_lowest(bits, marks);
    }
    while marks != 0 {
        count += 1;
        (bits, marks) = insert_zero_after_lowest(bits, marks);
    }
    // The run at exit: the 1s at the end, less five if a 0 went in after the fifth.
    let tail = (line << (56 - 8 * n)).leading_ones();
    let exit = if tail >= 5 { tail - 5 } else { tail };
    Some((bits.reverse_bits(), count, exit))
}

/// Inserts a 0 after the bit at the lowest position set in `marks` (nothing if `marks` is
/// 0): the bits above it move up one, and so do the remaining marks.
#[inline(always)]
fn insert_zero_after_lowest(bits: u64, marks: u64) -> (u64, u64) {
    let lowest = marks & marks.wrapping_neg();
    let keep = (lowest << 1).wrapping_sub(1);
    ((bits & keep) | ((bits & !keep) << 1), (marks ^ lowest) << 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames the decoder delivers for `bits`, and its counters.
    fn decode_all(bits: &[u8]) -> (Vec<Vec<u8>>, Counters) {
        let mut decoder = Decoder::new();
        let mut frames = Vec::new();
        decoder.decode(bits, |f| frames.push(f.to_vec()));
        (frames, *decoder.counters())
    }

    /// The line bytes a fresh encoder sends for `frames` then `idle` bytes of flags.
    fn encode_all(frames: &[&[u8]], idle: usize) -> Vec<u8> {
        let mut encoder = Encoder::new();
        for f in frames {
            encoder.push_frame(f);
        }
        let mut out = vec![0; encoder.queued_bytes() + idle];
        encoder.fill(&mut out);
        out
    }

    const SABME: &[u8] = &[0x00, 0x01, 0x7F];
    const UA: &[u8] = &[0x00, 0x01, 0x73];
    const RR: &[u8] = &[0x00, 0x01, 0x01, 0x02];

    #[test]
    fn fcs_check_string_gives_906e() {
        assert_eq!(fcs(b"123456789"), 0x906E);
    }

    #[test]
    fn fcs_sabme_gives_5464() {
        assert_eq!(fcs(SABME).to_le_bytes(), [0x64, 0x54]);
    }

    #[test]
    fn rx_table_byte_with_flag_is_slow() {
        assert_eq!(RX[0x7E], RX_SLOW);
        assert_eq!(RX[5 << 8 | 0x80], RX_SLOW, "run 5 then a 1 is six 1s");
        assert_eq!(RX[6 << 8], RX_SLOW, "run 6 at entry decides flag or abort");
    }

    #[test]
    fn rx_table_stuffed_zero_is_dropped() {
        // Run 5 at entry, then 0 (stuffed) and 1010101: seven bits survive.
        let entry = u32::from(RX[5 << 8 | 0x55]);
        assert_eq!((entry >> 8) & 0xF, 7);
        assert_eq!(entry & 0x7F, 0b1010101);
        assert_eq!(entry >> 12, 1);
    }

    #[test]
    fn tx_table_octet_ff_gets_one_stuffed_zero() {
        let entry = TX[0xFF];
        assert_eq!((entry >> 16) & 0xF, 9);
        assert_eq!(entry & 0x3FF, 0b1_1111_0111);
        assert_eq!(entry >> 24, 3);
    }

    #[test]
    fn word_helpers_six_ones_and_ten_ones_defer_to_the_tables() {
        let mut fast = Fast {
            ones: 0,
            acc: 0,
            nbits: 0,
            len: 0,
        };
        let mut buf = [0; RX_BUF];
        // A flag in the first seven bytes: the byte path must take it.
        assert!(!fast.word(&mut buf, u64::from_be_bytes([0, 0, 0x7E, 0, 0, 0, 0, 0])));
        assert_eq!(fast.len, 0);
        // Octets FF FF: sixteen 1s, two stuffed zeros in one run.
        assert_eq!(stuff_six(0, 0xFFFF, 6), None);
    }

    #[test]
    fn word_helpers_stuff_and_unstuff_one_run_of_five() {
        // Octet 1F then zeros: five 1s, a 0 after them, 48 + 1 bits.
        let (bits, count, exit) = stuff_six(0, 0x1F, 6).unwrap();
        assert_eq!((bits >> 56, count, exit), (0b1111_1000, 49, 0));
        // Only the first octet of F0 0F: its four 1s at the end are the run at exit.
        assert_eq!(
            stuff_six(0, 0x0FF0, 1).map(|(_, c, e)| (c, e)),
            Some((8, 4))
        );
        // And back: line bytes F8 00 .. (the stuffed 0 is the sixth bit) give 1F 00 ...
        let mut fast = Fast {
            ones: 0,
            acc: 0,
            nbits: 0,
            len: 0,
        };
        let mut buf = [0; RX_BUF];
        assert!(fast.word(&mut buf, u64::from_be_bytes([0xF8, 0, 0, 0, 0, 0, 0, 0])));
        assert_eq!((fast.len, buf[0], fast.nbits), (6, 0x1F, 7 * 8 - 1 - 48));
    }

    #[test]
    fn idle_encoder_fill_sends_flags() {
        let mut encoder = Encoder::new();
        let mut out = [0; 4];
        encoder.fill(&mut out);
        assert_eq!(out, [0x7E; 4]);
        assert!(encoder.is_idle());
    }

    #[test]
    fn idle_encoder_sabme_gives_worked_example() {
        assert_eq!(
            encode_all(&[SABME], 2),
            [0x7E, 0x00, 0x80, 0xFB, 0x13, 0x15, 0x3F, 0x3F, 0x3F]
        );
    }

    #[test]
    fn idle_encoder_ua_gives_worked_example() {
        assert_eq!(
            encode_all(&[UA], 1),
            [0x7E, 0x00, 0x80, 0xCE, 0x10, 0x79, 0x7E, 0x7E]
        );
    }

    #[test]
    fn idle_encoder_rr_gives_worked_example() {
        assert_eq!(
            encode_all(&[RR], 0),
            [0x7E, 0x00, 0x80, 0x80, 0x40, 0x13, 0x39, 0x7E]
        );
    }

    #[test]
    fn idle_encoder_short_frame_is_rejected_and_counted() {
        let mut encoder = Encoder::new();
        assert_eq!(
            encoder.try_push_frame(&[0x00, 0x01]),
            Err(PushError::Length(2))
        );
        encoder.push_frame(&[0u8; MAX_FRAME + 1]);
        assert_eq!(encoder.rejected(), 1);
        assert!(encoder.is_idle());
    }

    #[test]
    fn full_encoder_push_is_refused_until_line_drains() {
        let mut encoder = Encoder::new();
        for _ in 0..MAX_QUEUED {
            encoder.try_push_frame(SABME).unwrap();
        }
        assert_eq!(encoder.try_push_frame(SABME), Err(PushError::QueueFull));
        let mut out = vec![0; encoder.queued_bytes()];
        encoder.fill(&mut out);
        assert!(encoder.is_idle());
        assert_eq!(encoder.try_push_frame(SABME), Ok(()));
    }

    #[test]
    fn hunting_decoder_sabme_worked_example_gives_frame() {
        let (frames, counters) = decode_all(&[0x7E, 0x00, 0x80, 0xFB, 0x13, 0x15, 0x3F, 0x3F]);
        assert_eq!(frames, [SABME]);
        assert_eq!(
            counters,
            Counters {
                good: 1,
                ..Counters::default()
            }
        );
    }

    #[test]
    fn hunting_decoder_idle_flags_count_nothing() {
        // Nine flags sharing their zeros (period 7), then aligned flags.
        let bits = [0x7E, 0xFD, 0xFB, 0xF7, 0xEF, 0xDF, 0xBF, 0x7E, 0x7E, 0x7E];
        let (frames, counters) = decode_all(&bits);
        assert!(frames.is_empty());
        assert_eq!(counters, Counters::default());
        // Flags one bit out of step with the bytes.
        assert_eq!(decode_all(&[0x3F; 5]).1, Counters::default());
    }

    #[test]
    fn hunting_decoder_all_ones_counts_nothing() {
        let (_, counters) = decode_all(&[0xFF; 16]);
        assert_eq!(counters, Counters::default());
    }

    #[test]
    fn open_decoder_all_ones_counts_one_abort() {
        let (_, counters) = decode_all(&[0x7E, 0x00, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            counters,
            Counters {
                aborted: 1,
                ..Counters::default()
            }
        );
    }

    #[test]
    fn open_decoder_one_stray_bit_between_flags_is_non_octet() {
        // 7E then 3F puts a single 0 between two flags.
        let (_, counters) = decode_all(&[0x7E, 0x3F, 0x3F]);
        assert_eq!(
            counters,
            Counters {
                non_octet: 1,
                ..Counters::default()
            }
        );
    }

    #[test]
    fn open_decoder_two_octets_between_flags_is_too_short() {
        // 7E, then octets 01 02 (LSB first: 80 40), then 7E.
        let (_, counters) = decode_all(&[0x7E, 0x80, 0x40, 0x7E]);
        assert_eq!(
            counters,
            Counters {
                too_short: 1,
                ..Counters::default()
            }
        );
    }

    #[test]
    fn open_decoder_flipped_bit_counts_bad_fcs() {
        let (_, counters) = decode_all(&[0x7E, 0x00, 0x80, 0xCE, 0x11, 0x79, 0x7E]);
        assert_eq!(
            counters,
            Counters {
                bad_fcs: 1,
                ..Counters::default()
            }
        );
    }
}
