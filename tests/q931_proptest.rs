//! Property tests of the Q.931 codec: decoding any octets never panics; whatever
//! decodes re-encodes to the same octets; generated messages survive
//! encode -> decode -> encode; typed elements survive encode -> decode.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use dialgate::isdn::q931::ie::{
    BearerCapability, CallStateIe, CauseIe, ChannelId, ChannelSelection, ChannelType, Codeset,
    CodingStandard, DateTime, Display, ElementType, IeCodec, Keypad, Layer1Protocol, NumberingPlan,
    PartyNumber, Presentation, PresentationScreening, ProgressDescription, ProgressIndicator,
    RedirectionReason, RestartClass, RestartIndicator, Screening, Signal, TransferCapability,
    TransferMode, TransferRate, TypeOfNumber,
};
use dialgate::isdn::q931::{
    CallRef, Cause, Ie, IeId, Location, Message, MessageType, Setup, Shift,
};
use proptest::prelude::*;

/// Touches every typed view and the printer, so their decoders see the input too.
fn exercise(m: &Message) {
    let _ = m.to_string();
    let _ = m.bearer_capability();
    let _ = m.channel_id();
    let _ = m.cause();
    let _ = m.call_state();
    let _ = m.progress_indicators().count();
    let _ = (m.calling_number(), m.called_number(), m.connected_number());
    let _ = (
        m.redirecting_number(),
        m.redirection_number(),
        m.original_called_number(),
    );
    let _ = (
        m.display(),
        m.restart_indicator(),
        m.notification_indicator(),
        m.date_time(),
    );
    let _ = (
        m.signal(),
        m.keypad(),
        m.change_status(),
        m.high_layer_compatibility(),
    );
    let _ = (
        m.low_layer_compatibility(),
        m.calling_subaddress(),
        m.called_subaddress(),
    );
    let _ = (
        m.transit_network_selection(),
        m.network_specific_facilities(),
    );
    let _ = (
        m.facility(),
        m.user_user(),
        m.sending_complete(),
        m.congestion_level(),
    );
    let _ = m.invalid_ies().count();
    let _ = m.unrecognized_ies().count();
    let _ = Setup::from_message(m);
    let _ = m.check();
}

const KNOWN_IDS: &[u8] = &[
    0x01, 0x04, 0x08, 0x14, 0x18, 0x1C, 0x1E, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x34, 0x4C, 0x6C, 0x6D,
    0x70, 0x71, 0x73, 0x74, 0x76, 0x78, 0x79, 0x7C, 0x7D, 0x7E, 0x7F, 0x00, 0x0A, 0x3A,
];

const REFERENCE: &[&str] = &[
    "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 6C 09 41 80 35 35 35 31 30 30 30 70 08 C1 35 35 35 32 30 30 30",
    "08 02 80 01 02 18 03 A9 83 85",
    "08 02 80 01 01 1E 02 82 88",
    "08 02 80 01 45 08 02 82 91 1E 02 82 88",
    "08 02 00 01 7D 08 03 80 E0 18 14 01 01",
    "08 02 92 34 5A 08 02 80 D1",
    "08 02 00 00 46 18 03 A9 83 85 79 01 80",
    "03 02 80 00 07 01 01 C2 18 03 A9 83 85",
    "08 02 00 07 7B A1 70 02 80 35",
    "08 02 00 05 05 04 04 88 90 21 8F 18 04 E9 81 83 85 96 01 01 00 9D 32 01 01",
];

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn coding() -> impl Strategy<Value = CodingStandard> {
    (0u8..4).prop_map(CodingStandard)
}

fn bearer() -> impl Strategy<Value = BearerCapability> {
    (
        coding(),
        0u8..32,
        0u8..4,
        prop_oneof![Just(0x10u8), Just(0x11), Just(0x13), Just(0x18), 0u8..32],
        1u8..128,
        proptest::option::of(0u8..32),
        proptest::collection::vec(0u8..128, 0..3),
        proptest::option::of(0u8..32),
    )
        .prop_map(|(cs, itc, mode, rate, mult, l1, opts, l2)| {
            let mut layer1_options: Vec<u8> = opts;
            if let Some(last) = layer1_options.last_mut() {
                *last |= 0x80;
            }
            BearerCapability {
                coding_standard: cs,
                transfer_capability: TransferCapability(itc),
                transfer_mode: TransferMode(mode),
                rate: TransferRate(rate),
                rate_multiplier: (rate == 0x18).then_some(mult),
                layer1: l1.map(Layer1Protocol),
                layer1_options: if l1.is_some() {
                    layer1_options
                } else {
                    Vec::new()
                },
                higher_layers: l2.map(|p| vec![0xC0 | p]).unwrap_or_default(),
            }
        })
}

fn channel() -> impl Strategy<Value = ChannelId> {
    (
        proptest::option::of(0u8..128),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        proptest::option::of((coding(), any::<bool>(), 0u8..16)),
        proptest::collection::vec(0u8..128, 1..6),
    )
        .prop_map(|(iid, pri, excl, d, sel, ty, chans)| ChannelId {
            interface_id: iid,
            primary_rate: pri,
            exclusive: excl,
            d_channel: d,
            selection: ChannelSelection(sel),
            channel_type: if pri {
                ty.map(|(cs, map, et)| ChannelType {
                    coding_standard: cs,
                    slot_map: map,
                    element_type: ElementType(et),
                })
            } else {
                None
            },
            channels: if pri && ty.is_some() {
                chans
            } else {
                Vec::new()
            },
        })
}

fn cause() -> impl Strategy<Value = CauseIe> {
    (
        coding(),
        0u8..16,
        proptest::option::of(0u8..128),
        0u8..128,
        proptest::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(cs, loc, rec, value, diag)| CauseIe {
            coding_standard: cs,
            location: Location(loc),
            recommendation: rec,
            value: Cause(value),
            diagnostics: diag,
        })
}

fn progress() -> impl Strategy<Value = ProgressIndicator> {
    (coding(), 0u8..16, 0u8..128).prop_map(|(cs, loc, d)| ProgressIndicator {
        coding_standard: cs,
        location: Location(loc),
        description: ProgressDescription(d),
    })
}

fn number() -> impl Strategy<Value = PartyNumber> {
    (
        0u8..8,
        0u8..16,
        proptest::option::of((0u8..4, 0u8..4, proptest::option::of(0u8..16))),
        "[0-9*#]{0,20}",
    )
        .prop_map(|(ton, plan, pres, digits)| PartyNumber {
            type_of_number: TypeOfNumber(ton),
            numbering_plan: NumberingPlan(plan),
            presentation: pres.map(|(p, s, _)| PresentationScreening {
                presentation: Presentation(p),
                screening: Screening(s),
            }),
            reason: pres.and_then(|(_, _, r)| r).map(RedirectionReason),
            digits,
        })
}

fn display() -> impl Strategy<Value = Display> {
    (proptest::option::of(0x80u8..=0xFF), "[ -~]{0,30}").prop_map(|(charset, text)| Display {
        charset,
        text: text.into_bytes(),
    })
}

fn date_time() -> impl Strategy<Value = DateTime> {
    (
        any::<u8>(),
        1u8..13,
        1u8..32,
        proptest::option::of((
            0u8..24,
            proptest::option::of((0u8..60, proptest::option::of(0u8..60))),
        )),
    )
        .prop_map(|(year, month, day, time)| DateTime {
            year,
            month,
            day,
            hour: time.map(|(h, _)| h),
            minute: time.and_then(|(_, m)| m.map(|(m, _)| m)),
            second: time.and_then(|(_, m)| m.and_then(|(_, s)| s)),
        })
}

/// One element to push into a generated message.
#[derive(Clone, Debug)]
enum Element {
    Typed(Ie),
    Single(u8),
    Shift(Shift),
    Other(Codeset, u8, Vec<u8>),
}

fn typed_ie() -> impl Strategy<Value = Ie> {
    prop_oneof![
        bearer().prop_map(|v| Ie::new(IeId::BEARER_CAPABILITY, &v).unwrap()),
        channel().prop_map(|v| Ie::new(IeId::CHANNEL_ID, &v).unwrap()),
        cause().prop_map(|v| Ie::new(IeId::CAUSE, &v).unwrap()),
        progress().prop_map(|v| Ie::new(IeId::PROGRESS_INDICATOR, &v).unwrap()),
        number().prop_map(|v| Ie::new(IeId::CALLING_PARTY_NUMBER, &v).unwrap()),
        number().prop_map(|v| Ie::new(IeId::CALLED_PARTY_NUMBER, &v).unwrap()),
        number().prop_map(|v| Ie::new(IeId::REDIRECTING_NUMBER, &v).unwrap()),
        display().prop_map(|v| Ie::new(IeId::DISPLAY, &v).unwrap()),
        date_time().prop_map(|v| Ie::new(IeId::DATE_TIME, &v).unwrap()),
        prop_oneof![Just(0u8), Just(6), Just(7)].prop_map(|c| Ie::new(
            IeId::RESTART_INDICATOR,
            &RestartIndicator::new(RestartClass(c))
        )
        .unwrap()),
        (coding(), 0u8..64).prop_map(|(cs, s)| Ie::new(
            IeId::CALL_STATE,
            &CallStateIe {
                coding_standard: cs,
                state: dialgate::isdn::q931::ie::CallState(s)
            }
        )
        .unwrap()),
        any::<u8>().prop_map(|s| Ie::new(IeId::SIGNAL, &Signal(s)).unwrap()),
        "[0-9*#]{1,8}".prop_map(|d| Ie::new(IeId::KEYPAD_FACILITY, &Keypad { digits: d }).unwrap()),
    ]
}

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        6 => typed_ie().prop_map(Element::Typed),
        1 => prop_oneof![Just(0xA0u8), Just(0xA1), 0xB0u8..0xC0, 0xD0u8..0xE0].prop_map(Element::Single),
        1 => (1u8..8).prop_map(|c| Element::Shift(Shift::Locking(Codeset(c)))),
        2 => (prop_oneof![Just(0u8), 4u8..8], 0u8..128, proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(c, id, contents)| Element::Other(Codeset(c), id, contents)),
    ]
}

fn call_ref() -> impl Strategy<Value = CallRef> {
    prop_oneof![
        Just(CallRef::DUMMY),
        (0u8..128, any::<bool>()).prop_map(|(v, f)| CallRef::one_octet(v, f)),
        (0u16..0x8000, any::<bool>()).prop_map(|(v, f)| CallRef::new(v, f)),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        call_ref(),
        prop_oneof![
            Just(MessageType::SETUP),
            Just(MessageType::ALERTING),
            Just(MessageType::CONNECT),
            Just(MessageType::DISCONNECT),
            Just(MessageType::INFORMATION),
            Just(MessageType::STATUS),
            Just(MessageType(0x3A)),
        ],
        proptest::collection::vec(element(), 0..12),
    )
        .prop_map(|(cr, mt, elements)| {
            let mut m = Message::new(cr, mt);
            for e in elements {
                match e {
                    Element::Typed(ie) => m.push(ie),
                    Element::Single(o) => m.push(Ie::single(Codeset::ITU, o)),
                    Element::Shift(s) => m.push(Ie::shift(Codeset::ITU, s)),
                    Element::Other(c, id, contents) => {
                        m.push(Ie::variable(c, IeId(id), contents).unwrap())
                    }
                }
            }
            m
        })
}

/// A framing-valid message whose elements carry random contents under real identifiers.
fn framed_random() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(0x08u8), Just(0x03), Just(0x43)],
        any::<[u8; 3]>(),
        proptest::collection::vec(
            (
                proptest::sample::select(KNOWN_IDS),
                proptest::collection::vec(any::<u8>(), 0..10),
            ),
            0..8,
        ),
    )
        .prop_map(|(pd, [a, b, mt], ies)| {
            let mut out = vec![pd, 0x02, a, b, mt & 0x7F];
            for (id, contents) in ies {
                out.push(id);
                out.push(contents.len() as u8);
                out.extend(contents);
            }
            out
        })
}

fn check_round_trip<T: IeCodec + PartialEq + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let mut contents = Vec::new();
    value.encode(&mut contents);
    let back = T::decode(&contents);
    prop_assert_eq!(back.as_ref(), Ok(value), "contents {:02X?}", contents);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_octets_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Message::decode(&bytes);
        if let Ok(m) = Message::decode_unchecked(&bytes) {
            exercise(&m);
            prop_assert_eq!(m.encode(), bytes);
        }
    }

    #[test]
    fn random_contents_under_real_identifiers_never_panic_and_round_trip(bytes in framed_random()) {
        let m = Message::decode_unchecked(&bytes).unwrap();
        exercise(&m);
        prop_assert_eq!(m.encode(), bytes.clone());
        if let Ok(checked) = Message::decode(&bytes) {
            prop_assert_eq!(checked.encode(), bytes);
        }
    }

    #[test]
    fn generated_messages_encode_decode_encode_identically(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        let back = Message::decode_unchecked(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(&back, &m);
        exercise(&back);
    }

    #[test]
    fn mutated_reference_messages_that_decode_re_encode_exactly(
        which in 0..REFERENCE.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = hex(REFERENCE[which]);
        for (at, value, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = value,
                1 => bytes.insert(i, value),
                _ => bytes.truncate(i),
            }
        }
        if let Ok(m) = Message::decode_unchecked(&bytes) {
            exercise(&m);
            prop_assert_eq!(m.encode(), bytes.clone());
        }
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }

    #[test]
    fn typed_elements_round_trip(
        bc in bearer(), ch in channel(), c in cause(), p in progress(), n in number(),
        d in display(), dt in date_time(),
    ) {
        check_round_trip(&bc)?;
        check_round_trip(&ch)?;
        check_round_trip(&c)?;
        check_round_trip(&p)?;
        check_round_trip(&n)?;
        check_round_trip(&d)?;
        check_round_trip(&dt)?;
    }

    #[test]
    fn typed_decoders_never_panic(contents in proptest::collection::vec(any::<u8>(), 0..16)) {
        let _ = BearerCapability::decode(&contents);
        let _ = ChannelId::decode(&contents);
        let _ = CauseIe::decode(&contents);
        let _ = ProgressIndicator::decode(&contents);
        let _ = PartyNumber::decode(&contents);
        let _ = Display::decode(&contents);
        let _ = DateTime::decode(&contents);
        let _ = RestartIndicator::decode(&contents);
        let _ = CallStateIe::decode(&contents);
        let _ = dialgate::isdn::q931::ie::NetworkSpecificFacilities::decode(&contents);
        let _ = dialgate::isdn::q931::ie::HighLayerCompatibility::decode(&contents);
    }

    #[test]
    fn built_setups_parse_back_to_the_same_view(
        bc in bearer(), ch in channel(), calling in proptest::option::of(number()),
        called in proptest::option::of(number()), pis in proptest::collection::vec(progress(), 0..3),
        sc in any::<bool>(), cr in 1u16..0x8000,
    ) {
        let setup = Setup {
            progress: pis,
            calling,
            called,
            sending_complete: sc,
            ..Setup::new(bc, ch)
        };
        let bytes = setup.to_message(CallRef::new(cr, false)).unwrap().encode();
        let m = Message::decode(&bytes).unwrap();
        prop_assert_eq!(Setup::from_message(&m).unwrap(), setup);
        prop_assert_eq!(m.encode(), bytes);
    }
}
