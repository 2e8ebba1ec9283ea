//! The simulator: a software PBX at the far end of a span.
//!
//! So far it holds the line impairments ([`impair`]) that fault scenarios apply to the
//! far end's bitstream; the far end itself, its pacer and the scenario runner come with
//! the simulator issue.

pub mod impair;
