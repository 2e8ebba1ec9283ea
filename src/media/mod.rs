//! Media: B-channel G.711 samples ↔ RTP, DTMF and tones.
//!
//! ```text
//!   span stack thread ── LineEnd (lock-free queues) ──▶ Engine (tokio: sockets, 1 ms tick)
//!                                                         └─ Stream per call (sans-IO)
//!                                                              ├─ jitter::Playout
//!                                                              ├─ detect::DtmfDetector
//!                                                              └─ rtp, g711, tone
//! ```
//!
//! The DSP building blocks are sans-IO and allocation-free per sample:
//!
//! - [`g711`]: mu-law / A-law tables, encode, decode and law conversion;
//! - [`tone`]: call-progress tones per tone plan (us, uk, eu) and DTMF digit strings;
//! - [`detect`]: Goertzel tone levels and the in-band DTMF detector.
//!
//! Per call, [`stream::Stream`] is the sans-IO media state machine (RTP/RTCP, jitter
//! buffer, RFC 4733, tones); [`bridge`] is its tokio shell ([`Engine`], [`Leg`],
//! [`LineEnd`]). See `docs/media.md`.

pub mod bridge;
pub mod detect;
pub mod g711;
pub mod jitter;
mod ring;
pub mod rtp;
pub mod stream;
pub mod tone;

pub use bridge::{Config, Engine, Leg, LineEnd, MediaError, MediaEvent, ShardStats};
pub use stream::{DtmfRelay, Event, LegStats, Remote, Stream, StreamConfig, Transmit};
