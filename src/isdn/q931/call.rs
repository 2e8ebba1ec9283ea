//! One call's Q.931 states, user side (U) and network side (N) (ITU-T Q.931
//! clause 5.1-5.3 and 5.8; reference `q931-call-control.md` sections 7, 8, 11).
//!
//! Q.931 numbers the states so that both ends of a settled call are in the same
//! number (U3 opposite N3, U10 opposite N10). A call we set up walks the same
//! path on either side, so one machine serves both; only the numbers we report
//! (STATUS, [`Call::state_value`]) and a few timers differ by side:
//!
//! ```text
//!  we sent SETUP (outgoing)                 we received SETUP (incoming)
//!  SetupSent U1/N6 ── T303 x2 ──▶ Null      SetupReceived U6/N1 ── Release ──▶ Null
//!    │ CALL PROC (T310)                        │ Proceeding        (REL COMP)
//!    ▼                                         ▼
//!  ProceedingReceived U3/N9 ── T310 ─┐      ProceedingSent U9/N3
//!    │ ALERTING (T301)               │         │ Alerting
//!    ▼                               │         ▼
//!  AlertingReceived U4/N7 ── T301 ───┤      AlertingSent U7/N4
//!    │ CONNECT / send CONNECT ACK    │         │ Connect ── user: ConnectSent U8 (T313)
//!    ▼                               │         ▼                 │ CONNECT ACK
//!  Active U10/N10 ◀──────────────────┼─────────────────────────────┘
//!    │ Release: DISCONNECT (T305)    │ timer expiry: DISCONNECT cause 102
//!    ▼                               ▼
//!  DisconnectSent U11/N12 ── DISCONNECT (collision) or T305: RELEASE (T308) ─┐
//!  any state ── DISCONNECT received: RELEASE (T308) ───────────────────────┐  │
//!  any state ── DISCONNECT with PI 1/8, hold policy ─▶ DisconnectReceived  │  │
//!               U12/N11 (announcement plays) ── Release: RELEASE (T308) ───┤  │
//!                                                                         ▼  ▼
//!  any state ── RELEASE: REL COMP ──▶ Null      ReleaseSent U19/N19 ── REL COMP,
//!  any state ── REL COMP ──────────▶ Null         RELEASE (collision), T308 x2 ──▶ Null
//! ```
//!
//! The call reports [`Event::Cleared`] to the upper layer exactly once, when it
//! stops being usable; the wire clearing may finish later. A DISCONNECT we send with
//! in-band information (PI 8: a tone or announcement plays on the B-channel) leaves the
//! call usable until the peer releases (or T305 runs out), so that one is reported when
//! the clearing ends, with our cause.

use std::time::Instant;

use crate::isdn::dchannel::{CallId, ClearOrigin, Event};
use crate::isdn::lapd::Side;

use super::Variant;
use super::cause::{Cause, Location};
use super::channel::ChannelState;
use super::control::Shared;
use super::ie::ProgressIndicator;
use super::ie::{CallState, CauseIe, ChannelId, IeId, PartyNumber, ProgressDescription};
use super::message::{CallRef, Message, MessageType, Setup};
use super::timer::{Timer, Timers};

/// Where a call is, each state with only its own data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// U1 / N6: our SETUP is out (kept for the T303 retransmission).
    SetupSent {
        /// What we sent.
        setup: Box<Setup>,
        /// SETUPs sent so far.
        attempts: u8,
    },
    /// U3 / N9: CALL PROCEEDING received.
    ProceedingReceived,
    /// U4 / N7: ALERTING received.
    AlertingReceived,
    /// U6 / N1: the peer's SETUP received, nothing answered yet.
    SetupReceived,
    /// U9 / N3: CALL PROCEEDING sent.
    ProceedingSent,
    /// U7 / N4: ALERTING sent.
    AlertingSent,
    /// U8: CONNECT sent, waiting for CONNECT ACKNOWLEDGE (user side only).
    ConnectSent,
    /// U10 / N10: active.
    Active,
    /// U11 / N12: DISCONNECT sent.
    DisconnectSent {
        /// Our cause, repeated in the RELEASE if T305 expires.
        cause: CauseIe,
    },
    /// U12 / N11: the peer's DISCONNECT with an in-band announcement, held for
    /// the upper layer ([`crate::isdn::Config::hold_inband_disconnect`]).
    DisconnectReceived {
        /// The peer's cause, reported when the call is cleared.
        cause: Cause,
        /// Its location.
        location: Option<Location>,
    },
    /// U19 / N19: RELEASE sent.
    ReleaseSent {
        /// The cause the RELEASE carried (when it was the first clearing message).
        cause: Option<CauseIe>,
        /// RELEASEs sent so far.
        attempts: u8,
    },
    /// U0 / N0: gone; the table removes the call and frees its channel.
    Null,
}

/// One call on the span.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// Our id.
    pub(crate) id: CallId,
    /// Call reference value.
    pub(crate) crv: u16,
    /// We chose the call reference (we sent the SETUP).
    pub(crate) ours: bool,
    /// The state.
    pub(crate) state: State,
    /// The B-channel we hold for it (`None` after losing it to glare).
    pub(crate) channel: Option<u8>,
    /// Outgoing: our channel request was exclusive.
    pub(crate) exclusive: bool,
    /// The first response settled the channel (always true for incoming calls).
    pub(crate) channel_confirmed: bool,
    /// [`Event::Cleared`] has been reported.
    pub(crate) cleared: bool,
    /// Our cause, held back while an in-band DISCONNECT of ours plays: reported in place
    /// of whatever ends the clearing.
    local_clear: Option<(Cause, Location)>,
    /// Outgoing: the peer's SETUP took our channel before any answer (glare).
    pub(crate) glare_lost: bool,
    /// Outgoing: the call was already retried once after glare.
    pub(crate) glare_retried: bool,
    /// T308 expired twice: RESTART the channel before reusing it.
    pub(crate) restart_channel: bool,
    /// Running timers.
    pub(crate) timers: Timers,
}

impl Call {
    /// A call in `state` with nothing running.
    pub(crate) fn new(id: CallId, crv: u16, ours: bool, state: State, channel: Option<u8>) -> Self {
        Self {
            id,
            crv,
            ours,
            state,
            channel,
            exclusive: true,
            channel_confirmed: !ours,
            cleared: false,
            local_clear: None,
            glare_lost: false,
            glare_retried: false,
            restart_channel: false,
            timers: Timers::default(),
        }
    }

    /// The call reference as we send it: flag 0 if we chose the value.
    pub(crate) fn call_ref(&self) -> CallRef {
        CallRef::new(self.crv, !self.ours)
    }

    /// The Q.931 state number on our side.
    pub(crate) fn state_value(&self, side: Side) -> CallState {
        let user = side == Side::User;
        CallState(match self.state {
            State::SetupSent { .. } => pick(user, 1, 6),
            State::ProceedingReceived => pick(user, 3, 9),
            State::AlertingReceived => pick(user, 4, 7),
            State::SetupReceived => pick(user, 6, 1),
            State::ProceedingSent => pick(user, 9, 3),
            State::AlertingSent => pick(user, 7, 4),
            State::ConnectSent => 8,
            State::Active => 10,
            State::DisconnectSent { .. } => pick(user, 11, 12),
            State::DisconnectReceived { .. } => pick(user, 12, 11),
            State::ReleaseSent { .. } => 19,
            State::Null => 0,
        })
    }

    /// Whether the call is in a clearing state (U11/U12/U19, N11/N12/N19).
    pub(crate) fn is_clearing(&self) -> bool {
        matches!(
            self.state,
            State::DisconnectSent { .. }
                | State::DisconnectReceived { .. }
                | State::ReleaseSent { .. }
                | State::Null
        )
    }

    // ---- messages from the peer ------------------------------------------------

    /// A valid message for this call.
    pub(crate) fn handle_message(&mut self, now: Instant, message: &Message, cx: &mut Shared) {
        match message.message_type {
            MessageType::DISCONNECT => {
                let progress = message.progress_indicators().collect();
                self.handle_disconnect(now, message.cause(), progress, None, cx);
            }
            MessageType::RELEASE => {
                // A RELEASE that starts the clearing must carry a cause (Q.931 5.8.6).
                let answer = if matches!(
                    self.state,
                    State::DisconnectSent { .. } | State::DisconnectReceived { .. }
                ) {
                    None
                } else {
                    match message.get::<CauseIe>(IeId::CAUSE) {
                        None => Some(cx.cause(Cause::MANDATORY_IE_MISSING, &[IeId::CAUSE.0])),
                        Some(Err(_)) => {
                            Some(cx.cause(Cause::INVALID_IE_CONTENTS, &[IeId::CAUSE.0]))
                        }
                        Some(Ok(_)) => None,
                    }
                };
                self.handle_release(message.cause(), answer, cx);
            }
            MessageType::RELEASE_COMPLETE => self.handle_release_complete(message.cause(), cx),
            MessageType::STATUS_ENQUIRY => {
                self.send_status(Cause::RESPONSE_TO_STATUS_ENQUIRY, &[], cx)
            }
            MessageType::STATUS => self.handle_status(now, message, cx),
            MessageType::CALL_PROCEEDING
            | MessageType::ALERTING
            | MessageType::CONNECT
            | MessageType::SETUP_ACKNOWLEDGE
            | MessageType::PROGRESS
            | MessageType::CONNECT_ACKNOWLEDGE => self.handle_progress(now, message, cx),
            // Supplementary services and overlap digits are not ours to act on; they
            // are valid in most states, so they are dropped rather than answered.
            MessageType::INFORMATION
            | MessageType::NOTIFY
            | MessageType::FACILITY
            | MessageType::USER_INFORMATION
            | MessageType::CONGESTION_CONTROL => {}
            _ => self.unexpected(message, cx),
        }
    }

    // CALL PROCEEDING, ALERTING, CONNECT, SETUP ACK, PROGRESS, CONNECT ACK.
    fn handle_progress(&mut self, now: Instant, message: &Message, cx: &mut Shared) {
        let mt = message.message_type;
        let expected = match self.state {
            State::SetupSent { .. } => mt != MessageType::CONNECT_ACKNOWLEDGE,
            State::ProceedingReceived => matches!(
                mt,
                MessageType::ALERTING | MessageType::CONNECT | MessageType::PROGRESS
            ),
            State::AlertingReceived => {
                matches!(mt, MessageType::CONNECT | MessageType::PROGRESS)
            }
            // CONNECT ACKNOWLEDGE is optional towards the network and harmless
            // anywhere a call is active.
            State::ConnectSent | State::Active => mt == MessageType::CONNECT_ACKNOWLEDGE,
            _ => false,
        };
        if !expected {
            self.unexpected(message, cx);
            return;
        }
        let settles_channel =
            !matches!(mt, MessageType::PROGRESS | MessageType::CONNECT_ACKNOWLEDGE);
        if settles_channel && !self.channel_confirmed && !self.confirm_channel(now, message, cx) {
            return;
        }
        let channel = self.channel.unwrap_or(0);
        match mt {
            MessageType::CALL_PROCEEDING | MessageType::SETUP_ACKNOWLEDGE => {
                if mt == MessageType::SETUP_ACKNOWLEDGE {
                    // We dial en bloc: every digit was in the SETUP, so tell the peer
                    // the number is complete and carry on as after CALL PROCEEDING.
                    cx.send_built(Message::information(self.call_ref(), None, true));
                }
                self.timers.stop(Timer::T303);
                cx.start(&mut self.timers, Timer::T310, now);
                self.state = State::ProceedingReceived;
                cx.event(Event::Proceeding {
                    call: self.id,
                    channel,
                });
            }
            MessageType::ALERTING => {
                self.timers.stop_all();
                cx.start(&mut self.timers, Timer::T301, now);
                self.state = State::AlertingReceived;
                cx.event(Event::Alerting {
                    call: self.id,
                    channel,
                    progress: message.progress_indicators().collect(),
                });
            }
            MessageType::CONNECT => {
                self.timers.stop_all();
                cx.send(Message::connect_acknowledge(self.call_ref()));
                self.state = State::Active;
                cx.event(Event::Connect {
                    call: self.id,
                    channel,
                    connected: message.connected_number(),
                });
            }
            MessageType::PROGRESS => {
                if matches!(self.state, State::SetupSent { .. }) {
                    // A PROGRESS answers the SETUP as well as CALL PROCEEDING would.
                    self.timers.stop(Timer::T303);
                    cx.start(&mut self.timers, Timer::T310, now);
                    self.state = State::ProceedingReceived;
                } else if cx.side == Side::User || cx.variant == Variant::Qsig {
                    // User side: PROGRESS stops T310; network side only on QSIG.
                    self.timers.stop(Timer::T310);
                }
                cx.event(Event::Progress {
                    call: self.id,
                    progress: message.progress_indicators().collect(),
                    cause: message.cause().map(|c| c.value),
                });
            }
            _ => {
                if self.state == State::ConnectSent {
                    self.timers.stop(Timer::T313);
                    self.state = State::Active;
                }
            }
        }
    }

    // The first response to our SETUP names the channel (Q.931 5.1.2). Returns
    // false when the message must not be processed further.
    fn confirm_channel(&mut self, now: Instant, message: &Message, cx: &mut Shared) -> bool {
        let number = match message.get::<ChannelId>(IeId::CHANNEL_ID) {
            None if cx.side == Side::User => {
                // The network must name the channel in its first response.
                cx.counters.errors.mandatory_ie_missing += 1;
                self.send_status(Cause::MANDATORY_IE_MISSING, &[IeId::CHANNEL_ID.0], cx);
                return false;
            }
            // A user may leave it out when it accepts the channel we offered.
            None => self.channel,
            Some(Err(_)) => None,
            Some(Ok(id)) => match id.channel() {
                Some(n) => Some(n),
                None => {
                    self.send_status(Cause::INVALID_IE_CONTENTS, &[IeId::CHANNEL_ID.0], cx);
                    cx.counters.errors.invalid_ie_contents += 1;
                    return false;
                }
            },
        };
        let Some(number) = number else {
            cx.counters.errors.invalid_ie_contents += 1;
            self.send_status(Cause::INVALID_IE_CONTENTS, &[IeId::CHANNEL_ID.0], cx);
            return false;
        };
        if Some(number) == self.channel {
            self.channel_confirmed = true;
            return true;
        }
        let may_move = !self.exclusive || self.glare_lost;
        if may_move && cx.channels.state(number) == Some(ChannelState::Idle) {
            if let Some(old) = self.channel {
                cx.channels.release(old, self.id);
            }
            cx.channels.set(number, ChannelState::Busy(self.id));
            self.channel = Some(number);
            self.channel_confirmed = true;
            return true;
        }
        // A channel we did not offer, or one that is busy here: cause 6.
        cx.counters.errors.channel_refused += 1;
        self.report_cleared(Cause::CHANNEL_UNACCEPTABLE, None, ClearOrigin::Protocol, cx);
        self.send_release(now, Some(cx.cause(Cause::CHANNEL_UNACCEPTABLE, &[])), cx);
        false
    }

    /// DISCONNECT (or one whose cause was missing or broken: `received` is then
    /// `None` and `answer` carries cause 96 or 100 for our RELEASE).
    pub(crate) fn handle_disconnect(
        &mut self,
        now: Instant,
        received: Option<CauseIe>,
        progress: Vec<ProgressIndicator>,
        answer: Option<CauseIe>,
        cx: &mut Shared,
    ) {
        match self.state {
            State::ReleaseSent { .. } | State::DisconnectReceived { .. } | State::Null => {}
            _ if cx.hold_inband_disconnect
                && answer.is_none()
                && progress.iter().any(ProgressIndicator::in_band) =>
            {
                // Keep listening: the announcement explains the failure to the
                // caller. The upper layer releases when it has played.
                let (cause, location) = peer_cause(received.as_ref());
                self.timers.stop_all();
                self.state = State::DisconnectReceived { cause, location };
                cx.event(Event::Disconnect {
                    call: self.id,
                    cause,
                    location,
                    progress,
                });
            }
            State::DisconnectSent { .. } => {
                // Clear collision: both sent DISCONNECT.
                self.send_release(now, answer, cx);
            }
            _ => {
                let (cause, location) = peer_cause(received.as_ref());
                self.report_cleared(cause, location, ClearOrigin::Peer, cx);
                self.send_release(now, answer, cx);
            }
        }
    }

    /// RELEASE; `answer` is the cause for our RELEASE COMPLETE when the RELEASE was
    /// the first clearing message and its cause was missing or broken.
    pub(crate) fn handle_release(
        &mut self,
        received: Option<CauseIe>,
        answer: Option<CauseIe>,
        cx: &mut Shared,
    ) {
        if !matches!(self.state, State::ReleaseSent { .. }) {
            // Both sent RELEASE: neither RELEASE COMPLETE is sent nor expected.
            cx.send_built(Message::release_complete(self.call_ref(), answer.as_ref()));
        }
        let (cause, location) = self.held_cause().unwrap_or(peer_cause(received.as_ref()));
        self.report_cleared(cause, location, ClearOrigin::Peer, cx);
        self.enter_null();
    }

    // The cause of a held in-band DISCONNECT, which is what ended the call.
    fn held_cause(&self) -> Option<(Cause, Option<Location>)> {
        match self.state {
            State::DisconnectReceived { cause, location } => Some((cause, location)),
            _ => None,
        }
    }

    /// RELEASE COMPLETE.
    pub(crate) fn handle_release_complete(&mut self, received: Option<CauseIe>, cx: &mut Shared) {
        let (cause, location) = self.held_cause().unwrap_or(peer_cause(received.as_ref()));
        self.report_cleared(cause, location, ClearOrigin::Peer, cx);
        self.enter_null();
    }

    // STATUS (Q.931 5.8.11).
    fn handle_status(&mut self, now: Instant, message: &Message, cx: &mut Shared) {
        let Some(peer) = message.call_state() else {
            return;
        };
        if peer == CallState::NULL {
            // The peer has forgotten the call: release locally.
            self.report_cleared(Cause::TEMPORARY_FAILURE, None, ClearOrigin::Peer, cx);
            self.enter_null();
            return;
        }
        if matches!(self.state, State::ReleaseSent { .. }) {
            return;
        }
        if !compatible(self.state_value(cx.side), peer) {
            cx.counters.errors.unexpected_message += 1;
            self.report_cleared(
                Cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE,
                None,
                ClearOrigin::Protocol,
                cx,
            );
            self.send_disconnect(
                now,
                cx.cause(Cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE, &[]),
                cx,
            );
        }
    }

    /// A message type that has no business in this state: STATUS cause 101.
    fn unexpected(&mut self, message: &Message, cx: &mut Shared) {
        cx.counters.errors.unexpected_message += 1;
        self.send_status(
            Cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE,
            &[message.message_type.0],
            cx,
        );
    }

    // ---- commands from the upper layer -----------------------------------------

    /// CALL PROCEEDING for an incoming call.
    pub(crate) fn proceeding(&mut self, cx: &mut Shared) {
        if self.state != State::SetupReceived {
            cx.counters.errors.invalid_command += 1;
            return;
        }
        let channel = self.first_response_channel();
        cx.send_built(Message::call_proceeding(self.call_ref(), channel.as_ref()));
        self.state = State::ProceedingSent;
    }

    /// ALERTING for an incoming call.
    pub(crate) fn alerting(&mut self, progress: Option<ProgressDescription>, cx: &mut Shared) {
        if !matches!(self.state, State::SetupReceived | State::ProceedingSent) {
            cx.counters.errors.invalid_command += 1;
            return;
        }
        let channel = self.first_response_channel();
        let progress = progress.map(|d| ProgressIndicator::new(cx.location, d));
        cx.send_built(Message::alerting(
            self.call_ref(),
            channel.as_ref(),
            progress.as_ref(),
        ));
        self.state = State::AlertingSent;
    }

    /// PROGRESS for an incoming call (CALL PROCEEDING first if nothing was sent).
    pub(crate) fn progress(&mut self, description: ProgressDescription, cx: &mut Shared) {
        if self.state == State::SetupReceived {
            self.proceeding(cx);
        }
        if !matches!(self.state, State::ProceedingSent | State::AlertingSent) {
            cx.counters.errors.invalid_command += 1;
            return;
        }
        let progress = ProgressIndicator::new(cx.location, description);
        cx.send_built(Message::progress(self.call_ref(), &progress));
    }

    /// CONNECT: answer an incoming call.
    pub(crate) fn connect(
        &mut self,
        now: Instant,
        connected: Option<&PartyNumber>,
        cx: &mut Shared,
    ) {
        if !matches!(
            self.state,
            State::SetupReceived | State::ProceedingSent | State::AlertingSent
        ) {
            cx.counters.errors.invalid_command += 1;
            return;
        }
        let channel = self.first_response_channel();
        cx.send_built(Message::connect(
            self.call_ref(),
            channel.as_ref(),
            connected,
        ));
        if cx.side == Side::User {
            cx.start(&mut self.timers, Timer::T313, now);
            self.state = State::ConnectSent;
        } else {
            self.state = State::Active;
        }
    }

    /// Clear or reject with `cause`.
    pub(crate) fn release(
        &mut self,
        now: Instant,
        cause: Cause,
        progress: Option<ProgressDescription>,
        cx: &mut Shared,
    ) {
        if let Some((held, held_location)) = self.held_cause() {
            // The announcement has played: finish the peer's clearing.
            self.report_cleared(held, held_location, ClearOrigin::Peer, cx);
            self.send_release(now, None, cx);
            return;
        }
        if self.is_clearing() {
            return;
        }
        let location = cx.location;
        if progress.is_some() && self.state != State::SetupReceived {
            // The B-channel carries our tone until the peer has heard it and releases.
            self.local_clear = Some((cause, location));
        } else {
            self.report_cleared(cause, Some(location), ClearOrigin::Local, cx);
        }
        let cause = CauseIe::new(location, cause);
        if self.state == State::SetupReceived {
            // Nothing answered yet: refuse the SETUP outright.
            cx.send_built(Message::release_complete(self.call_ref(), Some(&cause)));
            self.enter_null();
        } else {
            let progress = progress.map(|d| ProgressIndicator::new(location, d));
            self.send_disconnect_with(now, cause, progress.as_ref(), cx);
        }
    }

    /// STATUS ENQUIRY.
    pub(crate) fn status_enquiry(&mut self, cx: &mut Shared) {
        cx.send(Message::status_enquiry(self.call_ref()));
    }

    // ---- timers ----------------------------------------------------------------

    /// `timer` expired (already stopped and counted by the caller).
    pub(crate) fn handle_timer(&mut self, now: Instant, timer: Timer, cx: &mut Shared) {
        let call_ref = self.call_ref();
        match (timer, &mut self.state) {
            (Timer::T303, State::SetupSent { setup, attempts }) => {
                if *attempts < 2 {
                    *attempts += 1;
                    cx.send_built(Message::setup(call_ref, setup));
                    cx.start(&mut self.timers, Timer::T303, now);
                } else {
                    // Nobody answered twice: cause 18 upwards, 102 to the peer.
                    self.report_cleared(Cause::NO_USER_RESPONDING, None, ClearOrigin::Timer, cx);
                    let cause = cx.timer_cause(Timer::T303);
                    cx.send_built(Message::release_complete(self.call_ref(), Some(&cause)));
                    self.enter_null();
                }
            }
            (Timer::T310, State::ProceedingReceived) => {
                self.report_cleared(Cause::NO_USER_RESPONDING, None, ClearOrigin::Timer, cx);
                self.send_disconnect(now, cx.timer_cause(Timer::T310), cx);
            }
            (Timer::T301, State::AlertingReceived) => {
                self.report_cleared(Cause::NO_ANSWER, None, ClearOrigin::Timer, cx);
                self.send_disconnect(now, cx.timer_cause(Timer::T301), cx);
            }
            (Timer::T313, State::ConnectSent) => {
                let cause = Cause::RECOVERY_ON_TIMER_EXPIRY;
                self.report_cleared(cause, None, ClearOrigin::Timer, cx);
                self.send_disconnect(now, cx.timer_cause(Timer::T313), cx);
            }
            (Timer::T305, State::DisconnectSent { cause }) => {
                let cause = cause.clone();
                self.send_release(now, Some(cause), cx);
            }
            (Timer::T308, State::ReleaseSent { cause, attempts }) => {
                if *attempts < 2 {
                    *attempts += 1;
                    cx.send_built(Message::release(call_ref, cause.as_ref()));
                    cx.start(&mut self.timers, Timer::T308, now);
                } else {
                    // The peer never confirmed: the channel's state is unknown, so
                    // it goes to maintenance (RESTART) before it carries a call again.
                    self.restart_channel = true;
                    self.report_cleared(
                        Cause::RECOVERY_ON_TIMER_EXPIRY,
                        None,
                        ClearOrigin::Timer,
                        cx,
                    );
                    self.enter_null();
                }
            }
            // A timer that outlived its state (cannot happen: states stop them).
            _ => {}
        }
    }

    // ---- helpers -----------------------------------------------------------------

    /// Reports the end of the call upwards, once.
    pub(crate) fn report_cleared(
        &mut self,
        cause: Cause,
        location: Option<Location>,
        origin: ClearOrigin,
        cx: &mut Shared,
    ) {
        if !self.cleared {
            self.cleared = true;
            let (cause, location, origin) = match self.local_clear.take() {
                Some((ours, at)) => (ours, Some(at), ClearOrigin::Local),
                None => (cause, location, origin),
            };
            cx.event(Event::Cleared {
                call: self.id,
                cause,
                location,
                origin,
            });
        }
    }

    /// Ends the call internally: no message, timers stopped.
    pub(crate) fn enter_null(&mut self) {
        self.timers.stop_all();
        self.state = State::Null;
    }

    fn send_disconnect(&mut self, now: Instant, cause: CauseIe, cx: &mut Shared) {
        self.send_disconnect_with(now, cause, None, cx);
    }

    fn send_disconnect_with(
        &mut self,
        now: Instant,
        cause: CauseIe,
        progress: Option<&ProgressIndicator>,
        cx: &mut Shared,
    ) {
        self.timers.stop_all();
        cx.send_built(Message::disconnect(self.call_ref(), &cause, progress));
        cx.start(&mut self.timers, Timer::T305, now);
        self.state = State::DisconnectSent { cause };
    }

    fn send_release(&mut self, now: Instant, cause: Option<CauseIe>, cx: &mut Shared) {
        self.timers.stop_all();
        cx.send_built(Message::release(self.call_ref(), cause.as_ref()));
        cx.start(&mut self.timers, Timer::T308, now);
        self.state = State::ReleaseSent { cause, attempts: 1 };
    }

    fn send_status(&self, cause: Cause, diagnostics: &[u8], cx: &mut Shared) {
        let cause = cx.cause(cause, diagnostics);
        let state = self.state_value(cx.side);
        cx.send_built(Message::status(self.call_ref(), &cause, state));
    }

    // Our first response to the peer's SETUP names the channel; later ones do not.
    fn first_response_channel(&self) -> Option<ChannelId> {
        match (self.state == State::SetupReceived, self.channel) {
            (true, Some(channel)) => Some(ChannelId::exclusive(channel)),
            _ => None,
        }
    }
}

const fn pick(user: bool, user_state: u8, network_state: u8) -> u8 {
    if user { user_state } else { network_state }
}

// A clearing message without a usable cause counts as cause 31 (Q.931 5.8.6.1).
fn peer_cause(cause: Option<&CauseIe>) -> (Cause, Option<Location>) {
    match cause {
        Some(c) => (c.value, Some(c.location)),
        None => (Cause::NORMAL_UNSPECIFIED, None),
    }
}

/// Whether the peer's reported state can coexist with ours (Q.931 5.8.11). Both
/// ends of a settled call report the same number; while messages are in flight
/// the peer may be a step ahead or behind within the same phase, and a clearing
/// peer will finish the job with its own messages.
pub(crate) fn compatible(ours: CallState, peer: CallState) -> bool {
    #[derive(PartialEq)]
    enum Phase {
        Establishing,
        Connecting,
        Active,
        Clearing,
        Other,
    }
    fn phase(state: CallState) -> Phase {
        match state.0 {
            1..=7 | 9 | 25 => Phase::Establishing,
            8 => Phase::Connecting,
            10 => Phase::Active,
            11 | 12 | 19 => Phase::Clearing,
            _ => Phase::Other,
        }
    }
    let (a, b) = (phase(ours), phase(peer));
    if a == Phase::Clearing || b == Phase::Clearing {
        return true;
    }
    !matches!(
        (a, b),
        (Phase::Other, _)
            | (_, Phase::Other)
            | (Phase::Active, Phase::Establishing)
            | (Phase::Establishing, Phase::Active)
    )
}
