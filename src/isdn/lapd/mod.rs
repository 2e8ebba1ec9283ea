//! Q.921 (LAPD) data link: SAPI 0 / TEI 0 point-to-point, modulo-128 multiple-frame
//! operation. Reference: `reference/q921-lapd.md`.
