//! Every worked hex example of `reference/q931-call-control.md` (sections 5 and
//! 13) and the Q.931 payload of `reference/q921-lapd.md` section 11, decoded field
//! by field and re-encoded byte for byte.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use dialgate::isdn::q931::ie::{
    BearerCapability, CallState, CauseIe, ChangeStatus, ChannelId, ChannelSelection,
    CodingStandard, Display, ElementType, IeCodec, Layer1Protocol, NotificationDescription,
    NotificationIndicator, NumberingPlan, PartyNumber, Presentation, ProgressDescription,
    ProgressIndicator, RedirectionReason, RestartClass, RestartIndicator, Screening, ServiceStatus,
    TransferCapability, TransferMode, TransferRate, TypeOfNumber,
};
use dialgate::isdn::q931::{
    CallRef, Cause, Ie, IeId, Location, Message, MessageType, ProtocolDiscriminator,
};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// Decodes with all checks and asserts the exact re-encoding.
fn round_trip(s: &str) -> Message {
    let bytes = hex(s);
    let m = Message::decode(&bytes).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(m.encode(), bytes, "{s}");
    assert_eq!(m.encoded_len(), bytes.len());
    m
}

/// One IE example (`id len contents`) carried in an INFORMATION message; checks the
/// message round trip and that the typed value re-encodes to the same IE.
fn ie_example<T: IeCodec>(s: &str) -> T {
    let ie = hex(s);
    let m = round_trip(&format!("08 02 00 01 7B {s}"));
    let found = m.find(IeId(ie[0])).expect("element present");
    let value: T = found.decode().unwrap();
    let mut rebuilt = Vec::new();
    Ie::new(IeId(ie[0]), &value).unwrap().encode(&mut rebuilt);
    assert_eq!(rebuilt, ie, "typed re-encode of {s}");
    value
}

// ---- section 5.1 bearer capability -------------------------------------------------

#[test]
fn bearer_capability_examples() {
    let bc: BearerCapability = ie_example("04 03 80 90 A2");
    assert_eq!(bc.coding_standard, CodingStandard::ITU_T);
    assert_eq!(bc.transfer_capability, TransferCapability::SPEECH);
    assert_eq!(bc.transfer_mode, TransferMode::CIRCUIT);
    assert_eq!(bc.rate, TransferRate::KBIT_64);
    assert_eq!(bc.layer1, Some(Layer1Protocol::G711_MU_LAW));

    let bc: BearerCapability = ie_example("04 03 80 90 A3");
    assert_eq!(bc.layer1, Some(Layer1Protocol::G711_A_LAW));

    let bc: BearerCapability = ie_example("04 03 90 90 A2");
    assert_eq!(bc.transfer_capability, TransferCapability::AUDIO_3_1_KHZ);
    assert_eq!(bc.layer1, Some(Layer1Protocol::G711_MU_LAW));
    let bc: BearerCapability = ie_example("04 03 90 90 A3");
    assert_eq!(bc.layer1, Some(Layer1Protocol::G711_A_LAW));
    assert!(bc.is_voice());

    let bc: BearerCapability = ie_example("04 02 88 90");
    assert_eq!(
        bc.transfer_capability,
        TransferCapability::UNRESTRICTED_DIGITAL
    );
    assert_eq!(bc.layer1, None);
    assert!(!bc.is_voice());

    let bc: BearerCapability = ie_example("04 04 88 90 21 8F");
    assert_eq!(bc.layer1, Some(Layer1Protocol::V110));
    assert_eq!(bc.layer1_options, [0x8F]); // 5a: user rate 56 kbit/s
    assert_eq!(bc.layer1_options[0] & 0x1F, 0x0F);

    let bc: BearerCapability = ie_example("04 02 80 90");
    assert_eq!(bc.transfer_capability, TransferCapability::SPEECH);
    assert_eq!(bc.layer1, None);
}

// ---- section 5.2 channel identification --------------------------------------------

#[test]
fn channel_identification_examples() {
    let c: ChannelId = ie_example("18 03 A9 83 85");
    assert!(c.primary_rate && c.exclusive && !c.d_channel);
    assert_eq!(c.interface_id, None);
    assert_eq!(c.selection, ChannelSelection::INDICATED);
    let t = c.channel_type.unwrap();
    assert_eq!(t.coding_standard, CodingStandard::ITU_T);
    assert!(!t.slot_map);
    assert_eq!(t.element_type, ElementType::B_CHANNEL);
    assert_eq!(c.channel(), Some(5));

    let c: ChannelId = ie_example("18 03 A1 83 85");
    assert!(!c.exclusive);
    assert_eq!(c.channel(), Some(5));

    let c: ChannelId = ie_example("18 01 A3");
    assert_eq!(c.selection, ChannelSelection::ANY);
    assert_eq!(c.channel(), None);

    let c: ChannelId = ie_example("18 04 E9 81 83 85");
    assert_eq!(c.interface_id, Some(1));
    assert!(c.exclusive);
    assert_eq!(c.channel(), Some(5));

    let c: ChannelId = ie_example("18 03 A9 83 91");
    assert_eq!(c.channel(), Some(17));

    let c: ChannelId = ie_example("18 05 A9 83 01 02 85");
    assert_eq!(c.channel_numbers(), [1, 2, 5]);
}

// ---- sections 5.3-5.9 ------------------------------------------------------------------

#[test]
fn cause_example_96_with_diagnostic() {
    let c: CauseIe = ie_example("08 03 80 E0 04");
    assert_eq!(c.location, Location::USER);
    assert_eq!(c.value, Cause::MANDATORY_IE_MISSING);
    assert_eq!(c.diagnostics, [IeId::BEARER_CAPABILITY.0]);
}

#[test]
fn progress_indicator_examples() {
    let p: ProgressIndicator = ie_example("1E 02 82 88");
    assert_eq!(p.location, Location::PUBLIC_LOCAL);
    assert_eq!(p.description, ProgressDescription::IN_BAND_AVAILABLE);
    assert!(p.in_band());
    let p: ProgressIndicator = ie_example("1E 02 81 83");
    assert_eq!(p.location, Location::PRIVATE_LOCAL);
    assert_eq!(p.description, ProgressDescription::ORIGINATION_NON_ISDN);
    let p: ProgressIndicator = ie_example("1E 02 81 82");
    assert_eq!(p.description, ProgressDescription::DESTINATION_NON_ISDN);
    assert!(!p.in_band());
}

#[test]
fn calling_party_number_examples() {
    let n: PartyNumber = ie_example("6C 09 41 80 35 35 35 31 30 30 30");
    assert_eq!(n.type_of_number, TypeOfNumber::SUBSCRIBER);
    assert_eq!(n.numbering_plan, NumberingPlan::ISDN);
    let p = n.presentation.unwrap();
    assert_eq!(p.presentation, Presentation::ALLOWED);
    assert_eq!(p.screening, Screening::USER_NOT_SCREENED);
    assert_eq!(n.digits, "5551000");

    let n: PartyNumber = ie_example("6C 0C 21 A3 32 31 32 35 35 35 31 30 30 30");
    assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
    let p = n.presentation.unwrap();
    assert_eq!(p.presentation, Presentation::RESTRICTED);
    assert_eq!(p.screening, Screening::NETWORK_PROVIDED);
    assert_eq!(n.digits, "2125551000");

    let n: PartyNumber = ie_example("6C 02 00 C0");
    assert_eq!(n.type_of_number, TypeOfNumber::UNKNOWN);
    assert_eq!(
        n.presentation.unwrap().presentation,
        Presentation::NOT_AVAILABLE
    );
    assert_eq!(n.digits, "");
}

#[test]
fn called_party_number_examples() {
    let n: PartyNumber = ie_example("70 08 C1 35 35 35 32 30 30 30");
    assert_eq!(n.type_of_number, TypeOfNumber::SUBSCRIBER);
    assert_eq!(n.numbering_plan, NumberingPlan::ISDN);
    assert_eq!(n.presentation, None);
    assert_eq!(n.digits, "5552000");
    let n: PartyNumber = ie_example("70 0B A1 32 31 32 35 35 35 32 30 30 30");
    assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
    assert_eq!(n.digits, "2125552000");
    let n: PartyNumber = ie_example("70 01 80");
    assert_eq!(
        (n.type_of_number, n.numbering_plan),
        (TypeOfNumber::UNKNOWN, NumberingPlan::UNKNOWN)
    );
    let n: PartyNumber = ie_example("70 05 81 31 32 33 34");
    assert_eq!(
        (n.type_of_number, n.numbering_plan),
        (TypeOfNumber::UNKNOWN, NumberingPlan::ISDN)
    );
    assert_eq!(n.digits, "1234");
}

#[test]
fn redirecting_number_example() {
    let n: PartyNumber = ie_example("74 0D 21 03 81 32 31 32 35 35 35 33 30 30 30");
    assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
    assert_eq!(n.numbering_plan, NumberingPlan::ISDN);
    let p = n.presentation.unwrap();
    assert_eq!(p.presentation, Presentation::ALLOWED);
    assert_eq!(p.screening, Screening::NETWORK_PROVIDED);
    assert_eq!(n.reason, Some(RedirectionReason::FORWARD_BUSY));
    assert_eq!(n.digits, "2125553000");
}

#[test]
fn display_examples() {
    let d: Display = ie_example("28 08 4A 6F 68 6E 20 44 6F 65");
    assert_eq!((d.charset, d.text().as_ref()), (None, "John Doe"));
    let d: Display = ie_example("28 09 B1 4A 6F 68 6E 20 44 6F 65");
    assert_eq!((d.charset, d.text().as_ref()), (Some(0xB1), "John Doe"));
}

#[test]
fn small_ie_examples() {
    let m = round_trip("08 02 00 07 7B A1");
    assert!(m.sending_complete());

    for (s, class) in [
        ("79 01 80", RestartClass::INDICATED_CHANNELS),
        ("79 01 86", RestartClass::SINGLE_INTERFACE),
        ("79 01 87", RestartClass::ALL_INTERFACES),
    ] {
        let r: RestartIndicator = ie_example(s);
        assert_eq!(r.class, class);
    }
    for (s, state) in [
        ("14 01 0A", CallState::ACTIVE),
        ("14 01 00", CallState::NULL),
        ("14 01 3D", CallState::RESTART_REQUEST),
        ("14 01 3E", CallState::RESTART),
    ] {
        let m = round_trip(&format!("08 02 00 01 7B {s}"));
        assert_eq!(m.call_state(), Some(state), "{s}");
    }
    let c: ChangeStatus = ie_example("01 01 C2");
    assert!(c.channel_preference);
    assert_eq!(c.status, ServiceStatus::OUT_OF_SERVICE);
    let n: NotificationIndicator = ie_example("27 01 80");
    assert_eq!(n.description, NotificationDescription::USER_SUSPENDED);
}

// ---- section 13 worked call -----------------------------------------------------------

const SETUP: &str = "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 6C 09 41 80 35 35 35 31 30 30 30 \
                     70 08 C1 35 35 35 32 30 30 30";

fn assert_setup(m: &Message) {
    assert_eq!(m.protocol, ProtocolDiscriminator::Q931);
    assert_eq!(m.call_ref, CallRef::new(1, false));
    assert_eq!(m.message_type, MessageType::SETUP);
    assert_eq!(
        m.bearer_capability(),
        Some(BearerCapability::speech(Layer1Protocol::G711_MU_LAW))
    );
    assert_eq!(m.channel_id(), Some(ChannelId::exclusive(5)));
    let calling = m.calling_number().unwrap();
    assert_eq!(calling.type_of_number, TypeOfNumber::SUBSCRIBER);
    assert_eq!(calling.numbering_plan, NumberingPlan::ISDN);
    assert_eq!(
        calling.presentation_or_default().presentation,
        Presentation::ALLOWED
    );
    assert_eq!(
        calling.presentation_or_default().screening,
        Screening::USER_NOT_SCREENED
    );
    assert_eq!(calling.digits, "5551000");
    let called = m.called_number().unwrap();
    assert_eq!(called.type_of_number, TypeOfNumber::SUBSCRIBER);
    assert_eq!(called.digits, "5552000");
    assert!(!m.sending_complete());
    assert_eq!(m.ies().len(), 4);
}

#[test]
fn worked_setup_decodes_field_by_field() {
    let m = round_trip(SETUP);
    assert_setup(&m);
    assert_eq!(hex(SETUP).len(), 36);
}

#[test]
fn q921_i_frame_payload_is_the_same_setup() {
    // q921-lapd.md section 11: address 00 01, control 00 00, SETUP, FCS A0 19.
    let frame = hex(&format!("00 01 00 00 {SETUP} A0 19"));
    let payload = &frame[4..frame.len() - 2];
    let m = Message::decode(payload).unwrap();
    assert_setup(&m);
    assert_eq!(m.encode(), payload);
}

#[test]
fn call_proceeding_confirms_channel_5() {
    let m = round_trip("08 02 80 01 02 18 03 A9 83 85");
    assert_eq!(m.call_ref, CallRef::new(1, true));
    assert_eq!(m.message_type, MessageType::CALL_PROCEEDING);
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(5));
}

#[test]
fn alerting_progress_connect_examples() {
    let m = round_trip("08 02 80 01 01");
    assert_eq!((m.message_type, m.ies().len()), (MessageType::ALERTING, 0));
    let m = round_trip("08 02 80 01 01 1E 02 82 88");
    assert_eq!(m.message_type, MessageType::ALERTING);
    assert!(m.progress_indicator().unwrap().in_band());
    let m = round_trip("08 02 80 01 03 1E 02 82 88");
    assert_eq!(m.message_type, MessageType::PROGRESS);
    assert_eq!(
        m.progress_indicator().unwrap().location,
        Location::PUBLIC_LOCAL
    );
    let m = round_trip("08 02 80 01 07");
    assert_eq!(
        (m.message_type, m.call_ref.flag()),
        (MessageType::CONNECT, true)
    );
    let m = round_trip("08 02 00 01 0F");
    assert_eq!(
        (m.message_type, m.call_ref.flag()),
        (MessageType::CONNECT_ACKNOWLEDGE, false)
    );
}

#[test]
fn clearing_examples() {
    let m = round_trip("08 02 00 01 45 08 02 80 90");
    assert_eq!(m.message_type, MessageType::DISCONNECT);
    let c = m.cause().unwrap();
    assert_eq!(
        (c.location, c.value),
        (Location::USER, Cause::NORMAL_CLEARING)
    );

    let m = round_trip("08 02 80 01 4D");
    assert_eq!((m.message_type, m.cause()), (MessageType::RELEASE, None));

    let m = round_trip("08 02 80 01 4D 08 02 82 90");
    let c = m.cause().unwrap();
    assert_eq!(
        (c.location, c.value),
        (Location::PUBLIC_LOCAL, Cause::NORMAL_CLEARING)
    );

    let m = round_trip("08 02 00 01 5A");
    assert_eq!(
        (m.message_type, m.cause()),
        (MessageType::RELEASE_COMPLETE, None)
    );

    let m = round_trip("08 02 80 01 45 08 02 82 91 1E 02 82 88");
    assert_eq!(m.cause().unwrap().value, Cause::USER_BUSY);
    assert_eq!(
        m.progress_indicator().unwrap().description,
        ProgressDescription::IN_BAND_AVAILABLE
    );

    let m = round_trip("08 02 92 34 5A 08 02 80 D1");
    assert_eq!(m.call_ref, CallRef::new(0x1234, true));
    assert_eq!(m.cause().unwrap().value, Cause::INVALID_CALL_REFERENCE);
}

#[test]
fn status_examples() {
    let m = round_trip("08 02 00 01 75");
    assert_eq!(m.message_type, MessageType::STATUS_ENQUIRY);

    let m = round_trip("08 02 80 01 7D 08 02 82 9E 14 01 04");
    assert_eq!(m.message_type, MessageType::STATUS);
    assert_eq!(m.cause().unwrap().value, Cause::RESPONSE_TO_STATUS_ENQUIRY);
    assert_eq!(m.call_state(), Some(CallState::CALL_DELIVERED));

    let m = round_trip("08 02 00 01 7D 08 03 80 E0 18 14 01 01");
    let c = m.cause().unwrap();
    assert_eq!(c.value, Cause::MANDATORY_IE_MISSING);
    assert_eq!(c.diagnostics, [IeId::CHANNEL_ID.0]);
    assert_eq!(m.call_state(), Some(CallState::CALL_INITIATED));

    let m = round_trip("08 02 80 00 7D 08 02 80 D1 14 01 00");
    assert!(m.call_ref.is_global());
    assert_eq!(m.cause().unwrap().value, Cause::INVALID_CALL_REFERENCE);
    assert_eq!(m.call_state(), Some(CallState::NULL));
}

#[test]
fn restart_examples() {
    let m = round_trip("08 02 00 00 46 18 03 A9 83 85 79 01 80");
    assert_eq!(m.call_ref, CallRef::global(false));
    assert_eq!(m.message_type, MessageType::RESTART);
    assert_eq!(
        m.restart_indicator().unwrap().class,
        RestartClass::INDICATED_CHANNELS
    );
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(5));

    let m = round_trip("08 02 80 00 4E 18 03 A9 83 85 79 01 80");
    assert_eq!(m.call_ref, CallRef::global(true));
    assert_eq!(m.message_type, MessageType::RESTART_ACKNOWLEDGE);
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(5));

    let m = round_trip("08 02 00 00 46 79 01 87");
    assert_eq!(
        m.restart_indicator().unwrap().class,
        RestartClass::ALL_INTERFACES
    );
    assert_eq!(m.channel_id(), None);
    let m = round_trip("08 02 80 00 4E 79 01 87");
    assert_eq!(m.message_type, MessageType::RESTART_ACKNOWLEDGE);
}

#[test]
fn service_acknowledge_example() {
    let m = round_trip("03 02 80 00 07 01 01 C2 18 03 A9 83 85");
    assert_eq!(m.protocol, ProtocolDiscriminator::MAINTENANCE);
    assert!(m.call_ref.is_global() && m.call_ref.flag());
    assert_eq!(m.message_type, MessageType::SERVICE_ACKNOWLEDGE);
    assert_eq!(m.name(), Some("SERVICE ACKNOWLEDGE"));
    assert_eq!(
        m.change_status(),
        Some(ChangeStatus::channel(ServiceStatus::OUT_OF_SERVICE))
    );
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(5));
}

#[test]
fn overlap_examples() {
    let m = round_trip("08 02 80 07 0D 18 03 A9 83 81");
    assert_eq!(m.call_ref, CallRef::new(7, true));
    assert_eq!(m.message_type, MessageType::SETUP_ACKNOWLEDGE);
    assert_eq!(m.channel_id().and_then(|c| c.channel()), Some(1));

    let m = round_trip("08 02 00 07 7B A1 70 02 80 35");
    assert_eq!(m.message_type, MessageType::INFORMATION);
    assert!(m.sending_complete());
    let called = m.called_number().unwrap();
    assert_eq!(
        (called.type_of_number, called.digits.as_str()),
        (TypeOfNumber::UNKNOWN, "5")
    );
}

#[test]
fn call_proceeding_for_a_peer_call_starts_with_flag_1() {
    let cr = CallRef::new(0x42, false).reply();
    let m = Message::call_proceeding(cr, Some(&ChannelId::exclusive(5))).unwrap();
    assert!(m.encode().starts_with(&hex("08 02 80 42 02")));
}

// ---- the builders produce the reference bytes ---------------------------------------

#[test]
fn builders_produce_the_worked_examples() {
    let us = CallRef::new(1, false);
    let net = CallRef::new(1, true);
    let pi8 = ProgressIndicator::new(
        Location::PUBLIC_LOCAL,
        ProgressDescription::IN_BAND_AVAILABLE,
    );
    let cases: Vec<(Message, &str)> = vec![
        (
            Message::call_proceeding(net, Some(&ChannelId::exclusive(5))).unwrap(),
            "08 02 80 01 02 18 03 A9 83 85",
        ),
        (
            Message::alerting(net, None, None).unwrap(),
            "08 02 80 01 01",
        ),
        (
            Message::alerting(net, None, Some(&pi8)).unwrap(),
            "08 02 80 01 01 1E 02 82 88",
        ),
        (
            Message::progress(net, &pi8).unwrap(),
            "08 02 80 01 03 1E 02 82 88",
        ),
        (Message::connect(net, None, None).unwrap(), "08 02 80 01 07"),
        (Message::connect_acknowledge(us), "08 02 00 01 0F"),
        (
            Message::disconnect(
                us,
                &CauseIe::new(Location::USER, Cause::NORMAL_CLEARING),
                None,
            )
            .unwrap(),
            "08 02 00 01 45 08 02 80 90",
        ),
        (Message::release(net, None).unwrap(), "08 02 80 01 4D"),
        (
            Message::release(
                net,
                Some(&CauseIe::new(
                    Location::PUBLIC_LOCAL,
                    Cause::NORMAL_CLEARING,
                )),
            )
            .unwrap(),
            "08 02 80 01 4D 08 02 82 90",
        ),
        (
            Message::release_complete(us, None).unwrap(),
            "08 02 00 01 5A",
        ),
        (
            Message::disconnect(
                net,
                &CauseIe::new(Location::PUBLIC_LOCAL, Cause::USER_BUSY),
                Some(&pi8),
            )
            .unwrap(),
            "08 02 80 01 45 08 02 82 91 1E 02 82 88",
        ),
        (Message::status_enquiry(us), "08 02 00 01 75"),
        (
            Message::status(
                net,
                &CauseIe::new(Location::PUBLIC_LOCAL, Cause::RESPONSE_TO_STATUS_ENQUIRY),
                CallState::CALL_DELIVERED,
            )
            .unwrap(),
            "08 02 80 01 7D 08 02 82 9E 14 01 04",
        ),
        (
            Message::status(
                us,
                &CauseIe::new(Location::USER, Cause::MANDATORY_IE_MISSING).with_diagnostics([0x18]),
                CallState::CALL_INITIATED,
            )
            .unwrap(),
            "08 02 00 01 7D 08 03 80 E0 18 14 01 01",
        ),
        (
            Message::release_complete(
                CallRef::new(0x1234, true),
                Some(&CauseIe::new(Location::USER, Cause::INVALID_CALL_REFERENCE)),
            )
            .unwrap(),
            "08 02 92 34 5A 08 02 80 D1",
        ),
        (
            Message::restart(
                false,
                RestartIndicator::new(RestartClass::INDICATED_CHANNELS),
                Some(&ChannelId::exclusive(5)),
            )
            .unwrap(),
            "08 02 00 00 46 18 03 A9 83 85 79 01 80",
        ),
        (
            Message::restart_acknowledge(
                true,
                RestartIndicator::new(RestartClass::INDICATED_CHANNELS),
                Some(&ChannelId::exclusive(5)),
            )
            .unwrap(),
            "08 02 80 00 4E 18 03 A9 83 85 79 01 80",
        ),
        (
            Message::restart(
                false,
                RestartIndicator::new(RestartClass::ALL_INTERFACES),
                None,
            )
            .unwrap(),
            "08 02 00 00 46 79 01 87",
        ),
        (
            Message::restart_acknowledge(
                true,
                RestartIndicator::new(RestartClass::ALL_INTERFACES),
                None,
            )
            .unwrap(),
            "08 02 80 00 4E 79 01 87",
        ),
        (
            Message::status(
                CallRef::global(true),
                &CauseIe::new(Location::USER, Cause::INVALID_CALL_REFERENCE),
                CallState::NULL,
            )
            .unwrap(),
            "08 02 80 00 7D 08 02 80 D1 14 01 00",
        ),
        (
            Message::setup_acknowledge(CallRef::new(7, true), Some(&ChannelId::exclusive(1)))
                .unwrap(),
            "08 02 80 07 0D 18 03 A9 83 81",
        ),
        (
            Message::information(
                CallRef::new(7, false),
                Some(&PartyNumber::new(
                    TypeOfNumber::UNKNOWN,
                    NumberingPlan::UNKNOWN,
                    "5",
                )),
                true,
            )
            .unwrap(),
            "08 02 00 07 7B A1 70 02 80 35",
        ),
        (
            Message::notify(
                us,
                &NotificationIndicator::new(NotificationDescription::USER_SUSPENDED),
            )
            .unwrap(),
            "08 02 00 01 6E 27 01 80",
        ),
    ];
    for (message, expected) in cases {
        assert_eq!(message.encode(), hex(expected), "{expected}");
        assert_eq!(
            Message::decode(&hex(expected)).unwrap(),
            message,
            "{expected}"
        );
    }
}
