//! A bounded single-producer single-consumer octet queue, lock-free and without `unsafe`.
//!
//! The span's stack thread must never block on media (the wire cannot pause), and the
//! crate forbids `unsafe`, so the slots are atomics and the two ends publish their
//! positions with release/acquire. A full queue drops the excess and counts it, as the
//! line layer counts slips.
//!
//! ```text
//!   push ─▶ [ head .......... tail ) ─▶ pop        positions grow forever; octet = pos % N
//!   words:  [o0 o1 .. o7][o8 .. o15] ...            octet k in bits 8(k % 8).. of word k / 8
//! ```
//!
//! The slots are `AtomicU64`s holding eight octets each, so a 160-octet packet is 20
//! loads or stores rather than 160 (the octet-at-a-time copy was a third of the engine's
//! per-leg visit). Only the producer ever stores a word: where a push starts or ends
//! inside one it loads the word (its own last store), replaces its octets at and above
//! the tail and stores it back. The consumer may load that word at the same moment; it
//! uses only octets below the tail it acquired, which are the same in the old and the
//! new value, and the producer never rewrites octets below the head it acquired until
//! the consumer has released them. Memory is the same as one atomic octet per slot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Octets a slot word holds.
const WORD: usize = 8;

/// An SPSC octet queue of a power-of-two capacity of at least one word.
#[derive(Debug)]
pub(crate) struct Ring {
    words: Box<[AtomicU64]>,
    /// Next position to read (owned by the consumer).
    head: AtomicUsize,
    /// Next position to write (owned by the producer).
    tail: AtomicUsize,
    dropped: AtomicU64,
}

impl Ring {
    /// A queue holding up to `capacity` octets (rounded up to a power of two, at least 8).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.next_power_of_two().max(WORD);
        Self {
            words: (0..capacity / WORD).map(|_| AtomicU64::new(0)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.words.len() * WORD
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
        let capacity = self.capacity();
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let room = capacity - tail.wrapping_sub(head);
        let n = room.min(data.len());
        let mut pos = tail;
        let mut rest = &data[..n];
        while !rest.is_empty() {
            let (word, offset) = self.slot(pos);
            if offset == 0 && rest.len() >= WORD {
                // Whole words, up to the end of the data or of the ring.
                let (chunks, _) = rest.as_chunks::<WORD>();
                let k = chunks.len().min(self.words.len() - word);
                for (w, chunk) in self.words[word..word + k].iter().zip(chunks) {
                    w.store(u64::from_le_bytes(*chunk), Ordering::Relaxed);
                }
                pos = pos.wrapping_add(k * WORD);
                rest = &rest[k * WORD..];
            } else {
                // Part of one word: keep its octets outside the run (below the tail they
                // are the consumer's, or already read; above, free).
                let k = rest.len().min(WORD - offset);
                let w = &self.words[word];
                let mut octets = w.load(Ordering::Relaxed).to_le_bytes();
                octets[offset..offset + k].copy_from_slice(&rest[..k]);
                w.store(u64::from_le_bytes(octets), Ordering::Relaxed);
                pos = pos.wrapping_add(k);
                rest = &rest[k..];
            }
        }
        self.tail.store(tail.wrapping_add(n), Ordering::Release);
        if n < data.len() {
            self.dropped
                .fetch_add((data.len() - n) as u64, Ordering::Relaxed);
        }
        (n, capacity - room + n)
    }

    /// Take up to `out.len()` octets (consumer side only); returns the count read.
    pub(crate) fn pop(&self, out: &mut [u8]) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head).min(out.len());
        let mut pos = head;
        let mut rest = &mut out[..n];
        while !rest.is_empty() {
            let (word, offset) = self.slot(pos);
            let k = if offset == 0 && rest.len() >= WORD {
                let (chunks, _) = rest.as_chunks_mut::<WORD>();
                let k = chunks.len().min(self.words.len() - word);
                for (w, chunk) in self.words[word..word + k].iter().zip(chunks) {
                    *chunk = w.load(Ordering::Relaxed).to_le_bytes();
                }
                k * WORD
            } else {
                let k = rest.len().min(WORD - offset);
                let octets = self.words[word].load(Ordering::Relaxed).to_le_bytes();
                rest[..k].copy_from_slice(&octets[offset..offset + k]);
                k
            };
            pos = pos.wrapping_add(k);
            rest = &mut rest[k..];
        }
        self.head.store(head.wrapping_add(n), Ordering::Release);
        n
    }

    /// The word holding position `pos`, and the octet's place in it.
    fn slot(&self, pos: usize) -> (usize, usize) {
        let octet = pos & (self.capacity() - 1);
        (octet / WORD, octet % WORD)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

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
    fn capacity_is_a_power_of_two_of_at_least_one_word() {
        // (asked for, capacity)
        let rows = [
            (0, 8),
            (1, 8),
            (5, 8),
            (8, 8),
            (9, 16),
            (1000, 1024),
            (1024, 1024),
        ];
        for (asked, capacity) in rows {
            assert_eq!(Ring::new(asked).capacity(), capacity, "asked {asked}");
        }
    }

    #[test]
    fn full_push_drops_and_counts_the_excess() {
        let r = Ring::new(8);
        let data: Vec<u8> = (1..=11).collect();
        assert_eq!(r.push(&data), 8);
        assert_eq!(r.dropped(), 3);
        let mut out = [0u8; 16];
        assert_eq!(r.pop(&mut out), 8);
        assert_eq!(out[..8], data[..8]);
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

    /// Pushes and pops of every alignment against a `VecDeque`: each row pushes `push`
    /// octets (counting on from the last) and pops `pop`, on a 32-octet ring (4 words), so
    /// runs start and end inside words, span several, wrap at the ring's end (inside a
    /// word and on a boundary) and hit a full or empty ring.
    #[test]
    fn unaligned_pushes_and_pops_and_wraps_keep_fifo_order() {
        // (push, pop)
        let rows = [
            (3, 1),   // push and pop inside word 0
            (13, 5),  // push: the rest of word 0, then word 1 whole; pop inside word 0
            (9, 8),   // push: word 2 whole and one octet of word 3; pop over words 0 and 1
            (12, 0),  // push to the ring's end inside word 3, wrap, on into word 0
            (40, 40), // more than fits: 31 dropped; pop all, over the wrap
            (5, 2),   // from empty at an unaligned position
            (29, 32), // exactly full across the wrap, then popped whole
            (8, 8),   // one whole word on a boundary
            (1, 1),
            (31, 31), // from inside word 3 over the wrap
            (32, 16), // full from a boundary
            (17, 17), // 16 fit, one dropped
        ];
        let r = Ring::new(32);
        let mut model = VecDeque::new();
        let (mut next, mut dropped) = (0u8, 0u64);
        for (i, &(push, pop)) in rows.iter().enumerate() {
            let data: Vec<u8> = (0..push).map(|k| next.wrapping_add(k as u8)).collect();
            next = next.wrapping_add(push as u8);
            let fits = push.min(32 - model.len());
            model.extend(&data[..fits]);
            dropped += (push - fits) as u64;
            assert_eq!(r.push(&data), fits, "row {i}");
            assert_eq!(r.len(), model.len(), "row {i}");
            let mut out = vec![0u8; pop];
            let n = r.pop(&mut out);
            let want: Vec<u8> = model.drain(..pop.min(model.len())).collect();
            assert_eq!(out[..n], want[..], "row {i}");
            assert_eq!(r.dropped(), dropped, "row {i}");
        }
    }

    /// Every push length against every pop length from every start position on a
    /// two-word ring.
    #[test]
    fn every_length_from_every_position_round_trips() {
        for start in 0..16usize {
            for len in 0..=16usize {
                let r = Ring::new(16);
                let mut out = [0u8; 16];
                // Walk the positions to `start`, with octets the test must not see again.
                r.push(&[0xEE; 16][..start]);
                r.pop(&mut out[..start]);
                let data: Vec<u8> = (1..=len as u8).collect();
                assert_eq!(r.push(&data), len);
                // Popped in two pieces, so the second starts where the first ended.
                let first = len / 3;
                assert_eq!(r.pop(&mut out[..first]), first);
                assert_eq!(r.pop(&mut out[first..]), len - first);
                assert_eq!(out[..len], data[..], "start {start} len {len}");
            }
        }
    }

    /// Producer and consumer on two threads, chunk sizes chosen so positions drift
    /// through every alignment and the ring wraps thousands of times.
    #[test]
    fn wraps_around_many_times_across_threads() {
        // (ring capacity, push chunk, pop size)
        for (capacity, chunk, pop) in [(64, 7, 16), (1024, 40, 160), (16, 5, 3), (8, 9, 8)] {
            let r = std::sync::Arc::new(Ring::new(capacity));
            let w = r.clone();
            let producer = std::thread::spawn(move || {
                let mut next = 0u8;
                let mut sent = 0usize;
                while sent < 100_000 {
                    let data: Vec<u8> = (0..chunk).map(|i| next.wrapping_add(i as u8)).collect();
                    let n = w.push(&data[..chunk.min(capacity - w.len())]);
                    next = next.wrapping_add(n as u8);
                    sent += n;
                }
            });
            let mut expect = 0u8;
            let mut got = 0usize;
            let mut out = vec![0u8; pop];
            while got < 100_000 {
                let n = r.pop(&mut out);
                for &b in &out[..n] {
                    assert_eq!(b, expect, "capacity {capacity} at {got}");
                    expect = expect.wrapping_add(1);
                }
                got += n;
            }
            producer.join().unwrap();
            assert_eq!(r.dropped(), 0);
        }
    }
}
