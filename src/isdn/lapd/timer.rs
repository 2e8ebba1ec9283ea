//! The data link's timers, as a table indexed by their Q.921 names (§5.9).
//!
//! Each timer is an optional deadline. Nothing here reads a clock: the state machine sets
//! deadlines from the `now` it is handed and asks which have passed.

use std::time::Instant;

/// A Q.921 timer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Timer {
    /// Retransmission / response timer (1 s). In state 4 it also paces the next
    /// establishment attempt after a failure, as libpri does.
    T200,
    /// Maximum idle time before the link is polled (10 s).
    T203,
}

impl Timer {
    /// Every timer, in the order an overdue pair is handled.
    pub(crate) const ALL: [Self; 2] = [Self::T200, Self::T203];
}

/// The running timers and their deadlines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timers([Option<Instant>; 2]);

impl Timers {
    /// Starts `timer`, or restarts it if it was running.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    /// Stops `timer`; stopping a stopped timer does nothing.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    /// Stops every timer.
    pub(crate) fn stop_all(&mut self) {
        self.0 = [None; 2];
    }

    /// Whether `timer` is running.
    pub(crate) fn is_running(&self, timer: Timer) -> bool {
        self.0[timer as usize].is_some()
    }

    /// The deadline of `timer`, if it is running.
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    /// Whether `timer` is running and its deadline is not after `now`.
    pub(crate) fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.deadline(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline of all running timers.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[expect(clippy::disallowed_methods, reason = "test epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    #[test]
    fn stopped_table_has_no_deadline() {
        let mut timers = Timers::default();
        timers.set(Timer::T203, epoch());
        timers.stop_all();
        assert_eq!(timers.next(), None);
        assert!(!timers.is_running(Timer::T203));
    }

    #[test]
    fn next_is_the_earliest_running_timer() {
        let t0 = epoch();
        let mut timers = Timers::default();
        timers.set(Timer::T203, t0 + Duration::from_secs(10));
        timers.set(Timer::T200, t0 + Duration::from_secs(1));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        timers.stop(Timer::T200);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn timer_expires_at_its_deadline_not_before() {
        let t0 = epoch();
        let mut timers = Timers::default();
        timers.set(Timer::T200, t0 + Duration::from_secs(1));
        assert!(!timers.is_expired(Timer::T200, t0 + Duration::from_millis(999)));
        assert!(timers.is_expired(Timer::T200, t0 + Duration::from_secs(1)));
        assert!(!timers.is_expired(Timer::T203, t0 + Duration::from_secs(1)));
    }
}
