//! Q.931 message codec (ITU-T Q.931 clauses 3, 4.1-4.4 and 5.8; reference
//! `q931-call-control.md` sections 1-4, 6 and 11).
//!
//! ```text
//!  octet 1   protocol discriminator   08 call control, 03 / 43 NA maintenance
//!  octet 2   0000 | CR length         02 on PRI, 00 = dummy call reference
//!  octet 3   flag | CRV high bits     flag 0 = sent by the side that chose the CRV
//!  octet 4   CRV low bits
//!  octet 5   message type
//!  octet 6.. information elements (shifts switch codesets)
//! ```
//!
//! [`Message::decode`] parses the framing once, keeps every element as received
//! (so [`Message::encode`] gives back the same octets) and checks the message
//! against its mandatory elements. Errors carry the call reference, so the call
//! control can answer a peer's mistake with the cause [`DecodeError::cause`]
//! names (96, 97, 100); errors without one (truncated header, foreign
//! discriminator) mean "drop silently" (Q.931 5.8.1-5.8.3).

use std::fmt;

use super::cause::{Cause, Location};
use super::ie::{
    self, BearerCapability, CallState, CallStateIe, CauseIe, ChangeStatus, ChannelId, Codeset,
    DateTime, Display, EncodeError, Facility, HighLayerCompatibility, Ie, IeCodec, IeError, IeId,
    Keypad, LowLayerCompatibility, NetworkSpecificFacilities, NotificationIndicator, PartyNumber,
    ProgressIndicator, RestartClass, RestartIndicator, Shift, Signal, Subaddress,
    TransitNetworkSelection, UserUser,
};
use super::variant::Variant;

/// The protocol discriminator (octet 1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ProtocolDiscriminator(pub u8);

impl ProtocolDiscriminator {
    /// `08`: Q.931 user-network call control.
    pub const Q931: Self = Self(0x08);
    /// `03`: AT&T/Lucent and DMS-100 maintenance (SERVICE messages).
    pub const MAINTENANCE: Self = Self(0x03);
    /// `43`: National ISDN-2 maintenance.
    pub const NATIONAL_MAINTENANCE: Self = Self(0x43);

    /// Whether this is one of the two maintenance discriminators.
    pub fn is_maintenance(self) -> bool {
        self == Self::MAINTENANCE || self == Self::NATIONAL_MAINTENANCE
    }
}

/// A call reference (octets 2-4): length 0 (dummy), 1 or 2 octets, flag, value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CallRef {
    length: u8,
    flag: bool,
    value: u16,
}

impl CallRef {
    /// The dummy call reference (length 0), used by some Q.932 procedures only.
    pub const DUMMY: Self = Self {
        length: 0,
        flag: false,
        value: 0,
    };

    /// A two-octet (PRI) call reference; the value is cut to 15 bits.
    ///
    /// `flag` is the call reference flag: `false` in messages sent by the side
    /// that chose the value, `true` in messages sent towards it.
    pub fn new(value: u16, flag: bool) -> Self {
        Self {
            length: 2,
            flag,
            value: value & 0x7FFF,
        }
    }

    /// A one-octet (basic rate) call reference; the value is cut to 7 bits.
    pub fn one_octet(value: u8, flag: bool) -> Self {
        Self {
            length: 1,
            flag,
            value: u16::from(value & 0x7F),
        }
    }

    /// The global call reference (CRV 0) used by RESTART, RESTART ACKNOWLEDGE,
    /// STATUS and SERVICE.
    pub fn global(flag: bool) -> Self {
        Self::new(0, flag)
    }

    /// The length in octets (0, 1 or 2).
    pub fn length(self) -> u8 {
        self.length
    }

    /// The call reference flag.
    pub fn flag(self) -> bool {
        self.flag
    }

    /// The call reference value.
    pub fn value(self) -> u16 {
        self.value
    }

    /// Whether this is the global call reference (value 0, length > 0).
    pub fn is_global(self) -> bool {
        self.length > 0 && self.value == 0
    }

    /// Whether this is the dummy call reference.
    pub fn is_dummy(self) -> bool {
        self.length == 0
    }

    /// The call reference to answer with: the same value, the flag inverted.
    pub fn reply(self) -> Self {
        if self.is_dummy() {
            self
        } else {
            Self {
                flag: !self.flag,
                ..self
            }
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        out.push(self.length);
        let flag = u8::from(self.flag) << 7;
        match self.length {
            1 => out.push(flag | (self.value as u8 & 0x7F)),
            2 => out.extend_from_slice(&[flag | (self.value >> 8) as u8 & 0x7F, self.value as u8]),
            _ => {}
        }
    }
}

impl fmt::Display for CallRef {
    /// Cisco style: `0x0001` from the originating side, `0x8001` towards it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = u16::from(self.flag);
        match self.length {
            0 => f.write_str("(dummy)"),
            1 => write!(f, "0x{:02X}", flag << 7 | self.value),
            _ => write!(f, "0x{:04X}", flag << 15 | self.value),
        }
    }
}

/// A message type (octet 5). The same value names different messages under the
/// maintenance discriminators; see [`MessageType::name`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageType(pub u8);

impl MessageType {
    /// `00` escape to nationally specific message types.
    pub const ESCAPE: Self = Self(0x00);
    /// `01` ALERTING.
    pub const ALERTING: Self = Self(0x01);
    /// `02` CALL PROCEEDING.
    pub const CALL_PROCEEDING: Self = Self(0x02);
    /// `03` PROGRESS.
    pub const PROGRESS: Self = Self(0x03);
    /// `05` SETUP.
    pub const SETUP: Self = Self(0x05);
    /// `07` CONNECT.
    pub const CONNECT: Self = Self(0x07);
    /// `0D` SETUP ACKNOWLEDGE.
    pub const SETUP_ACKNOWLEDGE: Self = Self(0x0D);
    /// `0F` CONNECT ACKNOWLEDGE.
    pub const CONNECT_ACKNOWLEDGE: Self = Self(0x0F);
    /// `20` USER INFORMATION.
    pub const USER_INFORMATION: Self = Self(0x20);
    /// `21` SUSPEND REJECT.
    pub const SUSPEND_REJECT: Self = Self(0x21);
    /// `22` RESUME REJECT.
    pub const RESUME_REJECT: Self = Self(0x22);
    /// `25` SUSPEND.
    pub const SUSPEND: Self = Self(0x25);
    /// `26` RESUME.
    pub const RESUME: Self = Self(0x26);
    /// `2D` SUSPEND ACKNOWLEDGE.
    pub const SUSPEND_ACKNOWLEDGE: Self = Self(0x2D);
    /// `2E` RESUME ACKNOWLEDGE.
    pub const RESUME_ACKNOWLEDGE: Self = Self(0x2E);
    /// `45` DISCONNECT.
    pub const DISCONNECT: Self = Self(0x45);
    /// `46` RESTART.
    pub const RESTART: Self = Self(0x46);
    /// `4D` RELEASE.
    pub const RELEASE: Self = Self(0x4D);
    /// `4E` RESTART ACKNOWLEDGE.
    pub const RESTART_ACKNOWLEDGE: Self = Self(0x4E);
    /// `5A` RELEASE COMPLETE.
    pub const RELEASE_COMPLETE: Self = Self(0x5A);
    /// `60` SEGMENT.
    pub const SEGMENT: Self = Self(0x60);
    /// `62` FACILITY (Q.932).
    pub const FACILITY: Self = Self(0x62);
    /// `64` REGISTER (Q.932).
    pub const REGISTER: Self = Self(0x64);
    /// `6E` NOTIFY.
    pub const NOTIFY: Self = Self(0x6E);
    /// `75` STATUS ENQUIRY.
    pub const STATUS_ENQUIRY: Self = Self(0x75);
    /// `79` CONGESTION CONTROL.
    pub const CONGESTION_CONTROL: Self = Self(0x79);
    /// `7B` INFORMATION.
    pub const INFORMATION: Self = Self(0x7B);
    /// `7D` STATUS.
    pub const STATUS: Self = Self(0x7D);

    /// `0F` SERVICE under discriminator `03` (AT&T, DMS-100; as Wireshark decodes it).
    pub const SERVICE: Self = Self(0x0F);
    /// `07` SERVICE ACKNOWLEDGE under discriminator `03`.
    pub const SERVICE_ACKNOWLEDGE: Self = Self(0x07);
    /// `07` SERVICE under discriminator `43` (NI-2), as libpri defines it.
    pub const NATIONAL_SERVICE: Self = Self(0x07);
    /// `0F` SERVICE ACKNOWLEDGE under discriminator `43` (NI-2), as libpri defines it.
    pub const NATIONAL_SERVICE_ACKNOWLEDGE: Self = Self(0x0F);

    /// The message name under the given discriminator, or `None` for a type we do
    /// not know there (cause 97).
    pub fn name(self, protocol: ProtocolDiscriminator) -> Option<&'static str> {
        match protocol {
            ProtocolDiscriminator::Q931 => self.call_control_name(),
            ProtocolDiscriminator::MAINTENANCE => match self {
                Self::SERVICE => Some("SERVICE"),
                Self::SERVICE_ACKNOWLEDGE => Some("SERVICE ACKNOWLEDGE"),
                _ => None,
            },
            ProtocolDiscriminator::NATIONAL_MAINTENANCE => match self {
                Self::NATIONAL_SERVICE => Some("SERVICE"),
                Self::NATIONAL_SERVICE_ACKNOWLEDGE => Some("SERVICE ACKNOWLEDGE"),
                _ => None,
            },
            _ => None,
        }
    }

    fn call_control_name(self) -> Option<&'static str> {
        Some(match self {
            Self::ESCAPE => "ESCAPE",
            Self::ALERTING => "ALERTING",
            Self::CALL_PROCEEDING => "CALL_PROC",
            Self::PROGRESS => "PROGRESS",
            Self::SETUP => "SETUP",
            Self::CONNECT => "CONNECT",
            Self::SETUP_ACKNOWLEDGE => "SETUP_ACK",
            Self::CONNECT_ACKNOWLEDGE => "CONNECT_ACK",
            Self::USER_INFORMATION => "USER_INFORMATION",
            Self::SUSPEND_REJECT => "SUSPEND_REJ",
            Self::RESUME_REJECT => "RESUME_REJ",
            Self::SUSPEND => "SUSPEND",
            Self::RESUME => "RESUME",
            Self::SUSPEND_ACKNOWLEDGE => "SUSPEND_ACK",
            Self::RESUME_ACKNOWLEDGE => "RESUME_ACK",
            Self::DISCONNECT => "DISCONNECT",
            Self::RESTART => "RESTART",
            Self::RELEASE => "RELEASE",
            Self::RESTART_ACKNOWLEDGE => "RESTART_ACK",
            Self::RELEASE_COMPLETE => "RELEASE_COMP",
            Self::SEGMENT => "SEGMENT",
            Self::FACILITY => "FACILITY",
            Self::REGISTER => "REGISTER",
            Self::NOTIFY => "NOTIFY",
            Self::STATUS_ENQUIRY => "STATUS_ENQ",
            Self::CONGESTION_CONTROL => "CONGESTION_CONTROL",
            Self::INFORMATION => "INFORMATION",
            Self::STATUS => "STATUS",
            _ => return None,
        })
    }
}

/// Why a received octet string is not a usable message.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than protocol discriminator + call reference + message type: drop.
    #[error("message shorter than its header")]
    Truncated,
    /// A discriminator that is neither call control nor maintenance: ignore (5.8.1).
    #[error("protocol discriminator 0x{:02X} is not ours", .0.0)]
    UnknownProtocol(ProtocolDiscriminator),
    /// Call reference octet 2 with bits 8-5 set or a length we do not support: ignore.
    #[error("call reference length octet 0x{0:02X} is invalid")]
    InvalidCallReference(u8),
    /// The peer sent a message type we do not know (cause 97).
    #[error("call {call_ref}: message type 0x{:02X} non-existent or not implemented", .message_type.0)]
    UnknownMessageType {
        /// The call it was sent on.
        call_ref: CallRef,
        /// The discriminator it came with.
        protocol: ProtocolDiscriminator,
        /// The unknown type.
        message_type: MessageType,
    },
    /// The peer's element runs past the end of the message (cause 100).
    #[error("call {call_ref}: {ie} runs past the end of the message")]
    IeTruncated {
        /// The call it was sent on.
        call_ref: CallRef,
        /// The message type.
        message_type: MessageType,
        /// The element whose length is wrong.
        ie: IeId,
    },
    /// The peer left out an element the message type requires (cause 96).
    #[error("call {call_ref}: mandatory {ie} missing")]
    MandatoryIeMissing {
        /// The call it was sent on.
        call_ref: CallRef,
        /// The message type.
        message_type: MessageType,
        /// The missing element.
        ie: IeId,
    },
    /// The peer sent a codeset 0 element we do not know whose identifier says
    /// "comprehension required" (`00`-`0F`): treated as a missing mandatory
    /// element (cause 96, Q.931 5.8.7.1).
    #[error("call {call_ref}: unrecognized comprehension-required {ie}")]
    ComprehensionRequired {
        /// The call it was sent on.
        call_ref: CallRef,
        /// The message type.
        message_type: MessageType,
        /// The unrecognized element.
        ie: IeId,
    },
    /// The peer's mandatory element has contents we cannot accept (cause 100).
    #[error("call {call_ref}: invalid contents in mandatory {ie}: {reason}")]
    InvalidIeContents {
        /// The call it was sent on.
        call_ref: CallRef,
        /// The message type.
        message_type: MessageType,
        /// The element at fault.
        ie: IeId,
        /// What is wrong with it.
        reason: IeError,
    },
}

impl DecodeError {
    /// The cause to answer with, or `None` when the message must be dropped silently.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Self::Truncated | Self::UnknownProtocol(_) | Self::InvalidCallReference(_) => None,
            Self::UnknownMessageType { .. } => Some(Cause::MESSAGE_TYPE_NON_EXISTENT),
            Self::MandatoryIeMissing { .. } | Self::ComprehensionRequired { .. } => {
                Some(Cause::MANDATORY_IE_MISSING)
            }
            Self::IeTruncated { .. } | Self::InvalidIeContents { .. } => {
                Some(Cause::INVALID_IE_CONTENTS)
            }
        }
    }

    /// The call reference and message type of the offending message, when the
    /// header was readable.
    pub fn context(&self) -> Option<(CallRef, MessageType)> {
        match *self {
            Self::Truncated | Self::UnknownProtocol(_) | Self::InvalidCallReference(_) => None,
            Self::UnknownMessageType {
                call_ref,
                message_type,
                ..
            }
            | Self::IeTruncated {
                call_ref,
                message_type,
                ..
            }
            | Self::MandatoryIeMissing {
                call_ref,
                message_type,
                ..
            }
            | Self::ComprehensionRequired {
                call_ref,
                message_type,
                ..
            }
            | Self::InvalidIeContents {
                call_ref,
                message_type,
                ..
            } => Some((call_ref, message_type)),
        }
    }

    /// The call reference of the offending message, when the header was readable.
    pub fn call_ref(&self) -> Option<CallRef> {
        self.context().map(|(call_ref, _)| call_ref)
    }

    /// The message type of the offending message, when the header was readable.
    pub fn message_type(&self) -> Option<MessageType> {
        self.context().map(|(_, message_type)| message_type)
    }

    /// The diagnostic Q.850 asks for: the element identifier for 96 and 100, the
    /// message type for 97.
    pub fn diagnostic(&self) -> Option<u8> {
        match self {
            Self::Truncated | Self::UnknownProtocol(_) | Self::InvalidCallReference(_) => None,
            Self::UnknownMessageType { message_type, .. } => Some(message_type.0),
            Self::IeTruncated { ie, .. }
            | Self::MandatoryIeMissing { ie, .. }
            | Self::ComprehensionRequired { ie, .. }
            | Self::InvalidIeContents { ie, .. } => Some(ie.0),
        }
    }

    /// The cause element to put in the answer (STATUS or RELEASE COMPLETE).
    pub fn cause_ie(&self, location: Location) -> Option<CauseIe> {
        let cause = CauseIe::new(location, self.cause()?);
        Some(match self.diagnostic() {
            Some(d) => cause.with_diagnostics([d]),
            None => cause,
        })
    }
}

/// Mandatory elements per message type, at most two (reference section 6; libpri
/// enforces the same set). Elements that are mandatory only in some states or directions
/// ("channel identification if first response to SETUP", "cause if first
/// clearing message") are left to the call control.
fn mandatory_ies(protocol: ProtocolDiscriminator, message_type: MessageType) -> &'static [IeId] {
    if protocol.is_maintenance() {
        return &[IeId::CHANGE_STATUS, IeId::CHANNEL_ID];
    }
    match message_type {
        MessageType::SETUP => &[IeId::BEARER_CAPABILITY, IeId::CHANNEL_ID],
        MessageType::PROGRESS => &[IeId::PROGRESS_INDICATOR],
        MessageType::DISCONNECT => &[IeId::CAUSE],
        MessageType::NOTIFY => &[IeId::NOTIFICATION_INDICATOR],
        MessageType::STATUS => &[IeId::CAUSE, IeId::CALL_STATE],
        MessageType::RESTART | MessageType::RESTART_ACKNOWLEDGE => &[IeId::RESTART_INDICATOR],
        MessageType::FACILITY => &[IeId::FACILITY],
        _ => &[],
    }
}

/// Element slots allocated up front: a PRI SETUP has five to eight elements.
const INITIAL_IES: usize = 8;

/// A Q.931 message: header plus every element in wire order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// Protocol discriminator.
    pub protocol: ProtocolDiscriminator,
    /// Call reference.
    pub call_ref: CallRef,
    /// Message type.
    pub message_type: MessageType,
    ies: Vec<Ie>,
    /// Octets after an ESCAPE message type, kept opaque (national coding).
    national: Vec<u8>,
    locked: Codeset,
    pending: Option<Codeset>,
}

impl Message {
    /// An empty call-control message (discriminator `08`).
    pub fn new(call_ref: CallRef, message_type: MessageType) -> Self {
        Self::with_protocol(ProtocolDiscriminator::Q931, call_ref, message_type)
    }

    /// An empty message under any discriminator.
    pub fn with_protocol(
        protocol: ProtocolDiscriminator,
        call_ref: CallRef,
        message_type: MessageType,
    ) -> Self {
        Self {
            protocol,
            call_ref,
            message_type,
            ies: Vec::with_capacity(INITIAL_IES),
            national: Vec::new(),
            locked: Codeset::ITU,
            pending: None,
        }
    }

    /// Decodes and checks a message: framing, comprehension-required elements and
    /// the mandatory elements of its type.
    pub fn decode(octets: &[u8]) -> Result<Self, DecodeError> {
        let message = Self::decode_unchecked(octets)?;
        message.check()?;
        Ok(message)
    }

    /// Decodes the framing only (header and element boundaries), without the
    /// per-type checks of [`Message::check`]; for `line watch` and for answering
    /// a broken message with what it did contain.
    pub fn decode_unchecked(octets: &[u8]) -> Result<Self, DecodeError> {
        let (&pd, rest) = octets.split_first().ok_or(DecodeError::Truncated)?;
        let protocol = ProtocolDiscriminator(pd);
        if protocol != ProtocolDiscriminator::Q931 && !protocol.is_maintenance() {
            return Err(DecodeError::UnknownProtocol(protocol));
        }
        let (&cr_len, rest) = rest.split_first().ok_or(DecodeError::Truncated)?;
        if cr_len & 0xF0 != 0 || cr_len > 2 {
            return Err(DecodeError::InvalidCallReference(cr_len));
        }
        let (cr, rest) = rest
            .split_at_checked(usize::from(cr_len))
            .ok_or(DecodeError::Truncated)?;
        let call_ref = match *cr {
            [] => CallRef::DUMMY,
            [a] => CallRef::one_octet(a, a & 0x80 != 0),
            [a, b] => CallRef::new(u16::from(a) << 8 | u16::from(b), a & 0x80 != 0),
            _ => return Err(DecodeError::InvalidCallReference(cr_len)),
        };
        let (&mt, rest) = rest.split_first().ok_or(DecodeError::Truncated)?;
        let message_type = MessageType(mt);
        let mut message = Self::with_protocol(protocol, call_ref, message_type);
        if message_type == MessageType::ESCAPE && protocol == ProtocolDiscriminator::Q931 {
            message.national = rest.to_vec();
            return Ok(message);
        }
        let mut rest = rest;
        while let Some((&octet, tail)) = rest.split_first() {
            let active = message.pending.unwrap_or(message.locked);
            if octet & 0x80 != 0 {
                message.note_single(octet);
                message.ies.push(Ie::single(active, octet));
                rest = tail;
                continue;
            }
            let truncated = || DecodeError::IeTruncated {
                call_ref,
                message_type,
                ie: IeId(octet),
            };
            let (&len, tail) = tail.split_first().ok_or_else(truncated)?;
            let len = usize::from(len);
            let next = tail.get(len..).ok_or_else(truncated)?;
            message.pending = None;
            message.ies.push(Ie::from_wire(active, octet, tail, len));
            rest = next;
        }
        Ok(message)
    }

    /// Updates the codeset state for a single-octet element.
    fn note_single(&mut self, octet: u8) {
        match Shift::from_octet(octet) {
            // Only shifts to a higher codeset lock (Q.931 4.5.3); a locking shift to
            // the same or a lower codeset is kept on the wire but changes nothing.
            Some(Shift::Locking(c)) => {
                self.pending = None;
                if c > self.locked {
                    self.locked = c;
                }
            }
            Some(Shift::NonLocking(c)) => self.pending = Some(c),
            None => self.pending = None,
        }
    }

    /// Checks what [`Message::decode`] checks beyond the framing: a known message
    /// type, no unrecognized comprehension-required element, and every mandatory
    /// element present with valid contents.
    pub fn check(&self) -> Result<(), DecodeError> {
        let call_ref = self.call_ref;
        let message_type = self.message_type;
        if message_type.name(self.protocol).is_none() {
            return Err(DecodeError::UnknownMessageType {
                call_ref,
                protocol: self.protocol,
                message_type,
            });
        }
        // One pass: comprehension-required elements, and the first occurrence of
        // each mandatory element (at most two per message type).
        let mandatory = mandatory_ies(self.protocol, message_type);
        let mut found: [Option<&Ie>; 2] = [None; 2];
        for ie in &self.ies {
            if ie.codeset() != Codeset::ITU || ie.single_octet().is_some() {
                continue;
            }
            let id = ie.id();
            if id.comprehension_required() && !id.is_known() {
                return Err(DecodeError::ComprehensionRequired {
                    call_ref,
                    message_type,
                    ie: id,
                });
            }
            for (slot, wanted) in found.iter_mut().zip(mandatory) {
                if slot.is_none() && *wanted == id {
                    *slot = Some(ie);
                }
            }
        }
        for (slot, &ie) in found.iter().zip(mandatory) {
            if slot.is_none() {
                return Err(DecodeError::MandatoryIeMissing {
                    call_ref,
                    message_type,
                    ie,
                });
            }
        }
        for (slot, &id) in found.iter().zip(mandatory) {
            if let Some(Err(reason)) = slot.and_then(|ie| ie::validate(id, ie.contents())) {
                return Err(DecodeError::InvalidIeContents {
                    call_ref,
                    message_type,
                    ie: id,
                    reason,
                });
            }
        }
        // RESTART of "indicated channels" names them in a channel identification.
        if matches!(
            message_type,
            MessageType::RESTART | MessageType::RESTART_ACKNOWLEDGE
        ) && self.protocol == ProtocolDiscriminator::Q931
            && self.restart_indicator().map(|r| r.class) == Some(RestartClass::INDICATED_CHANNELS)
        {
            match self.get::<ChannelId>(IeId::CHANNEL_ID) {
                None => {
                    return Err(DecodeError::MandatoryIeMissing {
                        call_ref,
                        message_type,
                        ie: IeId::CHANNEL_ID,
                    });
                }
                Some(Err(reason)) => {
                    return Err(DecodeError::InvalidIeContents {
                        call_ref,
                        message_type,
                        ie: IeId::CHANNEL_ID,
                        reason,
                    });
                }
                Some(Ok(_)) => {}
            }
        }
        Ok(())
    }

    /// The message on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// The message on the wire as [`bytes::Bytes`], for LAPD's transmit queue.
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(self.encode())
    }

    /// Appends the message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        self.call_ref.encode(out);
        out.push(self.message_type.0);
        out.extend_from_slice(&self.national);
        for ie in &self.ies {
            ie.encode(out);
        }
    }

    /// Octets [`Message::encode`] produces (compare with N201 = 260).
    pub fn encoded_len(&self) -> usize {
        2 + usize::from(self.call_ref.length)
            + 1
            + self.national.len()
            + self.ies.iter().map(Ie::encoded_len).sum::<usize>()
    }

    /// The message name, e.g. `SETUP`, or `None` for an unknown type.
    pub fn name(&self) -> Option<&'static str> {
        self.message_type.name(self.protocol)
    }

    // ---- elements -------------------------------------------------------------

    /// Every element, in wire order, shifts included.
    pub fn ies(&self) -> &[Ie] {
        &self.ies
    }

    /// Octets following an ESCAPE message type (empty otherwise).
    pub fn national_contents(&self) -> &[u8] {
        &self.national
    }

    /// The first codeset 0 element `id` (later duplicates are ignored, Q.931 5.8.7).
    pub fn find(&self, id: IeId) -> Option<&Ie> {
        self.ies.iter().find(|ie| ie.is(id))
    }

    /// Every codeset 0 element `id` (for elements a message may repeat).
    pub fn find_all(&self, id: IeId) -> impl Iterator<Item = &Ie> {
        self.ies.iter().filter(move |ie| ie.is(id))
    }

    /// The first codeset 0 element `id`, decoded; `None` if absent.
    pub fn get<T: IeCodec>(&self, id: IeId) -> Option<Result<T, IeError>> {
        self.find(id).map(Ie::decode)
    }

    fn typed<T: IeCodec>(&self, id: IeId) -> Option<T> {
        self.get(id).and_then(Result::ok)
    }

    /// Elements a receiver does not know: other codesets, and codeset 0
    /// identifiers this codec does not decode (candidates for STATUS cause 99).
    pub fn unrecognized_ies(&self) -> impl Iterator<Item = &Ie> {
        self.ies.iter().filter(|ie| {
            ie.single_octet().is_none() && (ie.codeset() != Codeset::ITU || !ie.id().is_known())
        })
    }

    /// Known codeset 0 elements whose contents do not decode, with the reason
    /// (optional ones do not fail [`Message::decode`]; STATUS cause 100 may report them).
    pub fn invalid_ies(&self) -> impl Iterator<Item = (IeId, IeError)> + '_ {
        self.ies
            .iter()
            .filter(|ie| ie.codeset() == Codeset::ITU)
            .filter_map(|ie| match ie::validate(ie.id(), ie.contents()) {
                Some(Err(e)) if ie.single_octet().is_none() => Some((ie.id(), e)),
                _ => None,
            })
    }

    /// Bearer capability, if present and valid.
    pub fn bearer_capability(&self) -> Option<BearerCapability> {
        self.typed(IeId::BEARER_CAPABILITY)
    }

    /// Channel identification, if present and valid.
    pub fn channel_id(&self) -> Option<ChannelId> {
        self.typed(IeId::CHANNEL_ID)
    }

    /// Cause, if present and valid.
    pub fn cause(&self) -> Option<CauseIe> {
        self.typed(IeId::CAUSE)
    }

    /// Call state, if present and valid.
    pub fn call_state(&self) -> Option<CallState> {
        self.typed::<CallStateIe>(IeId::CALL_STATE).map(|s| s.state)
    }

    /// The first progress indicator, if present and valid.
    pub fn progress_indicator(&self) -> Option<ProgressIndicator> {
        self.typed(IeId::PROGRESS_INDICATOR)
    }

    /// Every valid progress indicator (SETUP and others may carry two).
    pub fn progress_indicators(&self) -> impl Iterator<Item = ProgressIndicator> + '_ {
        self.find_all(IeId::PROGRESS_INDICATOR)
            .filter_map(|ie| ie.decode().ok())
    }

    /// Calling party number, if present and valid.
    pub fn calling_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::CALLING_PARTY_NUMBER)
    }

    /// Called party number, if present and valid.
    pub fn called_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::CALLED_PARTY_NUMBER)
    }

    /// Connected number, if present and valid.
    pub fn connected_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::CONNECTED_NUMBER)
    }

    /// Redirecting number, if present and valid.
    pub fn redirecting_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::REDIRECTING_NUMBER)
    }

    /// Redirection number, if present and valid.
    pub fn redirection_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::REDIRECTION_NUMBER)
    }

    /// Original called number (North American), if present and valid.
    pub fn original_called_number(&self) -> Option<PartyNumber> {
        self.typed(IeId::ORIGINAL_CALLED_NUMBER)
    }

    /// Display, if present.
    pub fn display(&self) -> Option<Display> {
        self.typed(IeId::DISPLAY)
    }

    /// Restart indicator, if present and valid.
    pub fn restart_indicator(&self) -> Option<RestartIndicator> {
        self.typed(IeId::RESTART_INDICATOR)
    }

    /// Notification indicator, if present and valid.
    pub fn notification_indicator(&self) -> Option<NotificationIndicator> {
        self.typed(IeId::NOTIFICATION_INDICATOR)
    }

    /// Date/time, if present and valid.
    pub fn date_time(&self) -> Option<DateTime> {
        self.typed(IeId::DATE_TIME)
    }

    /// Signal, if present.
    pub fn signal(&self) -> Option<Signal> {
        self.typed(IeId::SIGNAL)
    }

    /// Keypad facility, if present and valid.
    pub fn keypad(&self) -> Option<Keypad> {
        self.typed(IeId::KEYPAD_FACILITY)
    }

    /// Change status (SERVICE), if present.
    pub fn change_status(&self) -> Option<ChangeStatus> {
        self.typed(IeId::CHANGE_STATUS)
    }

    /// High layer compatibility, if present and valid.
    pub fn high_layer_compatibility(&self) -> Option<HighLayerCompatibility> {
        self.typed(IeId::HIGH_LAYER_COMPATIBILITY)
    }

    /// Low layer compatibility, if present.
    pub fn low_layer_compatibility(&self) -> Option<LowLayerCompatibility> {
        self.typed(IeId::LOW_LAYER_COMPATIBILITY)
    }

    /// Calling party subaddress, if present.
    pub fn calling_subaddress(&self) -> Option<Subaddress> {
        self.typed(IeId::CALLING_PARTY_SUBADDRESS)
    }

    /// Called party subaddress, if present.
    pub fn called_subaddress(&self) -> Option<Subaddress> {
        self.typed(IeId::CALLED_PARTY_SUBADDRESS)
    }

    /// Transit network selection, if present and valid.
    pub fn transit_network_selection(&self) -> Option<TransitNetworkSelection> {
        self.typed(IeId::TRANSIT_NETWORK_SELECTION)
    }

    /// Network-specific facilities, if present and valid.
    pub fn network_specific_facilities(&self) -> Option<NetworkSpecificFacilities> {
        self.typed(IeId::NETWORK_SPECIFIC_FACILITIES)
    }

    /// Facility, if present.
    pub fn facility(&self) -> Option<Facility> {
        self.typed(IeId::FACILITY)
    }

    /// User-user, if present.
    pub fn user_user(&self) -> Option<UserUser> {
        self.typed(IeId::USER_USER)
    }

    fn has_single(&self, id: IeId) -> bool {
        self.ies
            .iter()
            .any(|ie| ie.single_octet().is_some() && ie.id() == id)
    }

    fn single_value(&self, id: IeId) -> Option<u8> {
        self.ies
            .iter()
            .find(|ie| ie.single_octet().is_some() && ie.id() == id)
            .and_then(Ie::single_octet)
            .map(|o| o & 0x0F)
    }

    /// Whether sending complete (`A1`) is present.
    pub fn sending_complete(&self) -> bool {
        self.has_single(IeId::SENDING_COMPLETE)
    }

    /// Whether more data (`A0`) is present.
    pub fn more_data(&self) -> bool {
        self.has_single(IeId::MORE_DATA)
    }

    /// Congestion level (`Bx`), if present.
    pub fn congestion_level(&self) -> Option<u8> {
        self.single_value(IeId::CONGESTION_LEVEL)
    }

    /// Repeat indicator (`Dx`), if present.
    pub fn repeat_indicator(&self) -> Option<u8> {
        self.single_value(IeId::REPEAT_INDICATOR)
    }

    // ---- building -------------------------------------------------------------

    /// Appends an element, inserting a non-locking shift when the element's
    /// codeset is not the active one.
    pub fn push(&mut self, ie: Ie) {
        let active = self.pending.unwrap_or(self.locked);
        if let Some(octet) = ie.single_octet() {
            let ie = Ie::single(active, octet);
            self.note_single(octet);
            self.ies.push(ie);
            return;
        }
        if ie.codeset() != active {
            self.ies
                .push(Ie::shift(active, Shift::NonLocking(ie.codeset())));
        }
        self.pending = None;
        self.ies.push(ie);
    }

    /// Appends a typed codeset 0 element.
    pub fn push_ie<T: IeCodec>(&mut self, id: IeId, value: &T) -> Result<(), EncodeError> {
        self.push(Ie::new(id, value)?);
        Ok(())
    }

    /// Builder form of [`Message::push_ie`].
    pub fn with<T: IeCodec>(mut self, id: IeId, value: &T) -> Result<Self, EncodeError> {
        self.push_ie(id, value)?;
        Ok(self)
    }

    /// Builder form for an optional element.
    pub fn with_opt<T: IeCodec>(self, id: IeId, value: Option<&T>) -> Result<Self, EncodeError> {
        match value {
            Some(v) => self.with(id, v),
            None => Ok(self),
        }
    }

    /// Builder form appending sending complete (`A1`).
    pub fn with_sending_complete(mut self) -> Self {
        self.push(Ie::single(Codeset::ITU, IeId::SENDING_COMPLETE.0));
        self
    }

    /// SETUP from a [`Setup`] (elements in ascending identifier order).
    pub fn setup(call_ref: CallRef, setup: &Setup) -> Result<Self, EncodeError> {
        setup.to_message(call_ref)
    }

    /// CALL PROCEEDING, with the channel when it is the first response to SETUP.
    pub fn call_proceeding(
        call_ref: CallRef,
        channel: Option<&ChannelId>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::CALL_PROCEEDING).with_opt(IeId::CHANNEL_ID, channel)
    }

    /// SETUP ACKNOWLEDGE (overlap receiving).
    pub fn setup_acknowledge(
        call_ref: CallRef,
        channel: Option<&ChannelId>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::SETUP_ACKNOWLEDGE).with_opt(IeId::CHANNEL_ID, channel)
    }

    /// ALERTING, with the channel if first response and a progress indicator
    /// (PI 8 for early media).
    pub fn alerting(
        call_ref: CallRef,
        channel: Option<&ChannelId>,
        progress: Option<&ProgressIndicator>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::ALERTING)
            .with_opt(IeId::CHANNEL_ID, channel)?
            .with_opt(IeId::PROGRESS_INDICATOR, progress)
    }

    /// PROGRESS with its mandatory progress indicator.
    pub fn progress(call_ref: CallRef, progress: &ProgressIndicator) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::PROGRESS).with(IeId::PROGRESS_INDICATOR, progress)
    }

    /// CONNECT, with the channel if first response and the connected number.
    pub fn connect(
        call_ref: CallRef,
        channel: Option<&ChannelId>,
        connected: Option<&PartyNumber>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::CONNECT)
            .with_opt(IeId::CHANNEL_ID, channel)?
            .with_opt(IeId::CONNECTED_NUMBER, connected)
    }

    /// CONNECT ACKNOWLEDGE.
    pub fn connect_acknowledge(call_ref: CallRef) -> Self {
        Self::new(call_ref, MessageType::CONNECT_ACKNOWLEDGE)
    }

    /// DISCONNECT with its cause and an optional progress indicator (PI 8 when an
    /// announcement is played).
    pub fn disconnect(
        call_ref: CallRef,
        cause: &CauseIe,
        progress: Option<&ProgressIndicator>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::DISCONNECT)
            .with(IeId::CAUSE, cause)?
            .with_opt(IeId::PROGRESS_INDICATOR, progress)
    }

    /// RELEASE; the cause is required only when it is the first clearing message.
    pub fn release(call_ref: CallRef, cause: Option<&CauseIe>) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::RELEASE).with_opt(IeId::CAUSE, cause)
    }

    /// RELEASE COMPLETE; the cause is required when it is the first clearing message.
    pub fn release_complete(
        call_ref: CallRef,
        cause: Option<&CauseIe>,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::RELEASE_COMPLETE).with_opt(IeId::CAUSE, cause)
    }

    /// INFORMATION carrying overlap digits, with sending complete after the last.
    pub fn information(
        call_ref: CallRef,
        called: Option<&PartyNumber>,
        sending_complete: bool,
    ) -> Result<Self, EncodeError> {
        let mut m = Self::new(call_ref, MessageType::INFORMATION);
        if sending_complete {
            m = m.with_sending_complete();
        }
        m.with_opt(IeId::CALLED_PARTY_NUMBER, called)
    }

    /// NOTIFY with its notification indicator.
    pub fn notify(
        call_ref: CallRef,
        notification: &NotificationIndicator,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::NOTIFY).with(IeId::NOTIFICATION_INDICATOR, notification)
    }

    /// STATUS ENQUIRY.
    pub fn status_enquiry(call_ref: CallRef) -> Self {
        Self::new(call_ref, MessageType::STATUS_ENQUIRY)
    }

    /// STATUS with cause and our call state.
    pub fn status(
        call_ref: CallRef,
        cause: &CauseIe,
        state: CallState,
    ) -> Result<Self, EncodeError> {
        Self::new(call_ref, MessageType::STATUS)
            .with(IeId::CAUSE, cause)?
            .with(IeId::CALL_STATE, &CallStateIe::new(state))
    }

    /// RESTART on the global call reference; `channel` is required for class
    /// "indicated channels".
    pub fn restart(
        flag: bool,
        indicator: RestartIndicator,
        channel: Option<&ChannelId>,
    ) -> Result<Self, EncodeError> {
        Self::new(CallRef::global(flag), MessageType::RESTART)
            .with_opt(IeId::CHANNEL_ID, channel)?
            .with(IeId::RESTART_INDICATOR, &indicator)
    }

    /// RESTART ACKNOWLEDGE echoing the restart indicator and channel.
    pub fn restart_acknowledge(
        flag: bool,
        indicator: RestartIndicator,
        channel: Option<&ChannelId>,
    ) -> Result<Self, EncodeError> {
        Self::new(CallRef::global(flag), MessageType::RESTART_ACKNOWLEDGE)
            .with_opt(IeId::CHANNEL_ID, channel)?
            .with(IeId::RESTART_INDICATOR, &indicator)
    }

    /// SERVICE (North American maintenance), or `None` for a variant without it.
    pub fn service(
        variant: Variant,
        flag: bool,
        status: ChangeStatus,
        channel: &ChannelId,
    ) -> Option<Result<Self, EncodeError>> {
        Self::maintenance(variant, flag, false, status, channel)
    }

    /// SERVICE ACKNOWLEDGE, or `None` for a variant without SERVICE.
    pub fn service_acknowledge(
        variant: Variant,
        flag: bool,
        status: ChangeStatus,
        channel: &ChannelId,
    ) -> Option<Result<Self, EncodeError>> {
        Self::maintenance(variant, flag, true, status, channel)
    }

    fn maintenance(
        variant: Variant,
        flag: bool,
        acknowledge: bool,
        status: ChangeStatus,
        channel: &ChannelId,
    ) -> Option<Result<Self, EncodeError>> {
        let protocol = variant.maintenance_protocol()?;
        // NI-2 swaps the two codes (libpri's NATIONAL_SERVICE constants).
        let national = protocol == ProtocolDiscriminator::NATIONAL_MAINTENANCE;
        let message_type = match (national, acknowledge) {
            (false, false) => MessageType::SERVICE,
            (false, true) => MessageType::SERVICE_ACKNOWLEDGE,
            (true, false) => MessageType::NATIONAL_SERVICE,
            (true, true) => MessageType::NATIONAL_SERVICE_ACKNOWLEDGE,
        };
        let message = Self::with_protocol(protocol, CallRef::global(flag), message_type)
            .with(IeId::CHANGE_STATUS, &status)
            .and_then(|m| m.with(IeId::CHANNEL_ID, channel));
        Some(message)
    }
}

/// A SETUP, parsed once: what the call control needs, mandatory parts non-optional.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Setup {
    /// Bearer capability (mandatory).
    pub bearer: BearerCapability,
    /// Channel identification (mandatory on PRI).
    pub channel: ChannelId,
    /// Progress indicators (up to two).
    pub progress: Vec<ProgressIndicator>,
    /// Display (network to user).
    pub display: Option<Display>,
    /// Calling party number.
    pub calling: Option<PartyNumber>,
    /// Called party number.
    pub called: Option<PartyNumber>,
    /// Redirecting number.
    pub redirecting: Option<PartyNumber>,
    /// Sending complete: the called number is complete (en-bloc).
    pub sending_complete: bool,
}

impl Setup {
    /// A SETUP with only the mandatory elements.
    pub fn new(bearer: BearerCapability, channel: ChannelId) -> Self {
        Self {
            bearer,
            channel,
            progress: Vec::new(),
            display: None,
            calling: None,
            called: None,
            redirecting: None,
            sending_complete: false,
        }
    }

    /// A voice SETUP coded the way `variant` expects: speech with the variant's
    /// law, calling number screening as the switch wants it, sending complete
    /// for EuroISDN en-bloc dialling.
    pub fn voice(
        variant: Variant,
        channel: ChannelId,
        calling: Option<PartyNumber>,
        called: Option<PartyNumber>,
    ) -> Self {
        let mut channel = channel;
        if !variant.allows_interface_id() {
            channel.interface_id = None;
        }
        Self {
            calling: calling.map(|n| variant.calling_number(n)),
            called,
            sending_complete: variant.sends_sending_complete(),
            ..Self::new(BearerCapability::speech(variant.layer1()), channel)
        }
    }

    /// The SETUP view of a decoded message.
    pub fn from_message(message: &Message) -> Result<Self, DecodeError> {
        let call_ref = message.call_ref;
        let message_type = message.message_type;
        let required = |id: IeId| -> Result<&Ie, DecodeError> {
            message.find(id).ok_or(DecodeError::MandatoryIeMissing {
                call_ref,
                message_type,
                ie: id,
            })
        };
        let invalid = |ie: IeId| {
            move |reason| DecodeError::InvalidIeContents {
                call_ref,
                message_type,
                ie,
                reason,
            }
        };
        let bearer = required(IeId::BEARER_CAPABILITY)?
            .decode()
            .map_err(invalid(IeId::BEARER_CAPABILITY))?;
        let channel = required(IeId::CHANNEL_ID)?
            .decode()
            .map_err(invalid(IeId::CHANNEL_ID))?;
        Ok(Self {
            bearer,
            channel,
            progress: message.progress_indicators().collect(),
            display: message.display(),
            calling: message.calling_number(),
            called: message.called_number(),
            redirecting: message.redirecting_number(),
            sending_complete: message.sending_complete(),
        })
    }

    /// The SETUP message (elements in ascending identifier order, sending complete
    /// last as libpri sends it).
    pub fn to_message(&self, call_ref: CallRef) -> Result<Message, EncodeError> {
        let mut m = Message::new(call_ref, MessageType::SETUP)
            .with(IeId::BEARER_CAPABILITY, &self.bearer)?
            .with(IeId::CHANNEL_ID, &self.channel)?;
        for p in &self.progress {
            m.push_ie(IeId::PROGRESS_INDICATOR, p)?;
        }
        let m = m
            .with_opt(IeId::DISPLAY, self.display.as_ref())?
            .with_opt(IeId::CALLING_PARTY_NUMBER, self.calling.as_ref())?
            .with_opt(IeId::CALLED_PARTY_NUMBER, self.called.as_ref())?
            .with_opt(IeId::REDIRECTING_NUMBER, self.redirecting.as_ref())?;
        Ok(if self.sending_complete {
            m.with_sending_complete()
        } else {
            m
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isdn::q931::ie::{Layer1Protocol, NumberingPlan, TypeOfNumber};

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn header_with_two_octet_call_ref_decodes() {
        let m = Message::decode(&hex("08 02 92 34 5A 08 02 80 D1")).unwrap();
        assert_eq!(m.call_ref, CallRef::new(0x1234, true));
        assert_eq!(m.call_ref.to_string(), "0x9234");
        assert_eq!(m.message_type, MessageType::RELEASE_COMPLETE);
        assert_eq!(
            m.cause().map(|c| c.value),
            Some(Cause::INVALID_CALL_REFERENCE)
        );
    }

    #[test]
    fn dummy_and_one_octet_call_refs_round_trip() {
        for bytes in [hex("08 00 62 1C 01 91"), hex("08 01 85 4D")] {
            let m = Message::decode(&bytes).unwrap();
            assert_eq!(m.encode(), bytes);
        }
        assert!(
            Message::decode(&hex("08 00 62 1C 01 91"))
                .unwrap()
                .call_ref
                .is_dummy()
        );
        let one = Message::decode(&hex("08 01 85 4D")).unwrap().call_ref;
        assert_eq!((one.length(), one.flag(), one.value()), (1, true, 5));
    }

    #[test]
    fn short_or_foreign_headers_are_dropped_without_call_ref() {
        for (bytes, err) in [
            (hex(""), DecodeError::Truncated),
            (hex("08"), DecodeError::Truncated),
            (hex("08 02 00"), DecodeError::Truncated),
            (hex("08 02 00 01"), DecodeError::Truncated),
            (
                hex("09 02 00 01 05"),
                DecodeError::UnknownProtocol(ProtocolDiscriminator(9)),
            ),
            (
                hex("08 12 00 01 05"),
                DecodeError::InvalidCallReference(0x12),
            ),
            (
                hex("08 03 00 00 01 05"),
                DecodeError::InvalidCallReference(0x03),
            ),
        ] {
            let got = Message::decode(&bytes).unwrap_err();
            assert_eq!(got, err);
            assert_eq!(got.cause(), None);
            assert_eq!(got.call_ref(), None);
        }
    }

    #[test]
    fn no_message_type_has_more_than_two_mandatory_ies() {
        for pd in [0x08, 0x03, 0x43] {
            for mt in 0..=255u8 {
                assert!(mandatory_ies(ProtocolDiscriminator(pd), MessageType(mt)).len() <= 2);
            }
        }
    }

    #[test]
    fn many_elements_round_trip() {
        let mut m = Message::new(CallRef::new(9, false), MessageType::INFORMATION);
        for digit in 0..20u8 {
            let keypad = ie::Keypad {
                digits: char::from(b'0' + digit % 10).to_string(),
            };
            m.push_ie(IeId::KEYPAD_FACILITY, &keypad).unwrap();
        }
        assert_eq!(m.ies().len(), 20);
        let bytes = m.encode();
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.keypad().unwrap().digits, "0");
    }

    #[test]
    fn reply_inverts_the_flag() {
        assert_eq!(CallRef::new(0x42, false).reply(), CallRef::new(0x42, true));
        assert_eq!(CallRef::DUMMY.reply(), CallRef::DUMMY);
        assert!(CallRef::global(true).is_global());
    }

    #[test]
    fn setup_builder_matches_the_reference_bytes() {
        let setup = Setup {
            calling: Some(
                PartyNumber::new(TypeOfNumber::SUBSCRIBER, NumberingPlan::ISDN, "5551000")
                    .with_presentation(ie::Presentation::ALLOWED, ie::Screening::USER_NOT_SCREENED),
            ),
            called: Some(PartyNumber::new(
                TypeOfNumber::SUBSCRIBER,
                NumberingPlan::ISDN,
                "5552000",
            )),
            ..Setup::new(
                BearerCapability::speech(Layer1Protocol::G711_MU_LAW),
                ChannelId::exclusive(5),
            )
        };
        let m = Message::setup(CallRef::new(1, false), &setup).unwrap();
        assert_eq!(
            m.encode(),
            hex(
                "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 6C 09 41 80 35 35 35 31 30 30 30 \
                 70 08 C1 35 35 35 32 30 30 30"
            )
        );
        assert_eq!(Setup::from_message(&m).unwrap(), setup);
    }

    #[test]
    fn push_inserts_non_locking_shift_for_other_codesets() {
        let mut m = Message::new(CallRef::new(1, false), MessageType::SETUP);
        m.push(Ie::variable(Codeset::LOCAL_NETWORK, IeId(0x01), vec![0x00]).unwrap());
        m.push(Ie::single(Codeset::ITU, 0xA1));
        assert_eq!(m.encode(), hex("08 02 00 01 05 9E 01 01 00 A1"));
        let back = Message::decode_unchecked(&m.encode()).unwrap();
        assert_eq!(back, m);
    }
}
