//! The call mapper: Q.931 call events ↔ SIP dialogs, per `reference/interworking.md`
//! (not built yet; see the call-mapper issue).
