//! Counters a data link keeps for `show isdn` and for tests: frames by type, invalid
//! frames by reason, MDL-ERROR indications by code, retransmissions and timer expiries.
//!
//! Counters only ever grow; they wrap only after 2^64 events.

use super::MdlError;
use super::frame::{FrameError, FrameType};

/// Frames counted by type (one direction).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FrameCounts([u64; 11]);

impl FrameCounts {
    /// How many frames of `frame_type` were counted.
    pub const fn get(&self, frame_type: FrameType) -> u64 {
        self.0[frame_type.index()]
    }

    /// All frames counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn bump(&mut self, frame_type: FrameType) {
        let count = &mut self.0[frame_type.index()];
        *count = count.wrapping_add(1);
    }
}

/// Received frames that were discarded or rejected, by reason.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InvalidCounts {
    /// Fewer octets than the frame type needs.
    pub too_short: u64,
    /// EA0 = 1 or EA1 = 0.
    pub address_extension: u64,
    /// A SAPI other than 0.
    pub wrong_sapi: u64,
    /// A TEI other than 0 (or TEI 127 on anything but UI).
    pub wrong_tei: u64,
    /// The C/R bit makes a command-only frame a response or the reverse; a SABME that
    /// arrives as a response means both ends are configured as the same side.
    pub wrong_command_response: u64,
    /// Undefined or unimplemented control field (MDL-ERROR L).
    pub undefined_control: u64,
    /// Information field on a frame that allows none (MDL-ERROR M).
    pub information_not_permitted: u64,
    /// S frame or FRMR of the wrong length (MDL-ERROR N).
    pub wrong_length: u64,
    /// Information field longer than N201 (MDL-ERROR O).
    pub information_too_long: u64,
}

impl InvalidCounts {
    /// All invalid frames.
    pub const fn total(&self) -> u64 {
        self.too_short
            + self.address_extension
            + self.wrong_sapi
            + self.wrong_tei
            + self.wrong_command_response
            + self.undefined_control
            + self.information_not_permitted
            + self.wrong_length
            + self.information_too_long
    }

    pub(crate) fn bump(&mut self, error: &FrameError) {
        let count = match error {
            FrameError::TooShort { .. } => &mut self.too_short,
            FrameError::AddressExtension => &mut self.address_extension,
            FrameError::UndefinedControl { .. } => &mut self.undefined_control,
            FrameError::InformationNotPermitted { .. } => &mut self.information_not_permitted,
            FrameError::WrongLength { .. } => &mut self.wrong_length,
            FrameError::InformationTooLong { .. } => &mut self.information_too_long,
        };
        *count = count.wrapping_add(1);
    }
}

/// MDL-ERROR indications counted by code.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MdlCounts([u64; 15]);

impl MdlCounts {
    /// How many times `error` was indicated.
    pub const fn get(&self, error: MdlError) -> u64 {
        self.0[error as usize]
    }

    /// All MDL-ERROR indications.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn bump(&mut self, error: MdlError) {
        let count = &mut self.0[error as usize];
        *count = count.wrapping_add(1);
    }
}

/// Everything a data link counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counters {
    /// Valid frames received, by type.
    pub rx: FrameCounts,
    /// Frames sent, by type.
    pub tx: FrameCounts,
    /// Received frames discarded or rejected, by reason.
    pub invalid: InvalidCounts,
    /// MDL-ERROR indications by code (J counts N(R) errors, K received FRMRs).
    pub mdl: MdlCounts,
    /// I frames sent again (after REJ or timer recovery).
    pub retransmissions: u64,
    /// I frames received out of sequence (discarded, answered with REJ once).
    pub out_of_sequence: u64,
    /// T200 expiries.
    pub t200_expiries: u64,
    /// T203 expiries.
    pub t203_expiries: u64,
    /// Times the link entered multiple-frame established from another state.
    pub establishments: u64,
    /// Queued I frames thrown away (release, re-establishment with frames outstanding).
    pub discarded_i_frames: u64,
    /// DL-DATA / DL-UNIT-DATA requests refused (too long, queue full, link releasing).
    pub discarded_requests: u64,
}
