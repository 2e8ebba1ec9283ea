//! Playout buffer: RTP payloads in, exactly one line-law octet per 125 µs frame out
//! (`g711-rtp.md` section 9.1).
//!
//! ```text
//!   ring[ts mod 8192]  (≈1 s of octets, a bit per octet says "real audio")
//!        ▲ write at packet timestamp          read_ts ─▶ one octet per frame
//!   Idle ──first packet──▶ Playing (read_ts = ts − target)
//!     ▲                      │ new SSRC / jump beyond the ring: restart
//!     └──────── reset ◀──────┘
//! ```
//!
//! Adaptive and bounded: the target delay starts at two packets, follows 2 × jitter + one
//! packet (never above `max_delay`), and the buffer converges on it, and absorbs clock
//! drift, by dropping or repeating one octet in 160 (inaudible). Gaps are concealed by replaying the last packet-time of output at
//! falling level for up to two packet-times, then silence (G.711 Appendix I in spirit).
//! Written by hand: the TDM side's one-octet-per-frame rule and G.711 concealment are
//! what it is for, and general jitter-buffer crates work in packets, not samples.

use crate::line::Law;

use super::g711;

/// Ring size in octets (≈1 s at 8 kHz); a power of two so `ts mod` is a mask.
const RING: usize = 8192;
const MASK: u32 = RING as u32 - 1;
/// Concealment history: one packet-time of 30 ms at most.
const HISTORY: usize = 240;

/// Counters a leg reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayoutStats {
    /// Packets that arrived after their time had been played.
    pub late: u64,
    /// Octets replaced by concealment or silence while playing.
    pub concealed: u64,
    /// Octets dropped or repeated to follow the target.
    pub adjusted: u64,
    /// Restarts (new SSRC, timestamp jump).
    pub resets: u64,
}

/// RTP → B-channel playout for one stream.
#[derive(Clone, Debug)]
pub struct Playout {
    law: Law,
    ring: Box<[u8; RING]>,
    filled: Box<[u64; RING / 64]>,
    playing: bool,
    read_ts: u32,
    /// End (timestamp after the last octet) of the newest audio written.
    newest_end: u32,
    /// Target delay in samples.
    target: u32,
    min_delay: u32,
    max_delay: u32,
    /// Smoothed depth (newest_end − read_ts) × 16.
    depth_x16: u32,
    /// Octets since the last drop/repeat.
    since_adjust: u32,
    history: [u8; HISTORY],
    history_len: usize,
    history_pos: usize,
    /// The octet played last.
    last: u8,
    /// Octets concealed in the current gap.
    gap: u32,
    packet_samples: u32,
    stats: PlayoutStats,
}

impl Playout {
    /// An empty buffer for a B-channel of `law`, with at most `max_delay_ms` of delay.
    pub fn new(law: Law, packet_ms: u8, max_delay_ms: u16) -> Self {
        let packet_samples = u32::from(packet_ms.clamp(10, 30)) * 8;
        let max_delay = (u32::from(max_delay_ms) * 8).clamp(2 * packet_samples, RING as u32 / 2);
        Self {
            law,
            ring: Box::new([law.idle_code(); RING]),
            filled: Box::new([0; RING / 64]),
            playing: false,
            read_ts: 0,
            newest_end: 0,
            target: (2 * packet_samples).min(max_delay),
            min_delay: packet_samples,
            max_delay,
            depth_x16: 0,
            since_adjust: 0,
            history: [law.idle_code(); HISTORY],
            history_len: 0,
            history_pos: 0,
            last: law.idle_code(),
            gap: 0,
            packet_samples,
            stats: PlayoutStats::default(),
        }
    }

    /// Bytes of heap and inline state this buffer holds.
    pub const fn footprint() -> usize {
        std::mem::size_of::<Self>() + RING + RING / 8
    }

    /// Forget everything (new SSRC); the next packet restarts playout.
    pub fn reset(&mut self) {
        if self.playing {
            self.stats.resets += 1;
        }
        self.playing = false;
        self.filled.fill(0);
    }

    /// Current target delay in samples.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Follow the interarrival jitter estimate (timestamp units): 2 × jitter + a packet.
    pub fn set_jitter(&mut self, jitter: u32) {
        self.target = (2 * jitter + self.packet_samples).clamp(self.min_delay, self.max_delay);
    }

    /// Counters so far.
    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }

    /// Store `payload` (already in the line law) at RTP timestamp `ts`.
    pub fn write(&mut self, ts: u32, payload: &[u8]) {
        let len = payload.len().min(RING / 2) as u32;
        let Some(ahead) = self.admit(ts, len) else {
            return;
        };
        // Octets whose time has already been played are skipped (`ahead` < 0 here means
        // fewer than `len` of them, or the packet was dropped above as late).
        let skip = if (ahead as i32) < 0 {
            ahead.wrapping_neg()
        } else {
            0
        };
        let mut t = ts.wrapping_add(skip);
        let mut rest = &payload[skip as usize..len as usize];
        while !rest.is_empty() {
            // Up to the end of the ring, then again from its start.
            let pos = (t & MASK) as usize;
            let n = rest.len().min(RING - pos);
            self.ring[pos..pos + n].copy_from_slice(&rest[..n]);
            set_bits(&mut self.filled[..], pos, n);
            t = t.wrapping_add(n as u32);
            rest = &rest[n..];
        }
        self.note_end(ts.wrapping_add(len));
    }

    /// Whether `len` octets at `ts` can still be played (a packet wholly in the past is
    /// counted late); restarts on the first packet and on a jump far ahead. Returns how
    /// far `ts` is ahead of playout.
    fn admit(&mut self, ts: u32, len: u32) -> Option<u32> {
        if !self.playing {
            self.start(ts);
        }
        let ahead = ts.wrapping_sub(self.read_ts);
        if ahead as i32 <= -(len as i32) {
            self.stats.late += 1;
            return None;
        }
        if ahead > RING as u32 / 2 && (ahead as i32) > 0 {
            // Far ahead of playout: a jump the sender made; start over at it.
            self.stats.resets += 1;
            self.filled.fill(0);
            self.start(ts);
        }
        Some(ahead)
    }

    fn note_end(&mut self, end: u32) {
        if (end.wrapping_sub(self.newest_end) as i32) > 0 {
            self.newest_end = end;
        }
    }

    fn start(&mut self, ts: u32) {
        self.playing = true;
        self.read_ts = ts.wrapping_sub(self.target);
        self.newest_end = ts;
        self.depth_x16 = self.target * 16;
        self.gap = 0;
    }

    /// Fill `out` with the next octets for the B-channel, one per frame.
    pub fn read(&mut self, out: &mut [u8]) {
        if !self.playing {
            out.fill(self.law.idle_code());
            return;
        }
        // In stretches that end where the buffer next steers (every 160 octets).
        let mut rest = out;
        while !rest.is_empty() {
            let n = rest.len().min((160 - self.since_adjust) as usize);
            let (now, later) = rest.split_at_mut(n);
            self.read_stretch(now);
            self.since_adjust += n as u32;
            if self.since_adjust >= 160 {
                self.since_adjust = 0;
                self.steer();
            }
            rest = later;
        }
    }

    /// The next `out.len()` octets, with no steering in between. Real audio goes out as
    /// whole runs of filled octets (one copy and one history update per run, its length
    /// found from the bitmap a word at a time); only a missing octet takes the per-octet
    /// path of concealment.
    fn read_stretch(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let pos = (self.read_ts & MASK) as usize;
            // Never past the ring's end: the run's copy is one slice.
            let run = self.filled_run(pos, (out.len() - i).min(RING - pos));
            if run == 0 {
                out[i] = self.missing_octet();
                i += 1;
                continue;
            }
            let played = &mut out[i..i + run];
            played.copy_from_slice(&self.ring[pos..pos + run]);
            clear_bits(&mut self.filled[..], pos, run);
            self.read_ts = self.read_ts.wrapping_add(run as u32);
            self.gap = 0;
            self.last = played[run - 1];
            self.remember(played);
            i += run;
        }
    }

    /// Filled octets in a row from `pos`, at most `max` (`pos + max <= RING`).
    fn filled_run(&self, pos: usize, max: usize) -> usize {
        let mut run = 0;
        while run < max {
            let (word, bit) = ((pos + run) / 64, (pos + run) % 64);
            // Ones from `bit` up: the shift brings in zeros, so at most 64 - bit.
            let ones = (!(self.filled[word] >> bit)).trailing_zeros() as usize;
            run += ones;
            if ones < 64 - bit {
                break;
            }
        }
        run.min(max)
    }

    /// Keep real audio (never our own concealment) for replay: the last packet-time.
    fn remember(&mut self, run: &[u8]) {
        let n = self.packet_samples as usize;
        // Only the last packet-time counts; history is a ring read relative to its
        // position, so where the copy starts does not matter.
        let run = &run[run.len().saturating_sub(n)..];
        let first = run.len().min(n - self.history_pos);
        self.history[self.history_pos..self.history_pos + first].copy_from_slice(&run[..first]);
        self.history[..run.len() - first].copy_from_slice(&run[first..]);
        self.history_pos = (self.history_pos + run.len()) % n;
        self.history_len = (self.history_len + run.len()).min(n);
    }

    /// The octet for a frame whose audio is missing: silence before the first real
    /// octet, concealment after.
    fn missing_octet(&mut self) -> u8 {
        self.read_ts = self.read_ts.wrapping_add(1);
        let octet = if self.history_len == 0 {
            // Before the first real octet, the target delay is plain silence.
            self.law.idle_code()
        } else {
            self.stats.concealed += 1;
            self.conceal()
        };
        self.last = octet;
        octet
    }

    /// Replay the last packet-time of real audio, fading to silence over two of them.
    fn conceal(&mut self) -> u8 {
        let n = self.packet_samples;
        self.gap += 1;
        if self.history_len < n as usize || self.gap > 2 * n {
            return self.law.idle_code();
        }
        let i = (self.history_pos + (self.gap - 1) as usize % n as usize) % n as usize;
        let sample = i32::from(g711::decode(self.law, self.history[i]));
        let gain = 2 * n - self.gap; // falls linearly to 0 at 2 packet-times
        g711::encode(self.law, (sample * gain as i32 / (2 * n) as i32) as i16)
    }

    /// Drop or repeat one octet when the smoothed depth strays 10 ms from the target.
    fn steer(&mut self) {
        let depth = self.newest_end.wrapping_sub(self.read_ts);
        let depth = if (depth as i32) < 0 {
            0
        } else {
            depth.min(RING as u32)
        };
        // Exponential average over about 8 steps (8 × 20 ms).
        self.depth_x16 = self.depth_x16 - (self.depth_x16 >> 3) + 2 * depth;
        let avg = self.depth_x16 / 16;
        if avg > self.target + 80 {
            // Skip the next octet.
            let pos = (self.read_ts & MASK) as usize;
            self.filled[pos / 64] &= !(1 << (pos % 64));
            self.read_ts = self.read_ts.wrapping_add(1);
            self.depth_x16 = self.depth_x16.saturating_sub(16);
            self.stats.adjusted += 1;
        } else if avg + 80 < self.target {
            // Step back one: the octet just played is played again.
            self.read_ts = self.read_ts.wrapping_sub(1);
            let pos = (self.read_ts & MASK) as usize;
            self.ring[pos] = self.last;
            self.filled[pos / 64] |= 1 << (pos % 64);
            self.depth_x16 += 16;
            self.stats.adjusted += 1;
        }
    }
}

/// `n` low bits set, for 1 <= n <= 64.
fn low_bits(n: usize) -> u64 {
    u64::MAX >> (64 - n)
}

/// Mark octets `pos..pos + n` of the ring as played (`pos + n <= RING`).
fn clear_bits(filled: &mut [u64], mut pos: usize, mut n: usize) {
    while n > 0 {
        let (word, bit) = (pos / 64, pos % 64);
        let k = n.min(64 - bit);
        filled[word] &= !(low_bits(k) << bit);
        pos += k;
        n -= k;
    }
}

/// Mark octets `pos..pos + n` of the ring as real audio (`pos + n <= RING`).
fn set_bits(filled: &mut [u64], mut pos: usize, mut n: usize) {
    while n > 0 {
        let (word, bit) = (pos / 64, pos % 64);
        let k = n.min(64 - bit);
        filled[word] |= low_bits(k) << bit;
        pos += k;
        n -= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MU: Law = Law::MuLaw;

    fn payload(seq: u8) -> Vec<u8> {
        vec![seq; 160]
    }

    #[test]
    fn idle_before_any_packet_gives_the_silence_code() {
        let mut p = Playout::new(Law::ALaw, 20, 200);
        let mut out = [0u8; 80];
        p.read(&mut out);
        assert!(out.iter().all(|&o| o == 0xD5));
    }

    #[test]
    fn first_packet_plays_after_the_target_delay_in_order() {
        let mut p = Playout::new(MU, 20, 200);
        p.write(1000, &payload(0x11));
        p.write(1160, &payload(0x22));
        let mut out = vec![0u8; 320 + 320];
        p.read(&mut out);
        assert!(
            out[..320].iter().all(|&o| o == 0xFF),
            "target delay of 40 ms in silence"
        );
        assert!(out[320..480].iter().all(|&o| o == 0x11));
        assert!(out[480..640].iter().all(|&o| o == 0x22));
    }

    #[test]
    fn lost_packet_is_concealed_then_audio_resumes() {
        let mut p = Playout::new(MU, 20, 200);
        let mut out = vec![0u8; 320 + 6 * 160];
        for k in 0..6u32 {
            if k != 3 {
                p.write(k * 160, &payload(0x90 + k as u8));
            }
            let at = k as usize * 160;
            p.read(&mut out[at..at + 160]);
        }
        p.read(&mut out[960..]);
        let gap = &out[320 + 3 * 160..320 + 4 * 160];
        assert!(gap.iter().all(|&o| o != 0xFF), "concealed, not silence");
        assert!(out[320 + 4 * 160..320 + 5 * 160].iter().all(|&o| o == 0x94));
        assert_eq!(p.stats().concealed, 160);
    }

    #[test]
    fn late_packet_is_counted_and_dropped() {
        let mut p = Playout::new(MU, 20, 200);
        p.write(0, &payload(1));
        let mut out = vec![0u8; 800];
        p.read(&mut out);
        p.write(0, &payload(2));
        assert_eq!(p.stats().late, 1);
    }

    #[test]
    fn deep_buffer_drifts_back_to_target() {
        let mut p = Playout::new(MU, 20, 400);
        // Sender runs 0.5 % fast (100 times a real clock's drift) for 20 s.
        let mut ts = 0u32;
        let mut out = vec![0u8; 160];
        for i in 0..1000u32 {
            p.write(ts, &payload(0x80));
            ts = ts.wrapping_add(160);
            if i % 200 == 0 {
                p.write(ts, &payload(0x80));
                ts = ts.wrapping_add(160);
            }
            p.read(&mut out);
        }
        let depth = p.newest_end.wrapping_sub(p.read_ts);
        assert!(
            depth <= p.target() + 240,
            "depth {depth} target {}",
            p.target()
        );
        assert!(p.stats().adjusted > 0);
    }

    #[test]
    fn jump_far_ahead_restarts_playout_at_the_new_timestamp() {
        let mut p = Playout::new(MU, 20, 200);
        p.write(0, &payload(1));
        p.write(100_000, &payload(2));
        assert_eq!(p.stats().resets, 1);
        let mut out = vec![0u8; 480];
        p.read(&mut out);
        assert!(out[320..].iter().all(|&o| o == 2));
    }
}

/// The run-at-a-time [`Playout::read`] and [`Playout::write`] against the octet-at-a-time
/// definition they replace: the same octets out and the same counters, whatever the
/// arrival pattern (loss, reordering, duplicates, late and far-ahead packets) and however
/// the line's reads are cut.
#[cfg(test)]
mod run_equivalence {
    use proptest::prelude::*;

    use super::*;

    /// One octet: the real one if it arrived, else what a gap plays.
    fn next_octet(p: &mut Playout) -> u8 {
        let pos = (p.read_ts & MASK) as usize;
        let bit = 1u64 << (pos % 64);
        if p.filled[pos / 64] & bit == 0 {
            return p.missing_octet();
        }
        p.filled[pos / 64] &= !bit;
        let octet = p.ring[pos];
        p.read_ts = p.read_ts.wrapping_add(1);
        p.gap = 0;
        p.remember(&[octet]);
        p.last = octet;
        octet
    }

    /// The definition: one octet at a time, steering every 160.
    fn read_octets(p: &mut Playout, out: &mut [u8]) {
        if !p.playing {
            out.fill(p.law.idle_code());
            return;
        }
        for o in out.iter_mut() {
            *o = next_octet(p);
            p.since_adjust += 1;
            if p.since_adjust >= 160 {
                p.since_adjust = 0;
                p.steer();
            }
        }
    }

    /// The same admission, then one octet at a time.
    fn write_octets(p: &mut Playout, ts: u32, payload: &[u8]) {
        let len = payload.len().min(RING / 2) as u32;
        if p.admit(ts, len).is_none() {
            return;
        }
        for (i, &octet) in payload[..len as usize].iter().enumerate() {
            let t = ts.wrapping_add(i as u32);
            if (t.wrapping_sub(p.read_ts) as i32) < 0 {
                continue;
            }
            let pos = (t & MASK) as usize;
            p.ring[pos] = octet;
            p.filled[pos / 64] |= 1 << (pos % 64);
        }
        p.note_end(ts.wrapping_add(len));
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Packet `n` of the sender's sequence (timestamps 160 apart), plus a jump.
        Packet {
            n: u32,
            jump: u32,
            len: usize,
        },
        Read(usize),
        Jitter(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u32..40, prop_oneof![9 => Just(0u32), 1 => 0u32..20_000], 1usize..=240)
                .prop_map(|(n, jump, len)| Op::Packet { n, jump, len }),
            4 => (1usize..=400).prop_map(Op::Read),
            1 => (0u32..600).prop_map(Op::Jitter),
        ]
    }

    proptest! {
        #[test]
        fn runs_play_what_octets_play(
            start in any::<u32>(),
            ptime in prop::sample::select(vec![10u8, 20, 30]),
            ops in prop::collection::vec(op(), 1..120),
        ) {
            let mut runs = Playout::new(Law::MuLaw, ptime, 200);
            let mut octets = runs.clone();
            for (i, op) in ops.iter().enumerate() {
                match *op {
                    Op::Packet { n, jump, len } => {
                        let ts = start.wrapping_add(n * 160).wrapping_add(jump);
                        // Distinct audio per packet and octet, never the idle code.
                        let payload: Vec<u8> =
                            (0..len).map(|k| (i * 7 + k) as u8 & 0x7F).collect();
                        runs.write(ts, &payload);
                        write_octets(&mut octets, ts, &payload);
                    }
                    Op::Read(n) => {
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        runs.read(&mut a);
                        read_octets(&mut octets, &mut b);
                        prop_assert_eq!(a, b, "op {}", i);
                    }
                    Op::Jitter(j) => {
                        runs.set_jitter(j);
                        octets.set_jitter(j);
                    }
                }
                prop_assert_eq!(runs.stats(), octets.stats());
            }
        }
    }
}
