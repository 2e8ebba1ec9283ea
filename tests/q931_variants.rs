//! The switch-variant differences of reference section 12, one test each: what
//! we send changes with the variant; what we accept does not.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use dialgate::isdn::q931::ie::{
    BearerCapability, ChangeStatus, ChannelId, Layer1Protocol, NumberingPlan, PartyNumber,
    Presentation, Screening, ServiceStatus, TypeOfNumber,
};
use dialgate::isdn::q931::{
    CallRef, IeId, Message, MessageType, ProtocolDiscriminator, Setup, Variant,
};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn voice_setup(variant: Variant) -> Vec<u8> {
    let calling = PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125551000");
    let called = PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125552000");
    Setup::voice(
        variant,
        ChannelId::exclusive(5),
        Some(calling),
        Some(called),
    )
    .to_message(CallRef::new(1, false))
    .unwrap()
    .encode()
}

#[test]
fn b_channel_law_is_mu_law_in_north_america_and_a_law_on_euroisdn() {
    for v in Variant::ALL {
        let bytes = voice_setup(v);
        let bc = &bytes[5..10];
        let expected = if matches!(v, Variant::EuroIsdn | Variant::Qsig) {
            hex("04 03 80 90 A3")
        } else {
            hex("04 03 80 90 A2")
        };
        assert_eq!(bc, expected, "{v}");
    }
}

#[test]
fn display_carries_b1_prefix_only_for_north_american_switches() {
    for v in Variant::ALL {
        let m = Message::new(CallRef::new(1, true), MessageType::ALERTING)
            .with(IeId::DISPLAY, &v.display("John Doe"))
            .unwrap();
        let expected = if v.is_north_american() {
            "08 02 80 01 01 28 09 B1 4A 6F 68 6E 20 44 6F 65"
        } else {
            "08 02 80 01 01 28 08 4A 6F 68 6E 20 44 6F 65"
        };
        assert_eq!(m.encode(), hex(expected), "{v}");
        // Either way the received text is the same.
        assert_eq!(
            Message::decode(&hex(expected))
                .unwrap()
                .display()
                .unwrap()
                .text(),
            "John Doe"
        );
    }
}

#[test]
fn service_uses_pd_43_on_ni2_pd_03_on_att_and_dms_and_nothing_on_euroisdn() {
    let status = ChangeStatus::channel(ServiceStatus::OUT_OF_SERVICE);
    let channel = ChannelId::exclusive(5);
    let ack = |v: Variant| {
        Message::service_acknowledge(v, true, status, &channel).map(|m| m.unwrap().encode())
    };
    assert_eq!(
        ack(Variant::Ess5),
        Some(hex("03 02 80 00 07 01 01 C2 18 03 A9 83 85"))
    );
    assert_eq!(
        ack(Variant::Ess4),
        Some(hex("03 02 80 00 07 01 01 C2 18 03 A9 83 85"))
    );
    assert_eq!(
        ack(Variant::Dms100),
        Some(hex("03 02 80 00 07 01 01 C2 18 03 A9 83 85"))
    );
    assert_eq!(
        ack(Variant::National),
        Some(hex("43 02 80 00 0F 01 01 C2 18 03 A9 83 85"))
    );
    assert_eq!(ack(Variant::EuroIsdn), None);
    assert_eq!(ack(Variant::Qsig), None);

    let service = Message::service(Variant::Dms100, false, status, &channel)
        .unwrap()
        .unwrap();
    assert_eq!(service.protocol, ProtocolDiscriminator::MAINTENANCE);
    assert_eq!(service.message_type, MessageType::SERVICE);
    let service = Message::service(Variant::National, false, status, &channel)
        .unwrap()
        .unwrap();
    assert_eq!(
        service.protocol,
        ProtocolDiscriminator::NATIONAL_MAINTENANCE
    );
    assert_eq!(service.name(), Some("SERVICE"));
}

#[test]
fn euroisdn_en_bloc_setup_ends_with_sending_complete() {
    for v in Variant::ALL {
        let bytes = voice_setup(v);
        assert_eq!(bytes.last() == Some(&0xA1), v == Variant::EuroIsdn, "{v}");
        assert_eq!(
            Message::decode(&bytes).unwrap().sending_complete(),
            v == Variant::EuroIsdn
        );
    }
}

#[test]
fn att_4ess_and_dms100_get_network_provided_screening_on_allowed_numbers() {
    for v in Variant::ALL {
        let bytes = voice_setup(v);
        let m = Message::decode(&bytes).unwrap();
        let calling = m
            .find(IeId::CALLING_PARTY_NUMBER)
            .unwrap()
            .contents()
            .to_vec();
        let head = if matches!(v, Variant::Ess4 | Variant::Dms100) {
            vec![0x21, 0x83] // national, E.164; allowed, network provided
        } else {
            vec![0xA1] // no octet 3a: allowed, user-provided not screened
        };
        assert!(calling.starts_with(&head), "{v}: {calling:02X?}");
        let p = m.calling_number().unwrap().presentation_or_default();
        assert_eq!(p.presentation, Presentation::ALLOWED);
    }
    // Restricted numbers are left alone.
    let restricted = PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125551000")
        .with_presentation(Presentation::RESTRICTED, Screening::USER_PASSED);
    assert_eq!(Variant::Ess4.calling_number(restricted.clone()), restricted);
}

#[test]
fn qsig_drops_the_nfas_interface_identifier() {
    let nfas = ChannelId::exclusive(5).on_interface(1);
    for v in Variant::ALL {
        let setup = Setup::voice(v, nfas.clone(), None, None);
        let bytes = setup.to_message(CallRef::new(1, false)).unwrap().encode();
        let expected = if v == Variant::Qsig {
            hex("18 03 A9 83 85")
        } else {
            hex("18 04 E9 81 83 85")
        };
        assert_eq!(&bytes[10..10 + expected.len()], expected, "{v}");
    }
}

#[test]
fn connected_number_with_ext_set_on_octet_3_is_accepted() {
    // Lucent/NI-2 quirk: octet 3 ext = 1 yet octet 3a follows.
    let m = Message::decode(&hex("08 02 80 01 07 4C 06 A1 83 35 35 35 31")).unwrap();
    let n = m.connected_number().unwrap();
    assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
    assert_eq!(
        n.presentation.unwrap().screening,
        Screening::NETWORK_PROVIDED
    );
    assert_eq!(n.digits, "5551");
    assert_eq!(m.encode(), hex("08 02 80 01 07 4C 06 A1 83 35 35 35 31"));
}

#[test]
fn old_4ess_bearer_without_octet_5_is_accepted() {
    let m = Message::decode(&hex("08 02 00 01 05 04 02 80 90 18 03 A9 83 85")).unwrap();
    let bc = m.bearer_capability().unwrap();
    assert!(bc.is_voice());
    assert_eq!(bc.layer1, None);
    assert_eq!(
        BearerCapability::speech(Variant::Ess4.layer1()).layer1,
        Some(Layer1Protocol::G711_MU_LAW)
    );
}
