//! The HDLC benchmark corpus, shared by `benches/hdlc.rs` and `examples/hdlc_count.rs`
//! (included with `#[path]`) so the wall-clock figures and the instruction counts measure
//! the same line.

use dialgate::line::hdlc::{Encoder, MAX_FRAME, MAX_QUEUED, MIN_FRAME};

/// Random frames totalling about `bytes` octets, from a fixed seed so runs compare.
pub(crate) fn corpus(bytes: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(0x48444C43);
    let mut frames = Vec::new();
    let mut total = 0;
    while total < bytes {
        let len = rng.usize(MIN_FRAME..=MAX_FRAME);
        let frame: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        total += len;
        frames.push(frame);
    }
    frames
}

/// Pushes `frames` through `encoder` in batches the queue accepts; returns the line bytes
/// written to the start of `out`.
pub(crate) fn encode(encoder: &mut Encoder, frames: &[Vec<u8>], out: &mut Vec<u8>) -> usize {
    let mut written = 0;
    for batch in frames.chunks(MAX_QUEUED) {
        for frame in batch {
            encoder.push_frame(frame);
        }
        let n = encoder.queued_bytes();
        if out.len() < written + n {
            out.resize(written + n, 0);
        }
        encoder.fill(&mut out[written..written + n]);
        written += n;
    }
    written
}

/// The line a fresh encoder sends for `frames`, with one idle byte after the last frame
/// to complete its closing flag: what the decoder benchmark reads.
pub(crate) fn line(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut line = Vec::new();
    let mut encoder = Encoder::new();
    let len = encode(&mut encoder, frames, &mut line);
    line.truncate(len + 1);
    line.resize(len + 1, 0);
    encoder.fill(&mut line[len..]);
    line
}
