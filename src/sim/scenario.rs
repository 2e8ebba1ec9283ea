//! Scenario files: what the simulated PBX does and expects (`docs/simulator.md`).
//!
//! ```yaml
//! description: a call from the PBX, answered by the far end
//! span: { type: t1, side: user }       # the PBX's own span: hardware YAML keys
//! steps:
//!   - place: { called: "2001", calling: "5551000", expect: connect, hold_ms: 500, hangup: us }
//!   - answer: { called: "3001", ring_ms: 200, hold_ms: 500, hangup: them }
//!   - fault: { at_ms: 2000, los_ms: 300 }
//! peer:                                # what the other end does (sim against sim only)
//!   - answer: { called: "2001" }
//! ```
//!
//! Parsing is strict like the hardware files (`crate::config`): serde-saphyr with strict
//! booleans, duplicate keys refused, `deny_unknown_fields` everywhere, and every mistake
//! names `file:line:column` and the key. Past [`Scenario::parse`] nothing re-checks a
//! value: a step is a typed [`Step`], durations are [`Duration`]s, causes are [`Cause`]s.
//!
//! In a `span:` block `side` is the side the *simulator* plays (in a hardware file it is
//! the gateway's side); `dialgate sim --hardware` mirrors a gateway span for that reason.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::config::{self, SwitchType};
use crate::isdn::lapd::Side;
use crate::isdn::q931::Cause;
use crate::line::{Clock, Framing, Law, SpanConfig, T1Framing};

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's `description:`, or its name.
    pub description: String,
    /// The PBX's span keys from the `span:` block (each may be overridden on the command
    /// line).
    pub span: SpanKeys,
    /// What the PBX does.
    pub steps: Vec<Step>,
    /// What the far end is expected to do: run by a second simulator standing in for
    /// the gateway (`dialgate sim --play-peer`, the sim-against-sim tests).
    pub peer: Vec<Step>,
    /// How long the D-channel may take to come up before the run fails.
    pub link_within: Duration,
    /// Time zero of the steps is this long after the D-channel first comes up, so a
    /// SABME that crossed ours has been answered before the first SETUP (one T200).
    pub settle: Duration,
    /// The whole run's limit, counted from the first D-channel establishment.
    pub timeout: Duration,
    /// Protocol violations by the peer are failures (the default).
    pub strict: bool,
    /// Damaged frames on the line we receive are expected (the far end injects faults):
    /// strict mode then ignores line-level errors, as it does after our own faults.
    pub line_errors_expected: bool,
}

/// One scripted action.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Place a call.
    Place(Place),
    /// Answer (or refuse) incoming calls.
    Answer(Answer),
    /// Place many calls.
    Load(Load),
    /// Impair the line we send.
    Fault(Fault),
    /// Expect our own span to be down, or up, within a window.
    Line(LineCheck),
}

/// `line:` expect the span down (red, LOS or AIS seen) or up between `at` and
/// `at + within`.
#[derive(Clone, Debug, PartialEq)]
pub struct LineCheck {
    pub at: Duration,
    /// `true`: the span must go (or be) down; `false`: it must be (or come) up.
    pub down: bool,
    pub within: Duration,
}

/// Who ends an answered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hangup {
    /// The simulator sends DISCONNECT after the hold time.
    Us,
    /// The far end is expected to clear, within the hold time plus a grace.
    Them,
}

/// The calling number's presentation indicator (octet 3a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presentation {
    Allowed,
    Restricted,
    Unavailable,
}

/// The bearer capability of a placed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bearer {
    /// Speech, G.711 with the span's law (the default).
    Speech,
    /// 3.1 kHz audio.
    Audio,
    /// 64 kbit/s unrestricted digital information.
    Digital,
}

/// The outcome a placed call expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// ALERTING (the call is then abandoned after the hold time).
    Alerting,
    /// CONNECT.
    Connect,
    /// Cleared with cause 17 (user busy).
    Busy,
    /// Cleared with this cause.
    Cause(Cause),
    /// No CONNECT by the deadline; the simulator then abandons the call.
    NoAnswer,
}

/// Audio a call puts on its B-channel once connected.
#[derive(Clone, Debug, PartialEq)]
pub enum Send {
    /// A sine of `freq_hz` at `level_dbm0` for `duration`.
    Tone {
        freq_hz: f32,
        level_dbm0: f32,
        duration: Duration,
    },
    /// DTMF digits (0-9 * # A-D).
    Dtmf { digits: String },
}

/// Audio a call expects on the B-channel it receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Hear {
    /// A tone of `freq_hz` at `min_level_dbm0` or louder.
    Tone { freq_hz: f32, min_level_dbm0: f32 },
    /// These DTMF digits, in order.
    Dtmf { digits: String },
}

/// `place:`.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    /// When, after the D-channel first came up.
    pub at: Duration,
    pub called: String,
    pub calling: Option<String>,
    pub presentation: Option<Presentation>,
    pub bearer: Bearer,
    pub expect: Expect,
    /// How long the expected outcome may take.
    pub within: Duration,
    /// How long the call stays up (or rings, for `expect: alerting`).
    pub hold: Duration,
    pub hangup: Hangup,
    pub send: Vec<Send>,
    pub hear: Vec<Hear>,
}

/// What an `answer:` rule does with a matching call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// ALERTING, then CONNECT after the ring time.
    Answer,
    /// Refuse with this cause.
    Reject(Cause),
    /// ALERTING and nothing more: the caller is expected to give up.
    Ring,
}

/// `answer:`.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// Expected called number (any when absent).
    pub called: Option<String>,
    /// Expected calling number.
    pub calling: Option<String>,
    /// Expected presentation of the calling number.
    pub presentation: Option<Presentation>,
    /// How many calls this rule takes; `None` = any number (the passive PBX).
    pub count: Option<u32>,
    /// Time from ALERTING to CONNECT.
    pub ring: Duration,
    pub response: Response,
    /// How long the answered call stays up.
    pub hold: Duration,
    pub hangup: Hangup,
    /// How long after the hold (or, ringing, after ALERTING) the far end may take
    /// to clear when `hangup: them`.
    pub within: Duration,
    pub send: Vec<Send>,
    pub hear: Vec<Hear>,
}

/// `load:` calls in parallel or at a rate; each is a [`Place`] with `expect: connect`.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub at: Duration,
    pub pattern: LoadPattern,
    pub called: String,
    pub calling: Option<String>,
    pub within: Duration,
    pub hold: Duration,
    pub hangup: Hangup,
}

/// How a load's calls are started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoadPattern {
    /// All at once.
    Parallel { calls: u32 },
    /// `rate` calls per second for `duration`.
    Rate { rate: f64, duration: Duration },
}

impl LoadPattern {
    /// How many calls the load places.
    pub fn calls(&self) -> u32 {
        match *self {
            LoadPattern::Parallel { calls } => calls,
            LoadPattern::Rate { rate, duration } => (rate * duration.as_secs_f64()).round() as u32,
        }
    }

    /// When (after the load starts) call `i` is placed.
    pub fn offset(&self, i: u32) -> Duration {
        match *self {
            LoadPattern::Parallel { .. } => Duration::ZERO,
            LoadPattern::Rate { rate, .. } => Duration::from_secs_f64(f64::from(i) / rate),
        }
    }
}

/// `fault:` at a time after the D-channel first came up.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: Duration,
    pub kind: FaultKind,
}

/// A line fault the simulator puts on what it transmits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// Bit errors at rate `ber` for `duration`.
    BitErrors { ber: f64, duration: Duration },
    /// Insert (positive) or drop (negative) bits once.
    Slip { bits: i64 },
    /// Send nothing for `duration`.
    Los { duration: Duration },
    /// Send unframed all ones for `duration`.
    Ais { duration: Duration },
    /// Send the remote alarm indication for `duration`.
    Rai { duration: Duration },
    /// Drop the next `count` D-channel frames we send.
    DropDFrames { count: u32 },
}

impl FaultKind {
    /// How long the fault lasts on the line.
    pub fn duration(&self) -> Duration {
        match *self {
            FaultKind::BitErrors { duration, .. }
            | FaultKind::Los { duration }
            | FaultKind::Ais { duration }
            | FaultKind::Rai { duration } => duration,
            FaultKind::Slip { .. } | FaultKind::DropDFrames { .. } => Duration::ZERO,
        }
    }

    /// Whether the contract says the far end's span goes down: LOS beyond its 100 ms
    /// detection time, or AIS (both then answered with RAI).
    pub fn takes_span_down(&self) -> bool {
        match *self {
            FaultKind::Los { duration } => duration > SpanConfig::LOS_AFTER * 2,
            FaultKind::Ais { duration } => duration >= Duration::from_millis(50),
            _ => false,
        }
    }
}

/// Span keys as in the hardware YAML, every one optional so that the command line, a
/// scenario's `span:` block and a mirrored hardware span can be layered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanKeys {
    pub kind: Option<SpanType>,
    pub t1_framing: Option<T1Framing>,
    pub crc4: Option<bool>,
    pub clock: Option<Clock>,
    pub side: Option<Side>,
    pub switch: Option<SwitchType>,
    pub b_channels: Option<String>,
    pub law: Option<Law>,
    pub red_after_ms: Option<u64>,
    pub recovery_after_ms: Option<u64>,
    pub los_after_ms: Option<u64>,
}

/// `type:` of a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanType {
    T1,
    E1,
}

/// The simulator's span, resolved: everything the far end needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSpan {
    /// Line framing, law, clock (internal by default: the simulator is the clock
    /// master) and alarm timers.
    pub config: SpanConfig,
    /// The side the simulator plays.
    pub side: Side,
    pub switch: SwitchType,
    pub b_channels: Vec<u8>,
}

impl SpanKeys {
    /// Each key from `self`, or else from `base`.
    pub fn or(&self, base: &SpanKeys) -> SpanKeys {
        SpanKeys {
            kind: self.kind.or(base.kind),
            t1_framing: self.t1_framing.or(base.t1_framing),
            crc4: self.crc4.or(base.crc4),
            clock: self.clock.or(base.clock),
            side: self.side.or(base.side),
            switch: self.switch.or(base.switch),
            b_channels: self.b_channels.clone().or_else(|| base.b_channels.clone()),
            law: self.law.or(base.law),
            red_after_ms: self.red_after_ms.or(base.red_after_ms),
            recovery_after_ms: self.recovery_after_ms.or(base.recovery_after_ms),
            los_after_ms: self.los_after_ms.or(base.los_after_ms),
        }
    }

    /// The keys of a gateway's hardware span, seen from the far end: the other side,
    /// same framing, law, switch, channels and alarm timers; our clock is internal.
    pub fn mirror(def: &config::SpanDef) -> SpanKeys {
        let (kind, t1_framing, crc4) = match def.config.framing {
            Framing::T1(f) => (SpanType::T1, Some(f), None),
            Framing::E1 { crc4 } => (SpanType::E1, None, Some(crc4)),
        };
        let channels: Vec<String> = def.b_channels.iter().map(u8::to_string).collect();
        SpanKeys {
            kind: Some(kind),
            t1_framing,
            crc4,
            clock: Some(Clock::Internal),
            side: Some(match def.side {
                config::Side::User => Side::Network,
                config::Side::Network => Side::User,
            }),
            switch: Some(def.switch),
            b_channels: Some(channels.join(",")),
            law: Some(def.config.law),
            red_after_ms: Some(def.config.red_alarm_after.as_millis() as u64),
            recovery_after_ms: Some(def.config.recovery_after.as_millis() as u64),
            los_after_ms: Some(def.config.los_after.as_millis() as u64),
        }
    }

    /// The span these keys describe, with the hardware defaults for what is missing
    /// (T1 ESF, user side, the framing's law and switch, every B-channel), and the
    /// simulator's own default of an internal clock. Errors say which key is wrong.
    pub fn resolve(&self) -> Result<SimSpan, (&'static str, String)> {
        let kind = self.kind.unwrap_or(SpanType::T1);
        let framing = match kind {
            SpanType::T1 => {
                if self.crc4.is_some() {
                    return Err((
                        "crc4",
                        "only E1 spans have CRC-4; T1 uses `framing: esf | sf`".into(),
                    ));
                }
                Framing::T1(self.t1_framing.unwrap_or(T1Framing::Esf))
            }
            SpanType::E1 => {
                if self.t1_framing.is_some() {
                    return Err((
                        "framing",
                        "only T1 spans have esf/sf framing; E1 uses `crc4: true | false`".into(),
                    ));
                }
                Framing::E1 {
                    crc4: self.crc4.unwrap_or(true),
                }
            }
        };
        let mut span = SpanConfig::new(framing);
        if let Some(law) = self.law {
            span.law = law;
        }
        span.clock = self.clock.unwrap_or(Clock::Internal);
        for (value, key, slot) in [
            (self.red_after_ms, "red_after_ms", &mut span.red_alarm_after),
            (
                self.recovery_after_ms,
                "recovery_after_ms",
                &mut span.recovery_after,
            ),
            (self.los_after_ms, "los_after_ms", &mut span.los_after),
        ] {
            let Some(ms) = value else { continue };
            if !(1..=600_000).contains(&ms) {
                return Err((key, format!("{ms} ms is out of range: allowed 1 to 600000")));
            }
            *slot = Duration::from_millis(ms);
        }
        let all = config::valid_b_channels(framing);
        let b_channels = match &self.b_channels {
            None => all,
            Some(text) => config::parse_channel_list(text, &all).map_err(|p| ("b_channels", p))?,
        };
        let switch = self.switch.unwrap_or(match framing {
            Framing::T1(_) => SwitchType::National,
            Framing::E1 { .. } => SwitchType::EuroIsdn,
        });
        Ok(SimSpan {
            config: span,
            side: self.side.unwrap_or(Side::User),
            switch,
            b_channels,
        })
    }
}

impl Scenario {
    /// The scenario of the passive PBX: answer every call, let the far end hang up.
    pub fn passive() -> Scenario {
        Scenario {
            description: "passive PBX: answers every incoming call".into(),
            span: SpanKeys::default(),
            steps: vec![Step::Answer(Answer {
                called: None,
                calling: None,
                presentation: None,
                count: None,
                ring: Duration::ZERO,
                response: Response::Answer,
                hold: Duration::ZERO,
                hangup: Hangup::Them,
                within: Duration::MAX,
                send: Vec::new(),
                hear: Vec::new(),
            })],
            peer: Vec::new(),
            link_within: Duration::from_secs(3600 * 24 * 365),
            settle: Duration::ZERO,
            timeout: Duration::MAX,
            strict: true,
            line_errors_expected: false,
        }
    }

    /// Whether this is a scripted run that ends (the passive PBX runs until stopped).
    pub fn ends(&self) -> bool {
        self.timeout != Duration::MAX
    }

    /// The scenario a second simulator runs to stand in for the far end: the `peer:`
    /// steps, on the mirrored span (other side, line clocking).
    pub fn peer_scenario(&self) -> Scenario {
        let mut span = self.span.clone();
        span.side = Some(match span.side.unwrap_or(Side::User) {
            Side::User => Side::Network,
            Side::Network => Side::User,
        });
        span.clock = Some(Clock::Line);
        Scenario {
            description: format!("peer of: {}", self.description),
            span,
            steps: self.peer.clone(),
            peer: self.steps.clone(),
            link_within: self.link_within,
            settle: self.settle,
            timeout: self.timeout,
            strict: self.strict,
            line_errors_expected: self.steps.iter().any(|s| matches!(s, Step::Fault(_))),
        }
    }

    /// Read and check a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, config::Error> {
        let text = std::fs::read_to_string(path).map_err(|source| config::Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Parse and check a scenario's text; `path` is used in messages only.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, config::Error> {
        let options = serde_saphyr::options! {
            strict_booleans: true,
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        };
        let raw: RawScenario = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| config::syntax_error(path, &e))?;
        let invalid = |at: &Location, key: &'static str, problem: String| config::Error::Invalid {
            path: path.to_path_buf(),
            line: at.line() as u32,
            column: at.column() as u32,
            key,
            problem,
        };
        let span = match raw.span {
            None => SpanKeys::default(),
            Some(s) => {
                let keys = s.value.keys();
                if let Err((key, problem)) = keys.resolve() {
                    return Err(invalid(&s.referenced, key, problem));
                }
                keys
            }
        };
        let steps = check_steps(raw.steps, &invalid)?;
        let peer = check_steps(raw.peer, &invalid)?;
        let description = raw.description.unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        });
        Ok(Scenario {
            description,
            span,
            steps,
            peer,
            link_within: Duration::from_millis(raw.link_within_ms.unwrap_or(30_000)),
            settle: Duration::from_millis(raw.settle_ms.unwrap_or(1200)),
            timeout: Duration::from_millis(raw.timeout_ms.unwrap_or(120_000)),
            strict: raw.strict.unwrap_or(true),
            line_errors_expected: raw.line_errors_expected.unwrap_or(false),
        })
    }
}

type Invalid<'a> = &'a dyn Fn(&Location, &'static str, String) -> config::Error;

fn check_steps(raw: Vec<RawStep>, invalid: Invalid<'_>) -> Result<Vec<Step>, config::Error> {
    raw.into_iter().map(|s| s.check(invalid)).collect()
}

fn ms(v: Option<u64>, default: u64) -> Duration {
    Duration::from_millis(v.unwrap_or(default))
}

/// Digits a party number may carry (IA5 `0`-`9`, `*`, `#`).
fn check_number(
    n: &Spanned<String>,
    key: &'static str,
    invalid: Invalid<'_>,
) -> Result<String, config::Error> {
    let digits = n.value.trim();
    if digits.is_empty()
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    {
        return Err(invalid(
            &n.referenced,
            key,
            format!("{:?} is not a number: use digits, '*' or '#'", n.value),
        ));
    }
    Ok(digits.to_string())
}

fn check_cause(
    c: &Spanned<u8>,
    key: &'static str,
    invalid: Invalid<'_>,
) -> Result<Cause, config::Error> {
    if !(1..=127).contains(&c.value) {
        return Err(invalid(
            &c.referenced,
            key,
            format!("cause {} is out of range: allowed 1 to 127", c.value),
        ));
    }
    Ok(Cause(c.value))
}

fn check_media(
    send: Option<Vec<RawSend>>,
    hear: Option<Vec<RawHear>>,
    invalid: Invalid<'_>,
) -> Result<(Vec<Send>, Vec<Hear>), config::Error> {
    let dtmf = |d: &Spanned<String>| -> Result<String, config::Error> {
        let digits = d.value.trim().to_ascii_uppercase();
        if digits.is_empty() || !digits.chars().all(|c| "0123456789*#ABCD".contains(c)) {
            return Err(invalid(
                &d.referenced,
                "dtmf",
                format!("{:?} is not a DTMF string: use 0-9, *, #, A-D", d.value),
            ));
        }
        Ok(digits)
    };
    let freq = |f: &Spanned<f32>| -> Result<f32, config::Error> {
        if !(50.0..=3900.0).contains(&f.value) {
            return Err(invalid(
                &f.referenced,
                "freq_hz",
                format!(
                    "{} Hz is outside the telephone band: allowed 50 to 3900",
                    f.value
                ),
            ));
        }
        Ok(f.value)
    };
    let mut out_send = Vec::new();
    for s in send.unwrap_or_default() {
        out_send.push(match s {
            RawSend::Tone(t) => Send::Tone {
                freq_hz: freq(&t.freq_hz)?,
                level_dbm0: t.level_dbm0.unwrap_or(-10.0),
                duration: ms(t.ms, 1000),
            },
            RawSend::Dtmf(d) => Send::Dtmf { digits: dtmf(&d)? },
        });
    }
    let mut out_hear = Vec::new();
    for h in hear.unwrap_or_default() {
        out_hear.push(match h {
            RawHear::Tone(t) => Hear::Tone {
                freq_hz: freq(&t.freq_hz)?,
                min_level_dbm0: t.min_level_dbm0.unwrap_or(-30.0),
            },
            RawHear::Dtmf(d) => Hear::Dtmf { digits: dtmf(&d)? },
        });
    }
    Ok((out_send, out_hear))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    span: Option<Spanned<RawSpan>>,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    peer: Vec<RawStep>,
    link_within_ms: Option<u64>,
    settle_ms: Option<u64>,
    timeout_ms: Option<u64>,
    strict: Option<bool>,
    line_errors_expected: Option<bool>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawFraming {
    Esf,
    Sf,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawClock {
    Line,
    Internal,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawLaw {
    Mulaw,
    Alaw,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawSide {
    User,
    Network,
}

/// The hardware YAML's span keys; `name`, `line`, `pcap`, `baud` and `description` are
/// accepted so a span can be pasted from a hardware file, and ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "hardware keys accepted for pasting, not used")]
struct RawSpan {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<Spanned<SpanType>>,
    framing: Option<RawFraming>,
    crc4: Option<bool>,
    line: Option<String>,
    clock: Option<RawClock>,
    side: Option<RawSide>,
    switch: Option<SwitchType>,
    b_channels: Option<String>,
    law: Option<RawLaw>,
    alarms: Option<RawAlarms>,
    pcap: Option<String>,
    baud: Option<u32>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlarms {
    red_after_ms: Option<u64>,
    recovery_after_ms: Option<u64>,
    los_after_ms: Option<u64>,
}

impl RawSpan {
    fn keys(&self) -> SpanKeys {
        SpanKeys {
            kind: self.kind.as_ref().map(|k| k.value),
            t1_framing: self.framing.map(|f| match f {
                RawFraming::Esf => T1Framing::Esf,
                RawFraming::Sf => T1Framing::Sf,
            }),
            crc4: self.crc4,
            clock: self.clock.map(|c| match c {
                RawClock::Line => Clock::Line,
                RawClock::Internal => Clock::Internal,
            }),
            side: self.side.map(|s| match s {
                RawSide::User => Side::User,
                RawSide::Network => Side::Network,
            }),
            switch: self.switch,
            b_channels: self.b_channels.clone(),
            law: self.law.map(|l| match l {
                RawLaw::Mulaw => Law::MuLaw,
                RawLaw::Alaw => Law::ALaw,
            }),
            red_after_ms: self.alarms.as_ref().and_then(|a| a.red_after_ms),
            recovery_after_ms: self.alarms.as_ref().and_then(|a| a.recovery_after_ms),
            los_after_ms: self.alarms.as_ref().and_then(|a| a.los_after_ms),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawStep {
    Place(RawPlace),
    Answer(RawAnswer),
    Load(RawLoad),
    Fault(Spanned<RawFault>),
    Line(RawLine),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawLineState {
    Down,
    Up,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    at_ms: Option<u64>,
    expect: RawLineState,
    within_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlace {
    at_ms: Option<u64>,
    called: Spanned<String>,
    calling: Option<Spanned<String>>,
    presentation: Option<Presentation>,
    bearer: Option<Bearer>,
    expect: Option<Spanned<String>>,
    within_ms: Option<u64>,
    hold_ms: Option<u64>,
    hangup: Option<Hangup>,
    send: Option<Vec<RawSend>>,
    hear: Option<Vec<RawHear>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    called: Option<Spanned<String>>,
    calling: Option<Spanned<String>>,
    presentation: Option<Presentation>,
    count: Option<u32>,
    ring_ms: Option<u64>,
    reject: Option<Spanned<u8>>,
    #[serde(default)]
    no_answer: bool,
    hold_ms: Option<u64>,
    hangup: Option<Hangup>,
    within_ms: Option<u64>,
    send: Option<Vec<RawSend>>,
    hear: Option<Vec<RawHear>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    at_ms: Option<u64>,
    calls: Option<Spanned<u32>>,
    rate: Option<Spanned<f64>>,
    duration_ms: Option<u64>,
    called: Spanned<String>,
    calling: Option<Spanned<String>>,
    within_ms: Option<u64>,
    hold_ms: Option<u64>,
    hangup: Option<Hangup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at_ms: Option<u64>,
    ber: Option<Spanned<f64>>,
    for_ms: Option<u64>,
    slip_bits: Option<i64>,
    los_ms: Option<u64>,
    ais_ms: Option<u64>,
    rai_ms: Option<u64>,
    drop_d_frames: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawSend {
    Tone(RawTone),
    Dtmf(Spanned<String>),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawHear {
    Tone(RawHearTone),
    Dtmf(Spanned<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTone {
    freq_hz: Spanned<f32>,
    level_dbm0: Option<f32>,
    ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHearTone {
    freq_hz: Spanned<f32>,
    min_level_dbm0: Option<f32>,
}

fn parse_expect(e: &Spanned<String>, invalid: Invalid<'_>) -> Result<Expect, config::Error> {
    let text = e.value.trim().to_ascii_lowercase();
    let bad = || {
        invalid(
            &e.referenced,
            "expect",
            format!(
                "{:?} is not an outcome: allowed alerting, connect, busy, no_answer, or `cause N`",
                e.value
            ),
        )
    };
    Ok(match text.as_str() {
        "alerting" => Expect::Alerting,
        "connect" => Expect::Connect,
        "busy" => Expect::Busy,
        "no_answer" => Expect::NoAnswer,
        other => {
            let n = other
                .strip_prefix("cause")
                .map(str::trim)
                .and_then(|n| n.parse::<u8>().ok())
                .ok_or_else(bad)?;
            if !(1..=127).contains(&n) {
                return Err(bad());
            }
            Expect::Cause(Cause(n))
        }
    })
}

impl RawStep {
    fn check(self, invalid: Invalid<'_>) -> Result<Step, config::Error> {
        match self {
            RawStep::Place(p) => {
                let (send, hear) = check_media(p.send, p.hear, invalid)?;
                Ok(Step::Place(Place {
                    at: ms(p.at_ms, 0),
                    called: check_number(&p.called, "called", invalid)?,
                    calling: p
                        .calling
                        .as_ref()
                        .map(|c| check_number(c, "calling", invalid))
                        .transpose()?,
                    presentation: p.presentation,
                    bearer: p.bearer.unwrap_or(Bearer::Speech),
                    expect: match &p.expect {
                        None => Expect::Connect,
                        Some(e) => parse_expect(e, invalid)?,
                    },
                    within: ms(p.within_ms, 10_000),
                    hold: ms(p.hold_ms, 1000),
                    hangup: p.hangup.unwrap_or(Hangup::Us),
                    send,
                    hear,
                }))
            }
            RawStep::Answer(a) => {
                let (send, hear) = check_media(a.send, a.hear, invalid)?;
                let response = match (&a.reject, a.no_answer) {
                    (Some(c), false) => Response::Reject(check_cause(c, "reject", invalid)?),
                    (Some(c), true) => {
                        return Err(invalid(
                            &c.referenced,
                            "reject",
                            "`reject` and `no_answer: true` exclude each other".into(),
                        ));
                    }
                    (None, true) => Response::Ring,
                    (None, false) => Response::Answer,
                };
                Ok(Step::Answer(Answer {
                    called: a
                        .called
                        .as_ref()
                        .map(|c| check_number(c, "called", invalid))
                        .transpose()?,
                    calling: a
                        .calling
                        .as_ref()
                        .map(|c| check_number(c, "calling", invalid))
                        .transpose()?,
                    presentation: a.presentation,
                    count: Some(a.count.unwrap_or(1)),
                    ring: ms(a.ring_ms, 0),
                    response,
                    hold: ms(a.hold_ms, 1000),
                    hangup: a.hangup.unwrap_or(Hangup::Them),
                    within: ms(a.within_ms, 10_000),
                    send,
                    hear,
                }))
            }
            RawStep::Load(l) => {
                let pattern = match (&l.calls, &l.rate) {
                    (Some(c), None) => {
                        if !(1..=1000).contains(&c.value) {
                            return Err(invalid(
                                &c.referenced,
                                "calls",
                                format!("{} calls: allowed 1 to 1000", c.value),
                            ));
                        }
                        LoadPattern::Parallel { calls: c.value }
                    }
                    (None, Some(r)) => {
                        if !(r.value > 0.0 && r.value <= 1000.0) {
                            return Err(invalid(
                                &r.referenced,
                                "rate",
                                format!("{} calls/s: allowed above 0, up to 1000", r.value),
                            ));
                        }
                        LoadPattern::Rate {
                            rate: r.value,
                            duration: ms(l.duration_ms, 1000),
                        }
                    }
                    _ => {
                        return Err(invalid(
                            &l.called.referenced,
                            "load",
                            "give exactly one of `calls: N` (parallel) or `rate: R` with `duration_ms`"
                                .into(),
                        ));
                    }
                };
                Ok(Step::Load(Load {
                    at: ms(l.at_ms, 0),
                    pattern,
                    called: check_number(&l.called, "called", invalid)?,
                    calling: l
                        .calling
                        .as_ref()
                        .map(|c| check_number(c, "calling", invalid))
                        .transpose()?,
                    within: ms(l.within_ms, 10_000),
                    hold: ms(l.hold_ms, 1000),
                    hangup: l.hangup.unwrap_or(Hangup::Us),
                }))
            }
            RawStep::Line(l) => Ok(Step::Line(LineCheck {
                at: ms(l.at_ms, 0),
                down: matches!(l.expect, RawLineState::Down),
                within: ms(l.within_ms, 5000),
            })),
            RawStep::Fault(spanned) => {
                let f = spanned.value;
                let at = f.at_ms.unwrap_or(0);
                let mut kinds = Vec::new();
                if let Some(ber) = &f.ber {
                    if !(ber.value > 0.0 && ber.value <= 0.5) {
                        return Err(invalid(
                            &ber.referenced,
                            "ber",
                            format!(
                                "{} is not a bit error rate: allowed above 0, up to 0.5",
                                ber.value
                            ),
                        ));
                    }
                    kinds.push(FaultKind::BitErrors {
                        ber: ber.value,
                        duration: ms(f.for_ms, 1000),
                    });
                }
                if let Some(bits) = f.slip_bits {
                    kinds.push(FaultKind::Slip { bits });
                }
                if let Some(d) = f.los_ms {
                    kinds.push(FaultKind::Los {
                        duration: Duration::from_millis(d),
                    });
                }
                if let Some(d) = f.ais_ms {
                    kinds.push(FaultKind::Ais {
                        duration: Duration::from_millis(d),
                    });
                }
                if let Some(d) = f.rai_ms {
                    kinds.push(FaultKind::Rai {
                        duration: Duration::from_millis(d),
                    });
                }
                if let Some(count) = f.drop_d_frames {
                    kinds.push(FaultKind::DropDFrames { count });
                }
                let [kind] = kinds[..] else {
                    return Err(invalid(
                        &spanned.referenced,
                        "fault",
                        "give exactly one of ber (with for_ms), slip_bits, los_ms, ais_ms, rai_ms, drop_d_frames".into(),
                    ));
                };
                Ok(Step::Fault(Fault {
                    at: Duration::from_millis(at),
                    kind,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, config::Error> {
        Scenario::parse(Path::new("s.yaml"), text)
    }

    #[test]
    fn place_step_gets_its_defaults() {
        let s = parse("steps:\n  - place: { called: \"2001\" }\n").unwrap();
        let Step::Place(p) = &s.steps[0] else {
            panic!("{s:?}")
        };
        assert_eq!(p.expect, Expect::Connect);
        assert_eq!(p.hangup, Hangup::Us);
        assert_eq!(p.hold, Duration::from_secs(1));
        assert_eq!(s.span.resolve().unwrap().side, Side::User);
        assert_eq!(
            s.span.resolve().unwrap().config.clock,
            Clock::Internal,
            "the simulator is the clock master"
        );
    }

    #[test]
    fn expect_cause_n_parses_and_nonsense_names_the_key() {
        let s = parse("steps:\n  - place: { called: \"1\", expect: cause 34 }\n").unwrap();
        assert!(matches!(&s.steps[0], Step::Place(p) if p.expect == Expect::Cause(Cause(34))));
        let err = parse("steps:\n  - place: { called: \"1\", expect: maybe }\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.yaml:2:") && err.contains("`expect`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_in_a_step_is_refused_with_its_line() {
        let err = parse("steps:\n  - answer:\n      called: \"1\"\n      rnig_ms: 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rnig_ms") && err.contains("s.yaml"), "{err}");
    }

    #[test]
    fn fault_with_two_kinds_is_refused() {
        let err = parse("steps:\n  - fault: { at_ms: 5, los_ms: 1, ais_ms: 1 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one"), "{err}");
    }

    #[test]
    fn span_block_uses_hardware_keys_and_checks_them() {
        let s = parse(
            "span: { type: e1, crc4: false, side: network, alarms: { recovery_after_ms: 100 } }\n",
        )
        .unwrap();
        let span = s.span.resolve().unwrap();
        assert_eq!(span.config.framing, Framing::E1 { crc4: false });
        assert_eq!(span.side, Side::Network);
        assert_eq!(span.config.recovery_after, Duration::from_millis(100));
        let err = parse("span: { type: t1, crc4: true }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`crc4`") && err.contains("s.yaml:1:"), "{err}");
        let err = parse("span: { type: t1, crc4: yes }\n").unwrap_err();
        assert!(
            matches!(err, config::Error::Syntax { .. }),
            "strict booleans: {err}"
        );
    }

    #[test]
    fn load_needs_calls_or_rate() {
        assert!(parse("steps:\n  - load: { called: \"1\" }\n").is_err());
        let s = parse("steps:\n  - load: { called: \"1\", rate: 4, duration_ms: 500 }\n").unwrap();
        let Step::Load(l) = &s.steps[0] else { panic!() };
        assert_eq!(l.pattern.calls(), 2);
        assert_eq!(l.pattern.offset(1), Duration::from_millis(250));
    }

    #[test]
    fn peer_scenario_mirrors_the_side_and_follows_the_line_clock() {
        let s = parse("span: { side: network }\nsteps: []\npeer:\n  - answer: { called: \"5\" }\n")
            .unwrap();
        let p = s.peer_scenario();
        let span = p.span.resolve().unwrap();
        assert_eq!(span.side, Side::User);
        assert_eq!(span.config.clock, Clock::Line);
        assert_eq!(p.steps.len(), 1);
    }

    #[test]
    fn hardware_span_mirrored_is_the_other_side_with_the_same_line_keys() {
        let text = "spans:\n  - name: s\n    type: e1\n    crc4: false\n    line: tcp://127.0.0.1:7002\n    side: network\n    b_channels: 1-5\n    alarms: { recovery_after_ms: 300 }\n";
        let def = config::parse_file(Path::new("hw.yaml"), text)
            .unwrap()
            .remove(0);
        let span = SpanKeys::mirror(&def).resolve().unwrap();
        assert_eq!(span.side, Side::User);
        assert_eq!(span.config.framing, Framing::E1 { crc4: false });
        assert_eq!(
            span.config.clock,
            Clock::Internal,
            "the simulator is the master"
        );
        assert_eq!(span.b_channels, vec![1, 2, 3, 4, 5]);
        assert_eq!(span.config.recovery_after, Duration::from_millis(300));
        assert_eq!(span.switch, SwitchType::EuroIsdn);
    }

    #[test]
    fn command_line_keys_override_the_scenario_block() {
        let s = parse("span: { type: t1, side: user, framing: sf }\n").unwrap();
        let cli = SpanKeys {
            side: Some(Side::Network),
            ..SpanKeys::default()
        };
        let span = cli.or(&s.span).resolve().unwrap();
        assert_eq!(span.side, Side::Network);
        assert_eq!(span.config.framing, Framing::T1(T1Framing::Sf));
    }
}
