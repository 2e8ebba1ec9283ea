//! The span's B-channels and who holds them (Q.931 5.1.2 and 5.2.3 channel
//! selection, 5.5 restart; reference `q931-call-control.md` sections 5.2 and 10).
//!
//! ```text
//!            assign                    RESTART sent / T308 twice
//!   Idle ───────────▶ Busy(call)  ───────────────────────────▶ Restarting
//!    ▲  ◀─────────────  │                                          │
//!    │    call Null     │ peer RESTART / link down                 │ RESTART ACK
//!    └──────────────────┴──────────────────────────────────────────┘
//!   Restarting ── N316 unanswered RESTARTs ──▶ OutOfService ── link down ──▶ Idle
//! ```

use crate::isdn::dchannel::CallId;

/// What one B-channel is doing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ChannelState {
    /// Free for a call.
    Idle,
    /// Reserved for or carrying this call.
    Busy(CallId),
    /// Our RESTART for it is outstanding: no calls until it is acknowledged.
    Restarting,
    /// RESTART was never acknowledged: out of service until the link restarts.
    OutOfService,
}

/// The B-channels in service on the span.
#[derive(Clone, Debug)]
pub(crate) struct Channels {
    entries: Vec<(u8, ChannelState)>,
}

impl Channels {
    /// Every configured channel, idle (duplicates dropped, 0 and > 127 ignored:
    /// channel numbers are seven bits on the wire).
    pub(crate) fn new(numbers: &[u8]) -> Self {
        let mut numbers: Vec<u8> = numbers
            .iter()
            .copied()
            .filter(|n| (1..=127).contains(n))
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        Self {
            entries: numbers
                .into_iter()
                .map(|n| (n, ChannelState::Idle))
                .collect(),
        }
    }

    /// The state of channel `number`, or `None` if it is not in service here.
    pub(crate) fn state(&self, number: u8) -> Option<ChannelState> {
        self.entries
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, s)| *s)
    }

    /// Sets the state of `number` (ignored for a channel we do not have).
    pub(crate) fn set(&mut self, number: u8, state: ChannelState) {
        if let Some(entry) = self.entries.iter_mut().find(|(n, _)| *n == number) {
            entry.1 = state;
        }
    }

    /// Frees `number` if `call` holds it (a channel since given to another call
    /// or restarted stays as it is).
    pub(crate) fn release(&mut self, number: u8, call: CallId) {
        if self.state(number) == Some(ChannelState::Busy(call)) {
            self.set(number, ChannelState::Idle);
        }
    }

    /// An idle channel: the highest-numbered one when `from_top`, else the lowest.
    /// The two sides hunt from opposite ends to make glare rare.
    pub(crate) fn pick(&self, from_top: bool) -> Option<u8> {
        let mut idle = self
            .entries
            .iter()
            .filter(|(_, s)| *s == ChannelState::Idle)
            .map(|(n, _)| *n);
        if from_top {
            idle.next_back()
        } else {
            idle.next()
        }
    }

    /// Every channel number.
    pub(crate) fn numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.entries.iter().map(|(n, _)| *n)
    }

    /// Channel numbers in `state`.
    pub(crate) fn in_state(&self, state: ChannelState) -> Vec<u8> {
        self.entries
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Sets every channel in `from` to `to`.
    pub(crate) fn replace_all(&mut self, from: ChannelState, to: ChannelState) {
        for entry in &mut self.entries {
            if entry.1 == from {
                entry.1 = to;
            }
        }
    }

    /// Frees every busy channel.
    pub(crate) fn free_busy(&mut self) {
        for entry in &mut self.entries {
            if matches!(entry.1, ChannelState::Busy(_)) {
                entry.1 = ChannelState::Idle;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_table_is_idle_sorted_and_deduplicated() {
        let channels = Channels::new(&[5, 1, 5, 0, 200, 3]);
        assert_eq!(channels.numbers().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(channels.state(3), Some(ChannelState::Idle));
        assert_eq!(channels.state(2), None);
    }

    #[test]
    fn pick_hunts_from_either_end_skipping_busy() {
        let mut channels = Channels::new(&[1, 2, 3]);
        channels.set(3, ChannelState::Busy(CallId(1)));
        assert_eq!(channels.pick(true), Some(2));
        assert_eq!(channels.pick(false), Some(1));
        channels.set(1, ChannelState::Restarting);
        channels.set(2, ChannelState::OutOfService);
        assert_eq!(channels.pick(true), None);
    }

    #[test]
    fn release_frees_only_the_holders_channel() {
        let mut channels = Channels::new(&[1]);
        channels.set(1, ChannelState::Busy(CallId(2)));
        channels.release(1, CallId(1));
        assert_eq!(channels.state(1), Some(ChannelState::Busy(CallId(2))));
        channels.release(1, CallId(2));
        assert_eq!(channels.state(1), Some(ChannelState::Idle));
    }
}
