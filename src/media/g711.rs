//! G.711 companding: B-channel octets ↔ 16-bit linear samples, and mu-law ↔ A-law.
//!
//! ITU-T G.711, as summarised in `g711-rtp.md` sections 2 to 5. Linear samples are 16-bit:
//! G.711's 14-bit (mu-law) and 13-bit (A-law) uniform values shifted left by 2 and 3.
//!
//! ```text
//!   line octet ──decode──▶ i16 ──encode──▶ line octet      (256-entry tables out,
//!   mu-law octet ──────transcode──────▶ A-law octet          8 KiB tables in)
//! ```
//!
//! Every conversion is a table lookup built at compile time: a bridged call converts
//! 16,000 octets a second in each direction, so the per-sample cost is the whole budget.
//! The tables are written here rather than taken from a crate because they are a few
//! lines of `const fn` and the reference pins the exact rounding (section 2.3 caveat).

use crate::line::Law;

/// Decode one G.711 code word of `law` to a 16-bit linear sample.
pub fn decode(law: Law, sample: u8) -> i16 {
    match law {
        Law::MuLaw => MU_DECODE[usize::from(sample)],
        Law::ALaw => A_DECODE[usize::from(sample)],
    }
}

/// Encode a 16-bit linear sample as a G.711 code word of `law`.
pub fn encode(law: Law, linear: i16) -> u8 {
    match law {
        Law::MuLaw => {
            // Magnitude first, clipped, then the bias: the reference's rounding (section 2.1).
            let mag = linear.unsigned_abs().min(MU_CLIP);
            let code = MU_ENCODE[usize::from(mag >> 2)];
            if linear < 0 { code & 0x7F } else { code }
        }
        Law::ALaw => A_ENCODE[(i32::from(linear >> 3) + 4096) as usize],
    }
}

/// Convert one code word from law `from` to law `to` (identity when they are equal).
pub fn transcode(from: Law, to: Law, sample: u8) -> u8 {
    match (from, to) {
        (Law::MuLaw, Law::ALaw) => MU_TO_A[usize::from(sample)],
        (Law::ALaw, Law::MuLaw) => A_TO_MU[usize::from(sample)],
        _ => sample,
    }
}

/// Convert a run of code words in place from law `from` to law `to`.
pub fn transcode_in_place(from: Law, to: Law, samples: &mut [u8]) {
    let table = match (from, to) {
        (Law::MuLaw, Law::ALaw) => &MU_TO_A,
        (Law::ALaw, Law::MuLaw) => &A_TO_MU,
        _ => return,
    };
    for s in samples {
        *s = table[usize::from(*s)];
    }
}

/// Decode a run of code words into linear samples (`out` must be at least as long).
pub fn decode_into(law: Law, samples: &[u8], out: &mut [i16]) {
    let table = match law {
        Law::MuLaw => &MU_DECODE,
        Law::ALaw => &A_DECODE,
    };
    for (o, s) in out.iter_mut().zip(samples) {
        *o = table[usize::from(*s)];
    }
}

/// Encode a run of linear samples into code words (`out` must be at least as long).
pub fn encode_into(law: Law, samples: &[i16], out: &mut [u8]) {
    for (o, s) in out.iter_mut().zip(samples) {
        *o = encode(law, *s);
    }
}

/// The decoded value of every code word of `law` as `f32` (exact: 16-bit values), and
/// its square (exact in 31 bits): what the DTMF detector needs per octet, so that it
/// decodes only the octets it filters.
pub(crate) fn detector_tables(law: Law) -> (&'static [f32; 256], &'static [u32; 256]) {
    match law {
        Law::MuLaw => (&MU_DECODE_F32, &MU_SQUARE),
        Law::ALaw => (&A_DECODE_F32, &A_SQUARE),
    }
}

/// mu-law clips magnitudes here before adding the bias (section 2.1 step 2).
const MU_CLIP: u16 = 32635;
const MU_BIAS: u32 = 0x84;

const fn mu_decode(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + MU_BIAS as i32;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (MU_BIAS as i32 - t) as i16
    } else {
        (t - MU_BIAS as i32) as i16
    }
}

/// The positive code for a clipped magnitude (the negative code only clears bit 7).
const fn mu_encode_magnitude(mag: u32) -> u8 {
    let biased = mag + MU_BIAS;
    // Highest set bit of the biased magnitude, minus 7: biased is at least 0x84, so >= 7.
    let exp = (31 - biased.leading_zeros()) - 7;
    let mant = (biased >> (exp + 3)) & 0x0F;
    !((exp << 4) as u8 | mant as u8)
}

const fn a_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

/// A-law encoding of a 13-bit sample `p` (the 16-bit sample shifted right by 3).
const fn a_encode13(p: i32) -> u8 {
    const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let (mask, p) = if p >= 0 {
        (0xD5u8, p)
    } else {
        (0x55u8, -p - 1)
    };
    let mut seg = 0;
    while seg < 8 && p > SEGMENT_END[seg] {
        seg += 1;
    }
    if seg == 8 {
        return 0x7F ^ mask;
    }
    let mant = if seg < 2 {
        (p >> 1) & 0x0F
    } else {
        (p >> seg) & 0x0F
    };
    (((seg as i32) << 4) | mant) as u8 ^ mask
}

static MU_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = mu_decode(c as u8);
        c += 1;
    }
    t
};

static A_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = a_decode(c as u8);
        c += 1;
    }
    t
};

static MU_DECODE_F32: [f32; 256] = decoded_f32(Law::MuLaw);
static MU_SQUARE: [u32; 256] = squares(Law::MuLaw);
static A_DECODE_F32: [f32; 256] = decoded_f32(Law::ALaw);
static A_SQUARE: [u32; 256] = squares(Law::ALaw);

const fn decode_const(law: Law, code: u8) -> i16 {
    match law {
        Law::MuLaw => mu_decode(code),
        Law::ALaw => a_decode(code),
    }
}

/// Each code's decoded value as `f32`, for the DTMF detector's filters.
const fn decoded_f32(law: Law) -> [f32; 256] {
    let mut t = [0.0f32; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = decode_const(law, c as u8) as f32;
        c += 1;
    }
    t
}

/// Each code's decoded value squared, for the detector's hop energy.
const fn squares(law: Law) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut c = 0;
    while c < 256 {
        let x = decode_const(law, c as u8) as i32;
        t[c] = (x * x) as u32;
        c += 1;
    }
    t
}

/// Indexed by the clipped magnitude >> 2: the bias is 4 mod 8, so the two low bits of
/// the magnitude never carry into the bits the encoder keeps.
static MU_ENCODE: [u8; 8192] = {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        let mag = (i as u32) << 2;
        let mag = if mag > MU_CLIP as u32 {
            MU_CLIP as u32
        } else {
            mag
        };
        t[i] = mu_encode_magnitude(mag);
        i += 1;
    }
    t
};

/// Indexed by the 13-bit sample + 4096.
static A_ENCODE: [u8; 8192] = {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        t[i] = a_encode13(i as i32 - 4096);
        i += 1;
    }
    t
};

/// Law conversion through linear (section 5): the reference's choice unless a test
/// demands G.711's bit-exact direct tables.
static MU_TO_A: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = a_encode13((mu_decode(c as u8) >> 3) as i32);
        c += 1;
    }
    t
};

static A_TO_MU: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let lin = a_decode(c as u8) as i32;
        let neg = lin < 0;
        let mag = if neg { -lin } else { lin } as u32;
        let mag = if mag > MU_CLIP as u32 {
            MU_CLIP as u32
        } else {
            mag
        };
        let code = mu_encode_magnitude(mag);
        t[c] = if neg { code & 0x7F } else { code };
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// `g711-rtp.md` section 5: linear, mu-law code, mu decoded, A-law code, A decoded.
    const VECTORS: &[(i16, u8, i16, u8, i16)] = &[
        (0, 0xFF, 0, 0xD5, 8),
        (8, 0xFE, 8, 0xD5, 8),
        (-8, 0x7E, -8, 0x55, -8),
        (100, 0xF2, 104, 0xD3, 104),
        (500, 0xDC, 492, 0xCA, 504),
        (-500, 0x5C, -492, 0x4A, -504),
        (1000, 0xCE, 988, 0xFA, 1008),
        (-1000, 0x4E, -988, 0x7A, -1008),
        (1024, 0xCD, 1052, 0xE5, 1056),
        (-1024, 0x4D, -1052, 0x7A, -1008),
        (2000, 0xBF, 1980, 0xEA, 2016),
        (-2000, 0x3F, -1980, 0x6A, -2016),
        (4000, 0xAF, 4092, 0x9A, 4032),
        (-4000, 0x2F, -4092, 0x1A, -4032),
        (8000, 0xA0, 7932, 0x8A, 8064),
        (-8000, 0x20, -7932, 0x0A, -8064),
        (16000, 0x90, 15996, 0xBA, 16128),
        (-16000, 0x10, -15996, 0x3A, -16128),
        (30000, 0x82, 30076, 0xA8, 30208),
        (32767, 0x80, 32124, 0xAA, 32256),
        (-32768, 0x00, -32124, 0x2A, -32256),
    ];

    #[test]
    fn detector_tables_hold_each_code_words_value_and_square() {
        for law in [Law::MuLaw, Law::ALaw] {
            let (linear, squares) = detector_tables(law);
            for code in 0..=255u8 {
                let x = decode(law, code);
                assert_eq!(
                    linear[usize::from(code)],
                    f32::from(x),
                    "{law:?} {code:#04x}"
                );
                let square = u32::from(x.unsigned_abs()).pow(2);
                assert_eq!(squares[usize::from(code)], square, "{law:?} {code:#04x}");
            }
        }
    }

    #[test]
    fn reference_vectors_encode_and_decode() {
        for &(lin, mu, mu_dec, a, a_dec) in VECTORS {
            assert_eq!(encode(Law::MuLaw, lin), mu, "mu encode {lin}");
            assert_eq!(decode(Law::MuLaw, mu), mu_dec, "mu decode {mu:#04x}");
            assert_eq!(encode(Law::ALaw, lin), a, "A encode {lin}");
            assert_eq!(decode(Law::ALaw, a), a_dec, "A decode {a:#04x}");
        }
    }

    #[test]
    fn decode_only_checks() {
        for (code, lin) in [
            (0xF0, 120),
            (0xEF, 132),
            (0xDF, 396),
            (0x9F, 8316),
            (0x8F, 16764),
        ] {
            assert_eq!(decode(Law::MuLaw, code), lin);
        }
        for (code, lin) in [
            (0xD4, 24),
            (0xC5, 264),
            (0xF5, 528),
            (0x85, 4224),
            (0xA5, 16896),
        ] {
            assert_eq!(decode(Law::ALaw, code), lin);
        }
    }

    #[test]
    fn mu_law_rounding_follows_the_reference_on_negative_edges() {
        // Section 2.3 caveat: magnitude first, then shift.
        assert_eq!(encode(Law::MuLaw, -100), 0x72);
        assert_eq!(encode(Law::MuLaw, -1), 0x7F);
    }

    #[test]
    fn every_code_survives_decode_encode_decode() {
        for law in [Law::MuLaw, Law::ALaw] {
            for c in 0..=255u8 {
                let lin = decode(law, c);
                assert_eq!(decode(law, encode(law, lin)), lin, "{law:?} {c:#04x}");
            }
        }
    }

    #[test]
    fn table_encoder_matches_the_algorithm_on_every_input() {
        for x in i16::MIN..=i16::MAX {
            let neg = x < 0;
            let mag = u32::from(x.unsigned_abs()).min(u32::from(MU_CLIP));
            let mu = mu_encode_magnitude(mag);
            let mu = if neg { mu & 0x7F } else { mu };
            assert_eq!(encode(Law::MuLaw, x), mu, "mu {x}");
            assert_eq!(encode(Law::ALaw, x), a_encode13(i32::from(x >> 3)), "A {x}");
        }
    }

    #[test]
    fn decoded_value_never_decreases_as_input_grows() {
        for law in [Law::MuLaw, Law::ALaw] {
            let mut last = i16::MIN;
            for x in i16::MIN..=i16::MAX {
                let d = decode(law, encode(law, x));
                assert!(d >= last, "{law:?} at {x}: {d} < {last}");
                last = d;
            }
        }
    }

    #[test]
    fn transcode_goes_through_linear_and_keeps_silence() {
        assert_eq!(transcode(Law::MuLaw, Law::ALaw, 0xFF), 0xD5);
        assert_eq!(transcode(Law::ALaw, Law::MuLaw, 0xD5), 0xFE); // +8 is mu-law step 1
        assert_eq!(transcode(Law::MuLaw, Law::MuLaw, 0x12), 0x12);
        for c in 0..=255u8 {
            let via = encode(Law::ALaw, decode(Law::MuLaw, c));
            assert_eq!(transcode(Law::MuLaw, Law::ALaw, c), via);
            let via = encode(Law::MuLaw, decode(Law::ALaw, c));
            assert_eq!(transcode(Law::ALaw, Law::MuLaw, c), via);
        }
        let mut run = [0xFF, 0x80, 0x00];
        transcode_in_place(Law::MuLaw, Law::ALaw, &mut run);
        assert_eq!(run, [0xD5, 0xAA, 0x2A]);
    }

    #[test]
    fn milliwatt_sequences_decode_to_0_dbm0_rms() {
        // Section 4: RMS 16017 (mu-law) and 16139 (A-law).
        let mu = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E];
        let a = [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4];
        for (law, seq, rms) in [(Law::MuLaw, mu, 16017.0), (Law::ALaw, a, 16139.0)] {
            let ms: f64 = seq
                .iter()
                .map(|&c| f64::from(decode(law, c)).powi(2))
                .sum::<f64>()
                / 8.0;
            assert!((ms.sqrt() - rms).abs() < 1.0, "{law:?} rms {}", ms.sqrt());
        }
    }
}
