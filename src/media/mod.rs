//! Media: B-channel G.711 samples ↔ RTP, DTMF and tones.
//!
//! The DSP building blocks are sans-IO and allocation-free per sample:
//!
//! - [`g711`]: mu-law / A-law tables, encode, decode and law conversion;
//! - [`tone`]: call-progress tones per tone plan (us, uk, eu) and DTMF digit strings;
//! - [`detect`]: Goertzel tone levels and the in-band DTMF detector.

pub mod detect;
pub mod g711;
pub mod tone;
