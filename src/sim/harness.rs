//! The in-process harness: two sans-IO line endpoints wired back to back, byte for
//! byte, on a virtual clock, with seeded impairments on each direction.
//!
//! ```text
//!            ┌── Impair (a_to_b, seeded) ──▶┐
//!    a: Pbx ─┤                              ├─ b: Pbx, or the gateway's isdn::Pri
//!            └◀── Impair (b_to_a, seeded) ──┘
//!        now: jumps to the earliest poll_timeout (at most `quantum` at a time)
//! ```
//!
//! Nothing here reads a clock: [`Harness::now`] starts at the epoch it is given and only
//! moves in [`Harness::step`], so a run is reproducible from its seed. A whole call takes
//! a few milliseconds of CPU (the line still carries every frame: 8000 a second each way).
//!
//! ```ignore
//! let mut h = Harness::new(seed, epoch, pbx, gateway_pri);
//! h.step_until(Duration::from_secs(30), |h| h.a.is_finished());
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::impair::Impair;
use super::pbx::Pbx;
use crate::isdn::Pri;

/// Anything that speaks line bytes with the common sans-IO verbs.
pub trait LineEndpoint {
    /// Line bytes from the other end.
    fn handle_rx(&mut self, now: Instant, bytes: &[u8]);
    /// Timers; early calls do nothing.
    fn handle_timeout(&mut self, now: Instant);
    /// Line bytes to send.
    fn poll_transmit(&mut self) -> Option<Bytes>;
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
}

impl LineEndpoint for Pbx {
    fn handle_rx(&mut self, now: Instant, bytes: &[u8]) {
        Pbx::handle_rx(self, now, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Pbx::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        Pbx::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Pbx::poll_timeout(self)
    }
}

impl LineEndpoint for Pri {
    fn handle_rx(&mut self, now: Instant, bytes: &[u8]) {
        Pri::handle_rx(self, now, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Pri::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self) -> Option<Bytes> {
        Pri::poll_transmit(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Pri::poll_timeout(self)
    }
}

/// Two endpoints on one virtual line. Fields are public: drive either side's upper
/// layer (commands, events) between steps.
#[derive(Debug)]
pub struct Harness<A, B> {
    pub a: A,
    pub b: B,
    /// Impairments on what `a` sends to `b`.
    pub a_to_b: Impair,
    /// Impairments on what `b` sends to `a`.
    pub b_to_a: Impair,
    now: Instant,
    /// The longest single jump of the clock.
    quantum: Duration,
    scratch: Vec<u8>,
    /// Line bytes delivered each way, after impairment.
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
}

impl<A: LineEndpoint, B: LineEndpoint> Harness<A, B> {
    /// Wire `a` and `b` together at `epoch` (both should have been created at it).
    /// `seed` fixes both directions' impairments.
    pub fn new(seed: u64, epoch: Instant, a: A, b: B) -> Self {
        Harness {
            a,
            b,
            a_to_b: Impair::new(seed),
            b_to_a: Impair::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1)),
            now: epoch,
            quantum: Duration::from_millis(1),
            scratch: Vec::new(),
            bytes_a_to_b: 0,
            bytes_b_to_a: 0,
        }
    }

    /// The longest jump of the virtual clock per step (default 1 ms, the span's
    /// internal-clock batch). Longer is faster and coarser.
    pub fn set_quantum(&mut self, quantum: Duration) {
        self.quantum = quantum.max(Duration::from_micros(125));
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Move the clock to the earliest deadline (at most one quantum ahead), run both
    /// timers and carry bytes both ways until neither side has anything to send.
    pub fn step(&mut self) {
        let limit = self.now + self.quantum;
        let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => x.or(y).unwrap_or(limit),
        };
        // Always move a little: a deadline left in the past by an idempotent timer must
        // not hold the clock still.
        self.now = next.max(self.now + Duration::from_micros(1)).min(limit);
        let now = self.now;
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.carry();
    }

    /// Carry whatever either side has to send to the other, through the impairments,
    /// until both are quiet at this instant.
    pub fn carry(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            while let Some(bytes) = self.a.poll_transmit() {
                moved = true;
                self.scratch.clear();
                self.a_to_b.apply(&bytes, &mut self.scratch);
                self.bytes_a_to_b += self.scratch.len() as u64;
                if !self.scratch.is_empty() {
                    self.b.handle_rx(now, &self.scratch);
                }
            }
            while let Some(bytes) = self.b.poll_transmit() {
                moved = true;
                self.scratch.clear();
                self.b_to_a.apply(&bytes, &mut self.scratch);
                self.bytes_b_to_a += self.scratch.len() as u64;
                if !self.scratch.is_empty() {
                    self.a.handle_rx(now, &self.scratch);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Step until `done` says so or `limit` of virtual time has passed; returns whether
    /// `done` was reached.
    pub fn step_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Step for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.step();
        }
    }
}
