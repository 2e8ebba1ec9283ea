//! Hot reload: a file change and a SIGHUP each swap in a new table; a broken file
//! keeps the old one; routes taken before a swap keep the peers they matched.
//!
//! One test owns the watcher (and the process's SIGHUP handler) so the raised
//! signal can only reach a registered handler.

use std::sync::Arc;
use std::time::Duration;

use dialgate::routing::reload::{self, LiveTable, Reloaded, Trigger};
use dialgate::routing::router::Target;
use dialgate::routing::translation::Number;
use dialgate::routing::{CallRequest, Idle, Origin};

fn plan(target: &str) -> String {
    format!(
        "dial_peers:\n  - {{tag: 10, type: voip, destination_pattern: \"2...\", session_target: \"ipv4:{target}\"}}\n"
    )
}

fn request() -> CallRequest {
    CallRequest {
        origin: Origin::Span("span1".into()),
        called: Number::new("2001"),
        calling: None,
        seed: 0,
    }
}

fn first_target(live: &LiveTable) -> Target {
    live.current()
        .route(&request(), &Idle)
        .expect("routes")
        .attempts[0]
        .target
        .clone()
}

fn sip(host: &str) -> Target {
    Target::Sip {
        request_uri: format!("sip:2001@{host}:5060"),
    }
}

fn wait(watcher: &reload::Watcher) -> Reloaded {
    watcher
        .reloads()
        .recv_timeout(Duration::from_secs(10))
        .expect("no reload within 10 s")
}

#[test]
fn watcher_reloads_on_file_change_and_sighup_and_keeps_old_table_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.yaml");
    std::fs::write(&file, plan("192.0.2.1")).unwrap();
    let live = Arc::new(LiveTable::load(dir.path()).unwrap());
    assert_eq!(first_target(&live), sip("192.0.2.1"));

    // A call in progress holds its route across every swap below.
    let in_progress = live.current().route(&request(), &Idle).unwrap();

    let watcher = reload::watch(live.clone()).unwrap();

    // 1. The file changes.
    std::fs::write(&file, plan("192.0.2.2")).unwrap();
    let r = wait(&watcher);
    assert_eq!(
        r,
        Reloaded {
            trigger: Trigger::FileChange,
            result: Ok(1)
        }
    );
    assert_eq!(first_target(&live), sip("192.0.2.2"));

    // 2. A broken file: the old table stays, the error names file:line:column.
    std::fs::write(
        &file,
        "dial_peers:\n  - {tag: 10, type: voip, destination_pattern: \"2.x.\"}\n",
    )
    .unwrap();
    let r = wait(&watcher);
    let err = r.result.unwrap_err();
    assert!(
        err.contains("plan.yaml:2:48: `destination_pattern`"),
        "{err}"
    );
    assert_eq!(first_target(&live), sip("192.0.2.2"));

    // 3. SIGHUP (the handler is registered: watch() returned) after a quiet edit.
    std::fs::write(&file, plan("192.0.2.3")).unwrap();
    // The write itself also triggers a file reload; drain it before the signal.
    let _ = wait(&watcher);
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    // Late file events may still be queued: the signal's reload is the one marked so.
    let r = loop {
        let r = wait(&watcher);
        if r.trigger == Trigger::Signal {
            break r;
        }
    };
    assert_eq!(
        r,
        Reloaded {
            trigger: Trigger::Signal,
            result: Ok(1)
        }
    );
    assert_eq!(first_target(&live), sip("192.0.2.3"));

    assert_eq!(in_progress.attempts[0].target, sip("192.0.2.1"));
    assert_eq!(in_progress.attempts[0].peer.tag, 10);
    watcher.stop();
}

#[test]
fn manual_reload_of_a_missing_directory_keeps_the_old_table() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), plan("192.0.2.9")).unwrap();
    let live = LiveTable::load(dir.path()).unwrap();
    let old = live.current();
    std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
    let r = live.reload(Trigger::Manual);
    assert!(r.result.unwrap_err().contains("no *.yaml dial-peer files"));
    assert!(Arc::ptr_eq(&old, &live.current()));
}
