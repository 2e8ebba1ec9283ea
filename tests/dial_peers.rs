//! Every shipped dial-peer file loads, passes `check` with no findings, and routes
//! the numbers its comments promise; the committed JSON Schema is current; the CLI
//! prints what docs/dial-peers.md shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use dialgate::routing::lint::{self, Severity};
use dialgate::routing::router::Target;
use dialgate::routing::translation::{Number, NumberType};
use dialgate::routing::{CallRequest, Idle, Origin, RouteError, RoutingTable, Tag};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_dirs() -> Vec<PathBuf> {
    vec![
        root().join("dial-peers"),
        root().join("dial-peers/examples"),
    ]
}

fn call(origin: Origin, called: &str, calling: Option<&str>) -> CallRequest {
    CallRequest {
        origin,
        called: Number::new(called),
        calling: calling.map(Number::new),
        seed: 0,
    }
}

fn sip(addr: &str) -> Origin {
    Origin::Sip(addr.parse().expect("address"))
}

fn span(name: &str) -> Origin {
    Origin::Span(name.into())
}

fn hunt(t: &RoutingTable, request: &CallRequest) -> Result<Vec<(Tag, Target)>, RouteError> {
    let route = t.route(request, &Idle)?;
    Ok(route
        .attempts
        .into_iter()
        .map(|a| (a.peer.tag, a.target))
        .collect())
}

#[test]
fn every_shipped_file_loads_and_passes_check_without_findings() {
    let mut files = 0;
    for dir in shipped_dirs() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files += 1;
                let t =
                    RoutingTable::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let findings = lint::check(&t, None);
                let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
                assert!(findings.is_empty(), "{}: {text:#?}", path.display());
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("# yaml-language-server: $schema="),
                    "{} must reference the schema",
                    path.display()
                );
            }
        }
        let t = RoutingTable::load(&dir).unwrap();
        assert!(
            lint::check(&t, None)
                .iter()
                .all(|f| f.severity != Severity::Error)
        );
    }
    assert!(files >= 2);
}

#[test]
fn default_plan_routes_the_simulator_numbers_both_ways() {
    let t = RoutingTable::load(&root().join("dial-peers")).unwrap();
    // PBX on span1 dials 5551234: to the demo SIP endpoint.
    assert_eq!(
        hunt(&t, &call(span("span1"), "5551234", Some("2001"))),
        Ok(vec![(
            100,
            Target::Sip {
                request_uri: "sip:5551234@127.0.0.1:5070".into()
            }
        )])
    );
    // The endpoint calls extension 2001: a SETUP on span1 with all four digits.
    assert_eq!(
        hunt(&t, &call(sip("127.0.0.1"), "2001", Some("5551000"))),
        Ok(vec![(
            1,
            Target::Q931 {
                port: "span1".into(),
                called: Number::new("2001")
            }
        )])
    );
    let route = t
        .route(&call(sip("127.0.0.1"), "2001", None), &Idle)
        .unwrap();
    assert_eq!(route.inbound.tag(), 100);
    // Anyone else is refused; numbers outside the plan are unallocated.
    assert_eq!(
        hunt(&t, &call(sip("192.0.2.1"), "2001", None)),
        Err(RouteError::Untrusted("192.0.2.1".parse().unwrap()))
    );
    assert_eq!(
        hunt(&t, &call(span("span1"), "6661234", None)).map_err(|e| e.cause()),
        Err(1)
    );
}

#[test]
fn enterprise_plan_routes_extensions_national_international_and_emergency() {
    let t = RoutingTable::load(&root().join("dial-peers/examples")).unwrap();
    let ippbx = sip("10.10.1.10");
    // DID from the carrier to an extension: translated, then the failover pair.
    let route = t
        .route(
            &call(span("span2"), "4085554001", Some("2125551000")),
            &Idle,
        )
        .unwrap();
    assert_eq!(route.inbound.tag(), 300);
    assert_eq!(route.called.digits, "4001");
    let tags: Vec<Tag> = route.attempts.iter().map(|a| a.peer.tag).collect();
    assert_eq!(tags, vec![400, 401]);
    assert_eq!(
        route.attempts[0].target,
        Target::Sip {
            request_uri: "sip:4001@10.10.1.10:5060;transport=tcp".into()
        }
    );
    // National: 9 1 + 10 digits -> 10 digits, TON national, ANI expanded to the DID.
    let route = t
        .route(&call(ippbx.clone(), "914085551234", Some("4001")), &Idle)
        .unwrap();
    let a = &route.attempts[0];
    assert_eq!(
        (a.peer.tag, a.called.digits.as_str(), a.called.number_type),
        (200, "4085551234", NumberType::National)
    );
    assert_eq!(
        a.calling.as_ref().map(|c| c.digits.as_str()),
        Some("4085554001")
    );
    // E.164 from the IP-PBX is normalised first by the inbound profile.
    let route = t
        .route(&call(ippbx.clone(), "+14085551234", None), &Idle)
        .unwrap();
    assert_eq!(route.called.digits, "914085551234");
    assert_eq!(route.attempts[0].called.digits, "4085551234");
    // International.
    let route = t
        .route(&call(ippbx.clone(), "901144201234567", None), &Idle)
        .unwrap();
    let a = &route.attempts[0];
    assert_eq!(
        (a.peer.tag, a.called.digits.as_str(), a.called.number_type),
        (201, "44201234567", NumberType::International)
    );
    // Emergency with huntstop, both ways of dialling.
    for (dialled, tag) in [("911", 210), ("9911", 211)] {
        let route = t.route(&call(ippbx.clone(), dialled, None), &Idle).unwrap();
        let got: Vec<(Tag, &str)> = route
            .attempts
            .iter()
            .map(|a| (a.peer.tag, a.called.digits.as_str()))
            .collect();
        assert_eq!(got, vec![(tag, "911")], "{dialled}");
        assert!(route.attempts[0].peer.huntstop);
    }
    // Premium numbers are blocked with cause 21.
    assert_eq!(
        hunt(&t, &call(ippbx.clone(), "919005551234", None)).map_err(|e| e.cause()),
        Err(21)
    );
    // The carrier calling an unknown DID binds by port and is unallocated.
    let unknown = t.route(&call(span("span1"), "7775551234", None), &Idle);
    assert_eq!(
        unknown.map(|_| ()),
        Err(RouteError::Unallocated("7775551234".into()))
    );
    // A SIP source that is trusted but matches no inbound peer: rejected by the plan.
    let route = t.route(&call(ippbx, "", None), &Idle);
    assert_eq!(route.map(|_| ()), Err(RouteError::NoInboundPeer));
}

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(root().join("docs/dial-peers.schema.json")).unwrap();
    assert_eq!(
        committed.trim_end(),
        dialgate::routing::schema_json().trim_end(),
        "run: dialgate schema > docs/dial-peers.schema.json"
    );
}

fn dialgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dialgate"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("dialgate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_check_passes_shipped_files_and_fails_on_errors() {
    let (code, out, _) = dialgate(&["check"]);
    assert_eq!(
        (code, out.trim()),
        (0, "ok: 1 file(s), 2 dial peer(s), 0 error(s), 0 warning(s)")
    );
    let (code, out, _) = dialgate(&["check", "--dial-peers", "dial-peers/examples"]);
    assert_eq!(code, 0, "{out}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "dial_peers:\n  - {tag: 1, type: voip, destination_pattern: \"2..x\"}\n",
    )
    .unwrap();
    let (code, _, err) = dialgate(&["check", "--dial-peers", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yaml:2:47: `destination_pattern`: character 'x' at position 3"),
        "{err}"
    );

    let lint = dir.path().join("lint.yaml");
    std::fs::write(&lint, "dial_peers:\n  - {tag: 1, type: voip, destination_pattern: \"2...\", session_target: \"ipv4:192.0.2.1\", codecs: [g729]}\n").unwrap();
    let (code, out, _) = dialgate(&["check", "--dial-peers", lint.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("error: dial peer 1 offers g729"), "{out}");
}

#[test]
fn cli_check_with_hardware_names_unknown_spans() {
    // The shipped hardware defines span1 (sim-t1.yaml) and span2 (sim-e1.yaml).
    let (code, out, err) = dialgate(&["check", "--hardware", "hardware"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = dialgate(&[
        "check",
        "--dial-peers",
        "dial-peers/examples",
        "--hardware",
        "hardware",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("is not defined in the hardware files"),
        "{out}"
    );
    // With the T1 file alone, the peers on span2 point at nothing.
    let (code, out, _) = dialgate(&[
        "check",
        "--dial-peers",
        "dial-peers/examples",
        "--hardware",
        "hardware/sim-t1.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: span span2 is not defined in the hardware files"),
        "{out}"
    );
    assert!(!out.contains("span span1 is not"), "{out}");
}

#[test]
fn cli_check_reports_hardware_errors_as_the_loader_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let board = dir.path().join("board.yaml");
    // Not a span: the loose reader accepted this; the real schema does not.
    std::fs::write(&board, "spans:\n  - name: span1\n    framing: esf\n").unwrap();
    let (code, out, err) = dialgate(&["check", "--hardware", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = dialgate::config::Hardware::load(&board).unwrap_err();
    assert!(err.contains(&format!("error: {expected}")), "{err}");
    assert!(err.contains(&format!("{}:", board.display())), "{err}");
}

#[test]
fn cli_dialplan_text_and_json() {
    let (code, out, _) = dialgate(&["dialplan", "5551234", "--from", "span1"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("chosen: dial peer 1 by incoming_called_number (4 explicit digit(s))"),
        "{out}"
    );
    assert!(
        out.contains("1. dial peer 100 (voip) pattern \"5551...$\"  explicit 4  preference 0"),
        "{out}"
    );
    assert!(
        out.contains("send 5551234  ->  INVITE sip:5551234@127.0.0.1:5070"),
        "{out}"
    );
    let (code, out, _) = dialgate(&["dialplan", "2001", "--from-ip", "127.0.0.1", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inbound"]["tag"], 100);
    assert_eq!(v["hunt"][0]["tag"], 1);
    assert_eq!(v["hunt"][0]["target"]["kind"], "q931");
    assert_eq!(v["result"]["routed"], true);
    let (code, _, err) = dialgate(&[
        "dialplan",
        "2001",
        "--from",
        "span1",
        "--from-ip",
        "127.0.0.1",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn load_of_a_directory_reads_only_its_own_yaml_files() {
    let t = RoutingTable::load(Path::new(&root().join("dial-peers"))).unwrap();
    assert_eq!(t.files().len(), 1, "examples/ is not loaded by default");
}
