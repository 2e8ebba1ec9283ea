//! Q.931 information elements (ITU-T Q.931 clause 4.5; reference
//! `q931-call-control.md` sections 4 and 5).
//!
//! A message keeps every element as it came off the wire ([`Ie`]: codeset,
//! identifier, contents), so unknown and shifted elements survive for logs and
//! for a byte-exact re-encode. The typed structs below are views decoded from
//! those contents on demand ([`IeCodec::decode`]) and the way to build contents
//! for outgoing messages ([`IeCodec::encode`]).
//!
//! ```text
//!  single octet, type 1:  1 | id (3 bits) | value (4 bits)     9x shift, Bx congestion, Dx repeat
//!  single octet, type 2:  1 | 010 | xxxx                       A0 more data, A1 sending complete
//!  variable length:       0 | id (7 bits) | length | contents (octet groups 3, 3a, 4, ...)
//!                         bit 8 of a group octet: 0 = the group continues, 1 = last octet
//! ```
//!
//! Decoders follow the extension bits, never fixed offsets, and ignore trailing
//! octets they do not know; none of them indexes without a bounds check.

use std::borrow::Cow;
use std::fmt;

use super::cause::{Cause, Location};

/// A codeset (Q.931 4.5.2): which table an identifier belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Codeset(pub u8);

impl Codeset {
    /// Codeset 0: ITU-T Q.931 information elements.
    pub const ITU: Self = Self(0);
    /// Codeset 4: ISO/IEC standard elements.
    pub const ISO: Self = Self(4);
    /// Codeset 5: national elements (e.g. ETSI calling party category).
    pub const NATIONAL: Self = Self(5);
    /// Codeset 6: local network elements (e.g. NI-2 originating line information).
    pub const LOCAL_NETWORK: Self = Self(6);
    /// Codeset 7: user-specific elements.
    pub const USER_SPECIFIC: Self = Self(7);
}

/// An information element identifier. Constants are the codeset 0 identifiers
/// (variable-length elements) and the single-octet identifiers (bit 8 set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct IeId(pub u8);

impl IeId {
    /// `00` segmented message.
    pub const SEGMENTED_MESSAGE: Self = Self(0x00);
    /// `01` change status (North American SERVICE messages).
    pub const CHANGE_STATUS: Self = Self(0x01);
    /// `04` bearer capability.
    pub const BEARER_CAPABILITY: Self = Self(0x04);
    /// `08` cause.
    pub const CAUSE: Self = Self(0x08);
    /// `10` call identity.
    pub const CALL_IDENTITY: Self = Self(0x10);
    /// `14` call state.
    pub const CALL_STATE: Self = Self(0x14);
    /// `18` channel identification.
    pub const CHANNEL_ID: Self = Self(0x18);
    /// `1C` facility (Q.932).
    pub const FACILITY: Self = Self(0x1C);
    /// `1E` progress indicator.
    pub const PROGRESS_INDICATOR: Self = Self(0x1E);
    /// `20` network-specific facilities.
    pub const NETWORK_SPECIFIC_FACILITIES: Self = Self(0x20);
    /// `27` notification indicator.
    pub const NOTIFICATION_INDICATOR: Self = Self(0x27);
    /// `28` display.
    pub const DISPLAY: Self = Self(0x28);
    /// `29` date/time.
    pub const DATE_TIME: Self = Self(0x29);
    /// `2C` keypad facility.
    pub const KEYPAD_FACILITY: Self = Self(0x2C);
    /// `34` signal.
    pub const SIGNAL: Self = Self(0x34);
    /// `4C` connected number (Q.951).
    pub const CONNECTED_NUMBER: Self = Self(0x4C);
    /// `6C` calling party number.
    pub const CALLING_PARTY_NUMBER: Self = Self(0x6C);
    /// `6D` calling party subaddress.
    pub const CALLING_PARTY_SUBADDRESS: Self = Self(0x6D);
    /// `70` called party number.
    pub const CALLED_PARTY_NUMBER: Self = Self(0x70);
    /// `71` called party subaddress.
    pub const CALLED_PARTY_SUBADDRESS: Self = Self(0x71);
    /// `73` original called number (North American).
    pub const ORIGINAL_CALLED_NUMBER: Self = Self(0x73);
    /// `74` redirecting number (Q.952).
    pub const REDIRECTING_NUMBER: Self = Self(0x74);
    /// `76` redirection number (Q.952).
    pub const REDIRECTION_NUMBER: Self = Self(0x76);
    /// `78` transit network selection.
    pub const TRANSIT_NETWORK_SELECTION: Self = Self(0x78);
    /// `79` restart indicator.
    pub const RESTART_INDICATOR: Self = Self(0x79);
    /// `7C` low layer compatibility.
    pub const LOW_LAYER_COMPATIBILITY: Self = Self(0x7C);
    /// `7D` high layer compatibility.
    pub const HIGH_LAYER_COMPATIBILITY: Self = Self(0x7D);
    /// `7E` user-user.
    pub const USER_USER: Self = Self(0x7E);
    /// `7F` escape for extension.
    pub const ESCAPE: Self = Self(0x7F);

    /// `9x` shift (single octet, type 1).
    pub const SHIFT: Self = Self(0x90);
    /// `A0` more data (single octet, type 2).
    pub const MORE_DATA: Self = Self(0xA0);
    /// `A1` sending complete (single octet, type 2).
    pub const SENDING_COMPLETE: Self = Self(0xA1);
    /// `Bx` congestion level (single octet, type 1).
    pub const CONGESTION_LEVEL: Self = Self(0xB0);
    /// `Dx` repeat indicator (single octet, type 1).
    pub const REPEAT_INDICATOR: Self = Self(0xD0);

    /// Whether a receiver that does not know this codeset 0 element must treat it as
    /// a missing mandatory element (identifier bits 8-5 = 0000, Q.931 4.5.1).
    pub fn comprehension_required(self) -> bool {
        self.0 & 0xF0 == 0
    }

    /// Whether this codeset 0 identifier is one this codec knows.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// The element's name as `debug isdn q931` prints it, for codeset 0 identifiers.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::CHANGE_STATUS => "Change Status",
            Self::BEARER_CAPABILITY => "Bearer Capability",
            Self::CAUSE => "Cause",
            Self::CALL_IDENTITY => "Call Identity",
            Self::CALL_STATE => "Call State",
            Self::CHANNEL_ID => "Channel ID",
            Self::FACILITY => "Facility",
            Self::PROGRESS_INDICATOR => "Progress Ind",
            Self::NETWORK_SPECIFIC_FACILITIES => "Network-Specific Facilities",
            Self::NOTIFICATION_INDICATOR => "Notification Ind",
            Self::DISPLAY => "Display",
            Self::DATE_TIME => "Date/Time",
            Self::KEYPAD_FACILITY => "Keypad Facility",
            Self::SIGNAL => "Signal",
            Self::CONNECTED_NUMBER => "Connected Number",
            Self::CALLING_PARTY_NUMBER => "Calling Party Number",
            Self::CALLING_PARTY_SUBADDRESS => "Calling Party SubAddr",
            Self::CALLED_PARTY_NUMBER => "Called Party Number",
            Self::CALLED_PARTY_SUBADDRESS => "Called Party SubAddr",
            Self::ORIGINAL_CALLED_NUMBER => "Original Called Number",
            Self::REDIRECTING_NUMBER => "Redirecting Number",
            Self::REDIRECTION_NUMBER => "Redirection Number",
            Self::TRANSIT_NETWORK_SELECTION => "Transit Network Select",
            Self::RESTART_INDICATOR => "Restart Indicator",
            Self::LOW_LAYER_COMPATIBILITY => "Low Layer Compat",
            Self::HIGH_LAYER_COMPATIBILITY => "High Layer Compat",
            Self::USER_USER => "User-User",
            Self::ESCAPE => "Escape",
            _ => return None,
        })
    }
}

impl fmt::Display for IeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "IE 0x{:02X}", self.0),
        }
    }
}

/// A shift element (Q.931 4.5.3, 4.5.4): `9N` locking, `9(8+N)` non-locking.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shift {
    /// Every following element is in this codeset.
    Locking(Codeset),
    /// Only the next element is in this codeset.
    NonLocking(Codeset),
}

impl Shift {
    /// The shift octet.
    pub fn octet(self) -> u8 {
        match self {
            Self::Locking(c) => 0x90 | (c.0 & 0x07),
            Self::NonLocking(c) => 0x98 | (c.0 & 0x07),
        }
    }

    /// Reads a shift octet; `None` for any other octet.
    pub fn from_octet(octet: u8) -> Option<Self> {
        if octet & 0xF0 != 0x90 {
            return None;
        }
        let codeset = Codeset(octet & 0x07);
        Some(if octet & 0x08 != 0 {
            Self::NonLocking(codeset)
        } else {
            Self::Locking(codeset)
        })
    }
}

/// Why an element could not be built for sending.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EncodeError {
    /// The contents do not fit the one-octet length field.
    #[error("{ie}: {len} octets of contents do not fit in one IE (at most 255)")]
    TooLong {
        /// The element being built.
        ie: IeId,
        /// Its contents length.
        len: usize,
    },
    /// The identifier has bit 8 set, which marks a single-octet element.
    #[error("0x{0:02X} is a single-octet identifier, not a variable-length one")]
    NotVariableLength(u8),
    /// The typed value encodes to contents its own decoder rejects (for example
    /// digits that are not IA5).
    #[error("{ie}: the value does not encode to valid contents: {reason}")]
    Invalid {
        /// The element being built.
        ie: IeId,
        /// What its decoder reported.
        reason: IeError,
    },
}

/// Why the contents of one element are invalid (cause 100 when it is mandatory).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum IeError {
    /// The contents end before a required octet group.
    #[error("contents end before octet {octet}")]
    Truncated {
        /// The octet (group) that is missing, as Q.931 numbers it.
        octet: &'static str,
    },
    /// A field holds a value Q.931 does not allow there.
    #[error("octet {octet} holds an invalid value")]
    InvalidValue {
        /// The octet (group) at fault, as Q.931 numbers it.
        octet: &'static str,
    },
    /// Digits or text that must be IA5 have bit 8 set.
    #[error("character octet 0x{0:02X} is not IA5")]
    NotIa5(u8),
}

/// One element of a message, kept exactly as it appeared on the wire.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ie {
    codeset: Codeset,
    /// The whole octet of a single-octet element, or the identifier of a
    /// variable-length one.
    octet: u8,
    /// `None` for single-octet elements.
    contents: Option<Contents>,
}

/// Contents up to this many octets live inside the element: decoding a message
/// then costs one allocation (the element list), whatever its elements.
const INLINE: usize = 22;

/// Element contents, stored inline when short.
#[derive(Clone)]
enum Contents {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Contents {
    fn new(octets: &[u8]) -> Self {
        let mut buf = [0; INLINE];
        match (buf.get_mut(..octets.len()), u8::try_from(octets.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(octets);
                Self::Inline { len, buf }
            }
            _ => Self::Heap(octets.into()),
        }
    }

    /// The `len` octets at the start of `window` (which the caller has checked
    /// holds them). When the window spans a whole inline buffer, that fixed-size
    /// block is copied, which is cheaper than a variable-length copy; only the
    /// first `len` octets are ever exposed.
    fn from_window(window: &[u8], len: usize) -> Self {
        match (window.first_chunk::<INLINE>(), u8::try_from(len)) {
            (Some(block), Ok(short)) if len <= INLINE => Self::Inline {
                len: short,
                buf: *block,
            },
            _ => Self::new(window.get(..len).unwrap_or(window)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Self::Heap(octets) => octets,
        }
    }
}

impl PartialEq for Contents {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Contents {}

impl fmt::Debug for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X?}", self.as_slice())
    }
}

impl Ie {
    /// A single-octet element (bit 8 of `octet` is forced to 1).
    pub fn single(codeset: Codeset, octet: u8) -> Self {
        Self {
            codeset,
            octet: octet | 0x80,
            contents: None,
        }
    }

    /// A shift element.
    pub fn shift(codeset: Codeset, shift: Shift) -> Self {
        Self::single(codeset, shift.octet())
    }

    /// A variable-length element with raw contents.
    pub fn variable(
        codeset: Codeset,
        id: IeId,
        contents: impl AsRef<[u8]>,
    ) -> Result<Self, EncodeError> {
        if id.0 & 0x80 != 0 {
            return Err(EncodeError::NotVariableLength(id.0));
        }
        let contents = contents.as_ref();
        if contents.len() > 255 {
            return Err(EncodeError::TooLong {
                ie: id,
                len: contents.len(),
            });
        }
        Ok(Self {
            codeset,
            octet: id.0,
            contents: Some(Contents::new(contents)),
        })
    }

    /// A codeset 0 element built from a typed value; checks that the value's own
    /// decoder accepts the contents, so what we send is what we would accept.
    pub fn new<T: IeCodec>(id: IeId, value: &T) -> Result<Self, EncodeError> {
        let mut contents = Vec::with_capacity(16);
        value.encode(&mut contents);
        T::decode(&contents).map_err(|reason| EncodeError::Invalid { ie: id, reason })?;
        Self::variable(Codeset::ITU, id, contents)
    }

    /// Internal constructor for the decoder: the contents are already bounded.
    /// `window` starts with the `len` octets of contents and may run on.
    pub(crate) fn from_wire(codeset: Codeset, id: u8, window: &[u8], len: usize) -> Self {
        Self {
            codeset,
            octet: id,
            contents: Some(Contents::from_window(window, len)),
        }
    }

    /// The codeset the element belongs to (after any shift that applied to it).
    pub fn codeset(&self) -> Codeset {
        self.codeset
    }

    /// The identifier: the whole octet for type-2 single-octet elements, the
    /// octet with its value bits cleared for type-1 ones, the identifier octet
    /// for variable-length ones.
    pub fn id(&self) -> IeId {
        match (self.octet, &self.contents) {
            (o, None) if o & 0xF0 == 0xA0 => IeId(o),
            (o, None) => IeId(o & 0xF0),
            (id, Some(_)) => IeId(id),
        }
    }

    /// Whether this is the codeset 0 element `id`.
    pub fn is(&self, id: IeId) -> bool {
        self.codeset == Codeset::ITU && self.id() == id
    }

    /// The octet of a single-octet element.
    pub fn single_octet(&self) -> Option<u8> {
        match self.contents {
            None => Some(self.octet),
            Some(_) => None,
        }
    }

    /// The shift this element performs, if it is a shift.
    pub fn as_shift(&self) -> Option<Shift> {
        self.single_octet().and_then(Shift::from_octet)
    }

    /// The contents of a variable-length element (empty for single-octet ones).
    pub fn contents(&self) -> &[u8] {
        match &self.contents {
            None => &[],
            Some(contents) => contents.as_slice(),
        }
    }

    /// Decodes the contents as a typed value.
    pub fn decode<T: IeCodec>(&self) -> Result<T, IeError> {
        T::decode(self.contents())
    }

    /// Octets this element takes on the wire.
    pub fn encoded_len(&self) -> usize {
        match &self.contents {
            None => 1,
            Some(contents) => 2 + contents.as_slice().len(),
        }
    }

    /// Appends the element's wire octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.contents {
            None => out.push(self.octet),
            Some(contents) => {
                let contents = contents.as_slice();
                out.push(self.octet);
                // Bounded to 255 by every constructor.
                out.push(u8::try_from(contents.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(contents);
            }
        }
    }
}

/// A typed view of an element's contents (octets 3 onwards).
pub trait IeCodec: Sized {
    /// Decodes the contents; never panics, whatever the octets.
    fn decode(contents: &[u8]) -> Result<Self, IeError>;
    /// Appends the contents (not the identifier or length).
    fn encode(&self, out: &mut Vec<u8>);
    /// Checks the contents as [`IeCodec::decode`] would, possibly without
    /// building the value.
    fn validate(contents: &[u8]) -> Result<(), IeError> {
        Self::decode(contents).map(drop)
    }
}

/// Checks the contents of a known codeset 0 element with its typed decoder;
/// `None` for identifiers this codec does not decode (and single-octet ones).
pub fn validate(id: IeId, contents: &[u8]) -> Option<Result<(), IeError>> {
    fn check<T: IeCodec>(contents: &[u8]) -> Option<Result<(), IeError>> {
        Some(T::validate(contents))
    }
    match id {
        IeId::CHANGE_STATUS => check::<ChangeStatus>(contents),
        IeId::BEARER_CAPABILITY => check::<BearerCapability>(contents),
        IeId::CAUSE => check::<CauseIe>(contents),
        IeId::CALL_STATE => check::<CallStateIe>(contents),
        IeId::CHANNEL_ID => check::<ChannelId>(contents),
        IeId::FACILITY => check::<Facility>(contents),
        IeId::PROGRESS_INDICATOR => check::<ProgressIndicator>(contents),
        IeId::NETWORK_SPECIFIC_FACILITIES => check::<NetworkSpecificFacilities>(contents),
        IeId::NOTIFICATION_INDICATOR => check::<NotificationIndicator>(contents),
        IeId::DISPLAY => check::<Display>(contents),
        IeId::DATE_TIME => check::<DateTime>(contents),
        IeId::KEYPAD_FACILITY => check::<Keypad>(contents),
        IeId::SIGNAL => check::<Signal>(contents),
        IeId::CONNECTED_NUMBER
        | IeId::CALLING_PARTY_NUMBER
        | IeId::CALLED_PARTY_NUMBER
        | IeId::ORIGINAL_CALLED_NUMBER
        | IeId::REDIRECTING_NUMBER
        | IeId::REDIRECTION_NUMBER => check::<PartyNumber>(contents),
        IeId::CALLING_PARTY_SUBADDRESS | IeId::CALLED_PARTY_SUBADDRESS => {
            check::<Subaddress>(contents)
        }
        IeId::TRANSIT_NETWORK_SELECTION => check::<TransitNetworkSelection>(contents),
        IeId::RESTART_INDICATOR => check::<RestartIndicator>(contents),
        IeId::LOW_LAYER_COMPATIBILITY => check::<LowLayerCompatibility>(contents),
        IeId::HIGH_LAYER_COMPATIBILITY => check::<HighLayerCompatibility>(contents),
        IeId::USER_USER => check::<UserUser>(contents),
        _ => None,
    }
}

/// Bounds-checked cursor over element contents.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    fn octet(&mut self, octet: &'static str) -> Result<u8, IeError> {
        let (&first, rest) = self.buf.split_first().ok_or(IeError::Truncated { octet })?;
        self.buf = rest;
        Ok(first)
    }

    /// The rest of an octet group after its first octet `first`: the octets up to
    /// and including the one with bit 8 set.
    fn group_tail(&mut self, first: u8, octet: &'static str) -> Result<&'a [u8], IeError> {
        if first & 0x80 != 0 {
            return Ok(&[]);
        }
        match self.buf.iter().position(|o| o & 0x80 != 0) {
            Some(end) => {
                let (group, rest) = self.buf.split_at(end + 1);
                self.buf = rest;
                Ok(group)
            }
            None => Err(IeError::Truncated { octet }),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

fn ia5(octets: &[u8]) -> Result<String, IeError> {
    match octets.iter().find(|o| **o & 0x80 != 0) {
        Some(bad) => Err(IeError::NotIa5(*bad)),
        // All octets are ASCII, so this conversion is lossless.
        None => Ok(octets.iter().map(|o| char::from(*o)).collect()),
    }
}

macro_rules! wire_value {
    ($(#[$doc:meta])* $name:ident { $($(#[$cdoc:meta])* $konst:ident = $val:expr => $text:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
        pub struct $name(pub u8);
        impl $name {
            $($(#[$cdoc])* pub const $konst: Self = Self($val);)*
            /// The name as `debug isdn q931` prints it, or `None` for a value we do not know.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($text),)*
                    _ => None,
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "Reserved (0x{:02X})", self.0),
                }
            }
        }
    };
}

wire_value! {
    /// Coding standard (two bits in many elements).
    CodingStandard {
        /// ITU-T (CCITT) standardized coding.
        ITU_T = 0 => "CCITT",
        /// ISO/IEC standard.
        ISO_IEC = 1 => "ISO/IEC",
        /// National standard.
        NATIONAL = 2 => "National",
        /// Standard defined for the network (either side of the interface).
        NETWORK = 3 => "Network specific",
    }
}

wire_value! {
    /// Information transfer capability (bearer capability octet 3, bits 5-1).
    TransferCapability {
        /// Speech.
        SPEECH = 0x00 => "Speech",
        /// Unrestricted digital information.
        UNRESTRICTED_DIGITAL = 0x08 => "Unrestricted Digital",
        /// Restricted digital information.
        RESTRICTED_DIGITAL = 0x09 => "Restricted Digital",
        /// 3.1 kHz audio.
        AUDIO_3_1_KHZ = 0x10 => "3.1kHz Audio",
        /// Unrestricted digital information with tones/announcements.
        UNRESTRICTED_DIGITAL_WITH_TONES = 0x11 => "Unrestricted Digital with Tones",
        /// Video.
        VIDEO = 0x18 => "Video",
    }
}

wire_value! {
    /// Transfer mode (bearer capability octet 4, bits 7-6).
    TransferMode {
        /// Circuit mode.
        CIRCUIT = 0 => "Circuit",
        /// Packet mode.
        PACKET = 2 => "Packet",
    }
}

wire_value! {
    /// Information transfer rate (bearer capability octet 4, bits 5-1).
    TransferRate {
        /// Packet mode (no rate).
        PACKET_MODE = 0x00 => "Packet mode",
        /// 64 kbit/s.
        KBIT_64 = 0x10 => "64 kbit/s",
        /// 2 x 64 kbit/s.
        KBIT_2X64 = 0x11 => "2x64 kbit/s",
        /// 384 kbit/s.
        KBIT_384 = 0x13 => "384 kbit/s",
        /// 1536 kbit/s.
        KBIT_1536 = 0x15 => "1536 kbit/s",
        /// 1920 kbit/s.
        KBIT_1920 = 0x17 => "1920 kbit/s",
        /// Multirate (64 kbit/s base rate); octet 4.1 carries the multiplier.
        MULTIRATE = 0x18 => "Multirate",
    }
}

wire_value! {
    /// User information layer 1 protocol (bearer capability octet 5, bits 5-1).
    Layer1Protocol {
        /// V.110 / I.460 / X.30 rate adaption.
        V110 = 0x01 => "V.110/I.460/X.30",
        /// G.711 mu-law (T1).
        G711_MU_LAW = 0x02 => "u-law",
        /// G.711 A-law (E1).
        G711_A_LAW = 0x03 => "A-law",
        /// G.721 32 kbit/s ADPCM.
        G721 = 0x04 => "G.721",
        /// H.221 / H.242.
        H221 = 0x05 => "H.221/H.242",
        /// H.223 / H.245.
        H223 = 0x06 => "H.223/H.245",
        /// Non-ITU-T standardized rate adaption.
        NON_ITU = 0x07 => "Non-CCITT rate adaption",
        /// V.120.
        V120 = 0x08 => "V.120",
        /// X.31 HDLC flag stuffing.
        X31 = 0x09 => "X.31",
    }
}

/// Bearer capability (`04`, Q.931 4.5.5): what the call carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BearerCapability {
    /// Coding standard (octet 3).
    pub coding_standard: CodingStandard,
    /// Information transfer capability (octet 3).
    pub transfer_capability: TransferCapability,
    /// Transfer mode (octet 4).
    pub transfer_mode: TransferMode,
    /// Information transfer rate (octet 4).
    pub rate: TransferRate,
    /// Rate multiplier (octet 4.1), present with [`TransferRate::MULTIRATE`].
    pub rate_multiplier: Option<u8>,
    /// User information layer 1 protocol (octet 5); absent in some old 4ESS SETUPs.
    pub layer1: Option<Layer1Protocol>,
    /// Octets 5a.. as received (user rate, negotiation...), extension bits included.
    pub layer1_options: Vec<u8>,
    /// Octets 6 and 7 (layer 2/3 identification) as received.
    pub higher_layers: Vec<u8>,
}

impl BearerCapability {
    /// Circuit-mode 64 kbit/s with the given capability and layer-1 law.
    pub fn circuit(capability: TransferCapability, layer1: Layer1Protocol) -> Self {
        Self {
            coding_standard: CodingStandard::ITU_T,
            transfer_capability: capability,
            transfer_mode: TransferMode::CIRCUIT,
            rate: TransferRate::KBIT_64,
            rate_multiplier: None,
            layer1: Some(layer1),
            layer1_options: Vec::new(),
            higher_layers: Vec::new(),
        }
    }

    /// Speech, circuit mode, 64 kbit/s, with the given law (`04 03 80 90 A2` for mu-law).
    pub fn speech(layer1: Layer1Protocol) -> Self {
        Self::circuit(TransferCapability::SPEECH, layer1)
    }

    /// Unrestricted digital information, 64 kbit/s, no octet 5 (`04 02 88 90`).
    pub fn unrestricted_digital() -> Self {
        Self {
            layer1: None,
            ..Self::circuit(
                TransferCapability::UNRESTRICTED_DIGITAL,
                Layer1Protocol::V110,
            )
        }
    }

    /// Whether a voice gateway can carry this call (speech or 3.1 kHz audio).
    pub fn is_voice(&self) -> bool {
        matches!(
            self.transfer_capability,
            TransferCapability::SPEECH | TransferCapability::AUDIO_3_1_KHZ
        )
    }
}

impl BearerCapability {
    /// Parses the element without copying: returns it with the two octet lists
    /// empty, plus the raw octets 5a.. and 6.. they would hold.
    fn parse(contents: &[u8]) -> Result<(Self, &[u8], &[u8]), IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3a")?;
        let o4 = r.octet("4")?;
        r.group_tail(o4, "4a")?;
        let rate = TransferRate(o4 & 0x1F);
        let rate_multiplier = if rate == TransferRate::MULTIRATE {
            Some(r.octet("4.1")? & 0x7F)
        } else {
            None
        };
        let mut layer1 = None;
        let mut options: &[u8] = &[];
        if let Some(o5) = r.peek().filter(|o| o & 0x60 == 0x20) {
            r.octet("5")?;
            layer1 = Some(Layer1Protocol(o5 & 0x1F));
            options = r.group_tail(o5, "5a")?;
        }
        let bc = Self {
            coding_standard: CodingStandard((o3 >> 5) & 0x03),
            transfer_capability: TransferCapability(o3 & 0x1F),
            transfer_mode: TransferMode((o4 >> 5) & 0x03),
            rate,
            rate_multiplier,
            layer1,
            layer1_options: Vec::new(),
            higher_layers: Vec::new(),
        };
        Ok((bc, options, r.rest()))
    }
}

fn owned(octets: &[u8]) -> Vec<u8> {
    if octets.is_empty() {
        Vec::new()
    } else {
        octets.to_vec()
    }
}

impl IeCodec for BearerCapability {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let (mut bc, options, higher) = Self::parse(contents)?;
        bc.layer1_options = owned(options);
        bc.higher_layers = owned(higher);
        Ok(bc)
    }

    fn validate(contents: &[u8]) -> Result<(), IeError> {
        Self::parse(contents).map(drop)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.coding_standard.0 & 0x03) << 5 | (self.transfer_capability.0 & 0x1F));
        out.push(0x80 | (self.transfer_mode.0 & 0x03) << 5 | (self.rate.0 & 0x1F));
        if let Some(m) = self.rate_multiplier {
            out.push(0x80 | (m & 0x7F));
        }
        if let Some(l1) = self.layer1 {
            let ext = if self.layer1_options.is_empty() {
                0x80
            } else {
                0x00
            };
            out.push(ext | 0x20 | (l1.0 & 0x1F));
            out.extend_from_slice(&self.layer1_options);
        }
        out.extend_from_slice(&self.higher_layers);
    }
}

wire_value! {
    /// Channel selection (channel identification octet 3, bits 2-1).
    ChannelSelection {
        /// No channel.
        NONE = 0 => "No channel",
        /// As indicated in the following octets (PRI); B1 on a basic rate interface.
        INDICATED = 1 => "As indicated",
        /// Reserved on PRI; B2 on a basic rate interface.
        B2 = 2 => "B2",
        /// Any channel.
        ANY = 3 => "Any channel",
    }
}

wire_value! {
    /// Channel type / map element type (channel identification octet 3.2, bits 4-1).
    ElementType {
        /// B-channel units.
        B_CHANNEL = 3 => "B-channel units",
        /// H0-channel units.
        H0 = 6 => "H0-channel units",
        /// H11-channel units.
        H11 = 8 => "H11-channel units",
        /// H12-channel units.
        H12 = 9 => "H12-channel units",
    }
}

/// Channel identification octet 3.2: how the channels that follow are given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChannelType {
    /// Coding standard (bits 7-6).
    pub coding_standard: CodingStandard,
    /// Bit 5: 0 = channel numbers follow, 1 = a slot map follows.
    pub slot_map: bool,
    /// Bits 4-1.
    pub element_type: ElementType,
}

impl ChannelType {
    /// ITU-T, channel numbers, B-channel units (`83`).
    pub const B_CHANNEL_NUMBERS: Self = Self {
        coding_standard: CodingStandard::ITU_T,
        slot_map: false,
        element_type: ElementType::B_CHANNEL,
    };
}

/// Channel identification (`18`, Q.931 4.5.13), PRI and BRI coding.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChannelId {
    /// Explicit interface identifier (octet 3.1, NFAS); `None` = this interface.
    pub interface_id: Option<u8>,
    /// Interface type bit: primary rate (true) or basic rate.
    pub primary_rate: bool,
    /// Exclusive (true: only this channel) or preferred.
    pub exclusive: bool,
    /// D-channel indicator: the channel is the D-channel itself.
    pub d_channel: bool,
    /// Channel selection (bits 2-1).
    pub selection: ChannelSelection,
    /// Octet 3.2, when present.
    pub channel_type: Option<ChannelType>,
    /// Channel numbers (octets 3.3, bits 7-1), or the slot-map octets when
    /// `channel_type.slot_map` is set.
    pub channels: Vec<u8>,
}

impl ChannelId {
    /// One PRI B-channel, exclusive (`18 03 A9 83 85` for channel 5).
    pub fn exclusive(channel: u8) -> Self {
        Self::indicated(true, vec![channel])
    }

    /// One PRI B-channel, preferred (`18 03 A1 83 85` for channel 5).
    pub fn preferred(channel: u8) -> Self {
        Self::indicated(false, vec![channel])
    }

    /// A list of PRI B-channels, exclusive (RESTART of several channels).
    pub fn exclusive_list(channels: Vec<u8>) -> Self {
        Self::indicated(true, channels)
    }

    /// Any channel on this PRI (`18 01 A3`).
    pub fn any() -> Self {
        Self {
            interface_id: None,
            primary_rate: true,
            exclusive: false,
            d_channel: false,
            selection: ChannelSelection::ANY,
            channel_type: None,
            channels: Vec::new(),
        }
    }

    fn indicated(exclusive: bool, channels: Vec<u8>) -> Self {
        Self {
            interface_id: None,
            primary_rate: true,
            exclusive,
            d_channel: false,
            selection: ChannelSelection::INDICATED,
            channel_type: Some(ChannelType::B_CHANNEL_NUMBERS),
            channels,
        }
    }

    /// The same channel on an explicit interface (NFAS, octet 3.1).
    pub fn on_interface(mut self, interface_id: u8) -> Self {
        self.interface_id = Some(interface_id & 0x7F);
        self
    }

    /// The channel numbers, if the element carries numbers rather than a slot map.
    pub fn channel_numbers(&self) -> &[u8] {
        match self.channel_type {
            Some(t) if !t.slot_map => &self.channels,
            _ => &[],
        }
    }

    /// The first (usually only) channel number.
    pub fn channel(&self) -> Option<u8> {
        self.channel_numbers().first().copied()
    }
}

impl ChannelId {
    /// Parses the element without copying the channel octets: returns it with
    /// `channels` empty, and the raw octets 3.3.. (numbers with their extension
    /// bits, or the slot map).
    fn parse(contents: &[u8]) -> Result<(Self, &[u8]), IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3")?;
        let primary_rate = o3 & 0x20 != 0;
        let interface_id = if o3 & 0x40 != 0 {
            let id = r.octet("3.1")?;
            if id & 0x80 == 0 {
                // Multi-octet interface identifiers are not used on PRI.
                return Err(IeError::InvalidValue { octet: "3.1" });
            }
            Some(id & 0x7F)
        } else {
            None
        };
        let mut channel_type = None;
        let mut raw: &[u8] = &[];
        if primary_rate && r.peek().is_some() {
            let o32 = r.octet("3.2")?;
            if o32 & 0x80 == 0 {
                return Err(IeError::InvalidValue { octet: "3.2" });
            }
            let t = ChannelType {
                coding_standard: CodingStandard((o32 >> 5) & 0x03),
                slot_map: o32 & 0x10 != 0,
                element_type: ElementType(o32 & 0x0F),
            };
            let numbers = r.rest();
            raw = if t.slot_map {
                numbers
            } else {
                // Channel numbers end at the first octet with ext = 1; skip the rest.
                let end = numbers.iter().position(|o| o & 0x80 != 0);
                end.and_then(|e| numbers.get(..=e)).unwrap_or(&[])
            };
            if raw.is_empty() {
                return Err(IeError::Truncated { octet: "3.3" });
            }
            channel_type = Some(t);
        }
        let id = Self {
            interface_id,
            primary_rate,
            exclusive: o3 & 0x08 != 0,
            d_channel: o3 & 0x04 != 0,
            selection: ChannelSelection(o3 & 0x03),
            channel_type,
            channels: Vec::new(),
        };
        Ok((id, raw))
    }
}

impl IeCodec for ChannelId {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let (mut id, raw) = Self::parse(contents)?;
        id.channels = match id.channel_type {
            Some(t) if t.slot_map => raw.to_vec(),
            _ => raw.iter().map(|o| o & 0x7F).collect(),
        };
        Ok(id)
    }

    fn validate(contents: &[u8]) -> Result<(), IeError> {
        Self::parse(contents).map(drop)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            0x80 | u8::from(self.interface_id.is_some()) << 6
                | u8::from(self.primary_rate) << 5
                | u8::from(self.exclusive) << 3
                | u8::from(self.d_channel) << 2
                | (self.selection.0 & 0x03),
        );
        if let Some(id) = self.interface_id {
            out.push(0x80 | (id & 0x7F));
        }
        if let Some(t) = self.channel_type {
            out.push(
                0x80 | (t.coding_standard.0 & 0x03) << 5
                    | u8::from(t.slot_map) << 4
                    | (t.element_type.0 & 0x0F),
            );
            if t.slot_map {
                out.extend_from_slice(&self.channels);
            } else if let Some((last, init)) = self.channels.split_last() {
                out.extend(init.iter().map(|c| c & 0x7F));
                out.push(0x80 | (last & 0x7F));
            }
        }
    }
}

/// Cause (`08`, Q.931 4.5.12 / Q.850).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CauseIe {
    /// Coding standard (octet 3).
    pub coding_standard: CodingStandard,
    /// Location (octet 3).
    pub location: Location,
    /// Recommendation (octet 3a), rarely present.
    pub recommendation: Option<u8>,
    /// Cause value (octet 4).
    pub value: Cause,
    /// Diagnostics (octets 5..).
    pub diagnostics: Vec<u8>,
}

impl CauseIe {
    /// An ITU-T coded cause without diagnostics (`08 02 80 90` for 16 from the user).
    pub fn new(location: Location, value: Cause) -> Self {
        Self {
            coding_standard: CodingStandard::ITU_T,
            location,
            recommendation: None,
            value,
            diagnostics: Vec::new(),
        }
    }

    /// The same cause with diagnostics (e.g. the missing IE identifier for cause 96).
    pub fn with_diagnostics(mut self, diagnostics: impl Into<Vec<u8>>) -> Self {
        self.diagnostics = diagnostics.into();
        self
    }
}

impl IeCodec for CauseIe {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        let recommendation = r.group_tail(o3, "3a")?.first().map(|o| o & 0x7F);
        let o4 = r.octet("4")?;
        Ok(Self {
            coding_standard: CodingStandard((o3 >> 5) & 0x03),
            location: Location(o3 & 0x0F),
            recommendation,
            value: Cause(o4 & 0x7F),
            diagnostics: r.rest().to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let o3 = (self.coding_standard.0 & 0x03) << 5 | (self.location.0 & 0x0F);
        match self.recommendation {
            Some(rec) => out.extend_from_slice(&[o3, 0x80 | (rec & 0x7F)]),
            None => out.push(0x80 | o3),
        }
        out.push(0x80 | (self.value.0 & 0x7F));
        out.extend_from_slice(&self.diagnostics);
    }
}

/// A call state value (Q.931 4.5.7; reference section 7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct CallState(pub u8);

impl CallState {
    /// U0 / N0 null.
    pub const NULL: Self = Self(0);
    /// U1 / N1 call initiated.
    pub const CALL_INITIATED: Self = Self(1);
    /// U2 / N2 overlap sending.
    pub const OVERLAP_SENDING: Self = Self(2);
    /// U3 / N3 outgoing call proceeding.
    pub const OUTGOING_CALL_PROCEEDING: Self = Self(3);
    /// U4 / N4 call delivered.
    pub const CALL_DELIVERED: Self = Self(4);
    /// U6 / N6 call present.
    pub const CALL_PRESENT: Self = Self(6);
    /// U7 / N7 call received.
    pub const CALL_RECEIVED: Self = Self(7);
    /// U8 / N8 connect request.
    pub const CONNECT_REQUEST: Self = Self(8);
    /// U9 / N9 incoming call proceeding.
    pub const INCOMING_CALL_PROCEEDING: Self = Self(9);
    /// U10 / N10 active.
    pub const ACTIVE: Self = Self(10);
    /// U11 / N11 disconnect request.
    pub const DISCONNECT_REQUEST: Self = Self(11);
    /// U12 / N12 disconnect indication.
    pub const DISCONNECT_INDICATION: Self = Self(12);
    /// U15 / N15 suspend request.
    pub const SUSPEND_REQUEST: Self = Self(15);
    /// U17 / N17 resume request.
    pub const RESUME_REQUEST: Self = Self(17);
    /// U19 / N19 release request.
    pub const RELEASE_REQUEST: Self = Self(19);
    /// N22 call abort.
    pub const CALL_ABORT: Self = Self(22);
    /// U25 / N25 overlap receiving.
    pub const OVERLAP_RECEIVING: Self = Self(25);
    /// REST 1 restart request (global call reference).
    pub const RESTART_REQUEST: Self = Self(61);
    /// REST 2 restart (global call reference).
    pub const RESTART: Self = Self(62);
}

/// Call state (`14`, Q.931 4.5.7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CallStateIe {
    /// Coding standard (bits 8-7).
    pub coding_standard: CodingStandard,
    /// State value (bits 6-1).
    pub state: CallState,
}

impl CallStateIe {
    /// An ITU-T coded call state.
    pub fn new(state: CallState) -> Self {
        Self {
            coding_standard: CodingStandard::ITU_T,
            state,
        }
    }
}

impl IeCodec for CallStateIe {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let o3 = Reader::new(contents).octet("3")?;
        Ok(Self {
            coding_standard: CodingStandard(o3 >> 6),
            state: CallState(o3 & 0x3F),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push((self.coding_standard.0 & 0x03) << 6 | (self.state.0 & 0x3F));
    }
}

wire_value! {
    /// Progress description (progress indicator octet 4).
    ProgressDescription {
        /// 1: call is not end-to-end ISDN; further progress information may be in-band.
        NOT_END_TO_END_ISDN = 1 => "Call not end-to-end ISDN, may have in-band info",
        /// 2: destination address is non-ISDN.
        DESTINATION_NON_ISDN = 2 => "Destination address is non-ISDN",
        /// 3: origination address is non-ISDN.
        ORIGINATION_NON_ISDN = 3 => "Origination address is non-ISDN",
        /// 4: call has returned to the ISDN.
        RETURNED_TO_ISDN = 4 => "Call has returned to the ISDN",
        /// 5: interworking has occurred and has resulted in a telecommunication service change.
        SERVICE_CHANGE = 5 => "Interworking caused a service change",
        /// 8: in-band information or an appropriate pattern is now available.
        IN_BAND_AVAILABLE = 8 => "In-band info or appropriate now available",
    }
}

/// Progress indicator (`1E`, Q.931 4.5.23).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProgressIndicator {
    /// Coding standard (octet 3).
    pub coding_standard: CodingStandard,
    /// Location (octet 3).
    pub location: Location,
    /// Progress description (octet 4).
    pub description: ProgressDescription,
}

impl ProgressIndicator {
    /// An ITU-T coded progress indicator (`1E 02 82 88` = public network, PI 8).
    pub fn new(location: Location, description: ProgressDescription) -> Self {
        Self {
            coding_standard: CodingStandard::ITU_T,
            location,
            description,
        }
    }

    /// PI 1 or 8: connect the B-channel and listen (SIP 183 with early media).
    pub fn in_band(&self) -> bool {
        matches!(
            self.description,
            ProgressDescription::NOT_END_TO_END_ISDN | ProgressDescription::IN_BAND_AVAILABLE
        )
    }
}

impl IeCodec for ProgressIndicator {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3")?;
        let o4 = r.octet("4")?;
        Ok(Self {
            coding_standard: CodingStandard((o3 >> 5) & 0x03),
            location: Location(o3 & 0x0F),
            description: ProgressDescription(o4 & 0x7F),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.coding_standard.0 & 0x03) << 5 | (self.location.0 & 0x0F));
        out.push(0x80 | (self.description.0 & 0x7F));
    }
}

wire_value! {
    /// Type of number (party number octet 3, bits 7-5).
    TypeOfNumber {
        /// Unknown.
        UNKNOWN = 0 => "Unknown",
        /// International number.
        INTERNATIONAL = 1 => "International",
        /// National number.
        NATIONAL = 2 => "National",
        /// Network specific number.
        NETWORK_SPECIFIC = 3 => "Network specific",
        /// Subscriber number.
        SUBSCRIBER = 4 => "Subscriber(local)",
        /// Abbreviated number.
        ABBREVIATED = 6 => "Abbreviated",
    }
}

wire_value! {
    /// Numbering plan identification (party number octet 3, bits 4-1).
    NumberingPlan {
        /// Unknown.
        UNKNOWN = 0 => "Unknown",
        /// ISDN/telephony numbering plan (E.164).
        ISDN = 1 => "ISDN",
        /// Data numbering plan (X.121).
        DATA = 3 => "Data",
        /// Telex numbering plan (F.69).
        TELEX = 4 => "Telex",
        /// National standard numbering plan.
        NATIONAL = 8 => "National",
        /// Private numbering plan.
        PRIVATE = 9 => "Private",
    }
}

wire_value! {
    /// Presentation indicator (party number octet 3a, bits 7-6).
    Presentation {
        /// Presentation allowed.
        ALLOWED = 0 => "Presentation allowed",
        /// Presentation restricted.
        RESTRICTED = 1 => "Presentation restricted",
        /// Number not available due to interworking.
        NOT_AVAILABLE = 2 => "Number not available",
    }
}

wire_value! {
    /// Screening indicator (party number octet 3a, bits 2-1).
    Screening {
        /// User-provided, not screened.
        USER_NOT_SCREENED = 0 => "User-provided, not screened",
        /// User-provided, verified and passed.
        USER_PASSED = 1 => "User-provided, verified and passed",
        /// User-provided, verified and failed.
        USER_FAILED = 2 => "User-provided, verified and failed",
        /// Network provided.
        NETWORK_PROVIDED = 3 => "Network provided",
    }
}

wire_value! {
    /// Reason for redirection (redirecting number octet 3b, bits 4-1).
    RedirectionReason {
        /// Unknown.
        UNKNOWN = 0x0 => "Unknown",
        /// Call forwarding busy.
        FORWARD_BUSY = 0x1 => "Call forwarding busy",
        /// Call forwarding no reply.
        FORWARD_NO_REPLY = 0x2 => "Call forwarding no reply",
        /// Call deflection.
        DEFLECTION = 0x4 => "Call deflection",
        /// Called DTE out of order.
        DTE_OUT_OF_ORDER = 0x9 => "Called DTE out of order",
        /// Call forwarding by the called DTE.
        FORWARD_BY_DTE = 0xA => "Call forwarding by the called DTE",
        /// Call forwarding unconditional.
        FORWARD_UNCONDITIONAL = 0xF => "Call forwarding unconditional",
    }
}

/// Presentation and screening (party number octet 3a).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PresentationScreening {
    /// Presentation indicator.
    pub presentation: Presentation,
    /// Screening indicator.
    pub screening: Screening,
}

/// A party number: calling (`6C`), called (`70`), connected (`4C`), redirecting
/// (`74`), redirection (`76`) or original called (`73`) (Q.931 4.5.8, 4.5.10;
/// Q.951; Q.952).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartyNumber {
    /// Type of number (octet 3).
    pub type_of_number: TypeOfNumber,
    /// Numbering plan (octet 3).
    pub numbering_plan: NumberingPlan,
    /// Octet 3a; absent means presentation allowed, user-provided not screened.
    pub presentation: Option<PresentationScreening>,
    /// Octet 3b (redirecting number only).
    pub reason: Option<RedirectionReason>,
    /// The digits, IA5 (`0`-`9`, `*`, `#`), first digit first.
    pub digits: String,
}

impl PartyNumber {
    /// A number without octet 3a (the called party number coding).
    pub fn new(type_of_number: TypeOfNumber, plan: NumberingPlan, digits: &str) -> Self {
        Self {
            type_of_number,
            numbering_plan: plan,
            presentation: None,
            reason: None,
            digits: digits.to_owned(),
        }
    }

    /// The same number with octet 3a.
    pub fn with_presentation(mut self, presentation: Presentation, screening: Screening) -> Self {
        self.presentation = Some(PresentationScreening {
            presentation,
            screening,
        });
        self
    }

    /// The same number with octet 3b (redirecting number).
    pub fn with_reason(mut self, reason: RedirectionReason) -> Self {
        if self.presentation.is_none() {
            self.presentation = Some(PresentationScreening {
                presentation: Presentation::ALLOWED,
                screening: Screening::USER_NOT_SCREENED,
            });
        }
        self.reason = Some(reason);
        self
    }

    /// The presentation indicator, with the Q.931 default when octet 3a is absent.
    pub fn presentation_or_default(&self) -> PresentationScreening {
        self.presentation.unwrap_or(PresentationScreening {
            presentation: Presentation::ALLOWED,
            screening: Screening::USER_NOT_SCREENED,
        })
    }
}

impl IeCodec for PartyNumber {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        let mut presentation = None;
        let mut reason = None;
        // Some Lucent/NI-2 switches set ext = 1 on octet 3 of the connected number
        // and still send octet 3a; a digit never has bit 8 set, so such an octet
        // can only be 3a (reference section 12).
        let has_3a = o3 & 0x80 == 0 || r.peek().is_some_and(|o| o & 0x80 != 0);
        if has_3a {
            let o3a = r.octet("3a")?;
            presentation = Some(PresentationScreening {
                presentation: Presentation((o3a >> 5) & 0x03),
                screening: Screening(o3a & 0x03),
            });
            if o3a & 0x80 == 0 {
                let o3b = r.octet("3b")?;
                r.group_tail(o3b, "3b")?;
                reason = Some(RedirectionReason(o3b & 0x0F));
            }
        }
        Ok(Self {
            type_of_number: TypeOfNumber((o3 >> 4) & 0x07),
            numbering_plan: NumberingPlan(o3 & 0x0F),
            presentation,
            reason,
            digits: ia5(r.rest())?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let o3 = (self.type_of_number.0 & 0x07) << 4 | (self.numbering_plan.0 & 0x0F);
        match self.presentation {
            None => out.push(0x80 | o3),
            Some(p) => {
                out.push(o3);
                let o3a = (p.presentation.0 & 0x03) << 5 | (p.screening.0 & 0x03);
                match self.reason {
                    None => out.push(0x80 | o3a),
                    Some(reason) => out.extend_from_slice(&[o3a, 0x80 | (reason.0 & 0x0F)]),
                }
            }
        }
        out.extend_from_slice(self.digits.as_bytes());
    }
}

/// Display (`28`, Q.931 4.5.16): text for the user, IA5.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Display {
    /// A leading octet with bit 8 set (libpri sends `B1` to North American
    /// switches, calling it a character-set indicator); dropped from the text.
    pub charset: Option<u8>,
    /// The text octets.
    pub text: Vec<u8>,
}

impl Display {
    /// Plain display text (ITU, ETSI, QSIG coding).
    pub fn new(text: &str) -> Self {
        Self {
            charset: None,
            text: text.as_bytes().to_vec(),
        }
    }

    /// The text, with anything that is not UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.text)
    }
}

impl IeCodec for Display {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        // Networks outside the IA5 world send other character sets; keep the octets.
        Ok(match contents.split_first() {
            Some((&first, rest)) if first & 0x80 != 0 => Self {
                charset: Some(first),
                text: rest.to_vec(),
            },
            _ => Self {
                charset: None,
                text: contents.to_vec(),
            },
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        if let Some(c) = self.charset {
            out.push(c | 0x80);
        }
        out.extend_from_slice(&self.text);
    }
}

wire_value! {
    /// Restart class (restart indicator bits 3-1).
    RestartClass {
        /// Indicated channels (channel identification required).
        INDICATED_CHANNELS = 0 => "Indicated channels",
        /// Single interface.
        SINGLE_INTERFACE = 6 => "Single interface",
        /// All interfaces.
        ALL_INTERFACES = 7 => "All interfaces",
    }
}

/// Restart indicator (`79`, Q.931 4.5.25).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RestartIndicator {
    /// The class (bits 3-1).
    pub class: RestartClass,
}

impl RestartIndicator {
    /// A restart indicator of the given class (`79 01 80` for indicated channels).
    pub fn new(class: RestartClass) -> Self {
        Self { class }
    }
}

impl IeCodec for RestartIndicator {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let o3 = Reader::new(contents).octet("3")?;
        let class = RestartClass(o3 & 0x07);
        if class.name().is_none() {
            return Err(IeError::InvalidValue { octet: "3" });
        }
        Ok(Self { class })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.class.0 & 0x07));
    }
}

wire_value! {
    /// Notification description (notification indicator octet 3).
    NotificationDescription {
        /// User suspended.
        USER_SUSPENDED = 0 => "User suspended",
        /// User resumed.
        USER_RESUMED = 1 => "User resumed",
        /// Bearer service change.
        BEARER_SERVICE_CHANGE = 2 => "Bearer service change",
    }
}

/// Notification indicator (`27`, Q.931 4.5.22).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NotificationIndicator {
    /// Notification description (octet 3, bits 7-1).
    pub description: NotificationDescription,
    /// Further octets (Q.932 extended descriptions), as received.
    pub extra: Vec<u8>,
}

impl NotificationIndicator {
    /// A one-octet notification (`27 01 80` = user suspended).
    pub fn new(description: NotificationDescription) -> Self {
        Self {
            description,
            extra: Vec::new(),
        }
    }
}

impl IeCodec for NotificationIndicator {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        Ok(Self {
            description: NotificationDescription(o3 & 0x7F),
            extra: r.rest().to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.description.0 & 0x7F));
        out.extend_from_slice(&self.extra);
    }
}

/// Date/time (`29`, Q.931 4.5.15), binary octets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DateTime {
    /// Year, last two digits (octet 3).
    pub year: u8,
    /// Month 1-12 (octet 4).
    pub month: u8,
    /// Day 1-31 (octet 5).
    pub day: u8,
    /// Hour 0-23 (octet 6), optional.
    pub hour: Option<u8>,
    /// Minute 0-59 (octet 7), optional; only sent with the hour.
    pub minute: Option<u8>,
    /// Second 0-59 (octet 8), optional; only sent with the minute.
    pub second: Option<u8>,
}

impl IeCodec for DateTime {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let year = r.octet("3")?;
        let month = r.octet("4")?;
        let day = r.octet("5")?;
        if !(1..=12).contains(&month) {
            return Err(IeError::InvalidValue { octet: "4" });
        }
        if !(1..=31).contains(&day) {
            return Err(IeError::InvalidValue { octet: "5" });
        }
        let hour = r.octet("6").ok();
        let minute = r.octet("7").ok();
        let second = r.octet("8").ok();
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.year, self.month, self.day]);
        if let Some(h) = self.hour {
            out.push(h);
            if let Some(m) = self.minute {
                out.push(m);
                if let Some(s) = self.second {
                    out.push(s);
                }
            }
        }
    }
}

wire_value! {
    /// Signal value (signal octet 3, Q.931 4.5.28).
    Signal {
        /// Dial tone on.
        DIAL_TONE_ON = 0x00 => "Dial tone on",
        /// Ring back tone on.
        RINGBACK_TONE_ON = 0x01 => "Ring back tone on",
        /// Intercept tone on.
        INTERCEPT_TONE_ON = 0x02 => "Intercept tone on",
        /// Network congestion tone on.
        CONGESTION_TONE_ON = 0x03 => "Network congestion tone on",
        /// Busy tone on.
        BUSY_TONE_ON = 0x04 => "Busy tone on",
        /// Confirm tone on.
        CONFIRM_TONE_ON = 0x05 => "Confirm tone on",
        /// Answer tone on.
        ANSWER_TONE_ON = 0x06 => "Answer tone on",
        /// Call waiting tone on.
        CALL_WAITING_TONE_ON = 0x07 => "Call waiting tone on",
        /// Off-hook warning tone on.
        OFF_HOOK_WARNING_ON = 0x08 => "Off-hook warning tone on",
        /// Preemption tone on.
        PREEMPTION_TONE_ON = 0x09 => "Preemption tone on",
        /// Tones off.
        TONES_OFF = 0x3F => "Tones off",
        /// Alerting on, pattern 0.
        ALERTING_ON_PATTERN_0 = 0x40 => "Alerting on - pattern 0",
        /// Alerting off.
        ALERTING_OFF = 0x4F => "Alerting off",
    }
}

impl IeCodec for Signal {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        Ok(Self(Reader::new(contents).octet("3")?))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}

/// Keypad facility (`2C`, Q.931 4.5.18): IA5 characters typed by the user.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Keypad {
    /// The characters.
    pub digits: String,
}

impl IeCodec for Keypad {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        if contents.is_empty() {
            return Err(IeError::Truncated { octet: "3" });
        }
        Ok(Self {
            digits: ia5(contents)?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.digits.as_bytes());
    }
}

wire_value! {
    /// New status (change status bits 3-1, North American SERVICE).
    ServiceStatus {
        /// In service.
        IN_SERVICE = 0 => "In service",
        /// Loopback.
        LOOPBACK = 1 => "Loopback",
        /// Out of service.
        OUT_OF_SERVICE = 2 => "Out of service",
        /// Request continuity check.
        REQUEST_CONTINUITY_CHECK = 3 => "Request continuity check",
        /// Shutdown.
        SHUTDOWN = 4 => "Shutdown",
    }
}

/// Change status (`01`, North American maintenance; reference section 5.9).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChangeStatus {
    /// Bit 7: the status applies to a channel (true) or the whole interface.
    pub channel_preference: bool,
    /// New status (bits 3-1).
    pub status: ServiceStatus,
}

impl ChangeStatus {
    /// A channel status change (`01 01 C2` = channel out of service).
    pub fn channel(status: ServiceStatus) -> Self {
        Self {
            channel_preference: true,
            status,
        }
    }
}

impl IeCodec for ChangeStatus {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let o3 = Reader::new(contents).octet("3")?;
        Ok(Self {
            channel_preference: o3 & 0x40 != 0,
            status: ServiceStatus(o3 & 0x07),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | u8::from(self.channel_preference) << 6 | (self.status.0 & 0x07));
    }
}

/// High layer compatibility (`7D`, Q.931 4.5.17).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HighLayerCompatibility {
    /// Coding standard (octet 3, bits 7-6).
    pub coding_standard: CodingStandard,
    /// Interpretation (octet 3, bits 5-3); 100 = first high layer characteristics.
    pub interpretation: u8,
    /// Presentation method (octet 3, bits 2-1); 01 = high layer protocol profile.
    pub presentation_method: u8,
    /// High layer characteristics identification (octet 4, bits 7-1): 0x01 telephony,
    /// 0x04 fax group 2/3, ...
    pub characteristics: u8,
    /// Extended characteristics (octet 4a), when octet 4 has ext = 0.
    pub extended: Option<u8>,
}

impl IeCodec for HighLayerCompatibility {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3")?;
        let o4 = r.octet("4")?;
        let extended = r.group_tail(o4, "4a")?.first().map(|o| o & 0x7F);
        Ok(Self {
            coding_standard: CodingStandard((o3 >> 5) & 0x03),
            interpretation: (o3 >> 2) & 0x07,
            presentation_method: o3 & 0x03,
            characteristics: o4 & 0x7F,
            extended,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            0x80 | (self.coding_standard.0 & 0x03) << 5
                | (self.interpretation & 0x07) << 2
                | (self.presentation_method & 0x03),
        );
        match self.extended {
            None => out.push(0x80 | (self.characteristics & 0x7F)),
            Some(e) => out.extend_from_slice(&[self.characteristics & 0x7F, 0x80 | (e & 0x7F)]),
        }
    }
}

/// Low layer compatibility (`7C`, Q.931 4.5.19): passed end to end; only octet 3
/// is interpreted here.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LowLayerCompatibility {
    /// The contents as received.
    pub contents: Vec<u8>,
}

impl LowLayerCompatibility {
    /// Coding standard (octet 3).
    pub fn coding_standard(&self) -> CodingStandard {
        CodingStandard(self.contents.first().map_or(0, |o| (o >> 5) & 0x03))
    }

    /// Information transfer capability (octet 3).
    pub fn transfer_capability(&self) -> TransferCapability {
        TransferCapability(self.contents.first().map_or(0, |o| o & 0x1F))
    }
}

impl IeCodec for LowLayerCompatibility {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        if contents.is_empty() {
            return Err(IeError::Truncated { octet: "3" });
        }
        Ok(Self {
            contents: contents.to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.contents);
    }
}

/// Calling (`6D`) or called (`71`) party subaddress (Q.931 4.5.9, 4.5.11).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Subaddress {
    /// Type of subaddress (octet 3, bits 7-5): 0 = NSAP, 2 = user specified.
    pub kind: u8,
    /// Odd/even indicator (octet 3, bit 4): odd number of address signals.
    pub odd: bool,
    /// Subaddress information (octets 4..).
    pub information: Vec<u8>,
}

impl IeCodec for Subaddress {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3")?;
        Ok(Self {
            kind: (o3 >> 4) & 0x07,
            odd: o3 & 0x08 != 0,
            information: r.rest().to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.kind & 0x07) << 4 | u8::from(self.odd) << 3);
        out.extend_from_slice(&self.information);
    }
}

/// Transit network selection (`78`, Q.931 4.5.29).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransitNetworkSelection {
    /// Type of network identification (octet 3, bits 7-5): 2 = national network.
    pub network_type: u8,
    /// Network identification plan (octet 3, bits 4-1): 1 = carrier identification code.
    pub plan: u8,
    /// Network identification, IA5.
    pub network_id: String,
}

impl IeCodec for TransitNetworkSelection {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let o3 = r.octet("3")?;
        r.group_tail(o3, "3")?;
        Ok(Self {
            network_type: (o3 >> 4) & 0x07,
            plan: o3 & 0x0F,
            network_id: ia5(r.rest())?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0x80 | (self.network_type & 0x07) << 4 | (self.plan & 0x0F));
        out.extend_from_slice(self.network_id.as_bytes());
    }
}

/// Network-specific facilities (`20`, Q.931 4.5.21), used by the 4ESS to select
/// carrier services.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NetworkSpecificFacilities {
    /// Octet 3.1 (type of network identification and plan), when a network
    /// identification is present.
    pub network_type_plan: Option<u8>,
    /// Network identification (octets 3.2.., IA5 as sent).
    pub network_id: Vec<u8>,
    /// Network-specific facility specification (octets 4..).
    pub facility: Vec<u8>,
}

impl IeCodec for NetworkSpecificFacilities {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let id_len = usize::from(r.octet("3")?);
        let mut network_type_plan = None;
        let mut network_id = Vec::new();
        if id_len > 0 {
            let rest = r.rest();
            let (id, facility) = rest
                .split_at_checked(id_len)
                .ok_or(IeError::Truncated { octet: "3.2" })?;
            let (&tp, id) = id
                .split_first()
                .ok_or(IeError::Truncated { octet: "3.1" })?;
            network_type_plan = Some(tp);
            network_id = id.to_vec();
            r = Reader::new(facility);
        }
        let facility = r.rest().to_vec();
        if facility.is_empty() {
            return Err(IeError::Truncated { octet: "4" });
        }
        Ok(Self {
            network_type_plan,
            network_id,
            facility,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self.network_type_plan {
            Some(tp) => {
                let len = u8::try_from(1 + self.network_id.len()).unwrap_or(u8::MAX);
                out.push(len);
                out.push(tp);
                out.extend_from_slice(&self.network_id);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.facility);
    }
}

/// Facility (`1C`, Q.932): supplementary-service operations (ROSE), kept as octets.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Facility {
    /// The contents: protocol profile octet then components.
    pub contents: Vec<u8>,
}

impl Facility {
    /// The protocol profile (octet 3, bits 5-1): 0x11 = remote operations (ROSE).
    pub fn protocol_profile(&self) -> u8 {
        self.contents.first().map_or(0, |o| o & 0x1F)
    }
}

impl IeCodec for Facility {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        if contents.is_empty() {
            return Err(IeError::Truncated { octet: "3" });
        }
        Ok(Self {
            contents: contents.to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.contents);
    }
}

/// User-user (`7E`, Q.931 4.5.30).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserUser {
    /// Protocol discriminator (octet 3): 0x04 = IA5 characters.
    pub protocol: u8,
    /// User information (octets 4..).
    pub information: Vec<u8>,
}

impl IeCodec for UserUser {
    fn decode(contents: &[u8]) -> Result<Self, IeError> {
        let mut r = Reader::new(contents);
        let protocol = r.octet("3")?;
        Ok(Self {
            protocol,
            information: r.rest().to_vec(),
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol);
        out.extend_from_slice(&self.information);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: IeCodec + PartialEq + fmt::Debug>(contents: &[u8]) -> T {
        let value = T::decode(contents).unwrap();
        let mut out = Vec::new();
        value.encode(&mut out);
        assert_eq!(out, contents, "{value:?}");
        value
    }

    #[test]
    fn bearer_speech_mu_law_decodes_and_round_trips() {
        let bc: BearerCapability = round_trip(&[0x80, 0x90, 0xA2]);
        assert_eq!(bc, BearerCapability::speech(Layer1Protocol::G711_MU_LAW));
        assert!(bc.is_voice());
    }

    #[test]
    fn bearer_examples_round_trip() {
        let a: BearerCapability = round_trip(&[0x80, 0x90, 0xA3]);
        assert_eq!(a.layer1, Some(Layer1Protocol::G711_A_LAW));
        let audio: BearerCapability = round_trip(&[0x90, 0x90, 0xA2]);
        assert_eq!(audio.transfer_capability, TransferCapability::AUDIO_3_1_KHZ);
        let digital: BearerCapability = round_trip(&[0x88, 0x90]);
        assert_eq!(digital, BearerCapability::unrestricted_digital());
        assert!(!digital.is_voice());
        let v110: BearerCapability = round_trip(&[0x88, 0x90, 0x21, 0x8F]);
        assert_eq!(v110.layer1, Some(Layer1Protocol::V110));
        assert_eq!(v110.layer1_options, [0x8F]);
        let old_4ess: BearerCapability = round_trip(&[0x80, 0x90]);
        assert_eq!(old_4ess.layer1, None);
        assert!(old_4ess.is_voice());
    }

    #[test]
    fn bearer_multirate_carries_multiplier() {
        let bc: BearerCapability = round_trip(&[0x88, 0x98, 0x86]);
        assert_eq!(bc.rate, TransferRate::MULTIRATE);
        assert_eq!(bc.rate_multiplier, Some(6));
    }

    #[test]
    fn bearer_truncated_is_an_error() {
        assert_eq!(
            BearerCapability::decode(&[]),
            Err(IeError::Truncated { octet: "3" })
        );
        assert_eq!(
            BearerCapability::decode(&[0x80]),
            Err(IeError::Truncated { octet: "4" })
        );
        assert_eq!(
            BearerCapability::decode(&[0x88, 0x98]),
            Err(IeError::Truncated { octet: "4.1" })
        );
        assert_eq!(
            BearerCapability::decode(&[0x88, 0x90, 0x21]),
            Err(IeError::Truncated { octet: "5a" })
        );
    }

    #[test]
    fn channel_id_examples_round_trip() {
        let excl: ChannelId = round_trip(&[0xA9, 0x83, 0x85]);
        assert_eq!(excl, ChannelId::exclusive(5));
        assert!(excl.exclusive && excl.primary_rate && !excl.d_channel);
        assert_eq!(excl.channel(), Some(5));
        let pref: ChannelId = round_trip(&[0xA1, 0x83, 0x85]);
        assert_eq!(pref, ChannelId::preferred(5));
        let any: ChannelId = round_trip(&[0xA3]);
        assert_eq!(any, ChannelId::any());
        assert_eq!(any.channel(), None);
        let nfas: ChannelId = round_trip(&[0xE9, 0x81, 0x83, 0x85]);
        assert_eq!(nfas, ChannelId::exclusive(5).on_interface(1));
        let e1: ChannelId = round_trip(&[0xA9, 0x83, 0x91]);
        assert_eq!(e1.channel(), Some(17));
        let list: ChannelId = round_trip(&[0xA9, 0x83, 0x01, 0x02, 0x85]);
        assert_eq!(list.channel_numbers(), [1, 2, 5]);
        assert_eq!(list, ChannelId::exclusive_list(vec![1, 2, 5]));
    }

    #[test]
    fn channel_id_slot_map_is_kept() {
        let map: ChannelId = round_trip(&[0xA9, 0x93, 0x00, 0x00, 0x1F]);
        assert!(map.channel_type.is_some_and(|t| t.slot_map));
        assert_eq!(map.channels, [0x00, 0x00, 0x1F]);
        assert_eq!(map.channel(), None);
    }

    #[test]
    fn channel_id_broken_contents_are_errors() {
        assert!(ChannelId::decode(&[]).is_err());
        assert!(ChannelId::decode(&[0xE9]).is_err()); // interface id flagged, missing
        assert!(ChannelId::decode(&[0xA9, 0x83]).is_err()); // no channel number
        assert!(ChannelId::decode(&[0xA9, 0x83, 0x01, 0x02]).is_err()); // list never ends
        assert!(ChannelId::decode(&[0xA9, 0x03, 0x85]).is_err()); // octet 3.2 ext = 0
    }

    #[test]
    fn cause_examples_round_trip() {
        let c: CauseIe = round_trip(&[0x80, 0x90]);
        assert_eq!(c, CauseIe::new(Location::USER, Cause::NORMAL_CLEARING));
        let c: CauseIe = round_trip(&[0x80, 0xE0, 0x04]);
        assert_eq!(c.value, Cause::MANDATORY_IE_MISSING);
        assert_eq!(c.diagnostics, [0x04]);
        let c: CauseIe = round_trip(&[0x02, 0x80, 0x91]);
        assert_eq!(c.recommendation, Some(0));
        assert_eq!(c.location, Location::PUBLIC_LOCAL);
        assert_eq!(c.value, Cause::USER_BUSY);
        assert!(CauseIe::decode(&[0x80]).is_err());
    }

    #[test]
    fn call_state_and_restart_and_small_ies_round_trip() {
        let s: CallStateIe = round_trip(&[0x3D]);
        assert_eq!(s.state, CallState::RESTART_REQUEST);
        let r: RestartIndicator = round_trip(&[0x87]);
        assert_eq!(r.class, RestartClass::ALL_INTERFACES);
        assert!(RestartIndicator::decode(&[0x83]).is_err());
        let n: NotificationIndicator = round_trip(&[0x80]);
        assert_eq!(n.description, NotificationDescription::USER_SUSPENDED);
        let cs: ChangeStatus = round_trip(&[0xC2]);
        assert_eq!(cs, ChangeStatus::channel(ServiceStatus::OUT_OF_SERVICE));
        let sig: Signal = round_trip(&[0x01]);
        assert_eq!(sig, Signal::RINGBACK_TONE_ON);
        let k: Keypad = round_trip(b"*72#");
        assert_eq!(k.digits, "*72#");
    }

    #[test]
    fn progress_examples_round_trip() {
        let p: ProgressIndicator = round_trip(&[0x82, 0x88]);
        assert_eq!(
            p,
            ProgressIndicator::new(
                Location::PUBLIC_LOCAL,
                ProgressDescription::IN_BAND_AVAILABLE
            )
        );
        assert!(p.in_band());
        let p: ProgressIndicator = round_trip(&[0x81, 0x83]);
        assert_eq!(p.description, ProgressDescription::ORIGINATION_NON_ISDN);
        assert!(!p.in_band());
    }

    #[test]
    fn party_number_examples_round_trip() {
        let n: PartyNumber = round_trip(b"\x41\x805551000");
        assert_eq!(n.type_of_number, TypeOfNumber::SUBSCRIBER);
        assert_eq!(n.numbering_plan, NumberingPlan::ISDN);
        assert_eq!(
            n.presentation_or_default().screening,
            Screening::USER_NOT_SCREENED
        );
        assert_eq!(n.digits, "5551000");
        let n: PartyNumber = round_trip(b"\x21\xA32125551000");
        assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
        assert_eq!(
            n.presentation.map(|p| p.presentation),
            Some(Presentation::RESTRICTED)
        );
        assert_eq!(
            n.presentation.map(|p| p.screening),
            Some(Screening::NETWORK_PROVIDED)
        );
        let n: PartyNumber = round_trip(&[0x00, 0xC0]);
        assert_eq!(
            n.presentation.map(|p| p.presentation),
            Some(Presentation::NOT_AVAILABLE)
        );
        assert!(n.digits.is_empty());
        let called: PartyNumber = round_trip(b"\xC15552000");
        assert_eq!(called.presentation, None);
        let redirecting: PartyNumber = round_trip(b"\x21\x03\x812125553000");
        assert_eq!(redirecting.reason, Some(RedirectionReason::FORWARD_BUSY));
    }

    #[test]
    fn connected_number_with_wrong_extension_bit_still_finds_octet_3a() {
        let n = PartyNumber::decode(b"\xA1\x835551000").unwrap();
        assert_eq!(n.type_of_number, TypeOfNumber::NATIONAL);
        assert_eq!(
            n.presentation.map(|p| p.screening),
            Some(Screening::NETWORK_PROVIDED)
        );
        assert_eq!(n.digits, "5551000");
    }

    #[test]
    fn party_number_rejects_non_ia5_digits() {
        assert_eq!(
            PartyNumber::decode(b"\xC1\x35\xB5"),
            Err(IeError::NotIa5(0xB5))
        );
    }

    #[test]
    fn display_drops_and_keeps_charset_octet() {
        let d: Display = round_trip(b"John Doe");
        assert_eq!(d.text(), "John Doe");
        let d: Display = round_trip(b"\xB1John Doe");
        assert_eq!(d.charset, Some(0xB1));
        assert_eq!(d.text(), "John Doe");
    }

    #[test]
    fn other_ies_round_trip() {
        let dt: DateTime = round_trip(&[26, 12, 1, 9, 30]);
        assert_eq!((dt.hour, dt.minute, dt.second), (Some(9), Some(30), None));
        assert!(DateTime::decode(&[26, 13, 1]).is_err());
        let hlc: HighLayerCompatibility = round_trip(&[0x91, 0x81]);
        assert_eq!(hlc.characteristics, 0x01);
        let llc: LowLayerCompatibility = round_trip(&[0x88, 0x90, 0x21, 0x8F]);
        assert_eq!(
            llc.transfer_capability(),
            TransferCapability::UNRESTRICTED_DIGITAL
        );
        let sub: Subaddress = round_trip(&[0xA0, 0x31, 0x32]);
        assert_eq!(sub.kind, 2);
        let tns: TransitNetworkSelection = round_trip(b"\xA10288");
        assert_eq!(tns.network_id, "0288");
        let nsf: NetworkSpecificFacilities = round_trip(&[0x00, 0xE1]);
        assert_eq!(nsf.facility, [0xE1]);
        let nsf: NetworkSpecificFacilities = round_trip(b"\x05\xA1288\x20\xE1");
        assert_eq!(nsf.network_id, b"288\x20");
        let fac: Facility = round_trip(&[0x91, 0xA1, 0x03]);
        assert_eq!(fac.protocol_profile(), 0x11);
        let uu: UserUser = round_trip(b"\x04hello");
        assert_eq!(uu.protocol, 4);
    }

    #[test]
    fn ie_new_rejects_values_that_would_not_decode() {
        let bad = PartyNumber::new(TypeOfNumber::UNKNOWN, NumberingPlan::ISDN, "55é");
        assert!(matches!(
            Ie::new(IeId::CALLED_PARTY_NUMBER, &bad),
            Err(EncodeError::Invalid { .. })
        ));
        let long = Display::new(&"x".repeat(300));
        assert!(matches!(
            Ie::new(IeId::DISPLAY, &long),
            Err(EncodeError::TooLong { .. })
        ));
        assert!(Ie::variable(Codeset::ITU, IeId::SENDING_COMPLETE, vec![]).is_err());
        // Contents longer than the inline buffer live on the heap, unchanged.
        let long = Ie::variable(Codeset::ITU, IeId::DISPLAY, [b'x'; 40]).unwrap();
        assert_eq!(long.contents(), [b'x'; 40]);
        assert_eq!(long.encoded_len(), 42);
    }

    #[test]
    fn single_octet_ids() {
        assert_eq!(Ie::single(Codeset::ITU, 0xA1).id(), IeId::SENDING_COMPLETE);
        assert_eq!(Ie::single(Codeset::ITU, 0xB3).id(), IeId::CONGESTION_LEVEL);
        assert_eq!(
            Ie::single(Codeset::ITU, 0x96).as_shift(),
            Some(Shift::Locking(Codeset(6)))
        );
        assert_eq!(
            Ie::single(Codeset::ITU, 0x9D).as_shift(),
            Some(Shift::NonLocking(Codeset(5)))
        );
        assert_eq!(Shift::NonLocking(Codeset(6)).octet(), 0x9E);
    }
}
