//! Framer round trips and realignment on the public `line::t1` / `line::e1` API:
//! transmit -> (bit offset, slips, bit errors) -> receive, against the contract
//! (`spec/line-format.md` sections 2 and 3).

use dialgate::line::alarm::Indication;
use dialgate::line::{T1Framing, e1, t1};

/// A bit vector helper: the tests cut and splice streams at bit granularity.
fn to_bits(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect()
}

fn to_bytes(bits: &[u8]) -> Vec<u8> {
    bits.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0, |a, (i, &b)| a | (b << (7 - i)))
        })
        .collect()
}

/// Timeslot contents that identify their frame: the first four payload octets are the
/// frame index, the rest a pseudo-random function of it.
fn payload<const N: usize>(index: u32, skip_ts0: bool) -> [u8; N] {
    let mut ts = [0u8; N];
    let start = usize::from(skip_ts0);
    ts[start..start + 4].copy_from_slice(&index.to_be_bytes());
    let mut x = index.wrapping_mul(2_654_435_761) | 1;
    for t in ts.iter_mut().skip(start + 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *t = x as u8;
    }
    ts
}

fn index_of(ts: &[u8], skip_ts0: bool) -> u32 {
    let s = usize::from(skip_ts0);
    u32::from_be_bytes([ts[s], ts[s + 1], ts[s + 2], ts[s + 3]])
}

fn t1_stream(format: T1Framing, frames: u32) -> Vec<u8> {
    let mut tx = t1::Transmitter::new(format);
    let mut out = Vec::new();
    for f in 0..frames {
        tx.push_frame(&payload::<24>(f, false), &mut out);
    }
    out
}

fn e1_stream(crc4: bool, frames: u32) -> Vec<u8> {
    let mut tx = e1::Transmitter::new(crc4);
    let mut out = Vec::new();
    for f in 0..frames {
        tx.push_frame(&payload::<32>(f, true), &mut out);
    }
    out
}

/// Random junk bits in front of a stream: it starts `offset` bits into nowhere.
fn with_offset(bytes: &[u8], offset: usize, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut bits: Vec<u8> = (0..offset).map(|_| rng.u8(0..2)).collect();
    bits.extend(to_bits(bytes));
    to_bytes(&bits)
}

fn feed_in_chunks(bytes: &[u8], rng: &mut fastrand::Rng, mut feed: impl FnMut(&[u8])) {
    let mut i = 0;
    while i < bytes.len() {
        let n = rng.usize(1..700).min(bytes.len() - i);
        feed(&bytes[i..i + n]);
        i += n;
    }
}

/// Frames delivered under a false lock on the junk in front of the stream (possible on
/// E1: the G.706 search has no CRC behind it) are garbage; drop them, but only a few.
fn skip_false_lock<T>(frames: &[T], ok: impl Fn(&T) -> bool) -> &[T] {
    let first_good = frames.iter().position(ok).unwrap_or(frames.len());
    assert!(
        first_good <= 8,
        "{first_good} frames before the true alignment"
    );
    &frames[first_good..]
}

/// Every delivered frame must be the next transmitted one, exactly.
fn assert_consecutive_t1(frames: &[t1::Frame], per_sf: u32) {
    assert!(!frames.is_empty());
    let first = index_of(&frames[0].timeslots, false);
    for (k, f) in frames.iter().enumerate() {
        let idx = first + k as u32;
        assert_eq!(f.timeslots, payload::<24>(idx, false), "frame {idx}");
        assert_eq!(
            u32::from(f.number),
            idx % per_sf + 1,
            "frame number of {idx}"
        );
    }
}

fn assert_consecutive_e1(frames: &[e1::Frame]) {
    let frames = skip_false_lock(frames, |f| {
        f.timeslots[1..] == payload::<32>(index_of(&f.timeslots, true), true)[1..]
    });
    assert!(!frames.is_empty());
    let first = index_of(&frames[0].timeslots, true);
    for (k, f) in frames.iter().enumerate() {
        let idx = first + k as u32;
        assert_eq!(
            f.timeslots[1..],
            payload::<32>(idx, true)[1..],
            "frame {idx}"
        );
    }
}

#[test]
fn t1_esf_round_trip_at_every_bit_offset() {
    let stream = t1_stream(T1Framing::Esf, 24 * 8);
    let mut rng = fastrand::Rng::with_seed(11);
    for offset in 0..193 {
        let bytes = with_offset(&stream, offset, &mut rng);
        let mut rx = t1::Receiver::new(T1Framing::Esf);
        let mut frames = Vec::new();
        feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
        assert!(rx.is_aligned(), "offset {offset}");
        assert!(
            frames.len() >= 24 * 3,
            "offset {offset}: {} frames",
            frames.len()
        );
        assert_consecutive_t1(&frames, 24);
        assert_eq!(rx.counters().crc_errors, 0, "offset {offset}");
        assert!(rx.counters().crc_checked >= 3);
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }
}

#[test]
fn t1_sf_round_trip_at_every_bit_offset() {
    let stream = t1_stream(T1Framing::Sf, 12 * 10);
    let mut rng = fastrand::Rng::with_seed(12);
    for offset in 0..193 {
        let bytes = with_offset(&stream, offset, &mut rng);
        let mut rx = t1::Receiver::new(T1Framing::Sf);
        let mut frames = Vec::new();
        feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
        assert!(rx.is_aligned(), "offset {offset}");
        assert!(frames.len() >= 12 * 6, "offset {offset}");
        assert_consecutive_t1(&frames, 12);
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }
}

#[test]
fn e1_crc4_round_trip_at_every_bit_offset() {
    let stream = e1_stream(true, 16 * 6);
    let mut rng = fastrand::Rng::with_seed(13);
    for offset in 0..256 {
        let bytes = with_offset(&stream, offset, &mut rng);
        let mut rx = e1::Receiver::new(true);
        let mut frames = Vec::new();
        feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
        assert!(rx.is_multiframe_aligned(), "offset {offset}");
        assert!(frames.len() >= 16 * 5, "offset {offset}");
        assert_consecutive_e1(&frames);
        assert_eq!(rx.counters().crc_errors, 0, "offset {offset}");
        assert!(rx.counters().crc_checked >= 4);
    }
}

#[test]
fn e1_no_crc4_round_trip_at_every_bit_offset() {
    let stream = e1_stream(false, 40);
    let mut rng = fastrand::Rng::with_seed(14);
    for offset in 0..256 {
        let bytes = with_offset(&stream, offset, &mut rng);
        let mut rx = e1::Receiver::new(false);
        let mut frames = Vec::new();
        feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
        assert!(rx.is_aligned(), "offset {offset}");
        assert!(frames.len() >= 30, "offset {offset}");
        assert_consecutive_e1(&frames);
    }
}

/// Splice `delta` bits at stream bit `at`: positive inserts random bits, negative drops.
fn slip(bytes: &[u8], at: usize, delta: i64, rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut bits = to_bits(bytes);
    if delta > 0 {
        let ins: Vec<u8> = (0..delta).map(|_| rng.u8(0..2)).collect();
        bits.splice(at..at, ins);
    } else {
        bits.drain(at..at + (-delta) as usize);
    }
    to_bytes(&bits)
}

/// Line bits from the slip to the realignment, from the receiver's indications.
fn realign_delay(inds: &[Indication], slip_at: u64) -> Option<u64> {
    let lost = inds
        .iter()
        .position(|i| matches!(i, Indication::Alignment { aligned: false, .. }))?;
    inds[lost..].iter().find_map(|i| match i {
        Indication::Alignment {
            aligned: true,
            at_bit,
        } => Some(at_bit - slip_at),
        _ => None,
    })
}

const ESF_BITS: u64 = 24 * 193;
const SF_BITS: u64 = 12 * 193;

/// Returns the delay from the slip to the realignment and how far the realignment lies
/// past the end of the second whole superframe after the slip (<= 0: within it).
fn t1_slip_case(format: T1Framing, delta: i64, seed: u64) -> (u64, i64, t1::Counters) {
    let per_sf = if format == T1Framing::Esf { 24 } else { 12 };
    let stream = t1_stream(format, per_sf * 40);
    let mut rng = fastrand::Rng::with_seed(seed);
    // Somewhere in the middle of superframe 12, not on a frame boundary.
    let at = (12 * per_sf as usize) * 193 + rng.usize(0..per_sf as usize * 193);
    let bytes = slip(&stream, at, delta, &mut rng);
    let mut rx = t1::Receiver::new(format);
    let mut frames = Vec::new();
    feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
    let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
    let delay =
        realign_delay(&inds, at as u64).unwrap_or_else(|| panic!("no realignment: {inds:?}"));
    assert!(rx.is_aligned());
    // After the realignment the frames are exact again: check the last 48 delivered.
    let tail = &frames[frames.len() - 48..];
    assert_consecutive_t1(tail, per_sf);
    let sf_bits = u64::from(per_sf) * 193;
    let boundary = (at as u64 / sf_bits + 1) * sf_bits;
    let past = (at as u64 + delay) as i64 - (boundary + 2 * sf_bits) as i64 - delta;
    (delay, past, *rx.counters())
}

#[test]
fn t1_esf_small_slip_realigns_within_two_superframes_after_the_slipped_one() {
    for (seed, delta) in [1i64, -1, 2, -3, 5, -8, 8, 7].into_iter().enumerate() {
        let (delay, past, c) = t1_slip_case(T1Framing::Esf, delta, seed as u64);
        // The superframe hit by the slip is lost; the two whole ones after it suffice
        // (12 FPS bits and a CRC-6, accepted near the old offset).
        assert!(past <= 0, "delta {delta}: {past} bits late");
        assert!(delay <= 3 * ESF_BITS, "delta {delta}: {delay} bits");
        assert_eq!(c.slips, 1, "delta {delta}");
        assert_eq!(c.oof, 1, "delta {delta}");
    }
}

#[test]
fn t1_esf_large_slip_realigns_within_five_superframes() {
    for (seed, delta) in [50i64, -77, 120, -150].into_iter().enumerate() {
        let (delay, _, c) = t1_slip_case(T1Framing::Esf, delta, 100 + seed as u64);
        // A far jump needs the full 24-bit pattern: four clean superframes.
        assert!(delay <= 5 * ESF_BITS, "delta {delta}: {delay} bits");
        assert_eq!(c.slips, 1, "delta {delta}");
    }
}

#[test]
fn t1_sf_small_slip_realigns_within_two_superframes_after_the_slipped_one() {
    for (seed, delta) in [1i64, -1, 4, -6, 8].into_iter().enumerate() {
        let (delay, past, c) = t1_slip_case(T1Framing::Sf, delta, 200 + seed as u64);
        assert!(past <= 0, "delta {delta}: {past} bits late");
        assert!(delay <= 3 * SF_BITS, "delta {delta}: {delay} bits");
        assert_eq!(c.slips, 1, "delta {delta}");
    }
}

#[test]
fn e1_slip_realigns_within_two_multiframes() {
    for (seed, delta) in [1i64, -1, 3, -7, 8, 100, -129].into_iter().enumerate() {
        let stream = e1_stream(true, 16 * 20);
        let mut rng = fastrand::Rng::with_seed(300 + seed as u64);
        let at = 16 * 6 * 256 + rng.usize(0..16 * 256);
        let bytes = slip(&stream, at, delta, &mut rng);
        let mut rx = e1::Receiver::new(true);
        let mut frames = Vec::new();
        feed_in_chunks(&bytes, &mut rng, |c| rx.handle_rx(c, |f| frames.push(*f)));
        let inds: Vec<_> = std::iter::from_fn(|| rx.poll_indication()).collect();
        let delay = realign_delay(&inds, at as u64).expect("realigned");
        assert!(delay <= 2 * 16 * 256, "delta {delta}: {delay} bits");
        assert_eq!(rx.counters().slips, 1, "delta {delta}");
        assert!(rx.is_multiframe_aligned(), "delta {delta}");
        assert_consecutive_e1(&frames[frames.len() - 32..]);
    }
}

#[test]
fn t1_esf_one_payload_bit_flipped_counts_exactly_one_crc_error() {
    let stream = t1_stream(T1Framing::Esf, 24 * 12);
    for k in 0..20 {
        let mut bits = to_bits(&stream);
        // A payload bit (not an F bit) of superframe 8.
        let frame = 8 * 24 + k;
        let bit = frame * 193 + 1 + (k * 37) % 192;
        bits[bit] ^= 1;
        let mut rx = t1::Receiver::new(T1Framing::Esf);
        rx.handle_rx(&to_bytes(&bits), |_| {});
        assert_eq!(rx.counters().crc_errors, 1, "bit {bit}");
        assert_eq!(rx.counters().framing_bit_errors, 0);
    }
}

#[test]
fn e1_one_payload_bit_flipped_counts_one_crc_error_and_comes_back_as_e_bit() {
    let stream = e1_stream(true, 16 * 12);
    let mut bits = to_bits(&stream);
    bits[16 * 7 * 256 + 3 * 256 + 77] ^= 1;
    let mut rx = e1::Receiver::new(true);
    rx.handle_rx(&to_bytes(&bits), |_| {});
    assert_eq!(rx.counters().crc_errors, 1);

    // The far end's transmitter, told of the errored block, clears one E bit.
    let mut tx = e1::Transmitter::new(true);
    let mut back = Vec::new();
    for f in 0..16 * 8u32 {
        if f == 16 * 5 {
            tx.report_errored_blocks(rx.counters().crc_errors);
        }
        tx.push_frame(&payload::<32>(f, true), &mut back);
    }
    let mut near = e1::Receiver::new(true);
    near.handle_rx(&back, |_| {});
    assert_eq!(near.counters().far_end_block_errors, 1);
    assert_eq!(near.counters().crc_errors, 0);
}

mod never_panics {
    use dialgate::line::span::Span;
    use dialgate::line::{Framing, SpanConfig, T1Framing};
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    #[expect(clippy::disallowed_methods, reason = "the virtual clock's epoch")]
    fn epoch() -> Instant {
        Instant::now()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes, in any chunks, on any framing: no panic, and the line clock
        /// still sends exactly one frame per frame-length received.
        #[test]
        fn span_any_bytes_any_chunks(
            framing in prop_oneof![
                Just(Framing::T1(T1Framing::Esf)),
                Just(Framing::T1(T1Framing::Sf)),
                Just(Framing::E1 { crc4: true }),
                Just(Framing::E1 { crc4: false }),
            ],
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..700), 0..20),
        ) {
            let t0 = epoch();
            let mut span = Span::new(SpanConfig::new(framing), t0);
            let mut bits = 0u64;
            for (i, c) in chunks.iter().enumerate() {
                let now = t0 + Duration::from_millis(i as u64);
                span.handle_rx(now, c);
                span.handle_timeout(now);
                bits += 8 * c.len() as u64;
                while span.poll_event().is_some() {}
                while span.poll_transmit().is_some() {}
            }
            prop_assert_eq!(span.counters().frames_tx, bits / framing.frame_bits() as u64);
        }
    }
}
