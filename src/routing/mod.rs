//! Dial peers: YAML routing with Cisco IOS dial-peer semantics. Reference:
//! `reference/dial-peers.md`.

pub mod dial_peer;
pub mod pattern;
pub mod router;
pub mod table;
pub mod translation;

pub use router::{CallRequest, Idle, Origin, PeerState, Route, RouteError};
pub use table::{DialPeer, LoadErrors, RoutingTable, Tag};
