//! Q.850 causes ↔ SIP final responses (RFC 3398; reference `interworking.md` §6), and
//! which failures hunt to the next dial peer (§5.3, policy).
//!
//! ```text
//!   PRI refuses a SIP call:   cause ─▶ override? ─▶ class default ─▶ §6.1 ─▶ 4xx/5xx/6xx
//!   SIP refuses a PRI call:   status ─▶ Reason: Q.850? ─▶ override? ─▶ §6.2 ─▶ cause
//! ```
//!
//! Per-peer overrides (`cause_map:` in a VoIP dial peer, Cisco `set pstn-cause` /
//! `set sip-status`) are consulted before the tables.

use crate::isdn::q931::{Cause, Location};
use crate::routing::table::CauseOverrides;

/// The SIP final response for a cause from the PRI (§6.1), for an unanswered call
/// that arrived by SIP. `location` lets a user-side 21 become `603 Decline`.
pub fn sip_status(cause: Cause, location: Option<Location>, overrides: &CauseOverrides) -> u16 {
    if let Some(&status) = overrides.q850_to_sip.get(&cause.0) {
        return status;
    }
    let by_user = location == Some(Location::USER);
    match cause.0 {
        1..=3 => 404,
        // 16 before an answer needs a final response anyway: policy 480 (§6.1 (*)).
        16 => 480,
        17 => 486,
        18 => 408,
        19 | 20 => 480,
        21 if by_user => 603,
        21 => 403,
        22 | 23 => 410,
        26 => 404,
        27 => 502,
        28 => 484,
        29 => 501,
        31 => 480,
        34 | 38 | 41 | 42 | 47 => 503,
        55 | 57 | 87 => 403,
        58 | 88 => 503,
        65 | 70 => 488,
        79 => 501,
        102 => 504,
        111 | 127 => 500,
        // Not in the table: the default of the cause's class, then the table.
        value => match value {
            0..=31 => 480,
            32..=47 => 503,
            48..=63 => 503,
            64..=79 => 501,
            _ => 500,
        },
    }
}

/// The cause for a SIP final response to our INVITE (§6.2). A `Reason: Q.850`
/// cause, when the response carried one, wins over every table.
pub fn cause_for_status(status: u16, reason: Option<u8>, overrides: &CauseOverrides) -> Cause {
    if let Some(cause) = reason.filter(|c| (1..=127).contains(c)) {
        return Cause(cause);
    }
    if let Some(&cause) = overrides.sip_to_q850.get(&status) {
        return Cause(cause);
    }
    Cause(match status {
        400 => 41,
        401 | 402 | 403 | 407 => 21,
        404 => 1,
        405 => 63,
        406 => 79,
        408 => 102,
        410 => 22,
        413 | 414 | 416 | 420 | 421 | 423 => 127,
        415 => 79,
        480 => 18,
        481 => 41,
        482 | 483 => 25,
        484 => 28,
        485 => 1,
        486 => 17,
        // 487 is the answer to our own CANCEL: the cause is the one we cleared with.
        487 => 16,
        488 | 606 => 31,
        500 => 41,
        501 => 79,
        502 => 38,
        503 => 41,
        504 => 102,
        505 | 513 => 127,
        600 => 17,
        603 => 21,
        604 => 1,
        _ => 31,
    })
}

/// The location to put in the DISCONNECT for a SIP refusal: a 6xx is the user's own
/// decision; anything else is the network's (policy: private network serving the
/// local user).
pub fn location_for_status(status: u16) -> Location {
    if status >= 600 {
        Location::USER
    } else {
        Location::PRIVATE_LOCAL
    }
}

/// Whether a SIP final response (or a timeout, 408; a transport failure, 503) lets
/// the call hunt to the next dial peer (§5.3): resource and network failures do;
/// answers another route cannot change (busy, not found, rejected, any 6xx) do not.
pub fn status_hunts(status: u16) -> bool {
    matches!(status, 408 | 500..=599)
}

/// Whether a cause from a span lets the call hunt to another span or dial peer
/// (§5.3): resource and network failures.
pub fn cause_hunts(cause: Cause) -> bool {
    matches!(cause.0, 3 | 27 | 34 | 38 | 41 | 42 | 44 | 47 | 102 | 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> CauseOverrides {
        CauseOverrides::default()
    }

    /// §6.1, row by row.
    #[test]
    fn q850_to_sip_table_rows() {
        let rows: &[(u8, u16)] = &[
            (1, 404),
            (2, 404),
            (3, 404),
            (16, 480),
            (17, 486),
            (18, 408),
            (19, 480),
            (20, 480),
            (21, 403),
            (22, 410),
            (23, 410),
            (26, 404),
            (27, 502),
            (28, 484),
            (29, 501),
            (31, 480),
            (34, 503),
            (38, 503),
            (41, 503),
            (42, 503),
            (47, 503),
            (55, 403),
            (57, 403),
            (58, 503),
            (65, 488),
            (70, 488),
            (79, 501),
            (87, 403),
            (88, 503),
            (102, 504),
            (111, 500),
            (127, 500),
        ];
        for &(cause, status) in rows {
            assert_eq!(
                sip_status(Cause(cause), None, &none()),
                status,
                "cause {cause}"
            );
        }
    }

    /// Causes outside the table go by the default of their class.
    #[test]
    fn q850_to_sip_unlisted_causes_use_their_class_default() {
        let rows: &[(u8, u16)] = &[
            (6, 480),
            (44, 503),
            (50, 503),
            (66, 501),
            (81, 500),
            (96, 500),
            (100, 500),
            (120, 500),
        ];
        for &(cause, status) in rows {
            assert_eq!(
                sip_status(Cause(cause), None, &none()),
                status,
                "cause {cause}"
            );
        }
    }

    #[test]
    fn q850_21_from_the_user_is_603_decline() {
        assert_eq!(sip_status(Cause(21), Some(Location::USER), &none()), 603);
        assert_eq!(
            sip_status(Cause(21), Some(Location::PUBLIC_LOCAL), &none()),
            403
        );
    }

    /// §6.2, row by row.
    #[test]
    fn sip_to_q850_table_rows() {
        let rows: &[(u16, u8)] = &[
            (400, 41),
            (401, 21),
            (402, 21),
            (403, 21),
            (404, 1),
            (405, 63),
            (406, 79),
            (407, 21),
            (408, 102),
            (410, 22),
            (413, 127),
            (414, 127),
            (415, 79),
            (416, 127),
            (420, 127),
            (421, 127),
            (423, 127),
            (480, 18),
            (481, 41),
            (482, 25),
            (483, 25),
            (484, 28),
            (485, 1),
            (486, 17),
            (487, 16),
            (488, 31),
            (500, 41),
            (501, 79),
            (502, 38),
            (503, 41),
            (504, 102),
            (505, 127),
            (513, 127),
            (600, 17),
            (603, 21),
            (604, 1),
            (606, 31),
            (499, 31),
            (599, 31),
        ];
        for &(status, cause) in rows {
            assert_eq!(
                cause_for_status(status, None, &none()),
                Cause(cause),
                "status {status}"
            );
        }
    }

    #[test]
    fn reason_header_cause_wins_over_the_table_and_overrides() {
        let mut o = none();
        o.sip_to_q850.insert(486, 21);
        assert_eq!(cause_for_status(486, Some(34), &o), Cause(34));
        assert_eq!(cause_for_status(486, None, &o), Cause(21));
        // A Reason cause out of range is ignored.
        assert_eq!(cause_for_status(486, Some(0), &none()), Cause(17));
    }

    #[test]
    fn per_peer_override_wins_over_the_q850_table() {
        let mut o = none();
        o.q850_to_sip.insert(17, 600);
        assert_eq!(sip_status(Cause(17), None, &o), 600);
        assert_eq!(sip_status(Cause(18), None, &o), 408);
    }

    #[test]
    fn hunting_statuses_are_timeouts_and_server_failures_only() {
        for s in [408, 500, 502, 503, 504] {
            assert!(status_hunts(s), "{s}");
        }
        for s in [403, 404, 484, 485, 486, 480, 600, 603, 604] {
            assert!(!status_hunts(s), "{s}");
        }
    }

    #[test]
    fn hunting_causes_are_resource_and_network_failures() {
        for c in [3, 27, 34, 38, 41, 42, 44, 47, 102, 127] {
            assert!(cause_hunts(Cause(c)), "{c}");
        }
        for c in [1, 16, 17, 18, 19, 21, 28, 31] {
            assert!(!cause_hunts(Cause(c)), "{c}");
        }
    }

    #[test]
    fn six_hundreds_are_located_at_the_user() {
        assert_eq!(location_for_status(603), Location::USER);
        assert_eq!(location_for_status(486), Location::PRIVATE_LOCAL);
    }
}
