//! Q.921 (LAPD) data link for a PRI D-channel: SAPI 0 / TEI 0 point-to-point,
//! modulo-128 multiple-frame operation (ITU-T Q.921 §5; `reference/q921-lapd.md`).
//!
//! [`Lapd`] is a sans-IO state machine. Below it the HDLC layer hands in whole frames
//! without FCS ([`Lapd::handle_frame`]) and takes frames out ([`Lapd::poll_transmit`]);
//! above it Q.931 sends DL-primitives ([`Lapd::handle_command`]) and receives them
//! ([`Lapd::poll_event`]). Time is a parameter: the caller passes `now`, reads the next
//! deadline from [`Lapd::poll_timeout`] and calls [`Lapd::handle_timeout`] when it
//! passes. After any `handle_*`, drain `poll_transmit` and `poll_event`, then re-read
//! `poll_timeout`. The future `isdn::DChannel` composes it: HDLC frames in, Q.931
//! messages up as [`Event::DataIndication`], Q.931 messages down as
//! [`Command::DataRequest`].
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::Bytes;
//! use dialgate::isdn::lapd::{Command, Config, Event, Lapd, Side};
//!
//! fn back_to_back(now: Instant) {
//!     let mut user = Lapd::new(Config::new(Side::User), now);
//!     let passive = Config { initiate_establishment: false, ..Config::new(Side::Network) };
//!     let mut network = Lapd::new(passive, now);
//!     // A Q.931 message is queued until the SABME/UA exchange completes.
//!     let setup = Bytes::from_static(&[0x08, 0x02, 0x00, 0x01, 0x05]);
//!     user.handle_command(now, Command::DataRequest(setup.clone()));
//!     // A parent hands these to HDLC; here they go straight across.
//!     loop {
//!         let mut moved = false;
//!         while let Some(frame) = user.poll_transmit() {
//!             network.handle_frame(now, &frame);
//!             moved = true;
//!         }
//!         while let Some(frame) = network.poll_transmit() {
//!             user.handle_frame(now, &frame);
//!             moved = true;
//!         }
//!         if !moved {
//!             break;
//!         }
//!     }
//!     assert_eq!(user.poll_event(), Some(Event::EstablishConfirm));
//!     assert_eq!(network.poll_event(), Some(Event::EstablishIndication));
//!     assert_eq!(network.poll_event(), Some(Event::DataIndication(setup)));
//!     // Then wait until the earliest poll_timeout() and call handle_timeout(now).
//!     assert!(user.poll_timeout().is_some());
//! }
//! # #[allow(clippy::disallowed_methods)]
//! # fn main() { back_to_back(Instant::now()) }
//! ```
//!
//! On a PRI the TEI is fixed, so the link starts in state 4 (Q.921 states 1-3 never
//! occur):
//!
//! ```text
//!                  start-up, DL-ESTABLISH-req, DL-DATA-req,
//!                  DM F=0, T200 retry: send SABME
//!  ┌────────────────┐ ──────────────────────────────────▶ ┌────────────────────┐
//!  │ 4 TEI assigned │                                      │ 5 awaiting         │
//!  │   (link down)  │ ◀── DM F=1, N200 SABMEs (G) ──────── │   establishment    │ ◀─┐
//!  └────────────────┘     DL-RELEASE-ind                   └────────────────────┘   │
//!    ▲   │   ▲                                                       │ UA F=1        │
//!    │   │   │  DISC / send UA, DL-RELEASE-ind                       ▼               │
//!    │   │   └─────────────────────────────────────── ┌────────────────────┐        │
//!    │   └── SABME / send UA, DL-ESTABLISH-ind ─────▶ │ 7 multiple frame   │ ───────┤
//!    │                                                │   established      │        │
//!    │ UA or DM F=1: DL-RELEASE-conf                  └────────────────────┘        │
//!    │ N200 DISCs (H)              T200, T203: poll P=1 │      ▲ RR/RNR/REJ F=1      │
//!  ┌────────────────┐                                  ▼      │                     │
//!  │ 6 awaiting     │ ◀── DL-RELEASE-req ──── ┌────────────────────┐                │
//!  │   release      │     send DISC           │ 8 timer recovery   │ ───────────────┘
//!  └────────────────┘     (from 5, 7 and 8)   └────────────────────┘  N200 polls (I)
//!
//!  7 or 8 -> 5 (layer-2 re-establishment, SABME sent, MDL-ERROR indicated):
//!  N(R) error (J), FRMR (K), DM F=0 (E), DM F=1 in 8 (B), unanswered polls (I),
//!  and the frame-rejection conditions: undefined control field (L), information
//!  field not permitted (M), wrong frame size (N), information longer than N201 (O).
//!  A SABME in 7 or 8 (MDL-ERROR F) is answered with UA and resets the link in place.
//! ```
//!
//! Choices where Q.921 leaves room or where the gateway needs more:
//! - Timer recovery always polls with RR/RNR P=1 (libpri); it never retransmits the
//!   last I frame with P=1.
//! - DL-DATA requests are queued in states 4, 5, 7 and 8; in state 4 the request also
//!   starts establishment (as libpri does). In state 6 they are discarded and counted.
//!   The queue holds at most [`Config::i_queue_limit`] messages.
//! - A layer-2 re-establishment throws away the unacknowledged I frames (their delivery
//!   is unknown) but keeps the ones never sent; Q.931 learns of the reset through
//!   [`Event::EstablishIndication`] when the UA arrives. Q.921's SDL gives that
//!   indication only if V(S) != V(A); we always give it, as the reference's N200 table
//!   expects and as libpri's point-to-point "D-channel up" event does, so Q.931 can
//!   resynchronise its calls either way.
//! - With [`Config::initiate_establishment`], the link sends SABME at start-up and,
//!   after every DL-RELEASE indication, again T200 later, for as long as it runs. A
//!   DL-RELEASE confirm (a release Q.931 asked for) leaves the link down.
//! - Acknowledgements are lazy: an RR for received I frames is built only when the
//!   transmit queue runs dry, so a batch of I frames handled before draining
//!   [`Lapd::poll_transmit`] costs one RR, and a reply I frame carries it instead.
//! - The link never sends FRMR (Q.921 §5.8.5); received XID frames are ignored.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, trace, warn};

mod counters;
mod frame;
mod timer;

pub use counters::{Counters, FrameCounts, InvalidCounts, MdlCounts};
pub use frame::{
    Address, Frame, FrameDisplay, FrameError, FrameType, FrmrInformation, Sapi, SequenceNumber, Tei,
};
use timer::{Timer, Timers};

/// Which end of the interface this data link is; it decides the C/R bit (Q.921 Table 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    /// The user (terminal) side: commands carry C/R = 0, responses C/R = 1.
    User,
    /// The network (switch) side: commands carry C/R = 1, responses C/R = 0.
    Network,
}

impl Side {
    /// The C/R bit this side puts on its commands (responses carry the opposite).
    pub const fn command_bit(self) -> bool {
        matches!(self, Self::Network)
    }

    /// The other end.
    pub const fn peer(self) -> Self {
        match self {
            Self::User => Self::Network,
            Self::Network => Self::User,
        }
    }
}

/// Data-link parameters (Q.921 §5.9); [`Config::new`] gives the PRI defaults.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Config {
    /// User or network side.
    pub side: Side,
    /// Whether this side sends SABME at start-up and after a failure, or waits for the
    /// peer's. Both sides always accept a SABME.
    pub initiate_establishment: bool,
    /// T200, the retransmission timer.
    pub t200: Duration,
    /// T203, the idle timer; must be longer than T200.
    pub t203: Duration,
    /// N200, the maximum number of retransmissions of a SABME, DISC or poll.
    pub n200: u8,
    /// k, the maximum number of unacknowledged I frames (1..=127).
    pub k: u8,
    /// N201, the maximum length of an information field in octets.
    pub n201: usize,
    /// How many DL-DATA requests may wait (sent or not) before new ones are discarded.
    /// Not a Q.921 parameter: it bounds memory while the link is down.
    pub i_queue_limit: usize,
}

impl Config {
    /// Default T200 for a PRI: 1 s.
    pub const T200: Duration = Duration::from_secs(1);
    /// Default T203: 10 s.
    pub const T203: Duration = Duration::from_secs(10);
    /// Default N200: 3 retransmissions.
    pub const N200: u8 = 3;
    /// Default k for SAPI 0 on a primary-rate access: 7.
    pub const K: u8 = 7;
    /// Default N201: 260 octets.
    pub const N201: usize = 260;
    /// Default I-queue limit: 64 messages.
    pub const I_QUEUE_LIMIT: usize = 64;

    /// The PRI defaults for `side`, initiating establishment as libpri does on both sides.
    pub const fn new(side: Side) -> Self {
        Self {
            side,
            initiate_establishment: true,
            t200: Self::T200,
            t203: Self::T203,
            n200: Self::N200,
            k: Self::K,
            n201: Self::N201,
            i_queue_limit: Self::I_QUEUE_LIMIT,
        }
    }

    // Values that would break the machine are pulled into range: k outside 1..=127 would
    // let V(S) lap V(A), a zero timer would expire again at the instant it is set, and
    // an absurdly long one would overflow `Instant` arithmetic.
    fn sanitized(mut self) -> Self {
        const MIN_TIMER: Duration = Duration::from_millis(1);
        const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);
        self.k = self.k.clamp(1, 127);
        self.t200 = self.t200.clamp(MIN_TIMER, MAX_TIMER);
        self.t203 = self.t203.clamp(MIN_TIMER, MAX_TIMER);
        self
    }
}

/// A primitive from Q.931 (or management) to the data link.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// DL-ESTABLISH request: bring the link up (or reset it, discarding the I queue).
    EstablishRequest,
    /// DL-RELEASE request: take the link down; answered by [`Event::ReleaseConfirm`].
    ReleaseRequest,
    /// DL-DATA request: send one Q.931 message in an I frame (see the module doc for
    /// queueing while the link is not established).
    DataRequest(Bytes),
    /// DL-UNIT-DATA request: send one message in a UI frame, unacknowledged.
    UnitDataRequest(Bytes),
    /// Set own receiver busy: answer with RNR and discard received I frames.
    SetOwnReceiverBusy,
    /// Clear own receiver busy: send RR and accept I frames again.
    ClearOwnReceiverBusy,
}

/// A primitive from the data link up to Q.931 (or to management, for MDL-ERROR).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// DL-ESTABLISH indication: the link came up (or was reset) without Q.931 asking.
    EstablishIndication,
    /// DL-ESTABLISH confirm: the establishment Q.931 (or start-up) asked for succeeded.
    EstablishConfirm,
    /// DL-RELEASE indication: the link went down without Q.931 asking.
    ReleaseIndication,
    /// DL-RELEASE confirm: the release Q.931 asked for is complete.
    ReleaseConfirm,
    /// DL-DATA indication: one Q.931 message, in sequence, exactly once.
    DataIndication(Bytes),
    /// DL-UNIT-DATA indication: a message from a UI frame.
    UnitDataIndication(Bytes),
    /// MDL-ERROR indication, for logs and counters (Q.921 Table II.1).
    MdlErrorIndication(MdlError),
}

/// MDL-ERROR indication codes A to O (Q.921 Appendix II).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MdlError {
    /// A: supervisory response with F=1 while no poll was outstanding.
    UnsolicitedSupervisoryResponse,
    /// B: DM with F=1 in state 7 or 8.
    UnsolicitedDmResponse,
    /// C: UA with F=1 where none was expected (states 4, 7, 8).
    UnsolicitedUaResponse,
    /// D: UA with F=0.
    UaWithoutFinal,
    /// E: DM with F=0 in state 7 or 8: the peer says the link is down.
    DmWithoutFinal,
    /// F: SABME in state 7 or 8: the peer re-established the link.
    PeerReestablished,
    /// G: SABME retransmitted N200 times without answer.
    EstablishRetriesExhausted,
    /// H: DISC retransmitted N200 times without answer.
    ReleaseRetriesExhausted,
    /// I: status enquiry (poll) retransmitted N200 times in timer recovery.
    StatusEnquiryRetriesExhausted,
    /// J: N(R) outside V(A)..=V(S).
    NrSequenceError,
    /// K: FRMR received.
    FrameRejectReceived,
    /// L: frame with an undefined or unimplemented control field.
    UndefinedControlField,
    /// M: information field where none is permitted.
    InformationFieldNotPermitted,
    /// N: frame of the wrong size.
    WrongFrameSize,
    /// O: information field longer than N201.
    InformationFieldTooLong,
}

impl MdlError {
    /// The letter Q.921 gives the error.
    pub const fn code(self) -> char {
        (b'A' + self as u8) as char
    }

    /// What the condition is, in words.
    pub const fn description(self) -> &'static str {
        match self {
            Self::UnsolicitedSupervisoryResponse => "supervisory response F=1 without poll",
            Self::UnsolicitedDmResponse => "DM F=1 while established",
            Self::UnsolicitedUaResponse => "unexpected UA F=1",
            Self::UaWithoutFinal => "UA F=0",
            Self::DmWithoutFinal => "DM F=0 while established",
            Self::PeerReestablished => "SABME while established",
            Self::EstablishRetriesExhausted => "SABME retries exhausted",
            Self::ReleaseRetriesExhausted => "DISC retries exhausted",
            Self::StatusEnquiryRetriesExhausted => "status enquiry retries exhausted",
            Self::NrSequenceError => "N(R) sequence error",
            Self::FrameRejectReceived => "FRMR received",
            Self::UndefinedControlField => "undefined control field",
            Self::InformationFieldNotPermitted => "information field not permitted",
            Self::WrongFrameSize => "frame of wrong size",
            Self::InformationFieldTooLong => "information field longer than N201",
        }
    }

    // C, D and F happen around every SABME collision at start-up; they are not news.
    const fn is_routine(self) -> bool {
        matches!(
            self,
            Self::UnsolicitedUaResponse | Self::UaWithoutFinal | Self::PeerReestablished
        )
    }
}

impl fmt::Display for MdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MDL-ERROR {} ({})", self.code(), self.description())
    }
}

/// The Q.921 data-link states a PRI uses, numbered as in Q.921.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum State {
    /// 4: link released; only UI transfer possible.
    TeiAssigned,
    /// 5: SABME sent, waiting for UA.
    AwaitingEstablishment,
    /// 6: DISC sent, waiting for UA or DM.
    AwaitingRelease,
    /// 7: normal acknowledged operation.
    MultipleFrameEstablished,
    /// 8: T200 or T203 expired; polling the peer.
    TimerRecovery,
}

impl State {
    /// The state's number in Q.921.
    pub const fn number(self) -> u8 {
        match self {
            Self::TeiAssigned => 4,
            Self::AwaitingEstablishment => 5,
            Self::AwaitingRelease => 6,
            Self::MultipleFrameEstablished => 7,
            Self::TimerRecovery => 8,
        }
    }
}

/// The state variables and flags of an established link (states 7 and 8).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Variables {
    /// V(S): N(S) of the next new I frame.
    pub vs: SequenceNumber,
    /// V(A): the oldest unacknowledged N(S).
    pub va: SequenceNumber,
    /// V(R): the N(S) expected next.
    pub vr: SequenceNumber,
    /// The peer sent RNR.
    pub peer_busy: bool,
    /// We are sending RNR.
    pub own_busy: bool,
    /// A REJ is outstanding.
    pub reject_exception: bool,
    /// Received I frames wait for an acknowledgement.
    pub acknowledge_pending: bool,
}

impl Variables {
    // N(R) is valid iff V(A) <= N(R) <= V(S) around the circle.
    const fn nr_valid(&self, nr: SequenceNumber) -> bool {
        nr.distance_from(self.va) <= self.vs.distance_from(self.va)
    }

    const fn outstanding(&self) -> usize {
        self.vs.distance_from(self.va) as usize
    }
}

// Each state with only its own data. RC is the retransmission counter of T200.
#[derive(Clone, Debug)]
enum StateData {
    TeiAssigned,
    AwaitingEstablishment { rc: u8, layer3_initiated: bool },
    AwaitingRelease { rc: u8 },
    MultipleFrameEstablished(Variables),
    TimerRecovery { link: Variables, rc: u8 },
}

// One DL-DATA message. Index 0 of the I queue has N(S) = V(A); the first
// d(V(S), V(A)) entries are on the wire, the rest wait for the window.
#[derive(Clone, Debug)]
struct Queued {
    information: Bytes,
    transmitted: bool,
}

/// One Q.921 data link (SAPI 0, TEI 0). See the module documentation.
#[derive(Debug)]
pub struct Lapd {
    config: Config,
    state: StateData,
    timers: Timers,
    i_queue: VecDeque<Queued>,
    transmit: VecDeque<Bytes>,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Lapd {
    /// Creates the link in state 4. With [`Config::initiate_establishment`] it sends
    /// SABME at once (as a DL-ESTABLISH request: success gives a confirm).
    pub fn new(config: Config, now: Instant) -> Self {
        let mut lapd = Self {
            config: config.sanitized(),
            state: StateData::TeiAssigned,
            timers: Timers::default(),
            i_queue: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
        };
        if lapd.config.initiate_establishment {
            lapd.state = lapd.establish_data_link(now, true);
        }
        lapd
    }

    /// Handles one received frame (address to end of information, FCS removed).
    /// Invalid frames are counted and discarded or, in states 7 and 8, trigger
    /// re-establishment as Q.921 §5.8 says. Never panics.
    pub fn handle_frame(&mut self, now: Instant, bytes: &[u8]) {
        let (frame, command) = match self.screen(bytes) {
            Ok(accepted) => accepted,
            Err(Some(error)) => {
                self.frame_rejection(now, error);
                return;
            }
            Err(None) => return,
        };
        trace!(frame = %frame.display(self.config.side.peer()), "rx");
        match frame {
            Frame::Ui { information, .. } => {
                self.events
                    .push_back(Event::UnitDataIndication(information));
                return;
            }
            Frame::Xid { .. } => {
                debug!("XID ignored: PRI does not negotiate parameters");
                return;
            }
            _ => {}
        }
        let state = self.take_state();
        self.state = match state {
            StateData::TeiAssigned => self.tei_assigned_frame(now, frame),
            StateData::AwaitingEstablishment {
                rc,
                layer3_initiated,
            } => self.awaiting_establishment_frame(now, rc, layer3_initiated, frame),
            StateData::AwaitingRelease { rc } => self.awaiting_release_frame(rc, frame),
            StateData::MultipleFrameEstablished(link) => {
                self.established_frame(now, link, frame, command)
            }
            StateData::TimerRecovery { link, rc } => {
                self.timer_recovery_frame(now, link, rc, frame, command)
            }
        };
        self.after_event(now);
    }

    /// Handles a primitive from Q.931.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        let state = self.take_state();
        self.state = match command {
            Command::EstablishRequest => self.establish_request(now, state),
            Command::ReleaseRequest => self.release_request(now, state),
            Command::DataRequest(information) => self.data_request(now, state, information),
            Command::UnitDataRequest(information) => {
                self.unit_data_request(information);
                state
            }
            Command::SetOwnReceiverBusy => self.own_receiver_busy(state, true),
            Command::ClearOwnReceiverBusy => self.own_receiver_busy(state, false),
        };
        self.after_event(now);
    }

    /// Handles every timer whose deadline is not after `now`. Idempotent: a call before
    /// the next deadline does nothing. Each timer is handled at most once per call.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::ALL {
            if !self.timers.is_expired(timer, now) {
                continue;
            }
            self.timers.stop(timer);
            let state = self.take_state();
            self.state = self.timer_expiry(now, state, timer);
            self.after_event(now);
        }
    }

    /// The next frame to send, address to end of information (the HDLC layer adds FCS).
    ///
    /// An acknowledgement owed for received I frames is turned into an RR only when the
    /// queue is otherwise empty. A parent that hands [`Lapd::poll_event`]'s messages to
    /// Q.931, and Q.931's replies back as [`Command::DataRequest`], before draining
    /// this lets the reply I frame carry the acknowledgement instead.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.transmit.is_empty() {
            self.flush_acknowledgement();
        }
        self.transmit.pop_front()
    }

    /// The next primitive for Q.931.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline at which [`Lapd::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The current state.
    pub const fn state(&self) -> State {
        match self.state {
            StateData::TeiAssigned => State::TeiAssigned,
            StateData::AwaitingEstablishment { .. } => State::AwaitingEstablishment,
            StateData::AwaitingRelease { .. } => State::AwaitingRelease,
            StateData::MultipleFrameEstablished(_) => State::MultipleFrameEstablished,
            StateData::TimerRecovery { .. } => State::TimerRecovery,
        }
    }

    /// V(S), V(A), V(R) and the flags, in states 7 and 8.
    pub const fn variables(&self) -> Option<Variables> {
        match self.state {
            StateData::MultipleFrameEstablished(link) | StateData::TimerRecovery { link, .. } => {
                Some(link)
            }
            _ => None,
        }
    }

    /// DL-DATA messages held: unacknowledged ones and those waiting for the window.
    pub fn i_queue_len(&self) -> usize {
        self.i_queue.len()
    }

    /// The counters.
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration in use (after out-of-range values were pulled into range).
    pub const fn config(&self) -> &Config {
        &self.config
    }

    // ---- reception ----------------------------------------------------------------

    // Parses and filters a received frame. `Err(None)`: discard silently (counted);
    // `Err(Some(_))`: a frame-rejection condition for our link.
    fn screen(&mut self, bytes: &[u8]) -> Result<(Frame, bool), Option<MdlError>> {
        let address = Address::decode(bytes).map_err(|error| {
            self.counters.invalid.bump(&error);
            debug!(%error, "frame discarded");
            None
        })?;
        if address.sapi != Sapi::CALL_CONTROL {
            self.counters.invalid.wrong_sapi += 1;
            debug!(sapi = address.sapi.0, "frame for another SAPI discarded");
            return Err(None);
        }
        let group = address.tei == Tei::GROUP;
        if address.tei != Tei::POINT_TO_POINT && !group {
            self.counters.invalid.wrong_tei += 1;
            debug!(tei = address.tei.0, "frame for another TEI discarded");
            return Err(None);
        }
        // Only our own link's errors call for recovery; a broken broadcast is just noise.
        let rejection = |lapd: &mut Self, error: FrameError| {
            lapd.counters.invalid.bump(&error);
            debug!(%error, "invalid frame");
            if group { None } else { error.mdl_error() }
        };
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => return Err(rejection(self, error)),
        };
        if group && frame.frame_type() != FrameType::Ui {
            self.counters.invalid.wrong_tei += 1;
            return Err(None);
        }
        let command = frame.is_command_from(self.config.side.peer());
        if !frame.frame_type().allows(command) {
            self.counters.invalid.wrong_command_response += 1;
            if frame.frame_type() == FrameType::Sabme {
                warn!(
                    side = ?self.config.side,
                    "SABME arrived as a response: the peer is configured as the same side"
                );
            } else {
                debug!(frame_type = %frame.frame_type(), "frame with wrong C/R discarded");
            }
            return Err(None);
        }
        let len = frame.information().len();
        if matches!(frame, Frame::I { .. } | Frame::Ui { .. }) && len > self.config.n201 {
            let error = FrameError::InformationTooLong {
                len,
                n201: self.config.n201,
            };
            return Err(rejection(self, error));
        }
        self.counters.rx.bump(frame.frame_type());
        Ok((frame, command))
    }

    // Q.921 §5.8.5: in states 7 and 8 a frame-rejection condition re-establishes the
    // link; elsewhere the frame is discarded. We never send FRMR.
    fn frame_rejection(&mut self, now: Instant, error: MdlError) {
        let state = self.take_state();
        self.state = match state {
            StateData::MultipleFrameEstablished(link) | StateData::TimerRecovery { link, .. } => {
                self.mdl_error(error);
                self.reestablish(now, link)
            }
            other => other,
        };
    }

    fn tei_assigned_frame(&mut self, now: Instant, frame: Frame) -> StateData {
        match frame {
            Frame::Sabme { poll_final, .. } => {
                self.send_response_u(FrameType::Ua, poll_final);
                self.events.push_back(Event::EstablishIndication);
                self.enter_established(now)
            }
            Frame::Disc { poll_final, .. } => {
                self.send_response_u(FrameType::Dm, poll_final);
                StateData::TeiAssigned
            }
            // DM F=0 is the peer asking us to set the link up.
            Frame::Dm {
                poll_final: false, ..
            } => self.establish_data_link(now, true),
            Frame::Ua { poll_final, .. } => {
                self.mdl_error(unexpected_ua(poll_final));
                StateData::TeiAssigned
            }
            // I, S, FRMR, DM F=1: the peer still thinks the link is up; it will time
            // out and re-establish.
            _ => StateData::TeiAssigned,
        }
    }

    fn awaiting_establishment_frame(
        &mut self,
        now: Instant,
        rc: u8,
        layer3_initiated: bool,
        frame: Frame,
    ) -> StateData {
        let same = StateData::AwaitingEstablishment {
            rc,
            layer3_initiated,
        };
        match frame {
            Frame::Ua {
                poll_final: true, ..
            } => {
                self.events.push_back(if layer3_initiated {
                    Event::EstablishConfirm
                } else {
                    Event::EstablishIndication
                });
                self.enter_established(now)
            }
            Frame::Ua {
                poll_final: false, ..
            } => {
                self.mdl_error(MdlError::UaWithoutFinal);
                same
            }
            // SABME collision: answer it and keep waiting for the UA to our own.
            Frame::Sabme { poll_final, .. } => {
                self.send_response_u(FrameType::Ua, poll_final);
                same
            }
            Frame::Disc { poll_final, .. } => {
                self.send_response_u(FrameType::Dm, poll_final);
                same
            }
            Frame::Dm {
                poll_final: true, ..
            } => {
                self.events.push_back(Event::ReleaseIndication);
                self.link_down(now)
            }
            _ => same,
        }
    }

    fn awaiting_release_frame(&mut self, rc: u8, frame: Frame) -> StateData {
        let same = StateData::AwaitingRelease { rc };
        match frame {
            Frame::Ua {
                poll_final: true, ..
            }
            | Frame::Dm {
                poll_final: true, ..
            } => {
                self.timers.stop_all();
                self.events.push_back(Event::ReleaseConfirm);
                StateData::TeiAssigned
            }
            Frame::Ua {
                poll_final: false, ..
            } => {
                self.mdl_error(MdlError::UaWithoutFinal);
                same
            }
            // Both ends released at once.
            Frame::Disc { poll_final, .. } => {
                self.send_response_u(FrameType::Ua, poll_final);
                same
            }
            Frame::Sabme { poll_final, .. } => {
                self.send_response_u(FrameType::Dm, poll_final);
                same
            }
            _ => same,
        }
    }

    fn established_frame(
        &mut self,
        now: Instant,
        mut link: Variables,
        frame: Frame,
        command: bool,
    ) -> StateData {
        let frame_type = frame.frame_type();
        match frame {
            Frame::I {
                ns,
                nr,
                poll_final,
                information,
                ..
            } => {
                self.receive_information(&mut link, ns, poll_final, information);
                if !link.nr_valid(nr) {
                    return self.nr_error(now, link);
                }
                self.check_acknowledgement(now, &mut link, nr);
                StateData::MultipleFrameEstablished(link)
            }
            Frame::Rr { nr, poll_final, .. }
            | Frame::Rnr { nr, poll_final, .. }
            | Frame::Rej { nr, poll_final, .. } => {
                link.peer_busy = frame_type == FrameType::Rnr;
                if command && poll_final {
                    self.enquiry_response(&mut link);
                } else if !command && poll_final {
                    self.mdl_error(MdlError::UnsolicitedSupervisoryResponse);
                }
                if !link.nr_valid(nr) {
                    return self.nr_error(now, link);
                }
                match frame_type {
                    FrameType::Rnr => {
                        // The T200 expiry will poll the busy peer.
                        self.acknowledge(&mut link, nr);
                        self.timers.stop(Timer::T203);
                        self.timers.set(Timer::T200, now + self.config.t200);
                    }
                    FrameType::Rej => {
                        self.acknowledge(&mut link, nr);
                        self.timers.stop(Timer::T200);
                        self.timers.set(Timer::T203, now + self.config.t203);
                        self.invoke_retransmission(&mut link);
                    }
                    _ => self.check_acknowledgement(now, &mut link, nr),
                }
                StateData::MultipleFrameEstablished(link)
            }
            Frame::Dm {
                poll_final: true, ..
            } => {
                self.mdl_error(MdlError::UnsolicitedDmResponse);
                StateData::MultipleFrameEstablished(link)
            }
            Frame::Ua { poll_final, .. } => {
                self.mdl_error(unexpected_ua(poll_final));
                StateData::MultipleFrameEstablished(link)
            }
            other => self
                .common_established_frame(now, link, other)
                .unwrap_or(StateData::MultipleFrameEstablished(link)),
        }
    }

    fn timer_recovery_frame(
        &mut self,
        now: Instant,
        mut link: Variables,
        rc: u8,
        frame: Frame,
        command: bool,
    ) -> StateData {
        let frame_type = frame.frame_type();
        match frame {
            Frame::I {
                ns,
                nr,
                poll_final,
                information,
                ..
            } => {
                self.receive_information(&mut link, ns, poll_final, information);
                if !link.nr_valid(nr) {
                    return self.nr_error(now, link);
                }
                self.acknowledge(&mut link, nr);
                StateData::TimerRecovery { link, rc }
            }
            Frame::Rr { nr, poll_final, .. }
            | Frame::Rnr { nr, poll_final, .. }
            | Frame::Rej { nr, poll_final, .. } => {
                link.peer_busy = frame_type == FrameType::Rnr;
                if command && poll_final {
                    self.enquiry_response(&mut link);
                }
                if !link.nr_valid(nr) {
                    return self.nr_error(now, link);
                }
                self.acknowledge(&mut link, nr);
                if command || !poll_final {
                    return StateData::TimerRecovery { link, rc };
                }
                // The answer to our poll: go back to N(R) and resume.
                if link.peer_busy {
                    self.timers.set(Timer::T200, now + self.config.t200);
                } else {
                    self.timers.stop(Timer::T200);
                    self.timers.set(Timer::T203, now + self.config.t203);
                }
                self.invoke_retransmission(&mut link);
                StateData::MultipleFrameEstablished(link)
            }
            Frame::Dm { poll_final, .. } => {
                self.mdl_error(if poll_final {
                    MdlError::UnsolicitedDmResponse
                } else {
                    MdlError::DmWithoutFinal
                });
                self.reestablish(now, link)
            }
            Frame::Ua { poll_final, .. } => {
                self.mdl_error(unexpected_ua(poll_final));
                StateData::TimerRecovery { link, rc }
            }
            other => self
                .common_established_frame(now, link, other)
                .unwrap_or(StateData::TimerRecovery { link, rc }),
        }
    }

    // SABME, DISC, DM F=0 and FRMR are handled alike in states 7 and 8.
    fn common_established_frame(
        &mut self,
        now: Instant,
        link: Variables,
        frame: Frame,
    ) -> Option<StateData> {
        Some(match frame {
            Frame::Sabme { poll_final, .. } => self.peer_reestablished(now, link, poll_final),
            Frame::Disc { poll_final, .. } => {
                self.send_response_u(FrameType::Ua, poll_final);
                self.events.push_back(Event::ReleaseIndication);
                self.link_down(now)
            }
            Frame::Dm {
                poll_final: false, ..
            } => {
                self.mdl_error(MdlError::DmWithoutFinal);
                self.reestablish(now, link)
            }
            Frame::Frmr { information, .. } => {
                debug!(
                    causes = information.causes(),
                    vs = %information.vs(),
                    vr = %information.vr(),
                    "FRMR received"
                );
                self.mdl_error(MdlError::FrameRejectReceived);
                self.reestablish(now, link)
            }
            _ => return None,
        })
    }

    // The N(S) check of a received I frame, shared by states 7 and 8.
    fn receive_information(
        &mut self,
        link: &mut Variables,
        ns: SequenceNumber,
        poll: bool,
        information: Bytes,
    ) {
        if link.own_busy {
            debug!(%ns, "I frame discarded: own receiver busy");
            if poll {
                self.enquiry_response(link);
            }
            return;
        }
        if ns == link.vr {
            link.vr = link.vr.next();
            link.reject_exception = false;
            self.events.push_back(Event::DataIndication(information));
            if poll {
                self.enquiry_response(link);
            } else {
                link.acknowledge_pending = true;
            }
            return;
        }
        self.counters.out_of_sequence += 1;
        debug!(%ns, vr = %link.vr, "I frame out of sequence discarded");
        if !link.reject_exception {
            // One REJ per gap; later out-of-sequence frames are only discarded.
            link.reject_exception = true;
            let address = self.address(false);
            self.send(Frame::Rej {
                address,
                nr: link.vr,
                poll_final: poll,
            });
            link.acknowledge_pending = false;
        } else if poll {
            self.enquiry_response(link);
        }
    }

    // "Process N(R)" of state 7 for I and RR frames with a valid N(R).
    fn check_acknowledgement(&mut self, now: Instant, link: &mut Variables, nr: SequenceNumber) {
        if link.peer_busy {
            self.acknowledge(link, nr);
        } else if nr == link.vs {
            self.acknowledge(link, nr);
            self.timers.stop(Timer::T200);
            self.timers.set(Timer::T203, now + self.config.t203);
        } else if nr != link.va {
            self.acknowledge(link, nr);
            self.timers.set(Timer::T200, now + self.config.t200);
        }
    }

    // V(A) = N(R): drop the acknowledged copies. N(R) must be valid.
    fn acknowledge(&mut self, link: &mut Variables, nr: SequenceNumber) {
        let acknowledged = usize::from(nr.distance_from(link.va)).min(self.i_queue.len());
        self.i_queue.drain(..acknowledged);
        link.va = nr;
    }

    // V(S) = V(A): everything from V(A) on goes out again as the window allows.
    fn invoke_retransmission(&mut self, link: &mut Variables) {
        if link.vs != link.va {
            debug!(from = %link.va, to = %link.vs, "retransmitting");
        }
        link.vs = link.va;
    }

    fn nr_error(&mut self, now: Instant, link: Variables) -> StateData {
        self.mdl_error(MdlError::NrSequenceError);
        self.reestablish(now, link)
    }

    // SABME in state 7 or 8: the peer reset the link.
    fn peer_reestablished(&mut self, now: Instant, link: Variables, poll: bool) -> StateData {
        self.send_response_u(FrameType::Ua, poll);
        self.mdl_error(MdlError::PeerReestablished);
        if link.vs != link.va {
            self.discard_unacknowledged(&link);
            self.events.push_back(Event::EstablishIndication);
        }
        self.enter_established(now)
    }

    // ---- commands -----------------------------------------------------------------

    fn establish_request(&mut self, now: Instant, state: StateData) -> StateData {
        match state {
            StateData::TeiAssigned => self.establish_data_link(now, true),
            StateData::AwaitingEstablishment { rc, .. } => {
                self.discard_i_queue();
                StateData::AwaitingEstablishment {
                    rc,
                    layer3_initiated: true,
                }
            }
            StateData::AwaitingRelease { .. } => {
                debug!("DL-ESTABLISH request ignored while awaiting release");
                state
            }
            StateData::MultipleFrameEstablished(_) | StateData::TimerRecovery { .. } => {
                self.discard_i_queue();
                self.establish_data_link(now, true)
            }
        }
    }

    fn release_request(&mut self, now: Instant, state: StateData) -> StateData {
        match state {
            StateData::TeiAssigned => {
                // Also cancels a pending re-establishment attempt.
                self.timers.stop_all();
                self.events.push_back(Event::ReleaseConfirm);
                StateData::TeiAssigned
            }
            StateData::AwaitingRelease { .. } => state,
            // From state 5 too: a plain return to state 4 would leave a peer that has
            // already answered our SABME in state 7.
            StateData::AwaitingEstablishment { .. }
            | StateData::MultipleFrameEstablished(_)
            | StateData::TimerRecovery { .. } => {
                self.discard_i_queue();
                let address = self.address(true);
                self.send(Frame::Disc {
                    address,
                    poll_final: true,
                });
                self.timers.stop(Timer::T203);
                self.timers.set(Timer::T200, now + self.config.t200);
                StateData::AwaitingRelease { rc: 0 }
            }
        }
    }

    fn data_request(&mut self, now: Instant, state: StateData, information: Bytes) -> StateData {
        let refuse = if information.len() > self.config.n201 {
            Some("longer than N201")
        } else if self.i_queue.len() >= self.config.i_queue_limit {
            Some("I queue full")
        } else if matches!(state, StateData::AwaitingRelease { .. }) {
            Some("link is being released")
        } else {
            None
        };
        if let Some(reason) = refuse {
            self.counters.discarded_requests += 1;
            warn!(len = information.len(), reason, "DL-DATA request discarded");
            return state;
        }
        self.i_queue.push_back(Queued {
            information,
            transmitted: false,
        });
        match state {
            StateData::TeiAssigned => self.establish_data_link(now, true),
            other => other,
        }
    }

    fn unit_data_request(&mut self, information: Bytes) {
        if information.len() > self.config.n201 {
            self.counters.discarded_requests += 1;
            warn!(
                len = information.len(),
                "DL-UNIT-DATA request longer than N201 discarded"
            );
            return;
        }
        let address = self.address(true);
        self.send(Frame::Ui {
            address,
            poll_final: false,
            information,
        });
    }

    fn own_receiver_busy(&mut self, state: StateData, busy: bool) -> StateData {
        match state {
            StateData::MultipleFrameEstablished(mut link) => {
                self.set_own_busy(&mut link, busy);
                StateData::MultipleFrameEstablished(link)
            }
            StateData::TimerRecovery { mut link, rc } => {
                self.set_own_busy(&mut link, busy);
                StateData::TimerRecovery { link, rc }
            }
            other => other,
        }
    }

    fn set_own_busy(&mut self, link: &mut Variables, busy: bool) {
        if link.own_busy != busy {
            link.own_busy = busy;
            let frame = receiver_status(self.address(false), link, false);
            self.send(frame);
            link.acknowledge_pending = false;
        }
    }

    // ---- timers -------------------------------------------------------------------

    fn timer_expiry(&mut self, now: Instant, state: StateData, timer: Timer) -> StateData {
        match timer {
            Timer::T200 => self.counters.t200_expiries += 1,
            Timer::T203 => self.counters.t203_expiries += 1,
        }
        let n200 = self.config.n200;
        match (state, timer) {
            // The pause after a failure is over: try again.
            (StateData::TeiAssigned, Timer::T200) => self.establish_data_link(now, true),
            (
                StateData::AwaitingEstablishment {
                    rc,
                    layer3_initiated,
                },
                Timer::T200,
            ) => {
                if rc < n200 {
                    self.send_sabme(now);
                    StateData::AwaitingEstablishment {
                        rc: rc + 1,
                        layer3_initiated,
                    }
                } else {
                    self.mdl_error(MdlError::EstablishRetriesExhausted);
                    self.events.push_back(Event::ReleaseIndication);
                    self.link_down(now)
                }
            }
            (StateData::AwaitingRelease { rc }, Timer::T200) => {
                if rc < n200 {
                    let address = self.address(true);
                    self.send(Frame::Disc {
                        address,
                        poll_final: true,
                    });
                    self.timers.set(Timer::T200, now + self.config.t200);
                    StateData::AwaitingRelease { rc: rc + 1 }
                } else {
                    self.mdl_error(MdlError::ReleaseRetriesExhausted);
                    self.events.push_back(Event::ReleaseConfirm);
                    self.timers.stop_all();
                    StateData::TeiAssigned
                }
            }
            (StateData::MultipleFrameEstablished(mut link), Timer::T200) => {
                self.transmit_enquiry(now, &mut link);
                StateData::TimerRecovery { link, rc: 1 }
            }
            (StateData::MultipleFrameEstablished(mut link), Timer::T203) => {
                self.transmit_enquiry(now, &mut link);
                StateData::TimerRecovery { link, rc: 0 }
            }
            (StateData::TimerRecovery { mut link, rc }, Timer::T200) => {
                if rc < n200 {
                    self.transmit_enquiry(now, &mut link);
                    StateData::TimerRecovery { link, rc: rc + 1 }
                } else {
                    self.mdl_error(MdlError::StatusEnquiryRetriesExhausted);
                    self.reestablish(now, link)
                }
            }
            (state, _) => state,
        }
    }

    // ---- shared procedures ----------------------------------------------------------

    // "Establish data link": RC = 0, SABME P=1, restart T200, stop T203. The exception
    // flags live in the state-7 data, so leaving state 7 has cleared them.
    fn establish_data_link(&mut self, now: Instant, layer3_initiated: bool) -> StateData {
        self.send_sabme(now);
        self.timers.stop(Timer::T203);
        StateData::AwaitingEstablishment {
            rc: 0,
            layer3_initiated,
        }
    }

    fn send_sabme(&mut self, now: Instant) {
        let address = self.address(true);
        self.send(Frame::Sabme {
            address,
            poll_final: true,
        });
        self.timers.set(Timer::T200, now + self.config.t200);
    }

    // Layer-2 initiated re-establishment from state 7 or 8 (the MDL-ERROR is already out).
    fn reestablish(&mut self, now: Instant, link: Variables) -> StateData {
        self.discard_unacknowledged(&link);
        self.establish_data_link(now, false)
    }

    // V(S) = V(A) = V(R) = 0, flags clear, T203 running.
    fn enter_established(&mut self, now: Instant) -> StateData {
        self.counters.establishments += 1;
        self.timers.stop(Timer::T200);
        self.timers.set(Timer::T203, now + self.config.t203);
        StateData::MultipleFrameEstablished(Variables::default())
    }

    // To state 4 after a DL-RELEASE indication; an initiating side tries again T200 later.
    fn link_down(&mut self, now: Instant) -> StateData {
        self.discard_i_queue();
        self.timers.stop_all();
        if self.config.initiate_establishment {
            self.timers.set(Timer::T200, now + self.config.t200);
        }
        StateData::TeiAssigned
    }

    // "Transmit enquiry": RR (or RNR) command P=1, start T200.
    fn transmit_enquiry(&mut self, now: Instant, link: &mut Variables) {
        let frame = receiver_status(self.address(true), link, true);
        self.send(frame);
        link.acknowledge_pending = false;
        self.timers.stop(Timer::T203);
        self.timers.set(Timer::T200, now + self.config.t200);
    }

    // "Enquiry response": RR (or RNR) response F=1.
    fn enquiry_response(&mut self, link: &mut Variables) {
        let frame = receiver_status(self.address(false), link, true);
        self.send(frame);
        link.acknowledge_pending = false;
    }

    // At the end of each event in state 7: send what the window allows.
    fn after_event(&mut self, now: Instant) {
        if let StateData::MultipleFrameEstablished(mut link) = self.state {
            self.push_i_frames(now, &mut link);
            self.state = StateData::MultipleFrameEstablished(link);
        }
    }

    fn push_i_frames(&mut self, now: Instant, link: &mut Variables) {
        let k = usize::from(self.config.k);
        while !link.peer_busy && link.outstanding() < k {
            let Some(entry) = self.i_queue.get_mut(link.outstanding()) else {
                break;
            };
            if entry.transmitted {
                self.counters.retransmissions += 1;
            }
            entry.transmitted = true;
            let information = entry.information.clone();
            let address = self.address(true);
            self.send(Frame::I {
                address,
                ns: link.vs,
                nr: link.vr,
                poll_final: false,
                information,
            });
            link.vs = link.vs.next();
            link.acknowledge_pending = false;
            if !self.timers.is_running(Timer::T200) {
                self.timers.stop(Timer::T203);
                self.timers.set(Timer::T200, now + self.config.t200);
            }
        }
    }

    // The pending acknowledgement goes out only when nothing else would carry it.
    fn flush_acknowledgement(&mut self) {
        let address = self.address(false);
        let frame = match &mut self.state {
            StateData::MultipleFrameEstablished(link) | StateData::TimerRecovery { link, .. }
                if link.acknowledge_pending =>
            {
                link.acknowledge_pending = false;
                receiver_status(address, link, false)
            }
            _ => return,
        };
        self.send(frame);
    }

    fn discard_unacknowledged(&mut self, link: &Variables) {
        let unacknowledged = link.outstanding().min(self.i_queue.len());
        self.i_queue.drain(..unacknowledged);
        self.counters.discarded_i_frames += unacknowledged as u64;
    }

    fn discard_i_queue(&mut self) {
        self.counters.discarded_i_frames += self.i_queue.len() as u64;
        self.i_queue.clear();
    }

    fn send_response_u(&mut self, frame_type: FrameType, poll_final: bool) {
        let address = self.address(false);
        let frame = match frame_type {
            FrameType::Dm => Frame::Dm {
                address,
                poll_final,
            },
            _ => Frame::Ua {
                address,
                poll_final,
            },
        };
        self.send(frame);
    }

    fn send(&mut self, frame: Frame) {
        trace!(frame = %frame.display(self.config.side), "tx");
        self.counters.tx.bump(frame.frame_type());
        self.transmit.push_back(frame.encode());
    }

    fn mdl_error(&mut self, error: MdlError) {
        if error.is_routine() {
            debug!(%error);
        } else {
            warn!(%error);
        }
        self.counters.mdl.bump(error);
        self.events.push_back(Event::MdlErrorIndication(error));
    }

    // Our address for a command or a response: SAPI 0, TEI 0, C/R by side.
    const fn address(&self, command: bool) -> Address {
        let command_response = command == self.config.side.command_bit();
        Address {
            sapi: Sapi::CALL_CONTROL,
            command_response,
            tei: Tei::POINT_TO_POINT,
        }
    }

    const fn take_state(&mut self) -> StateData {
        mem::replace(&mut self.state, StateData::TeiAssigned)
    }
}

// RR, or RNR while our receiver is busy, carrying N(R) = V(R).
const fn receiver_status(address: Address, link: &Variables, poll_final: bool) -> Frame {
    if link.own_busy {
        Frame::Rnr {
            address,
            nr: link.vr,
            poll_final,
        }
    } else {
        Frame::Rr {
            address,
            nr: link.vr,
            poll_final,
        }
    }
}

const fn unexpected_ua(poll_final: bool) -> MdlError {
    if poll_final {
        MdlError::UnsolicitedUaResponse
    } else {
        MdlError::UaWithoutFinal
    }
}

// The machine under test is the user side; the peer is the network. Fixtures put it
// straight into a state with its output drained.
#[cfg(test)]
mod tests {
    use super::*;

    const T200: Duration = Config::T200;
    const T203: Duration = Config::T203;

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn seq(n: u8) -> SequenceNumber {
        SequenceNumber::new(n)
    }

    fn peer(command: bool) -> Address {
        Address::new(
            Sapi::CALL_CONTROL,
            Tei::POINT_TO_POINT,
            Side::Network,
            command,
        )
    }

    fn ours(command: bool) -> Address {
        Address::new(Sapi::CALL_CONTROL, Tei::POINT_TO_POINT, Side::User, command)
    }

    fn peer_i(ns: u8, nr: u8, poll: bool) -> Frame {
        Frame::I {
            address: peer(true),
            ns: seq(ns),
            nr: seq(nr),
            poll_final: poll,
            information: Bytes::from(vec![0x08, ns]),
        }
    }

    fn peer_rr(command: bool, nr: u8, poll_final: bool) -> Frame {
        Frame::Rr {
            address: peer(command),
            nr: seq(nr),
            poll_final,
        }
    }

    fn rx(lapd: &mut Lapd, now: Instant, frame: &Frame) {
        lapd.handle_frame(now, &frame.encode());
    }

    fn sent(lapd: &mut Lapd) -> Vec<Frame> {
        std::iter::from_fn(|| lapd.poll_transmit())
            .map(|b| Frame::decode(&b).unwrap())
            .collect()
    }

    fn events(lapd: &mut Lapd) -> Vec<Event> {
        std::iter::from_fn(|| lapd.poll_event()).collect()
    }

    fn data(lapd: &mut Lapd, now: Instant, n: u8) {
        lapd.handle_command(now, Command::DataRequest(Bytes::from(vec![0x08, n])));
    }

    fn vars(lapd: &Lapd) -> Variables {
        lapd.variables().unwrap()
    }

    fn passive() -> Config {
        Config {
            initiate_establishment: false,
            ..Config::new(Side::User)
        }
    }

    fn tei_assigned() -> (Lapd, Instant) {
        (Lapd::new(passive(), epoch()), epoch())
    }

    fn awaiting_establishment() -> (Lapd, Instant) {
        let t0 = epoch();
        let mut lapd = Lapd::new(Config::new(Side::User), t0);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        (lapd, t0)
    }

    fn established() -> (Lapd, Instant) {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        sent(&mut lapd);
        events(&mut lapd);
        (lapd, t0)
    }

    // State 7 with `n` I frames (N(S) 0..n) sent and unacknowledged.
    fn established_with_outstanding(n: u8) -> (Lapd, Instant) {
        let (mut lapd, t0) = established();
        for i in 0..n {
            data(&mut lapd, t0, i);
        }
        assert_eq!(sent(&mut lapd).len(), usize::from(n.min(Config::K)));
        (lapd, t0)
    }

    // State 8 entered by T200 with two frames outstanding; returns the expiry time.
    fn timer_recovery() -> (Lapd, Instant) {
        let (mut lapd, t0) = established_with_outstanding(2);
        lapd.handle_timeout(t0 + T200);
        assert_eq!(lapd.state(), State::TimerRecovery);
        sent(&mut lapd);
        (lapd, t0 + T200)
    }

    fn awaiting_release() -> (Lapd, Instant) {
        let (mut lapd, t0) = established();
        lapd.handle_command(t0, Command::ReleaseRequest);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Disc {
                address: ours(true),
                poll_final: true
            }]
        );
        (lapd, t0)
    }

    // ---- state 4, TEI assigned ----

    #[test]
    fn tei_assigned_passive_start_sends_nothing() {
        let (mut lapd, _) = tei_assigned();
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.poll_timeout(), None);
    }

    #[test]
    fn tei_assigned_sabme_sends_ua_and_indicates_establishment() {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ua {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(events(&mut lapd), [Event::EstablishIndication]);
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
        assert_eq!(vars(&lapd), Variables::default());
        assert_eq!(lapd.poll_timeout(), Some(t0 + T203));
    }

    #[test]
    fn tei_assigned_disc_answers_dm_with_f_equal_p() {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Disc {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Dm {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::TeiAssigned);
    }

    #[test]
    fn tei_assigned_dm_without_final_starts_establishment() {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: false,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn tei_assigned_dm_with_final_is_ignored() {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.state(), State::TeiAssigned);
    }

    #[test]
    fn tei_assigned_ua_reports_mdl_c_or_d() {
        let (mut lapd, t0) = tei_assigned();
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: false,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [
                Event::MdlErrorIndication(MdlError::UnsolicitedUaResponse),
                Event::MdlErrorIndication(MdlError::UaWithoutFinal)
            ]
        );
        assert_eq!(lapd.state(), State::TeiAssigned);
    }

    #[test]
    fn tei_assigned_i_and_s_frames_are_ignored() {
        let (mut lapd, t0) = tei_assigned();
        rx(&mut lapd, t0, &peer_i(0, 0, true));
        rx(&mut lapd, t0, &peer_rr(true, 0, true));
        assert!(sent(&mut lapd).is_empty());
        assert!(events(&mut lapd).is_empty());
        assert_eq!(lapd.state(), State::TeiAssigned);
    }

    #[test]
    fn tei_assigned_ui_indicates_unit_data() {
        let (mut lapd, t0) = tei_assigned();
        let information = Bytes::from_static(&[0x08, 0x00, 0x7B]);
        let frame = Frame::Ui {
            address: peer(true),
            poll_final: false,
            information,
        };
        rx(&mut lapd, t0, &frame);
        assert_eq!(
            events(&mut lapd),
            [Event::UnitDataIndication(Bytes::from_static(&[
                0x08, 0x00, 0x7B
            ]))]
        );
    }

    #[test]
    fn tei_assigned_ui_on_group_tei_indicates_unit_data_but_rr_is_discarded() {
        let (mut lapd, t0) = tei_assigned();
        let group = Address {
            tei: Tei::GROUP,
            ..peer(true)
        };
        let information = Bytes::from_static(&[0x08]);
        rx(
            &mut lapd,
            t0,
            &Frame::Ui {
                address: group,
                poll_final: false,
                information,
            },
        );
        rx(
            &mut lapd,
            t0,
            &Frame::Rr {
                address: group,
                nr: seq(0),
                poll_final: false,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::UnitDataIndication(Bytes::from_static(&[0x08]))]
        );
        assert_eq!(lapd.counters().invalid.wrong_tei, 1);
    }

    #[test]
    fn tei_assigned_establish_request_sends_sabme_and_confirms_on_ua() {
        let (mut lapd, t0) = tei_assigned();
        lapd.handle_command(t0, Command::EstablishRequest);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::EstablishConfirm]);
    }

    #[test]
    fn tei_assigned_data_request_queues_and_establishes() {
        let (mut lapd, t0) = tei_assigned();
        data(&mut lapd, t0, 1);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        let out = sent(&mut lapd);
        assert!(
            matches!(&out[..], [Frame::I { ns, .. }] if *ns == seq(0)),
            "{out:?}"
        );
    }

    #[test]
    fn tei_assigned_release_request_confirms_at_once() {
        let (mut lapd, t0) = tei_assigned();
        lapd.handle_command(t0, Command::ReleaseRequest);
        assert_eq!(events(&mut lapd), [Event::ReleaseConfirm]);
        assert!(sent(&mut lapd).is_empty());
    }

    #[test]
    fn tei_assigned_after_failure_retries_after_t200() {
        let (mut lapd, t0) = awaiting_establishment();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::ReleaseIndication]);
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
        lapd.handle_timeout(t0 + T200);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    // ---- state 5, awaiting establishment ----

    #[test]
    fn awaiting_establishment_ua_final_confirms_with_variables_zero() {
        let (mut lapd, t0) = awaiting_establishment();
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::EstablishConfirm]);
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
        assert_eq!(vars(&lapd), Variables::default());
        assert_eq!(lapd.poll_timeout(), Some(t0 + T203));
    }

    #[test]
    fn awaiting_establishment_ua_without_final_reports_mdl_d_and_waits() {
        let (mut lapd, t0) = awaiting_establishment();
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: false,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::UaWithoutFinal)]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn awaiting_establishment_sabme_collision_answers_ua_and_keeps_waiting() {
        let (mut lapd, t0) = awaiting_establishment();
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ua {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
        assert!(events(&mut lapd).is_empty());
    }

    #[test]
    fn awaiting_establishment_disc_answers_dm() {
        let (mut lapd, t0) = awaiting_establishment();
        rx(
            &mut lapd,
            t0,
            &Frame::Disc {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Dm {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn awaiting_establishment_dm_final_discards_queue_and_indicates_release() {
        let (mut lapd, t0) = awaiting_establishment();
        data(&mut lapd, t0, 1);
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::ReleaseIndication]);
        assert_eq!(lapd.i_queue_len(), 0);
        assert_eq!(lapd.counters().discarded_i_frames, 1);
    }

    #[test]
    fn awaiting_establishment_t200_resends_sabme_n200_times_then_indicates_release() {
        let (mut lapd, t0) = awaiting_establishment();
        for n in 1..=3 {
            lapd.handle_timeout(t0 + T200 * n);
            assert_eq!(
                sent(&mut lapd),
                [Frame::Sabme {
                    address: ours(true),
                    poll_final: true
                }]
            );
            assert_eq!(lapd.poll_timeout(), Some(t0 + T200 * (n + 1)));
        }
        lapd.handle_timeout(t0 + T200 * 4);
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(
            events(&mut lapd),
            [
                Event::MdlErrorIndication(MdlError::EstablishRetriesExhausted),
                Event::ReleaseIndication
            ]
        );
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert_eq!(lapd.counters().tx.get(FrameType::Sabme), 4);
    }

    #[test]
    fn awaiting_establishment_early_timeout_is_noop() {
        let (mut lapd, t0) = awaiting_establishment();
        lapd.handle_timeout(t0 + T200 / 2);
        lapd.handle_timeout(t0 + T200 / 2);
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
        assert_eq!(lapd.counters().t200_expiries, 0);
    }

    #[test]
    fn awaiting_establishment_data_request_is_sent_after_ua() {
        let (mut lapd, t0) = awaiting_establishment();
        data(&mut lapd, t0, 1);
        assert!(sent(&mut lapd).is_empty());
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(sent(&mut lapd).len(), 1);
        assert_eq!(vars(&lapd).vs, seq(1));
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
    }

    #[test]
    fn awaiting_establishment_release_request_sends_disc() {
        let (mut lapd, t0) = awaiting_establishment();
        lapd.handle_command(t0, Command::ReleaseRequest);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Disc {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingRelease);
    }

    // ---- state 7, multiple frame established ----

    #[test]
    fn established_data_request_sends_i_frame_and_starts_t200() {
        let (mut lapd, t0) = established();
        data(&mut lapd, t0, 1);
        let out = sent(&mut lapd);
        let [
            Frame::I {
                address,
                ns,
                nr,
                poll_final: false,
                information,
            },
        ] = &out[..]
        else {
            panic!("{out:?}");
        };
        assert_eq!((*address, *ns, *nr), (ours(true), seq(0), seq(0)));
        assert_eq!(&information[..], [0x08, 1]);
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
        assert_eq!(vars(&lapd).vs, seq(1));
    }

    #[test]
    fn established_window_of_k_holds_back_the_rest() {
        let (mut lapd, t0) = established();
        for n in 0..10 {
            data(&mut lapd, t0, n);
        }
        assert_eq!(sent(&mut lapd).len(), 7);
        assert_eq!(lapd.i_queue_len(), 10);
        // Acknowledging two opens the window by two.
        rx(&mut lapd, t0, &peer_rr(false, 2, false));
        let out = sent(&mut lapd);
        let sequence: Vec<_> = out
            .iter()
            .map(|f| match f {
                Frame::I { ns, .. } => ns.value(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sequence, [7, 8]);
    }

    #[test]
    fn established_i_frame_in_sequence_indicates_data_and_acknowledges_with_rr() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(0, 0, false));
        rx(&mut lapd, t0, &peer_i(1, 0, false));
        assert_eq!(
            events(&mut lapd),
            [
                Event::DataIndication(Bytes::from_static(&[0x08, 0])),
                Event::DataIndication(Bytes::from_static(&[0x08, 1]))
            ]
        );
        // Both are acknowledged by one RR once the transmit queue is drained.
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(false),
                nr: seq(2),
                poll_final: false
            }]
        );
        assert_eq!(vars(&lapd).vr, seq(2));
    }

    #[test]
    fn established_i_frame_acknowledgement_rides_on_a_reply() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(0, 0, false));
        data(&mut lapd, t0, 9);
        let out = sent(&mut lapd);
        assert!(
            matches!(&out[..], [Frame::I { nr, .. }] if *nr == seq(1)),
            "{out:?}"
        );
    }

    #[test]
    fn established_i_frame_with_poll_answers_rr_final() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(0, 0, true));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(false),
                nr: seq(1),
                poll_final: true
            }]
        );
    }

    #[test]
    fn established_i_frame_out_of_sequence_sends_one_rej() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(1, 0, false));
        rx(&mut lapd, t0, &peer_i(2, 0, false));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rej {
                address: ours(false),
                nr: seq(0),
                poll_final: false
            }]
        );
        assert!(events(&mut lapd).is_empty());
        assert!(vars(&lapd).reject_exception);
        rx(&mut lapd, t0, &peer_i(0, 0, false));
        assert_eq!(events(&mut lapd).len(), 1);
        assert!(!vars(&lapd).reject_exception);
        assert_eq!(lapd.counters().out_of_sequence, 2);
    }

    #[test]
    fn established_rr_acknowledging_all_stops_t200_and_restarts_t203() {
        let (mut lapd, t0) = established_with_outstanding(3);
        let t1 = t0 + T200 / 2;
        rx(&mut lapd, t1, &peer_rr(false, 3, false));
        assert_eq!(vars(&lapd).va, seq(3));
        assert_eq!(lapd.i_queue_len(), 0);
        assert_eq!(lapd.poll_timeout(), Some(t1 + T203));
    }

    #[test]
    fn established_rr_acknowledging_some_restarts_t200() {
        let (mut lapd, t0) = established_with_outstanding(3);
        let t1 = t0 + T200 / 2;
        rx(&mut lapd, t1, &peer_rr(false, 1, false));
        assert_eq!(vars(&lapd).va, seq(1));
        assert_eq!(lapd.i_queue_len(), 2);
        assert_eq!(lapd.poll_timeout(), Some(t1 + T200));
    }

    #[test]
    fn established_rr_poll_answers_rr_final() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_rr(true, 0, true));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(false),
                nr: seq(0),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    }

    #[test]
    fn established_rr_final_unsolicited_reports_mdl_a() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_rr(false, 0, true));
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(
                MdlError::UnsolicitedSupervisoryResponse
            )]
        );
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    }

    #[test]
    fn established_rr_with_invalid_nr_reestablishes_with_mdl_j() {
        let (mut lapd, t0) = established_with_outstanding(2);
        rx(&mut lapd, t0, &peer_rr(false, 5, false));
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::NrSequenceError)]
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
        assert_eq!(lapd.counters().mdl.get(MdlError::NrSequenceError), 1);
        // The two unacknowledged frames are gone; Q.931 hears of the reset on UA.
        assert_eq!(lapd.i_queue_len(), 0);
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::EstablishIndication]);
    }

    #[test]
    fn established_i_frame_with_invalid_nr_delivers_then_reestablishes() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(0, 4, false));
        assert_eq!(
            events(&mut lapd),
            [
                Event::DataIndication(Bytes::from_static(&[0x08, 0])),
                Event::MdlErrorIndication(MdlError::NrSequenceError)
            ]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn established_rnr_stops_transmission_until_rr() {
        let (mut lapd, t0) = established_with_outstanding(1);
        rx(
            &mut lapd,
            t0,
            &Frame::Rnr {
                address: peer(false),
                nr: seq(1),
                poll_final: false,
            },
        );
        assert!(vars(&lapd).peer_busy);
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
        data(&mut lapd, t0, 5);
        assert!(sent(&mut lapd).is_empty());
        rx(&mut lapd, t0, &peer_rr(false, 1, false));
        let out = sent(&mut lapd);
        assert!(
            matches!(&out[..], [Frame::I { ns, .. }] if *ns == seq(1)),
            "{out:?}"
        );
    }

    #[test]
    fn established_rej_retransmits_from_nr() {
        let (mut lapd, t0) = established_with_outstanding(3);
        rx(
            &mut lapd,
            t0,
            &Frame::Rej {
                address: peer(false),
                nr: seq(1),
                poll_final: false,
            },
        );
        let out = sent(&mut lapd);
        let sequence: Vec<_> = out
            .iter()
            .map(|f| match f {
                Frame::I { ns, .. } => ns.value(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sequence, [1, 2]);
        assert_eq!(lapd.counters().retransmissions, 2);
        assert_eq!(vars(&lapd).va, seq(1));
        assert_eq!(vars(&lapd).vs, seq(3));
    }

    #[test]
    fn established_t200_expiry_polls_and_enters_timer_recovery() {
        let (mut lapd, t0) = established_with_outstanding(1);
        lapd.handle_timeout(t0 + T200);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(true),
                nr: seq(0),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::TimerRecovery);
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200 * 2));
    }

    #[test]
    fn established_t203_expiry_polls_and_enters_timer_recovery() {
        let (mut lapd, t0) = established();
        lapd.handle_timeout(t0 + T203 - Duration::from_millis(1));
        assert!(sent(&mut lapd).is_empty());
        lapd.handle_timeout(t0 + T203);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(true),
                nr: seq(0),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::TimerRecovery);
        assert_eq!(lapd.counters().t203_expiries, 1);
    }

    #[test]
    fn established_sabme_resets_and_reports_mdl_f() {
        let (mut lapd, t0) = established();
        rx(&mut lapd, t0, &peer_i(0, 0, false));
        events(&mut lapd);
        sent(&mut lapd);
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ua {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::PeerReestablished)]
        );
        assert_eq!(vars(&lapd), Variables::default());
    }

    #[test]
    fn established_sabme_with_outstanding_frames_discards_and_indicates() {
        let (mut lapd, t0) = established_with_outstanding(2);
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [
                Event::MdlErrorIndication(MdlError::PeerReestablished),
                Event::EstablishIndication
            ]
        );
        assert_eq!(lapd.i_queue_len(), 0);
        assert_eq!(lapd.counters().discarded_i_frames, 2);
    }

    #[test]
    fn established_disc_answers_ua_and_indicates_release() {
        let (mut lapd, t0) = established_with_outstanding(1);
        rx(
            &mut lapd,
            t0,
            &Frame::Disc {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ua {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(events(&mut lapd), [Event::ReleaseIndication]);
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert_eq!(lapd.i_queue_len(), 0);
    }

    #[test]
    fn established_dm_without_final_reestablishes_with_mdl_e() {
        let (mut lapd, t0) = established();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: false,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::DmWithoutFinal)]
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
    }

    #[test]
    fn established_dm_with_final_reports_mdl_b_and_stays() {
        let (mut lapd, t0) = established();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::UnsolicitedDmResponse)]
        );
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    }

    #[test]
    fn established_frmr_reestablishes_with_mdl_k() {
        let (mut lapd, t0) = established();
        let information = FrmrInformation([0x01, 0x0A, 0x00, 0x00, FrmrInformation::Z]);
        rx(
            &mut lapd,
            t0,
            &Frame::Frmr {
                address: peer(false),
                poll_final: false,
                information,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::FrameRejectReceived)]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn established_undefined_control_reestablishes_with_mdl_l() {
        let (mut lapd, t0) = established();
        lapd.handle_frame(t0, &[0x02, 0x01, 0x0D, 0x00]);
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::UndefinedControlField)]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
        assert_eq!(lapd.counters().invalid.undefined_control, 1);
    }

    #[test]
    fn established_i_frame_longer_than_n201_reestablishes_with_mdl_o() {
        let (mut lapd, t0) = established();
        let mut bytes = vec![0x02, 0x01, 0x00, 0x00];
        bytes.extend(std::iter::repeat_n(0x55, 261));
        lapd.handle_frame(t0, &bytes);
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::InformationFieldTooLong)]
        );
        assert_eq!(lapd.counters().invalid.information_too_long, 1);
    }

    #[test]
    fn established_frame_for_other_sapi_or_tei_is_counted_and_ignored() {
        let (mut lapd, t0) = established();
        lapd.handle_frame(t0, &[0x42, 0x01, 0x7F]); // SAPI 16
        lapd.handle_frame(t0, &[0x02, 0x03, 0x7F]); // TEI 1
        lapd.handle_frame(t0, &[0x03, 0x01, 0x7F]); // EA0 = 1
        lapd.handle_frame(t0, &[0x02, 0x01]); // no control field
        assert!(events(&mut lapd).is_empty());
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
        let invalid = lapd.counters().invalid;
        assert_eq!(
            (
                invalid.wrong_sapi,
                invalid.wrong_tei,
                invalid.address_extension,
                invalid.too_short
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn established_sabme_as_response_counts_role_mismatch() {
        let (mut lapd, t0) = established();
        // A user-side peer's SABME: C/R = 0, which from a "network" reads as a response.
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(false),
                poll_final: true,
            },
        );
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.counters().invalid.wrong_command_response, 1);
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    }

    #[test]
    fn established_release_request_discards_queue_and_sends_disc() {
        let (mut lapd, t0) = established_with_outstanding(2);
        lapd.handle_command(t0, Command::ReleaseRequest);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Disc {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingRelease);
        assert_eq!(lapd.i_queue_len(), 0);
        assert_eq!(lapd.poll_timeout(), Some(t0 + T200));
    }

    #[test]
    fn established_own_receiver_busy_sends_rnr_and_discards_i_frames() {
        let (mut lapd, t0) = established();
        lapd.handle_command(t0, Command::SetOwnReceiverBusy);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rnr {
                address: ours(false),
                nr: seq(0),
                poll_final: false
            }]
        );
        rx(&mut lapd, t0, &peer_i(0, 0, true));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rnr {
                address: ours(false),
                nr: seq(0),
                poll_final: true
            }]
        );
        assert!(events(&mut lapd).is_empty());
        lapd.handle_command(t0, Command::ClearOwnReceiverBusy);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(false),
                nr: seq(0),
                poll_final: false
            }]
        );
    }

    #[test]
    fn established_data_request_longer_than_n201_is_discarded() {
        let (mut lapd, t0) = established();
        lapd.handle_command(t0, Command::DataRequest(Bytes::from(vec![0; 261])));
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.counters().discarded_requests, 1);
    }

    #[test]
    fn established_unit_data_request_sends_ui_command() {
        let (mut lapd, t0) = established();
        lapd.handle_command(t0, Command::UnitDataRequest(Bytes::from_static(&[0x08])));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ui {
                address: ours(true),
                poll_final: false,
                information: Bytes::from_static(&[0x08])
            }]
        );
    }

    #[test]
    fn established_sequence_numbers_wrap_past_127() {
        let (mut lapd, t0) = established();
        for n in 0..=130u8 {
            rx(&mut lapd, t0, &peer_i(n, n, false));
            data(&mut lapd, t0, n);
            let out = sent(&mut lapd);
            assert!(
                matches!(&out[..], [Frame::I { ns, nr, .. }] if *ns == seq(n) && *nr == seq(n + 1)),
                "{n}: {out:?}"
            );
        }
        assert_eq!(vars(&lapd).vs, seq(131));
        assert_eq!(vars(&lapd).va, seq(130));
        assert_eq!(vars(&lapd).vr, seq(131));
        assert_eq!(events(&mut lapd).len(), 131);
    }

    // ---- state 8, timer recovery ----

    #[test]
    fn timer_recovery_rr_final_returns_to_established_and_retransmits_the_rest() {
        let (mut lapd, now) = timer_recovery();
        rx(&mut lapd, now, &peer_rr(false, 1, true));
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
        let out = sent(&mut lapd);
        assert!(
            matches!(&out[..], [Frame::I { ns, .. }] if *ns == seq(1)),
            "{out:?}"
        );
        assert_eq!(lapd.counters().retransmissions, 1);
    }

    #[test]
    fn timer_recovery_rnr_final_returns_with_peer_busy() {
        let (mut lapd, now) = timer_recovery();
        rx(
            &mut lapd,
            now,
            &Frame::Rnr {
                address: peer(false),
                nr: seq(2),
                poll_final: true,
            },
        );
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
        assert!(vars(&lapd).peer_busy);
        assert_eq!(lapd.poll_timeout(), Some(now + T200));
        assert!(sent(&mut lapd).is_empty());
    }

    #[test]
    fn timer_recovery_rr_command_poll_answers_and_stays() {
        let (mut lapd, now) = timer_recovery();
        rx(&mut lapd, now, &peer_rr(true, 1, true));
        assert_eq!(
            sent(&mut lapd),
            [Frame::Rr {
                address: ours(false),
                nr: seq(0),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::TimerRecovery);
        assert_eq!(vars(&lapd).va, seq(1));
    }

    #[test]
    fn timer_recovery_t200_expiry_polls_until_n200_then_reestablishes_with_mdl_i() {
        let (mut lapd, t1) = timer_recovery();
        for n in 1..=2 {
            lapd.handle_timeout(t1 + T200 * n);
            assert_eq!(
                sent(&mut lapd),
                [Frame::Rr {
                    address: ours(true),
                    nr: seq(0),
                    poll_final: true
                }]
            );
        }
        lapd.handle_timeout(t1 + T200 * 3);
        assert_eq!(
            sent(&mut lapd),
            [Frame::Sabme {
                address: ours(true),
                poll_final: true
            }]
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(
                MdlError::StatusEnquiryRetriesExhausted
            )]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn timer_recovery_data_request_is_queued_only() {
        let (mut lapd, now) = timer_recovery();
        data(&mut lapd, now, 7);
        assert!(sent(&mut lapd).is_empty());
        assert_eq!(lapd.i_queue_len(), 3);
    }

    #[test]
    fn timer_recovery_dm_with_final_reestablishes_with_mdl_b() {
        let (mut lapd, now) = timer_recovery();
        rx(
            &mut lapd,
            now,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(
            events(&mut lapd),
            [Event::MdlErrorIndication(MdlError::UnsolicitedDmResponse)]
        );
        assert_eq!(lapd.state(), State::AwaitingEstablishment);
    }

    #[test]
    fn timer_recovery_i_frame_updates_va_only() {
        let (mut lapd, now) = timer_recovery();
        rx(&mut lapd, now, &peer_i(0, 2, false));
        assert_eq!(lapd.state(), State::TimerRecovery);
        assert_eq!(vars(&lapd).va, seq(2));
        assert_eq!(lapd.poll_timeout(), Some(now + T200));
        assert_eq!(events(&mut lapd).len(), 1);
    }

    // ---- state 6, awaiting release ----

    #[test]
    fn awaiting_release_ua_final_confirms_release() {
        let (mut lapd, t0) = awaiting_release();
        rx(
            &mut lapd,
            t0,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::ReleaseConfirm]);
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert_eq!(lapd.poll_timeout(), None);
    }

    #[test]
    fn awaiting_release_dm_final_confirms_release() {
        let (mut lapd, t0) = awaiting_release();
        rx(
            &mut lapd,
            t0,
            &Frame::Dm {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(events(&mut lapd), [Event::ReleaseConfirm]);
    }

    #[test]
    fn awaiting_release_sabme_answers_dm() {
        let (mut lapd, t0) = awaiting_release();
        rx(
            &mut lapd,
            t0,
            &Frame::Sabme {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Dm {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingRelease);
    }

    #[test]
    fn awaiting_release_disc_collision_answers_ua() {
        let (mut lapd, t0) = awaiting_release();
        rx(
            &mut lapd,
            t0,
            &Frame::Disc {
                address: peer(true),
                poll_final: true,
            },
        );
        assert_eq!(
            sent(&mut lapd),
            [Frame::Ua {
                address: ours(false),
                poll_final: true
            }]
        );
        assert_eq!(lapd.state(), State::AwaitingRelease);
    }

    #[test]
    fn awaiting_release_data_request_is_discarded() {
        let (mut lapd, t0) = awaiting_release();
        data(&mut lapd, t0, 1);
        assert_eq!(lapd.i_queue_len(), 0);
        assert_eq!(lapd.counters().discarded_requests, 1);
    }

    #[test]
    fn awaiting_release_t200_exhausted_confirms_with_mdl_h() {
        let (mut lapd, t0) = awaiting_release();
        for n in 1..=3 {
            lapd.handle_timeout(t0 + T200 * n);
            assert_eq!(
                sent(&mut lapd),
                [Frame::Disc {
                    address: ours(true),
                    poll_final: true
                }]
            );
        }
        lapd.handle_timeout(t0 + T200 * 4);
        assert_eq!(
            events(&mut lapd),
            [
                Event::MdlErrorIndication(MdlError::ReleaseRetriesExhausted),
                Event::ReleaseConfirm
            ]
        );
        assert_eq!(lapd.state(), State::TeiAssigned);
        assert_eq!(lapd.poll_timeout(), None);
    }

    // ---- configuration ----

    #[test]
    fn config_out_of_range_values_are_pulled_into_range() {
        let config = Config {
            k: 0,
            t200: Duration::ZERO,
            t203: Duration::MAX,
            ..Config::new(Side::User)
        };
        let (mut lapd, now) = (Lapd::new(config, epoch()), epoch());
        assert_eq!(lapd.config().k, 1);
        assert!(lapd.config().t200 > Duration::ZERO);
        // A T203 of Duration::MAX must not overflow `Instant` when the link comes up.
        rx(
            &mut lapd,
            now,
            &Frame::Ua {
                address: peer(false),
                poll_final: true,
            },
        );
        assert_eq!(lapd.state(), State::MultipleFrameEstablished);
    }

    #[test]
    fn mdl_error_codes_run_from_a_to_o() {
        assert_eq!(MdlError::UnsolicitedSupervisoryResponse.code(), 'A');
        assert_eq!(MdlError::NrSequenceError.code(), 'J');
        assert_eq!(MdlError::InformationFieldTooLong.code(), 'O');
        assert_eq!(
            MdlError::NrSequenceError.to_string(),
            "MDL-ERROR J (N(R) sequence error)"
        );
    }
}
