//! One PRI D-channel: Q.921 LAPD ([`lapd::Lapd`]) under Q.931 basic call control
//! (ITU-T Q.931 clause 5; reference `q931-call-control.md`), sans-IO.
//!
//! ```text
//!                 mapper (calls by CallId)
//!      handle_command(Command) │        ▲ poll_event() -> Event
//!                              ▼        │   Setup, Proceeding, Alerting, Progress,
//!   ┌──────────────────────────────────────┐   Connect, Cleared, LinkUp/LinkDown, Trace
//!   │ q931 call control: call references,  │
//!   │ U/N states, B-channels, RESTART,     │ ◀── poll_timeout / handle_timeout
//!   │ STATUS, error answers                │     (T301 T303 T305 T308 T309 T310 T313 T316)
//!   └──────────────────────────────────────┘
//!        DL-DATA-req │        ▲ DL-DATA-ind, DL-ESTABLISH/RELEASE-ind/conf
//!   ┌──────────────────────────────────────┐
//!   │ lapd: SAPI 0 / TEI 0, T200/T203      │
//!   └──────────────────────────────────────┘
//!      poll_transmit() │        ▲ handle_frame(&[u8])  (FCS already stripped)
//!                      ▼        │ handle_link_up / handle_link_down (layer 1)
//!                  line HDLC
//! ```
//!
//! Layer 1 down (a span alarm) is the project's stricter policy on top of Q.931
//! 5.8.9: every call is cleared towards the upper layer with cause 38 and every
//! B-channel freed at once; the data link starts again from scratch when layer 1
//! returns. A data-link failure with layer 1 still up follows the reference: calls
//! not yet active are cleared (cause 41), active ones wait T309 for the link.
//!
//! After any `handle_*`, drain [`DChannel::poll_transmit`] and
//! [`DChannel::poll_event`], then re-read [`DChannel::poll_timeout`].

use std::time::Instant;

use bytes::Bytes;

use super::lapd::{self, Lapd, Side};
use super::q931::control::Engine;
use super::q931::ie::{
    BearerCapability, ChannelId, Layer1Protocol, PartyNumber, ProgressDescription,
    ProgressIndicator,
};
use super::q931::timer::{TimerCounts, TimerValues};
use super::q931::{CallRef, Cause, Location, Message, MessageType, Variant};

/// Our own identifier for one call, stable for its whole life (the call reference
/// changes on a glare retry and is reused after the call ends).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct CallId(pub u32);

/// Per-span configuration of a [`DChannel`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Config {
    /// User side (the gateway as a PBX) or network side (the gateway as the switch).
    pub side: Side,
    /// Switch variant: what the messages we build look like.
    pub variant: Variant,
    /// B-channels in service, as channel numbers on the wire (T1 1-23; E1 timeslots
    /// 1-15 and 17-31, or 1-30 for equipment that numbers them logically).
    pub channels: Vec<u8>,
    /// User side: request the channel of an outgoing call as exclusive (true) or
    /// preferred. The network side always offers exclusive channels.
    pub exclusive: bool,
    /// Whether this side sends SABME when layer 1 comes up (both do on a PRI).
    pub initiate_establishment: bool,
    /// Whether to RESTART the idle B-channels each time the data link comes up.
    pub restart_on_link_up: bool,
    /// Q.931 timer values.
    pub timers: TimerValues,
    /// Location put in the causes and progress indicators we send.
    pub location: Location,
    /// Whether to report every message sent and received as [`Event::Trace`].
    pub trace: bool,
    /// Policy: on a DISCONNECT carrying PI 1 or 8 (an announcement or tone in
    /// band), report [`Event::Disconnect`] and keep the B-channel connected until
    /// the upper layer sends [`Command::Release`] (or the peer releases), instead
    /// of releasing at once. The peer's T305/T306 bound the wait.
    pub hold_inband_disconnect: bool,
    /// Q.921 parameters (T200, T203, N200, k); `side` and `initiate_establishment`
    /// are taken from this configuration.
    pub lapd: lapd::Config,
}

impl Config {
    /// T1 PRI channel numbers 1-23 (channel 24 carries the D-channel).
    pub const T1_CHANNELS: [u8; 23] = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    ];

    /// A span with the given B-channels and the reference's defaults for `side`:
    /// user-side location 0 (user), network-side location 2 (public network serving
    /// the local user), exclusive channel requests, no RESTART at link up, no trace.
    pub fn new(side: Side, variant: Variant, channels: Vec<u8>) -> Self {
        let (timers, location) = match side {
            Side::User => (TimerValues::user(), Location::USER),
            Side::Network => (TimerValues::network(), Location::PUBLIC_LOCAL),
        };
        Self {
            side,
            variant,
            channels,
            exclusive: true,
            initiate_establishment: true,
            restart_on_link_up: false,
            timers,
            location,
            trace: false,
            hold_inband_disconnect: false,
            lapd: lapd::Config::new(side),
        }
    }

    /// A T1 span (channels 1-23).
    pub fn t1(side: Side, variant: Variant) -> Self {
        Self::new(side, variant, Self::T1_CHANNELS.to_vec())
    }

    /// An E1 span numbered by timeslot (1-15, 17-31).
    pub fn e1(side: Side, variant: Variant) -> Self {
        Self::new(side, variant, (1..=15).chain(17..=31).collect())
    }
}

/// What the upper layer asks to place a call.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SetupRequest {
    /// Called party number.
    pub called: PartyNumber,
    /// Calling party number (type, plan, presentation and screening included).
    pub calling: Option<PartyNumber>,
    /// Redirecting number.
    pub redirecting: Option<PartyNumber>,
    /// Bearer capability; `None` = speech with the variant's law.
    pub bearer: Option<BearerCapability>,
    /// A particular B-channel; `None` = any idle one.
    pub channel: Option<u8>,
    /// Exclusive or preferred; `None` = the configured mode (network side: always
    /// exclusive).
    pub exclusive: Option<bool>,
    /// Progress indicators to send (e.g. PI 3 for a call from SIP).
    pub progress: Vec<ProgressDescription>,
    /// Display text (calling name); coded as the variant wants it.
    pub display: Option<String>,
}

impl SetupRequest {
    /// A voice call to `called` with nothing else set.
    pub fn new(called: PartyNumber) -> Self {
        Self {
            called,
            calling: None,
            redirecting: None,
            bearer: None,
            channel: None,
            exclusive: None,
            progress: Vec::new(),
            display: None,
        }
    }
}

/// A call offered by the peer (SETUP received and accepted for processing).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SetupIndication {
    /// Our id for the call.
    pub call: CallId,
    /// The call reference, for logs.
    pub call_ref: CallRef,
    /// Called party number.
    pub called: Option<PartyNumber>,
    /// Calling party number.
    pub calling: Option<PartyNumber>,
    /// Redirecting number.
    pub redirecting: Option<PartyNumber>,
    /// Bearer capability as received.
    pub bearer: BearerCapability,
    /// G.711 law of the B-channel: from the bearer, or the variant's when absent.
    pub law: Layer1Protocol,
    /// The B-channel chosen for the call.
    pub channel: u8,
    /// Whether the peer asked for that channel exclusively.
    pub exclusive: bool,
    /// Progress indicators in the SETUP.
    pub progress: Vec<ProgressIndicator>,
    /// Display text (calling name), if any.
    pub display: Option<String>,
    /// Sending complete was present.
    pub sending_complete: bool,
}

/// A request from the upper layer (the call mapper).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// Place a call; `call` comes from [`DChannel::new_call_id`].
    Setup {
        /// The id the events for this call will carry.
        call: CallId,
        /// What to call.
        request: Box<SetupRequest>,
    },
    /// Send CALL PROCEEDING for an incoming call.
    Proceeding {
        /// The call.
        call: CallId,
    },
    /// Send ALERTING, with a progress indicator (PI 8 when sending early media).
    Alerting {
        /// The call.
        call: CallId,
        /// Progress description to include.
        progress: Option<ProgressDescription>,
    },
    /// Send PROGRESS (CALL PROCEEDING first if nothing was answered yet).
    Progress {
        /// The call.
        call: CallId,
        /// Progress description.
        progress: ProgressDescription,
    },
    /// Answer an incoming call (CONNECT).
    Connect {
        /// The call.
        call: CallId,
        /// Connected number to include.
        connected: Option<PartyNumber>,
    },
    /// Reject or clear a call with a cause: RELEASE COMPLETE before any answer to
    /// the peer's SETUP, DISCONNECT otherwise.
    Release {
        /// The call.
        call: CallId,
        /// The cause.
        cause: Cause,
        /// Progress indicator for the DISCONNECT (PI 8 while an announcement
        /// plays in band, e.g. busy tone).
        progress: Option<ProgressDescription>,
    },
    /// Send STATUS ENQUIRY for a call.
    StatusEnquiry {
        /// The call.
        call: CallId,
    },
    /// RESTART the given B-channels (all of them when empty); their calls are
    /// cleared with cause 41.
    Restart {
        /// Channel numbers.
        channels: Vec<u8>,
    },
}

/// Who ended a call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ClearOrigin {
    /// The peer cleared (DISCONNECT, RELEASE, RELEASE COMPLETE, STATUS).
    Peer,
    /// The upper layer asked ([`Command::Release`]).
    Local,
    /// A Q.931 timer expired (T301, T303, T310, T313, T309).
    Timer,
    /// The data link or layer 1 failed.
    Link,
    /// A RESTART (ours or the peer's) covered the call's channel.
    Restart,
    /// We refused the call or cleared it on a protocol error (channel, state).
    Protocol,
}

/// Direction of a traced message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Direction {
    /// Sent by us (`TX ->`).
    Transmit,
    /// Received (`RX <-`).
    Receive,
}

/// An indication to the upper layer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// The D-channel is up and, when configured, its start-up RESTART is done:
    /// calls may be placed.
    LinkUp,
    /// The D-channel went down.
    LinkDown,
    /// An incoming call.
    Setup(Box<SetupIndication>),
    /// CALL PROCEEDING for our call, on this channel.
    Proceeding {
        /// The call.
        call: CallId,
        /// The B-channel in use.
        channel: u8,
    },
    /// ALERTING for our call.
    Alerting {
        /// The call.
        call: CallId,
        /// The B-channel in use.
        channel: u8,
        /// Progress indicators (PI 1 or 8: listen on the B-channel).
        progress: Vec<ProgressIndicator>,
    },
    /// PROGRESS for our call.
    Progress {
        /// The call.
        call: CallId,
        /// Progress indicators.
        progress: Vec<ProgressIndicator>,
        /// Cause, when the PROGRESS carries one.
        cause: Option<Cause>,
    },
    /// Our call was answered.
    Connect {
        /// The call.
        call: CallId,
        /// The B-channel in use.
        channel: u8,
        /// Connected number, if the peer sent one.
        connected: Option<PartyNumber>,
    },
    /// The peer disconnected with an in-band announcement (PI 1 or 8), with
    /// [`Config::hold_inband_disconnect`]: the B-channel stays connected so the
    /// caller can hear it; [`Command::Release`] ends the call. [`Event::Cleared`]
    /// follows as for any call.
    Disconnect {
        /// The call.
        call: CallId,
        /// The peer's cause.
        cause: Cause,
        /// Its location.
        location: Option<Location>,
        /// The progress indicators of the DISCONNECT.
        progress: Vec<ProgressIndicator>,
    },
    /// The call is over for the upper layer (exactly one per call). Q.931 clearing
    /// may still finish on the wire; the channel is freed when it has.
    Cleared {
        /// The call.
        call: CallId,
        /// The cause (the peer's, or ours).
        cause: Cause,
        /// The location of the peer's cause.
        location: Option<Location>,
        /// Who ended it.
        origin: ClearOrigin,
    },
    /// RESTART of these channels went unanswered: they are out of service (alarm).
    ChannelsOutOfService {
        /// Channel numbers.
        channels: Vec<u8>,
    },
    /// A message sent or received (with [`Config::trace`]), for `line watch`.
    Trace {
        /// Sent or received.
        direction: Direction,
        /// The decoded message; `Display` prints it like `debug isdn q931`.
        message: Box<Message>,
    },
}

impl Event {
    /// The call the event is about, if it is about one.
    pub fn call(&self) -> Option<CallId> {
        match self {
            Event::Setup(s) => Some(s.call),
            Event::Proceeding { call, .. }
            | Event::Alerting { call, .. }
            | Event::Progress { call, .. }
            | Event::Connect { call, .. }
            | Event::Disconnect { call, .. }
            | Event::Cleared { call, .. } => Some(*call),
            _ => None,
        }
    }
}

/// Q.931 messages counted by type (one direction).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MessageCounts {
    by_type: [u64; 128],
    maintenance: u64,
}

impl Default for MessageCounts {
    fn default() -> Self {
        Self {
            by_type: [0; 128],
            maintenance: 0,
        }
    }
}

impl MessageCounts {
    /// Call-control messages (discriminator `08`) of `message_type`.
    pub fn get(&self, message_type: MessageType) -> u64 {
        self.by_type[usize::from(message_type.0 & 0x7F)]
    }

    /// Maintenance (SERVICE) messages.
    pub fn maintenance(&self) -> u64 {
        self.maintenance
    }

    /// All messages.
    pub fn total(&self) -> u64 {
        self.by_type.iter().sum::<u64>() + self.maintenance
    }

    pub(crate) fn bump(&mut self, message: &Message) {
        let count = if message.protocol.is_maintenance() {
            &mut self.maintenance
        } else {
            &mut self.by_type[usize::from(message.message_type.0 & 0x7F)]
        };
        *count = count.wrapping_add(1);
    }
}

/// Received messages that were in error, by kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ErrorCounts {
    /// Too short, foreign discriminator or bad call reference: dropped silently.
    pub dropped: u64,
    /// Unknown message type (cause 97).
    pub unknown_message_type: u64,
    /// Mandatory element missing or unrecognized comprehension-required (cause 96).
    pub mandatory_ie_missing: u64,
    /// Invalid element contents (cause 100).
    pub invalid_ie_contents: u64,
    /// Message for a call reference we do not know (cause 81 and friends).
    pub unknown_call_reference: u64,
    /// Message not expected in the call's state (cause 101) or ignored there.
    pub unexpected_message: u64,
    /// SETUP we refused for its channel (causes 6, 34, 44, 82).
    pub channel_refused: u64,
    /// Upper-layer commands for unknown calls or invalid in the call's state.
    pub invalid_command: u64,
    /// Messages we failed to build (invalid digits from the upper layer).
    pub encode_failed: u64,
}

/// Call-control counters for `show isdn` and tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counters {
    /// Messages received, by type.
    pub received: MessageCounts,
    /// Messages sent, by type.
    pub sent: MessageCounts,
    /// Received errors, by kind.
    pub errors: ErrorCounts,
    /// Timer expiries, by timer.
    pub timer_expiries: TimerCounts,
    /// Calls placed by us.
    pub calls_outgoing: u64,
    /// Calls offered by the peer and accepted for processing.
    pub calls_incoming: u64,
    /// Outgoing calls that lost their channel to the peer's SETUP (glare).
    pub glare: u64,
    /// RESTART messages received.
    pub restarts_received: u64,
    /// MDL-ERROR indications from layer 2.
    pub mdl_errors: u64,
}

/// One D-channel: LAPD plus Q.931 call control for a span. See the module docs.
#[derive(Debug)]
pub struct DChannel {
    config: lapd::Config,
    lapd: Option<Lapd>,
    engine: Engine,
}

impl DChannel {
    /// A D-channel with layer 1 down; call [`DChannel::handle_link_up`] when the
    /// span is in frame.
    pub fn new(config: Config) -> Self {
        let lapd = lapd::Config {
            side: config.side,
            initiate_establishment: config.initiate_establishment,
            ..config.lapd.clone()
        };
        Self {
            config: lapd,
            lapd: None,
            engine: Engine::new(config),
        }
    }

    /// A fresh id for [`Command::Setup`].
    pub fn new_call_id(&mut self) -> CallId {
        self.engine.new_call_id()
    }

    /// Layer 1 came up: start the data link (SABME when configured to initiate).
    pub fn handle_link_up(&mut self, now: Instant) {
        if self.lapd.is_none() {
            self.lapd = Some(Lapd::new(self.config.clone(), now));
            self.engine.handle_physical_up();
            self.pump(now);
        }
    }

    /// Layer 1 went down: drop the data link, clear every call with cause 38 and
    /// free every channel.
    pub fn handle_link_down(&mut self, now: Instant) {
        self.lapd = None;
        self.engine.handle_physical_down(now);
    }

    /// One received LAPD frame (address to end of information, FCS removed).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        if let Some(lapd) = &mut self.lapd {
            lapd.handle_frame(now, frame);
            self.pump(now);
        }
    }

    /// One request from the upper layer.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.engine.handle_command(now, command);
        self.pump(now);
    }

    /// Runs every timer that has expired by `now`; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(lapd) = &mut self.lapd {
            lapd.handle_timeout(now);
        }
        self.engine.handle_timeout(now);
        self.pump(now);
    }

    /// The next LAPD frame for the HDLC layer.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.lapd.as_mut()?.poll_transmit()
    }

    /// The next indication for the upper layer.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.engine.poll_event()
    }

    /// The next deadline at which [`DChannel::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lapd = self.lapd.as_ref().and_then(Lapd::poll_timeout);
        match (lapd, self.engine.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The call-control counters.
    pub fn counters(&self) -> &Counters {
        self.engine.counters()
    }

    /// The data link, while layer 1 is up (state, counters).
    pub fn lapd(&self) -> Option<&Lapd> {
        self.lapd.as_ref()
    }

    /// The Q.931 call state of a call (U/N state number), if it exists.
    pub fn call_state(&self, call: CallId) -> Option<u8> {
        self.engine.call_state(call)
    }

    /// The call reference a call uses now, for logs.
    pub fn call_ref(&self, call: CallId) -> Option<CallRef> {
        self.engine.call_ref(call)
    }

    /// The B-channel of a call, once it has one.
    pub fn channel(&self, call: CallId) -> Option<u8> {
        self.engine.channel(call)
    }

    /// Calls in the table (including ones still clearing on the wire).
    pub fn call_count(&self) -> usize {
        self.engine.call_count()
    }

    /// Channels free for a new call.
    pub fn idle_channels(&self) -> Vec<u8> {
        self.engine.idle_channels()
    }

    /// Channels out of service (unanswered RESTART).
    pub fn out_of_service_channels(&self) -> Vec<u8> {
        self.engine.out_of_service_channels()
    }

    // Moves primitives between the layers until neither has anything for the
    // other: Q.931's replies go down before LAPD's transmit queue is drained, so a
    // reply I frame carries the acknowledgement (see `Lapd::poll_transmit`).
    fn pump(&mut self, now: Instant) {
        let Some(lapd) = &mut self.lapd else {
            return;
        };
        loop {
            let mut moved = false;
            while let Some(event) = lapd.poll_event() {
                moved = true;
                match event {
                    lapd::Event::DataIndication(message) => {
                        self.engine.handle_message(now, message);
                    }
                    lapd::Event::EstablishConfirm | lapd::Event::EstablishIndication => {
                        self.engine.handle_link_established(now);
                    }
                    lapd::Event::ReleaseIndication | lapd::Event::ReleaseConfirm => {
                        self.engine.handle_link_released(now);
                    }
                    lapd::Event::UnitDataIndication(_) => {
                        // Q.931 on a PRI uses acknowledged transfer only.
                        self.engine.count_dropped();
                    }
                    lapd::Event::MdlErrorIndication(_) => self.engine.count_mdl_error(),
                }
            }
            while let Some(message) = self.engine.poll_message() {
                moved = true;
                lapd.handle_command(now, lapd::Command::DataRequest(message));
            }
            if !moved {
                break;
            }
        }
    }
}

/// The channel identification the upper layer's request turns into.
pub(crate) fn requested_channel(channel: u8, exclusive: bool) -> ChannelId {
    if exclusive {
        ChannelId::exclusive(channel)
    } else {
        ChannelId::preferred(channel)
    }
}
