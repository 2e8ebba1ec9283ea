//! The line: bits on the wire to frames, timeslots and D-channel HDLC frames.
//!
//! Contract: `spec/line-format.md` (binding). Everything here but [`transport`] is
//! sans-IO: it is handed `now` and the bytes read from the span and hands back the bytes
//! to write, events and its next deadline.
//!
//! ```text
//!  transport (driver thread) ──RxChunk──▶ Span ──Event──▶ isdn
//!                            ◀──Bytes───  │ t1 / e1   framer + deframer, CRC-6 / CRC-4
//!                                         │ alarm     LOS, OOF, red, AIS, RAI
//!                                         │ timeslot  D-channel and B-channel mux/demux
//!                                         │ hdlc      flags, zero insertion, FCS
//! ```

use std::time::Duration;

pub mod alarm;
pub mod crc;
pub mod e1;
pub mod hdlc;
pub mod pcap;
pub mod span;
pub mod t1;
pub mod timeslot;
pub mod transport;

/// T1 superframe format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T1Framing {
    /// 24-frame extended superframe with CRC-6 and the FDL (the default).
    Esf,
    /// 12-frame D4 superframe (Ft/Fs).
    Sf,
}

/// Framing of a span: which line it is and how its frames are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// T1, 193-bit frames at 8000 frames/s.
    T1(T1Framing),
    /// E1, 256-bit frames at 8000 frames/s; `crc4` enables the CRC-4 multiframe.
    E1 { crc4: bool },
}

impl Framing {
    /// Bits in one frame: 193 on T1, 256 on E1.
    pub const fn frame_bits(self) -> usize {
        match self {
            Framing::T1(_) => 193,
            Framing::E1 { .. } => 256,
        }
    }

    /// The D-channel timeslot: TS24 on T1, TS16 on E1.
    pub const fn d_timeslot(self) -> u8 {
        match self {
            Framing::T1(_) => 24,
            Framing::E1 { .. } => 16,
        }
    }
}

/// G.711 companding law of the B-channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// mu-law, the T1 default; idle code `FF`.
    MuLaw,
    /// A-law, the E1 default; idle code `D5`.
    ALaw,
}

impl Law {
    /// The silence code an idle B-channel carries (`t1-e1-hdlc-notes.md` section 8).
    pub const fn idle_code(self) -> u8 {
        match self {
            Law::MuLaw => 0xFF,
            Law::ALaw => 0xD5,
        }
    }
}

/// Where the transmit frame rate comes from (contract section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// One frame sent for every frame-length of bits received (the default).
    Line,
    /// Paced at 8000 frames/s from our own clock.
    Internal,
}

/// Everything the sans-IO span needs to know about its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanConfig {
    pub framing: Framing,
    pub law: Law,
    pub clock: Clock,
    /// How long OOF must persist before red alarm is declared (default 2.5 s).
    pub red_alarm_after: Duration,
    /// How long alignment must hold before the span comes back up (default 10 s).
    pub recovery_after: Duration,
    /// No bytes for this long is loss of signal (default 100 ms).
    pub los_after: Duration,
}

impl SpanConfig {
    /// Default red-alarm integration time (contract section 7).
    pub const RED_ALARM_AFTER: Duration = Duration::from_millis(2500);
    /// Default time alignment must hold before the span is declared up again.
    pub const RECOVERY_AFTER: Duration = Duration::from_secs(10);
    /// Default silence on the transport that counts as LOS.
    pub const LOS_AFTER: Duration = Duration::from_millis(100);

    /// A span with the contract's defaults for its framing: mu-law on T1, A-law on E1,
    /// line clocking and the default alarm timers.
    pub fn new(framing: Framing) -> Self {
        let law = match framing {
            Framing::T1(_) => Law::MuLaw,
            Framing::E1 { .. } => Law::ALaw,
        };
        SpanConfig {
            framing,
            law,
            clock: Clock::Line,
            red_alarm_after: Self::RED_ALARM_AFTER,
            recovery_after: Self::RECOVERY_AFTER,
            los_after: Self::LOS_AFTER,
        }
    }
}
