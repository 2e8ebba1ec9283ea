//! Hot reload: the live table behind an atomic pointer, and a watcher thread that
//! reloads it on SIGHUP or when a dial-peer file changes.
//!
//! ```text
//!   notify (file events) ──┐
//!                          ├─▶ watcher thread: coalesce ─▶ RoutingTable::load
//!   signal-hook (SIGHUP) ──┘        ok:  ArcSwap::store (atomic)   ─▶ Reloaded
//!                                   err: keep the old table, log every error with
//!                                        its file:line:column      ─▶ Reloaded
//! ```
//!
//! Calls in progress keep what they matched: a lookup hands out `Arc`s
//! ([`LiveTable::current`], and the `Arc<DialPeer>`s inside a route), so a swap only
//! changes what the next call sees. This module is an I/O shell; the table itself
//! stays pure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, Sender};
use notify::{RecursiveMode, Watcher as _};
use signal_hook::consts::SIGHUP;
use signal_hook::iterator::{Handle, Signals};

use super::table::{LoadErrors, RoutingTable};

/// How long file events are gathered before one reload (editors write in bursts).
const SETTLE: Duration = Duration::from_millis(100);

/// The routing table in use, replaceable atomically.
#[derive(Debug)]
pub struct LiveTable {
    path: PathBuf,
    current: ArcSwap<RoutingTable>,
}

/// What set off a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP.
    Signal,
    /// A dial-peer file changed.
    FileChange,
    /// [`LiveTable::reload`] called directly.
    Manual,
}

/// The result of one reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// What set it off.
    pub trigger: Trigger,
    /// `Ok(peer count)` when swapped in; `Err(errors, one per line)` when the old
    /// table was kept.
    pub result: Result<usize, String>,
}

impl LiveTable {
    /// Load the initial table from a directory or file.
    pub fn load(path: &Path) -> Result<Self, LoadErrors> {
        let table = RoutingTable::load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(table),
        })
    }

    /// The table in use now; keep the `Arc` for the whole call.
    pub fn current(&self) -> Arc<RoutingTable> {
        self.current.load_full()
    }

    /// Replace the table (e.g. one built in memory).
    pub fn store(&self, table: RoutingTable) {
        self.current.store(Arc::new(table));
    }

    /// Load, validate and swap; on error keep the old table and log the errors.
    pub fn reload(&self, trigger: Trigger) -> Reloaded {
        let result = match RoutingTable::load(&self.path) {
            Ok(table) => {
                let peers = table.peers().len();
                self.store(table);
                tracing::info!(path = %self.path.display(), peers, ?trigger, "dial peers reloaded");
                Ok(peers)
            }
            Err(errors) => {
                for e in &errors.0 {
                    match e.location() {
                        Some(at) => {
                            tracing::error!(location = %at, ?trigger, "dial-peer reload refused, old table kept: {e}")
                        }
                        None => tracing::error!(
                            ?trigger,
                            "dial-peer reload refused, old table kept: {e}"
                        ),
                    }
                }
                Err(errors.to_string())
            }
        };
        Reloaded { trigger, result }
    }
}

/// A running watcher; dropping it (or [`Watcher::stop`]) ends the thread.
pub struct Watcher {
    signals: Handle,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    signal_thread: Option<JoinHandle<()>>,
    reloads: Receiver<Reloaded>,
}

impl Watcher {
    /// Every reload, in order (bounded: old results are dropped if nobody reads).
    pub fn reloads(&self) -> &Receiver<Reloaded> {
        &self.reloads
    }

    /// Stop watching and join the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.signals.close();
        // Dropping the sender wakes the watcher thread with a disconnect.
        self.stop.take();
        if let Some(t) = self.signal_thread.take() {
            let _ = t.join();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The file watcher.
    #[error("cannot watch dial-peer files: {0}")]
    Notify(#[from] notify::Error),
    /// The SIGHUP handler.
    #[error("cannot register SIGHUP: {0}")]
    Signal(#[from] std::io::Error),
}

/// Start reloading `live` on SIGHUP and on changes to its `*.yaml` files.
///
/// The SIGHUP handler is registered before this returns, so a SIGHUP raised after
/// it is never the default (fatal) one.
pub fn watch(live: Arc<LiveTable>) -> Result<Watcher, WatchError> {
    let (tx, rx) = crossbeam_channel::unbounded::<Trigger>();
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let (done_tx, reloads) = crossbeam_channel::bounded::<Reloaded>(64);

    let dir = if live.path.is_dir() {
        live.path.clone()
    } else {
        live.path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let only_file = (!live.path.is_dir()).then(|| live.path.clone());
    let file_tx = tx.clone();
    let mut fs_watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            let relevant = event.paths.iter().any(|p| match &only_file {
                Some(f) => p.file_name() == f.file_name(),
                None => p.extension().is_some_and(|e| e == "yaml"),
            });
            if relevant {
                let _ = file_tx.send(Trigger::FileChange);
            }
        })?;
    fs_watcher.watch(&dir, RecursiveMode::NonRecursive)?;

    let mut signals = Signals::new([SIGHUP])?;
    let handle = signals.handle();
    let signal_tx = tx.clone();
    let signal_thread = std::thread::Builder::new()
        .name("dial-peers-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                if signal_tx.send(Trigger::Signal).is_err() {
                    break;
                }
            }
        })?;

    let thread = std::thread::Builder::new()
        .name("dial-peers-reload".into())
        .spawn(move || {
            // The notify watcher lives as long as this thread.
            let _fs_watcher = fs_watcher;
            loop {
                let first = crossbeam_channel::select! {
                    recv(rx) -> msg => match msg {
                        Ok(t) => t,
                        Err(_) => break,
                    },
                    recv(stop_rx) -> _ => break,
                };
                // Gather the rest of a burst; a signal wins over file events.
                let mut trigger = first;
                while let Ok(next) = rx.recv_timeout(SETTLE) {
                    if next == Trigger::Signal {
                        trigger = Trigger::Signal;
                    }
                }
                let outcome = live.reload(trigger);
                let _ = done_tx.try_send(outcome);
            }
        })?;
    drop(tx);
    Ok(Watcher {
        signals: handle,
        stop: Some(stop_tx),
        thread: Some(thread),
        signal_thread: Some(signal_thread),
        reloads,
    })
}
