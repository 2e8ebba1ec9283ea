//! The audio a simulated call puts on its B-channel and listens for, sans-IO.
//!
//! The DSP is the media layer's ([`crate::media::tone`], [`crate::media::detect`]);
//! this only schedules it against the line: what to send, in order, and what each
//! expectation has heard so far.
//!
//! ```text
//!   sends (tone ms / DTMF digits, in order) ─▶ g711::encode ─▶ Span::write_b_samples
//!   Span::read_b_samples ─▶ g711::decode ─▶ 20 ms blocks ─▶ tone levels (Goertzel)
//!                                        └▶ DtmfDetector ─▶ digits heard
//! ```
//!
//! Samples are written a little ahead of the line (20 ms of the frames already sent),
//! so the span's buffer never runs dry while a tone plays and never holds much more.

use std::collections::VecDeque;

use super::scenario::{Hear, Send};
use crate::line::Law;
use crate::line::span::Span;
use crate::media::detect::{DtmfDetector, tone_level_dbm0};
use crate::media::g711;
use crate::media::tone::{DigitSender, ToneGenerator, ToneSpec};

/// Samples per tone-level block: 20 ms.
const BLOCK: usize = 160;
/// Blocks in a row at the level that make a tone heard: 100 ms.
const TONE_BLOCKS: u32 = 5;
/// How far ahead of the transmitted frames samples are queued.
const AHEAD: u64 = 160;
/// DTMF digits are sent for this long with this gap, each component at this level.
const DTMF_ON_MS: u32 = 80;
const DTMF_OFF_MS: u32 = 80;
const DTMF_LEVEL_DBM0: f32 = -10.0;

enum Source {
    Tone { generator: ToneGenerator, left: u64 },
    Digits(DigitSender),
}

/// What one expectation has heard.
#[derive(Debug)]
enum Heard {
    Tone {
        freq_hz: f32,
        min_level_dbm0: f32,
        run: u32,
        best: f32,
        done: bool,
    },
    Dtmf {
        expected: String,
        got: String,
    },
}

/// A finding to report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

/// One call's B-channel audio.
pub(crate) struct Audio {
    channel: u8,
    law: Law,
    sends: VecDeque<Send>,
    source: Option<Source>,
    /// Frames sent on the span when the channel was opened, and samples written since.
    frames_at_open: u64,
    written: u64,
    heard: Vec<Heard>,
    detector: DtmfDetector,
    block: Vec<i16>,
    rx: Vec<u8>,
    pcm: Vec<i16>,
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audio")
            .field("channel", &self.channel)
            .field("sends", &self.sends)
            .field("heard", &self.heard)
            .finish_non_exhaustive()
    }
}

impl Audio {
    /// Open `channel` on the span for this script; `None` if it is not a B-channel.
    pub(crate) fn open(span: &mut Span, channel: u8, send: &[Send], hear: &[Hear]) -> Option<Self> {
        if !span.open_b_channel(channel) {
            return None;
        }
        let heard = hear
            .iter()
            .map(|h| match h {
                Hear::Tone {
                    freq_hz,
                    min_level_dbm0,
                } => Heard::Tone {
                    freq_hz: *freq_hz,
                    min_level_dbm0: *min_level_dbm0,
                    run: 0,
                    best: f32::NEG_INFINITY,
                    done: false,
                },
                Hear::Dtmf { digits } => Heard::Dtmf {
                    expected: digits.clone(),
                    got: String::new(),
                },
            })
            .collect();
        Some(Audio {
            channel,
            law: span.config().law,
            sends: send.iter().cloned().collect(),
            source: None,
            frames_at_open: span.counters().frames_tx,
            written: 0,
            heard,
            detector: DtmfDetector::new(),
            block: Vec::with_capacity(BLOCK),
            rx: vec![0; 1024],
            pcm: vec![0; 1024],
        })
    }

    /// Move audio both ways; findings (an expectation met) are appended to `out`.
    pub(crate) fn pump(&mut self, span: &mut Span, out: &mut Vec<Finding>) {
        self.transmit(span);
        loop {
            let n = span.read_b_samples(self.channel, &mut self.rx);
            if n == 0 {
                break;
            }
            g711::decode_into(self.law, &self.rx[..n], &mut self.pcm[..n]);
            let pcm = std::mem::take(&mut self.pcm);
            self.listen(&pcm[..n], out);
            self.pcm = pcm;
        }
    }

    /// Stop: close the channel and report every expectation not met.
    pub(crate) fn close(mut self, span: &mut Span) -> Vec<Finding> {
        span.close_b_channel(self.channel);
        let mut out = Vec::new();
        for h in &mut self.heard {
            match h {
                Heard::Tone {
                    freq_hz,
                    min_level_dbm0,
                    best,
                    done: false,
                    ..
                } => out.push(Finding {
                    ok: false,
                    text: format!(
                        "no {freq_hz} Hz tone at {min_level_dbm0} dBm0 or more heard on B{} (loudest {best:.1} dBm0)",
                        self.channel
                    ),
                }),
                Heard::Dtmf { expected, got } if !got.contains(expected.as_str()) => {
                    out.push(Finding {
                        ok: false,
                        text: format!(
                            "DTMF {expected:?} not heard on B{} (heard {got:?})",
                            self.channel
                        ),
                    });
                }
                _ => {}
            }
        }
        out
    }

    fn transmit(&mut self, span: &mut Span) {
        let sent = span.counters().frames_tx - self.frames_at_open;
        let target = sent + AHEAD;
        let mut pcm = [0i16; 160];
        let mut law = [0u8; 160];
        while self.written < target {
            let n = ((target - self.written) as usize).min(pcm.len());
            let chunk = &mut pcm[..n];
            self.fill(chunk);
            g711::encode_into(self.law, chunk, &mut law[..n]);
            span.write_b_samples(self.channel, &law[..n]);
            self.written += n as u64;
        }
    }

    /// The next samples of the current send, moving to the next one as each ends;
    /// silence once all are done.
    fn fill(&mut self, out: &mut [i16]) {
        let mut at = 0;
        while at < out.len() {
            if self.source.is_none() {
                self.source = match self.sends.pop_front() {
                    None => {
                        out[at..].fill(0);
                        return;
                    }
                    Some(Send::Tone {
                        freq_hz,
                        level_dbm0,
                        duration,
                    }) => Some(Source::Tone {
                        generator: ToneGenerator::new(ToneSpec::single(freq_hz, level_dbm0)),
                        left: (duration.as_micros() / 125) as u64,
                    }),
                    // The digits were checked when the scenario was parsed.
                    Some(Send::Dtmf { digits }) => {
                        DigitSender::new(&digits, DTMF_ON_MS, DTMF_OFF_MS, DTMF_LEVEL_DBM0)
                            .ok()
                            .map(Source::Digits)
                    }
                };
                continue;
            }
            let rest = &mut out[at..];
            match &mut self.source {
                Some(Source::Tone { generator, left }) => {
                    let n = (*left).min(rest.len() as u64) as usize;
                    generator.fill(&mut rest[..n]);
                    *left -= n as u64;
                    at += n;
                    if *left == 0 {
                        self.source = None;
                    }
                }
                Some(Source::Digits(sender)) => {
                    let more = sender.fill(rest);
                    at = out.len();
                    if !more {
                        self.source = None;
                    }
                }
                None => {}
            }
        }
    }

    fn listen(&mut self, pcm: &[i16], out: &mut Vec<Finding>) {
        self.detector.push(pcm);
        while let Some(e) = self.detector.poll_event() {
            for h in &mut self.heard {
                if let Heard::Dtmf { expected, got } = h {
                    let before = got.contains(expected.as_str());
                    got.push(e.digit);
                    if !before && got.contains(expected.as_str()) {
                        out.push(Finding {
                            ok: true,
                            text: format!("heard DTMF {expected:?} on B{}", self.channel),
                        });
                    }
                }
            }
        }
        for &s in pcm {
            self.block.push(s);
            if self.block.len() < BLOCK {
                continue;
            }
            for h in &mut self.heard {
                if let Heard::Tone {
                    freq_hz,
                    min_level_dbm0,
                    run,
                    best,
                    done,
                } = h
                {
                    let level = tone_level_dbm0(&self.block, *freq_hz);
                    *best = best.max(level);
                    *run = if level >= *min_level_dbm0 {
                        *run + 1
                    } else {
                        0
                    };
                    if !*done && *run >= TONE_BLOCKS {
                        *done = true;
                        out.push(Finding {
                            ok: true,
                            text: format!(
                                "heard {freq_hz} Hz at {level:.1} dBm0 on B{}",
                                self.channel
                            ),
                        });
                    }
                }
            }
            self.block.clear();
        }
    }
}
