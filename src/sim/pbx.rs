//! The simulated PBX: the far end of a span, sans-IO.
//!
//! A [`Pbx`] is a [`line::Span`] with a [`DChannel`] on top (what [`crate::isdn::Pri`]
//! composes, here composed by hand so that D-channel frames can be dropped on purpose),
//! an [`Impair`] on what it transmits, and the call scripts of a [`Scenario`]. It speaks
//! the same verbs as every layer: line bytes in through [`Pbx::handle_rx`], line bytes
//! out through [`Pbx::poll_transmit`], results out through [`Pbx::poll_event`], and
//! [`Pbx::poll_timeout`] / [`Pbx::handle_timeout`] for its deadlines.
//!
//! ```text
//!   scenario steps ─▶ scripts (place / answer / load / fault) ─▶ dchannel::Command
//!                          ▲ dchannel::Event, line alarms            │
//!   handle_rx ─▶ Span ─D frames─▶ DChannel ─frames─▶ (drop N) ─▶ Span ─▶ Impair ─▶ poll_transmit
//!                          │
//!                          └─▶ Event::Check { ok: / FAIL: }, Event::Info, Event::Finished
//! ```
//!
//! Time zero of a scenario (`at_ms: 0`) is the first time the D-channel comes up, plus
//! the scenario's `settle_ms`.
//!
//! Strict mode: what the peer does that breaks the protocol is a failure, not a
//! tolerance: invalid LAPD frames and FRMRs, N(R) errors, Q.931 messages our state
//! machine refuses (unknown type, missing or invalid elements, wrong state, unknown call
//! reference), STATUS with an error cause, channels taken out of service, and HDLC frames
//! with a bad FCS. Line-level counters (FCS, LAPD) stop counting as failures once a fault
//! has been injected, since the fault causes them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::bchannel::{Audio, Finding};
use super::impair::Impair;
use super::scenario::{
    Answer, Bearer, Expect, Fault, FaultKind, Hangup, Hear, LineCheck, Load, Place, Presentation,
    Response, Scenario, Send, SimSpan, Step,
};
use crate::config::SwitchType;
use crate::isdn::dchannel::{self, CallId, ClearOrigin, Command, DChannel, Direction};
use crate::isdn::lapd::{self, MdlError};
use crate::isdn::q931::ie::{
    self, BearerCapability, Layer1Protocol, NumberingPlan, PartyNumber, ProgressIndicator,
    TransferCapability, TypeOfNumber,
};
use crate::isdn::q931::{Cause, MessageType, Variant};
use crate::line::span::{self, Span};
use crate::line::{Law, SpanConfig};

/// How a [`Pbx`] is built: its line, its D-channel and how strict it is.
#[derive(Clone, Debug)]
pub struct PbxConfig {
    pub span: SpanConfig,
    pub dchannel: dchannel::Config,
    /// Peer protocol violations are failures.
    pub strict: bool,
    /// Seed of the line impairments.
    pub seed: u64,
    /// Report every Q.931 message sent and received as [`Event::Info`].
    pub trace: bool,
}

impl PbxConfig {
    /// The PBX for a resolved span: its side, the switch's Q.931 variant, its channels.
    pub fn new(span: &SimSpan) -> Self {
        let variant = match span.switch {
            SwitchType::National => Variant::National,
            SwitchType::Ess5 => Variant::Ess5,
            SwitchType::Dms100 => Variant::Dms100,
            SwitchType::EuroIsdn => Variant::EuroIsdn,
        };
        let mut d = dchannel::Config::new(span.side, variant, span.b_channels.clone());
        d.trace = true;
        // A DISCONNECT with in-band information comes up to the PBX, which listens when
        // the scenario asks it to hear something and clears at once otherwise.
        d.hold_inband_disconnect = true;
        PbxConfig {
            span: span.config.clone(),
            dchannel: d,
            strict: true,
            seed: 1,
            trace: false,
        }
    }
}

/// What a [`Pbx`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One check: printed as `ok: text` or `FAIL: text`.
    Check { ok: bool, text: String },
    /// Something that happened (a call arrived, the span went down), for people.
    Info(String),
    /// The scenario is over; [`Pbx::report`] has the tally.
    Finished,
}

impl Event {
    /// The line `dialgate sim` prints for this event.
    pub fn line(&self) -> String {
        match self {
            Event::Check { ok: true, text } => format!("ok: {text}"),
            Event::Check { ok: false, text } => format!("FAIL: {text}"),
            Event::Info(text) => text.clone(),
            Event::Finished => String::new(),
        }
    }
}

/// The tally of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: u32,
    pub failed: u32,
    /// Every `ok:` and `FAIL:` line, in order.
    pub checks: Vec<String>,
}

impl Report {
    /// `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }

    /// No check failed (and at least one ran).
    pub fn success(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }

    /// The failure lines.
    pub fn failures(&self) -> impl Iterator<Item = &str> {
        self.checks
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with("FAIL:"))
    }
}

/// How long after the hold time the far end may take to clear a call it should end.
const CLEAR_GRACE: Duration = Duration::from_secs(10);
/// After the last step: at least this long, so the final frames reach the wire...
const DRAIN_MIN: Duration = Duration::from_millis(300);
/// ...and at most this long for the D-channel's calls to clear.
const DRAIN_MAX: Duration = Duration::from_secs(3);
/// A fault is judged no sooner than this after it ends.
const FAULT_SETTLE: Duration = Duration::from_secs(1);
/// How long clearing that we started may take.
const RELEASE_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Origin {
    Placed { expect: Expect, load: Option<usize> },
    Answered,
}

#[derive(Debug)]
enum Phase {
    /// SETUP sent, waiting for the outcome until `deadline`.
    Calling,
    /// ALERTING received on a call that expects it; abandon at `deadline`.
    Alerted,
    /// We sent ALERTING; CONNECT at `deadline` (or never, ringing only).
    Ringing,
    /// Answered; we hang up at `deadline` (us) or the far end must by then (them).
    Connected { since: Instant },
    /// A DISCONNECT with PI 8 came for a placed call that listens: the far end says in
    /// band why the call failed; we clear at `deadline`.
    InBand,
    /// We asked to clear; Cleared must come by `deadline`.
    Releasing,
}

#[derive(Debug)]
struct Call {
    label: String,
    origin: Origin,
    hold: Duration,
    hangup: Hangup,
    within: Duration,
    ring: Option<Duration>,
    phase: Phase,
    deadline: Option<Instant>,
    placed_at: Instant,
    send: Vec<Send>,
    hear: Vec<Hear>,
    /// The B-channel, once known.
    channel: Option<u8>,
    /// Its audio script, while connected (only for calls that send or listen).
    audio: Option<Audio>,
}

#[derive(Debug)]
struct Rule {
    spec: Answer,
    /// Calls still expected; `None` = any number.
    remaining: Option<u32>,
}

#[derive(Debug)]
struct LoadTally {
    label: String,
    total: u32,
    started: u32,
    connected: u32,
    failed: u32,
    finished: u32,
}

#[derive(Debug)]
enum FaultPhase {
    Waiting,
    /// On the line until `until`.
    Active {
        until: Instant,
    },
    /// Over; waiting for the link to be back by `deadline`.
    Recovering {
        ended: Instant,
        deadline: Instant,
    },
    Done,
}

#[derive(Debug)]
struct FaultRun {
    spec: Fault,
    label: String,
    phase: FaultPhase,
    /// Establishments seen when the fault started.
    establishments_at_start: u64,
    /// Whether the far end showed it noticed: RAI from it, or our link or span lost.
    noticed: bool,
    /// Whether the D-channel went down while the fault was on.
    link_lost: bool,
}

#[derive(Debug)]
struct LineWatch {
    spec: LineCheck,
    /// Span-down events counted when the window opened; `None` before it opens.
    downs_at_open: Option<u64>,
    done: bool,
}

/// A scheduled outgoing call.
#[derive(Debug)]
struct Pending {
    at: Duration,
    place: Place,
    load: Option<usize>,
}

/// Counts the strict checks compare against, so each new violation is reported once.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    q931: dchannel::ErrorCounts,
    lapd_invalid: u64,
    lapd_mdl: [u64; 6],
    /// HDLC frames damaged on the line (bad FCS, aborted, too long, not whole octets).
    bad_fcs: u64,
    /// Establishments of the current data link, and of all links before it.
    establishments: u64,
    establishments_before: u64,
}

/// The simulated PBX. See the module docs.
#[derive(Debug)]
pub struct Pbx {
    span: Span,
    d: DChannel,
    law: Law,
    impair: Impair,
    drop_d_frames: u32,
    dropped_d_frames: u64,
    strict: bool,
    trace: bool,
    scripted: bool,
    created: Instant,
    t0: Option<Instant>,
    link_within: Duration,
    settle: Duration,
    timeout: Duration,
    link_up: bool,
    pending: Vec<Pending>,
    calls: BTreeMap<CallId, Call>,
    rules: Vec<Rule>,
    loads: Vec<LoadTally>,
    faults: Vec<FaultRun>,
    faults_injected: bool,
    line_checks: Vec<LineWatch>,
    span_downs: u64,
    seen: Seen,
    events: VecDeque<Event>,
    report: Report,
    finished: bool,
    /// When every step was done (the run drains the D-channel, then ends).
    drain_from: Option<Instant>,
    call_seq: u32,
    tx: Vec<u8>,
}

impl Pbx {
    /// A PBX whose line starts at `now`, to run `scenario`.
    pub fn new(config: PbxConfig, scenario: &Scenario, now: Instant) -> Self {
        let mut pending = Vec::new();
        let mut rules = Vec::new();
        let mut loads = Vec::new();
        let mut faults = Vec::new();
        let mut line_checks = Vec::new();
        for step in &scenario.steps {
            match step {
                Step::Place(p) => pending.push(Pending {
                    at: p.at,
                    place: p.clone(),
                    load: None,
                }),
                Step::Answer(a) => rules.push(Rule {
                    spec: a.clone(),
                    remaining: a.count,
                }),
                Step::Load(l) => {
                    let index = loads.len();
                    loads.push(load_tally(l, index));
                    for i in 0..l.pattern.calls() {
                        pending.push(Pending {
                            at: l.at + l.pattern.offset(i),
                            place: load_call(l),
                            load: Some(index),
                        });
                    }
                }
                Step::Line(l) => line_checks.push(LineWatch {
                    spec: l.clone(),
                    downs_at_open: None,
                    done: false,
                }),
                Step::Fault(f) => faults.push(FaultRun {
                    label: describe_fault(&f.kind),
                    spec: f.clone(),
                    phase: FaultPhase::Waiting,
                    establishments_at_start: 0,
                    noticed: false,
                    link_lost: false,
                }),
            }
        }
        pending.sort_by_key(|p| p.at);
        Pbx {
            law: config.span.law,
            span: Span::new(config.span, now),
            d: DChannel::new(config.dchannel),
            impair: Impair::new(config.seed),
            drop_d_frames: 0,
            dropped_d_frames: 0,
            strict: config.strict && scenario.strict,
            trace: config.trace,
            scripted: scenario.ends(),
            created: now,
            t0: None,
            link_within: scenario.link_within,
            settle: scenario.settle,
            timeout: scenario.timeout,
            link_up: false,
            pending,
            calls: BTreeMap::new(),
            rules,
            loads,
            faults,
            faults_injected: scenario.line_errors_expected,
            line_checks,
            span_downs: 0,
            seen: Seen::default(),
            events: VecDeque::new(),
            report: Report::default(),
            finished: false,
            drain_from: None,
            call_seq: 0,
            tx: Vec::new(),
        }
    }

    /// Line bytes received from the far end.
    pub fn handle_rx(&mut self, now: Instant, bytes: &[u8]) {
        self.span.handle_rx(now, bytes);
        self.pump(now);
        // A line-clocked PBX has few timeouts of its own: its scripts run on the line.
        self.run_scripts(now);
        self.pump(now);
    }

    /// The transport dropped `lost_bytes` (a slip).
    pub fn handle_rx_lost(&mut self, now: Instant, lost_bytes: u64) {
        self.span.handle_rx_lost(now, lost_bytes);
        self.pump(now);
    }

    /// The transport closed or failed (loss of signal).
    pub fn handle_transport_down(&mut self, now: Instant) {
        self.span.handle_transport_down(now);
        self.pump(now);
    }

    /// The transport is open again.
    pub fn handle_transport_up(&mut self, now: Instant) {
        self.span.handle_transport_up(now);
        self.pump(now);
    }

    /// Timers: the line's, the D-channel's and the scenario's. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.span.handle_timeout(now);
        self.d.handle_timeout(now);
        self.pump(now);
        self.run_scripts(now);
        self.pump(now);
    }

    /// The next instant [`Pbx::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = min(self.span.poll_timeout(), self.d.poll_timeout());
        if self.finished {
            return next;
        }
        match self.t0 {
            None => next = min(next, self.created.checked_add(self.link_within)),
            Some(t0) => {
                next = min(next, t0.checked_add(self.timeout));
                if let Some(p) = self.pending.first() {
                    next = min(next, Some(t0 + p.at));
                }
                for f in &self.faults {
                    next = min(
                        next,
                        match f.phase {
                            FaultPhase::Waiting => Some(t0 + f.spec.at),
                            // Frames are dropped as they are sent: no deadline.
                            FaultPhase::Active { .. }
                                if matches!(f.spec.kind, FaultKind::DropDFrames { .. }) =>
                            {
                                None
                            }
                            FaultPhase::Active { until } => Some(until),
                            // Judged on every turn (the line keeps us busy); this is the
                            // last word.
                            FaultPhase::Recovering { deadline, .. } => Some(deadline),
                            FaultPhase::Done => None,
                        },
                    );
                }
            }
        }
        for call in self.calls.values() {
            next = min(next, call.deadline);
        }
        if let Some(t0) = self.t0 {
            for l in self.line_checks.iter().filter(|l| !l.done) {
                // Checked on every wake-up once open; the window's end is the deadline.
                let open = t0 + l.spec.at;
                next = min(
                    next,
                    Some(if l.downs_at_open.is_some() {
                        open + l.spec.within
                    } else {
                        open
                    }),
                );
            }
        }
        if let Some(drain) = self.drain_from {
            next = min(next, Some(drain + DRAIN_MIN));
        }
        next
    }

    /// Line bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.tx.is_empty() {
            return None;
        }
        Some(Bytes::from(std::mem::take(&mut self.tx)))
    }

    /// The next check, note or the end of the scenario.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the scenario is over (never, for the passive PBX).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The checks so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The line, for its status and counters.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The D-channel, for its counters and call states.
    pub fn d_channel(&self) -> &DChannel {
        &self.d
    }

    /// End the run now: whatever is unfinished fails, then [`Event::Finished`].
    pub fn finish(&mut self, reason: &str) {
        if self.finished {
            return;
        }
        let mut unfinished = Vec::new();
        if self.t0.is_none() && self.scripted {
            unfinished.push(format!("D-channel never came up ({reason})"));
        }
        for p in &self.pending {
            unfinished.push(format!(
                "call to {} was never placed ({reason})",
                p.place.called
            ));
        }
        for call in self.calls.values() {
            unfinished.push(format!("{}: still up ({reason})", call.label));
        }
        for rule in &self.rules {
            if let Some(n) = rule.remaining.filter(|n| *n > 0) {
                unfinished.push(format!(
                    "expected {n} more incoming call(s){} ({reason})",
                    rule.spec
                        .called
                        .as_ref()
                        .map_or_else(String::new, |c| format!(" to {c}"))
                ));
            }
        }
        for f in &self.faults {
            if !matches!(f.phase, FaultPhase::Done) {
                unfinished.push(format!("fault {}: not over ({reason})", f.label));
            }
        }
        for l in &self.line_checks {
            if !l.done {
                let state = if l.spec.down { "down" } else { "up" };
                unfinished.push(format!(
                    "span {state} check at {} ms never ran ({reason})",
                    l.spec.at.as_millis()
                ));
            }
        }
        for text in unfinished {
            self.check(false, text);
        }
        self.finished = true;
        self.events.push_back(Event::Finished);
    }

    fn check(&mut self, ok: bool, text: String) {
        let line = if ok {
            self.report.passed += 1;
            format!("ok: {text}")
        } else {
            self.report.failed += 1;
            format!("FAIL: {text}")
        };
        self.report.checks.push(line);
        self.events.push_back(Event::Check { ok, text });
    }

    fn info(&mut self, text: String) {
        self.events.push_back(Event::Info(text));
    }

    fn command(&mut self, now: Instant, command: Command) {
        self.d.handle_command(now, command);
    }

    /// Move frames and events between the span, the D-channel and the scripts until
    /// they are all quiet, then impair what the span has to send.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(event) = self.span.poll_event() {
                moved = true;
                self.handle_span_event(now, event);
            }
            while let Some(frame) = self.d.poll_transmit() {
                moved = true;
                if self.drop_d_frames > 0 {
                    self.drop_d_frames -= 1;
                    self.dropped_d_frames += 1;
                    continue;
                }
                self.span.send_d_frame(&frame);
            }
            while let Some(event) = self.d.poll_event() {
                moved = true;
                self.handle_isdn_event(now, event);
            }
            if !moved {
                break;
            }
        }
        self.watch_link(now);
        self.check_strict();
        self.pump_audio();
        while let Some(bytes) = self.span.poll_transmit() {
            self.impair.apply(&bytes, &mut self.tx);
        }
    }

    fn pump_audio(&mut self) {
        let mut findings: Vec<(String, Finding)> = Vec::new();
        let mut found = Vec::new();
        for call in self.calls.values_mut() {
            if let Some(audio) = &mut call.audio {
                audio.pump(&mut self.span, &mut found);
                findings.extend(found.drain(..).map(|f| (call.label.clone(), f)));
            }
        }
        for (label, f) in findings {
            self.check(f.ok, format!("{label}: {}", f.text));
        }
    }

    fn handle_span_event(&mut self, now: Instant, event: span::Event) {
        match event {
            span::Event::DFrame(frame) => self.d.handle_frame(now, &frame),
            span::Event::SpanUp => {
                self.d.handle_link_up(now);
                self.info("span up".into());
            }
            span::Event::SpanDown => {
                self.span_downs += 1;
                self.d.handle_link_down(now);
                self.info("span down".into());
                for f in &mut self.faults {
                    if matches!(
                        f.phase,
                        FaultPhase::Active { .. } | FaultPhase::Recovering { .. }
                    ) {
                        f.noticed = true;
                    }
                }
            }
            span::Event::Alarm { alarm, active } => {
                if alarm == crate::line::alarm::Alarm::Rai && active {
                    for f in &mut self.faults {
                        if matches!(
                            f.phase,
                            FaultPhase::Active { .. } | FaultPhase::Recovering { .. }
                        ) {
                            f.noticed = true;
                        }
                    }
                }
                self.info(format!(
                    "alarm {alarm:?} {}",
                    if active { "raised" } else { "cleared" }
                ));
            }
            span::Event::FrameAlignment { aligned } => self.info(format!(
                "frame alignment {}",
                if aligned { "found" } else { "lost" }
            )),
        }
    }

    fn handle_isdn_event(&mut self, now: Instant, event: dchannel::Event) {
        match event {
            dchannel::Event::LinkUp => {
                self.link_up = true;
                if self.t0.is_none() {
                    self.t0 = Some(now + self.settle);
                    let ms = now.saturating_duration_since(self.created).as_millis();
                    if self.scripted {
                        self.check(true, format!("D-channel up after {ms} ms"));
                    } else {
                        self.info(format!("D-channel up after {ms} ms"));
                    }
                } else {
                    self.info("D-channel up again".into());
                }
            }
            dchannel::Event::LinkDown => {
                self.link_up = false;
                self.info("D-channel down".into());
                for f in &mut self.faults {
                    if matches!(
                        f.phase,
                        FaultPhase::Active { .. } | FaultPhase::Recovering { .. }
                    ) {
                        f.noticed = true;
                        f.link_lost = true;
                    }
                }
            }
            dchannel::Event::Setup(setup) => self.incoming(now, &setup),
            dchannel::Event::Proceeding { call, channel } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.channel.get_or_insert(channel);
                    let text = format!("{}: proceeding on B{channel}", c.label);
                    self.info(text);
                }
            }
            dchannel::Event::Alerting { call, .. } => self.placed_alerting(now, call),
            dchannel::Event::Progress { call, .. } => {
                if let Some(c) = self.calls.get(&call) {
                    let text = format!("{}: progress", c.label);
                    self.info(text);
                }
            }
            dchannel::Event::Connect { call, channel, .. } => {
                self.placed_connect(now, call, channel)
            }
            dchannel::Event::Disconnect {
                call,
                cause,
                progress,
                ..
            } => self.inband_disconnect(now, call, cause, &progress),
            dchannel::Event::Cleared {
                call,
                cause,
                origin,
                ..
            } => self.cleared(now, call, cause, origin),
            dchannel::Event::ChannelsOutOfService { channels } => {
                if self.strict {
                    self.check(
                        false,
                        format!("B-channels {channels:?} out of service: the peer did not answer RESTART"),
                    );
                }
            }
            dchannel::Event::Trace { direction, message } => {
                if direction == Direction::Receive
                    && message.message_type == MessageType::STATUS
                    && self.strict
                    && let Some(cause) = message.cause()
                    && is_error_cause(cause.value)
                {
                    self.check(
                        false,
                        format!(
                            "peer sent STATUS with cause {} ({}): it found our message in error",
                            cause.value.0,
                            cause.value.name().unwrap_or("unknown")
                        ),
                    );
                }
                if self.trace {
                    let arrow = match direction {
                        Direction::Transmit => "TX ->",
                        Direction::Receive => "RX <-",
                    };
                    let text = message.to_string();
                    let first = text.lines().next().unwrap_or_default().to_string();
                    self.info(format!("Q931: {arrow} {first}"));
                }
            }
        }
    }

    /// An incoming SETUP: the first answer rule that still takes calls decides.
    fn incoming(&mut self, now: Instant, setup: &dchannel::SetupIndication) {
        let called = setup.called.as_ref().map_or("", |n| n.digits.as_str());
        let calling = setup
            .calling
            .as_ref()
            .map_or("(no number)", |n| n.digits.as_str());
        self.call_seq += 1;
        let label = format!("incoming call {} to {called}", self.call_seq);
        let open: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].remaining != Some(0))
            .collect();
        let rule = open.iter().copied().find(|&i| {
            self.rules[i]
                .spec
                .called
                .as_ref()
                .is_none_or(|c| c == called)
        });
        let Some(rule) = rule else {
            let (text, cause) = if open.is_empty() {
                (
                    format!(
                        "{label} from {calling} on B{}: not expected by the scenario, refused with cause 21",
                        setup.channel
                    ),
                    Cause::CALL_REJECTED,
                )
            } else {
                let expected: Vec<&str> = open
                    .iter()
                    .filter_map(|&i| self.rules[i].spec.called.as_deref())
                    .collect();
                (
                    format!(
                        "{label} from {calling}: expected called number {}, refused with cause 1",
                        expected.join(" or ")
                    ),
                    Cause::UNALLOCATED_NUMBER,
                )
            };
            self.check(false, text);
            self.command(
                now,
                Command::Release {
                    call: setup.call,
                    cause,
                    progress: None,
                },
            );
            return;
        };
        if let Some(n) = &mut self.rules[rule].remaining {
            *n -= 1;
        }
        let spec = self.rules[rule].spec.clone();
        let scripted = self.scripted;
        let mut arrived = format!("{label} from {calling} on B{}", setup.channel);
        if let Some(expected) = &spec.calling {
            if expected == calling {
                let _ = write!(arrived, " (calling number as expected)");
            } else {
                self.check(
                    false,
                    format!("{label}: calling number {calling:?}, expected {expected:?}"),
                );
            }
        }
        if let Some(expected) = spec.presentation {
            let got = setup
                .calling
                .as_ref()
                .map(|n| presentation_of(n.presentation_or_default().presentation));
            if got == Some(expected) {
                let _ = write!(arrived, " (presentation {expected:?} as expected)");
            } else {
                self.check(
                    false,
                    format!("{label}: calling presentation {got:?}, expected {expected:?}"),
                );
            }
        }
        if scripted {
            self.check(true, arrived);
        } else {
            self.info(arrived);
        }
        let mut call = Call {
            label,
            origin: Origin::Answered,
            hold: spec.hold,
            hangup: spec.hangup,
            within: spec.within,
            ring: Some(spec.ring),
            phase: Phase::Ringing,
            deadline: None,
            placed_at: now,
            send: spec.send.clone(),
            hear: spec.hear.clone(),
            channel: Some(setup.channel),
            audio: None,
        };
        match spec.response {
            Response::Reject(cause) => {
                call.phase = Phase::Releasing;
                call.deadline = Some(now + RELEASE_WITHIN);
                self.calls.insert(setup.call, call);
                self.command(
                    now,
                    Command::Release {
                        call: setup.call,
                        cause,
                        progress: None,
                    },
                );
            }
            Response::Answer | Response::Ring => {
                if spec.response == Response::Ring {
                    call.ring = None;
                    // The caller is expected to give up within `within`.
                    call.deadline = now.checked_add(spec.within);
                } else {
                    call.deadline = Some(now + spec.ring);
                }
                self.calls.insert(setup.call, call);
                self.command(
                    now,
                    Command::Alerting {
                        call: setup.call,
                        progress: None,
                    },
                );
            }
        }
    }

    fn placed_alerting(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Origin::Placed { expect, .. } = call.origin else {
            return;
        };
        let label = call.label.clone();
        let ms = now.saturating_duration_since(call.placed_at).as_millis();
        if expect == Expect::Alerting && matches!(call.phase, Phase::Calling) {
            call.phase = Phase::Alerted;
            call.deadline = Some(now + call.hold);
            self.check(true, format!("{label}: alerting after {ms} ms"));
        } else {
            self.info(format!("{label}: alerting after {ms} ms"));
        }
    }

    fn placed_connect(&mut self, now: Instant, id: CallId, channel: u8) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Origin::Placed { expect, load } = call.origin else {
            return;
        };
        let label = call.label.clone();
        let ms = now.saturating_duration_since(call.placed_at).as_millis();
        match expect {
            Expect::Connect => {
                call.phase = Phase::Connected { since: now };
                call.channel = Some(channel);
                if !(call.send.is_empty() && call.hear.is_empty()) {
                    call.audio = Audio::open(&mut self.span, channel, &call.send, &call.hear);
                }
                call.deadline = Some(match call.hangup {
                    Hangup::Us => now + call.hold,
                    Hangup::Them => now + call.hold + CLEAR_GRACE,
                });
                match load {
                    Some(l) => self.loads[l].connected += 1,
                    None => self.check(
                        true,
                        format!("{label}: connected on B{channel} after {ms} ms"),
                    ),
                }
            }
            Expect::Alerting => {
                // Answered while we listened to it ringing: fine, it rang first or not.
                if matches!(call.phase, Phase::Calling) {
                    self.check(false, format!("{label}: connected without alerting first"));
                    self.release(now, id, Cause::NORMAL_CLEARING);
                } else {
                    self.info(format!("{label}: answered while ringing"));
                }
            }
            Expect::Busy | Expect::Cause(_) | Expect::NoAnswer => {
                self.check(
                    false,
                    format!(
                        "{label}: connected on B{channel}, expected {}",
                        describe_expect(expect)
                    ),
                );
                self.release(now, id, Cause::NORMAL_CLEARING);
            }
        }
    }

    /// A DISCONNECT with in-band information (PI 1 or 8). A scripted placed call that
    /// listens (`hear:`) takes its outcome from the cause now and hears the tone or
    /// announcement for `hold_ms` before it clears; any other call clears at once.
    fn inband_disconnect(
        &mut self,
        now: Instant,
        id: CallId,
        cause: Cause,
        progress: &[ProgressIndicator],
    ) {
        let listening = self.calls.get(&id).is_some_and(|c| {
            matches!(c.origin, Origin::Placed { load: None, .. })
                && matches!(c.phase, Phase::Calling | Phase::Alerted)
                && !c.hear.is_empty()
                && c.channel.is_some()
        }) && progress.iter().any(ProgressIndicator::in_band);
        let Some(call) = self.calls.get_mut(&id).filter(|_| listening) else {
            self.command(
                now,
                Command::Release {
                    call: id,
                    cause: Cause::NORMAL_CLEARING,
                    progress: None,
                },
            );
            return;
        };
        let Origin::Placed { expect, .. } = call.origin else {
            return;
        };
        let label = call.label.clone();
        let how = format!(
            "DISCONNECT cause {} ({}) with in-band information",
            cause.0,
            cause.name().unwrap_or("?")
        );
        let outcome = match expect {
            Expect::Busy if cause == Cause::USER_BUSY => (true, format!("{label}: busy ({how})")),
            Expect::Cause(c) if cause == c => (true, format!("{label}: {how} as expected")),
            e => (
                false,
                format!("{label}: {how}, expected {}", describe_expect(e)),
            ),
        };
        if let (None, Some(channel)) = (&call.audio, call.channel) {
            call.audio = Audio::open(&mut self.span, channel, &call.send, &call.hear);
        }
        call.phase = Phase::InBand;
        call.deadline = Some(now + call.hold);
        self.check(outcome.0, outcome.1);
    }

    fn cleared(&mut self, now: Instant, id: CallId, cause: Cause, origin: ClearOrigin) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(audio) = call.audio.take() {
            let label = call.label.clone();
            for f in audio.close(&mut self.span) {
                self.check(f.ok, format!("{label}: {}", f.text));
            }
        }
        let label = &call.label;
        let by = match origin {
            ClearOrigin::Peer => "by the far end",
            ClearOrigin::Local => "by us",
            ClearOrigin::Timer => "on a timer",
            ClearOrigin::Link => "by a link failure",
            ClearOrigin::Restart => "by a RESTART",
            ClearOrigin::Protocol => "on a protocol error",
        };
        let how = format!(
            "cleared {by} with cause {} ({})",
            cause.0,
            cause.name().unwrap_or("?")
        );
        let outcome: (bool, String) = match (&call.origin, &call.phase) {
            (_, Phase::Releasing | Phase::InBand) => {
                if origin == ClearOrigin::Peer || origin == ClearOrigin::Local {
                    (true, format!("{label}: {how}"))
                } else {
                    (false, format!("{label}: {how} while we were clearing"))
                }
            }
            (Origin::Placed { expect, .. }, Phase::Calling | Phase::Alerted) => match *expect {
                Expect::Busy if cause == Cause::USER_BUSY => {
                    (true, format!("{label}: busy ({how})"))
                }
                Expect::Cause(c) if cause == c => (true, format!("{label}: {how} as expected")),
                e => (
                    false,
                    format!("{label}: {how}, expected {}", describe_expect(e)),
                ),
            },
            (_, Phase::Connected { since }) => {
                let held = now.saturating_duration_since(*since);
                if call.hangup == Hangup::Them && origin == ClearOrigin::Peer {
                    (
                        true,
                        format!(
                            "{label}: far end hung up after {} ms ({how})",
                            held.as_millis()
                        ),
                    )
                } else {
                    (
                        false,
                        format!("{label}: {how} after {} ms connected", held.as_millis()),
                    )
                }
            }
            (Origin::Answered, Phase::Ringing) => {
                if call.ring.is_none() && origin == ClearOrigin::Peer {
                    (
                        true,
                        format!("{label}: caller gave up while ringing ({how})"),
                    )
                } else {
                    (false, format!("{label}: {how} while ringing"))
                }
            }
            (Origin::Answered, _) | (Origin::Placed { .. }, Phase::Ringing) => {
                (false, format!("{label}: {how}"))
            }
        };
        let load = match call.origin {
            Origin::Placed { load, .. } => load,
            Origin::Answered => None,
        };
        match load {
            Some(l) => {
                let tally = &mut self.loads[l];
                tally.finished += 1;
                if !outcome.0 {
                    tally.failed += 1;
                    self.check(false, outcome.1);
                }
                self.finish_load(l);
            }
            None if self.scripted => self.check(outcome.0, outcome.1),
            None => self.info(outcome.1),
        }
    }

    fn finish_load(&mut self, l: usize) {
        let t = &self.loads[l];
        if t.finished < t.total {
            return;
        }
        let ok = t.failed == 0 && t.connected == t.total;
        let text = format!(
            "{}: {} of {} calls connected, {} failed",
            t.label, t.connected, t.total, t.failed
        );
        self.check(ok, text);
    }

    fn release(&mut self, now: Instant, id: CallId, cause: Cause) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.phase = Phase::Releasing;
            call.deadline = Some(now + RELEASE_WITHIN);
        }
        self.command(
            now,
            Command::Release {
                call: id,
                cause,
                progress: None,
            },
        );
    }

    /// The scenario's clock: place due calls, run faults, expire call deadlines, end.
    fn run_scripts(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let Some(t0) = self.t0 else {
            if self.scripted && now >= self.created + self.link_within {
                self.finish(&format!(
                    "no D-channel within {} ms",
                    self.link_within.as_millis()
                ));
            }
            return;
        };
        // Faults first: a fault and a call at the same time means the call meets it.
        for i in 0..self.faults.len() {
            self.run_fault(now, t0, i);
        }
        while self.pending.first().is_some_and(|p| t0 + p.at <= now) {
            let p = self.pending.remove(0);
            self.place(now, p);
        }
        for i in 0..self.line_checks.len() {
            self.run_line_check(now, t0, i);
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.call_deadline(now, id);
        }
        if let Some(end) = t0.checked_add(self.timeout)
            && now >= end
        {
            self.finish(&format!(
                "scenario timeout of {} ms",
                self.timeout.as_millis()
            ));
            return;
        }
        if self.scripted && self.all_done() {
            // Let Q.931 clearing and LAPD acknowledgements finish on the wire before the
            // run ends: a shell closes the line when it sees Finished.
            let drain = *self.drain_from.get_or_insert(now);
            let quiet =
                self.d.call_count() == 0 && self.d.lapd().is_none_or(|l| l.i_queue_len() == 0);
            if (quiet && now >= drain + DRAIN_MIN) || now >= drain + DRAIN_MAX {
                self.finish("done");
            }
        } else {
            self.drain_from = None;
        }
    }

    fn all_done(&self) -> bool {
        self.pending.is_empty()
            && self.calls.is_empty()
            && self
                .rules
                .iter()
                .all(|r| r.remaining.is_none_or(|n| n == 0))
            && self
                .faults
                .iter()
                .all(|f| matches!(f.phase, FaultPhase::Done))
    }

    fn place(&mut self, now: Instant, p: Pending) {
        let place = p.place;
        self.call_seq += 1;
        let label = match p.load {
            Some(l) => {
                self.loads[l].started += 1;
                format!("{} call {}", self.loads[l].label, self.loads[l].started)
            }
            None => format!("call {} to {}", self.call_seq, place.called),
        };
        let id = self.d.new_call_id();
        let mut request = dchannel::SetupRequest::new(PartyNumber::new(
            TypeOfNumber::UNKNOWN,
            NumberingPlan::ISDN,
            &place.called,
        ));
        if let Some(calling) = &place.calling {
            let mut n = PartyNumber::new(TypeOfNumber::UNKNOWN, NumberingPlan::ISDN, calling);
            if let Some(p) = place.presentation {
                n = n.with_presentation(
                    match p {
                        Presentation::Allowed => ie::Presentation::ALLOWED,
                        Presentation::Restricted => ie::Presentation::RESTRICTED,
                        Presentation::Unavailable => ie::Presentation::NOT_AVAILABLE,
                    },
                    ie::Screening::USER_PASSED,
                );
            }
            request.calling = Some(n);
        }
        let law = match self.law {
            Law::MuLaw => Layer1Protocol::G711_MU_LAW,
            Law::ALaw => Layer1Protocol::G711_A_LAW,
        };
        request.bearer = Some(match place.bearer {
            Bearer::Speech => BearerCapability::speech(law),
            Bearer::Audio => BearerCapability::circuit(TransferCapability::AUDIO_3_1_KHZ, law),
            Bearer::Digital => BearerCapability::unrestricted_digital(),
        });
        let within = place.within;
        self.calls.insert(
            id,
            Call {
                label: label.clone(),
                origin: Origin::Placed {
                    expect: place.expect,
                    load: p.load,
                },
                hold: place.hold,
                hangup: place.hangup,
                within,
                ring: None,
                phase: Phase::Calling,
                deadline: Some(now + within),
                placed_at: now,
                send: place.send,
                hear: place.hear,
                channel: None,
                audio: None,
            },
        );
        self.info(format!("{label}: placing (SETUP)"));
        self.command(
            now,
            Command::Setup {
                call: id,
                request: Box::new(request),
            },
        );
    }

    fn call_deadline(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.deadline = None;
        let label = call.label.clone();
        match (&call.origin, &call.phase) {
            (Origin::Placed { expect, load }, Phase::Calling) => {
                let (expect, load) = (*expect, *load);
                let within = call.within.as_millis();
                if expect == Expect::NoAnswer {
                    // Abandon the call as a caller would: it was not answered in time.
                    self.check(
                        true,
                        format!("{label}: no answer within {within} ms, as expected"),
                    );
                } else {
                    let text =
                        format!("{label}: no {} within {within} ms", describe_expect(expect));
                    match load {
                        // The load's tally reports it.
                        Some(l) => {
                            self.loads[l].failed += 1;
                            self.info(text);
                        }
                        None => self.check(false, text),
                    }
                }
                self.release(now, id, Cause::NORMAL_CLEARING);
            }
            (Origin::Placed { .. }, Phase::Alerted) => {
                self.release(now, id, Cause::NORMAL_CLEARING);
            }
            (Origin::Answered, Phase::Ringing) => match call.ring {
                Some(_) => {
                    call.phase = Phase::Connected { since: now };
                    call.deadline = Some(match call.hangup {
                        Hangup::Us => now + call.hold,
                        Hangup::Them => now.checked_add(call.hold + call.within).unwrap_or(now),
                    });
                    if call.hangup == Hangup::Them && call.within == Duration::MAX {
                        call.deadline = None;
                    }
                    if let Some(ch) = call.channel
                        && !(call.send.is_empty() && call.hear.is_empty())
                    {
                        call.audio = Audio::open(&mut self.span, ch, &call.send, &call.hear);
                    }
                    self.command(
                        now,
                        Command::Connect {
                            call: id,
                            connected: None,
                        },
                    );
                    let text = format!("{label}: answered (CONNECT)");
                    self.info(text);
                }
                None => {
                    let within = call.within.as_millis();
                    self.check(
                        false,
                        format!("{label}: caller did not give up within {within} ms"),
                    );
                    self.release(now, id, Cause::NO_ANSWER);
                }
            },
            (_, Phase::Connected { .. }) => {
                if call.hangup == Hangup::Us {
                    self.info(format!("{label}: hanging up"));
                    self.release(now, id, Cause::NORMAL_CLEARING);
                } else {
                    let text = format!("{label}: far end did not hang up in time");
                    self.check(false, text);
                    self.release(now, id, Cause::NORMAL_CLEARING);
                }
            }
            (_, Phase::Releasing) => {
                self.calls.remove(&id);
                self.check(false, format!("{label}: clearing did not complete"));
            }
            (_, Phase::InBand) => {
                self.info(format!("{label}: listened; clearing"));
                self.release(now, id, Cause::NORMAL_CLEARING);
            }
            (Origin::Answered, Phase::Calling | Phase::Alerted)
            | (Origin::Placed { .. }, Phase::Ringing) => {
                self.release(now, id, Cause::NORMAL_CLEARING);
            }
        }
    }

    fn run_fault(&mut self, now: Instant, t0: Instant, i: usize) {
        let grace = self.span.config().recovery_after * 2 + Duration::from_secs(20);
        let establishments = self.seen.establishments_before + self.seen.establishments;
        let established = self.link_established();
        let kind = self.faults[i].spec.kind;
        let label = self.faults[i].label.clone();
        match self.faults[i].phase {
            FaultPhase::Waiting if t0 + self.faults[i].spec.at <= now => {
                self.faults_injected = true;
                let f = &mut self.faults[i];
                f.establishments_at_start = establishments;
                f.phase = FaultPhase::Active {
                    until: now + kind.duration(),
                };
                match kind {
                    FaultKind::BitErrors { ber, .. } => self.impair.set_bit_error_rate(ber),
                    FaultKind::Slip { bits } => self.impair.slip(bits),
                    FaultKind::Los { .. } => self.impair.set_muted(true),
                    FaultKind::Ais { .. } => self.impair.set_ais(true),
                    FaultKind::Rai { .. } => self.span.set_send_rai(true),
                    FaultKind::DropDFrames { count } => self.drop_d_frames += count,
                }
                self.info(format!("fault {label}: on"));
                self.run_fault(now, t0, i);
            }
            // Dropped frames are over once that many frames have been dropped.
            FaultPhase::Active { until }
                if until <= now
                    && (!matches!(kind, FaultKind::DropDFrames { .. })
                        || self.drop_d_frames == 0) =>
            {
                match kind {
                    FaultKind::BitErrors { .. } => self.impair.set_bit_error_rate(0.0),
                    FaultKind::Los { .. } => self.impair.set_muted(false),
                    FaultKind::Ais { .. } => self.impair.set_ais(false),
                    FaultKind::Rai { .. } => self.span.set_send_rai(false),
                    FaultKind::Slip { .. } | FaultKind::DropDFrames { .. } => {}
                }
                self.faults[i].phase = FaultPhase::Recovering {
                    ended: now,
                    deadline: now + grace,
                };
                self.info(format!("fault {label}: off"));
                self.run_fault(now, t0, i);
            }
            // Give the line a moment after the fault before judging it.
            FaultPhase::Recovering { ended, deadline } if now >= ended + FAULT_SETTLE => {
                let f = &mut self.faults[i];
                let re_established = establishments > f.establishments_at_start;
                let (noticed, link_lost) = (f.noticed, f.link_lost);
                let recovered = established && (!kind.takes_span_down() || re_established);
                if recovered {
                    f.phase = FaultPhase::Done;
                    let after = now.saturating_duration_since(ended).as_millis();
                    if kind.takes_span_down() {
                        self.check(
                            noticed,
                            format!(
                                "fault {label}: far end {} (RAI, or the link dropped)",
                                if noticed { "noticed" } else { "did not notice" }
                            ),
                        );
                        self.check(
                            true,
                            format!(
                                "fault {label}: D-channel re-established, up {after} ms after the fault ended"
                            ),
                        );
                    } else if matches!(kind, FaultKind::Rai { .. }) {
                        self.check(
                            !link_lost,
                            format!(
                                "fault {label}: D-channel {} (RAI does not take the span down)",
                                if link_lost { "went down" } else { "stayed up" }
                            ),
                        );
                    } else {
                        let dropped = match kind {
                            FaultKind::DropDFrames { .. } => {
                                format!(", {} frames dropped", self.dropped_d_frames)
                            }
                            _ => String::new(),
                        };
                        self.check(
                            true,
                            format!(
                                "fault {label}: D-channel up {after} ms after the fault ended{dropped}"
                            ),
                        );
                    }
                } else if deadline <= now {
                    f.phase = FaultPhase::Done;
                    self.check(
                        false,
                        format!(
                            "fault {label}: D-channel not back within {} ms of the fault",
                            grace.as_millis()
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    fn run_line_check(&mut self, now: Instant, t0: Instant, i: usize) {
        let up = self.span.status().up;
        let downs = self.span_downs;
        let w = &mut self.line_checks[i];
        if w.done || now < t0 + w.spec.at {
            return;
        }
        let opened = *w.downs_at_open.get_or_insert(downs);
        let met = if w.spec.down {
            !up || downs > opened
        } else {
            up
        };
        let state = if w.spec.down { "down" } else { "up" };
        let within = w.spec.within.as_millis();
        let at = w.spec.at.as_millis();
        if met {
            w.done = true;
            let after = now.saturating_duration_since(t0 + w.spec.at).as_millis();
            self.check(
                true,
                format!("span {state} {after} ms after {at} ms (within {within} ms)"),
            );
        } else if now >= t0 + w.spec.at + w.spec.within {
            w.done = true;
            self.check(
                false,
                format!("span not {state} within {within} ms of {at} ms"),
            );
        }
    }

    fn link_established(&self) -> bool {
        self.link_up
            && self
                .d
                .lapd()
                .is_some_and(|l| l.state() == lapd::State::MultipleFrameEstablished)
    }

    /// Count data-link establishments across data-link instances (layer 1 down drops
    /// the instance and its counters).
    fn watch_link(&mut self, _now: Instant) {
        // A SABME while established (MDL-ERROR F) resets the link in place: it counts.
        let current = self.d.lapd().map_or(0, |l| {
            l.counters().establishments + l.counters().mdl.get(MdlError::PeerReestablished)
        });
        if current < self.seen.establishments {
            self.seen.establishments_before += self.seen.establishments;
        }
        self.seen.establishments = current;
    }

    /// Report each new peer protocol violation once (module docs).
    fn check_strict(&mut self) {
        if !self.strict {
            return;
        }
        let errors = self.d.counters().errors;
        let was = self.seen.q931;
        let q931 = [
            (
                errors.unknown_message_type,
                was.unknown_message_type,
                "message of an unknown type (cause 97)",
            ),
            (
                errors.mandatory_ie_missing,
                was.mandatory_ie_missing,
                "message missing a mandatory element (cause 96)",
            ),
            (
                errors.invalid_ie_contents,
                was.invalid_ie_contents,
                "element with invalid contents (cause 100)",
            ),
            (
                errors.unexpected_message,
                was.unexpected_message,
                "message not expected in the call's state (cause 101)",
            ),
            (
                errors.channel_refused,
                was.channel_refused,
                "SETUP for a channel we cannot give",
            ),
        ];
        let mut failures = Vec::new();
        for (now, before, what) in q931 {
            if now > before {
                failures.push(format!("peer sent a Q.931 {what} ({} so far)", now));
            }
        }
        // An unknown call reference is normal right after a link failure (both ends
        // cleared their calls); it is a violation only on a clean line.
        if !self.faults_injected && errors.unknown_call_reference > was.unknown_call_reference {
            failures.push(format!(
                "peer sent a Q.931 message for an unknown call reference ({} so far)",
                errors.unknown_call_reference
            ));
        }
        self.seen.q931 = errors;
        if !self.faults_injected {
            if let Some(l) = self.d.lapd() {
                let c = l.counters();
                let invalid = c.invalid.total();
                if invalid > self.seen.lapd_invalid {
                    failures.push(format!("peer sent invalid LAPD frames: {:?}", c.invalid));
                }
                self.seen.lapd_invalid = invalid;
                let mdl = [
                    MdlError::NrSequenceError,
                    MdlError::FrameRejectReceived,
                    MdlError::UndefinedControlField,
                    MdlError::InformationFieldNotPermitted,
                    MdlError::WrongFrameSize,
                    MdlError::InformationFieldTooLong,
                ];
                for (k, e) in mdl.into_iter().enumerate() {
                    let n = c.mdl.get(e);
                    if n > self.seen.lapd_mdl[k] {
                        failures.push(format!(
                            "LAPD MDL-ERROR {} ({}) caused by the peer",
                            e.code(),
                            e.description()
                        ));
                    }
                    self.seen.lapd_mdl[k] = n;
                }
            } else {
                self.seen.lapd_invalid = 0;
                self.seen.lapd_mdl = [0; 6];
            }
            // FCS errors before the first link-up can be a frame cut by the search for
            // alignment; after it, a clean line has none.
            let h = self.span.counters().hdlc;
            let bad = h.bad_fcs + h.aborted + h.too_long + h.non_octet;
            if self.t0.is_some() && bad > self.seen.bad_fcs {
                failures.push(format!(
                    "{} damaged D-channel frame(s) (bad FCS {}, aborted {}, too long {}, not whole octets {}) on a line without injected faults",
                    bad - self.seen.bad_fcs,
                    h.bad_fcs,
                    h.aborted,
                    h.too_long,
                    h.non_octet
                ));
            }
            self.seen.bad_fcs = bad;
        }
        for f in failures {
            self.check(false, f);
        }
    }
}

fn min(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// STATUS causes that say the peer found something wrong with what we sent: invalid
/// call reference, and the protocol-error class (Q.850 95 to 111).
fn is_error_cause(cause: Cause) -> bool {
    matches!(cause.0, 81 | 82 | 95..=111)
}

fn presentation_of(p: ie::Presentation) -> Presentation {
    match p {
        ie::Presentation::RESTRICTED => Presentation::Restricted,
        ie::Presentation::NOT_AVAILABLE => Presentation::Unavailable,
        _ => Presentation::Allowed,
    }
}

fn describe_expect(e: Expect) -> String {
    match e {
        Expect::Alerting => "alerting".into(),
        Expect::Connect => "connect".into(),
        Expect::Busy => "busy (cause 17)".into(),
        Expect::Cause(c) => format!("cause {}", c.0),
        Expect::NoAnswer => "no answer".into(),
    }
}

fn describe_fault(kind: &FaultKind) -> String {
    match *kind {
        FaultKind::BitErrors { ber, duration } => {
            format!("bit errors {ber:e} for {} ms", duration.as_millis())
        }
        FaultKind::Slip { bits } => format!("slip of {bits} bits"),
        FaultKind::Los { duration } => format!("LOS {} ms", duration.as_millis()),
        FaultKind::Ais { duration } => format!("AIS {} ms", duration.as_millis()),
        FaultKind::Rai { duration } => format!("RAI {} ms", duration.as_millis()),
        FaultKind::DropDFrames { count } => format!("drop {count} D-channel frames"),
    }
}

fn load_tally(l: &Load, index: usize) -> LoadTally {
    let what = match l.pattern {
        super::scenario::LoadPattern::Parallel { calls } => format!("{calls} parallel"),
        super::scenario::LoadPattern::Rate { rate, duration } => {
            format!("{rate}/s for {} ms", duration.as_millis())
        }
    };
    LoadTally {
        label: format!("load {} ({what} to {})", index + 1, l.called),
        total: l.pattern.calls(),
        started: 0,
        connected: 0,
        failed: 0,
        finished: 0,
    }
}

fn load_call(l: &Load) -> Place {
    Place {
        at: Duration::ZERO,
        called: l.called.clone(),
        calling: l.calling.clone(),
        presentation: None,
        bearer: Bearer::Speech,
        expect: Expect::Connect,
        within: l.within,
        hold: l.hold,
        hangup: l.hangup,
        send: Vec::new(),
        hear: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sim::harness::Harness;

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("t.yaml"), text).unwrap()
    }

    fn pbx(s: &Scenario, t0: Instant) -> Pbx {
        Pbx::new(PbxConfig::new(&s.span.resolve().unwrap()), s, t0)
    }

    fn checks(p: &mut Pbx) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = p.poll_event() {
            if let Event::Check { .. } = e {
                out.push(e.line());
            }
        }
        out
    }

    #[test]
    fn no_link_by_link_within_fails_and_finishes() {
        let s = scenario("link_within_ms: 500\nsteps:\n  - place: { called: \"1\" }\n");
        let t0 = epoch();
        let mut p = pbx(&s, t0);
        assert_eq!(
            p.poll_timeout(),
            Some(t0 + Duration::from_millis(1)),
            "the internal clock's first batch"
        );
        p.handle_timeout(t0 + Duration::from_millis(499));
        assert!(!p.is_finished());
        p.handle_timeout(t0 + Duration::from_millis(500));
        assert!(p.is_finished());
        let lines = checks(&mut p);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("FAIL: D-channel never came up")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("FAIL: call to 1 was never placed")),
            "{lines:?}"
        );
        assert_eq!(p.report().summary(), "0 passed, 2 failed");
    }

    #[test]
    fn passive_pbx_never_finishes_and_counts_nothing_as_a_check() {
        let s = Scenario::passive();
        let t0 = epoch();
        let mut p = pbx(&s, t0);
        p.handle_timeout(t0 + Duration::from_secs(10));
        assert!(!p.is_finished());
        assert!(checks(&mut p).is_empty());
    }

    #[test]
    fn unexpected_incoming_call_is_refused_with_cause_21_and_fails() {
        let a = scenario(
            "span: { alarms: { recovery_after_ms: 100 } }\nsettle_ms: 0\nsteps:\n  - place: { called: \"9\", at_ms: 5000, within_ms: 100, expect: no_answer }\n",
        );
        let b = scenario(
            "span: { side: network, clock: line, alarms: { recovery_after_ms: 100 } }\nsettle_ms: 0\nsteps:\n  - place: { called: \"77\", expect: cause 21, within_ms: 2000 }\n  - answer: { called: \"9\", no_answer: true }\n",
        );
        let t0 = epoch();
        let mut h = Harness::new(1, t0, pbx(&a, t0), pbx(&b, t0));
        let (mut la, mut lb) = (Vec::new(), Vec::new());
        h.step_until(Duration::from_secs(20), |h| {
            la.extend(checks(&mut h.a));
            lb.extend(checks(&mut h.b));
            h.b.report().passed >= 2
        });
        assert!(
            la.iter()
                .any(|l| l.starts_with("FAIL: incoming call 1 to 77")
                    && l.contains("refused with cause 21")),
            "{la:?}"
        );
        assert!(
            lb.iter()
                .any(|l| l.contains("cause 21 (Call rejected) as expected")),
            "{lb:?}"
        );
    }
}
