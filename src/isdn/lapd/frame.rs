//! Q.921 frame codec: address field, control field and information field (Q.921 §2, §3).
//!
//! The HDLC layer has already removed flags, bit stuffing and the FCS, so a frame here is
//! `address (2) | control (1 or 2) | information (0..)`:
//!
//! ```text
//!  octet 1   SAPI (bits 8-3) | C/R (bit 2) | EA0 = 0 (bit 1)
//!  octet 2   TEI  (bits 8-2)               | EA1 = 1 (bit 1)
//!  octet 3   I: N(S)<<1 | 0      S: 0000 SS 01       U: M M M P/F M M 1 1
//!  octet 4   I: N(R)<<1 | P      S: N(R)<<1 | P/F    (U frames have no octet 4)
//!  octet 5.. information (I, UI, FRMR, XID only)
//! ```
//!
//! Decoding checks only what the octets themselves say. Whether SAPI and TEI are ours,
//! whether the C/R bit fits the frame type, and whether the information field exceeds
//! N201 depend on configuration and are checked by the data-link state machine.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::{MdlError, Side};

/// Service access point identifier, the upper six bits of the address field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Sapi(pub u8);

impl Sapi {
    /// SAPI 0: call control (Q.931). The only SAPI a PRI uses.
    pub const CALL_CONTROL: Self = Self(0);
    /// SAPI 16: X.25 packet communication (not used on a PRI).
    pub const PACKET: Self = Self(16);
    /// SAPI 63: layer-2 management, TEI assignment (not used on a PRI).
    pub const MANAGEMENT: Self = Self(63);
}

/// Terminal endpoint identifier, the upper seven bits of the second address octet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tei(pub u8);

impl Tei {
    /// TEI 0: the single point-to-point data link of a primary-rate access.
    pub const POINT_TO_POINT: Self = Self(0);
    /// TEI 127: the group (broadcast) TEI; it may carry UI frames only.
    pub const GROUP: Self = Self(127);
}

/// The two-octet address field: SAPI, command/response bit and TEI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Address {
    /// Service access point identifier (0..=63 on the wire).
    pub sapi: Sapi,
    /// The C/R bit as sent. Whether it marks a command depends on the sender's side.
    pub command_response: bool,
    /// Terminal endpoint identifier (0..=127 on the wire).
    pub tei: Tei,
}

impl Address {
    /// Builds the address a `sender` uses for a command (`command = true`) or a response.
    pub fn new(sapi: Sapi, tei: Tei, sender: Side, command: bool) -> Self {
        let command_response = if command {
            sender.command_bit()
        } else {
            !sender.command_bit()
        };
        Self {
            sapi,
            command_response,
            tei,
        }
    }

    /// Decodes the address field at the start of `bytes`, checking the EA bits.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let [high, low, ..] = *bytes else {
            return Err(FrameError::TooShort { len: bytes.len() });
        };
        // EA0 = 1 would be a one-octet address, EA1 = 0 a longer one; LAPD has neither.
        if high & 0x01 != 0 || low & 0x01 != 1 {
            return Err(FrameError::AddressExtension);
        }
        Ok(Self {
            sapi: Sapi(high >> 2),
            command_response: high & 0x02 != 0,
            tei: Tei(low >> 1),
        })
    }

    /// Encodes the address field; SAPI and TEI values out of range are masked.
    pub fn encode(&self) -> [u8; 2] {
        let high = ((self.sapi.0 & 0x3F) << 2) | (u8::from(self.command_response) << 1);
        let low = ((self.tei.0 & 0x7F) << 1) | 0x01;
        [high, low]
    }
}

/// A modulo-128 sequence number: N(S), N(R), V(S), V(A) or V(R).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SequenceNumber(u8);

impl SequenceNumber {
    /// Sequence number 0, where every variable starts after establishment.
    pub const ZERO: Self = Self(0);

    /// Makes a sequence number from `value` modulo 128.
    pub const fn new(value: u8) -> Self {
        Self(value & 0x7F)
    }

    /// The number, 0..=127.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// The next number, wrapping from 127 to 0.
    #[must_use]
    pub const fn next(self) -> Self {
        Self::new(self.0.wrapping_add(1))
    }

    /// `(self - base) mod 128`: how far `self` is ahead of `base` around the circle.
    pub const fn distance_from(self, base: Self) -> u8 {
        self.0.wrapping_sub(base.0) & 0x7F
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The frame types Q.921 defines, without their fields (for counters and errors).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FrameType {
    /// Information (numbered) frame.
    I,
    /// Receive ready.
    Rr,
    /// Receive not ready.
    Rnr,
    /// Reject.
    Rej,
    /// Set asynchronous balanced mode extended (modulo 128).
    Sabme,
    /// Unnumbered acknowledgement.
    Ua,
    /// Disconnect.
    Disc,
    /// Disconnected mode.
    Dm,
    /// Frame reject.
    Frmr,
    /// Unnumbered information.
    Ui,
    /// Exchange identification.
    Xid,
}

impl FrameType {
    /// Every frame type, in the order of [`FrameType::index`].
    pub const ALL: [Self; 11] = [
        Self::I,
        Self::Rr,
        Self::Rnr,
        Self::Rej,
        Self::Sabme,
        Self::Ua,
        Self::Disc,
        Self::Dm,
        Self::Frmr,
        Self::Ui,
        Self::Xid,
    ];

    /// A dense index 0..11, for counter tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The abbreviation Q.921 uses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::I => "I",
            Self::Rr => "RR",
            Self::Rnr => "RNR",
            Self::Rej => "REJ",
            Self::Sabme => "SABME",
            Self::Ua => "UA",
            Self::Disc => "DISC",
            Self::Dm => "DM",
            Self::Frmr => "FRMR",
            Self::Ui => "UI",
            Self::Xid => "XID",
        }
    }

    /// Whether this type may be sent as a command (`true`) or as a response (`false`).
    ///
    /// I, SABME, DISC and UI are commands only; UA, DM and FRMR responses only; the
    /// supervisory frames and XID may be either (Q.921 Table 5).
    pub const fn allows(self, command: bool) -> bool {
        match self {
            Self::I | Self::Sabme | Self::Disc | Self::Ui => command,
            Self::Ua | Self::Dm | Self::Frmr => !command,
            Self::Rr | Self::Rnr | Self::Rej | Self::Xid => true,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The five-octet FRMR information field of modulo-128 operation (Q.921 Figure 6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FrmrInformation(pub [u8; 5]);

impl FrmrInformation {
    /// Bit W: the rejected control field is undefined or not implemented.
    pub const W: u8 = 0x01;
    /// Bit X: the rejected frame had an information field where none is allowed.
    pub const X: u8 = 0x02;
    /// Bit Y: the rejected information field was longer than N201.
    pub const Y: u8 = 0x04;
    /// Bit Z: the rejected frame carried an invalid N(R).
    pub const Z: u8 = 0x08;

    /// The control field (one or two octets, left-aligned) of the rejected frame.
    pub const fn rejected_control(&self) -> [u8; 2] {
        [self.0[0], self.0[1]]
    }

    /// V(S) of the entity that sent the FRMR.
    pub const fn vs(&self) -> SequenceNumber {
        SequenceNumber::new(self.0[2] >> 1)
    }

    /// V(R) of the entity that sent the FRMR.
    pub const fn vr(&self) -> SequenceNumber {
        SequenceNumber::new(self.0[3] >> 1)
    }

    /// Whether the rejected frame was a response (its C/R bit as reported).
    pub const fn rejected_was_response(&self) -> bool {
        self.0[3] & 0x01 != 0
    }

    /// The W, X, Y and Z bits (see the constants).
    pub const fn causes(&self) -> u8 {
        self.0[4] & 0x0F
    }
}

/// One Q.921 frame, decoded. P/F is "poll" in a command and "final" in a response.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Frame {
    /// Information frame (always a command).
    I {
        /// Address field.
        address: Address,
        /// N(S): sequence number of this frame.
        ns: SequenceNumber,
        /// N(R): the next N(S) the sender expects (acknowledges everything before it).
        nr: SequenceNumber,
        /// The P bit.
        poll_final: bool,
        /// The layer-3 message.
        information: Bytes,
    },
    /// Receive ready.
    Rr {
        /// Address field.
        address: Address,
        /// N(R).
        nr: SequenceNumber,
        /// The P/F bit.
        poll_final: bool,
    },
    /// Receive not ready.
    Rnr {
        /// Address field.
        address: Address,
        /// N(R).
        nr: SequenceNumber,
        /// The P/F bit.
        poll_final: bool,
    },
    /// Reject: go back to N(R).
    Rej {
        /// Address field.
        address: Address,
        /// N(R).
        nr: SequenceNumber,
        /// The P/F bit.
        poll_final: bool,
    },
    /// Set asynchronous balanced mode extended (command).
    Sabme {
        /// Address field.
        address: Address,
        /// The P bit.
        poll_final: bool,
    },
    /// Unnumbered acknowledgement (response).
    Ua {
        /// Address field.
        address: Address,
        /// The F bit.
        poll_final: bool,
    },
    /// Disconnect (command).
    Disc {
        /// Address field.
        address: Address,
        /// The P bit.
        poll_final: bool,
    },
    /// Disconnected mode (response).
    Dm {
        /// Address field.
        address: Address,
        /// The F bit.
        poll_final: bool,
    },
    /// Frame reject (response).
    Frmr {
        /// Address field.
        address: Address,
        /// The F bit.
        poll_final: bool,
        /// What was rejected and why.
        information: FrmrInformation,
    },
    /// Unnumbered information (command).
    Ui {
        /// Address field.
        address: Address,
        /// The P bit.
        poll_final: bool,
        /// The layer-3 message.
        information: Bytes,
    },
    /// Exchange identification (command or response); kept raw, PRI does not use it.
    Xid {
        /// Address field.
        address: Address,
        /// The P/F bit.
        poll_final: bool,
        /// The parameter list, undecoded.
        information: Bytes,
    },
}

/// Why a received octet string is not a valid Q.921 frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum FrameError {
    /// Fewer than 3 octets, or fewer than 4 for an I or S frame: discarded silently.
    #[error("frame of {len} octets is too short for its type")]
    TooShort {
        /// Octets received.
        len: usize,
    },
    /// EA0 = 1 or EA1 = 0: not a two-octet address; discarded silently.
    #[error("address extension bits are wrong (EA0 must be 0 and EA1 must be 1)")]
    AddressExtension,
    /// The control field is undefined or not implemented (MDL-ERROR L).
    #[error("undefined control field {control:#04x}")]
    UndefinedControl {
        /// The first control octet.
        control: u8,
    },
    /// SABME, DISC, UA or DM with an information field (MDL-ERROR M).
    #[error("{frame_type} must not carry an information field")]
    InformationNotPermitted {
        /// The frame that carried one.
        frame_type: FrameType,
    },
    /// An S frame longer than 4 octets or an FRMR whose field is not 5 octets (MDL-ERROR N).
    #[error("{frame_type} of {len} octets has the wrong length")]
    WrongLength {
        /// The frame type.
        frame_type: FrameType,
        /// Octets received.
        len: usize,
    },
    /// An information field longer than N201 (MDL-ERROR O); found by the state machine.
    #[error("information field of {len} octets is longer than N201 = {n201}")]
    InformationTooLong {
        /// Octets of information received.
        len: usize,
        /// The configured maximum.
        n201: usize,
    },
}

impl FrameError {
    /// The MDL-ERROR code of a frame-rejection condition; `None` for frames that are
    /// discarded silently (Q.921 §5.8.4 and §5.8.5).
    pub const fn mdl_error(&self) -> Option<MdlError> {
        match self {
            Self::TooShort { .. } | Self::AddressExtension => None,
            Self::UndefinedControl { .. } => Some(MdlError::UndefinedControlField),
            Self::InformationNotPermitted { .. } => Some(MdlError::InformationFieldNotPermitted),
            Self::WrongLength { .. } => Some(MdlError::WrongFrameSize),
            Self::InformationTooLong { .. } => Some(MdlError::InformationFieldTooLong),
        }
    }
}

// U-frame control octets with the P/F bit (0x10) cleared.
const SABME: u8 = 0x6F;
const DISC: u8 = 0x43;
const UI: u8 = 0x03;
const UA: u8 = 0x63;
const DM: u8 = 0x0F;
const FRMR: u8 = 0x87;
const XID: u8 = 0xAF;
const POLL_FINAL_U: u8 = 0x10;

impl Frame {
    /// Decodes a frame (without FCS). Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let address = Address::decode(bytes)?;
        let len = bytes.len();
        let Some(&first) = bytes.get(2) else {
            return Err(FrameError::TooShort { len });
        };
        if first & 0x01 == 0 {
            let [_, _, _, second, ref information @ ..] = *bytes else {
                return Err(FrameError::TooShort { len });
            };
            return Ok(Self::I {
                address,
                ns: SequenceNumber::new(first >> 1),
                nr: SequenceNumber::new(second >> 1),
                poll_final: second & 0x01 != 0,
                information: Bytes::copy_from_slice(information),
            });
        }
        if first & 0x03 == 0x01 {
            let [_, _, _, second, ref rest @ ..] = *bytes else {
                return Err(FrameError::TooShort { len });
            };
            let nr = SequenceNumber::new(second >> 1);
            let poll_final = second & 0x01 != 0;
            // Bits 8-5 are reserved as 0; SS = 11 is undefined.
            let frame = match first {
                0x01 => Self::Rr {
                    address,
                    nr,
                    poll_final,
                },
                0x05 => Self::Rnr {
                    address,
                    nr,
                    poll_final,
                },
                0x09 => Self::Rej {
                    address,
                    nr,
                    poll_final,
                },
                control => return Err(FrameError::UndefinedControl { control }),
            };
            if !rest.is_empty() {
                return Err(FrameError::WrongLength {
                    frame_type: frame.frame_type(),
                    len,
                });
            }
            return Ok(frame);
        }
        let poll_final = first & POLL_FINAL_U != 0;
        let information = &bytes[3..];
        let frame_type = match first & !POLL_FINAL_U {
            SABME => FrameType::Sabme,
            DISC => FrameType::Disc,
            UI => FrameType::Ui,
            UA => FrameType::Ua,
            DM => FrameType::Dm,
            FRMR => FrameType::Frmr,
            XID => FrameType::Xid,
            _ => return Err(FrameError::UndefinedControl { control: first }),
        };
        let bare = |frame: Self| {
            if information.is_empty() {
                Ok(frame)
            } else {
                Err(FrameError::InformationNotPermitted { frame_type })
            }
        };
        match frame_type {
            FrameType::Sabme => bare(Self::Sabme {
                address,
                poll_final,
            }),
            FrameType::Disc => bare(Self::Disc {
                address,
                poll_final,
            }),
            FrameType::Ua => bare(Self::Ua {
                address,
                poll_final,
            }),
            FrameType::Dm => bare(Self::Dm {
                address,
                poll_final,
            }),
            FrameType::Frmr => match <[u8; 5]>::try_from(information) {
                Ok(field) => Ok(Self::Frmr {
                    address,
                    poll_final,
                    information: FrmrInformation(field),
                }),
                Err(_) => Err(FrameError::WrongLength { frame_type, len }),
            },
            FrameType::Ui => Ok(Self::Ui {
                address,
                poll_final,
                information: Bytes::copy_from_slice(information),
            }),
            _ => Ok(Self::Xid {
                address,
                poll_final,
                information: Bytes::copy_from_slice(information),
            }),
        }
    }

    /// Encodes the frame (without FCS).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(4 + self.information().len());
        out.put_slice(&self.address().encode());
        let pf = self.poll_final();
        let unnumbered = |control: u8| control | if pf { POLL_FINAL_U } else { 0 };
        let second = |nr: SequenceNumber| (nr.value() << 1) | u8::from(pf);
        match self {
            Self::I { ns, nr, .. } => out.put_slice(&[ns.value() << 1, second(*nr)]),
            Self::Rr { nr, .. } => out.put_slice(&[0x01, second(*nr)]),
            Self::Rnr { nr, .. } => out.put_slice(&[0x05, second(*nr)]),
            Self::Rej { nr, .. } => out.put_slice(&[0x09, second(*nr)]),
            Self::Sabme { .. } => out.put_u8(unnumbered(SABME)),
            Self::Ua { .. } => out.put_u8(unnumbered(UA)),
            Self::Disc { .. } => out.put_u8(unnumbered(DISC)),
            Self::Dm { .. } => out.put_u8(unnumbered(DM)),
            Self::Frmr { .. } => out.put_u8(unnumbered(FRMR)),
            Self::Ui { .. } => out.put_u8(unnumbered(UI)),
            Self::Xid { .. } => out.put_u8(unnumbered(XID)),
        }
        out.put_slice(self.information());
        out.freeze()
    }

    /// The address field.
    pub const fn address(&self) -> Address {
        match self {
            Self::I { address, .. }
            | Self::Rr { address, .. }
            | Self::Rnr { address, .. }
            | Self::Rej { address, .. }
            | Self::Sabme { address, .. }
            | Self::Ua { address, .. }
            | Self::Disc { address, .. }
            | Self::Dm { address, .. }
            | Self::Frmr { address, .. }
            | Self::Ui { address, .. }
            | Self::Xid { address, .. } => *address,
        }
    }

    /// The P/F bit.
    pub const fn poll_final(&self) -> bool {
        match self {
            Self::I { poll_final, .. }
            | Self::Rr { poll_final, .. }
            | Self::Rnr { poll_final, .. }
            | Self::Rej { poll_final, .. }
            | Self::Sabme { poll_final, .. }
            | Self::Ua { poll_final, .. }
            | Self::Disc { poll_final, .. }
            | Self::Dm { poll_final, .. }
            | Self::Frmr { poll_final, .. }
            | Self::Ui { poll_final, .. }
            | Self::Xid { poll_final, .. } => *poll_final,
        }
    }

    /// The information field (empty for frames without one).
    pub fn information(&self) -> &[u8] {
        match self {
            Self::I { information, .. }
            | Self::Ui { information, .. }
            | Self::Xid { information, .. } => information,
            Self::Frmr { information, .. } => &information.0,
            _ => &[],
        }
    }

    /// The frame type.
    pub const fn frame_type(&self) -> FrameType {
        match self {
            Self::I { .. } => FrameType::I,
            Self::Rr { .. } => FrameType::Rr,
            Self::Rnr { .. } => FrameType::Rnr,
            Self::Rej { .. } => FrameType::Rej,
            Self::Sabme { .. } => FrameType::Sabme,
            Self::Ua { .. } => FrameType::Ua,
            Self::Disc { .. } => FrameType::Disc,
            Self::Dm { .. } => FrameType::Dm,
            Self::Frmr { .. } => FrameType::Frmr,
            Self::Ui { .. } => FrameType::Ui,
            Self::Xid { .. } => FrameType::Xid,
        }
    }

    /// Whether `sender` sent this frame as a command (from the C/R bit, Q.921 Table 1).
    pub const fn is_command_from(&self, sender: Side) -> bool {
        self.address().command_response == sender.command_bit()
    }

    /// A one-line rendering for a line watch, in the style of `debug isdn q921`:
    /// `RRf sapi=0 tei=0 nr=5`. The caller adds the direction.
    ///
    /// The suffix says command or response, which the C/R bit means only relative to the
    /// `sender`'s side: `c` command, `p` command with P=1, `r` response, `f` response
    /// with F=1. I frames print as `INFO` with their information field in hex.
    pub const fn display(&self, sender: Side) -> FrameDisplay<'_> {
        FrameDisplay {
            frame: self,
            sender,
        }
    }
}

/// A frame rendered for a line watch; see [`Frame::display`].
#[derive(Clone, Copy, Debug)]
pub struct FrameDisplay<'a> {
    frame: &'a Frame,
    sender: Side,
}

impl fmt::Display for FrameDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = self.frame;
        let name = match frame.frame_type() {
            FrameType::I => "INFO",
            other => other.name(),
        };
        let suffix = match (frame.is_command_from(self.sender), frame.poll_final()) {
            (true, false) => 'c',
            (true, true) => 'p',
            (false, false) => 'r',
            (false, true) => 'f',
        };
        let address = frame.address();
        write!(
            f,
            "{name}{suffix} sapi={} tei={}",
            address.sapi.0, address.tei.0
        )?;
        match frame {
            Frame::I { ns, nr, .. } => write!(f, " ns={ns} nr={nr}")?,
            Frame::Rr { nr, .. } | Frame::Rnr { nr, .. } | Frame::Rej { nr, .. } => {
                write!(f, " nr={nr}")?;
            }
            Frame::Frmr { information, .. } => {
                let [c1, c2] = information.rejected_control();
                write!(
                    f,
                    " rejected={c1:02X}{c2:02X} vs={} vr={} wxyz={:04b}",
                    information.vs(),
                    information.vr(),
                    information.causes()
                )?;
            }
            _ => {}
        }
        let information = frame.information();
        if !information.is_empty() && !matches!(frame, Frame::Frmr { .. }) {
            f.write_str(" i=0x")?;
            for octet in information {
                write!(f, "{octet:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETWORK_COMMAND: Address = Address {
        sapi: Sapi::CALL_CONTROL,
        command_response: true,
        tei: Tei::POINT_TO_POINT,
    };

    #[test]
    fn address_with_ea0_set_is_rejected() {
        assert_eq!(
            Address::decode(&[0x01, 0x01, 0x7F]),
            Err(FrameError::AddressExtension)
        );
    }

    #[test]
    fn address_with_ea1_clear_is_rejected() {
        assert_eq!(
            Address::decode(&[0x00, 0x00, 0x7F]),
            Err(FrameError::AddressExtension)
        );
    }

    #[test]
    fn address_sapi_63_tei_127_round_trips() {
        let bytes = [0xFE, 0xFF];
        let address = Address::decode(&bytes).unwrap();
        assert_eq!(address.sapi, Sapi::MANAGEMENT);
        assert_eq!(address.tei, Tei::GROUP);
        assert!(address.command_response);
        assert_eq!(address.encode(), bytes);
    }

    #[test]
    fn s_frame_of_three_octets_is_too_short() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x01]),
            Err(FrameError::TooShort { len: 3 })
        );
    }

    #[test]
    fn s_frame_with_ss_11_is_undefined() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x0D, 0x00]),
            Err(FrameError::UndefinedControl { control: 0x0D })
        );
    }

    #[test]
    fn s_frame_with_information_has_wrong_length() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x01, 0x00, 0x55]),
            Err(FrameError::WrongLength {
                frame_type: FrameType::Rr,
                len: 5
            })
        );
    }

    #[test]
    fn sabme_with_information_is_not_permitted() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x7F, 0x55]),
            Err(FrameError::InformationNotPermitted {
                frame_type: FrameType::Sabme
            })
        );
    }

    #[test]
    fn frmr_with_three_octet_field_has_wrong_length() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x97, 1, 2, 3]),
            Err(FrameError::WrongLength {
                frame_type: FrameType::Frmr,
                len: 6
            })
        );
    }

    #[test]
    fn undefined_u_frame_is_undefined_control() {
        assert_eq!(
            Frame::decode(&[0x00, 0x01, 0x23]),
            Err(FrameError::UndefinedControl { control: 0x23 })
        );
    }

    #[test]
    fn frmr_fields_decode() {
        let frame = Frame::decode(&[0x00, 0x01, 0x97, 0x00, 0x0A, 0x06, 0x09, 0x08]).unwrap();
        let Frame::Frmr {
            information,
            poll_final: true,
            ..
        } = frame
        else {
            panic!("not an FRMR: {frame:?}");
        };
        assert_eq!(information.rejected_control(), [0x00, 0x0A]);
        assert_eq!(information.vs(), SequenceNumber::new(3));
        assert_eq!(information.vr(), SequenceNumber::new(4));
        assert!(information.rejected_was_response());
        assert_eq!(information.causes(), FrmrInformation::Z);
    }

    #[test]
    fn sequence_number_wraps_and_measures_distance() {
        let last = SequenceNumber::new(127);
        assert_eq!(last.next(), SequenceNumber::ZERO);
        assert_eq!(SequenceNumber::new(2).distance_from(last), 3);
        assert_eq!(SequenceNumber::new(200), SequenceNumber::new(72));
    }

    #[test]
    fn display_rr_response_with_final_bit() {
        let frame = Frame::Rr {
            address: Address::new(Sapi::CALL_CONTROL, Tei::POINT_TO_POINT, Side::User, false),
            nr: SequenceNumber::new(5),
            poll_final: true,
        };
        assert_eq!(
            frame.display(Side::User).to_string(),
            "RRf sapi=0 tei=0 nr=5"
        );
    }

    #[test]
    fn display_i_frame_shows_sequence_numbers_and_information() {
        let frame = Frame::I {
            address: NETWORK_COMMAND,
            ns: SequenceNumber::new(1),
            nr: SequenceNumber::new(2),
            poll_final: false,
            information: Bytes::from_static(&[0x08, 0x02]),
        };
        assert_eq!(
            frame.display(Side::Network).to_string(),
            "INFOc sapi=0 tei=0 ns=1 nr=2 i=0x0802"
        );
    }

    #[test]
    fn display_sabme_from_network_is_poll_command() {
        let frame = Frame::Sabme {
            address: NETWORK_COMMAND,
            poll_final: true,
        };
        assert_eq!(
            frame.display(Side::Network).to_string(),
            "SABMEp sapi=0 tei=0"
        );
        // The same octets sent by a user would be a response: the role mismatch shows.
        assert_eq!(frame.display(Side::User).to_string(), "SABMEf sapi=0 tei=0");
    }
}
