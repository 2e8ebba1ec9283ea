//! Q.931 call control for one span: the call-reference table, B-channel
//! selection, the global call reference (RESTART, Q.931 5.5), error answers
//! (Q.931 5.8) and data-link events (5.8.9); the per-call states are in
//! [`super::call`]. Reference `q931-call-control.md` sections 2, 5.2, 10 and 11.
//!
//! ```text
//!  DL-DATA-ind ─▶ Message::decode ─ Err ─▶ drop, or answer: STATUS / RELEASE COMPLETE
//!                   │ Ok                    with the error's cause (96, 97, 100, 81)
//!                   ├─ maintenance (SERVICE) ─▶ SERVICE ACK, channel in/out of service
//!                   ├─ global CRV ─▶ RESTART: clear its channels, RESTART ACK
//!                   │                RESTART ACK: our channels idle again
//!                   └─ (CRV, who chose it) ─▶ known call ─▶ Call::handle_message
//!                                            └ unknown ─▶ SETUP: select a channel,
//!                                                         Event::Setup; else cause 81
//!
//!  REST 0 ── RESTART sent (T316) ──▶ REST 1 ── RESTART ACK ──▶ REST 0
//!                                     └── T316 x N316 ──▶ channels out of service
//! ```
//!
//! Calls are keyed by (CRV, whether we chose it): a received flag of 1 means the
//! message goes towards the side that chose the value, that is us.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, trace, warn};

use crate::isdn::dchannel::{
    CallId, ClearOrigin, Command, Config, Counters, Direction, Event, SetupIndication,
    SetupRequest, requested_channel,
};
use crate::isdn::lapd::Side;

use super::Variant;
use super::call::{Call, State};
use super::cause::{Cause, Location};
use super::channel::{ChannelState, Channels};
use super::ie::{
    CallState, CauseIe, ChannelId, EncodeError, IeId, ProgressIndicator, RestartClass,
    RestartIndicator, ServiceStatus,
};
use super::message::{CallRef, DecodeError, Message, MessageType, Setup};
use super::timer::{Timer, TimerValues, Timers};

/// What every call needs while it handles an event: configuration, the channel
/// table and the output queues.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) side: Side,
    pub(crate) variant: Variant,
    pub(crate) location: Location,
    pub(crate) timers: TimerValues,
    pub(crate) trace: bool,
    pub(crate) hold_inband_disconnect: bool,
    pub(crate) channels: Channels,
    pub(crate) counters: Counters,
    messages: VecDeque<Bytes>,
    events: VecDeque<Event>,
}

impl Shared {
    /// Queues `message` for DL-DATA.
    pub(crate) fn send(&mut self, message: Message) {
        trace!(cref = %message.call_ref, message = message.name().unwrap_or("?"), "q931 tx");
        self.counters.sent.bump(&message);
        self.messages.push_back(Bytes::from(message.encode()));
        if self.trace {
            self.events.push_back(Event::Trace {
                direction: Direction::Transmit,
                message: Box::new(message),
            });
        }
    }

    /// Queues a built message; a build failure (only possible with digits from the
    /// upper layer that are not IA5) is counted and logged.
    pub(crate) fn send_built(&mut self, built: Result<Message, EncodeError>) -> bool {
        match built {
            Ok(message) => {
                self.send(message);
                true
            }
            Err(error) => {
                self.counters.errors.encode_failed += 1;
                warn!(%error, "q931: message not sent");
                false
            }
        }
    }

    /// Queues an event for the upper layer.
    pub(crate) fn event(&mut self, event: Event) {
        if let Event::Cleared {
            call,
            cause,
            origin,
            ..
        } = &event
        {
            debug!(call = call.0, %cause, ?origin, "q931: call cleared");
        }
        self.events.push_back(event);
    }

    /// A cause element with our location.
    pub(crate) fn cause(&self, cause: Cause, diagnostics: &[u8]) -> CauseIe {
        CauseIe::new(self.location, cause).with_diagnostics(diagnostics)
    }

    /// Cause 102 naming `timer` in its diagnostic.
    pub(crate) fn timer_cause(&self, timer: Timer) -> CauseIe {
        self.cause(Cause::RECOVERY_ON_TIMER_EXPIRY, &timer.diagnostic())
    }

    /// Starts `timer` in `timers` unless it is disabled.
    pub(crate) fn start(&self, timers: &mut Timers, timer: Timer, now: Instant) {
        if let Some(duration) = self.timers.get(timer) {
            timers.set(timer, now + duration);
        }
    }
}

// One RESTART of ours waiting for its acknowledgement (REST 1).
#[derive(Clone, Debug)]
struct Restart {
    indicator: RestartIndicator,
    // Channels named in the RESTART; empty for "all interfaces".
    named: Vec<u8>,
    // Channels it covers.
    channels: Vec<u8>,
    attempts: u8,
    deadline: Instant,
    at_link_up: bool,
}

/// The call-control engine of one D-channel.
#[derive(Debug)]
pub(crate) struct Engine {
    shared: Shared,
    calls: Vec<Call>,
    restarts: Vec<Restart>,
    exclusive: bool,
    restart_on_link_up: bool,
    physical_up: bool,
    link_up: bool,
    // LinkUp waits for the start-up RESTARTs to be answered.
    link_up_pending: bool,
    t309: Option<Instant>,
    next_crv: u16,
    next_call_id: u32,
}

impl Engine {
    /// An engine with every configured channel idle and layer 1 down.
    pub(crate) fn new(config: Config) -> Self {
        Self {
            shared: Shared {
                side: config.side,
                variant: config.variant,
                location: config.location,
                timers: config.timers,
                trace: config.trace,
                hold_inband_disconnect: config.hold_inband_disconnect,
                channels: Channels::new(&config.channels),
                counters: Counters::default(),
                messages: VecDeque::new(),
                events: VecDeque::new(),
            },
            calls: Vec::new(),
            restarts: Vec::new(),
            exclusive: config.exclusive,
            restart_on_link_up: config.restart_on_link_up,
            physical_up: false,
            link_up: false,
            link_up_pending: false,
            t309: None,
            next_crv: 1,
            next_call_id: 1,
        }
    }

    /// A fresh call id.
    pub(crate) fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call_id);
        self.next_call_id = self.next_call_id.wrapping_add(1).max(1);
        id
    }

    // ---- layer 1 and layer 2 -----------------------------------------------------

    /// Layer 1 is up: the data link is being started.
    pub(crate) fn handle_physical_up(&mut self) {
        self.physical_up = true;
    }

    /// Layer 1 is down: every call cleared with cause 38, every channel free.
    pub(crate) fn handle_physical_down(&mut self, _now: Instant) {
        self.physical_up = false;
        self.clear_all(Cause::NETWORK_OUT_OF_ORDER, ClearOrigin::Link);
        self.restarts.clear();
        self.t309 = None;
        self.shared.messages.clear();
        // The RESTART at the next link up settles channels we had given up on.
        self.shared.channels.free_busy();
        self.shared
            .channels
            .replace_all(ChannelState::Restarting, ChannelState::Idle);
        self.shared
            .channels
            .replace_all(ChannelState::OutOfService, ChannelState::Idle);
        self.set_link_down();
    }

    /// DL-ESTABLISH confirm or indication.
    pub(crate) fn handle_link_established(&mut self, now: Instant) {
        // Whether the link came up or was reset in place, messages may have been
        // lost: ask the peer where each surviving active call stands.
        let active: Vec<usize> = (0..self.calls.len())
            .filter(|i| self.calls[*i].state == State::Active)
            .collect();
        for i in active {
            self.calls[i].status_enquiry(&mut self.shared);
        }
        if self.link_up {
            return;
        }
        self.link_up = true;
        self.t309 = None;
        if self.restart_on_link_up {
            let idle = self.shared.channels.in_state(ChannelState::Idle);
            if !idle.is_empty() {
                self.restart(now, idle, true);
                self.link_up_pending = true;
                return;
            }
        }
        self.shared.event(Event::LinkUp);
    }

    /// DL-RELEASE indication or confirm with layer 1 still up (Q.931 5.8.9).
    pub(crate) fn handle_link_released(&mut self, now: Instant) {
        if !self.link_up {
            return;
        }
        let t309 = self.shared.timers.get(Timer::T309);
        for call in &mut self.calls {
            if call.state == State::Active && t309.is_some() {
                continue;
            }
            let cause = if call.state == State::Active {
                Cause::DESTINATION_OUT_OF_ORDER
            } else {
                Cause::TEMPORARY_FAILURE
            };
            call.report_cleared(cause, None, ClearOrigin::Link, &mut self.shared);
            call.enter_null();
        }
        if let Some(t309) = t309
            && self.calls.iter().any(|c| c.state == State::Active)
        {
            self.t309 = Some(now + t309);
        }
        self.sweep(now);
        self.set_link_down();
    }

    fn set_link_down(&mut self) {
        let was_reported = self.link_up && !self.link_up_pending;
        self.link_up = false;
        self.link_up_pending = false;
        if was_reported {
            self.shared.event(Event::LinkDown);
        }
    }

    // ---- messages from the peer ------------------------------------------------

    /// One DL-DATA indication.
    pub(crate) fn handle_message(&mut self, now: Instant, octets: Bytes) {
        let message = match Message::decode_unchecked(&octets) {
            Ok(message) => message,
            Err(error) => {
                self.decode_error(now, &error);
                return;
            }
        };
        trace!(cref = %message.call_ref, message = message.name().unwrap_or("?"), "q931 rx");
        self.shared.counters.received.bump(&message);
        if self.shared.trace {
            self.shared.event(Event::Trace {
                direction: Direction::Receive,
                message: Box::new(message.clone()),
            });
        }
        if let Err(error) = message.check() {
            self.decode_error(now, &error);
            return;
        }
        if message.protocol.is_maintenance() {
            self.handle_maintenance(&message);
        } else if message.call_ref.is_dummy() {
            // Q.932 supplementary services only; nothing of ours uses it.
            debug!("q931: message with the dummy call reference ignored");
        } else if message.call_ref.is_global() {
            self.handle_global(now, &message);
        } else {
            self.handle_call_message(now, &message);
        }
        self.sweep(now);
    }

    fn find(&self, crv: u16, ours: bool) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.crv == crv && c.ours == ours && c.state != State::Null)
    }

    fn find_id(&self, id: CallId) -> Option<usize> {
        self.calls.iter().position(|c| c.id == id)
    }

    fn handle_call_message(&mut self, now: Instant, message: &Message) {
        let call_ref = message.call_ref;
        let ours = call_ref.flag();
        let reply = call_ref.reply();
        let Some(index) = self.find(call_ref.value(), ours) else {
            match message.message_type {
                // A SETUP with flag 1 claims a call we set up: not a new call (5.8.3.2).
                MessageType::SETUP if !ours => self.incoming_setup(now, message),
                MessageType::SETUP => {}
                MessageType::RELEASE_COMPLETE => {}
                MessageType::STATUS_ENQUIRY => {
                    let cause = self.shared.cause(Cause::RESPONSE_TO_STATUS_ENQUIRY, &[]);
                    self.shared
                        .send_built(Message::status(reply, &cause, CallState::NULL));
                }
                MessageType::STATUS => {
                    if message.call_state() != Some(CallState::NULL) {
                        self.release_complete(reply, Cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE);
                    }
                }
                _ => {
                    self.shared.counters.errors.unknown_call_reference += 1;
                    self.release_complete(reply, Cause::INVALID_CALL_REFERENCE);
                }
            }
            return;
        };
        if message.message_type == MessageType::SETUP {
            // A retransmitted SETUP for a call we already have.
            return;
        }
        if self.glare_retry(now, index, message) {
            return;
        }
        self.calls[index].handle_message(now, message, &mut self.shared);
    }

    fn release_complete(&mut self, call_ref: CallRef, cause: Cause) {
        let cause = self.shared.cause(cause, &[]);
        self.shared
            .send_built(Message::release_complete(call_ref, Some(&cause)));
    }

    // A message that failed the codec's checks (Q.931 5.8.1-5.8.7).
    fn decode_error(&mut self, now: Instant, error: &DecodeError) {
        let location = self.shared.location;
        let (Some(answer), Some(call_ref), Some(message_type)) = (
            error.cause_ie(location),
            error.call_ref(),
            error.message_type(),
        ) else {
            self.shared.counters.errors.dropped += 1;
            return;
        };
        let errors = &mut self.shared.counters.errors;
        match answer.value {
            Cause::MESSAGE_TYPE_NON_EXISTENT => errors.unknown_message_type += 1,
            Cause::MANDATORY_IE_MISSING => errors.mandatory_ie_missing += 1,
            _ => errors.invalid_ie_contents += 1,
        }
        let unknown_type = matches!(error, DecodeError::UnknownMessageType { .. });
        let maintenance = matches!(
            error,
            DecodeError::UnknownMessageType { protocol, .. } if protocol.is_maintenance()
        );
        if call_ref.is_dummy() || maintenance {
            return;
        }
        let reply = call_ref.reply();
        if call_ref.is_global() {
            let answer = if matches!(
                message_type,
                MessageType::RESTART | MessageType::RESTART_ACKNOWLEDGE
            ) && !unknown_type
            {
                answer
            } else {
                self.shared.cause(Cause::INVALID_CALL_REFERENCE, &[])
            };
            let state = self.rest_state();
            self.shared
                .send_built(Message::status(reply, &answer, state));
            return;
        }
        let Some(index) = self.find(call_ref.value(), call_ref.flag()) else {
            match message_type {
                // A broken SETUP is refused with the error's cause (96 or 100).
                MessageType::SETUP if !call_ref.flag() && !unknown_type => {
                    self.shared
                        .send_built(Message::release_complete(reply, Some(&answer)));
                }
                MessageType::SETUP | MessageType::RELEASE_COMPLETE | MessageType::STATUS => {}
                _ => {
                    self.shared.counters.errors.unknown_call_reference += 1;
                    self.release_complete(reply, Cause::INVALID_CALL_REFERENCE);
                }
            }
            return;
        };
        let call = &mut self.calls[index];
        match message_type {
            _ if unknown_type => {
                let cause = self
                    .shared
                    .cause(Cause::MESSAGE_TYPE_NON_EXISTENT, &[message_type.0]);
                let state = call.state_value(self.shared.side);
                self.shared
                    .send_built(Message::status(call.call_ref(), &cause, state));
            }
            // Act as if cause 31 came, but say what was wrong in our RELEASE.
            MessageType::DISCONNECT => {
                call.handle_disconnect(now, None, Vec::new(), Some(answer), &mut self.shared);
            }
            MessageType::RELEASE => {
                let first = !matches!(
                    call.state,
                    State::DisconnectSent { .. } | State::DisconnectReceived { .. }
                );
                call.handle_release(None, first.then_some(answer), &mut self.shared);
            }
            MessageType::RELEASE_COMPLETE => call.handle_release_complete(None, &mut self.shared),
            // Never answer a STATUS with a STATUS: two broken peers would loop.
            MessageType::SETUP | MessageType::STATUS => {}
            _ => {
                let state = call.state_value(self.shared.side);
                self.shared
                    .send_built(Message::status(call.call_ref(), &answer, state));
            }
        }
        self.sweep(now);
    }

    // SETUP for a new call from the peer (Q.931 5.2).
    fn incoming_setup(&mut self, now: Instant, message: &Message) {
        let reply = message.call_ref.reply();
        let setup = match Setup::from_message(message) {
            Ok(setup) => setup,
            Err(error) => {
                if let Some(cause) = error.cause_ie(self.shared.location) {
                    self.shared
                        .send_built(Message::release_complete(reply, Some(&cause)));
                }
                return;
            }
        };
        if !setup.bearer.is_voice() {
            // A voice gateway: digital calls are refused (reference section 5.1).
            self.release_complete(reply, Cause::BEARER_CAPABILITY_NOT_IMPLEMENTED);
            return;
        }
        let (channel, glare) = match self.select_incoming(&setup.channel) {
            Ok(selected) => selected,
            Err(cause) => {
                self.shared.counters.errors.channel_refused += 1;
                let diagnostics: &[u8] = if cause == Cause::INVALID_IE_CONTENTS {
                    &[IeId::CHANNEL_ID.0]
                } else {
                    &[]
                };
                let cause = self.shared.cause(cause, diagnostics);
                self.shared
                    .send_built(Message::release_complete(reply, Some(&cause)));
                return;
            }
        };
        if let Some(loser) = glare {
            // Glare: the network's SETUP wins; ours will be refused (44/34) and
            // retried on another channel.
            if let Some(index) = self.find_id(loser) {
                let call = &mut self.calls[index];
                call.glare_lost = true;
                call.channel = None;
                self.shared.counters.glare += 1;
            }
        }
        let id = self.new_call_id();
        let call = Call::new(
            id,
            message.call_ref.value(),
            false,
            State::SetupReceived,
            Some(channel),
        );
        self.shared.channels.set(channel, ChannelState::Busy(id));
        self.shared.counters.calls_incoming += 1;
        let law = setup
            .bearer
            .layer1
            .unwrap_or_else(|| self.shared.variant.layer1());
        self.shared.event(Event::Setup(Box::new(SetupIndication {
            call: id,
            call_ref: call.call_ref(),
            called: setup.called,
            calling: setup.calling,
            redirecting: setup.redirecting,
            law,
            channel,
            exclusive: setup.channel.exclusive,
            progress: setup.progress,
            display: setup.display.map(|d| d.text().into_owned()),
            sending_complete: setup.sending_complete,
            bearer: setup.bearer,
        })));
        self.calls.push(call);
        let _ = now;
    }

    // The channel for the peer's SETUP (Q.931 5.1.2 / 5.2.3.1), and the call of
    // ours that loses it to glare. Errors are the cause to refuse with.
    fn select_incoming(&self, requested: &ChannelId) -> Result<(u8, Option<CallId>), Cause> {
        let channels = &self.shared.channels;
        let from_top = self.shared.side == Side::User;
        let any = || channels.pick(from_top).ok_or(Cause::NO_CIRCUIT_AVAILABLE);
        if requested.d_channel {
            return Err(Cause::CHANNEL_UNACCEPTABLE);
        }
        match requested.selection {
            super::ie::ChannelSelection::ANY => return any().map(|c| (c, None)),
            super::ie::ChannelSelection::INDICATED => {}
            _ => return Err(Cause::NO_CIRCUIT_AVAILABLE),
        }
        let Some(number) = requested.channel() else {
            return Err(Cause::INVALID_IE_CONTENTS);
        };
        let exclusive = requested.exclusive;
        match channels.state(number) {
            Some(ChannelState::Idle) => Ok((number, None)),
            Some(ChannelState::Busy(owner)) if self.shared.side == Side::User => {
                // The network wins glare over our SETUP still waiting for an answer.
                let unanswered = self.calls.iter().any(|c| {
                    c.id == owner
                        && matches!(c.state, State::SetupSent { .. })
                        && !c.channel_confirmed
                });
                if unanswered {
                    Ok((number, Some(owner)))
                } else if exclusive {
                    Err(busy_cause(channels, from_top))
                } else {
                    any().map(|c| (c, None))
                }
            }
            None if exclusive => Err(Cause::CHANNEL_DOES_NOT_EXIST),
            _ if exclusive => Err(busy_cause(channels, from_top)),
            _ => any().map(|c| (c, None)),
        }
    }

    // Our SETUP lost its channel to the peer's and was refused with 34 or 44: try
    // once more on another channel with a new call reference.
    fn glare_retry(&mut self, now: Instant, index: usize, message: &Message) -> bool {
        let call = &self.calls[index];
        let refused = matches!(
            message.message_type,
            MessageType::RELEASE | MessageType::RELEASE_COMPLETE
        ) && matches!(
            message.cause().map(|c| c.value),
            Some(Cause::NO_CIRCUIT_AVAILABLE | Cause::REQUESTED_CHANNEL_NOT_AVAILABLE)
        );
        if !refused
            || !call.glare_lost
            || call.glare_retried
            || !matches!(call.state, State::SetupSent { .. })
        {
            return false;
        }
        let from_top = self.shared.side == Side::User;
        let (Some(channel), Some(crv)) = (self.shared.channels.pick(from_top), self.allocate_crv())
        else {
            return false;
        };
        let old = self.calls[index].call_ref();
        if message.message_type == MessageType::RELEASE {
            self.shared.send_built(Message::release_complete(old, None));
        }
        let call = &mut self.calls[index];
        let call_ref = CallRef::new(crv, false);
        let State::SetupSent { setup, attempts } = &mut call.state else {
            return false;
        };
        setup.channel = requested_channel(channel, call.exclusive);
        *attempts = 1;
        call.crv = crv;
        call.channel = Some(channel);
        call.glare_lost = false;
        call.glare_retried = true;
        call.timers.stop_all();
        self.shared
            .channels
            .set(channel, ChannelState::Busy(call.id));
        let built = Message::setup(call_ref, setup);
        self.shared.start(&mut call.timers, Timer::T303, now);
        self.shared.send_built(built);
        debug!(call = call.id.0, channel, "q931: glare, SETUP retried");
        true
    }

    fn allocate_crv(&mut self) -> Option<u16> {
        for _ in 0..0x7FFF {
            let crv = self.next_crv;
            self.next_crv = if crv >= 0x7FFF { 1 } else { crv + 1 };
            if self.find(crv, true).is_none() && !self.calls.iter().any(|c| c.ours && c.crv == crv)
            {
                return Some(crv);
            }
        }
        None
    }

    // ---- the global call reference ---------------------------------------------

    fn rest_state(&self) -> CallState {
        if self.restarts.is_empty() {
            CallState::NULL
        } else {
            CallState::RESTART_REQUEST
        }
    }

    fn handle_global(&mut self, now: Instant, message: &Message) {
        let reply = message.call_ref.reply();
        match message.message_type {
            MessageType::RESTART => self.peer_restart(message),
            MessageType::RESTART_ACKNOWLEDGE => self.restart_acknowledged(message),
            // Nothing to resynchronise on the global call reference.
            MessageType::STATUS => {}
            _ => {
                self.shared.counters.errors.unknown_call_reference += 1;
                let cause = self.shared.cause(Cause::INVALID_CALL_REFERENCE, &[]);
                let state = self.rest_state();
                self.shared
                    .send_built(Message::status(reply, &cause, state));
            }
        }
        let _ = now;
    }

    // The peer's RESTART (Q.931 5.5.2): clear its channels internally and answer,
    // even when everything was idle already.
    fn peer_restart(&mut self, message: &Message) {
        self.shared.counters.restarts_received += 1;
        let reply = message.call_ref.reply();
        let Some(indicator) = message.restart_indicator() else {
            return;
        };
        let channel_ie = message.channel_id();
        let targets: Option<Vec<u8>> = if indicator.class == RestartClass::INDICATED_CHANNELS {
            let numbers = channel_ie
                .as_ref()
                .map(|c| c.channel_numbers().to_vec())
                .unwrap_or_default();
            let unknown = numbers
                .iter()
                .any(|n| self.shared.channels.state(*n).is_none());
            if numbers.is_empty() || unknown {
                let cause = self.shared.cause(Cause::CHANNEL_DOES_NOT_EXIST, &[]);
                let state = self.rest_state();
                self.shared
                    .send_built(Message::status(reply, &cause, state));
                return;
            }
            Some(numbers)
        } else {
            None
        };
        for call in &mut self.calls {
            let covered = match (&targets, call.channel) {
                (None, _) => true,
                (Some(t), Some(c)) => t.contains(&c),
                (Some(_), None) => false,
            };
            if covered {
                call.report_cleared(
                    Cause::TEMPORARY_FAILURE,
                    None,
                    ClearOrigin::Restart,
                    &mut self.shared,
                );
                call.enter_null();
                // The channel is idle now; the sweep must not free it twice.
                call.channel = None;
            }
        }
        let numbers: Vec<u8> = match &targets {
            Some(t) => t.clone(),
            None => self.shared.channels.numbers().collect(),
        };
        for n in numbers {
            // Our own RESTART of the channel runs on independently.
            if self.shared.channels.state(n) != Some(ChannelState::Restarting) {
                self.shared.channels.set(n, ChannelState::Idle);
            }
        }
        self.shared.send_built(Message::restart_acknowledge(
            reply.flag(),
            indicator,
            channel_ie.as_ref(),
        ));
    }

    fn restart_acknowledged(&mut self, message: &Message) {
        let Some(indicator) = message.restart_indicator() else {
            return;
        };
        let named = message
            .channel_id()
            .map(|c| c.channel_numbers().to_vec())
            .unwrap_or_default();
        let Some(index) = self.restarts.iter().position(|r| {
            r.indicator == indicator
                && (indicator.class != RestartClass::INDICATED_CHANNELS || r.named == named)
        }) else {
            self.shared.counters.errors.unexpected_message += 1;
            return;
        };
        let restart = self.restarts.swap_remove(index);
        for n in restart.channels {
            if self.shared.channels.state(n) == Some(ChannelState::Restarting) {
                self.shared.channels.set(n, ChannelState::Idle);
            }
        }
        self.check_link_up_pending();
    }

    fn check_link_up_pending(&mut self) {
        if self.link_up_pending && !self.restarts.iter().any(|r| r.at_link_up) {
            self.link_up_pending = false;
            self.shared.event(Event::LinkUp);
        }
    }

    // RESTART `channels` (Q.931 5.5.1): one message per channel towards North
    // American switches, "all interfaces" when every channel is covered otherwise.
    fn restart(&mut self, now: Instant, channels: Vec<u8>, at_link_up: bool) {
        let all: Vec<u8> = self.shared.channels.numbers().collect();
        let mut channels = channels;
        channels.retain(|n| all.contains(n));
        channels.sort_unstable();
        channels.dedup();
        if channels.is_empty() {
            return;
        }
        // Calls on the channels are cleared internally: the peer does the same.
        for call in &mut self.calls {
            if call.channel.is_some_and(|c| channels.contains(&c)) {
                call.report_cleared(
                    Cause::TEMPORARY_FAILURE,
                    None,
                    ClearOrigin::Restart,
                    &mut self.shared,
                );
                call.enter_null();
                call.channel = None;
            }
        }
        for &n in &channels {
            self.shared.channels.set(n, ChannelState::Restarting);
        }
        let groups: Vec<Vec<u8>> = if self.shared.variant.is_north_american() {
            channels.iter().map(|n| vec![*n]).collect()
        } else if channels == all {
            vec![Vec::new()]
        } else {
            vec![channels.clone()]
        };
        for named in groups {
            let covered = if named.is_empty() {
                channels.clone()
            } else {
                named.clone()
            };
            let restart = Restart {
                indicator: RestartIndicator::new(if named.is_empty() {
                    RestartClass::ALL_INTERFACES
                } else {
                    RestartClass::INDICATED_CHANNELS
                }),
                named,
                channels: covered,
                attempts: 1,
                deadline: now,
                at_link_up,
            };
            self.send_restart(now, restart);
        }
    }

    fn send_restart(&mut self, now: Instant, mut restart: Restart) {
        let channel =
            (!restart.named.is_empty()).then(|| ChannelId::exclusive_list(restart.named.clone()));
        self.shared
            .send_built(Message::restart(false, restart.indicator, channel.as_ref()));
        restart.deadline = now + self.shared.timers.get(Timer::T316).unwrap_or_default();
        self.restarts.push(restart);
    }

    // ---- maintenance -------------------------------------------------------------

    // SERVICE (North American switches): echo SERVICE ACKNOWLEDGE, as libpri does,
    // and take the channels in or out of service.
    fn handle_maintenance(&mut self, message: &Message) {
        let service = matches!(
            (message.protocol, message.message_type),
            (
                super::ProtocolDiscriminator::MAINTENANCE,
                MessageType::SERVICE
            ) | (
                super::ProtocolDiscriminator::NATIONAL_MAINTENANCE,
                MessageType::NATIONAL_SERVICE
            )
        );
        let (Some(status), Some(channel)) = (message.change_status(), message.channel_id()) else {
            return;
        };
        if !service || self.shared.variant.maintenance_protocol() != Some(message.protocol) {
            return;
        }
        for &n in channel.channel_numbers() {
            match self.shared.channels.state(n) {
                Some(ChannelState::Idle) if status.status == ServiceStatus::OUT_OF_SERVICE => {
                    self.shared.channels.set(n, ChannelState::OutOfService);
                }
                Some(ChannelState::OutOfService) if status.status == ServiceStatus::IN_SERVICE => {
                    self.shared.channels.set(n, ChannelState::Idle);
                }
                _ => {}
            }
        }
        let reply = message.call_ref.reply();
        if let Some(built) =
            Message::service_acknowledge(self.shared.variant, reply.flag(), status, &channel)
        {
            self.shared.send_built(built);
        }
    }

    // ---- commands ----------------------------------------------------------------

    /// One request from the upper layer.
    pub(crate) fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Setup { call, request } => self.place_call(now, call, *request),
            Command::Restart { channels } => {
                let channels = if channels.is_empty() {
                    self.shared.channels.numbers().collect()
                } else {
                    channels
                };
                if self.link_up {
                    self.restart(now, channels, false);
                } else {
                    self.shared.counters.errors.invalid_command += 1;
                }
            }
            Command::Proceeding { call } => self.with_call(call, |c, cx| c.proceeding(cx)),
            Command::Alerting { call, progress } => {
                self.with_call(call, |c, cx| c.alerting(progress, cx));
            }
            Command::Progress { call, progress } => {
                self.with_call(call, |c, cx| c.progress(progress, cx));
            }
            Command::Connect { call, connected } => {
                self.with_call(call, |c, cx| c.connect(now, connected.as_ref(), cx));
            }
            Command::Release {
                call,
                cause,
                progress,
            } => {
                self.with_call(call, |c, cx| c.release(now, cause, progress, cx));
            }
            Command::StatusEnquiry { call } => self.with_call(call, |c, cx| c.status_enquiry(cx)),
        }
        self.sweep(now);
    }

    fn with_call(&mut self, id: CallId, f: impl FnOnce(&mut Call, &mut Shared)) {
        match self.find_id(id) {
            Some(index) if self.calls[index].state != State::Null => {
                f(&mut self.calls[index], &mut self.shared);
            }
            _ => self.shared.counters.errors.invalid_command += 1,
        }
    }

    // Place a call (Q.931 5.1.1): choose a channel, send SETUP, start T303.
    fn place_call(&mut self, now: Instant, id: CallId, request: SetupRequest) {
        if self.find_id(id).is_some() {
            self.shared.counters.errors.invalid_command += 1;
            return;
        }
        let refuse = |engine: &mut Self, cause: Cause| {
            engine.shared.event(Event::Cleared {
                call: id,
                cause,
                location: None,
                origin: if cause == Cause::NETWORK_OUT_OF_ORDER {
                    ClearOrigin::Link
                } else {
                    ClearOrigin::Protocol
                },
            });
        };
        if !self.physical_up {
            refuse(self, Cause::NETWORK_OUT_OF_ORDER);
            return;
        }
        let side = self.shared.side;
        // The network offers exclusive channels; the user requests as configured.
        let exclusive = side == Side::Network || request.exclusive.unwrap_or(self.exclusive);
        let from_top = side == Side::User;
        let channels = &self.shared.channels;
        let channel = match request.channel.map(|c| (c, channels.state(c))) {
            None => channels.pick(from_top),
            Some((c, Some(ChannelState::Idle))) => Some(c),
            Some((_, None)) if exclusive => {
                refuse(self, Cause::CHANNEL_DOES_NOT_EXIST);
                return;
            }
            Some(_) if exclusive => {
                let cause = busy_cause(channels, from_top);
                refuse(self, cause);
                return;
            }
            Some(_) => channels.pick(from_top),
        };
        let Some(channel) = channel else {
            refuse(self, Cause::NO_CIRCUIT_AVAILABLE);
            return;
        };
        let Some(crv) = self.allocate_crv() else {
            refuse(self, Cause::RESOURCE_UNAVAILABLE);
            return;
        };
        let variant = self.shared.variant;
        let location = self.shared.location;
        let mut setup = Setup::voice(
            variant,
            requested_channel(channel, exclusive),
            request.calling,
            Some(request.called),
        );
        if let Some(bearer) = request.bearer {
            setup.bearer = bearer;
        }
        setup.progress = request
            .progress
            .iter()
            .map(|d| ProgressIndicator::new(location, *d))
            .collect();
        setup.display = request.display.map(|text| variant.display(&text));
        setup.redirecting = request.redirecting;
        let mut call = Call::new(id, crv, true, State::Null, Some(channel));
        call.exclusive = exclusive;
        let message = match Message::setup(call.call_ref(), &setup) {
            Ok(message) => message,
            Err(error) => {
                warn!(%error, "q931: SETUP not built");
                self.shared.counters.errors.encode_failed += 1;
                refuse(self, Cause::INVALID_NUMBER_FORMAT);
                return;
            }
        };
        self.shared.channels.set(channel, ChannelState::Busy(id));
        self.shared.counters.calls_outgoing += 1;
        self.shared.send(message);
        self.shared.start(&mut call.timers, Timer::T303, now);
        call.state = State::SetupSent {
            setup: Box::new(setup),
            attempts: 1,
        };
        self.calls.push(call);
    }

    // ---- timers ------------------------------------------------------------------

    /// Runs every timer that has expired by `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for call in &mut self.calls {
            while let Some(timer) = call.timers.expired(now) {
                call.timers.stop(timer);
                self.shared.counters.timer_expiries.bump(timer);
                call.handle_timer(now, timer, &mut self.shared);
            }
        }
        if self.t309.is_some_and(|at| at <= now) {
            self.t309 = None;
            self.shared.counters.timer_expiries.bump(Timer::T309);
            // The link did not come back in time: active calls are lost (cause 27).
            for call in &mut self.calls {
                call.report_cleared(
                    Cause::DESTINATION_OUT_OF_ORDER,
                    None,
                    ClearOrigin::Timer,
                    &mut self.shared,
                );
                call.enter_null();
            }
        }
        let mut index = 0;
        while index < self.restarts.len() {
            if self.restarts[index].deadline > now {
                index += 1;
                continue;
            }
            self.shared.counters.timer_expiries.bump(Timer::T316);
            let mut restart = self.restarts.swap_remove(index);
            if restart.attempts < self.shared.timers.n316.max(1) {
                restart.attempts += 1;
                self.send_restart(now, restart);
            } else {
                warn!(channels = ?restart.channels, "q931: RESTART unanswered, channels out of service");
                for &n in &restart.channels {
                    if self.shared.channels.state(n) == Some(ChannelState::Restarting) {
                        self.shared.channels.set(n, ChannelState::OutOfService);
                    }
                }
                self.shared.event(Event::ChannelsOutOfService {
                    channels: restart.channels,
                });
                self.check_link_up_pending();
            }
        }
        self.sweep(now);
    }

    /// The next deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.iter().filter_map(|c| c.timers.next());
        let restarts = self.restarts.iter().map(|r| r.deadline);
        calls.chain(restarts).chain(self.t309).min()
    }

    // ---- bookkeeping -------------------------------------------------------------

    // Removes calls that reached Null and frees (or restarts) their channels.
    fn sweep(&mut self, now: Instant) {
        let mut index = 0;
        let mut to_restart = Vec::new();
        while index < self.calls.len() {
            if self.calls[index].state != State::Null {
                index += 1;
                continue;
            }
            let mut call = self.calls.swap_remove(index);
            call.report_cleared(
                Cause::NORMAL_UNSPECIFIED,
                None,
                ClearOrigin::Protocol,
                &mut self.shared,
            );
            if let Some(channel) = call.channel {
                if call.restart_channel
                    && self.shared.channels.state(channel) == Some(ChannelState::Busy(call.id))
                {
                    to_restart.push(channel);
                } else {
                    self.shared.channels.release(channel, call.id);
                }
            }
        }
        if !to_restart.is_empty() && self.link_up {
            self.restart(now, to_restart, false);
        } else {
            for channel in to_restart {
                self.shared.channels.set(channel, ChannelState::Idle);
            }
        }
    }

    // Every call cleared internally with `cause`.
    fn clear_all(&mut self, cause: Cause, origin: ClearOrigin) {
        for call in &mut self.calls {
            call.report_cleared(cause, None, origin, &mut self.shared);
        }
        self.calls.clear();
    }

    /// The next message for DL-DATA.
    pub(crate) fn poll_message(&mut self) -> Option<Bytes> {
        self.shared.messages.pop_front()
    }

    /// The next event for the upper layer.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.shared.events.pop_front()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub(crate) fn count_dropped(&mut self) {
        self.shared.counters.errors.dropped += 1;
    }

    pub(crate) fn count_mdl_error(&mut self) {
        self.shared.counters.mdl_errors += 1;
    }

    pub(crate) fn call_state(&self, id: CallId) -> Option<u8> {
        let call = &self.calls[self.find_id(id)?];
        Some(call.state_value(self.shared.side).0)
    }

    pub(crate) fn call_ref(&self, id: CallId) -> Option<CallRef> {
        Some(self.calls[self.find_id(id)?].call_ref())
    }

    pub(crate) fn channel(&self, id: CallId) -> Option<u8> {
        self.calls[self.find_id(id)?].channel
    }

    pub(crate) fn call_count(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn idle_channels(&self) -> Vec<u8> {
        self.shared.channels.in_state(ChannelState::Idle)
    }

    pub(crate) fn out_of_service_channels(&self) -> Vec<u8> {
        self.shared.channels.in_state(ChannelState::OutOfService)
    }
}

// Exclusive channel busy: 44, or 34 when nothing at all is free (reference 5.2).
fn busy_cause(channels: &Channels, from_top: bool) -> Cause {
    if channels.pick(from_top).is_some() {
        Cause::REQUESTED_CHANNEL_NOT_AVAILABLE
    } else {
        Cause::NO_CIRCUIT_AVAILABLE
    }
}

#[cfg(test)]
mod tests {
    //! The state table, one row per test: a fixture puts a call straight into a
    //! state, one event arrives, and the messages sent, the events raised and the
    //! next state are checked.

    use std::time::Duration;

    use super::*;
    use crate::isdn::q931::ie::{NumberingPlan, PartyNumber, TypeOfNumber};

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn hex(s: &str) -> Bytes {
        Bytes::from(
            s.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<u8>>(),
        )
    }

    fn engine(side: Side) -> Engine {
        let mut engine = Engine::new(Config {
            channels: vec![1, 2, 3],
            ..Config::t1(side, Variant::National)
        });
        engine.physical_up = true;
        engine.link_up = true;
        engine
    }

    /// An engine whose call 1 (CRV 1, channel 1) is in `state`, with the state's
    /// timer running from `t0`.
    fn fixture(side: Side, state: State) -> (Engine, Instant) {
        let t0 = epoch();
        let mut engine = engine(side);
        let ours = matches!(
            state,
            State::SetupSent { .. } | State::ProceedingReceived | State::AlertingReceived
        );
        let timer = match state {
            State::SetupSent { .. } => Some(Timer::T303),
            State::ProceedingReceived => Some(Timer::T310),
            State::AlertingReceived => Some(Timer::T301),
            State::ConnectSent => Some(Timer::T313),
            State::DisconnectSent { .. } => Some(Timer::T305),
            State::ReleaseSent { .. } => Some(Timer::T308),
            _ => None,
        };
        let mut call = Call::new(CallId(1), 1, ours, state, Some(1));
        call.channel_confirmed = !matches!(call.state, State::SetupSent { .. });
        if let Some(timer) = timer {
            engine.shared.start(&mut call.timers, timer, t0);
        }
        engine.shared.channels.set(1, ChannelState::Busy(CallId(1)));
        engine.calls.push(call);
        engine.next_call_id = 2;
        engine.next_crv = 2;
        (engine, t0)
    }

    fn setup_sent() -> State {
        let called = PartyNumber::new(TypeOfNumber::SUBSCRIBER, NumberingPlan::ISDN, "5552000");
        State::SetupSent {
            setup: Box::new(Setup::voice(
                Variant::National,
                ChannelId::exclusive(1),
                None,
                Some(called),
            )),
            attempts: 1,
        }
    }

    fn disconnect_sent() -> State {
        State::DisconnectSent {
            cause: CauseIe::new(Location::USER, Cause::NORMAL_CLEARING),
        }
    }

    fn release_sent() -> State {
        State::ReleaseSent {
            cause: None,
            attempts: 1,
        }
    }

    fn sent(engine: &mut Engine) -> Vec<String> {
        std::iter::from_fn(|| engine.poll_message())
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn events(engine: &mut Engine) -> Vec<Event> {
        std::iter::from_fn(|| engine.poll_event()).collect()
    }

    fn state(engine: &Engine) -> Option<u8> {
        engine.call_state(CallId(1))
    }

    fn cleared(cause: Cause, location: Option<Location>, origin: ClearOrigin) -> Event {
        Event::Cleared {
            call: CallId(1),
            cause,
            location,
            origin,
        }
    }

    // ---- outgoing call ---------------------------------------------------------

    #[test]
    fn call_initiated_call_proceeding_enters_outgoing_call_proceeding() {
        let (mut e, t0) = fixture(Side::User, setup_sent());
        e.handle_message(t0, hex("08 02 80 01 02 18 03 A9 83 81"));
        assert_eq!(state(&e), Some(3));
        assert_eq!(
            events(&mut e),
            [Event::Proceeding {
                call: CallId(1),
                channel: 1
            }]
        );
        // T303 stopped, T310 (30 s on the user side) running.
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn call_initiated_first_t303_expiry_retransmits_setup() {
        let (mut e, t0) = fixture(Side::User, setup_sent());
        e.handle_timeout(t0 + Duration::from_secs(4));
        assert_eq!(
            sent(&mut e),
            ["08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 81 70 08 C1 35 35 35 32 30 30 30"]
        );
        assert_eq!(state(&e), Some(1));
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(8)));
    }

    #[test]
    fn call_initiated_second_t303_expiry_clears_with_cause_18() {
        let (mut e, t0) = fixture(Side::User, setup_sent());
        e.handle_timeout(t0 + Duration::from_secs(4));
        e.handle_timeout(t0 + Duration::from_secs(8));
        let sent = sent(&mut e);
        assert_eq!(sent[1], "08 02 00 01 5A 08 05 80 E6 33 30 33");
        assert_eq!(
            events(&mut e),
            [cleared(Cause::NO_USER_RESPONDING, None, ClearOrigin::Timer)]
        );
        assert_eq!(state(&e), None);
        assert_eq!(e.idle_channels(), [1, 2, 3]);
    }

    #[test]
    fn call_initiated_release_complete_clears_with_the_peers_cause() {
        let (mut e, t0) = fixture(Side::User, setup_sent());
        e.handle_message(t0, hex("08 02 80 01 5A 08 02 82 91"));
        assert_eq!(
            events(&mut e),
            [cleared(
                Cause::USER_BUSY,
                Some(Location::PUBLIC_LOCAL),
                ClearOrigin::Peer
            )]
        );
        assert_eq!(sent(&mut e), Vec::<String>::new());
        assert_eq!(state(&e), None);
    }

    #[test]
    fn network_call_present_call_proceeding_without_channel_accepts_the_offer() {
        let (mut e, t0) = fixture(Side::Network, setup_sent());
        assert_eq!(state(&e), Some(6));
        e.handle_message(t0, hex("08 02 80 01 02"));
        assert_eq!(state(&e), Some(9));
        // The network side's T310 is 10 s.
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn outgoing_proceeding_t310_expiry_disconnects_with_cause_102() {
        let (mut e, t0) = fixture(Side::User, State::ProceedingReceived);
        e.handle_timeout(t0 + Duration::from_secs(30));
        assert_eq!(sent(&mut e), ["08 02 00 01 45 08 05 80 E6 33 31 30"]);
        assert_eq!(
            events(&mut e),
            [cleared(Cause::NO_USER_RESPONDING, None, ClearOrigin::Timer)]
        );
        assert_eq!(state(&e), Some(11));
    }

    #[test]
    fn outgoing_proceeding_progress_stops_t310_on_the_user_side() {
        let (mut e, t0) = fixture(Side::User, State::ProceedingReceived);
        e.handle_message(t0, hex("08 02 80 01 03 1E 02 82 88"));
        assert_eq!(e.poll_timeout(), None);
        let (mut e, t0) = fixture(Side::Network, State::ProceedingReceived);
        e.handle_message(t0, hex("08 02 80 01 03 1E 02 80 88"));
        assert!(e.poll_timeout().is_some());
    }

    #[test]
    fn call_delivered_connect_sends_connect_acknowledge() {
        let (mut e, t0) = fixture(Side::User, State::AlertingReceived);
        e.handle_message(t0, hex("08 02 80 01 07"));
        assert_eq!(sent(&mut e), ["08 02 00 01 0F"]);
        assert_eq!(state(&e), Some(10));
        assert_eq!(e.poll_timeout(), None);
    }

    #[test]
    fn call_delivered_t301_expiry_clears_with_cause_19() {
        let (mut e, t0) = fixture(Side::Network, State::AlertingReceived);
        assert_eq!(state(&e), Some(7));
        e.handle_timeout(t0 + Duration::from_secs(180));
        assert_eq!(sent(&mut e), ["08 02 00 01 45 08 05 82 E6 33 30 31"]);
        assert_eq!(
            events(&mut e),
            [cleared(Cause::NO_ANSWER, None, ClearOrigin::Timer)]
        );
        assert_eq!(state(&e), Some(12));
    }

    // ---- incoming call ---------------------------------------------------------

    #[test]
    fn call_present_release_command_sends_release_complete() {
        let (mut e, t0) = fixture(Side::User, State::SetupReceived);
        e.handle_command(
            t0,
            Command::Release {
                call: CallId(1),
                cause: Cause::USER_BUSY,
                progress: None,
            },
        );
        assert_eq!(sent(&mut e), ["08 02 80 01 5A 08 02 80 91"]);
        assert_eq!(state(&e), None);
        assert_eq!(e.idle_channels(), [1, 2, 3]);
    }

    #[test]
    fn call_present_connect_command_enters_connect_request_with_t313() {
        let (mut e, t0) = fixture(Side::User, State::SetupReceived);
        e.handle_command(
            t0,
            Command::Connect {
                call: CallId(1),
                connected: None,
            },
        );
        assert_eq!(sent(&mut e), ["08 02 80 01 07 18 03 A9 83 81"]);
        assert_eq!(state(&e), Some(8));
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn network_call_initiated_connect_command_enters_active() {
        let (mut e, t0) = fixture(Side::Network, State::SetupReceived);
        assert_eq!(state(&e), Some(1));
        e.handle_command(
            t0,
            Command::Connect {
                call: CallId(1),
                connected: None,
            },
        );
        assert_eq!(state(&e), Some(10));
        assert_eq!(e.poll_timeout(), None);
    }

    #[test]
    fn connect_request_connect_acknowledge_enters_active() {
        let (mut e, t0) = fixture(Side::User, State::ConnectSent);
        e.handle_message(t0, hex("08 02 00 01 0F"));
        assert_eq!(state(&e), Some(10));
        assert_eq!(e.poll_timeout(), None);
    }

    #[test]
    fn connect_request_t313_expiry_disconnects_with_cause_102() {
        let (mut e, t0) = fixture(Side::User, State::ConnectSent);
        e.handle_timeout(t0 + Duration::from_secs(4));
        assert_eq!(sent(&mut e), ["08 02 80 01 45 08 05 80 E6 33 31 33"]);
        assert_eq!(state(&e), Some(11));
    }

    #[test]
    fn incoming_proceeding_alerting_command_sends_alerting_without_channel() {
        let (mut e, t0) = fixture(Side::User, State::ProceedingSent);
        e.handle_command(
            t0,
            Command::Alerting {
                call: CallId(1),
                progress: None,
            },
        );
        assert_eq!(sent(&mut e), ["08 02 80 01 01"]);
        assert_eq!(state(&e), Some(7));
    }

    #[test]
    fn active_command_for_wrong_state_is_counted_and_ignored() {
        let (mut e, t0) = fixture(Side::User, State::Active);
        e.handle_command(t0, Command::Proceeding { call: CallId(1) });
        e.handle_command(t0, Command::Proceeding { call: CallId(9) });
        assert_eq!(sent(&mut e), Vec::<String>::new());
        assert_eq!(e.counters().errors.invalid_command, 2);
    }

    // ---- clearing --------------------------------------------------------------

    #[test]
    fn active_disconnect_sends_release_and_starts_t308() {
        let (mut e, t0) = fixture(Side::User, State::Active);
        e.handle_message(t0, hex("08 02 00 01 45 08 02 82 90"));
        assert_eq!(sent(&mut e), ["08 02 80 01 4D"]);
        assert_eq!(state(&e), Some(19));
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn active_release_sends_release_complete_and_frees_the_channel() {
        let (mut e, t0) = fixture(Side::Network, State::Active);
        e.handle_message(t0, hex("08 02 00 01 4D 08 02 80 90"));
        assert_eq!(sent(&mut e), ["08 02 80 01 5A"]);
        assert_eq!(state(&e), None);
        assert_eq!(e.idle_channels(), [1, 2, 3]);
    }

    #[test]
    fn disconnect_request_disconnect_collision_sends_release() {
        let (mut e, t0) = fixture(Side::User, disconnect_sent());
        e.handle_message(t0, hex("08 02 00 01 45 08 02 82 90"));
        assert_eq!(sent(&mut e), ["08 02 80 01 4D"]);
        assert_eq!(state(&e), Some(19));
        // Clearing was reported when it started, not again.
        assert_eq!(events(&mut e), []);
    }

    #[test]
    fn disconnect_request_t305_expiry_sends_release_with_the_same_cause() {
        let (mut e, t0) = fixture(Side::User, disconnect_sent());
        e.handle_timeout(t0 + Duration::from_secs(30));
        assert_eq!(sent(&mut e), ["08 02 80 01 4D 08 02 80 90"]);
        assert_eq!(state(&e), Some(19));
    }

    #[test]
    fn release_request_release_collision_enters_null_without_release_complete() {
        let (mut e, t0) = fixture(Side::User, release_sent());
        e.handle_message(t0, hex("08 02 00 01 4D"));
        assert_eq!(sent(&mut e), Vec::<String>::new());
        assert_eq!(state(&e), None);
    }

    #[test]
    fn release_request_first_t308_expiry_retransmits_release() {
        let (mut e, t0) = fixture(Side::User, release_sent());
        e.handle_timeout(t0 + Duration::from_secs(4));
        assert_eq!(sent(&mut e), ["08 02 80 01 4D"]);
        assert_eq!(state(&e), Some(19));
    }

    #[test]
    fn release_request_second_t308_expiry_restarts_the_channel() {
        let (mut e, t0) = fixture(Side::User, release_sent());
        e.handle_timeout(t0 + Duration::from_secs(4));
        e.handle_timeout(t0 + Duration::from_secs(8));
        let sent = sent(&mut e);
        assert_eq!(sent[1], "08 02 00 00 46 18 03 A9 83 81 79 01 80");
        assert_eq!(state(&e), None);
        assert_eq!(e.idle_channels(), [2, 3]);
        e.handle_message(t0, hex("08 02 80 00 4E 18 03 A9 83 81 79 01 80"));
        assert_eq!(e.idle_channels(), [1, 2, 3]);
    }

    #[test]
    fn release_request_status_incompatible_is_ignored() {
        let (mut e, t0) = fixture(Side::User, release_sent());
        e.handle_message(t0, hex("08 02 00 01 7D 08 02 82 9E 14 01 0A"));
        assert_eq!(sent(&mut e), Vec::<String>::new());
        assert_eq!(state(&e), Some(19));
    }

    // ---- status ----------------------------------------------------------------

    #[test]
    fn active_status_enquiry_answers_status_30_with_state_10() {
        let (mut e, t0) = fixture(Side::User, State::Active);
        e.handle_message(t0, hex("08 02 00 01 75"));
        assert_eq!(sent(&mut e), ["08 02 80 01 7D 08 02 80 9E 14 01 0A"]);
        assert_eq!(state(&e), Some(10));
    }

    #[test]
    fn active_status_saying_call_delivered_clears_with_101() {
        let (mut e, t0) = fixture(Side::User, State::Active);
        e.handle_message(t0, hex("08 02 00 01 7D 08 02 82 9E 14 01 04"));
        assert_eq!(sent(&mut e), ["08 02 80 01 45 08 02 80 E5"]);
        assert_eq!(
            events(&mut e),
            [cleared(
                Cause::MESSAGE_NOT_COMPATIBLE_WITH_STATE,
                None,
                ClearOrigin::Protocol
            )]
        );
    }

    #[test]
    fn states_compatible_within_a_phase_and_with_clearing() {
        let c = |a, b| super::super::call::compatible(CallState(a), CallState(b));
        assert!(c(4, 4) && c(3, 4) && c(8, 10) && c(10, 8) && c(10, 12) && c(1, 19));
        assert!(!c(10, 4) && !c(4, 10) && !c(10, 61));
    }

    // ---- channel selection for the peer's SETUP --------------------------------

    fn offer(side: Side, channel_ie: &str) -> (Engine, Vec<String>, Vec<Event>) {
        let (mut e, t0) = fixture(side, State::Active);
        e.handle_message(
            t0,
            hex(&format!("08 02 00 07 05 04 03 80 90 A2 {channel_ie}")),
        );
        let s = sent(&mut e);
        let ev = events(&mut e);
        (e, s, ev)
    }

    #[test]
    fn null_setup_on_busy_exclusive_channel_is_refused_with_44() {
        let (_, sent, _) = offer(Side::Network, "18 03 A9 83 81");
        assert_eq!(sent, ["08 02 80 07 5A 08 02 82 AC"]);
    }

    #[test]
    fn null_setup_on_missing_exclusive_channel_is_refused_with_82() {
        let (_, sent, _) = offer(Side::Network, "18 03 A9 83 89");
        assert_eq!(sent, ["08 02 80 07 5A 08 02 82 D2"]);
    }

    #[test]
    fn null_setup_preferred_busy_channel_gets_another() {
        let (e, sent, events) = offer(Side::Network, "18 03 A1 83 81");
        assert_eq!(sent, Vec::<String>::new());
        let Some(Event::Setup(setup)) = events.first() else {
            panic!("{events:?}");
        };
        assert_eq!((setup.channel, setup.exclusive), (2, false));
        assert_eq!(e.idle_channels(), [3]);
    }

    #[test]
    fn null_setup_any_channel_on_a_full_span_is_refused_with_34() {
        let (mut e, t0) = fixture(Side::Network, State::Active);
        e.shared.channels.set(2, ChannelState::Busy(CallId(8)));
        e.shared.channels.set(3, ChannelState::OutOfService);
        e.handle_message(t0, hex("08 02 00 07 05 04 03 80 90 A2 18 01 A3"));
        assert_eq!(sent(&mut e), ["08 02 80 07 5A 08 02 82 A2"]);
    }

    #[test]
    fn call_initiated_setup_for_our_channel_is_glare_and_the_network_wins() {
        let (mut e, t0) = fixture(Side::User, setup_sent());
        e.handle_message(t0, hex("08 02 00 07 05 04 03 80 90 A2 18 03 A9 83 81"));
        let events = events(&mut e);
        assert!(matches!(&events[..], [Event::Setup(s)] if s.channel == 1));
        assert_eq!(e.channel(CallId(1)), None);
        // The network refuses our SETUP: retried on channel 3 with a new CRV.
        e.handle_message(t0, hex("08 02 80 01 5A 08 02 82 AC"));
        assert_eq!(
            sent(&mut e),
            ["08 02 00 02 05 04 03 80 90 A2 18 03 A9 83 83 70 08 C1 35 35 35 32 30 30 30"]
        );
        assert_eq!(e.channel(CallId(1)), Some(3));
        assert_eq!(state(&e), Some(1));
        assert_eq!(e.counters().glare, 1);
    }
}
