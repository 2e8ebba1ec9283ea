//! Dial peers: YAML routing with Cisco IOS dial-peer semantics. Reference:
//! `reference/dial-peers.md`.
