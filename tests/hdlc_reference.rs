//! The table-driven HDLC codec against a bit-serial reference written from
//! `t1-e1-hdlc-notes.md` section 6 and the contract (`spec/line-format.md` section 4).
//!
//! The reference works one bit at a time on `Vec<bool>` with no tables, no word tricks and
//! unbounded storage, so it is slow and obviously right; the codec must agree with it on
//! every stream, cut into any chunks, at any bit offset.

use dialgate::line::hdlc::{Counters, Decoder, Encoder, MAX_FRAME, MIN_FRAME, fcs};
use proptest::prelude::*;

const FLAG: [bool; 8] = [false, true, true, true, true, true, true, false];

/// CRC-16/X.25 bit by bit (reflected polynomial 0x8408), independent of the `crc` crate.
fn reference_fcs(octets: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &octet in octets {
        for k in 0..8 {
            let bit = (u16::from(octet) >> k) & 1;
            let feedback = (crc ^ bit) & 1;
            crc >>= 1;
            if feedback == 1 {
                crc ^= 0x8408;
            }
        }
    }
    crc ^ 0xFFFF
}

/// A bit-serial HDLC transmitter: flags, octets LSB first, a 0 after every five 1s.
#[derive(Default)]
struct ReferenceLine {
    bits: Vec<bool>,
}

impl ReferenceLine {
    fn flag(&mut self) -> &mut Self {
        self.bits.extend(FLAG);
        self
    }

    /// Frame content bits, stuffed; the run starts at 0 because a flag ends with a 0.
    fn stuffed_bits(&mut self, content: &[bool]) -> &mut Self {
        let mut ones = 0;
        for &bit in content {
            self.bits.push(bit);
            ones = if bit { ones + 1 } else { 0 };
            if ones == 5 {
                self.bits.push(false);
                ones = 0;
            }
        }
        self
    }

    fn stuffed_octets(&mut self, octets: &[u8]) -> &mut Self {
        self.stuffed_bits(&octet_bits(octets))
    }

    /// A frame with its FCS and a closing flag (the opening flag must already be there).
    fn frame(&mut self, frame: &[u8]) -> &mut Self {
        let mut octets = frame.to_vec();
        octets.extend(reference_fcs(frame).to_le_bytes());
        self.stuffed_octets(&octets).flag()
    }

    fn raw(&mut self, bits: impl IntoIterator<Item = bool>) -> &mut Self {
        self.bits.extend(bits);
        self
    }

    /// Line bytes, MSB first; a partial last byte is completed with the start of a flag,
    /// which decides nothing.
    fn bytes(&self) -> Vec<u8> {
        let mut bits = self.bits.clone();
        let mut k = 0;
        while !bits.len().is_multiple_of(8) {
            bits.push(FLAG[k]);
            k += 1;
        }
        pack(&bits)
    }
}

fn octet_bits(octets: &[u8]) -> Vec<bool> {
    octets
        .iter()
        .flat_map(|&o| (0..8).map(move |k| (o >> k) & 1 == 1))
        .collect()
}

fn pack(bits: &[bool]) -> Vec<u8> {
    bits.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << (7 - i)))
        })
        .collect()
}

fn unpack(bytes: &[u8]) -> Vec<bool> {
    bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |k| (b >> k) & 1 == 1))
        .collect()
}

/// The notes' bit-at-a-time receiver with unbounded storage and the contract's verdicts.
struct ReferenceDecoder {
    ones: u32,
    hunting: bool,
    stored: Vec<bool>,
    frames: Vec<Vec<u8>>,
    counters: Counters,
}

impl ReferenceDecoder {
    fn new() -> Self {
        ReferenceDecoder {
            ones: 0,
            hunting: true,
            stored: Vec::new(),
            frames: Vec::new(),
            counters: Counters::default(),
        }
    }

    fn bit(&mut self, bit: bool) {
        if bit {
            self.ones += 1;
            if self.ones == 7 {
                if !self.hunting {
                    self.counters.aborted += 1;
                }
                self.hunting = true;
            } else if self.ones < 6 {
                self.stored.push(true);
            }
        } else {
            if self.ones == 6 {
                self.flag();
            } else if self.ones != 5 {
                self.stored.push(false);
            }
            self.ones = 0;
        }
    }

    fn flag(&mut self) {
        let stored = std::mem::take(&mut self.stored);
        let hunting = std::mem::replace(&mut self.hunting, false);
        if hunting || stored.len() <= 6 {
            return;
        }
        let bits = &stored[..stored.len() - 6];
        let c = &mut self.counters;
        if bits.len() > (MAX_FRAME + 2) * 8 {
            c.too_long += 1;
        } else if !bits.len().is_multiple_of(8) {
            c.non_octet += 1;
        } else if bits.len() / 8 < MIN_FRAME + 2 {
            c.too_short += 1;
        } else {
            let octets: Vec<u8> = bits
                .chunks(8)
                .map(|o| {
                    o.iter()
                        .enumerate()
                        .fold(0u8, |b, (i, &x)| b | (u8::from(x) << i))
                })
                .collect();
            let (frame, sent) = octets.split_at(octets.len() - 2);
            if reference_fcs(frame).to_le_bytes() == sent {
                c.good += 1;
                self.frames.push(frame.to_vec());
            } else {
                c.bad_fcs += 1;
            }
        }
    }
}

fn reference_decode(bytes: &[u8]) -> (Vec<Vec<u8>>, Counters) {
    let mut reference = ReferenceDecoder::new();
    for bit in unpack(bytes) {
        reference.bit(bit);
    }
    (reference.frames, reference.counters)
}

/// The codec's decoder over `bytes` cut at `cuts` (positions, any order, may repeat).
fn decode_in_chunks(bytes: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, Counters) {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    for pair in cuts.windows(2) {
        decoder.decode(&bytes[pair[0]..pair[1]], |f| frames.push(f.to_vec()));
    }
    (frames, *decoder.counters())
}

/// The encoder's line bytes for `frames`, with `idle` bytes of flags after the last one.
fn encode(frames: &[Vec<u8>], idle: usize) -> Vec<u8> {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    for batch in frames.chunks(16) {
        for frame in batch {
            encoder.push_frame(frame);
        }
        let at = out.len();
        out.resize(at + encoder.queued_bytes(), 0);
        encoder.fill(&mut out[at..]);
    }
    let at = out.len();
    out.resize(at + idle, 0);
    encoder.fill(&mut out[at..]);
    out
}

fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), MIN_FRAME..=MAX_FRAME),
        1 => (MIN_FRAME..=MAX_FRAME).prop_map(|n| vec![0xFF; n]),
        1 => (MIN_FRAME..=MAX_FRAME).prop_map(|n| vec![0x00; n]),
        // Runs of 1s of every length around the stuffing threshold.
        1 => prop::collection::vec(prop::sample::select(vec![0x1F, 0x3E, 0x7C, 0xF8, 0xFE, 0x7F]), MIN_FRAME..=32),
    ]
}

/// A stream segment for the differential test: good frames, damaged ones, junk.
#[derive(Clone, Debug)]
enum Segment {
    Frame(Vec<u8>),
    FlippedFrame(Vec<u8>, usize),
    Octets(Vec<u8>),
    Bits(Vec<bool>),
    Ones(usize),
    Junk(Vec<u8>),
}

fn segment_strategy() -> impl Strategy<Value = Segment> {
    prop_oneof![
        4 => frame_strategy().prop_map(Segment::Frame),
        2 => (frame_strategy(), any::<usize>()).prop_map(|(f, at)| Segment::FlippedFrame(f, at)),
        2 => prop::collection::vec(any::<u8>(), 0..=(MAX_FRAME + 8)).prop_map(Segment::Octets),
        1 => prop::collection::vec(any::<bool>(), 0..40).prop_map(Segment::Bits),
        1 => (5usize..12).prop_map(Segment::Ones),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Segment::Junk),
    ]
}

fn segments_to_bytes(segments: &[Segment], offset: usize) -> Vec<u8> {
    let mut line = ReferenceLine::default();
    line.raw(std::iter::repeat_n(true, offset)).flag();
    for segment in segments {
        match segment {
            Segment::Frame(f) => {
                line.frame(f);
            }
            Segment::FlippedFrame(f, at) => {
                let start = line.bits.len();
                line.frame(f);
                // Flip a bit inside the frame, never in its closing flag.
                let span = line.bits.len() - start - 8;
                line.bits[start + at % span] ^= true;
            }
            Segment::Octets(o) => {
                line.stuffed_octets(o).flag();
            }
            Segment::Bits(b) => {
                line.stuffed_bits(b).flag();
            }
            Segment::Ones(n) => {
                line.raw(std::iter::repeat_n(true, *n)).flag();
            }
            Segment::Junk(bytes) => {
                line.raw(unpack(bytes));
            }
        }
    }
    line.flag().bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn idle_encoder_frames_round_trip_at_every_offset_and_chunking(
        frames in prop::collection::vec(frame_strategy(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let line = unpack(&encode(&frames, 2));
        for offset in 0..8 {
            // Shift the whole encoder output by `offset` idle (all-ones) bits.
            let mut bits = vec![true; offset];
            bits.extend(&line);
            bits.truncate(bits.len() / 8 * 8);
            let (got, counters) = decode_in_chunks(&pack(&bits), &cuts);
            prop_assert_eq!(&got, &frames, "offset {}", offset);
            let expected = Counters { good: frames.len() as u64, ..Counters::default() };
            prop_assert_eq!(counters, expected, "offset {}", offset);
        }
    }

    #[test]
    fn idle_encoder_output_matches_reference_transmitter(
        frames in prop::collection::vec(frame_strategy(), 1..8),
    ) {
        let mut line = ReferenceLine::default();
        line.flag();
        for f in &frames {
            line.frame(f);
        }
        // Idle flags continue at the closing flag's phase.
        for _ in 0..3 {
            line.flag();
        }
        let expected = pack(&line.bits[..line.bits.len() / 8 * 8]);
        let got = encode(&frames, 2);
        prop_assert_eq!(&got[..], &expected[..got.len()]);
    }

    #[test]
    fn any_decoder_agrees_with_reference_on_mixed_streams(
        segments in prop::collection::vec(segment_strategy(), 0..16),
        offset in 0usize..8,
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let bytes = segments_to_bytes(&segments, offset);
        prop_assert_eq!(decode_in_chunks(&bytes, &cuts), reference_decode(&bytes));
    }

    #[test]
    fn any_decoder_agrees_with_reference_on_random_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(decode_in_chunks(&bytes, &cuts), reference_decode(&bytes));
    }

    #[test]
    fn garbage_decoder_next_flag_recovers(
        garbage in prop::collection::vec(any::<u8>(), 0..1024),
        frame in frame_strategy(),
    ) {
        let mut decoder = Decoder::new();
        let mut frames = Vec::new();
        decoder.decode(&garbage, |f| frames.push(f.to_vec()));
        let before = frames.len();
        let mut line = ReferenceLine::default();
        line.flag().flag().frame(&frame);
        decoder.decode(&line.bytes(), |f| frames.push(f.to_vec()));
        prop_assert_eq!(&frames[before..], &[frame][..]);
    }

    #[test]
    fn fcs_agrees_with_bitwise_reference(octets in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(fcs(&octets), reference_fcs(&octets));
    }
}

/// One opening flag, then `build`, then the decoder's counters.
fn counters_after(build: impl FnOnce(&mut ReferenceLine)) -> Counters {
    let mut line = ReferenceLine::default();
    line.flag();
    build(&mut line);
    decode_in_chunks(&line.bytes(), &[]).1
}

#[test]
fn open_decoder_frame_of_max_length_is_good() {
    let counters = counters_after(|l| {
        l.frame(&[0xA5; MAX_FRAME]);
    });
    assert_eq!(
        counters,
        Counters {
            good: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_frame_one_octet_too_long_is_counted_too_long() {
    let counters = counters_after(|l| {
        l.frame(&[0xA5; MAX_FRAME + 1]);
    });
    assert_eq!(
        counters,
        Counters {
            too_long: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_endless_frame_is_one_too_long_and_next_frame_is_good() {
    let counters = counters_after(|l| {
        l.stuffed_octets(&[0x5A; 10_000])
            .flag()
            .frame(&[0x00, 0x01, 0x7F]);
    });
    assert_eq!(
        counters,
        Counters {
            too_long: 1,
            good: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_frame_of_min_length_is_good_and_shorter_is_too_short() {
    let counters = counters_after(|l| {
        l.frame(&[0x00, 0x01, 0x73])
            .frame(&[0x00, 0x01])
            .frame(&[0x00]);
    });
    assert_eq!(
        counters,
        Counters {
            good: 1,
            too_short: 2,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_frame_with_stray_bits_is_non_octet() {
    let counters = counters_after(|l| {
        let mut bits = octet_bits(&[0x00, 0x01, 0x7F, 0x64, 0x54]);
        bits.extend([true, false, true]);
        l.stuffed_bits(&bits).flag();
    });
    assert_eq!(
        counters,
        Counters {
            non_octet: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_corrupted_fcs_is_bad_fcs() {
    let counters = counters_after(|l| {
        l.stuffed_octets(&[0x00, 0x01, 0x7F, 0x64, 0x55]).flag();
    });
    assert_eq!(
        counters,
        Counters {
            bad_fcs: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_aborted_frame_is_aborted_and_next_frame_is_good() {
    let counters = counters_after(|l| {
        l.stuffed_octets(&[0x00, 0x01, 0x00, 0x00, 0x08])
            .raw([true; 7])
            .flag()
            .frame(&[0x00, 0x01, 0x01, 0x02]);
    });
    assert_eq!(
        counters,
        Counters {
            aborted: 1,
            good: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn open_decoder_each_fault_once_counts_each_exactly_once() {
    let counters = counters_after(|l| {
        l.frame(&[0x00, 0x01, 0x7F]) // good
            .stuffed_octets(&[0x00, 0x01, 0x7F, 0x64, 0x55]) // bad FCS
            .flag()
            .stuffed_octets(&[0x00, 0x01])
            .raw([true; 9]) // abort, then hunting
            .flag()
            .frame(&[0x00, 0x01]) // too short
            .frame(&[0x11; MAX_FRAME + 5]) // too long
            .stuffed_bits(&[true, false, true, true, false, false, true, false, true]) // non-octet
            .flag()
            .frame(&[0x00, 0x01, 0x73]); // good
    });
    let expected = Counters {
        good: 2,
        bad_fcs: 1,
        aborted: 1,
        too_short: 1,
        too_long: 1,
        non_octet: 1,
    };
    assert_eq!(counters, expected);
}

#[test]
fn open_decoder_flags_sharing_a_zero_between_frames_deliver_both() {
    let mut line = ReferenceLine::default();
    line.flag().frame(&[0x00, 0x01, 0x7F]);
    // Replace the closing flag's trailing 0 with a flag that shares it: 0111111 0 111111 0.
    line.raw([true, true, true, true, true, true, false]);
    line.stuffed_octets(&{
        let mut o = vec![0x00, 0x01, 0x73];
        o.extend(reference_fcs(&[0x00, 0x01, 0x73]).to_le_bytes());
        o
    })
    .flag();
    let (frames, counters) = decode_in_chunks(&line.bytes(), &[]);
    assert_eq!(frames, [vec![0x00, 0x01, 0x7F], vec![0x00, 0x01, 0x73]]);
    assert_eq!(
        counters,
        Counters {
            good: 2,
            ..Counters::default()
        }
    );
}

#[test]
fn idle_encoder_d_timeslot_sequences_match_notes() {
    // Notes section 6: each frame alone from a fresh encoder, opening flag byte-aligned.
    let cases: [(&[u8], &[u8]); 3] = [
        (
            &[0x00, 0x01, 0x7F],
            &[0x7E, 0x00, 0x80, 0xFB, 0x13, 0x15, 0x3F, 0x3F, 0x3F],
        ),
        (
            &[0x00, 0x01, 0x73],
            &[0x7E, 0x00, 0x80, 0xCE, 0x10, 0x79, 0x7E, 0x7E],
        ),
        (
            &[0x00, 0x01, 0x01, 0x02],
            &[0x7E, 0x00, 0x80, 0x80, 0x40, 0x13, 0x39, 0x7E],
        ),
    ];
    for (frame, line) in cases {
        let mut encoder = Encoder::new();
        encoder.push_frame(frame);
        let mut out = vec![0; line.len()];
        encoder.fill(&mut out);
        assert_eq!(out, line, "frame {frame:02X?}");
        assert!(encoder.is_idle());
        let (frames, _) = decode_in_chunks(line, &[]);
        assert_eq!(frames, [frame.to_vec()]);
    }
}

#[test]
fn idle_encoder_fill_one_byte_at_a_time_equals_one_fill() {
    let frames = vec![vec![0xFF; 40], vec![0x00, 0x01, 0x7F], vec![0x7E; 17]];
    let whole = encode(&frames, 4);
    let mut encoder = Encoder::new();
    for f in &frames {
        encoder.push_frame(f);
    }
    let mut bytewise = vec![0; whole.len()];
    for b in bytewise.chunks_mut(1) {
        encoder.fill(b);
    }
    assert_eq!(bytewise, whole);
}
