//! Line impairments for the simulator: seeded bit errors, slips, loss of signal, AIS
//! and a remote-alarm request, applied to the line byte stream as middleware (the role
//! smoltcp's `FaultInjector` plays for packets).
//!
//! Everything is reproducible from the seed: the same seed, settings and input give the
//! same output bytes, so a failing fault scenario can be replayed exactly.
//!
//! ```text
//!   framer bytes ──▶ Impair::apply ──▶ transport
//!                     │ mute (LOS): nothing passes
//!                     │ AIS: every bit replaced by 1
//!                     │ slip: N bits inserted (1s) or dropped
//!                     │ bit errors: each bit flipped with probability `ber`
//! ```

/// Seeded line impairments. Settings may change between calls to [`Impair::apply`].
#[derive(Debug)]
pub struct Impair {
    rng: fastrand::Rng,
    ber: f64,
    /// Bits until the next error, drawn from the geometric distribution so that a low
    /// error rate costs one subtraction per byte rather than a random draw per bit.
    until_error: u64,
    muted: bool,
    ais: bool,
    /// Bits still to insert (positive) or to drop (negative) at the next opportunity.
    pending_slip: i64,
    /// Output bits not yet forming a whole byte, oldest in the highest used bit.
    acc: u64,
    acc_bits: u32,
    counters: Counters,
}

/// What the impairments did, for the scenario report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bits_flipped: u64,
    pub bits_inserted: u64,
    pub bits_dropped: u64,
    pub bytes_muted: u64,
}

impl Impair {
    /// No impairment yet; `seed` fixes every random choice made later.
    pub fn new(seed: u64) -> Self {
        Impair {
            rng: fastrand::Rng::with_seed(seed),
            ber: 0.0,
            until_error: u64::MAX,
            muted: false,
            ais: false,
            pending_slip: 0,
            acc: 0,
            acc_bits: 0,
            counters: Counters::default(),
        }
    }

    /// Flip each bit with probability `ber` (0 turns errors off). Values outside
    /// `0..=1` and NaN are clamped to the nearest sensible value.
    pub fn set_bit_error_rate(&mut self, ber: f64) {
        self.ber = if ber.is_nan() {
            0.0
        } else {
            ber.clamp(0.0, 1.0)
        };
        self.until_error = self.draw_gap();
    }

    /// Insert `bits` bits (positive, sent as 1s) or drop `-bits` bits (negative) from the
    /// stream: a controlled slip that moves the frame alignment.
    pub fn slip(&mut self, bits: i64) {
        self.pending_slip = self.pending_slip.saturating_add(bits);
    }

    /// Loss of signal: while muted nothing is sent at all.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Alarm indication signal: while on, the line carries unframed all ones.
    pub fn set_ais(&mut self, ais: bool) {
        self.ais = ais;
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Impair `input` and append the result to `out`. The output may be a few bits
    /// behind the input (bits wait for a whole byte) and longer or shorter after a slip.
    pub fn apply(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.muted {
            self.counters.bytes_muted += input.len() as u64;
            return;
        }
        for &byte in input {
            let mut byte = if self.ais { 0xFF } else { byte };
            if self.ber > 0.0 {
                byte = self.flip_bits(byte);
            }
            if self.pending_slip == 0 && self.acc_bits == 0 {
                out.push(byte);
                continue;
            }
            self.push_slipped(byte, out);
        }
    }

    /// The byte after bit errors: walk the geometric gaps that fall inside it.
    fn flip_bits(&mut self, mut byte: u8) -> u8 {
        let mut left = 8u64;
        while self.until_error < left {
            let bit = 7 - self.until_error as u32 - (8 - left as u32);
            byte ^= 1 << bit;
            self.counters.bits_flipped += 1;
            left -= self.until_error + 1;
            self.until_error = self.draw_gap();
        }
        self.until_error -= left;
        byte
    }

    /// Bits between errors: P(gap = k) = (1-p)^k p.
    fn draw_gap(&mut self) -> u64 {
        if self.ber <= 0.0 {
            return u64::MAX;
        }
        if self.ber >= 1.0 {
            return 0;
        }
        // 1 - U lies in (0, 1], so the logarithm is finite.
        let u = 1.0 - self.rng.f64();
        let gap = (u.ln() / (1.0 - self.ber).ln()).floor();
        if gap.is_finite() && gap < u64::MAX as f64 {
            gap as u64
        } else {
            u64::MAX
        }
    }

    /// Slow path: a slip is pending or bits are carried over from one.
    fn push_slipped(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.pending_slip > 0 {
            let n = self.pending_slip.min(32) as u32;
            self.push_bits(u64::MAX >> (64 - n), n, out);
            self.pending_slip -= i64::from(n);
            self.counters.bits_inserted += u64::from(n);
        }
        let mut bits = u64::from(byte);
        let mut count = 8u32;
        if self.pending_slip < 0 {
            let drop = (-self.pending_slip).min(8) as u32;
            count -= drop;
            bits &= (1u64 << count) - 1;
            self.pending_slip += i64::from(drop);
            self.counters.bits_dropped += u64::from(drop);
        }
        self.push_bits(bits, count, out);
    }

    fn push_bits(&mut self, bits: u64, count: u32, out: &mut Vec<u8>) {
        if count == 0 {
            return;
        }
        self.acc = (self.acc << count) | (bits & ((1u64 << count) - 1));
        self.acc_bits += count;
        while self.acc_bits >= 8 {
            self.acc_bits -= 8;
            out.push((self.acc >> self.acc_bits) as u8);
        }
        self.acc &= (1u64 << self.acc_bits) - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(impair: &mut Impair, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        impair.apply(input, &mut out);
        out
    }

    #[test]
    fn clean_line_passes_bytes_unchanged() {
        let input: Vec<u8> = (0..=255).collect();
        assert_eq!(run(&mut Impair::new(1), &input), input);
    }

    #[test]
    fn muted_line_sends_nothing_and_counts() {
        let mut i = Impair::new(1);
        i.set_muted(true);
        assert!(run(&mut i, &[1, 2, 3]).is_empty());
        assert_eq!(i.counters().bytes_muted, 3);
        i.set_muted(false);
        assert_eq!(run(&mut i, &[4]), vec![4]);
    }

    #[test]
    fn ais_replaces_everything_with_ones() {
        let mut i = Impair::new(1);
        i.set_ais(true);
        assert_eq!(run(&mut i, &[0, 0x55]), vec![0xFF, 0xFF]);
    }

    #[test]
    fn inserting_one_bit_shifts_the_stream_right() {
        let mut i = Impair::new(1);
        i.slip(1);
        // 1 + 00000000 00000000 ... : the first output byte is 1000_0000.
        let out = run(&mut i, &[0x00, 0x00]);
        assert_eq!(out, vec![0x80, 0x00]);
        assert_eq!(i.counters().bits_inserted, 1);
    }

    #[test]
    fn dropping_one_bit_shifts_the_stream_left() {
        let mut i = Impair::new(1);
        i.slip(-1);
        // 0111_1111 1000_0000 loses its first 0: 1111_1111 000_0000|...
        let out = run(&mut i, &[0x7F, 0x80, 0x00]);
        assert_eq!(out, vec![0xFF, 0x00]);
        assert_eq!(i.counters().bits_dropped, 1);
    }

    #[test]
    fn bit_error_rate_is_close_to_the_setting_and_seeded() {
        let input = vec![0u8; 1_000_000];
        let mut a = Impair::new(42);
        a.set_bit_error_rate(1e-3);
        let out_a = run(&mut a, &input);
        let flipped: u32 = out_a.iter().map(|b| b.count_ones()).sum();
        assert_eq!(u64::from(flipped), a.counters().bits_flipped);
        // 8e6 bits at 1e-3: 8000 expected, a standard deviation of about 90.
        assert!((7500..8500).contains(&flipped), "{flipped}");
        let mut b = Impair::new(42);
        b.set_bit_error_rate(1e-3);
        assert_eq!(run(&mut b, &input), out_a, "same seed, same errors");
    }

    #[test]
    fn bit_error_rate_one_inverts_every_bit() {
        let mut i = Impair::new(7);
        i.set_bit_error_rate(1.0);
        assert_eq!(run(&mut i, &[0x00, 0xF0]), vec![0xFF, 0x0F]);
    }

    #[test]
    fn nonsense_error_rates_are_clamped() {
        let mut i = Impair::new(7);
        i.set_bit_error_rate(f64::NAN);
        assert_eq!(run(&mut i, &[0x12]), vec![0x12]);
        i.set_bit_error_rate(-3.0);
        assert_eq!(run(&mut i, &[0x12]), vec![0x12]);
    }
}
