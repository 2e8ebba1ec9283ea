//! The simulator: a software PBX at the far end of a span.
//!
//! It speaks the line contract (`spec/line-format.md`) with the project's own line and
//! ISDN layers in the far-end role, runs scripted scenarios and reports every check as
//! `ok:` or `FAIL:`.
//!
//! ```text
//!   scenario (YAML) ─▶ Pbx (sans-IO): line::Span + isdn::DChannel + call scripts + Impair
//!                         │ line bytes in/out, poll_timeout
//!          ┌──────────────┴───────────────┐
//!   harness::Harness (virtual clock,    port::run (real-time pacer thread over
//!   seeded faults, in-process)          tcp / tcp-listen / pty; `dialgate sim`)
//! ```
//!
//! - [`scenario`]: the YAML schema (`docs/simulator.md`).
//! - [`pbx`]: the far end itself, sans-IO like every layer.
//! - [`harness`]: a `Pbx` against any other sans-IO line endpoint on a virtual clock.
//! - [`port`]: the same `Pbx` on a real transport, as the clock master.
//! - [`impair`]: seeded bit errors, slips, loss of signal and AIS.
//! - `bchannel`: the tone and DTMF a call sends and listens for (the media layer's DSP).

mod bchannel;
pub mod harness;
pub mod impair;
pub mod pbx;
pub mod port;
pub mod scenario;

pub use harness::{Harness, LineEndpoint};
pub use pbx::{Pbx, PbxConfig, Report};
pub use port::{SimLine, SimOptions, run};
pub use scenario::Scenario;
