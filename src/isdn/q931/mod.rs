//! Q.931 basic call control: message and information-element codec, and the U/N call
//! states. Reference: `reference/q931-call-control.md`.
