//! REGISTER client: the gateway registers its numbers with registrars (RFC 3261 §10),
//! like Cisco's `sip-ua registrar`.
//!
//! One binding per (registrar, address of record), each with its own Call-ID and CSeq
//! (§10.2.4: reuse both for refreshes). A 401/407 is answered with digest credentials once
//! per challenge; a success schedules the refresh before expiry; a failure backs off
//! exponentially from `retry_base` to `retry_max`.
//!
//! ```text
//!   Idle ─send─▶ Pending ─200─▶ Registered ─(expiry − margin)─▶ Pending
//!                   │ 401/407 ─▶ Pending (with Authorization, CSeq + 1)
//!                   └ error/timeout ─▶ Failed ─back-off─▶ Pending
//! ```

use std::time::{Duration, Instant};

use super::endpoint::{Event, Registration, Transport};
use super::message::{self, Inbound, Method};
use super::ua::{Dest, Owner, TimerKey, UserAgent};

/// One address of record at one registrar.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    registrar: usize,
    aor: String,
    call_id: String,
    tag: String,
    cseq: u32,
    auth_tries: u8,
    backoff: Duration,
    registered: bool,
}

/// When to refresh a binding granted for `expires`: half-way for short grants, 32 s before
/// expiry for long ones (the time a UDP transaction may take).
fn refresh_after(expires: Duration) -> Duration {
    expires - (expires / 2).min(Duration::from_secs(32))
}

impl UserAgent {
    pub(super) fn start_registrations(&mut self, now: Instant) {
        for (r, registrar) in self.config.registrars.clone().iter().enumerate() {
            for aor in &registrar.aors {
                let call_id = self.new_call_id(registrar.transport);
                let tag = self.tag();
                self.bindings.push(Binding {
                    registrar: r,
                    aor: aor.clone(),
                    call_id,
                    tag,
                    cseq: 1,
                    auth_tries: 0,
                    backoff: registrar.retry_base,
                    registered: false,
                });
                let i = self.bindings.len() - 1;
                self.schedule(now, TimerKey::Register(i));
            }
        }
    }

    pub(super) fn register_timer(&mut self, now: Instant, i: usize) {
        self.send_register(now, i, None);
    }

    fn send_register(&mut self, now: Instant, i: usize, auth: Option<(&str, String)>) {
        let Some(binding) = self.bindings.get(i).cloned() else {
            return;
        };
        let Some(registrar) = self.config.registrars.get(binding.registrar).cloned() else {
            return;
        };
        let branch = self.branch();
        let local = self.local_addr(registrar.transport);
        let suffix = if registrar.transport == Transport::Udp {
            ""
        } else {
            ";transport=tcp"
        };
        let uri = format!("sip:{}{suffix}", registrar.domain);
        let aor = format!("<sip:{}@{}>", binding.aor, registrar.domain);
        let from = format!("{aor};tag={}", binding.tag);
        let mut w = self.request_head(
            Method::Register,
            &uri,
            registrar.transport,
            &branch,
            &from,
            &aor,
            &binding.call_id,
            binding.cseq,
        );
        let contact = format!(
            "<sip:{}@{}:{}{suffix}>",
            binding.aor,
            message::host_text(local.ip()),
            local.port()
        );
        w.header("Contact", &contact)
            .header("Expires", &registrar.expires.as_secs().to_string())
            .header("User-Agent", &self.config.user_agent);
        if let Some((name, value)) = &auth {
            w.header(name, value);
        }
        let bytes = w.finish(None);
        let dest = Dest {
            transport: registrar.transport,
            addr: registrar.addr,
            conn: None,
        };
        if let Some(b) = self.bindings.get_mut(i) {
            b.cseq += 1;
        }
        tracing::debug!(aor = %binding.aor, registrar = %registrar.addr, "sending REGISTER");
        self.start_client(
            now,
            Method::Register,
            branch,
            bytes,
            dest,
            Owner::Register(i),
            None,
        );
    }

    pub(super) fn register_response(&mut self, now: Instant, i: usize, status: u16, msg: &Inbound) {
        let Some(binding) = self.bindings.get(i).cloned() else {
            return;
        };
        let Some(registrar) = self.config.registrars.get(binding.registrar).cloned() else {
            return;
        };
        if (200..300).contains(&status) {
            let granted = msg
                .contact_expires
                .or(msg.expires)
                .map_or(registrar.expires, |s| Duration::from_secs(u64::from(s)));
            if granted.is_zero() {
                return self.register_failed(now, i, status);
            }
            if let Some(b) = self.bindings.get_mut(i) {
                b.auth_tries = 0;
                b.backoff = registrar.retry_base;
                b.registered = true;
            }
            tracing::info!(aor = %binding.aor, registrar = %registrar.addr, expires = granted.as_secs(), "registered");
            self.schedule(now + refresh_after(granted), TimerKey::Register(i));
            self.events.push_back(Event::Registration {
                registrar: binding.registrar,
                aor: binding.aor,
                state: Registration::Registered { expires: granted },
            });
            return;
        }
        if matches!(status, 401 | 407)
            && binding.auth_tries < 2
            && let (Some(creds), Some((proxy, challenge))) =
                (&registrar.credentials, &msg.challenge)
        {
            let cnonce = format!("{:016x}", self.rng.u64(..));
            let uri = format!(
                "sip:{}{}",
                registrar.domain,
                if registrar.transport == Transport::Udp {
                    ""
                } else {
                    ";transport=tcp"
                }
            );
            if let Ok((name, value)) =
                super::auth::answer(*proxy, challenge, creds, "REGISTER", &uri, &cnonce)
            {
                if let Some(b) = self.bindings.get_mut(i) {
                    b.auth_tries += 1;
                }
                self.send_register(now, i, Some((name, value)));
                return;
            }
        }
        self.register_failed(now, i, status);
    }

    pub(super) fn register_failed(&mut self, now: Instant, i: usize, status: u16) {
        let Some(binding) = self.bindings.get_mut(i) else {
            return;
        };
        let Some(registrar) = self.config.registrars.get(binding.registrar) else {
            return;
        };
        let retry_in = binding.backoff;
        binding.backoff = (binding.backoff * 2).min(registrar.retry_max);
        binding.auth_tries = 0;
        binding.registered = false;
        let (r, aor) = (binding.registrar, binding.aor.clone());
        tracing::warn!(aor = %aor, registrar = %registrar.addr, status, retry_in = ?retry_in, "registration failed");
        self.schedule(now + retry_in, TimerKey::Register(i));
        self.events.push_back(Event::Registration {
            registrar: r,
            aor,
            state: Registration::Failed { status, retry_in },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_before_expiry() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3568)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }
}
