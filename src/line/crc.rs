//! G.704 CRC-6 (T1 ESF) and CRC-4 (E1 multiframe).
//!
//! Contract: `spec/line-format.md` sections 2 and 3; algorithm and vectors:
//! `t1-e1-hdlc-notes.md` section 5. Both CRCs treat the block as a polynomial whose
//! first transmitted bit is the highest power (MSB first), start from 0 and have no final
//! XOR; C1 is the most significant bit of the remainder.
//!
//! ```text
//!  bit-serial (reference)      byte / word (fast path, same result)
//!  feedback = msb ^ bit        state kept top-aligned in a u8 (CRC-6 << 2, CRC-4 << 4)
//!  reg <<= 1                   8 bytes at a time: slice-by-8 tables, one dependent
//!  if feedback: reg ^= LOW     lookup per 8 bytes, the other seven independent
//! ```
//!
//! The framers keep the state top-aligned ([`Crc6`], [`Crc4`]) because that lets a whole
//! 64-bit timeslot word be folded in at once, which is what makes the receivers reach
//! line rates far above 1 GB/s.

/// Slice-by-8 tables for an MSB-first CRC of width `width` (<= 8) whose generator
/// without its top term is `low`; the state is top-aligned in a byte.
const fn tables(width: u32, low: u8) -> [[u8; 256]; 8] {
    let poly = low << (8 - width);
    let mut t = [[0u8; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut reg = b as u8;
        let mut i = 0;
        while i < 8 {
            reg = if reg & 0x80 != 0 {
                (reg << 1) ^ poly
            } else {
                reg << 1
            };
            i += 1;
        }
        t[0][b] = reg;
        b += 1;
    }
    // t[j][b]: the state after byte b followed by j zero bytes.
    let mut j = 1;
    while j < 8 {
        let mut b = 0;
        while b < 256 {
            t[j][b] = t[0][t[j - 1][b] as usize];
            b += 1;
        }
        j += 1;
    }
    t
}

/// The state after feeding one `1` bit to each top-aligned state.
const fn one_bit(width: u32, low: u8) -> [u8; 256] {
    let poly = low << (8 - width);
    let mut t = [0u8; 256];
    let mut s = 0;
    while s < 256 {
        let reg = (s as u8) ^ 0x80;
        t[s] = if reg & 0x80 != 0 {
            (reg << 1) ^ poly
        } else {
            reg << 1
        };
        s += 1;
    }
    t
}

/// `D` tables: `t[d][b]` is the top-aligned state after byte `b` then `d` zero bytes.
const fn distance_tables<const D: usize>(width: u32, low: u8) -> [[u8; 256]; D] {
    let t0 = tables(width, low);
    let mut t = [[0u8; 256]; D];
    let mut b = 0;
    while b < 256 {
        t[0][b] = t0[0][b];
        b += 1;
    }
    let mut d = 1;
    while d < D {
        let mut b = 0;
        while b < 256 {
            t[d][b] = t0[0][t[d - 1][b] as usize];
            b += 1;
        }
        d += 1;
    }
    t
}

/// `t[s]`: the top-aligned state `s` advanced over `lead` (one bit) and then `zeros`
/// zero bits.
const fn advance_table(width: u32, low: u8, lead: Option<u8>, zeros: u32) -> [u8; 256] {
    let poly = low << (8 - width);
    let mut t = [0u8; 256];
    let mut s = 0;
    while s < 256 {
        let mut reg = s as u8;
        if let Some(bit) = lead {
            let fb = ((reg >> 7) ^ bit) & 1;
            reg <<= 1;
            if fb != 0 {
                reg ^= poly;
            }
        }
        let mut i = 0;
        while i < zeros {
            reg = if reg & 0x80 != 0 {
                (reg << 1) ^ poly
            } else {
                reg << 1
            };
            i += 1;
        }
        t[s] = reg;
        s += 1;
    }
    t
}

static CRC6_TABLES: [[u8; 256]; 8] = tables(6, 0b11);
/// A T1 frame's 24 timeslot bytes by distance from the frame end.
static CRC6_FRAME: [[u8; 256]; 24] = distance_tables(6, 0b11);
/// The state over a T1 frame whose payload is zero: F = 1, then 192 zeros.
static CRC6_OVER_FRAME: [u8; 256] = advance_table(6, 0b11, Some(1), 192);
/// An E1 frame's 32 bytes by distance from the frame end.
static CRC4_FRAME: [[u8; 256]; 32] = distance_tables(4, 0b11);
/// The state over 256 zero bits.
static CRC4_OVER_FRAME: [u8; 256] = advance_table(4, 0b11, None, 256);
static CRC6_ONE: [u8; 256] = one_bit(6, 0b11);
static CRC4_TABLES: [[u8; 256]; 8] = tables(4, 0b11);

#[inline(always)]
fn fold_u64(t: &[[u8; 256]; 8], state: u8, word: u64) -> u8 {
    let b = word.to_be_bytes();
    t[7][(b[0] ^ state) as usize]
        ^ t[6][b[1] as usize]
        ^ t[5][b[2] as usize]
        ^ t[4][b[3] as usize]
        ^ t[3][b[4] as usize]
        ^ t[2][b[5] as usize]
        ^ t[1][b[6] as usize]
        ^ t[0][b[7] as usize]
}

/// The contribution of `words` (the end of a block) from a zero state: one independent
/// lookup per byte, so consecutive frames do not wait for each other.
#[inline(always)]
fn frame_contribution<const D: usize>(t: &[[u8; 256]; D], words: &[u64]) -> u8 {
    let mut acc = 0u8;
    let mut d = D;
    for w in words {
        for b in w.to_be_bytes() {
            d = d.wrapping_sub(1);
            if let Some(row) = t.get(d) {
                acc ^= row[b as usize];
            }
        }
    }
    acc
}

#[inline(always)]
fn fold_bytes(t: &[[u8; 256]; 8], mut state: u8, bytes: &[u8]) -> u8 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        state = fold_u64(t, state, u64::from_be_bytes(w));
    }
    for &b in chunks.remainder() {
        state = t[0][(b ^ state) as usize];
    }
    state
}

/// A running CRC-6 (x^6 + x + 1), MSB first, initial value 0, no final XOR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crc6(u8);

impl Crc6 {
    /// A CRC over the empty block.
    pub const fn new() -> Self {
        Crc6(0)
    }

    /// Feed one bit (only the lowest bit of `bit` is used).
    #[inline]
    pub fn update_bit(&mut self, bit: u8) {
        let feedback = ((self.0 >> 7) ^ bit) & 1;
        self.0 <<= 1;
        if feedback != 0 {
            self.0 ^= 0b11 << 2;
        }
    }

    /// Feed a `1` bit: the forced F bit of the ESF CRC, one table lookup.
    #[inline(always)]
    pub fn update_one(&mut self) {
        self.0 = CRC6_ONE[self.0 as usize];
    }

    /// Feed the 64 bits of `word`, most significant first.
    #[inline(always)]
    pub fn update_u64(&mut self, word: u64) {
        self.0 = fold_u64(&CRC6_TABLES, self.0, word);
    }

    /// Feed whole bytes, each most significant bit first.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0 = fold_bytes(&CRC6_TABLES, self.0, bytes);
    }

    /// Feed one T1 frame for the ESF CRC: the F bit as 1, then TS1..TS24 in `words`.
    /// Same result as `update_one` and three `update_u64`, but only one lookup depends
    /// on the running state (by linearity: state part and payload part add).
    #[inline(always)]
    pub fn update_t1_frame(&mut self, words: [u64; 3]) {
        self.0 = CRC6_OVER_FRAME[self.0 as usize] ^ frame_contribution(&CRC6_FRAME, &words);
    }

    /// The remainder, C1 in bit 5 .. C6 in bit 0.
    #[inline]
    pub const fn value(self) -> u8 {
        self.0 >> 2
    }
}

/// A running CRC-4 (x^4 + x + 1), MSB first, initial value 0, no final XOR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crc4(u8);

impl Crc4 {
    /// A CRC over the empty block.
    pub const fn new() -> Self {
        Crc4(0)
    }

    /// Feed one bit (only the lowest bit of `bit` is used).
    #[inline]
    pub fn update_bit(&mut self, bit: u8) {
        let feedback = ((self.0 >> 7) ^ bit) & 1;
        self.0 <<= 1;
        if feedback != 0 {
            self.0 ^= 0b11 << 4;
        }
    }

    /// Feed the 64 bits of `word`, most significant first.
    #[inline(always)]
    pub fn update_u64(&mut self, word: u64) {
        self.0 = fold_u64(&CRC4_TABLES, self.0, word);
    }

    /// Feed whole bytes, each most significant bit first.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0 = fold_bytes(&CRC4_TABLES, self.0, bytes);
    }

    /// Feed one 256-bit E1 frame; one lookup depends on the running state.
    #[inline(always)]
    pub fn update_e1_frame(&mut self, words: [u64; 4]) {
        self.0 = CRC4_OVER_FRAME[self.0 as usize] ^ frame_contribution(&CRC4_FRAME, &words);
    }

    /// The remainder, C1 in bit 3 .. C4 in bit 0.
    #[inline]
    pub const fn value(self) -> u8 {
        self.0 >> 4
    }
}

/// The ESF CRC-6 of a superframe accumulated frame by frame in the ring of polynomials
/// modulo x^63 - 1, and reduced modulo the generator only at the end.
///
/// x^6 + x + 1 is primitive, so it divides x^63 - 1, and a block taken modulo x^63 - 1 has
/// the same remainder as the block itself. In that ring x^64 = x, so a 64-bit word shifts
/// into the accumulator with shifts and XORs, no table: a frame (F as 1, then three
/// timeslot words) costs a dozen ALU operations and no loads. Values are kept in all 64
/// bits (bit 63 and bit 0 both stand for x^0 after one more rotation; the representation
/// is not unique, the remainder is). Same result as [`Crc6::update_t1_frame`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crc6Ring(u64);

/// `v * x^k` modulo x^63 - 1 on the 64-bit representation (0 < k < 64): the bits pushed
/// past x^63 come back at x^(i + k - 63).
#[inline(always)]
const fn mul_x_63(v: u64, k: u32) -> u64 {
    (v << k) ^ ((v >> (64 - k)) << 1)
}

/// `v * x^k` modulo x^60 - 1 on the 64-bit representation (0 < k <= 60).
#[inline(always)]
const fn mul_x_60(v: u64, k: u32) -> u64 {
    (v << k) ^ ((v >> (64 - k)) << 4)
}

impl Crc6Ring {
    /// A CRC over the empty block.
    pub const fn new() -> Self {
        Crc6Ring(0)
    }

    /// Feed one T1 frame: the F bit as 1, then TS1..TS24 in `words`.
    #[inline(always)]
    pub fn update_t1_frame(&mut self, words: [u64; 3]) {
        // x^192 + w0 x^128 + w1 x^64 + w2, with x^64 = x: Horner on x.
        let t = mul_x_63(mul_x_63(words[0] ^ 0b10, 1) ^ words[1], 1) ^ words[2];
        // The block so far moves up by a frame, 193 = 3 * 63 + 4 bits.
        self.0 = mul_x_63(self.0, 4) ^ t;
    }

    /// The remainder, C1 in bit 5 .. C6 in bit 0.
    #[inline]
    pub fn value(self) -> u8 {
        let mut c = Crc6::new();
        c.update_u64(self.0);
        c.value()
    }
}

/// The E1 CRC-4 of a sub-multiframe accumulated frame by frame in the ring of polynomials
/// modulo x^60 - 1 (x^4 + x + 1 is primitive of period 15, which divides 60), reduced at
/// the end; x^64 = x^4 there. Same result as [`Crc4::update_e1_frame`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crc4Ring(u64);

impl Crc4Ring {
    /// A CRC over the empty block.
    pub const fn new() -> Self {
        Crc4Ring(0)
    }

    /// Feed one 256-bit E1 frame.
    #[inline(always)]
    pub fn update_e1_frame(&mut self, words: [u64; 4]) {
        let t = mul_x_60(mul_x_60(mul_x_60(words[0], 4) ^ words[1], 4) ^ words[2], 4) ^ words[3];
        // 256 = 4 * 60 + 16.
        self.0 = mul_x_60(self.0, 16) ^ t;
    }

    /// The remainder, C1 in bit 3 .. C4 in bit 0.
    #[inline]
    pub fn value(self) -> u8 {
        let mut c = Crc4::new();
        c.update_u64(self.0);
        c.value()
    }
}

/// CRC-6 of whole bytes (MSB first): `crc6(b"123456789") == 0x11`.
pub fn crc6(bytes: &[u8]) -> u8 {
    let mut c = Crc6::new();
    c.update(bytes);
    c.value()
}

/// CRC-4 of whole bytes (MSB first): `crc4(b"123456789") == 0xE`.
pub fn crc4(bytes: &[u8]) -> u8 {
    let mut c = Crc4::new();
    c.update(bytes);
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The notes' bit-serial LFSR, written out independently of the tables.
    fn serial(width: u32, bits: impl IntoIterator<Item = u8>) -> u8 {
        let mask = (1u8 << width) - 1;
        let mut reg = 0u8;
        for b in bits {
            let feedback = ((reg >> (width - 1)) ^ b) & 1;
            reg = (reg << 1) & mask;
            if feedback != 0 {
                reg ^= 0b11;
            }
        }
        reg
    }

    fn bits_of(bytes: &[u8]) -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1))
            .collect()
    }

    /// The 4632 bits of an ESF superframe, F bits as 1, TS n of frame f from `ts(f, n)`.
    fn esf_superframe(ts: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut bits = Vec::new();
        for f in 1..=24 {
            bits.push(1);
            let frame: Vec<u8> = (1..=24).map(|n| ts(f, n)).collect();
            bits.extend(bits_of(&frame));
        }
        bits
    }

    fn e1_smf(ts0: [u8; 8], other: u8) -> Vec<u8> {
        let mut bytes = Vec::new();
        for t in ts0 {
            bytes.push(t);
            for n in 1..32 {
                bytes.push(if n == 16 { 0x7E } else { other });
            }
        }
        bytes
    }

    #[test]
    fn crc6_check_string_gives_0x11() {
        assert_eq!(crc6(b"123456789"), 0x11);
        assert_eq!(serial(6, bits_of(b"123456789")), 0x11);
    }

    #[test]
    fn crc4_check_string_gives_0xe() {
        assert_eq!(crc4(b"123456789"), 0xE);
        assert_eq!(serial(4, bits_of(b"123456789")), 0xE);
    }

    #[test]
    fn crc6_esf_all_ones_gives_010011() {
        let bits = esf_superframe(|_, _| 0xFF);
        assert_eq!(serial(6, bits.iter().copied()), 0b010011);
        let mut c = Crc6::new();
        for _ in 0..24 {
            c.update_one();
            c.update(&[0xFF; 24]);
        }
        assert_eq!(c.value(), 0b010011);
    }

    #[test]
    fn crc6_esf_all_zeros_gives_000010() {
        let bits = esf_superframe(|_, _| 0x00);
        assert_eq!(serial(6, bits.iter().copied()), 0b000010);
        let mut c = Crc6::new();
        for _ in 0..24 {
            c.update_one();
            c.update(&[0; 24]);
        }
        assert_eq!(c.value(), 0b000010);
    }

    #[test]
    fn crc6_esf_counting_pattern_gives_110101() {
        let ts = |f: usize, n: usize| (((f - 1) * 24 + (n - 1)) % 256) as u8;
        let bits = esf_superframe(ts);
        assert_eq!(serial(6, bits.iter().copied()), 0b110101);
        let mut c = Crc6::new();
        for f in 1..=24 {
            c.update_one();
            let frame: Vec<u8> = (1..=24).map(|n| ts(f, n)).collect();
            let mut w = [0u8; 8];
            for k in 0..3 {
                w.copy_from_slice(&frame[k * 8..k * 8 + 8]);
                c.update_u64(u64::from_be_bytes(w));
            }
        }
        assert_eq!(c.value(), 0b110101);
    }

    #[test]
    fn crc4_e1_smf_d5_gives_0100() {
        let smf = e1_smf([0x1B, 0x5F, 0x1B, 0x5F, 0x1B, 0xDF, 0x1B, 0x5F], 0xD5);
        assert_eq!(crc4(&smf), 0b0100);
        assert_eq!(serial(4, bits_of(&smf)), 0b0100);
    }

    #[test]
    fn crc4_e1_smf_ff_gives_1010() {
        let mut smf = e1_smf([0x1B, 0x5F, 0x1B, 0x5F, 0x1B, 0xDF, 0x1B, 0x5F], 0xFF);
        for (i, b) in smf.iter_mut().enumerate() {
            if i % 32 != 0 {
                *b = 0xFF;
            }
        }
        assert_eq!(crc4(&smf), 0b1010);
        assert_eq!(serial(4, bits_of(&smf)), 0b1010);
    }

    #[test]
    fn crc4_e1_smf_two_gives_0101() {
        let smf = e1_smf([0x1B, 0xDF, 0x1B, 0xDF, 0x1B, 0xDF, 0x1B, 0xDF], 0xD5);
        assert_eq!(crc4(&smf), 0b0101);
    }

    #[test]
    fn frame_updates_agree_with_word_updates() {
        let mut rng = fastrand::Rng::with_seed(3);
        let (mut a6, mut b6, mut a4, mut b4) = (Crc6::new(), Crc6::new(), Crc4::new(), Crc4::new());
        for _ in 0..100 {
            let w = [rng.u64(..), rng.u64(..), rng.u64(..), rng.u64(..)];
            a6.update_one();
            for x in &w[..3] {
                a6.update_u64(*x);
            }
            b6.update_t1_frame([w[0], w[1], w[2]]);
            assert_eq!(a6, b6);
            for x in w {
                a4.update_u64(x);
            }
            b4.update_e1_frame(w);
            assert_eq!(a4, b4);
        }
    }

    #[test]
    fn ring_updates_agree_with_table_updates() {
        let mut rng = fastrand::Rng::with_seed(4);
        for blocks in 0..200 {
            let frames = 1 + blocks % 30;
            let (mut a6, mut r6, mut a4, mut r4) =
                (Crc6::new(), Crc6Ring::new(), Crc4::new(), Crc4Ring::new());
            for _ in 0..frames {
                let mut w = [rng.u64(..), rng.u64(..), rng.u64(..), rng.u64(..)];
                if rng.bool() {
                    w[rng.usize(..4)] = if rng.bool() { u64::MAX } else { 0 };
                }
                a6.update_t1_frame([w[0], w[1], w[2]]);
                r6.update_t1_frame([w[0], w[1], w[2]]);
                a4.update_e1_frame(w);
                r4.update_e1_frame(w);
                assert_eq!(a6.value(), r6.value());
                assert_eq!(a4.value(), r4.value());
            }
        }
    }

    #[test]
    fn crc_bitwise_and_table_agree_on_odd_lengths() {
        let data: Vec<u8> = (0..37u32).map(|i| (i * 97 + 13) as u8).collect();
        for len in 0..data.len() {
            let mut a = Crc6::new();
            let mut b = Crc4::new();
            for bit in bits_of(&data[..len]) {
                a.update_bit(bit);
                b.update_bit(bit);
            }
            assert_eq!(a.value(), crc6(&data[..len]));
            assert_eq!(b.value(), crc4(&data[..len]));
        }
    }
}
