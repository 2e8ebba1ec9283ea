//! Fixtures shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::process::Command;

/// Whether an outside tool (tshark, sipp) can be run. When it cannot, the caller's test
/// is skipped with `skipped: <tool> not installed`, unless `DIALGATE_REQUIRE_TOOLS=1`
/// (CI sets it after installing the tools), when the test fails instead.
pub fn tool_installed(tool: &str, version_arg: &str) -> bool {
    let found = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        tool_missing(tool);
    }
    found
}

/// The skip-or-fail policy for a missing tool, for tests that look it up their own way:
/// fails under `DIALGATE_REQUIRE_TOOLS=1`, otherwise prints `skipped: <tool> not installed`.
pub fn tool_missing(tool: &str) {
    assert!(
        std::env::var("DIALGATE_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "DIALGATE_REQUIRE_TOOLS=1 but {tool} is not installed"
    );
    println!("skipped: {tool} not installed");
}

/// Run tshark and return what it printed; its failure fails the test.
pub fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

/// A base port for SIPp's `-mp`: SIPp binds four UDP ports from it (audio RTP and RTCP,
/// video RTP and RTCP) and exits if any is taken. An ephemeral port from the kernel only
/// says the first is free, so pick an even port below the ephemeral range (and below the
/// gateway's default RTP range) whose four ports bind together right now.
pub fn sipp_media_port() -> u16 {
    loop {
        let base = fastrand::u16(5_000..8_000) * 2;
        let held: Vec<_> = (base..base + 4)
            .map_while(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == 4 {
            return base;
        }
    }
}

/// The next call event of a SIP endpoint within 5 s (`Placed`, the Call-ID report of our
/// own INVITEs, is skipped).
pub async fn next_call_event(ep: &mut dialgate::sip::Endpoint) -> dialgate::sip::Event {
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), ep.next_event())
            .await
            .expect("event in time")
            .expect("endpoint alive");
        if !matches!(e, dialgate::sip::Event::Placed { .. }) {
            return e;
        }
    }
}
