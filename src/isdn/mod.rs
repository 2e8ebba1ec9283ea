//! ISDN PRI signalling on the D-channel: Q.921 (LAPD) and Q.931 basic call control.
//!
//! Both layers are sans-IO state machines. `lapd` carries Q.931 messages reliably over
//! the HDLC frames that [`crate::line`] delivers; `q931` runs the user-side and
//! network-side call states on top.

pub mod lapd;
pub mod q931;

pub mod dchannel;
pub mod pri;
pub use dchannel::DChannel;
pub use dchannel::{
    CallId, ClearOrigin, Command, Config, Counters, Direction, ErrorCounts, Event, MessageCounts,
    SetupIndication, SetupRequest,
};
pub use pri::Pri;
