//! Q.931 5.8 error handling at the codec level (reference section 11): which
//! broken messages are dropped, which are answered with which cause, and that
//! unknown and shifted elements survive.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use dialgate::isdn::q931::ie::{Codeset, IeError};
use dialgate::isdn::q931::{
    CallRef, Cause, DecodeError, Ie, IeId, Location, Message, MessageType, ProtocolDiscriminator,
    Setup,
};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn decode_err(s: &str) -> DecodeError {
    Message::decode(&hex(s)).expect_err(s)
}

/// Accepted with all checks and re-encoded byte for byte.
fn accepted(s: &str) -> Message {
    let bytes = hex(s);
    let m = Message::decode(&bytes).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(m.encode(), bytes);
    m
}

// ---- missing mandatory elements: cause 96, call reference kept ---------------------

#[test]
fn setup_without_bearer_capability_is_cause_96_with_diagnostic() {
    let e = decode_err("08 02 00 05 05 18 03 A9 83 85 70 02 80 35");
    assert_eq!(
        e,
        DecodeError::MandatoryIeMissing {
            call_ref: CallRef::new(5, false),
            message_type: MessageType::SETUP,
            ie: IeId::BEARER_CAPABILITY,
        }
    );
    assert_eq!(e.cause(), Some(Cause::MANDATORY_IE_MISSING));
    assert_eq!(e.call_ref(), Some(CallRef::new(5, false)));
    // The answer is RELEASE COMPLETE with `08 03 80 E0 04` (reference 5.3).
    let answer = Message::release_complete(
        e.call_ref().unwrap().reply(),
        e.cause_ie(Location::USER).as_ref(),
    )
    .unwrap();
    assert_eq!(answer.encode(), hex("08 02 80 05 5A 08 03 80 E0 04"));
}

#[test]
fn setup_without_channel_identification_is_cause_96() {
    let e = decode_err("08 02 00 05 05 04 03 80 90 A2");
    assert!(
        matches!(
            e,
            DecodeError::MandatoryIeMissing {
                ie: IeId::CHANNEL_ID,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.diagnostic(), Some(0x18));
}

#[test]
fn disconnect_without_cause_is_cause_96_and_names_the_message() {
    let e = decode_err("08 02 80 01 45 1E 02 82 88");
    assert_eq!(e.cause(), Some(Cause::MANDATORY_IE_MISSING));
    assert_eq!(e.message_type(), Some(MessageType::DISCONNECT));
    assert_eq!(e.call_ref(), Some(CallRef::new(1, true)));
}

#[test]
fn other_mandatory_elements_are_enforced() {
    for (s, ie) in [
        ("08 02 80 01 03", IeId::PROGRESS_INDICATOR),
        ("08 02 80 01 7D 14 01 04", IeId::CAUSE),
        ("08 02 80 01 7D 08 02 82 9E", IeId::CALL_STATE),
        ("08 02 00 01 6E", IeId::NOTIFICATION_INDICATOR),
        ("08 02 00 00 46 18 03 A9 83 85", IeId::RESTART_INDICATOR),
        ("08 02 00 01 62", IeId::FACILITY),
        ("03 02 00 00 0F 18 03 A9 83 85", IeId::CHANGE_STATUS),
        ("03 02 00 00 0F 01 01 C2", IeId::CHANNEL_ID),
    ] {
        let e = decode_err(s);
        assert!(
            matches!(e, DecodeError::MandatoryIeMissing { ie: found, .. } if found == ie),
            "{s}: {e}"
        );
    }
}

#[test]
fn restart_of_indicated_channels_without_channel_id_is_cause_96() {
    let e = decode_err("08 02 00 00 46 79 01 80");
    assert!(
        matches!(
            e,
            DecodeError::MandatoryIeMissing {
                ie: IeId::CHANNEL_ID,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.call_ref().unwrap().is_global());
    accepted("08 02 00 00 46 79 01 86");
}

#[test]
fn messages_with_conditional_elements_are_left_to_call_control() {
    // Channel id "if first response", cause "if first clearing message".
    accepted("08 02 80 01 02");
    accepted("08 02 80 01 01");
    accepted("08 02 80 01 4D");
    accepted("08 02 00 01 5A");
}

// ---- invalid contents: cause 100 ---------------------------------------------------------

#[test]
fn mandatory_ie_with_invalid_contents_is_cause_100() {
    let e = decode_err("08 02 00 05 05 04 01 80 18 03 A9 83 85");
    assert_eq!(
        e,
        DecodeError::InvalidIeContents {
            call_ref: CallRef::new(5, false),
            message_type: MessageType::SETUP,
            ie: IeId::BEARER_CAPABILITY,
            reason: IeError::Truncated { octet: "4" },
        }
    );
    assert_eq!(e.cause(), Some(Cause::INVALID_IE_CONTENTS));
    assert_eq!(e.cause_ie(Location::USER).unwrap().diagnostics, [0x04]);

    let e = decode_err("08 02 00 05 05 04 03 80 90 A2 18 02 A9 83");
    assert!(
        matches!(
            e,
            DecodeError::InvalidIeContents {
                ie: IeId::CHANNEL_ID,
                ..
            }
        ),
        "{e}"
    );
    let e = decode_err("08 02 80 01 45 08 01 80");
    assert!(
        matches!(
            e,
            DecodeError::InvalidIeContents {
                ie: IeId::CAUSE,
                ..
            }
        ),
        "{e}"
    );
    let e = decode_err("08 02 00 00 46 79 01 83");
    assert!(
        matches!(
            e,
            DecodeError::InvalidIeContents {
                ie: IeId::RESTART_INDICATOR,
                ..
            }
        ),
        "{e}"
    );
    let e = decode_err("08 02 00 00 46 18 01 E9 79 01 80");
    assert!(
        matches!(
            e,
            DecodeError::InvalidIeContents {
                ie: IeId::CHANNEL_ID,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn optional_ie_with_invalid_contents_is_kept_and_reported() {
    let s = "08 02 00 05 05 04 03 80 90 A2 18 03 A9 83 85 6C 03 41 80 B5";
    let m = accepted(s);
    assert_eq!(m.calling_number(), None);
    assert_eq!(
        m.invalid_ies().collect::<Vec<_>>(),
        [(IeId::CALLING_PARTY_NUMBER, IeError::NotIa5(0xB5))]
    );
    assert!(Setup::from_message(&m).unwrap().calling.is_none());
}

#[test]
fn element_running_past_the_end_is_cause_100() {
    let e = decode_err("08 02 00 05 05 04 03 80 90 A2 18 05 A9 83");
    assert_eq!(
        e,
        DecodeError::IeTruncated {
            call_ref: CallRef::new(5, false),
            message_type: MessageType::SETUP,
            ie: IeId::CHANNEL_ID,
        }
    );
    assert_eq!(e.cause(), Some(Cause::INVALID_IE_CONTENTS));
    // An identifier with no length octet at all.
    let e = decode_err("08 02 00 05 05 04");
    assert!(
        matches!(
            e,
            DecodeError::IeTruncated {
                ie: IeId::BEARER_CAPABILITY,
                ..
            }
        ),
        "{e}"
    );
}

// ---- message types -------------------------------------------------------------------------

#[test]
fn unknown_message_type_is_cause_97_with_the_type_as_diagnostic() {
    let e = decode_err("08 02 80 01 3A");
    assert_eq!(
        e,
        DecodeError::UnknownMessageType {
            call_ref: CallRef::new(1, true),
            protocol: ProtocolDiscriminator::Q931,
            message_type: MessageType(0x3A),
        }
    );
    assert_eq!(e.cause(), Some(Cause::MESSAGE_TYPE_NON_EXISTENT));
    assert_eq!(e.diagnostic(), Some(0x3A));
    // Bit 8 of the message type is reserved.
    assert_eq!(
        decode_err("08 02 80 01 85").cause(),
        Some(Cause::MESSAGE_TYPE_NON_EXISTENT)
    );
    // SETUP is not a maintenance message.
    assert_eq!(
        decode_err("03 02 00 00 05").cause(),
        Some(Cause::MESSAGE_TYPE_NON_EXISTENT)
    );
    // ...but line watch can still show it.
    let m = Message::decode_unchecked(&hex("08 02 80 01 3A 08 02 80 90")).unwrap();
    assert_eq!(m.cause().unwrap().value, Cause::NORMAL_CLEARING);
    assert!(m.to_string().starts_with("UNKNOWN (0x3A)"));
}

#[test]
fn national_maintenance_discriminator_uses_libpri_codes() {
    let m = accepted("43 02 00 00 07 01 01 C0 18 03 A9 83 85");
    assert_eq!(m.protocol, ProtocolDiscriminator::NATIONAL_MAINTENANCE);
    assert_eq!(m.name(), Some("SERVICE"));
    let m = accepted("43 02 80 00 0F 01 01 C0 18 03 A9 83 85");
    assert_eq!(m.name(), Some("SERVICE ACKNOWLEDGE"));
}

#[test]
fn escape_message_keeps_its_national_contents() {
    let m = accepted("08 02 00 01 00 F3 12 34");
    assert_eq!(m.message_type, MessageType::ESCAPE);
    assert_eq!(m.national_contents(), hex("F3 12 34"));
    assert!(m.ies().is_empty());
}

// ---- headers that are dropped ---------------------------------------------------------------

#[test]
fn truncated_or_foreign_headers_have_no_call_ref_and_no_cause() {
    for s in [
        "",
        "08",
        "08 02",
        "08 02 00",
        "08 02 00 01",
        "08 01",
        "41 02 00 01 05",
        "08 22 00 01 05",
        "08 04 00 00 00 01 05",
    ] {
        let e = decode_err(s);
        assert_eq!((e.cause(), e.call_ref()), (None, None), "{s}: {e}");
    }
}

// ---- unknown elements --------------------------------------------------------------------

#[test]
fn unknown_optional_ie_is_skipped_and_kept() {
    let s = "08 02 00 05 05 04 03 80 90 A2 18 03 A9 83 85 3A 02 12 34 70 02 80 35";
    let m = accepted(s);
    let unknown: Vec<&Ie> = m.unrecognized_ies().collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].id(), unknown[0].contents()),
        (IeId(0x3A), &[0x12, 0x34][..])
    );
    assert_eq!(m.called_number().unwrap().digits, "5");
}

#[test]
fn unknown_comprehension_required_ie_is_cause_96() {
    let e = decode_err("08 02 00 05 05 04 03 80 90 A2 0A 01 00 18 03 A9 83 85");
    assert_eq!(
        e,
        DecodeError::ComprehensionRequired {
            call_ref: CallRef::new(5, false),
            message_type: MessageType::SETUP,
            ie: IeId(0x0A),
        }
    );
    assert_eq!(e.cause(), Some(Cause::MANDATORY_IE_MISSING));
    assert_eq!(e.diagnostic(), Some(0x0A));
}

#[test]
fn duplicate_ie_uses_the_first() {
    let m = accepted("08 02 80 01 45 08 02 80 90 08 02 80 91");
    assert_eq!(m.cause().unwrap().value, Cause::NORMAL_CLEARING);
    assert_eq!(m.find_all(IeId::CAUSE).count(), 2);
}

#[test]
fn out_of_order_ies_are_processed() {
    let m = accepted("08 02 00 05 05 18 03 A9 83 85 04 03 80 90 A2");
    assert!(m.bearer_capability().is_some() && m.channel_id().is_some());
}

// ---- codeset shifts ------------------------------------------------------------------------

#[test]
fn locking_shift_moves_every_following_ie_to_the_codeset() {
    // NI-2 style: OLI and generic digits in codeset 6 after the codeset 0 part.
    let s =
        "08 02 00 05 05 04 03 80 90 A2 18 03 A9 83 85 70 02 80 35 96 01 01 00 37 04 83 31 32 33";
    let m = accepted(s);
    let ies = m.ies();
    assert_eq!(
        ies[3].as_shift(),
        Some(dialgate::isdn::q931::Shift::Locking(Codeset(6)))
    );
    assert_eq!(
        (ies[4].codeset(), ies[4].id()),
        (Codeset::LOCAL_NETWORK, IeId(0x01))
    );
    assert_eq!(
        (ies[5].codeset(), ies[5].id()),
        (Codeset::LOCAL_NETWORK, IeId(0x37))
    );
    assert_eq!(m.unrecognized_ies().count(), 2);
}

#[test]
fn non_locking_shift_applies_to_the_next_ie_only() {
    // Codeset 5 party category, then codeset 0 again.
    let m = accepted("08 02 00 05 05 04 03 80 90 A2 9D 32 01 01 18 03 A9 83 85");
    let ies = m.ies();
    assert_eq!(
        (ies[2].codeset(), ies[2].id()),
        (Codeset::NATIONAL, IeId(0x32))
    );
    assert_eq!(ies[3].codeset(), Codeset::ITU);
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(5));
}

#[test]
fn shifted_ies_do_not_count_as_codeset_0_ones() {
    // A bearer-capability identifier in codeset 6 is not the bearer capability...
    let e = decode_err("08 02 00 05 05 9E 04 03 80 90 A2 18 03 A9 83 85");
    assert!(matches!(
        e,
        DecodeError::MandatoryIeMissing {
            ie: IeId::BEARER_CAPABILITY,
            ..
        }
    ));
    // ...and an unknown comprehension-required identifier there is just skipped.
    let m = accepted("08 02 00 05 05 04 03 80 90 A2 18 03 A9 83 85 96 0A 01 00");
    assert_eq!(m.unrecognized_ies().count(), 1);
}

#[test]
fn locking_shift_to_a_lower_codeset_is_kept_but_ignored() {
    let m = accepted("08 02 00 05 05 04 03 80 90 A2 18 03 A9 83 85 96 01 01 00 90 33 01 02");
    let last = m.ies().last().unwrap();
    assert_eq!(
        (last.codeset(), last.id()),
        (Codeset::LOCAL_NETWORK, IeId(0x33))
    );
}

#[test]
fn single_octet_ies_anywhere() {
    let m = accepted("08 02 00 05 05 A1 04 03 80 90 A2 B3 18 03 A9 83 85 D2 A0");
    assert!(m.sending_complete());
    assert!(m.more_data());
    assert_eq!(m.congestion_level(), Some(3));
    assert_eq!(m.repeat_indicator(), Some(2));
    assert!(m.bearer_capability().is_some() && m.channel_id().is_some());
}
