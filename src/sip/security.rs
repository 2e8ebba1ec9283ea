//! Who may call us, and how fast: the trusted-source list and a per-source rate limit.
//!
//! Both are sans-IO: the rate limiter is a token bucket per source IP refilled from the
//! `now` it is handed. Cisco's `ip address trusted list` is the model for the first; the
//! second answers a flood with `503` and `Retry-After` (RFC 3261 §21.5.4) instead of work.
//!
//! ```text
//!   request ─▶ size ≤ limit? ─no─▶ 513 / close
//!              source trusted? (INVITE) ─no─▶ 403 or drop, counted
//!              bucket has a token? (new request) ─no─▶ 503 Retry-After
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// The trusted-source list.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trusted {
    nets: Vec<IpNet>,
}

impl Trusted {
    /// Builds the list; an empty configured list means "the VoIP peers' addresses only".
    pub(crate) fn new(configured: &[IpNet], peers: impl Iterator<Item = IpAddr>) -> Self {
        let nets = if configured.is_empty() {
            peers.map(IpNet::from).collect()
        } else {
            configured.to_vec()
        };
        Self { nets }
    }

    /// Whether a source address may place calls to us.
    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Maps an IPv4-mapped IPv6 address to IPv4, so `::ffff:127.0.0.1` matches `127.0.0.1/8`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Token-bucket limits for new requests from one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained new requests per second per source IP.
    pub per_second: f64,
    /// Bucket size: how many may arrive at once.
    pub burst: u32,
    /// Seconds written in Retry-After when refusing.
    pub retry_after: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 200.0,
            burst: 400,
            retry_after: 5,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-source token buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
}

/// Above this many tracked sources, idle full buckets are forgotten.
const MAX_TRACKED: usize = 10_000;

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `ip`; `false` means the request is over the limit.
    pub(crate) fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.buckets.len() >= MAX_TRACKED {
            let limit = self.limit;
            self.buckets
                .retain(|_, b| refill(b, now, limit) < f64::from(limit.burst));
        }
        let limit = self.limit;
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            at: now,
        });
        let tokens = refill(bucket, now, limit);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }

    pub(crate) fn retry_after(&self) -> Duration {
        Duration::from_secs(u64::from(self.limit.retry_after))
    }
}

fn refill(bucket: &mut Bucket, now: Instant, limit: RateLimit) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.at = now;
    (bucket.tokens + elapsed * limit.per_second).min(f64::from(limit.burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_trusts_only_the_peers() {
        let t = Trusted::new(&[], ["192.0.2.1".parse().unwrap()].into_iter());
        assert!(t.allows("192.0.2.1".parse().unwrap()));
        assert!(!t.allows("192.0.2.2".parse().unwrap()));
        assert!(t.allows("::ffff:192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn configured_cidr_replaces_the_peer_default() {
        let t = Trusted::new(
            &["10.0.0.0/8".parse().unwrap()],
            ["192.0.2.1".parse().unwrap()].into_iter(),
        );
        assert!(t.allows("10.1.2.3".parse().unwrap()));
        assert!(!t.allows("192.0.2.1".parse().unwrap()));
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "the virtual clock needs an origin"
    )]
    fn bucket_empties_after_burst_and_refills_with_time() {
        let mut r = RateLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 3,
            retry_after: 1,
        });
        let t0 = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.admit(t0, ip) && r.admit(t0, ip) && r.admit(t0, ip));
        assert!(!r.admit(t0, ip));
        assert!(!r.admit(t0 + Duration::from_millis(50), ip));
        assert!(r.admit(t0 + Duration::from_millis(150), ip));
        assert!(
            r.admit(t0, "127.0.0.2".parse().unwrap()),
            "buckets are per source"
        );
    }
}
