//! D-channel and B-channel multiplexing: contract `spec/line-format.md` sections 2, 3
//! and 5.
//!
//! T1: TS24 is the D-channel, TS1..TS23 are B1..B23. E1: TS16 is the D-channel,
//! TS1..TS15 and TS17..TS31 are B-channels numbered like their timeslot. Every frame
//! carries one G.711 sample per B-channel each way; a channel nobody has opened carries
//! the idle code of its law.
//!
//! ```text
//!  rx frame ─▶ [D octet] ──────────────▶ HDLC decoder
//!           └▶ [B samples] ─▶ rx ring per open channel ─▶ media (read_samples)
//!  media (write_samples) ─▶ tx ring per open channel ─▶ [B samples] ─▶ tx frame
//!                                        empty: idle code (counted as underrun)
//! ```
//!
//! The rings are bounded ([`Timeslots::CAPACITY`] samples, 200 ms): when the media side
//! falls behind, the oldest received samples are dropped and counted (`rx_overflow`);
//! when it writes ahead, the oldest queued transmit samples are dropped and counted
//! (`tx_overflow`). Dropping the oldest keeps the delay bounded, which matters more for
//! voice than the lost 125 us samples.

use std::collections::VecDeque;

use super::{Framing, Law};

/// Buffer overflows and underruns over all B-channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Received samples dropped because the channel's ring was full.
    pub rx_overflow: u64,
    /// Queued transmit samples dropped because the ring was full.
    pub tx_overflow: u64,
    /// Frames in which an open channel had nothing queued and sent the idle code.
    pub tx_underrun: u64,
}

#[derive(Debug, Default)]
struct Channel {
    open: bool,
    rx: VecDeque<u8>,
    tx: VecDeque<u8>,
}

/// Per-frame mux/demux of the D-channel and the B-channels of one span.
#[derive(Debug)]
pub struct Timeslots {
    framing: Framing,
    law: Law,
    /// Indexed by B-channel number (index 0 unused).
    channels: Vec<Channel>,
    /// The open channels, so a frame costs nothing for the closed ones.
    open: Vec<u8>,
    counters: Counters,
}

impl Timeslots {
    /// Samples each direction of a channel can hold: 200 ms.
    pub const CAPACITY: usize = 1600;

    /// All channels closed: idle codes out, received samples discarded.
    pub fn new(framing: Framing, law: Law) -> Self {
        let channels = (0..32).map(|_| Channel::default()).collect();
        Timeslots {
            framing,
            law,
            channels,
            open: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// The B-channel numbers of this framing: 1..=23 on T1, 1..=15 and 17..=31 on E1.
    pub fn b_channels(framing: Framing) -> impl Iterator<Item = u8> {
        let d = framing.d_timeslot();
        let last = match framing {
            Framing::T1(_) => 23,
            Framing::E1 { .. } => 31,
        };
        (1..=last).filter(move |&c| c != d)
    }

    /// Whether `channel` is a B-channel of this span.
    pub fn is_b_channel(&self, channel: u8) -> bool {
        match self.framing {
            Framing::T1(_) => (1..=23).contains(&channel),
            Framing::E1 { .. } => (1..=31).contains(&channel) && channel != 16,
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Start buffering `channel` both ways. Returns false if it is not a B-channel.
    pub fn open(&mut self, channel: u8) -> bool {
        if !self.is_b_channel(channel) {
            return false;
        }
        if let Some(c) = self.channels.get_mut(channel as usize)
            && !c.open
        {
            c.open = true;
            self.open.push(channel);
        }
        true
    }

    /// Stop buffering `channel`, drop what it holds; it goes back to the idle code.
    pub fn close(&mut self, channel: u8) {
        if let Some(c) = self.channels.get_mut(channel as usize) {
            *c = Channel::default();
        }
        self.open.retain(|&c| c != channel);
    }

    /// Move up to `out.len()` received samples of `channel` into `out`; returns how many.
    pub fn read_samples(&mut self, channel: u8, out: &mut [u8]) -> usize {
        let Some(c) = self.channels.get_mut(channel as usize) else {
            return 0;
        };
        let n = out.len().min(c.rx.len());
        for (o, s) in out.iter_mut().zip(c.rx.drain(..n)) {
            *o = s;
        }
        n
    }

    /// Queue samples to send on `channel`, one per frame. Returns false if the channel
    /// is not open (nothing queued).
    pub fn write_samples(&mut self, channel: u8, samples: &[u8]) -> bool {
        let Some(c) = self.channels.get_mut(channel as usize) else {
            return false;
        };
        if !c.open {
            return false;
        }
        for &s in samples {
            if c.tx.len() == Self::CAPACITY {
                c.tx.pop_front();
                self.counters.tx_overflow += 1;
            }
            c.tx.push_back(s);
        }
        true
    }

    /// Timeslot index in a received/transmitted frame array of this framing (T1 arrays
    /// hold TS1..TS24 from 0, E1 arrays TS0..TS31).
    fn index(&self, timeslot: u8) -> usize {
        match self.framing {
            Framing::T1(_) => (timeslot as usize).saturating_sub(1),
            Framing::E1 { .. } => timeslot as usize,
        }
    }

    /// Demultiplex one received frame; returns the D-channel octet.
    pub fn handle_rx_frame(&mut self, timeslots: &[u8]) -> u8 {
        let d = timeslots
            .get(self.index(self.framing.d_timeslot()))
            .copied()
            .unwrap_or(0xFF);
        for &ch in &self.open {
            let idx = match self.framing {
                Framing::T1(_) => (ch as usize).saturating_sub(1),
                Framing::E1 { .. } => ch as usize,
            };
            let Some(&sample) = timeslots.get(idx) else {
                continue;
            };
            let Some(c) = self.channels.get_mut(ch as usize) else {
                continue;
            };
            if c.rx.len() == Self::CAPACITY {
                c.rx.pop_front();
                self.counters.rx_overflow += 1;
            }
            c.rx.push_back(sample);
        }
        d
    }

    /// Fill one frame to transmit: B samples (or idle codes) and the D octet.
    pub fn build_tx_frame(&mut self, d_octet: u8, timeslots: &mut [u8]) {
        timeslots.fill(self.law.idle_code());
        let di = self.index(self.framing.d_timeslot());
        if let Some(t) = timeslots.get_mut(di) {
            *t = d_octet;
        }
        for i in 0..self.open.len() {
            let ch = self.open[i];
            let idx = self.index(ch);
            let Some(c) = self.channels.get_mut(ch as usize) else {
                continue;
            };
            let sample = match c.tx.pop_front() {
                Some(s) => s,
                None => {
                    self.counters.tx_underrun += 1;
                    self.law.idle_code()
                }
            };
            if let Some(t) = timeslots.get_mut(idx) {
                *t = sample;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::T1Framing;

    const T1: Framing = Framing::T1(T1Framing::Esf);
    const E1: Framing = Framing::E1 { crc4: true };

    #[test]
    fn t1_has_b1_to_b23_and_e1_skips_ts16() {
        assert_eq!(
            Timeslots::b_channels(T1).collect::<Vec<_>>(),
            (1..=23).collect::<Vec<_>>()
        );
        let e1: Vec<u8> = Timeslots::b_channels(E1).collect();
        assert_eq!(e1.len(), 30);
        assert!(!e1.contains(&16) && e1.contains(&31));
    }

    #[test]
    fn closed_channels_send_idle_code_and_d_octet() {
        let mut ts = Timeslots::new(T1, Law::MuLaw);
        let mut frame = [0u8; 24];
        ts.build_tx_frame(0x7E, &mut frame);
        assert_eq!(frame[23], 0x7E);
        assert!(frame[..23].iter().all(|&b| b == 0xFF));
        let mut e1 = Timeslots::new(E1, Law::ALaw);
        let mut frame = [0u8; 32];
        e1.build_tx_frame(0x3F, &mut frame);
        assert_eq!(frame[16], 0x3F);
        assert_eq!(frame[1], 0xD5);
    }

    #[test]
    fn open_channel_rx_samples_land_in_its_ring() {
        let mut ts = Timeslots::new(E1, Law::ALaw);
        assert!(ts.open(17));
        assert!(!ts.open(16), "TS16 is the D-channel");
        let mut frame = [0u8; 32];
        frame[17] = 0x42;
        frame[16] = 0x99;
        assert_eq!(ts.handle_rx_frame(&frame), 0x99);
        let mut out = [0u8; 4];
        assert_eq!(ts.read_samples(17, &mut out), 1);
        assert_eq!(out[0], 0x42);
    }

    #[test]
    fn open_channel_full_ring_drops_oldest_and_counts() {
        let mut ts = Timeslots::new(T1, Law::MuLaw);
        ts.open(1);
        let mut frame = [0u8; 24];
        for i in 0..Timeslots::CAPACITY + 3 {
            frame[0] = i as u8;
            ts.handle_rx_frame(&frame);
        }
        assert_eq!(ts.counters().rx_overflow, 3);
        let mut out = [0u8; 1];
        ts.read_samples(1, &mut out);
        assert_eq!(out[0], 3);
    }

    #[test]
    fn open_channel_tx_underrun_sends_idle() {
        let mut ts = Timeslots::new(T1, Law::MuLaw);
        ts.open(5);
        ts.write_samples(5, &[0x11]);
        let mut frame = [0u8; 24];
        ts.build_tx_frame(0x7E, &mut frame);
        assert_eq!(frame[4], 0x11);
        ts.build_tx_frame(0x7E, &mut frame);
        assert_eq!(frame[4], 0xFF);
        assert_eq!(ts.counters().tx_underrun, 1);
    }
}
