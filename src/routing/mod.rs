//! Dial peers: YAML routing with Cisco IOS dial-peer semantics
//! (`reference/dial-peers.md`; user guide `docs/dial-peers.md`).
//!
//! ```text
//!   dial-peers/*.yaml ─▶ table::RoutingTable::load ─▶ RoutingTable (immutable, compiled)
//!                                                      │  route(CallRequest, &PeerState)
//!   reload::LiveTable (ArcSwap) ◀─ reload::watch ◀─ SIGHUP / file change
//!                                                      ▼
//!          Route { inbound peer, incoming translations, hunt list of Attempt }
//! ```
//!
//! * [`pattern`]: destination-pattern syntax and the explicit-digit count (§2).
//! * [`translation`]: voice translation rules and profiles (§6).
//! * [`dial_peer`]: the YAML schema, one key per IOS command (§1).
//! * [`table`]: loading, validation with `file:line:column` errors, compilation.
//! * [`router`]: inbound selection (§4), outbound hunt (§3), digit manipulation (§5).
//! * [`explain`] and [`lint`]: `dialgate dialplan` and `dialgate check`.
//! * [`reload`]: the hot-reload shell for the daemon.
//!
//! Everything but [`reload`] and [`command`] is pure: no clock, no threads, no I/O
//! beyond reading the files at load. Runtime state (calls up, keepalive) comes in
//! through [`PeerState`].

pub mod command;
pub mod dial_peer;
pub mod explain;
pub mod lint;
pub mod pattern;
pub mod reload;
pub mod router;
pub mod table;
pub mod translation;
mod trie;

pub use router::{CallRequest, Idle, Origin, PeerState, Route, RouteError};
pub use table::{DialPeer, LoadErrors, RoutingTable, Tag};

/// The JSON Schema of a dial-peer file, as committed in `docs/dial-peers.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(dial_peer::File);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
