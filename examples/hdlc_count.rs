//! Runs the HDLC bench corpus through the decoder or encoder a fixed number of times, for
//! instruction counts under callgrind: `hdlc_count decode|encode [ROUNDS]`.

use dialgate::line::hdlc::{Decoder, Encoder, MAX_FRAME, MAX_QUEUED, MIN_FRAME};
use std::hint::black_box;

fn corpus(bytes: usize) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(0x48444C43);
    let mut frames = Vec::new();
    let mut total = 0;
    while total < bytes {
        let len = rng.usize(MIN_FRAME..=MAX_FRAME);
        frames.push((0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>());
        total += len;
    }
    frames
}

fn encode(encoder: &mut Encoder, frames: &[Vec<u8>], out: &mut Vec<u8>) -> usize {
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

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let frames = corpus(1 << 20);
    let mut line = Vec::new();
    let mut encoder = Encoder::new();
    let len = encode(&mut encoder, &frames, &mut line);
    line.truncate(len + 1);
    line.resize(len + 1, 0);
    encoder.fill(&mut line[len..]);
    let mut out = Vec::with_capacity(line.len());
    let mut encoder = Encoder::new();
    for round in 0..rounds {
        match mode.as_str() {
            "decode" => {
                let mut decoder = Decoder::new();
                let mut octets = 0;
                decoder.decode(black_box(&line), |f| octets += f.len());
                assert_eq!(decoder.counters().good as usize, frames.len());
                black_box(octets);
            }
            "encode" => {
                let n = encode(&mut encoder, black_box(&frames), &mut out);
                if round == 0 {
                    assert_eq!(&out[..n], &line[..n]);
                }
                black_box(n);
            }
            _ => {}
        }
    }
    println!("{} line bytes, {} rounds", line.len(), rounds);
}
