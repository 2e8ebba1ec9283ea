//! dialgate: an ISDN PRI (T1/E1) to SIP gateway.
//!
//! The crate is one package whose folders are its layers. Calls flow upwards from the
//! wire and meet the SIP side in the mapper:
//!
//! ```text
//!   serial / TCP byte stream (the line contract, docs/architecture.md)
//!        │
//!   line      bits → frames → timeslots; T1 ESF/SF and E1 CRC-4 framing, alarms, HDLC
//!        │                                   (sans-IO, except line::transport)
//!   isdn      Q.921 LAPD and Q.931 call control on the D-channel (sans-IO)
//!        │
//!   mapper ◀──── routing (dial peers, pure) ────▶ sip (user agent)
//!        │
//!   media     B-channel G.711 ↔ RTP
//! ```
//!
//! Every protocol layer is a sans-IO state machine: it is handed `now` and bytes and
//! hands back bytes, events and its next deadline (`handle_*` / `poll_*`). Threads,
//! sockets and clocks live only in the thin shells: [`line::transport`] (the driver
//! thread per span) and [`app`] (wiring). See `docs/architecture.md` for the seams.
//!
//! The simulator ([`sim`]) is a software PBX that speaks the same bitstream, so the
//! framers and HDLC are always in the loop of the integration tests.

pub mod app;
pub mod cli;
pub mod config;
pub mod isdn;
pub mod line;
pub mod mapper;
pub mod media;
pub mod routing;
pub mod sim;
pub mod sip;
mod udp_batch;

/// The gateway's allocator. Declared in the library, not the binary, so the tests and
/// benchmarks run on the allocator the gateway runs on.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
