//! D-channel captures that Wireshark and tshark decode as LAPD (Q.921) and Q.931.
//!
//! Format: `t1-e1-hdlc-notes.md` section 9.1, pcapng with link type 203 (LINKTYPE_LAPD),
//! little-endian, one Enhanced Packet Block per frame. A packet is the frame from the
//! address through the information field: no flags, no stuffing, no FCS (with an FCS
//! tshark shows Q.931 as malformed).
//!
//! ```text
//!  Section Header (28) │ Interface Description (20): LAPD, snap 65535 │ EPB │ EPB │ ...
//!  EPB = type 6 │ length │ interface 0 │ time (µs, high, low) │ lengths │ frame, padded
//!        to 4 │ epb_flags (option 2): 1 inbound or 2 outbound │ end of options │ length
//! ```
//!
//! Without a direction tshark cannot tell LAPD commands from responses (it shows UA with
//! "P" and DM as SARM), so every packet carries epb_flags. The flag is set by which side
//! *sent* the frame, not by who captured it: 1 (inbound) is displayed Network->User and 2
//! (outbound) User->Network, so a network-side gateway marks its own frames inbound.
//!
//! Time is a parameter: the caller stamps each frame (sans-IO, house style 4.2).

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::{DataLink, Endianness, PcapError};

/// Largest packet the interface block announces (and the writer accepts).
pub const SNAPLEN: u32 = 65535;

/// epb_flags direction bits (pcapng): inbound, shown by tshark as Network->User.
const EPB_INBOUND: u32 = 1;
/// epb_flags direction bits (pcapng): outbound, shown by tshark as User->Network.
const EPB_OUTBOUND: u32 = 2;

/// Which side of the user-network interface the capturing gateway is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    User,
    Network,
}

/// A frame's direction relative to the capturing side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

/// Writes LAPD frames to a pcapng stream.
pub struct PcapWriter<W: Write> {
    out: PcapNgWriter<W>,
    side: Side,
}

impl<W: Write> PcapWriter<W> {
    /// Starts a capture on `out`: writes the section header and the LAPD interface block.
    pub fn new(out: W, side: Side) -> io::Result<Self> {
        let section = SectionHeaderBlock {
            endianness: Endianness::Little,
            ..Default::default()
        };
        let mut out = PcapNgWriter::with_section_header(out, section).map_err(into_io)?;
        out.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::LAPD, SNAPLEN))
            .map_err(into_io)?;
        Ok(PcapWriter { out, side })
    }

    /// Writes one frame (address..information, no FCS) seen at `at`. A time before 1970 or a
    /// frame longer than [`SNAPLEN`] is refused with `InvalidInput` and nothing is written.
    pub fn write_frame(
        &mut self,
        at: SystemTime,
        direction: Direction,
        frame: &[u8],
    ) -> io::Result<()> {
        let Ok(len @ ..=SNAPLEN) = u32::try_from(frame.len()) else {
            return Err(invalid("frame longer than the capture's snap length"));
        };
        let since = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| invalid("time before 1970"))?;
        let micros = u64::try_from(since.as_micros()).map_err(|_| invalid("time too late"))?;
        let sent_by_user = matches!(
            (self.side, direction),
            (Side::User, Direction::Sent) | (Side::Network, Direction::Received)
        );
        let flags = if sent_by_user {
            EPB_OUTBOUND
        } else {
            EPB_INBOUND
        };
        let block = EnhancedPacketBlock {
            interface_id: 0,
            // pcap-file 2.0 writes this Duration as a count of nanoseconds whatever the
            // interface's if_tsresol says. The interface keeps the default resolution of
            // microseconds (the notes' 20-octet block), so hand it the microsecond count.
            timestamp: Duration::from_nanos(micros),
            original_len: len,
            data: Cow::Borrowed(frame),
            options: vec![EnhancedPacketOption::Flags(flags)],
        };
        self.out.write_pcapng_block(block).map_err(into_io)?;
        Ok(())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.get_mut().flush()
    }

    /// The underlying writer, e.g. the bytes of an in-memory capture.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

fn invalid(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

/// The crate wraps I/O errors; everything else it can return is a bug in how we call it.
fn into_io(error: PcapError) -> io::Error {
    match error {
        PcapError::IoError(e) => e,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SABME: &[u8] = &[0x00, 0x01, 0x7F];

    /// 2026-12-01 08:00:00.123456 UTC.
    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(1_796_112_000_123_456)
    }

    fn capture(side: Side, direction: Direction, frame: &[u8]) -> Vec<u8> {
        let mut writer = PcapWriter::new(Vec::new(), side).unwrap();
        writer.write_frame(at(), direction, frame).unwrap();
        writer.flush().unwrap();
        writer.into_inner()
    }

    #[test]
    fn user_side_sent_sabme_gives_notes_block_layout() {
        let micros: u64 = 1_796_112_000_123_456;
        let mut expected = Vec::new();
        // Section Header: type, length 28, byte-order magic, version 1.0, length -1, 28.
        expected.extend([0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x4D, 0x3C, 0x2B, 0x1A]);
        expected.extend([1, 0, 0, 0]);
        expected.extend([0xFF; 8]);
        expected.extend([28, 0, 0, 0]);
        // Interface Description: type 1, length 20, LAPD (203), reserved, snap 65535, 20.
        expected.extend([
            1, 0, 0, 0, 20, 0, 0, 0, 203, 0, 0, 0, 0xFF, 0xFF, 0, 0, 20, 0, 0, 0,
        ]);
        // Enhanced Packet: 32 + 4 (3 octets padded) + 12 = 48.
        expected.extend([6, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend(((micros >> 32) as u32).to_le_bytes());
        expected.extend((micros as u32).to_le_bytes());
        expected.extend([3, 0, 0, 0, 3, 0, 0, 0]);
        expected.extend([0x00, 0x01, 0x7F, 0x00]);
        // epb_flags = 2 (outbound: the user sent it), then end of options, then 48.
        expected.extend([2, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0]);
        assert_eq!(capture(Side::User, Direction::Sent, SABME), expected);
    }

    #[test]
    fn network_side_received_frame_marks_it_user_sent_like_user_side() {
        assert_eq!(
            capture(Side::Network, Direction::Received, SABME),
            capture(Side::User, Direction::Sent, SABME)
        );
    }

    #[test]
    fn network_side_sent_frame_is_inbound() {
        let bytes = capture(Side::Network, Direction::Sent, SABME);
        // The flags value sits 12 octets before the end (value, end of options, length).
        assert_eq!(
            bytes[bytes.len() - 12..bytes.len() - 8],
            EPB_INBOUND.to_le_bytes()
        );
    }

    #[test]
    fn user_side_four_octet_frame_needs_no_padding() {
        let bytes = capture(Side::User, Direction::Received, &[0x00, 0x01, 0x01, 0x02]);
        let epb = &bytes[48..];
        assert_eq!(epb.len(), 48);
        assert_eq!(epb[4..8], 48u32.to_le_bytes());
        assert_eq!(epb[28..32], [0x00, 0x01, 0x01, 0x02]);
        assert_eq!(epb[32..36], [2, 0, 4, 0]);
    }

    #[test]
    fn open_writer_time_before_1970_is_refused_and_writes_nothing() {
        let mut writer = PcapWriter::new(Vec::new(), Side::User).unwrap();
        let early = UNIX_EPOCH - Duration::from_secs(1);
        let error = writer
            .write_frame(early, Direction::Sent, SABME)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(writer.into_inner().len(), 48);
    }

    #[test]
    fn open_writer_oversized_frame_is_refused() {
        let mut writer = PcapWriter::new(Vec::new(), Side::User).unwrap();
        let big = vec![0; SNAPLEN as usize + 1];
        let error = writer.write_frame(at(), Direction::Sent, &big).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
