//! The simulator: a software PBX at the far end of a span (not built yet; see the
//! simulator issue).
