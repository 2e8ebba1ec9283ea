//! The SIP leg: a user agent (RFC 3261) behind our own command/event interface.
//!
//! The call mapper talks to [`Endpoint`] with [`Command`]s and receives [`Event`]s; every
//! type it sees is defined here. Inside:
//!
//! ```text
//!   endpoint.rs   public types: Config, Command, Event, CallId, Media...
//!   transport.rs  tokio UDP/TCP/TLS sockets and the task that drives the user agent (I/O)
//!   tls.rs        rustls server and client configurations from PEM files
//!   ua.rs         transactions and dialogs, INVITE both ways, BYE, CANCEL, re-INVITE (sans-IO)
//!   options.rs    OPTIONS keepalive and peer up/down               (sans-IO, part of ua)
//!   register.rs   REGISTER client with refresh and back-off        (sans-IO, part of ua)
//!   message.rs    parse (rsipstack's parser) + mandatory-header checks, printing
//!   sdp.rs        SDP offer/answer for G.711 and telephone-event   (syntax, pure)
//!   auth.rs       digest answers to 401/407                        (pure)
//!   security.rs   trusted sources and per-source rate limit        (pure)
//! ```
//!
//! rsipstack (`=0.7.14`) provides the message parser, the digest hash and the challenge
//! parser. Its transaction and dialog layers are not used: they spawn tokio tasks per
//! transaction and read the wall clock, which rules out virtual-clock tests and the CPU
//! budget (40 µs per call), and they drop unparsable requests where RFC 3261 wants a 400.
//! See `ua.rs` for the state machines and `docs/sip.md` for the operator's view.
//!
//! Logging: whole messages only at DEBUG under `dialgate::sip::messages`; call events at
//! INFO; untrusted and rate-limited sources at WARN.

mod auth;
mod endpoint;
mod message;
mod options;
mod register;
mod sdp;
mod security;
mod tls;
mod transport;
mod ua;

pub use endpoint::{
    CallId, CallIds, Capabilities, Codec, Command, Config, Credentials, Direction, Endpoint, Event,
    Incoming, Keepalive, Listen, LocalMedia, Media, Outgoing, Party, Peer, PeerId, Provisional,
    RateLimit, Reason, ReasonProtocol, Registrar, Registration, Stats, Timers, Tls, Transport,
    Untrusted,
};
pub use tls::{DEFAULT_PORT as TLS_DEFAULT_PORT, TlsError};
pub use transport::StartError;
