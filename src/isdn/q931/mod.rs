//! Q.931 basic call control: the message and information-element codec
//! (ITU-T Q.931 clauses 3-5; reference `reference/q931-call-control.md`). The U/N
//! call states will sit beside it in `call.rs`.
//!
//! ```text
//!   octets from LAPD (DL-DATA-ind)
//!        │ Message::decode ──▶ Err(DecodeError): .cause() None = drop, else answer
//!        ▼                      with STATUS / RELEASE COMPLETE (.call_ref(), .cause_ie())
//!   Message { protocol, call_ref, message_type, ies: [Ie; n] }   raw, byte-exact
//!        │ typed views: message.bearer_capability(), .channel_id(), .cause(),
//!        │              .called_number(), Setup::from_message(&message) ...
//!        ▼
//!   call control ── builders: Message::setup / alerting / disconnect / restart ... ──▶ encode()
//! ```
//!
//! * [`message`]: header, call reference, message types, [`Message`] and its checks.
//! * [`ie`]: element framing, codesets and shifts, and the typed elements.
//! * [`cause`]: Q.850 cause values and locations.
//! * [`variant`]: switch-variant differences in what we send.
//! * `print`: the `debug isdn q931`-style [`std::fmt::Display`] of a [`Message`].

pub mod cause;
pub mod ie;
pub mod message;
mod print;
pub mod variant;

pub use cause::{Cause, Location};
pub use ie::{Codeset, EncodeError, Ie, IeCodec, IeError, IeId, Shift};
pub use message::{CallRef, DecodeError, Message, MessageType, ProtocolDiscriminator, Setup};
pub use variant::Variant;

// Call control (U/N states, call-reference table, B-channels, timers) on top of
// the codec; driven by `isdn::DChannel`.
pub(crate) mod call;
pub(crate) mod channel;
pub(crate) mod control;
pub mod timer;

pub use timer::{Timer, TimerCounts, TimerValues};
