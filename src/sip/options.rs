//! OPTIONS keepalive toward each VoIP peer (sip-essentials §12).
//!
//! Every `interval` one OPTIONS goes to each peer. A timeout (Timer F), a transport error
//! or a final status listed in `down_statuses` is a failure; `down_after` failures in a row
//! mark the peer down (reported as [`Event::PeerStatus`], and `Place` to it is refused with
//! 503 so hunting moves on). Any other final response marks it up again.
//!
//! ```text
//!   Up ──failure × down_after──▶ Down ──any good final──▶ Up
//! ```

use std::time::Instant;

use super::endpoint::{Event, PeerId, Transport};
use super::message::{self, Method};
use super::ua::{Dest, Owner, TimerKey, UserAgent};

/// Keepalive state of one peer.
#[derive(Clone, Debug)]
pub(crate) struct PeerState {
    pub(crate) up: bool,
    failures: u32,
    probing: bool,
}

impl Default for PeerState {
    fn default() -> Self {
        // Unknown counts as up: a fresh gateway must not refuse calls before the first probe.
        Self {
            up: true,
            failures: 0,
            probing: false,
        }
    }
}

impl UserAgent {
    pub(super) fn start_keepalive(&mut self, now: Instant) {
        if self.config.keepalive.is_none() {
            return;
        }
        for peer in 0..self.config.peers.len() {
            self.schedule(now, TimerKey::Keepalive(peer));
        }
    }

    pub(super) fn keepalive_timer(&mut self, now: Instant, peer: PeerId) {
        let Some(keepalive) = self.config.keepalive.clone() else {
            return;
        };
        let Some(target) = self.config.peers.get(peer).cloned() else {
            return;
        };
        if target.retired {
            return; // removed by a reload: no more probes
        }
        self.schedule(now + keepalive.interval, TimerKey::Keepalive(peer));
        if self.peers.get(peer).is_none_or(|p| p.probing) {
            return; // the previous probe is still running (interval shorter than Timer F)
        }
        if let Some(p) = self.peers.get_mut(peer) {
            p.probing = true;
        }
        let branch = self.branch();
        let tag = self.tag();
        let call_id = self.new_call_id(target.transport);
        let local = self.local_addr(target.transport);
        let host = target
            .host
            .clone()
            .unwrap_or_else(|| message::host_text(target.addr.ip()));
        let suffix = if target.transport == Transport::Udp {
            ""
        } else {
            ";transport=tcp"
        };
        let uri = format!("sip:{host}:{}{suffix}", target.addr.port());
        let from = format!(
            "<sip:dialgate@{}>;tag={tag}",
            message::host_text(local.ip())
        );
        let to = format!("<sip:{host}>");
        let mut w = self.request_head(
            Method::Options,
            &uri,
            target.transport,
            &branch,
            &from,
            &to,
            &call_id,
            1,
        );
        w.header("Accept", "application/sdp")
            .header("User-Agent", &self.config.user_agent);
        let bytes = w.finish(None);
        let dest = Dest {
            transport: target.transport,
            addr: target.addr,
            conn: None,
        };
        self.start_client(
            now,
            Method::Options,
            branch,
            bytes,
            dest,
            Owner::Keepalive(peer),
            None,
        );
    }

    /// Outcome of one probe: `None` is a timeout or transport error.
    pub(super) fn keepalive_result(&mut self, _now: Instant, peer: PeerId, status: Option<u16>) {
        let Some(keepalive) = self.config.keepalive.as_ref() else {
            return;
        };
        let failed = status.is_none_or(|s| keepalive.down_statuses.contains(&s));
        let down_after = keepalive.down_after.max(1);
        let name = self
            .config
            .peers
            .get(peer)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        state.probing = false;
        if failed {
            state.failures = state.failures.saturating_add(1);
            if state.up && state.failures >= down_after {
                state.up = false;
                tracing::warn!(peer = %name, status = ?status, "SIP peer down (OPTIONS keepalive)");
                self.events.push_back(Event::PeerStatus { peer, up: false });
            }
        } else {
            state.failures = 0;
            if !state.up {
                state.up = true;
                tracing::info!(peer = %name, "SIP peer up again (OPTIONS keepalive)");
                self.events.push_back(Event::PeerStatus { peer, up: true });
            }
        }
    }
}
