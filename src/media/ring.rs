//! A bounded single-producer single-consumer octet queue, lock-free and without `unsafe`.
//!
//! The span's stack thread must never block on media (the wire cannot pause), and the
//! crate forbids `unsafe`, so the slots are `AtomicU8` (a plain byte store on every
//! target we run on) and the two ends publish their positions with release/acquire.
//! A full queue drops the excess and counts it, as the line layer counts slips.
//!
//! ```text
//!   push ─▶ [ head .......... tail ) ─▶ pop        positions grow forever; slot = pos % N
//! ```

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// An SPSC octet queue of a power-of-two capacity.
#[derive(Debug)]
pub(crate) struct Ring {
    slots: Box<[AtomicU8]>,
    /// Next position to read (owned by the consumer).
    head: AtomicUsize,
    /// Next position to write (owned by the producer).
    tail: AtomicUsize,
    dropped: AtomicU64,
}

impl Ring {
    /// A queue holding up to `capacity` octets (rounded up to a power of two).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.next_power_of_two();
        Self {
            slots: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Octets waiting.
    pub(crate) fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.head.load(Ordering::Acquire))
    }

    /// Octets dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Append what fits of `data` (producer side only); returns the count written.
    pub(crate) fn push(&self, data: &[u8]) -> usize {
        self.push_counted(data).0
    }

    /// [`Ring::push`], returning the octets waiting after it as the producer sees them:
    /// never fewer than the consumer will find, since its pops only shrink the count.
    pub(crate) fn push_waiting(&self, data: &[u8]) -> usize {
        self.push_counted(data).1
    }

    /// (written, waiting after) without a second look at the consumer's position.
    fn push_counted(&self, data: &[u8]) -> (usize, usize) {
        let mask = self.slots.len() - 1;
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let room = self.slots.len() - tail.wrapping_sub(head);
        let n = room.min(data.len());
        for (i, &b) in data[..n].iter().enumerate() {
            self.slots[tail.wrapping_add(i) & mask].store(b, Ordering::Relaxed);
        }
        self.tail.store(tail.wrapping_add(n), Ordering::Release);
        if n < data.len() {
            self.dropped
                .fetch_add((data.len() - n) as u64, Ordering::Relaxed);
        }
        (n, self.slots.len() - room + n)
    }

    /// Take up to `out.len()` octets (consumer side only); returns the count read.
    pub(crate) fn pop(&self, out: &mut [u8]) -> usize {
        let mask = self.slots.len() - 1;
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(out.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.slots[head.wrapping_add(i) & mask].load(Ordering::Relaxed);
        }
        self.head.store(head.wrapping_add(n), Ordering::Release);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pop_gives_nothing_then_fifo_order() {
        let r = Ring::new(8);
        let mut out = [0u8; 4];
        assert_eq!(r.pop(&mut out), 0);
        assert_eq!(r.push(&[1, 2, 3]), 3);
        assert_eq!(r.pop(&mut out), 3);
        assert_eq!(out[..3], [1, 2, 3]);
    }

    #[test]
    fn full_push_drops_and_counts_the_excess() {
        let r = Ring::new(4);
        assert_eq!(r.push(&[1, 2, 3, 4, 5, 6]), 4);
        assert_eq!(r.dropped(), 2);
        let mut out = [0u8; 8];
        assert_eq!(r.pop(&mut out), 4);
        assert_eq!(out[..4], [1, 2, 3, 4]);
    }

    #[test]
    fn push_waiting_counts_what_waits_after_the_push() {
        let r = Ring::new(8);
        let mut out = [0u8; 8];
        // (octets pushed, popped before the next row, waiting after the push)
        let rows = [(3, 0, 3), (2, 4, 5), (6, 0, 7), (4, 8, 8)];
        for (pushed, popped, waiting) in rows {
            assert_eq!(r.push_waiting(&[0xAA; 8][..pushed]), waiting);
            assert_eq!(r.len(), waiting);
            assert_eq!(r.pop(&mut out[..popped]), popped.min(waiting));
        }
    }

    #[test]
    fn wraps_around_many_times_across_threads() {
        let r = std::sync::Arc::new(Ring::new(64));
        let w = r.clone();
        let producer = std::thread::spawn(move || {
            let mut next = 0u8;
            let mut sent = 0usize;
            while sent < 100_000 {
                let chunk: Vec<u8> = (0..7).map(|i| next.wrapping_add(i)).collect();
                let n = w.push(&chunk[..7.min(64 - w.len())]);
                next = next.wrapping_add(n as u8);
                sent += n;
            }
        });
        let mut expect = 0u8;
        let mut got = 0usize;
        let mut out = [0u8; 16];
        while got < 100_000 {
            let n = r.pop(&mut out);
            for &b in &out[..n] {
                assert_eq!(b, expect);
                expect = expect.wrapping_add(1);
            }
            got += n;
        }
        producer.join().unwrap();
        assert_eq!(r.dropped(), 0);
    }
}
