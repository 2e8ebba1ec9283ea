//! Runs the HDLC bench corpus through the decoder or encoder a fixed number of times, for
//! instruction counts under callgrind: `hdlc_count decode|encode [ROUNDS]`. The corpus is
//! the bench's (`benches/common/hdlc_corpus.rs`). Per line byte: the difference between
//! two round counts' totals over the difference in line bytes processed.

use dialgate::line::hdlc::{Decoder, Encoder};
use std::hint::black_box;

#[path = "../benches/common/hdlc_corpus.rs"]
mod hdlc_corpus;
use hdlc_corpus::{corpus, encode, line};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let frames = corpus(1 << 20);
    let line = line(&frames);
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
