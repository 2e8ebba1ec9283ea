//! D-channel HDLC: flags, zero-bit insertion and the FCS-16.
//!
//! Contract: `spec/line-format.md` section 4 (binding); algorithms and vectors:
//! `t1-e1-hdlc-notes.md` sections 1, 6 and 7.
//!
//! ```text
//!  line bits (D timeslot values, MSB first)                 frames (address..information)
//!        │                                                          ▲
//!        ▼                                                          │
//!  Decoder: 8-byte word, no six 1s ─▶ stuffed 0s removed ─▶ octets ─▶ FCS ─▶ Counters
//!           else the word split at each flag (same removal) ──────┘   ▲
//!           else (abort, flag's last bit past the word) bit loop ─────┘
//!
//!  Encoder: frame ─▶ FCS ─▶ TX table per octet (stuffed bits in line order) ─▶ line bytes
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
//! a bit-serial loop manages ~16 MB/s. Notes section 6 ("Table-driven speedups") sketches
//! the tables; both directions go further.
//!
//! Receive works on 64 line bits at a time: shifts and masks find the 0s that follow five
//! 1s (stuffed, removed) and any run of six 1s. A word with none is all frame content; a
//! word with a flag is split there and the rest taken from the flag on, so a step can start
//! at any bit offset (only the last five bits before it matter). Only aborts and a flag
//! whose last bit lies past the word go through the bit loop. The partial octet waits in
//! the buffer, so each step stores sixteen bytes and keeps no accumulator. The words are
//! taken in line order (each byte's first bit lowest): the input is reversed a 512-byte
//! block at a time into a stack buffer, in a pass the compiler vectorises, rather than word
//! by word in the loop, where the three mask constants of the reversal crowded out the
//! loop's state (7% fewer instructions; from 262 to 304..349 MB/s of thread CPU time in
//! the bench on a loaded machine).
//!
//! Transmit goes through a table indexed by (ones-run at entry, octet) that gives the
//! stuffed bits already in line order; five octets fill one 64-bit word. The exit run of
//! every octet but FF is known from the octet alone (a second table gives it as the next
//! row's offset), so consecutive lookups do not wait for each other; FF takes its exit run
//! from its entry on a cold path. Each entry carries its bit count in its low bits: the
//! whole entry is added to the bit counter (only its low six bits are read) and shifted into
//! the output word with its low bits, which five octets never reach and each store masks
//! off, so an octet costs eleven instructions. The output is a fixed-size array indexed by
//! mask, so the stores need no bounds checks. (A word encoder that stuffs eight octets with
//! shifts ran 1.4x fewer instructions but measured slower: its variable count of inserted
//! 0s tripled the mispredicted branches.) The FCS is a slice-by-16 table over the whole
//! frame at once.

use std::collections::VecDeque;

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
/// Receive buffer: a power of two above `MAX_STORED + 1`, so `& (RX_BUF - 1)` is an index
/// the compiler can see is in bounds, plus room for the word path's sixteen-byte store
/// there: both store without a branch.
const RX_BUF: usize = 512;
const RX_STORE: usize = RX_BUF + 16;
/// Line bytes the decoder puts in line order at a time (on the stack).
const ORDER_BLOCK: usize = 512;

/// The HDLC frame check sequence of `frame` (CRC-16/X.25), sent low octet first.
pub fn fcs(frame: &[u8]) -> u16 {
    !fcs_update(0xFFFF, frame)
}

/// The CRC-16/X.25 register (reflected, polynomial 0x1021 as 0x8408) after `bytes`,
/// sixteen at a time: one table per position in the block, so the sixteen lookups do not
/// wait for each other. Fixed-size blocks and `u8` indexes leave no bounds checks, which
/// is where this beats the `crc` crate's slice-by-16 (under callgrind, on the bench corpus:
/// about 2.3 instructions per octet against 3.7).
#[inline]
fn fcs_update(mut crc: u16, bytes: &[u8]) -> u16 {
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        if let Some(b) = block.first_chunk::<16>() {
            crc = fcs_step(crc, b);
        }
    }
    let mut rest = blocks.remainder();
    if let Some((b, tail)) = rest.split_first_chunk::<8>() {
        crc = fcs_step(crc, b);
        rest = tail;
    }
    for &byte in rest {
        crc = crc >> 8 ^ FCS_TABLES[0][usize::from(byte ^ crc as u8)];
    }
    crc
}

/// `N` octets at once (`N` <= 16): each octet's change to the register looked up for the
/// `N - 1 - i` octets that follow it, the register itself folded into the first two.
/// `N` is a constant, so the loop unrolls into independent loads.
#[inline(always)]
fn fcs_step<const N: usize>(crc: u16, b: &[u8; N]) -> u16 {
    let [low, high] = crc.to_le_bytes();
    let mut next = 0;
    for (i, &octet) in b.iter().enumerate() {
        let octet = match i {
            0 => octet ^ low,
            1 => octet ^ high,
            _ => octet,
        };
        next ^= FCS_TABLES[N - 1 - i][usize::from(octet)];
    }
    next
}

/// `FCS_TABLES[k][b]`: the register change octet `b` makes when `k` zero octets follow it.
static FCS_TABLES: [[u16; 256]; 16] = fcs_tables();

const fn fcs_tables() -> [[u16; 256]; 16] {
    let mut t = [[0u16; 256]; 16];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u16;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 == 1 {
                crc >> 1 ^ 0x8408
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = prev >> 8 ^ t[0][(prev & 0xFF) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

// Transmit table entry, indexed by (ones-run at entry) * 256 + octet: bits 54-63 the
// stuffed bits in line order, left-aligned (the first line bit is bit 63), so they go into
// the output word with one shift; bits 0-5 their count (8..=10); bits 6-8 the ones-run at
// exit (0..=4). The low nine bits ride along into the output word below the line bits
// (five octets and the pending bits fill at most bits 63..9) and are masked off once per
// store, and the count is added to the bit counter as the whole entry: only the counter's
// low six bits are read, so neither costs an instruction per octet.
static TX: [u64; 8 * 256] = tx_table();

const fn tx_table() -> [u64; 8 * 256] {
    let mut table = [0u64; 8 * 256];
    let mut index = 0;
    while index < table.len() {
        // Runs 5..7 never occur at entry (a 0 follows every fifth 1); treat them as 4 so
        // every entry is still a valid encoding.
        let mut ones = (index >> 8) as u64;
        if ones > 4 {
            ones = 4;
        }
        let octet = (index & 0xFF) as u64;
        let (mut bits, mut count) = (0u64, 0u64);
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
        table[index] = bits << (64 - count) | ones << 6 | count;
        index += 1;
    }
    table
}

/// Bits of a [`TX`] entry below the stuffed ones: the count and the exit run.
const TX_LOW: u64 = 0x1FF;

// The row of `TX` (256 times the ones-run) an octet leaves when it holds a 0 (every octet
// but FF): its last 1s, less the five a stuffed 0 cuts off. It does not depend on the run
// at entry, so the encoder knows the next table row without waiting for this octet's entry
// to load; stored as the row offset, it is one OR from the next index. (A `repr(u16)` enum
// of the five rows, whose known range dropped the index mask, measured 0.6 instructions
// per line byte worse: the compiler then merged the FF path's row load with this one's
// and computed its address apart.)
static TX_ROW: [u16; 256] = tx_row_table();

const fn tx_row_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut octet = 0;
    while octet < 256 {
        // Octets go out LSB first, so the last line bits are the high ones.
        let last = (octet as u8).leading_ones() as u16;
        table[octet] = if last >= 5 { last - 5 } else { last } << 8;
        octet += 1;
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
    acc: u64,
    /// How many bits `acc` holds (0..=7).
    nbits: u32,
    /// Octets of the frame so far; past `MAX_STORED` it overflowed (the bit loop caps this
    /// at `MAX_STORED + 1`, the word path does not).
    len: usize,
    /// No flag seen since start or the last abort: bits are discarded, not judged.
    hunting: bool,
    buf: [u8; RX_STORE],
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
            buf: [0; RX_STORE],
            counters: Counters::default(),
        }
    }

    /// Feed line bits: each byte carries 8 D-channel bits, most significant first. Calls
    /// `on_frame` with each good frame, FCS removed.
    pub fn decode(&mut self, bits: &[u8], mut on_frame: impl FnMut(&[u8])) {
        // The word path wants line order (each byte's first bit in its lowest one). One
        // pass over a block reverses the bits of sixteen bytes at a time (the compiler
        // vectorises it), cheaper than reversing each word in the loop that needs the
        // registers. The decoder's state carries across blocks as across calls.
        let mut order = [0u8; ORDER_BLOCK];
        for block in bits.chunks(ORDER_BLOCK) {
            let order = &mut order[..block.len()];
            for (reversed, &byte) in order.iter_mut().zip(block) {
                *reversed = byte.reverse_bits();
            }
            self.decode_block(block, order, &mut on_frame);
        }
    }

    /// [`decode`](Self::decode) of `bits`, whose bytes reversed are `order`.
    #[inline(always)]
    fn decode_block(&mut self, bits: &[u8], order: &[u8], on_frame: &mut impl FnMut(&[u8])) {
        let end = bits.len() * 8;
        let mut pos = 0;
        while pos < end {
            if self.ones <= 5 {
                pos = self.decode_words(order, pos, on_frame);
                if pos >= end {
                    break;
                }
            }
            // The word path stopped at a run of six 1s it could not settle (an abort, or
            // the bit after the sixth 1 is not in its window): bit by bit to a byte edge.
            pos = self.decode_bits(bits, pos, on_frame);
        }
    }

    /// What has been delivered and discarded so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The word path from bit `pos` of `order` (line bytes in line order: see
    /// [`decode`](Self::decode); the run at entry is at most five): 64 line bits a step,
    /// flags included. Returns where it stopped: the end, or a run of six 1s it leaves to
    /// the bit loop (the run is then five, just before the sixth 1).
    #[inline]
    fn decode_words(
        &mut self,
        order: &[u8],
        pos: usize,
        on_frame: &mut impl FnMut(&[u8]),
    ) -> usize {
        let bits = order;
        // A local copy, so the loop keeps the state in registers; the pending bits wait in
        // the buffer, where the word path keeps them.
        let mut word = Words {
            before: !(u64::MAX >> self.ones),
            nbits: self.nbits,
            len: self.len,
        };
        self.buf[self.len & (RX_BUF - 1)] = self.acc as u8;
        // The line bytes from the next one on, and how many bits of it are already taken.
        let (mut rest, mut shift) = (bits.get(pos >> 3..).unwrap_or_default(), (pos & 7) as u32);
        // The runs of two and four 1s ending at each bit of the word before: carried from
        // step to step, they make `five` three instructions cheaper than `Words::five`.
        let (mut pairs, mut fours) = runs(word.before);
        let end = loop {
            if let Some((&window, tail)) = rest.split_first_chunk::<8>() {
                let line = u64::from_le_bytes(window);
                if shift == 0 {
                    let (five, pairs_now, fours_now) = five_after(line, word.before, pairs, fours);
                    if line & five == 0 {
                        // Frame content through the whole window: the usual case.
                        word.take(&mut self.buf, line, !line & five, 64);
                        word.before = line;
                        (pairs, fours) = (pairs_now, fours_now);
                        rest = tail;
                        continue;
                    }
                }
                let stop;
                (word, stop) = self.window(word, line >> shift, 64 - shift, on_frame);
                if let Some(used) = stop {
                    break (bits.len() - rest.len()) * 8 + (shift + used) as usize;
                }
                (pairs, fours) = runs(word.before);
                (rest, shift) = (tail, 0);
            } else if !rest.is_empty() {
                // The last few bytes, zero-padded: zeros never complete a run of six 1s,
                // and `avail` keeps them out of the frame.
                let mut padded = [0u8; 8];
                padded[..rest.len()].copy_from_slice(rest);
                let line = u64::from_le_bytes(padded) >> shift;
                let avail = (rest.len() * 8) as u32 - shift;
                let stop;
                (word, stop) = self.window(word, line, avail, on_frame);
                break match stop {
                    Some(used) => (bits.len() - rest.len()) * 8 + (shift + used) as usize,
                    None => bits.len() * 8,
                };
            } else {
                break bits.len() * 8;
            }
        };
        self.ones = word.before.leading_ones();
        (self.nbits, self.len) = (word.nbits, word.len);
        self.acc = u64::from(self.buf[self.len & (RX_BUF - 1)]);
        end
    }

    /// A window the word loop does not take whole: it holds a run of six 1s, starts
    /// mid-byte (after a flag) or is the end of the input. `line` has `avail` line bits
    /// (1..=64, zeros above). Takes them up to a run of six 1s it cannot settle, and returns
    /// the state and then how many bits it took; flags in between are handled here.
    #[inline(never)]
    fn window(
        &mut self,
        mut word: Words,
        mut line: u64,
        mut avail: u32,
        on_frame: &mut impl FnMut(&[u8]),
    ) -> (Words, Option<u32>) {
        let mut used = 0;
        loop {
            let five = word.five(line);
            let six = line & five;
            if six == 0 {
                let content = u64::MAX >> (64 - avail);
                word.take(&mut self.buf, line, !line & five & content, avail);
                // The content's bits, on top of those before it if there are fewer than five.
                word.before = line << (64 - avail) | word.before.checked_shr(avail).unwrap_or(0);
                return (word, None);
            }
            // The sixth 1 of the first run of six: content stops before it. The bit after
            // it decides flag (0) or abort (1), if the window holds it.
            let sixth = six.trailing_zeros();
            let content = (1u64 << sixth) - 1;
            word.take(&mut self.buf, line & content, !line & five & content, sixth);
            if sixth + 1 >= avail || (line >> (sixth + 1)) & 1 == 1 {
                word.before = !(u64::MAX >> 5);
                return (word, Some(used + sixth));
            }
            (self.nbits, self.len) = (word.nbits, word.len);
            self.flag(on_frame);
            // A flag ends with a 0: the run starts again from nothing.
            word = Words {
                before: 0,
                nbits: 0,
                len: 0,
            };
            let taken = sixth + 2;
            if taken == avail {
                return (word, None);
            }
            (line, avail, used) = (line >> taken, avail - taken, used + taken);
        }
    }

    /// The bit loop of notes section 6, from bit `pos` to the end of its byte; returns the
    /// next bit. It takes what the word path leaves: a flag whose last bit is beyond the
    /// word, aborts and all-ones fill. Only flag and abort branch; storing is arithmetic.
    #[inline(never)]
    fn decode_bits(&mut self, bits: &[u8], pos: usize, on_frame: &mut impl FnMut(&[u8])) -> usize {
        let Some(&byte) = bits.get(pos >> 3) else {
            return bits.len() * 8;
        };
        let next = (pos | 7) + 1;
        // An abort in progress stays one through more 1s and stores nothing: an all-ones
        // line (AIS) costs a compare per byte.
        if self.ones == 7 && byte == 0xFF {
            return next;
        }
        for shift in (0..8 - (pos & 7) as u32).rev() {
            let bit = u64::from(byte >> shift) & 1;
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
            self.acc |= (bit & u64::from(keep)) << self.nbits;
            self.nbits += keep;
            self.buf[self.len & (RX_BUF - 1)] = self.acc as u8;
            let full = self.nbits >> 3;
            self.acc >>= full * 8;
            self.nbits &= 7;
            self.len = (self.len + full as usize).min(MAX_STORED + 1);
            self.ones = (ones + 1).min(7) * bit as u32;
        }
        next
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
        self.ones = 0;
        self.hunting = false;
        // The stored bits end with the flag's leading 0 and its first five 1s. None at all
        // after hunting, or back-to-back flags: nothing to judge.
        let stored = len * 8 + nbits as usize;
        if !hunting && stored > 6 {
            let counters = &mut self.counters;
            if len > MAX_STORED || (len == MAX_STORED && nbits > 6) {
                counters.too_long += 1;
            } else if nbits != 6 {
                counters.non_octet += 1;
            } else if len < MIN_FRAME + FCS_LEN {
                counters.too_short += 1;
            } else {
                let (frame, sent) = self.buf[..len].split_at(len - FCS_LEN);
                if fcs(frame).to_le_bytes() == sent {
                    counters.good += 1;
                    on_frame(frame);
                } else {
                    counters.bad_fcs += 1;
                }
            }
        }
        // The word path keeps pending bits in the buffer: the next frame starts with none.
        self.buf[0] = 0;
    }
}

/// The receive state the word path touches, held in registers while it runs. The bits
/// not yet a whole octet wait in the buffer at `len`, with zeros above them.
#[derive(Debug)]
struct Words {
    /// The line bits before the word, the latest in bit 63: stuffing and flags depend on
    /// the last five only, and they end in a 0 or are a run of at most five 1s.
    before: u64,
    nbits: u32,
    len: usize,
}

impl Words {
    /// Bit i: the five line bits before bit i of `line` are all 1.
    #[inline(always)]
    fn five(&self, line: u64) -> u64 {
        let before = self.before;
        (line << 1 | before >> 63)
            & (line << 2 | before >> 62)
            & (line << 3 | before >> 61)
            & (line << 4 | before >> 60)
            & (line << 5 | before >> 59)
    }

    /// Appends `n` line bits of frame content (`bits`, the first in bit 0, zeros above),
    /// with the stuffed 0s at `marks` removed, and stores them.
    #[inline(always)]
    fn take(&mut self, buf: &mut [u8; RX_STORE], mut bits: u64, mut marks: u64, n: u32) {
        // Random data has about one stuffed 0 per 64 bits: remove one without branching,
        // more in a loop. (A second branch-free removal cut the mispredicted branches by a
        // third but cost more time than they did: 1.4 more instructions per line byte.)
        let mut count = n - u32::from(marks != 0);
        (bits, marks) = remove_lowest(bits, marks);
        while marks != 0 {
            (bits, marks) = remove_lowest(bits, marks);
            count -= 1;
        }
        // Sixteen bytes go to the buffer every time, which keeps this branch-free: the
        // pending bits with the new ones, and what did not fit in the first eight (the two
        // shifts keep a pending count of 0 from shifting by 64). The bytes past the new
        // bits are zeros, as the next step expects.
        let at = self.len & (RX_BUF - 1);
        let out = u64::from(buf[at]) | bits << self.nbits;
        let spill = (bits >> 1) >> (63 - self.nbits);
        if let Some(slot) = buf.get_mut(at..at + 16) {
            slot[..8].copy_from_slice(&out.to_le_bytes());
            slot[8..].copy_from_slice(&spill.to_le_bytes());
        }
        let total = self.nbits + count;
        self.nbits = total & 7;
        // Not capped: past `MAX_STORED` the frame is too long whatever its length, and the
        // stores wrap round the buffer.
        self.len += (total >> 3) as usize;
    }
}

/// The runs of two and of four 1s ending at each bit of `before` (line order, the latest
/// bit in bit 63): bit i is set when bits i and i-1 (or i down to i-3) are all 1.
#[inline(always)]
fn runs(before: u64) -> (u64, u64) {
    let pairs = before & before << 1;
    (pairs, pairs & pairs << 2)
}

/// [`Words::five`] from the word before and its [`runs`]; also the runs of `line`.
#[inline(always)]
fn five_after(line: u64, before: u64, pairs: u64, fours: u64) -> (u64, u64, u64) {
    // Bit i: line bits i and i-1 are 1; then i down to i-3; then the five before i.
    let pairs_now = line & (line << 1 | before >> 63);
    let fours_now = pairs_now & (pairs_now << 2 | pairs >> 62);
    let five = (fours_now << 1 | fours >> 63) & (line << 5 | before >> 59);
    (five, pairs_now, fours_now)
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
    /// Encoded line bytes not yet handed out are `line[head..end]`. Past `end` the buffer
    /// keeps room for one more stuffed frame, written in place with whole-word stores, so
    /// a frame costs neither a resize nor a truncate.
    line: Vec<u8>,
    head: usize,
    end: usize,
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
            end: 0,
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
        // Room for an opening flag and one stuffed frame; grown by doubling, so rarely.
        let need = self.end + 1 + STUFFED_ROOM + 8;
        if self.line.len() < need {
            self.line.resize(need.max(2 * self.line.len()), 0);
        }
        if !self.started {
            self.line[self.end] = FLAG;
            self.end += 1;
            self.started = true;
        }
        let room = self
            .line
            .get_mut(self.end..)
            .and_then(|rest| rest.first_chunk_mut());
        // Never taken: `line` was sized for one more stuffed frame above.
        let Some(room) = room else {
            return Err(PushError::QueueFull);
        };
        let (written, phase) = encode_stuffed(frame, self.phase, room);
        self.end += written;
        self.phase = phase;
        self.ends.push_back(self.base + self.end as u64);
        Ok(())
    }

    /// Fill `out` with line bits (each byte 8 bits MSB first): queued frames, flags when
    /// idle.
    pub fn fill(&mut self, out: &mut [u8]) {
        let staged = self.line.get(self.head..self.end).unwrap_or_default();
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
        self.head >= self.end
    }

    /// Line bytes queued before idle fill starts.
    pub fn queued_bytes(&self) -> usize {
        self.end.saturating_sub(self.head)
    }

    /// Frames [`push_frame`](Self::push_frame) has dropped (bad length or full queue).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Drops line bytes already handed out, so `line` stays bounded under steady traffic.
    fn compact(&mut self) {
        if self.head >= self.end || self.head > self.end / 2 {
            let head = self.head.min(self.end);
            self.base += head as u64;
            self.line.copy_within(head..self.end, 0);
            self.end -= head;
            self.head = 0;
        }
    }
}

/// Line bytes one stuffed frame can take: 10 bits per octet at worst, the closing flag,
/// and room for the 8-byte stores that always write past the end.
const STUFFED_MAX: usize = (MAX_FRAME + FCS_LEN) * 10 / 8 + 2 + 16;
/// The power of two above `STUFFED_MAX` the encoder's stores index by mask.
const STUFFED_ROOM: usize = STUFFED_MAX.next_power_of_two();

/// Writes `frame`, its FCS and a closing flag, bit-stuffed, at the start of `line`. The
/// stream so far ends with a flag of which `phase` bits are still pending (not yet in a
/// whole byte); returns the bytes written and the pending bits of the new closing flag.
fn encode_stuffed(frame: &[u8], phase: u32, line: &mut [u8; STUFFED_ROOM + 8]) -> (usize, u32) {
    let frame = &frame[..frame.len().min(MAX_FRAME)];
    let mut out = Stuffed {
        bytes: line,
        len: 0,
        // The pending bits are the flag's last `phase` bits.
        top: u64::from(FLAG) << 56 << (8 - phase),
        bits: u64::from(phase),
        // The flag ends with a 0, so the run starts at 0.
        row: 0,
    };
    // Five octets stuffed (at most 48 bits: a 0 per five 1s) and seven pending fit above
    // the entries' low bits in the 64-bit `top`.
    let mut chunks = frame.chunks_exact(5);
    for chunk in &mut chunks {
        for &octet in chunk {
            out.octet(octet);
        }
        out.flush();
    }
    for &octet in chunks.remainder() {
        out.octet(octet);
    }
    out.flush();
    let [low, high] = fcs(frame).to_le_bytes();
    out.octet(low);
    out.octet(high);
    out.top |= (u64::from(FLAG) << 56) >> (out.bits & 63);
    out.bits += 8;
    out.flush();
    (out.len, (out.bits & 7) as u32)
}

/// Marks the path that calls it as rare, so the compiler lays it out of line and the
/// common path falls through without a jump (`std::hint::cold_path` is newer than the
/// crate's minimum Rust).
#[cold]
#[inline(never)]
fn cold() {}

/// Stuffed line bits being packed into bytes, first bit most significant.
struct Stuffed<'a> {
    bytes: &'a mut [u8; STUFFED_ROOM + 8],
    len: usize,
    /// Bits not yet in a whole byte, left-aligned, over [`TX_LOW`] garbage.
    top: u64,
    /// Bits in `top` (low six bits; the higher ones are the entries' garbage).
    bits: u64,
    /// Row of `TX` for the run of 1s at the end of the bits so far (run 0..=4, times 256).
    row: usize,
}

impl Stuffed<'_> {
    #[inline(always)]
    fn octet(&mut self, octet: u8) {
        let entry = TX[(self.row | usize::from(octet)) & (TX.len() - 1)];
        self.top |= entry >> (self.bits & 63);
        self.bits = self.bits.wrapping_add(entry);
        // Only FF's exit run depends on the run at entry (FF is rare: a well-predicted
        // branch); taking every other octet's from `TX_ROW` keeps the lookups independent
        // of each other.
        self.row = usize::from(TX_ROW[usize::from(octet)]);
        if octet == 0xFF {
            cold();
            self.row = ((entry >> 6 & 7) << 8) as usize;
        }
    }

    /// Stores the whole bytes of `top` (eight bytes every time, advancing by the whole
    /// ones: no branch).
    #[inline(always)]
    fn flush(&mut self) {
        // `len` stays below `STUFFED_MAX - 8`; the mask shows the compiler the store is in
        // bounds for one instruction.
        let at = self.len & (STUFFED_ROOM - 1);
        let top = self.top & !TX_LOW;
        if let Some(slot) = self.bytes.get_mut(at..at + 8) {
            slot.copy_from_slice(&top.to_be_bytes());
        }
        let bits = self.bits & 63;
        let full = bits / 8;
        self.len += full as usize;
        self.top = top << (full * 8); // at most 48: `bits` stays below 56
        self.bits = bits % 8;
    }
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
    fn fcs_matches_crc_crate_at_every_length() {
        // Every split into sixteen-, eight- and one-octet steps, against an outside CRC.
        let x25 = crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC);
        let mut rng = fastrand::Rng::with_seed(16);
        for len in 0..=MAX_FRAME + FCS_LEN {
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            assert_eq!(fcs(&bytes), x25.checksum(&bytes), "{len} octets");
        }
    }

    #[test]
    fn fcs_sabme_gives_5464() {
        assert_eq!(fcs(SABME).to_le_bytes(), [0x64, 0x54]);
    }

    #[test]
    fn tx_table_octet_ff_gets_one_stuffed_zero() {
        let entry = TX[0xFF];
        assert_eq!(entry & 0x3F, 9);
        assert_eq!(entry >> 55, 0b1_1111_0111);
        assert_eq!((entry >> 6) & 7, 3);
        // Entered with a run of 4, FF gets two stuffed 0s and leaves a run of 2.
        let entry = TX[4 << 8 | 0xFF];
        assert_eq!(entry & 0x3F, 10);
        assert_eq!(entry >> 54, 0b10_1111_1011);
        assert_eq!((entry >> 6) & 7, 2);
        // The exit run of an octet holding a 0 does not depend on the run at entry.
        assert_eq!(TX_ROW[0xF0], 4 << 8);
        assert_eq!(TX_ROW[0xFE], 2 << 8);
        assert_eq!(TX_ROW[0x7F], 0);
    }

    fn word(before: u64) -> Words {
        Words {
            before,
            nbits: 0,
            len: 0,
        }
    }

    #[test]
    fn five_sees_the_run_before_the_word() {
        // Five 1s before the word: bit 0 follows them; one 1 more and bit 1 does not.
        assert_eq!(word(!(u64::MAX >> 5)).five(0) & 1, 1);
        assert_eq!(word(!(u64::MAX >> 4)).five(0) & 1, 0);
        assert_eq!(word(!(u64::MAX >> 4)).five(1) & 0b11, 0b10);
    }

    #[test]
    fn five_after_carried_runs_matches_five() {
        let mut rng = fastrand::Rng::with_seed(6);
        for _ in 0..10_000 {
            // Long runs of 1s are what matter: OR a few random words together.
            let (line, before) = (rng.u64(..) | rng.u64(..), rng.u64(..) | rng.u64(..));
            let (pairs, fours) = runs(before);
            let (five, pairs_now, fours_now) = five_after(line, before, pairs, fours);
            assert_eq!(
                five,
                word(before).five(line),
                "{line:016X} after {before:016X}"
            );
            // The runs carried out are those `runs` gives for the next step.
            let next = rng.u64(..) | rng.u64(..);
            assert_eq!(
                five_after(next, line, pairs_now, fours_now).0,
                word(line).five(next)
            );
        }
    }

    #[test]
    fn take_removes_the_stuffed_zero_and_stores_octets() {
        let mut buf = [0; RX_STORE];
        let mut w = word(0);
        // Line bits 11111 0 then ten 1s: the 0 at bit 5 is stuffed, fifteen 1s remain.
        let line = 0xFFDF;
        let marks = !line & w.five(line) & 0xFFFF;
        assert_eq!(marks, 1 << 5);
        w.take(&mut buf, line, marks, 16);
        assert_eq!((w.len, w.nbits), (1, 7));
        assert_eq!(buf[..3], [0xFF, 0x7F, 0]);
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
