//! The SIP endpoint's peers, kept in step with the dial peers across reloads.
//!
//! ```text
//!   RoutingTable ─resolve (I/O: lookup_host for dns:)─▶ [Resolved] ─Directory::update─▶
//!        sip::Command::SetPeers (the endpoint's list)  +  Vec<mapper::SipTarget> (the mapper's)
//! ```
//!
//! A [`sip::PeerId`] is an index into the endpoint's list, and a call in progress keeps
//! the one it placed its INVITE to: so the list only grows. A peer no dial peer names
//! any more is marked retired (no new calls, no keepalive) and comes back at the same
//! index if a later reload names it again. A `dns:` name that does not resolve is
//! logged with its dial-peer tag; its target is kept without a peer, which the mapper
//! treats as down.

use std::net::SocketAddr;
use std::time::Duration;

use crate::mapper::SipTarget;
use crate::routing::Tag;
use crate::routing::dial_peer::Transport;
use crate::routing::table::{Host, PeerKind, RoutingTable, SessionTarget};
use crate::sip;

/// How long one name may take to resolve before its dial peer counts as down.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// One VoIP dial peer's target with its address, if it has one.
#[derive(Clone, Debug)]
pub(super) struct Resolved {
    tag: Tag,
    target: SessionTarget,
    transport: Transport,
    credentials: Option<sip::Credentials>,
    addr: Option<SocketAddr>,
}

/// Whether resolving `table` means asking the resolver (it names a `dns:` target).
pub(super) fn needs_lookup(table: &RoutingTable) -> bool {
    table.peers().iter().any(|peer| {
        matches!(&peer.kind, PeerKind::Voip(v)
            if v.target.as_ref().is_some_and(|t| matches!(t.host, Host::Dns(_))))
    })
}

/// Resolves every VoIP session target of `table` (`ipv4:` at once, `dns:` with
/// `lookup_host`, each name once).
pub(super) async fn resolve(table: &RoutingTable) -> Vec<Resolved> {
    let mut out: Vec<Resolved> = Vec::new();
    for peer in table.peers() {
        let PeerKind::Voip(v) = &peer.kind else {
            continue;
        };
        let Some(target) = &v.target else { continue };
        let addr = match &target.host {
            Host::Ipv4(ip) => Some(SocketAddr::from((*ip, target.port))),
            Host::Dns(name) => {
                if let Some(known) = out.iter().find(|r| r.target == *target) {
                    known.addr
                } else {
                    lookup(peer.tag, name, target.port).await
                }
            }
        };
        out.push(Resolved {
            tag: peer.tag,
            target: target.clone(),
            transport: v.transport,
            credentials: v.credentials.as_ref().map(|c| sip::Credentials {
                username: c.username.clone(),
                password: c.password.clone(),
            }),
            addr,
        });
    }
    out
}

async fn lookup(tag: Tag, name: &str, port: u16) -> Option<SocketAddr> {
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await;
    let addrs: Vec<SocketAddr> = match found {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            tracing::warn!(peer = tag, name, error = %e, "session target does not resolve: dial peer down");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                peer = tag,
                name,
                "session target lookup timed out: dial peer down"
            );
            return None;
        }
    };
    // IPv4 first: our listeners and RTP are usually IPv4.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied();
    match addr {
        Some(addr) => tracing::info!(peer = tag, name, %addr, "session target resolved"),
        None => tracing::warn!(
            peer = tag,
            name,
            "session target has no address: dial peer down"
        ),
    }
    addr
}

/// The endpoint's peer list, append-only.
#[derive(Debug, Default)]
pub(super) struct Directory {
    peers: Vec<sip::Peer>,
}

impl Directory {
    /// Folds a resolution into the list: the endpoint's new peers and the mapper's
    /// targets.
    pub(super) fn update(&mut self, resolved: &[Resolved]) -> (Vec<sip::Peer>, Vec<SipTarget>) {
        let mut used = vec![false; self.peers.len()];
        let mut targets: Vec<SipTarget> = Vec::new();
        for r in resolved {
            if targets
                .iter()
                .any(|t| t.target == r.target && t.transport == r.transport)
            {
                continue;
            }
            let peer = r.addr.map(|addr| {
                let transport = match r.transport {
                    Transport::Udp => sip::Transport::Udp,
                    Transport::Tcp => sip::Transport::Tcp,
                    Transport::Tls => sip::Transport::Tls,
                };
                // The name goes into the Request-URI, To and the TLS server name.
                let host = match &r.target.host {
                    Host::Dns(name) => Some(name.clone()),
                    Host::Ipv4(_) => None,
                };
                let index = self
                    .peers
                    .iter()
                    .position(|p| p.addr == addr && p.transport == transport && p.host == host);
                let index = index.unwrap_or_else(|| {
                    let mut p = sip::Peer::new(format!("dial-peer-{}", r.tag), addr);
                    p.transport = transport;
                    p.host = host;
                    self.peers.push(p);
                    used.push(false);
                    self.peers.len() - 1
                });
                let p = &mut self.peers[index];
                p.retired = false;
                p.credentials = r.credentials.clone();
                used[index] = true;
                index
            });
            targets.push(SipTarget {
                target: r.target.clone(),
                transport: r.transport,
                peer,
            });
        }
        for (p, used) in self.peers.iter_mut().zip(used) {
            if !used && !p.retired {
                tracing::info!(peer = %p.name, addr = %p.addr, "SIP peer retired by the reload");
                p.retired = true;
            }
        }
        (self.peers.clone(), targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str, transport: Transport, addr: Option<&str>) -> Resolved {
        Resolved {
            tag: 1,
            target: SessionTarget::parse(text).expect("a valid target"),
            transport,
            credentials: None,
            addr: addr.map(|a| a.parse().expect("an address")),
        }
    }

    /// (resolution, the endpoint's peers as (address, retired), each target's peer)
    type Step = (Vec<Resolved>, Vec<(&'static str, bool)>, Vec<Option<usize>>);

    #[test]
    fn peers_are_appended_retired_and_revived_at_their_index() {
        let a = target(
            "ipv4:192.0.2.1:5060",
            Transport::Udp,
            Some("192.0.2.1:5060"),
        );
        let b = target(
            "ipv4:192.0.2.2:5060",
            Transport::Udp,
            Some("192.0.2.2:5060"),
        );
        let c = target(
            "dns:sbc.example:5061",
            Transport::Tls,
            Some("192.0.2.3:5061"),
        );
        let mut d = Directory::default();
        let steps: [Step; 3] = [
            (
                vec![a.clone(), b.clone()],
                vec![("192.0.2.1:5060", false), ("192.0.2.2:5060", false)],
                vec![Some(0), Some(1)],
            ),
            (
                vec![b.clone(), c.clone()],
                vec![
                    ("192.0.2.1:5060", true),
                    ("192.0.2.2:5060", false),
                    ("192.0.2.3:5061", false),
                ],
                vec![Some(1), Some(2)],
            ),
            (
                vec![a.clone(), c.clone()],
                vec![
                    ("192.0.2.1:5060", false),
                    ("192.0.2.2:5060", true),
                    ("192.0.2.3:5061", false),
                ],
                vec![Some(0), Some(2)],
            ),
        ];
        for (i, (resolved, peers, ids)) in steps.into_iter().enumerate() {
            let (got, targets) = d.update(&resolved);
            let got: Vec<(String, bool)> = got
                .iter()
                .map(|p| (p.addr.to_string(), p.retired))
                .collect();
            let want: Vec<(String, bool)> =
                peers.iter().map(|(a, r)| ((*a).to_owned(), *r)).collect();
            assert_eq!(got, want, "step {i}");
            let got: Vec<Option<usize>> = targets.iter().map(|t| t.peer).collect();
            assert_eq!(got, ids, "step {i}");
        }
        let (peers, _) = d.update(&[c]);
        assert_eq!(peers[2].transport, sip::Transport::Tls);
        assert_eq!(peers[2].host.as_deref(), Some("sbc.example"));
    }

    #[test]
    fn an_unresolved_name_is_a_target_without_a_peer() {
        let mut d = Directory::default();
        let (peers, targets) = d.update(&[target("dns:nowhere.invalid", Transport::Udp, None)]);
        assert!(peers.is_empty());
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].peer, None);
    }

    #[tokio::test]
    async fn dns_localhost_resolves_and_a_bad_name_does_not() {
        let yaml = "dial_peers:\n  - {tag: 7, type: voip, session_target: \"dns:localhost:5999\", destination_pattern: \"1$\"}\n  - {tag: 8, type: voip, session_target: \"dns:no-such-host.invalid:5999\", destination_pattern: \"2$\"}\n";
        let table = RoutingTable::from_sources(&[(std::path::Path::new("plan.yaml"), yaml)])
            .expect("a valid plan");
        let resolved = resolve(&table).await;
        let addrs: Vec<(Tag, Option<u16>)> = resolved
            .iter()
            .map(|r| (r.tag, r.addr.map(|a| a.port())))
            .collect();
        assert_eq!(addrs, vec![(7, Some(5999)), (8, None)]);
        assert!(resolved[0].addr.is_some_and(|a| a.ip().is_loopback()));
    }
}
