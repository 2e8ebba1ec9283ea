//! Tone measurement and in-band DTMF detection on 8000 Hz linear samples (Goertzel).
//!
//! The detector looks at 204-sample windows (25.5 ms) that advance by half a window,
//! 102 samples. Each half is run through one Goertzel filter per DTMF frequency and a
//! window's power is the mean of its two halves' powers, so a window costs the same as a
//! hop: eight multiply-adds a sample. Measuring over 102 samples rather than 204 keeps a
//! tone 1.5 % off frequency (which a receiver must accept) within 1.5 dB, and the
//! neighbouring DTMF frequencies still fall 15 dB or more down the filter's skirt. A half-window hop guarantees that any tone
//! of 40 ms or more fills at least one whole window, the shortest digit `g711-rtp.md`
//! section 7.3 lets the TDM side send; a tone under 23 ms never fills one.
//!
//! ```text
//!          hit d                  3rd hit d in a row
//!   Idle ─────────▶ Candidate(d) ──────────────────▶ Digit(d, start)
//!    ▲   ◀─────────   │  miss                          │ 2nd miss in a row, or a hit of
//!    │                │  hit e: Candidate(e)           │ another digit e (Candidate(e))
//!    └────────────────┴──── DtmfEvent { d, duration } ◀┘
//! ```
//!
//! A window hits digit d when: its best row and best column are each at least -30 dBm0;
//! the column is at most 8 dB above the row and at most 4 dB below it (twist); every
//! other row and column is 8 dB below the best (a single pair, not speech or music); and
//! the pair carries at least half the window's energy. The energy of each half is checked
//! first, so quiet audio costs one multiply-add a sample, and B-channel octets
//! ([`DtmfDetector::push_g711`]) one lookup in a table of squares: a quiet hop of octets
//! is never decoded. Three hits in a row (the duration check) turn a candidate into a
//! digit: at least 25.5 ms of tone, so tones under 23 ms are never digits, and every
//! 40 ms tone is one.
//!
//! Written by hand: Goertzel is a dozen lines, and the checks above are the part that
//! matters for talk-off; no maintained crate does G.711-rate DTMF with them.

use std::collections::VecDeque;
use std::f32::consts::TAU;

use crate::line::Law;

use super::g711;
use super::tone::{DBM0_PEAK, DTMF_COLUMNS, DTMF_KEYS, DTMF_ROWS, SAMPLE_RATE_HZ};

/// Mean square of a 0 dBm0 sine in 16-bit units.
const DBM0_MEAN_SQUARE: f32 = DBM0_PEAK * DBM0_PEAK / 2.0;

/// Raw Goertzel output at `freq_hz` over `samples`: the complex DFT value at that
/// frequency (up to a phase factor), as (re, im).
fn goertzel(samples: &[i16], freq_hz: f32) -> (f32, f32) {
    let w = TAU * freq_hz / SAMPLE_RATE_HZ as f32;
    let (sin, cos) = w.sin_cos();
    let coeff = 2.0 * cos;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = f32::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 - cos * s2, sin * s2)
}

/// Mean-square power of the `freq_hz` component of `samples`, in 16-bit units squared:
/// a sine of peak amplitude A at exactly that frequency gives A²/2.
pub fn goertzel_power(samples: &[i16], freq_hz: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let (re, im) = goertzel(samples, freq_hz);
    let n = samples.len() as f32;
    2.0 * (re * re + im * im) / (n * n)
}

/// Convert a mean-square power in 16-bit units to dBm0 (`-inf` for zero).
pub fn power_to_dbm0(mean_square: f32) -> f32 {
    10.0 * (mean_square / DBM0_MEAN_SQUARE).log10()
}

/// Level in dBm0 of the `freq_hz` component of `samples`.
pub fn tone_level_dbm0(samples: &[i16], freq_hz: f32) -> f32 {
    power_to_dbm0(goertzel_power(samples, freq_hz))
}

/// Level in dBm0 of everything in `samples` (its RMS against a 0 dBm0 sine).
pub fn signal_level_dbm0(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    let e: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    power_to_dbm0((e / samples.len() as f64) as f32)
}

/// A DTMF digit that ended on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// 0-9, `*`, `#`, A-D.
    pub digit: char,
    /// How long the tone pair lasted, within about ±13 ms (windows advance 12.75 ms).
    pub duration_ms: u32,
}

/// Samples a detector hop advances by: half a window.
const HOP: usize = 102;
const WINDOW: usize = 2 * HOP;
/// Each component must be at least -30 dBm0.
const MIN_COMPONENT_DBM0: f32 = -30.0;
/// Column above row by at most this (high group louder: "normal" twist).
const NORMAL_TWIST_DB: f32 = 8.0;
/// Row above column by at most this ("reverse" twist).
const REVERSE_TWIST_DB: f32 = 4.0;
/// Every other row (column) is this far below the best one.
const RELATIVE_PEAK_DB: f32 = 8.0;
/// The pair carries at least this fraction of the window's energy.
const MIN_PURITY: f32 = 0.5;
/// Windows in a row that must carry the digit before it counts: with hits needing half
/// a window of tone, three in a row need 25.5 ms of it, and any 40 ms tone gives three.
const CONFIRM_HITS: u8 = 3;
/// Windows in a row without the digit that end it: a 10 ms dropout never empties half
/// a window, a 40 ms gap empties at least three.
const END_MISSES: u8 = 2;

fn db_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Goertzel coefficient 2cos(w) of one DTMF frequency.
fn coefficient(freq_hz: f32) -> f32 {
    2.0 * (TAU * freq_hz / SAMPLE_RATE_HZ as f32).cos()
}

/// Mean-square power of each DTMF frequency (`coeffs`: 2cos(w) of each) over one hop.
fn filters(coeffs: &[f32; 8], hop: &[f32; HOP]) -> [f32; 8] {
    // The eight filters side by side: each one's recurrence is a chain of dependent
    // multiply-adds, so one at a time waits on every step; eight independent chains in
    // one pass fill the vector lanes instead. Each filter still does the same operations
    // in the same order.
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    for &x in hop {
        for k in 0..8 {
            let s = x + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s;
        }
    }
    let mut cur = [0.0f32; 8];
    for (k, out) in cur.iter_mut().enumerate() {
        let (s1, s2, coeff) = (s1[k], s2[k], coeffs[k]);
        // |y|² = s1² + s2² - 2cos(w) s1 s2, as a mean square over the hop.
        let y2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        *out = 2.0 * y2 / (HOP * HOP) as f32;
    }
    cur
}

/// What the detector is inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// `hits` windows in a row carried `digit`, the first starting at `start`.
    Candidate {
        digit: char,
        start: u64,
        hits: u8,
    },
    /// A digit is on: since the window starting at `start`, last seen in the window
    /// ending at `last_end` (samples since the detector was made), and missing from the
    /// `misses` windows since.
    Digit {
        digit: char,
        start: u64,
        last_end: u64,
        misses: u8,
    },
}

/// One hop's samples, its energy and, once filtered, its powers.
#[derive(Clone, Debug)]
struct Hop {
    block: [i16; HOP],
    octets: [u8; HOP],
    /// `Some`: the samples are G.711 octets of this law ([`DtmfDetector::push_g711`]),
    /// decoded only if the hop is filtered, so quiet audio is never decoded.
    law: Option<Law>,
    energy: f32,
    /// Mean-square power of each DTMF frequency over the hop, once the filters ran.
    power: Option<[f32; 8]>,
}

impl Hop {
    fn new() -> Self {
        Self {
            block: [0; HOP],
            octets: [0; HOP],
            law: None,
            energy: 0.0,
            // Before the first hop: silence, as if filtered.
            power: Some([0.0; 8]),
        }
    }

    /// The hop goes on as linear samples: decode the `filled` octets it holds so far.
    fn decode_octets(&mut self, filled: usize) {
        if let Some(law) = self.law.take() {
            g711::decode_into(law, &self.octets[..filled], &mut self.block[..filled]);
        }
    }

    /// Exact, in integers (a square fits in 31 bits, a hop's sum in 38): an f32 sum
    /// must add one term after another, a chain of 102 dependent additions.
    fn energy(&self) -> f32 {
        let energy = match self.law {
            Some(law) => {
                let squares = g711::detector_tables(law).1;
                self.octets
                    .iter()
                    .map(|&o| u64::from(squares[usize::from(o)]))
                    .sum()
            }
            None => self
                .block
                .iter()
                .map(|&x| i64::from(i32::from(x) * i32::from(x)))
                .sum::<i64>() as u64,
        };
        energy as f32
    }

    fn samples(&self) -> [f32; HOP] {
        match self.law {
            Some(law) => {
                let linear = g711::detector_tables(law).0;
                self.octets.map(|o| linear[usize::from(o)])
            }
            None => self.block.map(f32::from),
        }
    }

    /// The most the `group` (rows 0..4 or columns 4..8) of this hop can have: its
    /// powers if filtered, else what its energy allows (a component's power over a hop
    /// is at most 2 × energy / HOP), with a margin for the filters' rounding.
    fn bound(&self, group: std::ops::Range<usize>) -> f32 {
        match &self.power {
            Some(p) => p[group].iter().fold(0.0, |m, &q| q.max(m)),
            None => 2.0 * self.energy / HOP as f32 * 1.01,
        }
    }
}

/// In-band DTMF detector: push B-channel samples in, poll ended digits out.
#[derive(Clone, Debug)]
pub struct DtmfDetector {
    coeffs: [f32; 8],
    /// The hop being collected.
    hop: Hop,
    filled: usize,
    /// The previous hop: the first half of the next window.
    prev: Hop,
    /// Samples consumed by completed hops.
    samples: u64,
    state: State,
    events: VecDeque<DtmfEvent>,
    /// Energy under which a hop is treated as silence without running the filters.
    gate: f32,
    min_component: f32,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    /// A detector with nothing heard yet.
    pub fn new() -> Self {
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(DTMF_ROWS.iter().chain(&DTMF_COLUMNS)) {
            *c = coefficient(*f);
        }
        let min_ms = DBM0_MEAN_SQUARE * db_ratio(MIN_COMPONENT_DBM0);
        Self {
            coeffs,
            hop: Hop::new(),
            filled: 0,
            prev: Hop::new(),
            samples: 0,
            state: State::Idle,
            events: VecDeque::new(),
            // A hop holding a valid pair at the minimum level has about 2 × min_ms × HOP.
            gate: min_ms * HOP as f32,
            min_component: min_ms,
        }
    }

    /// Feed linear samples, any count.
    pub fn push(&mut self, mut samples: &[i16]) {
        while !samples.is_empty() {
            self.hop.decode_octets(self.filled);
            let take = (HOP - self.filled).min(samples.len());
            self.hop.block[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            samples = &samples[take..];
            self.filled += take;
            self.hop_if_full();
        }
    }

    /// Feed B-channel octets of `law`, any count: the same as [`DtmfDetector::push`] of
    /// their decoded samples, but a hop is decoded only if its energy (summed from a
    /// table of squares) passes the gate.
    pub fn push_g711(&mut self, law: Law, mut octets: &[u8]) {
        while !octets.is_empty() {
            let take = (HOP - self.filled).min(octets.len());
            let (now, later) = octets.split_at(take);
            let hop = &mut self.hop;
            if self.filled == 0 || hop.law == Some(law) {
                hop.law = Some(law);
                hop.octets[self.filled..self.filled + take].copy_from_slice(now);
            } else {
                // A hop begun with other samples goes on as linear samples.
                hop.decode_octets(self.filled);
                g711::decode_into(law, now, &mut hop.block[self.filled..self.filled + take]);
            }
            octets = later;
            self.filled += take;
            self.hop_if_full();
        }
    }

    fn hop_if_full(&mut self) {
        if self.filled == HOP {
            self.filled = 0;
            self.hop();
        }
    }

    /// The next digit that has ended, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// The digit on the line now, if any, with the sample (counted from the first sample
    /// pushed) where it started: what an RFC 4733 sender needs to open the event.
    pub fn digit_on(&self) -> Option<(char, u64)> {
        match self.state {
            State::Idle | State::Candidate { .. } => None,
            State::Digit { digit, start, .. } => Some((digit, start + HOP as u64 / 2)),
        }
    }

    /// Samples consumed so far in whole hops (a hop is 102 samples).
    pub fn samples_seen(&self) -> u64 {
        self.samples
    }

    fn hop(&mut self) {
        self.hop.energy = self.hop.energy();
        self.hop.power = None;
        if self.hop.energy >= self.gate {
            self.hop.power = Some(filters(&self.coeffs, &self.hop.samples()));
        }
        // A quieter hop is filtered only if a window it is half of could still be loud
        // enough to hit: then with the powers the filters give, so the gate never changes
        // a decision (it only skips the filters where the level check must fail).
        let window_energy = self.hop.energy + self.prev.energy;
        let min2 = 2.0 * self.min_component;
        let may_hit = window_energy >= self.gate
            && self.prev.bound(0..4) + self.hop.bound(0..4) >= min2
            && self.prev.bound(4..8) + self.hop.bound(4..8) >= min2;
        let hit = if may_hit {
            for h in [&mut self.prev, &mut self.hop] {
                if h.power.is_none() {
                    h.power = Some(filters(&self.coeffs, &h.samples()));
                }
            }
            let zero = [0.0; 8];
            let (prev, cur) = (
                self.prev.power.as_ref().unwrap_or(&zero),
                self.hop.power.as_ref().unwrap_or(&zero),
            );
            self.classify(prev, cur, window_energy)
        } else {
            None
        };
        std::mem::swap(&mut self.prev, &mut self.hop);
        self.hop.law = None;
        self.samples += HOP as u64;
        self.advance(hit);
    }

    /// The digit this window carries, if it passes every check of the module doc.
    fn classify(&self, prev: &[f32; 8], cur: &[f32; 8], window_energy: f32) -> Option<char> {
        let mut power = [0.0f32; 8];
        for (k, p) in power.iter_mut().enumerate() {
            // Mean square of the component over the window (A²/2 for a sine).
            *p = (prev[k] + cur[k]) / 2.0;
        }
        let (rows, cols) = power.split_at(4);
        let best = |g: &[f32]| {
            let (i, &p) = g
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap_or((0, &0.0));
            let others_ok = g
                .iter()
                .enumerate()
                .all(|(j, &q)| j == i || q * db_ratio(RELATIVE_PEAK_DB) <= p);
            (i, p, others_ok)
        };
        let (r, row, rows_ok) = best(rows);
        let (c, col, cols_ok) = best(cols);
        let loud = row >= self.min_component && col >= self.min_component;
        let twist =
            col <= row * db_ratio(NORMAL_TWIST_DB) && row <= col * db_ratio(REVERSE_TWIST_DB);
        let purity = (row + col) * WINDOW as f32 >= MIN_PURITY * window_energy;
        (loud && twist && rows_ok && cols_ok && purity).then_some(DTMF_KEYS[r][c])
    }

    fn advance(&mut self, hit: Option<char>) {
        let end = self.samples;
        let start = end.saturating_sub(WINDOW as u64);
        self.state = match (self.state, hit) {
            (State::Idle, None) => State::Idle,
            (State::Idle, Some(d)) => State::Candidate {
                digit: d,
                start,
                hits: 1,
            },
            (
                State::Candidate {
                    digit,
                    start: s,
                    hits,
                },
                Some(d),
            ) if d == digit => {
                if hits + 1 >= CONFIRM_HITS {
                    State::Digit {
                        digit,
                        start: s,
                        last_end: end,
                        misses: 0,
                    }
                } else {
                    State::Candidate {
                        digit,
                        start: s,
                        hits: hits + 1,
                    }
                }
            }
            (State::Candidate { .. }, Some(d)) => State::Candidate {
                digit: d,
                start,
                hits: 1,
            },
            (State::Candidate { .. }, None) => State::Idle,
            (
                State::Digit {
                    digit, start: s, ..
                },
                Some(d),
            ) if d == digit => State::Digit {
                digit,
                start: s,
                last_end: end,
                misses: 0,
            },
            (
                State::Digit {
                    digit,
                    start: s,
                    last_end,
                    misses,
                },
                None,
            ) if misses + 1 < END_MISSES => State::Digit {
                digit,
                start: s,
                last_end,
                misses: misses + 1,
            },
            (
                State::Digit {
                    digit,
                    start: s,
                    last_end,
                    ..
                },
                other,
            ) => {
                // Window edges overhang the tone by up to a hop on each side; taking one
                // hop off centres the estimate on the tone's true length.
                let samples = (last_end - s).saturating_sub(HOP as u64);
                self.events.push_back(DtmfEvent {
                    digit,
                    duration_ms: (samples * 1000 / u64::from(SAMPLE_RATE_HZ)) as u32,
                });
                match other {
                    Some(d) => State::Candidate {
                        digit: d,
                        start,
                        hits: 1,
                    },
                    None => State::Idle,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::g711;
    use super::super::tone::{DigitSender, ToneGenerator, ToneSpec};
    use super::*;

    fn tone(spec: ToneSpec, n: usize) -> Vec<i16> {
        let mut v = vec![0i16; n];
        ToneGenerator::new(spec).fill(&mut v);
        v
    }

    fn detect(samples: &[i16]) -> Vec<DtmfEvent> {
        let mut d = DtmfDetector::new();
        d.push(samples);
        d.push(&[0; 2 * WINDOW]); // trailing silence closes the last digit
        std::iter::from_fn(|| d.poll_event()).collect()
    }

    #[test]
    fn goertzel_measures_a_tone_level_and_rejects_other_frequencies() {
        let s = tone(ToneSpec::single(1000.0, -10.0), 800);
        assert!((tone_level_dbm0(&s, 1000.0) - -10.0).abs() < 0.1);
        assert!(tone_level_dbm0(&s, 1500.0) < -40.0);
        assert!((signal_level_dbm0(&s) - -10.0).abs() < 0.1);
    }

    #[test]
    fn idle_each_of_16_digits_for_100_ms_is_detected_once_with_its_duration() {
        for digit in "0123456789*#ABCD".chars() {
            let s = tone(ToneSpec::dtmf(digit).unwrap(), 800);
            let ev = detect(&s);
            assert_eq!(ev.len(), 1, "{digit}: {ev:?}");
            assert_eq!(ev[0].digit, digit);
            assert!((70..=130).contains(&ev[0].duration_ms), "{digit}: {ev:?}");
        }
    }

    #[test]
    fn idle_digit_string_with_40_ms_tones_and_gaps_gives_every_digit_at_any_offset() {
        for offset in [0usize, 17, 51, 101] {
            let mut s = vec![0i16; offset];
            let mut sender = DigitSender::new("159#0D", 40, 40, -10.0).unwrap();
            let mut buf = vec![0i16; 6 * 640];
            sender.fill(&mut buf);
            s.extend_from_slice(&buf);
            let digits: String = detect(&s).iter().map(|e| e.digit).collect();
            assert_eq!(digits, "159#0D", "offset {offset}");
        }
    }

    #[test]
    fn idle_tone_under_23_ms_is_rejected() {
        assert_eq!(detect(&tone(ToneSpec::dtmf('5').unwrap(), 180)), vec![]);
    }

    #[test]
    fn idle_quiet_pair_below_minus_30_dbm0_is_rejected() {
        let s = tone(ToneSpec::dual(770.0, 1336.0, -36.0), 800);
        assert_eq!(detect(&s), vec![]);
        let s = tone(ToneSpec::dual(770.0, 1336.0, -26.0), 800);
        assert_eq!(detect(&s).len(), 1);
    }

    /// The energy gate against the same detector with no gate (every hop filtered,
    /// every window classified), around the minimum level: the same events, durations
    /// included, at every level. Rows: (level of each component, digits of 16 found with
    /// 40 ms tones at offsets 0 and 51, with 100 ms tones at 17; `None`: only the
    /// equality, at levels where a tone's edges decide). A 40 ms tone fills whole windows
    /// only with a hop to spare at most, so it needs about 3 dB more than a long one.
    #[test]
    fn idle_gate_finds_every_digit_the_ungated_filters_find_around_the_minimum_level() {
        let rows: [(f32, Option<[usize; 3]>); 9] = [
            (-33.0, Some([0, 0, 0])),
            (-31.0, Some([0, 0, 0])),
            (-30.0, None),
            (-29.8, Some([0, 0, 16])),
            (-29.0, Some([0, 0, 16])),
            (-27.4, None),
            (-27.2, None),
            (-26.8, Some([16, 16, 16])),
            (-25.0, Some([16, 16, 16])),
        ];
        for (level, want) in rows {
            for (i, (on_ms, offset)) in [(40u32, 0usize), (40, 51), (100, 17)]
                .into_iter()
                .enumerate()
            {
                let mut sender = DigitSender::new("0123456789*#ABCD", on_ms, 60, level).unwrap();
                let mut s = vec![0i16; offset + 16 * (on_ms + 60) as usize * 8];
                sender.fill(&mut s[offset..]);
                let gated = detect(&s);
                let mut d = DtmfDetector::new();
                d.gate = 0.0;
                d.push(&s);
                d.push(&[0; 2 * WINDOW]);
                let ungated: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
                let row = format!("{level} dBm0, {on_ms} ms at {offset}");
                assert_eq!(gated, ungated, "{row}");
                if let Some(want) = want {
                    assert_eq!(gated.len(), want[i], "{row}: {gated:?}");
                }
            }
        }
    }

    /// Octets pushed as G.711 (decoded only when loud) against their decoded samples
    /// pushed as linear: the same events, for both laws, in odd pieces, and with the two
    /// kinds of push mixed inside a hop.
    #[test]
    fn push_g711_equals_push_of_the_decoded_samples() {
        for law in [Law::MuLaw, Law::ALaw] {
            let mut sender = DigitSender::new("15#D", 50, 50, -20.0).unwrap();
            let mut s = vec![0i16; 4000];
            sender.fill(&mut s[300..]);
            let mut octets = vec![0u8; s.len()];
            g711::encode_into(law, &s, &mut octets);
            let mut decoded = vec![0i16; s.len()];
            g711::decode_into(law, &octets, &mut decoded);
            let want = detect(&decoded);
            assert_eq!(want.len(), 4, "{law:?}: {want:?}");
            // (piece size, every how many pieces a piece goes as linear samples)
            for (piece, linear_every) in [(160usize, 0usize), (13, 0), (40, 3), (101, 2)] {
                let mut d = DtmfDetector::new();
                for (i, (o, x)) in octets.chunks(piece).zip(decoded.chunks(piece)).enumerate() {
                    if linear_every > 0 && i % linear_every == 0 {
                        d.push(x);
                    } else {
                        d.push_g711(law, o);
                    }
                }
                d.push(&[0; 2 * WINDOW]);
                let got: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
                assert_eq!(
                    got, want,
                    "{law:?} pieces of {piece}, linear every {linear_every}"
                );
            }
        }
    }

    #[test]
    fn idle_twist_beyond_limits_is_rejected() {
        let pair = |row_db: f32, col_db: f32| {
            let mut a = tone(ToneSpec::single(770.0, row_db), 800);
            let b = tone(ToneSpec::single(1336.0, col_db), 800);
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += *y);
            detect(&a).len()
        };
        assert_eq!(pair(-10.0, -4.0), 1, "column 6 dB louder: normal twist");
        assert_eq!(pair(-10.0, -1.0), 0, "column 9 dB louder");
        assert_eq!(pair(-7.0, -10.0), 1, "row 3 dB louder");
        assert_eq!(pair(-4.0, -10.0), 0, "row 6 dB louder");
    }

    #[test]
    fn idle_single_tones_dial_tone_and_ringback_are_not_digits() {
        assert_eq!(detect(&tone(ToneSpec::single(1000.0, 0.0), 8000)), vec![]);
        assert_eq!(
            detect(&tone(ToneSpec::dual(350.0, 440.0, -13.0), 8000)),
            vec![]
        );
        assert_eq!(
            detect(&tone(
                ToneSpec::ringback(super::super::tone::TonePlan::Us),
                8000
            )),
            vec![]
        );
        assert_eq!(detect(&tone(ToneSpec::single(770.0, -10.0), 8000)), vec![]);
    }

    #[test]
    fn idle_pair_plus_loud_third_frequency_is_rejected() {
        let mut a = tone(ToneSpec::dtmf('5').unwrap(), 800);
        let b = tone(ToneSpec::single(852.0, -10.0), 800); // a second row at equal level
        a.iter_mut().zip(&b).for_each(|(x, y)| *x += *y);
        assert_eq!(detect(&a), vec![]);
    }

    #[test]
    fn digit_on_reports_the_digit_while_it_lasts() {
        let mut d = DtmfDetector::new();
        d.push(&tone(ToneSpec::dtmf('7').unwrap(), 600));
        let (digit, start) = d.digit_on().unwrap();
        assert_eq!(digit, '7');
        assert!(start <= 102, "start {start}");
        assert_eq!(d.poll_event(), None);
        d.push(&[0; 2 * WINDOW]);
        assert_eq!(d.digit_on(), None);
        assert_eq!(d.poll_event().map(|e| e.digit), Some('7'));
    }

    #[test]
    fn push_in_odd_pieces_equals_one_push() {
        let mut sender = DigitSender::new("42", 60, 60, -10.0).unwrap();
        let mut s = vec![0i16; 2000];
        sender.fill(&mut s);
        let whole = detect(&s);
        let mut d = DtmfDetector::new();
        for piece in s.chunks(13) {
            d.push(piece);
        }
        d.push(&[0; 2 * WINDOW]);
        let pieces: Vec<_> = std::iter::from_fn(|| d.poll_event()).collect();
        assert_eq!(whole, pieces);
        assert_eq!(whole.len(), 2);
    }

    #[test]
    fn digit_10_ms_dropout_is_bridged_and_40_ms_gap_splits() {
        let mut s = tone(ToneSpec::dtmf('5').unwrap(), 1600);
        s[700..780].fill(0);
        assert_eq!(detect(&s).len(), 1, "10 ms dropout");
        let mut sender = DigitSender::new("55", 60, 40, -10.0).unwrap();
        let mut s = vec![0i16; 1600];
        sender.fill(&mut s);
        let digits: String = detect(&s).iter().map(|e| e.digit).collect();
        assert_eq!(digits, "55");
    }

    #[test]
    fn idle_pair_off_frequency_by_1_5_percent_is_still_a_digit() {
        for (row, col) in [(697.0f32, 1209.0f32), (941.0, 1633.0)] {
            for k in [0.985f32, 1.015] {
                let s = tone(ToneSpec::dual(row * k, col * k, -10.0), 800);
                let ev = detect(&s);
                assert_eq!(ev.len(), 1, "{row}x{k}: {ev:?}");
            }
        }
    }

    #[test]
    fn idle_white_noise_for_10_s_gives_no_digit() {
        let mut rng = fastrand::Rng::with_seed(7);
        let s: Vec<i16> = (0..80_000).map(|_| rng.i16(-12_000..12_000)).collect();
        assert_eq!(detect(&s), vec![]);
    }
}
