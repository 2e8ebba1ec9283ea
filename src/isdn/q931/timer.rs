//! The Q.931 call-control timers (Q.931 clause 9, Tables 9-1 and 9-2; reference
//! `q931-call-control.md` section 9), as a table indexed by their names.
//!
//! Per-call timers (T301-T313) live in each call's table; T309 and T316 belong to
//! the whole D-channel. At most one per-call timer runs in any state, but a table
//! keeps the names of the spec in the code and makes "stop every timer" one call.

use std::time::{Duration, Instant};

/// A Q.931 timer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Timer {
    /// Started when ALERTING is received; expiry clears an unanswered call (cause 19).
    T301,
    /// Started when SETUP is sent; the first expiry retransmits it, the second clears.
    T303,
    /// Started when DISCONNECT is sent; expiry sends RELEASE.
    T305,
    /// Started when RELEASE is sent; the first expiry retransmits, the second gives up.
    T308,
    /// Started when the data link fails with calls active; expiry clears them (cause 27).
    T309,
    /// Started when CALL PROCEEDING is received; expiry clears (cause 102 / 18).
    T310,
    /// User side: started when CONNECT is sent; expiry clears (cause 102).
    T313,
    /// Started when RESTART is sent; expiry retransmits it, then gives up.
    T316,
}

impl Timer {
    /// Every timer, in table order.
    pub const ALL: [Self; 8] = [
        Self::T301,
        Self::T303,
        Self::T305,
        Self::T308,
        Self::T309,
        Self::T310,
        Self::T313,
        Self::T316,
    ];

    /// The number of timers.
    pub const COUNT: usize = Self::ALL.len();

    /// The timer's number, as in cause 102's diagnostic (`303`).
    pub const fn number(self) -> u16 {
        match self {
            Self::T301 => 301,
            Self::T303 => 303,
            Self::T305 => 305,
            Self::T308 => 308,
            Self::T309 => 309,
            Self::T310 => 310,
            Self::T313 => 313,
            Self::T316 => 316,
        }
    }

    /// The diagnostic of cause 102: the timer number as three IA5 digits
    /// (`33 30 33` = "303", reference section 5.3).
    pub fn diagnostic(self) -> [u8; 3] {
        let n = self.number();
        [
            b'0' + (n / 100 % 10) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ]
    }
}

/// Timer values, with the reference's defaults for each side ([`TimerValues::user`],
/// [`TimerValues::network`]). Every value may be overridden per span.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimerValues {
    /// T301 (>= 3 min); `None` disables it (it is optional on the user side).
    pub t301: Option<Duration>,
    /// T303 (4 s).
    pub t303: Duration,
    /// T305 (30 s).
    pub t305: Duration,
    /// T308 (4 s).
    pub t308: Duration,
    /// T309 (Q.931 default 90 s; libpri uses 6 s); `None` clears active calls at
    /// once when the data link fails.
    pub t309: Option<Duration>,
    /// T310: 10 s on the network side, 30-120 s on the user side (30 s here).
    pub t310: Duration,
    /// T313 (4 s), user side only.
    pub t313: Duration,
    /// T316 (2 min).
    pub t316: Duration,
    /// How many times a RESTART is sent before its channels are given up
    /// (N316; libpri's default 2).
    pub n316: u8,
}

impl TimerValues {
    /// The user-side defaults.
    pub const fn user() -> Self {
        Self {
            t301: Some(Duration::from_secs(180)),
            t303: Duration::from_secs(4),
            t305: Duration::from_secs(30),
            t308: Duration::from_secs(4),
            t309: Some(Duration::from_secs(90)),
            t310: Duration::from_secs(30),
            t313: Duration::from_secs(4),
            t316: Duration::from_secs(120),
            n316: 2,
        }
    }

    /// The network-side defaults (T310 is 10 s).
    pub const fn network() -> Self {
        Self {
            t310: Duration::from_secs(10),
            ..Self::user()
        }
    }

    /// The duration of `timer`, or `None` when it is disabled.
    pub fn get(&self, timer: Timer) -> Option<Duration> {
        // A zero timer would expire at the instant it is set and loop; a huge one
        // would overflow `Instant` arithmetic.
        const MIN: Duration = Duration::from_millis(1);
        const MAX: Duration = Duration::from_secs(24 * 60 * 60);
        let value = match timer {
            Timer::T301 => self.t301?,
            Timer::T303 => self.t303,
            Timer::T305 => self.t305,
            Timer::T308 => self.t308,
            Timer::T309 => self.t309?,
            Timer::T310 => self.t310,
            Timer::T313 => self.t313,
            Timer::T316 => self.t316,
        };
        Some(value.clamp(MIN, MAX))
    }
}

/// Running timers and their deadlines.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Timers([Option<Instant>; Timer::COUNT]);

impl Timers {
    /// Starts (or restarts) `timer` to expire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    /// Stops every timer.
    pub(crate) fn stop_all(&mut self) {
        self.0 = [None; Timer::COUNT];
    }

    /// The first running timer whose deadline is not after `now`.
    pub(crate) fn expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .into_iter()
            .find(|t| self.0[*t as usize].is_some_and(|at| at <= now))
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// Timer expiries counted by timer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimerCounts([u64; Timer::COUNT]);

impl TimerCounts {
    /// How many times `timer` expired.
    pub const fn get(&self, timer: Timer) -> u64 {
        self.0[timer as usize]
    }

    pub(crate) fn bump(&mut self, timer: Timer) {
        let count = &mut self.0[timer as usize];
        *count = count.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    #[test]
    fn defaults_follow_the_reference_table() {
        let user = TimerValues::user();
        let network = TimerValues::network();
        assert_eq!(user.get(Timer::T303), Some(Duration::from_secs(4)));
        assert_eq!(user.get(Timer::T305), Some(Duration::from_secs(30)));
        assert_eq!(user.get(Timer::T308), Some(Duration::from_secs(4)));
        assert_eq!(user.get(Timer::T313), Some(Duration::from_secs(4)));
        assert_eq!(user.get(Timer::T316), Some(Duration::from_secs(120)));
        assert_eq!(user.get(Timer::T301), Some(Duration::from_secs(180)));
        assert_eq!(user.get(Timer::T310), Some(Duration::from_secs(30)));
        assert_eq!(network.get(Timer::T310), Some(Duration::from_secs(10)));
    }

    #[test]
    fn disabled_or_absurd_values_are_handled() {
        let values = TimerValues {
            t301: None,
            t303: Duration::ZERO,
            ..TimerValues::user()
        };
        assert_eq!(values.get(Timer::T301), None);
        assert_eq!(values.get(Timer::T303), Some(Duration::from_millis(1)));
    }

    #[test]
    fn diagnostic_spells_the_timer_number() {
        assert_eq!(Timer::T303.diagnostic(), *b"303");
        assert_eq!(Timer::T310.diagnostic(), [0x33, 0x31, 0x30]);
    }

    #[test]
    fn table_reports_the_first_expired_timer_and_the_next_deadline() {
        let t0 = epoch();
        let mut timers = Timers::default();
        timers.set(Timer::T308, t0 + Duration::from_secs(4));
        timers.set(Timer::T303, t0 + Duration::from_secs(2));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(timers.expired(t0 + Duration::from_secs(1)), None);
        assert_eq!(
            timers.expired(t0 + Duration::from_secs(4)),
            Some(Timer::T303)
        );
        timers.stop(Timer::T303);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(
            timers.expired(t0 + Duration::from_secs(4)),
            Some(Timer::T308)
        );
        timers.stop_all();
        assert_eq!(timers.next(), None);
    }
}
