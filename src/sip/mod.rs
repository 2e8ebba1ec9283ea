//! The SIP leg: a user agent behind our own command/event interface (not built yet; see
//! the SIP issue).
