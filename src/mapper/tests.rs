//! The mapper as a state table: an event in, the actions out, for every row of
//! `interworking.md` §3.5, §4.4, §5 that the issue lists.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::isdn::q931::ie::{Layer1Protocol, PartyNumber, ProgressIndicator, TransferCapability};
use crate::isdn::q931::{CallRef, Location};
use crate::isdn::{ClearOrigin, Command as Q};

const PLAN: &str = r#"
trunk_groups:
  - name: pbxes
    spans: [span1, span2]
dial_peers:
  # SIP -> PBX: extensions 2XXX on either span (trunk group), then span3 as a last resort.
  - tag: 1
    type: pots
    trunk_group: pbxes
    destination_pattern: "2...$"
    digit_strip: false
    incoming_called_number: "555....$"
  - tag: 2
    type: pots
    port: span3
    preference: 1
    destination_pattern: "2...$"
    digit_strip: false
  # 3XXX: one span, huntstop.
  - tag: 3
    type: pots
    port: span1
    huntstop: true
    destination_pattern: "3...$"
    digit_strip: false
  - tag: 4
    type: pots
    port: span3
    preference: 1
    destination_pattern: "3...$"
    digit_strip: false
  # PBX -> SIP: 5551XXX to A (preference 0) then B.
  - tag: 100
    type: voip
    session_target: "ipv4:127.0.0.1:5070"
    destination_pattern: "5551...$"
    incoming_called_number: "2...$"
  - tag: 101
    type: voip
    session_target: "ipv4:127.0.0.1:5071"
    preference: 1
    destination_pattern: "5551...$"
  # 5552XXX: A with huntstop, then B (never tried).
  - tag: 102
    type: voip
    session_target: "ipv4:127.0.0.1:5070"
    huntstop: true
    destination_pattern: "5552...$"
  - tag: 103
    type: voip
    session_target: "ipv4:127.0.0.1:5071"
    preference: 1
    destination_pattern: "5552...$"
  # 5553XXX: A at most one call, then B.
  - tag: 104
    type: voip
    session_target: "ipv4:127.0.0.1:5070"
    max_conn: 1
    destination_pattern: "5553...$"
  - tag: 105
    type: voip
    session_target: "ipv4:127.0.0.1:5071"
    preference: 1
    destination_pattern: "5553...$"
  # 5554XXX: C, whose 486 means 21 and whose 34 means 600.
  - tag: 106
    type: voip
    session_target: "ipv4:127.0.0.1:5072"
    destination_pattern: "5554...$"
    cause_map:
      sip_to_q850: {486: 21}
  # 5555XXX: C again, behind NAT and with digits in band.
  - tag: 107
    type: voip
    session_target: "ipv4:127.0.0.1:5072"
    destination_pattern: "5555...$"
    dtmf_relay: inband
    symmetric_rtp: true
  # SIP -> PBX 4XXX: the inbound peer says the same.
  - tag: 108
    type: voip
    incoming_called_number: "4...$"
    dtmf_relay: inband
    symmetric_rtp: true
  - tag: 5
    type: pots
    port: span1
    destination_pattern: "4...$"
    digit_strip: false
"#;

const A: sip::PeerId = 0;
const B: sip::PeerId = 1;
const RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);
const PEER_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000);
const SIP_CALLER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5070);

#[expect(clippy::disallowed_methods, reason = "test epoch")]
fn epoch() -> Instant {
    Instant::now()
}

fn spans(side: Side) -> Vec<SpanInfo> {
    ["span1", "span2", "span3"]
        .iter()
        .map(|n| SpanInfo {
            name: (*n).to_owned(),
            side,
            law: Law::MuLaw,
            channels: 2,
        })
        .collect()
}

fn table(text: &str) -> Arc<RoutingTable> {
    Arc::new(RoutingTable::from_sources(&[(Path::new("plan.yaml"), text)]).expect("plan loads"))
}

/// A mapper with every span's D-channel up; the gateway on `side` of each PRI.
fn mapper_on(side: Side) -> (Mapper, Instant) {
    let peers = [5070, 5071, 5072]
        .iter()
        .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *p))
        .collect();
    let mut config = Config::new(spans(side), peers);
    config.host = "gw".into();
    config.invite_timeout = Duration::from_secs(4);
    let mut m = Mapper::new(config, table(PLAN), sip::CallIds::default());
    let t0 = epoch();
    for s in 0..3 {
        m.handle_isdn(t0, s, isdn::Event::LinkUp);
    }
    (m, t0)
}

fn mapper() -> (Mapper, Instant) {
    mapper_on(Side::User)
}

fn drain(m: &mut Mapper) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

fn events(m: &mut Mapper) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn media() -> sip::Media {
    sip::Media {
        rtcp: None,
        rtp: PEER_RTP,
        codecs: vec![sip::Codec::Pcmu],
        telephone_event: Some(101),
        ptime: Some(20),
        direction: sip::Direction::SendRecv,
    }
}

fn setup_indication(call: u32, channel: u8, called: &str) -> Box<SetupIndication> {
    Box::new(SetupIndication {
        call: isdn::CallId(call),
        call_ref: CallRef::new(call as u16, false),
        called: Some(PartyNumber::new(
            TypeOfNumber::UNKNOWN,
            NumberingPlan::ISDN,
            called,
        )),
        calling: Some(
            PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125551000")
                .with_presentation(Presentation::ALLOWED, Screening::NETWORK_PROVIDED),
        ),
        redirecting: None,
        bearer: BearerCapability::speech(Layer1Protocol::G711_MU_LAW),
        law: Layer1Protocol::G711_MU_LAW,
        channel,
        exclusive: true,
        progress: Vec::new(),
        display: None,
        sending_complete: true,
    })
}

fn place(a: &Action) -> Option<&sip::Outgoing> {
    match a {
        Action::Sip(sip::Command::Place(o)) => Some(o),
        _ => None,
    }
}

fn isdn_cmd(a: &Action) -> Option<(SpanId, &isdn::Command)> {
    match a {
        Action::Isdn { span, command } => Some((*span, command)),
        _ => None,
    }
}

fn sip_release(a: &Action) -> Option<(u8, Option<u16>)> {
    match a {
        Action::Sip(sip::Command::Release { cause, status, .. }) => Some((*cause, *status)),
        _ => None,
    }
}

fn isdn_release(a: &Action) -> Option<Cause> {
    match isdn_cmd(a) {
        Some((_, Q::Release { cause, .. })) => Some(*cause),
        _ => None,
    }
}

/// PBX -> SIP up to the INVITE: SETUP in, media open answered. Returns the first
/// attempt's SIP call id.
fn pstn_call_invited(m: &mut Mapper, t0: Instant, called: &str) -> (Vec<Action>, sip::CallId) {
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(1, 5, called)));
    let mut out = drain(m);
    let call = out
        .iter()
        .find_map(|a| match a {
            Action::Media(Media::Open { call, .. }) => Some(*call),
            _ => None,
        })
        .expect("media open asked for");
    m.handle_media_opened(t0, call, Some(RTP));
    out.extend(drain(m));
    let sip_id = out.iter().find_map(place).expect("INVITE placed").call;
    (out, sip_id)
}

fn incoming(call: u64, called: &str) -> sip::Event {
    sip::Event::Incoming(Box::new(sip::Incoming {
        call: sip::CallId(call),
        peer: Some(A),
        source: SIP_CALLER,
        transport: sip::Transport::Udp,
        sip_call_id: format!("{call}-cid@test"),
        request_uri: format!("sip:{called}@gw"),
        called: Some(called.into()),
        calling: sip::Party {
            user: Some("5551000".into()),
            display: Some("Alice".into()),
        },
        asserted_identity: None,
        privacy: None,
        offer: Some(media()),
    }))
}

/// SIP -> PBX up to the SETUP: INVITE in, media open answered. Returns the actions
/// and the SETUP's span and Q.931 call id.
fn sip_call_setup(
    m: &mut Mapper,
    t0: Instant,
    called: &str,
) -> (Vec<Action>, SpanId, isdn::CallId) {
    m.handle_sip(t0, incoming(900, called));
    let mut out = drain(m);
    let call = out
        .iter()
        .find_map(|a| match a {
            Action::Media(Media::Open { call, .. }) => Some(*call),
            _ => None,
        })
        .expect("media open asked for");
    m.handle_media_opened(t0, call, Some(RTP));
    out.extend(drain(m));
    let (span, id) = out
        .iter()
        .find_map(|a| match isdn_cmd(a) {
            Some((span, Q::Setup { call, .. })) => Some((span, *call)),
            _ => None,
        })
        .expect("SETUP sent");
    (out, span, id)
}

fn cleared(call: isdn::CallId, cause: u8) -> isdn::Event {
    isdn::Event::Cleared {
        call,
        cause: Cause(cause),
        location: Some(Location::PUBLIC_LOCAL),
        origin: ClearOrigin::Peer,
    }
}

fn released(call: sip::CallId, status: Option<u16>, reason: Option<u16>) -> sip::Event {
    sip::Event::Released {
        call,
        status,
        reason: reason.map(|cause| sip::Reason {
            protocol: sip::ReasonProtocol::Q850,
            cause,
            text: None,
        }),
    }
}

fn ended(m: &mut Mapper) -> Option<(Cause, Option<u16>, bool)> {
    events(m).into_iter().find_map(|e| match e {
        Event::Ended {
            cause,
            status,
            answered,
            ..
        } => Some((cause, status, answered)),
        _ => None,
    })
}

// ---- PBX -> SIP ------------------------------------------------------------------

#[test]
fn setup_routed_to_sip_sends_call_proceeding_at_once_then_invite_with_identity() {
    let (mut m, t0) = mapper();
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(1, 5, "5551234")));
    let out = drain(&mut m);
    assert!(
        matches!(isdn_cmd(&out[0]), Some((0, Q::Proceeding { call })) if *call == isdn::CallId(1))
    );
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Media(Media::Open {
            law: Law::MuLaw,
            ..
        })
    )));
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Media(Media::Connect {
            span: 0,
            channel: 5,
            ..
        })
    )));
    assert!(
        out.iter().all(|a| place(a).is_none()),
        "no INVITE before the RTP port"
    );
    let call = m.call_for_isdn(0, isdn::CallId(1)).expect("call known");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    let invite = out.iter().find_map(place).expect("INVITE");
    assert_eq!(invite.peer, A);
    assert_eq!(invite.called, "5551234");
    assert_eq!(invite.calling.user.as_deref(), Some("2125551000"));
    assert_eq!(
        invite.asserted_identity.as_deref(),
        Some("<sip:2125551000@gw;user=phone>")
    );
    assert_eq!(invite.privacy, None);
    assert_eq!(invite.media.rtp, RTP);
    assert_eq!(
        invite.media.codecs,
        vec![sip::Codec::Pcmu, sip::Codec::Pcma]
    );
}

#[test]
fn setup_a_law_bearer_offers_pcma_first() {
    let (mut m, t0) = mapper();
    let mut s = setup_indication(1, 5, "5551234");
    s.law = Layer1Protocol::G711_A_LAW;
    s.bearer = BearerCapability::speech(Layer1Protocol::G711_A_LAW);
    m.handle_isdn(t0, 0, isdn::Event::Setup(s));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(1)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    let invite = out.iter().find_map(place).expect("INVITE");
    assert_eq!(
        invite.media.codecs,
        vec![sip::Codec::Pcma, sip::Codec::Pcmu]
    );
}

#[test]
fn setup_with_data_bearer_is_refused_with_cause_65() {
    let (mut m, t0) = mapper();
    let mut s = setup_indication(1, 5, "5551234");
    s.bearer.transfer_capability = TransferCapability::UNRESTRICTED_DIGITAL;
    m.handle_isdn(t0, 0, isdn::Event::Setup(s));
    let out = drain(&mut m);
    assert_eq!(out.len(), 1);
    assert_eq!(isdn_release(&out[0]), Some(Cause(65)));
}

#[test]
fn setup_with_no_outbound_peer_is_refused_with_cause_1() {
    let (mut m, t0) = mapper();
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(1, 5, "9999999")));
    let out = drain(&mut m);
    assert_eq!(out.len(), 1);
    assert_eq!(isdn_release(&out[0]), Some(Cause(1)));
    m.handle_isdn(t0, 0, cleared(isdn::CallId(1), 1));
    assert_eq!(m.call_count(), 0);
}

#[test]
fn restricted_calling_number_goes_anonymous_with_privacy_id() {
    let (mut m, t0) = mapper();
    let mut s = setup_indication(1, 5, "5551234");
    s.calling = Some(
        PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125551000")
            .with_presentation(Presentation::RESTRICTED, Screening::NETWORK_PROVIDED),
    );
    m.handle_isdn(t0, 0, isdn::Event::Setup(s));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(1)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    let invite = out.iter().find_map(place).expect("INVITE");
    assert_eq!(invite.calling.user, None);
    assert_eq!(invite.privacy.as_deref(), Some("id"));
    assert!(invite.asserted_identity.is_some());
}

#[test]
fn sip_trying_sends_nothing_to_the_pri() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(t0, sip::Event::Trying { call: sip_id });
    assert_eq!(drain(&mut m), vec![]);
}

#[test]
fn sip_180_without_sdp_on_user_side_sends_alerting_without_progress() {
    let (mut m, t0) = mapper_on(Side::User);
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Ringing {
            call: sip_id,
            media: None,
        },
    );
    let out = drain(&mut m);
    assert_eq!(
        out,
        vec![Action::Isdn {
            span: 0,
            command: Q::Alerting {
                call: isdn::CallId(1),
                progress: None
            }
        }]
    );
}

#[test]
fn sip_180_without_sdp_on_network_side_plays_ringback_and_sends_pi_8() {
    let (mut m, t0) = mapper_on(Side::Network);
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Ringing {
            call: sip_id,
            media: None,
        },
    );
    let out = drain(&mut m);
    let call = m.call_for_sip(sip_id).expect("call");
    assert_eq!(
        out,
        vec![
            Action::Media(Media::Play {
                call,
                tone: Some(Tone::Ringback)
            }),
            Action::Isdn {
                span: 0,
                command: Q::Alerting {
                    call: isdn::CallId(1),
                    progress: Some(ProgressDescription::IN_BAND_AVAILABLE)
                }
            }
        ]
    );
    // The answer stops the ringback and connects.
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: sip_id,
            media: Some(media()),
        },
    );
    let out = drain(&mut m);
    assert!(out.contains(&Action::Media(Media::Play { call, tone: None })));
    assert!(
        out.iter()
            .any(|a| matches!(isdn_cmd(a), Some((0, Q::Connect { .. }))))
    );
}

#[test]
fn sip_180_with_sdp_sends_alerting_pi_8_and_early_media() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Ringing {
            call: sip_id,
            media: Some(media()),
        },
    );
    let out = drain(&mut m);
    let call = m.call_for_sip(sip_id).expect("call");
    assert_eq!(
        out,
        vec![
            Action::Media(Media::Remote {
                call,
                media: media(),
                policy: MediaPolicy::default(),
            }),
            Action::Isdn {
                span: 0,
                command: Q::Alerting {
                    call: isdn::CallId(1),
                    progress: Some(ProgressDescription::IN_BAND_AVAILABLE)
                }
            }
        ]
    );
}

#[test]
fn sip_183_with_sdp_sends_progress_pi_8_and_early_media() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Progress {
            call: sip_id,
            media: Some(media()),
        },
    );
    let out = drain(&mut m);
    let call = m.call_for_sip(sip_id).expect("call");
    assert_eq!(
        out,
        vec![
            Action::Media(Media::Remote {
                call,
                media: media(),
                policy: MediaPolicy::default(),
            }),
            Action::Isdn {
                span: 0,
                command: Q::Progress {
                    call: isdn::CallId(1),
                    progress: ProgressDescription::IN_BAND_AVAILABLE
                }
            }
        ]
    );
}

#[test]
fn sip_183_without_sdp_sends_nothing() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Progress {
            call: sip_id,
            media: None,
        },
    );
    assert_eq!(drain(&mut m), vec![]);
}

#[test]
fn sip_200_sends_connect_and_sets_the_remote_media() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: sip_id,
            media: Some(media()),
        },
    );
    let out = drain(&mut m);
    let call = m.call_for_sip(sip_id).expect("call");
    assert_eq!(
        out,
        vec![
            Action::Media(Media::Remote {
                call,
                media: media(),
                policy: MediaPolicy::default(),
            }),
            Action::Isdn {
                span: 0,
                command: Q::Connect {
                    call: isdn::CallId(1),
                    connected: None
                }
            }
        ]
    );
}

#[test]
fn pbx_hangs_up_before_answer_cancels_with_its_cause() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Ringing {
            call: sip_id,
            media: None,
        },
    );
    drain(&mut m);
    m.handle_isdn(t0, 0, cleared(isdn::CallId(1), 16));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((16, None)));
    // The 487 to our CANCEL ends the call with the PBX's cause, not 487's.
    m.handle_sip(t0, released(sip_id, Some(487), None));
    let out = drain(&mut m);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Media(Media::Close { .. })))
    );
    assert_eq!(ended(&mut m), Some((Cause(16), Some(487), false)));
    assert_eq!(m.call_count(), 0);
}

#[test]
fn pbx_hangs_up_after_answer_sends_bye_with_its_cause() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: sip_id,
            media: None,
        },
    );
    drain(&mut m);
    m.handle_isdn(t0, 0, cleared(isdn::CallId(1), 31));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((31, None)));
    m.handle_sip(t0, released(sip_id, None, None));
    assert_eq!(ended(&mut m), Some((Cause(31), None, true)));
}

#[test]
fn sip_bye_after_answer_disconnects_with_cause_16_or_the_reason() {
    for (reason, want) in [(None, 16), (Some(17), 17)] {
        let (mut m, t0) = mapper();
        let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
        m.handle_sip(
            t0,
            sip::Event::Answered {
                call: sip_id,
                media: None,
            },
        );
        drain(&mut m);
        m.handle_sip(t0, released(sip_id, None, reason));
        let out = drain(&mut m);
        assert_eq!(
            out.iter().find_map(isdn_release),
            Some(Cause(want)),
            "{reason:?}"
        );
        m.handle_isdn(t0, 0, cleared(isdn::CallId(1), want));
        assert_eq!(m.call_count(), 0);
    }
}

/// §6.2 through the mapper: each final response that does not hunt clears the PRI
/// with its cause.
#[test]
fn sip_final_responses_that_do_not_hunt_disconnect_with_the_mapped_cause() {
    for (status, cause) in [
        (486, 17),
        (404, 1),
        (403, 21),
        (484, 28),
        (480, 18),
        (603, 21),
        (600, 17),
        (604, 1),
    ] {
        let (mut m, t0) = mapper();
        let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
        m.handle_sip(t0, released(sip_id, Some(status), None));
        let out = drain(&mut m);
        assert!(
            out.iter().all(|a| place(a).is_none()),
            "{status} must not hunt"
        );
        assert_eq!(
            out.iter().find_map(isdn_release),
            Some(Cause(cause)),
            "{status}"
        );
    }
}

/// A refused call from the PBX: on the network side of the PRI the DISCONNECT says
/// in-band information follows (PI 8) and the B-channel plays why; on the user side the
/// PBX is the network and gives its own tones.
#[test]
fn a_refusal_on_the_network_side_is_explained_in_band_busy_or_congestion() {
    // (gateway's side, SIP final response, cause, tone played)
    let rows = [
        (Side::Network, 486, 17, Some(Tone::Busy)),
        (Side::Network, 600, 17, Some(Tone::Busy)),
        (Side::Network, 404, 1, Some(Tone::Congestion)),
        (Side::Network, 480, 18, Some(Tone::Congestion)),
        (Side::Network, 603, 21, Some(Tone::Congestion)),
        (Side::User, 486, 17, None),
        (Side::User, 404, 1, None),
    ];
    for (side, status, cause, tone) in rows {
        let (mut m, t0) = mapper_on(side);
        let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
        m.handle_sip(t0, released(sip_id, Some(status), None));
        let out = drain(&mut m);
        let played = out.iter().find_map(|a| match a {
            Action::Media(Media::Play { tone, .. }) => Some(*tone),
            _ => None,
        });
        let release = out.iter().find_map(|a| match isdn_cmd(a) {
            Some((
                _,
                Q::Release {
                    cause, progress, ..
                },
            )) => Some((*cause, *progress)),
            _ => None,
        });
        let progress = tone.map(|_| ProgressDescription::IN_BAND_AVAILABLE);
        assert_eq!(
            (played, release),
            (tone.map(Some), Some((Cause(cause), progress))),
            "{side:?} {status}: {out:?}"
        );
        // The tone plays until the PBX releases: then the call and its leg go.
        m.handle_isdn(t0, 0, cleared(isdn::CallId(1), cause));
        assert!(
            drain(&mut m)
                .iter()
                .any(|a| matches!(a, Action::Media(Media::Close { .. }))),
            "{side:?} {status}: leg closed"
        );
        assert_eq!(m.call_count(), 0);
    }
}

#[test]
fn sip_final_response_reason_header_overrides_the_table() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(t0, released(sip_id, Some(486), Some(21)));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(21)));
}

#[test]
fn per_peer_cause_map_overrides_the_table() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5554000");
    m.handle_sip(t0, released(sip_id, Some(486), None));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(21)));
}

#[test]
fn retryable_responses_hunt_to_the_next_peer_with_a_new_call() {
    for status in [408, 500, 502, 503, 504] {
        let (mut m, t0) = mapper();
        let (_, first) = pstn_call_invited(&mut m, t0, "5551234");
        m.handle_sip(t0, released(first, Some(status), None));
        let out = drain(&mut m);
        let second = out.iter().find_map(place).expect("hunted");
        assert_eq!(second.peer, B, "{status}");
        assert_ne!(second.call, first, "a new SIP call per attempt");
        assert!(out.iter().all(|a| isdn_release(a).is_none()));
        // The last peer fails too: the cause of the last attempt.
        let second = second.call;
        m.handle_sip(t0, released(second, Some(503), None));
        let out = drain(&mut m);
        assert_eq!(
            out.iter().find_map(isdn_release),
            Some(Cause(41)),
            "{status}"
        );
    }
}

#[test]
fn no_response_within_the_invite_timeout_gives_up_and_hunts() {
    let (mut m, t0) = mapper();
    let (_, first) = pstn_call_invited(&mut m, t0, "5551234");
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    m.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(drain(&mut m), vec![], "early timeouts do nothing");
    m.handle_timeout(t0 + Duration::from_secs(4));
    let out = drain(&mut m);
    assert_eq!(
        out[0],
        Action::Sip(sip::Command::Release {
            call: first,
            cause: 102,
            status: None
        })
    );
    let second = out.iter().find_map(place).expect("hunted");
    assert_eq!(second.peer, B);
    // The abandoned attempt's late Released is ignored.
    m.handle_sip(t0, released(first, Some(487), None));
    assert_eq!(drain(&mut m), vec![]);
    // B times out too: cause 102 to the PBX.
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(8)));
    m.handle_timeout(t0 + Duration::from_secs(8));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(102)));
}

#[test]
fn a_provisional_stops_the_invite_timeout() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(t0, sip::Event::Trying { call: sip_id });
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn huntstop_peer_failure_does_not_hunt() {
    let (mut m, t0) = mapper();
    let (_, first) = pstn_call_invited(&mut m, t0, "5552000");
    m.handle_sip(t0, released(first, Some(503), None));
    let out = drain(&mut m);
    assert!(out.iter().all(|a| place(a).is_none()));
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(41)));
}

#[test]
fn max_conn_peer_is_skipped_while_full() {
    let (mut m, t0) = mapper();
    let (_, _) = pstn_call_invited(&mut m, t0, "5553000");
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(2, 6, "5553001")));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(2)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(place).map(|o| o.peer), Some(B));
}

#[test]
fn peer_marked_down_by_options_is_skipped() {
    let (mut m, t0) = mapper();
    m.handle_sip(t0, sip::Event::PeerStatus { peer: A, up: false });
    let (out, _) = pstn_call_invited(&mut m, t0, "5551234");
    assert_eq!(out.iter().find_map(place).map(|o| o.peer), Some(B));
    m.handle_sip(t0, sip::Event::PeerStatus { peer: A, up: true });
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(2, 6, "5551235")));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(2)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    assert_eq!(
        drain(&mut m).iter().find_map(place).map(|o| o.peer),
        Some(A)
    );
}

#[test]
fn span_down_mid_call_clears_sip_with_cause_38() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: sip_id,
            media: None,
        },
    );
    drain(&mut m);
    // The D-channel clears every call with 38 when layer 1 goes, then reports the link.
    m.handle_isdn(
        t0,
        0,
        isdn::Event::Cleared {
            call: isdn::CallId(1),
            cause: Cause::NETWORK_OUT_OF_ORDER,
            location: None,
            origin: ClearOrigin::Link,
        },
    );
    m.handle_isdn(t0, 0, isdn::Event::LinkDown);
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((38, None)));
    assert!(!m.span_up(0));
}

#[test]
fn media_port_failure_clears_with_cause_47() {
    let (mut m, t0) = mapper();
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(1, 5, "5551234")));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(1)).expect("call");
    m.handle_media_opened(t0, call, None);
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(47)));
}

// ---- SIP -> PBX ------------------------------------------------------------------

#[test]
fn invite_routed_to_a_span_opens_media_then_sends_setup() {
    let (mut m, t0) = mapper();
    m.handle_sip(t0, incoming(900, "2001"));
    let out = drain(&mut m);
    assert!(matches!(
        out[..],
        [Action::Media(Media::Open {
            law: Law::MuLaw,
            ..
        })]
    ));
    let call = m.call_for_sip(sip::CallId(900)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    assert_eq!(
        out[0],
        Action::Media(Media::Remote {
            call,
            media: media(),
            policy: MediaPolicy::default(),
        })
    );
    let Some((0, Q::Setup { request, .. })) = isdn_cmd(&out[1]) else {
        panic!("no SETUP on span1: {out:?}");
    };
    assert_eq!(request.called.digits, "2001");
    let calling = request.calling.as_ref().expect("calling");
    assert_eq!(calling.digits, "5551000");
    assert_eq!(
        calling.presentation_or_default().screening,
        Screening::USER_NOT_SCREENED
    );
    assert_eq!(
        request.bearer,
        Some(BearerCapability::speech(Layer1Protocol::G711_MU_LAW))
    );
    assert_eq!(request.display.as_deref(), Some("Alice"));
}

#[test]
fn pri_proceeding_sends_nothing_and_connects_the_channel() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Proceeding {
            call: id,
            channel: 3,
        },
    );
    let out = drain(&mut m);
    assert!(matches!(
        out[..],
        [Action::Media(Media::Connect { channel: 3, .. })]
    ));
}

#[test]
fn pri_alerting_without_pi_sends_180() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Alerting {
            call: id,
            channel: 3,
            progress: vec![],
        },
    );
    let out = drain(&mut m);
    assert!(out.contains(&Action::Sip(sip::Command::Provisional {
        call: sip::CallId(900),
        response: sip::Provisional::Ringing
    })));
}

#[test]
fn pri_alerting_with_pi_8_sends_183_with_sdp() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    let pi = ProgressIndicator::new(
        Location::PUBLIC_LOCAL,
        ProgressDescription::IN_BAND_AVAILABLE,
    );
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Alerting {
            call: id,
            channel: 3,
            progress: vec![pi],
        },
    );
    let out = drain(&mut m);
    assert!(out.contains(&Action::Sip(sip::Command::Provisional {
        call: sip::CallId(900),
        response: sip::Provisional::Progress(sip::LocalMedia {
            rtp: RTP,
            codecs: vec![sip::Codec::Pcmu, sip::Codec::Pcma]
        })
    })));
}

#[test]
fn pri_progress_with_pi_1_sends_183_once() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    let pi = ProgressIndicator::new(
        Location::PUBLIC_LOCAL,
        ProgressDescription::NOT_END_TO_END_ISDN,
    );
    for _ in 0..2 {
        m.handle_isdn(
            t0,
            span,
            isdn::Event::Progress {
                call: id,
                progress: vec![pi],
                cause: None,
            },
        );
    }
    let out = drain(&mut m);
    let n = out
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Sip(sip::Command::Provisional {
                    response: sip::Provisional::Progress(_),
                    ..
                })
            )
        })
        .count();
    assert_eq!(n, 1);
}

#[test]
fn pri_connect_sends_200_with_our_sdp() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Connect {
            call: id,
            channel: 3,
            connected: None,
        },
    );
    let out = drain(&mut m);
    assert!(out.contains(&Action::Sip(sip::Command::Answer {
        call: sip::CallId(900),
        media: sip::LocalMedia {
            rtp: RTP,
            codecs: vec![sip::Codec::Pcmu, sip::Codec::Pcma]
        }
    })));
}

#[test]
fn sip_cancel_disconnects_with_cause_16() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_sip(t0, released(sip::CallId(900), Some(487), None));
    let out = drain(&mut m);
    assert_eq!(
        out,
        vec![Action::Isdn {
            span,
            command: Q::Release {
                call: id,
                cause: Cause(16),
                progress: None
            }
        }]
    );
    m.handle_isdn(t0, span, cleared(id, 16));
    assert!(
        drain(&mut m)
            .iter()
            .any(|a| matches!(a, Action::Media(Media::Close { .. })))
    );
    assert_eq!(m.call_count(), 0);
}

#[test]
fn pri_disconnect_before_answer_sends_the_mapped_final_response() {
    for (cause, status) in [
        (17, 486),
        (1, 404),
        (18, 408),
        (19, 480),
        (21, 403),
        (28, 484),
        (31, 480),
        (16, 480),
    ] {
        let (mut m, t0) = mapper();
        let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
        m.handle_isdn(
            t0,
            span,
            isdn::Event::Alerting {
                call: id,
                channel: 3,
                progress: vec![],
            },
        );
        m.handle_isdn(t0, span, cleared(id, cause));
        let out = drain(&mut m);
        assert_eq!(
            out.iter().find_map(sip_release),
            Some((cause, Some(status))),
            "cause {cause}"
        );
        m.handle_sip(t0, released(sip::CallId(900), Some(status), None));
        assert_eq!(ended(&mut m), Some((Cause(cause), Some(status), false)));
    }
}

#[test]
fn pri_disconnect_after_answer_sends_bye() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Connect {
            call: id,
            channel: 3,
            connected: None,
        },
    );
    drain(&mut m);
    m.handle_isdn(t0, span, cleared(id, 16));
    assert_eq!(drain(&mut m).iter().find_map(sip_release), Some((16, None)));
}

#[test]
fn span_with_every_b_channel_busy_is_passed_over_for_the_next_span() {
    let (mut m, t0) = mapper();
    // span1 full (2 channels): its calls from the PBX.
    for (n, ch) in [(1, 1), (2, 2)] {
        m.handle_isdn(
            t0,
            0,
            isdn::Event::Setup(setup_indication(n, ch, "5551234")),
        );
    }
    drain(&mut m);
    let (_, span, _) = sip_call_setup(&mut m, t0, "2001");
    assert_eq!(span, 1, "span2 of the trunk group");
}

#[test]
fn channel_refused_on_one_span_hunts_to_the_next_candidate() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    assert_eq!(span, 0);
    m.handle_isdn(t0, 0, cleared(id, 34));
    let out = drain(&mut m);
    let next: Vec<SpanId> = out
        .iter()
        .filter_map(|a| match isdn_cmd(a) {
            Some((s, Q::Setup { .. })) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(next, vec![1]);
    // span2 and then span3 (peer 2) refuse too: 503 to the caller.
    let id2 = m
        .by_isdn
        .iter()
        .find(|((s, _), _)| *s == 1)
        .map(|((_, i), _)| *i)
        .expect("span2 call");
    m.handle_isdn(t0, 1, cleared(id2, 34));
    drain(&mut m);
    let id3 = m
        .by_isdn
        .iter()
        .find(|((s, _), _)| *s == 2)
        .map(|((_, i), _)| *i)
        .expect("span3 call");
    m.handle_isdn(t0, 2, cleared(id3, 34));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((34, Some(503))));
}

#[test]
fn user_busy_on_the_span_does_not_hunt() {
    let (mut m, t0) = mapper();
    let (_, _, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(t0, 0, cleared(id, 17));
    let out = drain(&mut m);
    assert!(
        out.iter()
            .all(|a| !matches!(isdn_cmd(a), Some((_, Q::Setup { .. }))))
    );
    assert_eq!(out.iter().find_map(sip_release), Some((17, Some(486))));
}

#[test]
fn huntstop_pots_peer_keeps_to_its_own_span() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "3001");
    assert_eq!(span, 0);
    m.handle_isdn(t0, 0, cleared(id, 34));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((34, Some(503))));
}

#[test]
fn every_span_down_refuses_the_invite_with_503() {
    let (mut m, t0) = mapper();
    for s in 0..3 {
        m.handle_isdn(t0, s, isdn::Event::LinkDown);
    }
    m.handle_sip(t0, incoming(900, "2001"));
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(sip_release), Some((34, Some(503))));
}

#[test]
fn span_down_fails_new_calls_over_to_the_next_span() {
    let (mut m, t0) = mapper();
    m.handle_isdn(t0, 0, isdn::Event::LinkDown);
    let (_, span, _) = sip_call_setup(&mut m, t0, "2001");
    assert_eq!(span, 1);
}

#[test]
fn span_down_mid_call_from_sip_sends_bye_with_cause_38() {
    let (mut m, t0) = mapper();
    let (_, span, id) = sip_call_setup(&mut m, t0, "2001");
    m.handle_isdn(
        t0,
        span,
        isdn::Event::Connect {
            call: id,
            channel: 1,
            connected: None,
        },
    );
    drain(&mut m);
    m.handle_isdn(t0, span, cleared(id, 38));
    assert_eq!(drain(&mut m).iter().find_map(sip_release), Some((38, None)));
}

#[test]
fn untrusted_invite_is_refused_with_403() {
    let (mut m, t0) = mapper();
    let sip::Event::Incoming(mut inc) = incoming(900, "2001") else {
        unreachable!()
    };
    inc.source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 5060);
    inc.peer = None;
    m.handle_sip(t0, sip::Event::Incoming(inc));
    assert_eq!(
        drain(&mut m).iter().find_map(sip_release),
        Some((21, Some(403)))
    );
}

/// A `dns:` target's address is known only once the shell resolves it; the endpoint
/// then matches INVITEs from it to the peer. Such a source is trusted while the plan
/// derives its trusted list from the targets, and not when the plan lists its own.
#[test]
fn a_source_matched_to_a_peer_is_trusted_unless_the_plan_lists_its_own() {
    let explicit = format!("{PLAN}trusted_sources: [\"192.0.2.0/24\"]\n");
    type Refusal = Option<(u8, Option<u16>)>;
    // (plan, endpoint matched the source to a peer, refused with (cause, status))
    let cases: [(&str, Option<sip::PeerId>, Refusal); 4] = [
        (PLAN, Some(B), None),
        (PLAN, None, Some((21, Some(403)))),
        (&explicit, Some(B), Some((21, Some(403)))),
        (&explicit, None, Some((21, Some(403)))),
    ];
    for (plan, peer, refused) in cases {
        let (mut m, t0) = mapper();
        m.set_table(table(plan));
        let sip::Event::Incoming(mut inc) = incoming(900, "2001") else {
            unreachable!()
        };
        inc.source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), 5060);
        inc.peer = peer;
        m.handle_sip(t0, sip::Event::Incoming(inc));
        let out = drain(&mut m);
        assert_eq!(
            out.iter().find_map(sip_release),
            refused,
            "explicit list: {}, peer: {peer:?}",
            plan.len() != PLAN.len()
        );
    }
}

#[test]
fn invite_for_an_unknown_number_gets_404() {
    let (mut m, t0) = mapper();
    m.handle_sip(t0, incoming(900, "7777"));
    assert_eq!(
        drain(&mut m).iter().find_map(sip_release),
        Some((1, Some(404)))
    );
}

#[test]
fn pai_with_privacy_id_sets_restricted_verified_calling_number() {
    let (mut m, t0) = mapper();
    let sip::Event::Incoming(mut inc) = incoming(900, "2001") else {
        unreachable!()
    };
    inc.asserted_identity = Some("<sip:+12125551000@pbx>".into());
    inc.privacy = Some("id".into());
    m.handle_sip(t0, sip::Event::Incoming(inc));
    drain(&mut m);
    let call = m.call_for_sip(sip::CallId(900)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    let out = drain(&mut m);
    let request = out
        .iter()
        .find_map(|a| match isdn_cmd(a) {
            Some((_, Q::Setup { request, .. })) => Some(request),
            _ => None,
        })
        .expect("SETUP");
    let calling = request.calling.as_ref().expect("calling");
    assert_eq!(calling.digits, "12125551000");
    assert_eq!(calling.type_of_number, TypeOfNumber::INTERNATIONAL);
    let ps = calling.presentation_or_default();
    assert_eq!(
        (ps.presentation, ps.screening),
        (Presentation::RESTRICTED, Screening::USER_PASSED)
    );
}

// ---- drain, reload -----------------------------------------------------------------

#[test]
fn draining_refuses_new_calls_and_clear_all_ends_the_rest() {
    let (mut m, t0) = mapper();
    let (_, sip_id) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: sip_id,
            media: None,
        },
    );
    drain(&mut m);
    m.handle_drain();
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(2, 6, "5551235")));
    assert_eq!(drain(&mut m).iter().find_map(isdn_release), Some(Cause(41)));
    m.handle_sip(t0, incoming(901, "2001"));
    assert_eq!(
        drain(&mut m).iter().find_map(sip_release),
        Some((41, Some(503)))
    );
    m.handle_clear_all(t0);
    let out = drain(&mut m);
    assert_eq!(out.iter().find_map(isdn_release), Some(Cause(16)));
    assert_eq!(out.iter().find_map(sip_release), Some((16, None)));
}

#[test]
fn reload_changes_routing_for_new_calls_only() {
    let (mut m, t0) = mapper();
    let (_, first) = pstn_call_invited(&mut m, t0, "5551234");
    // The new plan sends 5551XXX to B only.
    let new_plan = r#"
dial_peers:
  - tag: 1
    type: pots
    port: span1
    incoming_called_number: "555....$"
  - tag: 101
    type: voip
    session_target: "ipv4:127.0.0.1:5071"
    destination_pattern: "5551...$"
"#;
    m.set_table(table(new_plan));
    // The call in progress still hunts along its old list (A then B).
    m.handle_sip(t0, released(first, Some(503), None));
    assert_eq!(
        drain(&mut m).iter().find_map(place).map(|o| o.peer),
        Some(B)
    );
    m.handle_isdn(t0, 0, isdn::Event::Setup(setup_indication(2, 6, "5551235")));
    drain(&mut m);
    let call = m.call_for_isdn(0, isdn::CallId(2)).expect("call");
    m.handle_media_opened(t0, call, Some(RTP));
    assert_eq!(
        drain(&mut m).iter().find_map(place).map(|o| o.peer),
        Some(B)
    );
}

#[test]
fn stray_events_are_counted_and_ignored() {
    let (mut m, t0) = mapper();
    m.handle_sip(
        t0,
        sip::Event::Ringing {
            call: sip::CallId(77),
            media: None,
        },
    );
    m.handle_isdn(t0, 0, cleared(isdn::CallId(9), 16));
    m.handle_isdn(t0, 99, isdn::Event::LinkUp);
    assert_eq!(drain(&mut m), vec![]);
    assert_eq!(m.counters().stray, 3);
}

#[test]
fn answer_after_a_failed_attempt_ends_with_the_answered_calls_cause() {
    let (mut m, t0) = mapper();
    let (_, first) = pstn_call_invited(&mut m, t0, "5551234");
    m.handle_sip(t0, released(first, Some(503), None));
    let second = drain(&mut m).iter().find_map(place).expect("hunted").call;
    m.handle_sip(
        t0,
        sip::Event::Answered {
            call: second,
            media: None,
        },
    );
    m.handle_sip(t0, released(second, None, None));
    m.handle_isdn(t0, 0, cleared(isdn::CallId(1), 16));
    assert_eq!(ended(&mut m), Some((Cause(16), None, true)));
}

/// The `Media::Remote` among `out`: its policy.
fn policy_in(out: &[Action]) -> Option<MediaPolicy> {
    out.iter().find_map(|a| match a {
        Action::Media(Media::Remote { policy, .. }) => Some(*policy),
        _ => None,
    })
}

#[test]
fn the_voip_dial_peers_dtmf_relay_and_symmetric_rtp_go_with_the_peers_sdp() {
    let nat = MediaPolicy {
        dtmf_relay: DtmfRelay::Inband,
        symmetric_rtp: true,
    };
    // (from the PSTN, called number, the policy the media leg is given)
    let rows = [
        // Outbound peer 100: the defaults.
        (true, "5551234", MediaPolicy::default()),
        // Outbound peer 107: in band, behind NAT.
        (true, "5555123", nat),
        // Inbound peer 100 (incoming called number 2...).
        (false, "2001", MediaPolicy::default()),
        // Inbound peer 108 (incoming called number 4...).
        (false, "4001", nat),
    ];
    for (i, (from_pstn, called, policy)) in rows.into_iter().enumerate() {
        let (mut m, t0) = mapper();
        let out = if from_pstn {
            let (_, sip_id) = pstn_call_invited(&mut m, t0, called);
            m.handle_sip(
                t0,
                sip::Event::Answered {
                    call: sip_id,
                    media: Some(media()),
                },
            );
            drain(&mut m)
        } else {
            m.handle_sip(t0, incoming(900 + i as u64, called));
            drain(&mut m);
            let call = m.call_for_sip(sip::CallId(900 + i as u64)).expect("call");
            m.handle_media_opened(t0, call, Some(RTP));
            drain(&mut m)
        };
        assert_eq!(policy_in(&out), Some(policy), "{called}: {out:?}");
    }
}
