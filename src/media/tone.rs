//! Tone generation: call-progress tones per tone plan, and DTMF digits, as 16-bit linear
//! samples at 8000 Hz.
//!
//! Levels are in dBm0. G.711 puts the full-scale sine at +3.17 dBm0 (mu-law; +3.14 for
//! A-law), so a 0 dBm0 sine has a 16-bit peak of 8159 × 4 / 10^(3.17/20) ≈ 22,662 and an
//! RMS of about 16,025: the digital milliwatt of `g711-rtp.md` section 4 decodes to 16,017
//! (mu-law) and 16,139 (A-law). We use the mu-law figure for both laws; the 0.03 dB
//! difference is below any tone plan's tolerance.
//!
//! ```text
//!   cadence [(on, off), ...] repeats; an empty cadence is a continuous tone
//!   ──on──┐     ┌──on──┐     ┌── ...
//!         └off──┘      └off──┘
//! ```
//!
//! Tone plans (ringback / busy / congestion) are the national ones: North American
//! precise tone plan (`us`), BT (`uk`), and the ETSI/CEPT recommendation (`eu`).

use std::f64::consts::TAU;
use std::fmt;
use std::str::FromStr;

/// Sample rate of every B-channel.
pub const SAMPLE_RATE_HZ: u32 = 8000;

/// 16-bit peak amplitude of a 0 dBm0 sine (see the module doc).
pub const DBM0_PEAK: f32 = 22_662.0;

/// One sine component of a tone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Component {
    /// Frequency in Hz.
    pub freq_hz: f32,
    /// Level of this component alone, in dBm0.
    pub level_dbm0: f32,
}

/// One step of a cadence: tone on, then silence, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Tone on, in ms.
    pub on_ms: u32,
    /// Silence after it, in ms.
    pub off_ms: u32,
}

/// A tone: one or two frequencies, each with its level, and a repeating cadence.
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    /// First (or only) component.
    pub first: Component,
    /// Second component of a dual tone.
    pub second: Option<Component>,
    /// On/off steps, repeated; empty means continuous.
    pub cadence: Vec<Cadence>,
}

/// National call-progress tones: which ringback, busy and congestion the PBX expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TonePlan {
    /// North American precise tone plan.
    #[default]
    Us,
    /// United Kingdom (BT).
    Uk,
    /// ETSI/CEPT 425 Hz tones, used across continental Europe.
    Eu,
}

/// A tone plan name other than `us`, `uk` or `eu`.
impl TonePlan {
    /// The plan a span of `law` gets unless it names one: North American on mu-law
    /// spans, European on A-law.
    pub fn for_law(law: crate::line::Law) -> Self {
        match law {
            crate::line::Law::MuLaw => Self::Us,
            crate::line::Law::ALaw => Self::Eu,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown tone plan {0:?} (expected us, uk or eu)")]
pub struct UnknownTonePlan(pub String);

impl FromStr for TonePlan {
    type Err = UnknownTonePlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "us" => Ok(Self::Us),
            "uk" => Ok(Self::Uk),
            "eu" => Ok(Self::Eu),
            _ => Err(UnknownTonePlan(s.to_owned())),
        }
    }
}

impl fmt::Display for TonePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Us => "us",
            Self::Uk => "uk",
            Self::Eu => "eu",
        })
    }
}

/// DTMF row (low group) and column (high group) frequencies, in Hz.
pub const DTMF_ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column (high group) frequencies, in Hz.
pub const DTMF_COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, by row then column.
pub const DTMF_KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Level of each DTMF component we send, in dBm0 (RFC 4733 senders commonly say 10).
pub const DTMF_LEVEL_DBM0: f32 = -10.0;

/// Row and column index of a DTMF key, or `None` if `digit` is not one of 0-9 * # A-D.
pub fn dtmf_position(digit: char) -> Option<(usize, usize)> {
    let digit = digit.to_ascii_uppercase();
    DTMF_KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == digit).map(|c| (r, c)))
}

impl ToneSpec {
    /// A continuous single-frequency tone.
    pub fn single(freq_hz: f32, level_dbm0: f32) -> Self {
        Self {
            first: Component {
                freq_hz,
                level_dbm0,
            },
            second: None,
            cadence: Vec::new(),
        }
    }

    /// A continuous dual tone, both components at `level_dbm0`.
    pub fn dual(f1_hz: f32, f2_hz: f32, level_dbm0: f32) -> Self {
        Self {
            first: Component {
                freq_hz: f1_hz,
                level_dbm0,
            },
            second: Some(Component {
                freq_hz: f2_hz,
                level_dbm0,
            }),
            cadence: Vec::new(),
        }
    }

    /// The same tone with a repeating cadence of (on, off) milliseconds.
    pub fn with_cadence(mut self, steps: &[(u32, u32)]) -> Self {
        self.cadence = steps
            .iter()
            .map(|&(on_ms, off_ms)| Cadence { on_ms, off_ms })
            .collect();
        self
    }

    /// The continuous DTMF tone pair for `digit` (0-9 * # A-D), or `None` for any other.
    pub fn dtmf(digit: char) -> Option<Self> {
        let (r, c) = dtmf_position(digit)?;
        Some(Self::dual(DTMF_ROWS[r], DTMF_COLUMNS[c], DTMF_LEVEL_DBM0))
    }

    /// Ringback (audible ringing) of `plan`.
    pub fn ringback(plan: TonePlan) -> Self {
        match plan {
            TonePlan::Us => Self::dual(440.0, 480.0, -19.0).with_cadence(&[(2000, 4000)]),
            TonePlan::Uk => {
                Self::dual(400.0, 450.0, -19.0).with_cadence(&[(400, 200), (400, 2000)])
            }
            TonePlan::Eu => Self::single(425.0, -19.0).with_cadence(&[(1000, 4000)]),
        }
    }

    /// Busy (called party engaged) of `plan`.
    pub fn busy(plan: TonePlan) -> Self {
        match plan {
            TonePlan::Us => Self::dual(480.0, 620.0, -24.0).with_cadence(&[(500, 500)]),
            TonePlan::Uk => Self::single(400.0, -20.0).with_cadence(&[(375, 375)]),
            TonePlan::Eu => Self::single(425.0, -20.0).with_cadence(&[(500, 500)]),
        }
    }

    /// Congestion (US reorder, UK path engaged) of `plan`.
    pub fn congestion(plan: TonePlan) -> Self {
        match plan {
            TonePlan::Us => Self::dual(480.0, 620.0, -24.0).with_cadence(&[(250, 250)]),
            TonePlan::Uk => Self::single(400.0, -20.0).with_cadence(&[(400, 350), (225, 525)]),
            TonePlan::Eu => Self::single(425.0, -20.0).with_cadence(&[(250, 250)]),
        }
    }
}

/// Peak amplitude of a sine at `level_dbm0`.
fn amplitude(level_dbm0: f32) -> f64 {
    f64::from(DBM0_PEAK) * 10f64.powf(f64::from(level_dbm0) / 20.0)
}

/// A sine by the two-term recurrence y[n] = 2cos(w) y[n-1] - y[n-2]: two multiplies a
/// sample and no `sin` calls. In f64 its amplitude error after an hour (3e7 samples) is
/// about 1e-8, far below one quantisation step.
#[derive(Clone, Debug)]
struct Oscillator {
    coeff: f64,
    y1: f64,
    y2: f64,
}

impl Oscillator {
    fn new(c: Component) -> Self {
        let w = TAU * f64::from(c.freq_hz) / f64::from(SAMPLE_RATE_HZ);
        let a = amplitude(c.level_dbm0);
        // Start at phase 0: y[-1] = sin(-w), y[-2] = sin(-2w), so y[0] = 0.
        Self {
            coeff: 2.0 * w.cos(),
            y1: -a * w.sin(),
            y2: -a * (2.0 * w).sin(),
        }
    }

    fn next(&mut self) -> f64 {
        let y = self.coeff * self.y1 - self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Plays a [`ToneSpec`] as linear samples, following its cadence forever.
#[derive(Clone, Debug)]
pub struct ToneGenerator {
    first: Oscillator,
    second: Option<Oscillator>,
    /// Cadence steps converted to samples: (on, off).
    steps: Vec<(u32, u32)>,
    step: usize,
    /// Samples already played in the current step.
    pos: u32,
}

fn ms_to_samples(ms: u32) -> u32 {
    ms.saturating_mul(SAMPLE_RATE_HZ / 1000)
}

impl ToneGenerator {
    /// A generator at the start of the first "on" period of `spec`.
    pub fn new(spec: ToneSpec) -> Self {
        let steps = spec
            .cadence
            .iter()
            .map(|c| (ms_to_samples(c.on_ms), ms_to_samples(c.off_ms)))
            .filter(|&(on, off)| on + off > 0)
            .collect();
        Self {
            first: Oscillator::new(spec.first),
            second: spec.second.map(Oscillator::new),
            steps,
            step: 0,
            pos: 0,
        }
    }

    fn tone_sample(&mut self) -> i16 {
        let mut y = self.first.next();
        if let Some(o) = &mut self.second {
            y += o.next();
        }
        // Levels above +3 dBm0 would wrap: clip like the codec does.
        y.round().clamp(-32768.0, 32767.0) as i16
    }

    /// Fill `out` with the next samples of the tone.
    pub fn fill(&mut self, out: &mut [i16]) {
        if self.steps.is_empty() {
            for s in out {
                *s = self.tone_sample();
            }
            return;
        }
        for s in out {
            let (on, off) = self.steps[self.step];
            *s = if self.pos < on { self.tone_sample() } else { 0 };
            self.pos += 1;
            if self.pos >= on + off {
                self.pos = 0;
                self.step = (self.step + 1) % self.steps.len();
            }
        }
    }
}

/// A digit string that [`DigitSender`] cannot send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a DTMF digit (0-9 * # A-D)")]
pub struct InvalidDigit(pub char);

/// Dials a DTMF digit string in band: each digit's tone pair for `on_ms`, then `off_ms`
/// of silence.
#[derive(Clone, Debug)]
pub struct DigitSender {
    /// (row, column) of each digit still to send, in order.
    digits: Vec<(usize, usize)>,
    next: usize,
    on: u32,
    off: u32,
    level_dbm0: f32,
    current: Option<ToneGenerator>,
    pos: u32,
}

impl DigitSender {
    /// A sender for `digits` (0-9 * # A-D, case-insensitive), each component at
    /// `level_dbm0`.
    pub fn new(
        digits: &str,
        on_ms: u32,
        off_ms: u32,
        level_dbm0: f32,
    ) -> Result<Self, InvalidDigit> {
        let digits = digits
            .chars()
            .map(|d| dtmf_position(d).ok_or(InvalidDigit(d)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            digits,
            next: 0,
            on: ms_to_samples(on_ms),
            off: ms_to_samples(off_ms),
            level_dbm0,
            current: None,
            pos: 0,
        })
    }

    /// Fill `out` with the next samples (silence past the end). Returns `true` while
    /// digits or their gaps remain to be sent after this call, `false` once done.
    pub fn fill(&mut self, out: &mut [i16]) -> bool {
        for s in out.iter_mut() {
            if self.current.is_none() {
                let Some(&(r, c)) = self.digits.get(self.next) else {
                    *s = 0;
                    continue;
                };
                self.next += 1;
                self.pos = 0;
                let spec = ToneSpec::dual(DTMF_ROWS[r], DTMF_COLUMNS[c], self.level_dbm0);
                self.current = Some(ToneGenerator::new(spec));
            }
            if let Some(g) = &mut self.current {
                *s = if self.pos < self.on {
                    g.tone_sample()
                } else {
                    0
                };
                self.pos += 1;
                if self.pos >= self.on + self.off {
                    self.current = None;
                }
            }
        }
        self.current.is_some() || self.next < self.digits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    /// Count upward zero crossings: a frequency estimate free of the detector.
    fn rising_crossings(s: &[i16]) -> usize {
        s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
    }

    #[test]
    fn single_tone_0_dbm0_has_the_milliwatt_rms_and_frequency() {
        let mut g = ToneGenerator::new(ToneSpec::single(1000.0, 0.0));
        let mut buf = vec![0i16; 8000];
        g.fill(&mut buf);
        let r = rms(&buf);
        assert!((r - 16_025.0).abs() < 30.0, "rms {r}");
        let f = rising_crossings(&buf);
        assert!((999..=1000).contains(&f), "{f} crossings in 1 s");
    }

    #[test]
    fn level_minus_20_dbm0_is_a_tenth_of_the_amplitude() {
        let mut g = ToneGenerator::new(ToneSpec::single(1000.0, -20.0));
        let mut buf = vec![0i16; 8000];
        g.fill(&mut buf);
        let r = rms(&buf);
        assert!((r - 1602.5).abs() < 5.0, "rms {r}");
    }

    #[test]
    fn us_busy_cadence_is_500_on_500_off() {
        let mut g = ToneGenerator::new(ToneSpec::busy(TonePlan::Us));
        let mut buf = vec![0i16; 16_000];
        g.fill(&mut buf);
        for (i, chunk) in buf.chunks(4000).enumerate() {
            let on = i % 2 == 0;
            assert_eq!(chunk.iter().any(|&s| s != 0), on, "half-second {i}");
        }
    }

    #[test]
    fn uk_ringback_has_two_bursts_per_3_seconds() {
        let mut g = ToneGenerator::new(ToneSpec::ringback(TonePlan::Uk));
        let mut buf = vec![0i16; 24_000];
        g.fill(&mut buf);
        // 10 ms blocks: on from 0-400 ms, off 400-600, on 600-1000, off 1000-3000.
        let on: Vec<bool> = buf.chunks(80).map(|c| c.iter().any(|&s| s != 0)).collect();
        assert!(on[..40].iter().all(|&b| b));
        assert!(on[40..60].iter().all(|&b| !b));
        assert!(on[60..100].iter().all(|&b| b));
        assert!(on[100..300].iter().all(|&b| !b));
    }

    #[test]
    fn fill_in_small_pieces_equals_one_fill() {
        let spec = ToneSpec::congestion(TonePlan::Uk);
        let mut whole = vec![0i16; 12_000];
        ToneGenerator::new(spec.clone()).fill(&mut whole);
        let mut g = ToneGenerator::new(spec);
        let mut pieces = vec![0i16; 12_000];
        for chunk in pieces.chunks_mut(37) {
            g.fill(chunk);
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn tone_plan_parses_names_and_rejects_others() {
        assert_eq!("us".parse(), Ok(TonePlan::Us));
        assert_eq!("uk".parse(), Ok(TonePlan::Uk));
        assert_eq!("eu".parse(), Ok(TonePlan::Eu));
        assert_eq!("fr".parse::<TonePlan>(), Err(UnknownTonePlan("fr".into())));
    }

    #[test]
    fn dtmf_spec_covers_the_16_keys_only() {
        assert_eq!(
            ToneSpec::dtmf('5'),
            Some(ToneSpec::dual(770.0, 1336.0, DTMF_LEVEL_DBM0))
        );
        assert_eq!(
            ToneSpec::dtmf('d'),
            Some(ToneSpec::dual(941.0, 1633.0, DTMF_LEVEL_DBM0))
        );
        assert_eq!(ToneSpec::dtmf('E'), None);
        assert_eq!(ToneSpec::dtmf(' '), None);
    }

    #[test]
    fn digit_sender_plays_on_then_off_per_digit_and_reports_done() {
        let mut d = DigitSender::new("12", 50, 50, -10.0).unwrap();
        let mut buf = vec![0i16; 800]; // 100 ms: digit 1 on and off
        assert!(d.fill(&mut buf));
        assert!(buf[..400].iter().any(|&s| s != 0));
        assert!(buf[400..].iter().all(|&s| s == 0));
        assert!(!d.fill(&mut buf), "second digit ends within this buffer");
        assert!(buf[..400].iter().any(|&s| s != 0));
        let mut tail = vec![1i16; 80];
        assert!(!d.fill(&mut tail));
        assert!(tail.iter().all(|&s| s == 0));
    }

    #[test]
    fn digit_sender_rejects_a_bad_digit() {
        assert_eq!(
            DigitSender::new("12x", 50, 50, -10.0).err(),
            Some(InvalidDigit('x'))
        );
    }
}
