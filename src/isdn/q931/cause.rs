//! Q.850 cause values and locations (ITU-T Q.850 clause 2.2; reference
//! `q931-call-control.md` section 5.3).
//!
//! Both are newtypes over the wire value so that a cause a switch invents
//! (North American switches reuse unassigned numbers) survives decoding and
//! re-encoding unchanged; [`Cause::normalized`] maps such a value to the default
//! of its class when a decision has to be taken on it.
//!
//! ```text
//!  cause value (7 bits):  class (bits 7-5) | value in class (bits 4-1)
//!  class 000/001 normal event, 010 resource unavailable, 011 service not available,
//!        100 service not implemented, 101 invalid message, 110 protocol error,
//!        111 interworking
//! ```

use std::fmt;

/// A Q.850 cause value (bits 7-1 of octet 4 of the cause IE).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Cause(pub u8);

impl Cause {
    /// 1: unallocated (unassigned) number.
    pub const UNALLOCATED_NUMBER: Self = Self(1);
    /// 2: no route to specified transit network.
    pub const NO_ROUTE_TO_TRANSIT_NETWORK: Self = Self(2);
    /// 3: no route to destination.
    pub const NO_ROUTE_TO_DESTINATION: Self = Self(3);
    /// 4: send special information tone.
    pub const SEND_SPECIAL_INFORMATION_TONE: Self = Self(4);
    /// 5: misdialled trunk prefix.
    pub const MISDIALLED_TRUNK_PREFIX: Self = Self(5);
    /// 6: channel unacceptable.
    pub const CHANNEL_UNACCEPTABLE: Self = Self(6);
    /// 7: call awarded and being delivered in an established channel.
    pub const CALL_AWARDED_IN_ESTABLISHED_CHANNEL: Self = Self(7);
    /// 8: preemption.
    pub const PREEMPTION: Self = Self(8);
    /// 9: preemption, circuit reserved for reuse.
    pub const PREEMPTION_CIRCUIT_RESERVED: Self = Self(9);
    /// 14: QoR: ported number.
    pub const QOR_PORTED_NUMBER: Self = Self(14);
    /// 16: normal call clearing.
    pub const NORMAL_CLEARING: Self = Self(16);
    /// 17: user busy.
    pub const USER_BUSY: Self = Self(17);
    /// 18: no user responding.
    pub const NO_USER_RESPONDING: Self = Self(18);
    /// 19: no answer from user (user alerted).
    pub const NO_ANSWER: Self = Self(19);
    /// 20: subscriber absent.
    pub const SUBSCRIBER_ABSENT: Self = Self(20);
    /// 21: call rejected.
    pub const CALL_REJECTED: Self = Self(21);
    /// 22: number changed.
    pub const NUMBER_CHANGED: Self = Self(22);
    /// 23: redirection to new destination.
    pub const REDIRECTION_TO_NEW_DESTINATION: Self = Self(23);
    /// 24: call rejected due to feature at the destination.
    pub const CALL_REJECTED_FEATURE_AT_DESTINATION: Self = Self(24);
    /// 25: exchange routing error.
    pub const EXCHANGE_ROUTING_ERROR: Self = Self(25);
    /// 26: non-selected user clearing.
    pub const NON_SELECTED_USER_CLEARING: Self = Self(26);
    /// 27: destination out of order.
    pub const DESTINATION_OUT_OF_ORDER: Self = Self(27);
    /// 28: invalid number format (address incomplete).
    pub const INVALID_NUMBER_FORMAT: Self = Self(28);
    /// 29: facility rejected.
    pub const FACILITY_REJECTED: Self = Self(29);
    /// 30: response to STATUS ENQUIRY.
    pub const RESPONSE_TO_STATUS_ENQUIRY: Self = Self(30);
    /// 31: normal, unspecified.
    pub const NORMAL_UNSPECIFIED: Self = Self(31);
    /// 34: no circuit/channel available.
    pub const NO_CIRCUIT_AVAILABLE: Self = Self(34);
    /// 38: network out of order.
    pub const NETWORK_OUT_OF_ORDER: Self = Self(38);
    /// 39: permanent frame mode connection out of service.
    pub const FRAME_MODE_OUT_OF_SERVICE: Self = Self(39);
    /// 40: permanent frame mode connection operational.
    pub const FRAME_MODE_OPERATIONAL: Self = Self(40);
    /// 41: temporary failure.
    pub const TEMPORARY_FAILURE: Self = Self(41);
    /// 42: switching equipment congestion.
    pub const SWITCHING_EQUIPMENT_CONGESTION: Self = Self(42);
    /// 43: access information discarded.
    pub const ACCESS_INFORMATION_DISCARDED: Self = Self(43);
    /// 44: requested circuit/channel not available.
    pub const REQUESTED_CHANNEL_NOT_AVAILABLE: Self = Self(44);
    /// 46: precedence call blocked.
    pub const PRECEDENCE_CALL_BLOCKED: Self = Self(46);
    /// 47: resource unavailable, unspecified.
    pub const RESOURCE_UNAVAILABLE: Self = Self(47);
    /// 49: quality of service not available.
    pub const QOS_NOT_AVAILABLE: Self = Self(49);
    /// 50: requested facility not subscribed.
    pub const FACILITY_NOT_SUBSCRIBED: Self = Self(50);
    /// 53: outgoing calls barred within CUG.
    pub const OUTGOING_CALLS_BARRED_WITHIN_CUG: Self = Self(53);
    /// 55: incoming calls barred within CUG.
    pub const INCOMING_CALLS_BARRED_WITHIN_CUG: Self = Self(55);
    /// 57: bearer capability not authorized.
    pub const BEARER_CAPABILITY_NOT_AUTHORIZED: Self = Self(57);
    /// 58: bearer capability not presently available.
    pub const BEARER_CAPABILITY_NOT_AVAILABLE: Self = Self(58);
    /// 62: inconsistency in designated outgoing access information and subscriber class.
    pub const INCONSISTENT_OUTGOING_ACCESS: Self = Self(62);
    /// 63: service or option not available, unspecified.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(63);
    /// 65: bearer capability not implemented.
    pub const BEARER_CAPABILITY_NOT_IMPLEMENTED: Self = Self(65);
    /// 66: channel type not implemented.
    pub const CHANNEL_TYPE_NOT_IMPLEMENTED: Self = Self(66);
    /// 69: requested facility not implemented.
    pub const FACILITY_NOT_IMPLEMENTED: Self = Self(69);
    /// 70: only restricted digital information bearer capability is available.
    pub const ONLY_RESTRICTED_DIGITAL_AVAILABLE: Self = Self(70);
    /// 79: service or option not implemented, unspecified.
    pub const SERVICE_NOT_IMPLEMENTED: Self = Self(79);
    /// 81: invalid call reference value.
    pub const INVALID_CALL_REFERENCE: Self = Self(81);
    /// 82: identified channel does not exist.
    pub const CHANNEL_DOES_NOT_EXIST: Self = Self(82);
    /// 83: a suspended call exists, but this call identity does not.
    pub const SUSPENDED_CALL_EXISTS: Self = Self(83);
    /// 84: call identity in use.
    pub const CALL_IDENTITY_IN_USE: Self = Self(84);
    /// 85: no call suspended.
    pub const NO_CALL_SUSPENDED: Self = Self(85);
    /// 86: call having the requested call identity has been cleared.
    pub const CALL_IDENTITY_CLEARED: Self = Self(86);
    /// 87: user not member of CUG.
    pub const USER_NOT_MEMBER_OF_CUG: Self = Self(87);
    /// 88: incompatible destination.
    pub const INCOMPATIBLE_DESTINATION: Self = Self(88);
    /// 90: non-existent CUG.
    pub const NON_EXISTENT_CUG: Self = Self(90);
    /// 91: invalid transit network selection.
    pub const INVALID_TRANSIT_NETWORK: Self = Self(91);
    /// 95: invalid message, unspecified.
    pub const INVALID_MESSAGE: Self = Self(95);
    /// 96: mandatory information element is missing.
    pub const MANDATORY_IE_MISSING: Self = Self(96);
    /// 97: message type non-existent or not implemented.
    pub const MESSAGE_TYPE_NON_EXISTENT: Self = Self(97);
    /// 98: message not compatible with call state or message type non-existent or not
    /// implemented.
    pub const MESSAGE_NOT_COMPATIBLE_OR_NON_EXISTENT: Self = Self(98);
    /// 99: information element/parameter non-existent or not implemented.
    pub const IE_NON_EXISTENT: Self = Self(99);
    /// 100: invalid information element contents.
    pub const INVALID_IE_CONTENTS: Self = Self(100);
    /// 101: message not compatible with call state.
    pub const MESSAGE_NOT_COMPATIBLE_WITH_STATE: Self = Self(101);
    /// 102: recovery on timer expiry.
    pub const RECOVERY_ON_TIMER_EXPIRY: Self = Self(102);
    /// 103: parameter non-existent or not implemented, passed on.
    pub const PARAMETER_NON_EXISTENT_PASSED_ON: Self = Self(103);
    /// 110: message with unrecognized parameter, discarded.
    pub const UNRECOGNIZED_PARAMETER_DISCARDED: Self = Self(110);
    /// 111: protocol error, unspecified.
    pub const PROTOCOL_ERROR: Self = Self(111);
    /// 127: interworking, unspecified.
    pub const INTERWORKING: Self = Self(127);

    /// The class of the cause (bits 7-5 of the value), 0..=7.
    pub fn class(self) -> u8 {
        (self.0 >> 4) & 0x07
    }

    /// The Q.850 name, or `None` for a value Q.850 does not assign.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "Unallocated (unassigned) number",
            2 => "No route to specified transit network",
            3 => "No route to destination",
            4 => "Send special information tone",
            5 => "Misdialled trunk prefix",
            6 => "Channel unacceptable",
            7 => "Call awarded and being delivered in an established channel",
            8 => "Preemption",
            9 => "Preemption, circuit reserved for reuse",
            14 => "QoR: ported number",
            16 => "Normal call clearing",
            17 => "User busy",
            18 => "No user responding",
            19 => "No answer from user (user alerted)",
            20 => "Subscriber absent",
            21 => "Call rejected",
            22 => "Number changed",
            23 => "Redirection to new destination",
            24 => "Call rejected due to feature at the destination",
            25 => "Exchange routing error",
            26 => "Non-selected user clearing",
            27 => "Destination out of order",
            28 => "Invalid number format (address incomplete)",
            29 => "Facility rejected",
            30 => "Response to STATUS ENQUIRY",
            31 => "Normal, unspecified",
            34 => "No circuit/channel available",
            38 => "Network out of order",
            39 => "Permanent frame mode connection out of service",
            40 => "Permanent frame mode connection operational",
            41 => "Temporary failure",
            42 => "Switching equipment congestion",
            43 => "Access information discarded",
            44 => "Requested circuit/channel not available",
            46 => "Precedence call blocked",
            47 => "Resource unavailable, unspecified",
            49 => "Quality of service not available",
            50 => "Requested facility not subscribed",
            53 => "Outgoing calls barred within CUG",
            55 => "Incoming calls barred within CUG",
            57 => "Bearer capability not authorized",
            58 => "Bearer capability not presently available",
            62 => "Inconsistency in designated outgoing access information and subscriber class",
            63 => "Service or option not available, unspecified",
            65 => "Bearer capability not implemented",
            66 => "Channel type not implemented",
            69 => "Requested facility not implemented",
            70 => "Only restricted digital information bearer capability is available",
            79 => "Service or option not implemented, unspecified",
            81 => "Invalid call reference value",
            82 => "Identified channel does not exist",
            83 => "A suspended call exists, but this call identity does not",
            84 => "Call identity in use",
            85 => "No call suspended",
            86 => "Call having the requested call identity has been cleared",
            87 => "User not member of CUG",
            88 => "Incompatible destination",
            90 => "Non-existent CUG",
            91 => "Invalid transit network selection",
            95 => "Invalid message, unspecified",
            96 => "Mandatory information element is missing",
            97 => "Message type non-existent or not implemented",
            98 => {
                "Message not compatible with call state or message type non-existent or not implemented"
            }
            99 => "Information element/parameter non-existent or not implemented",
            100 => "Invalid information element contents",
            101 => "Message not compatible with call state",
            102 => "Recovery on timer expiry",
            103 => "Parameter non-existent or not implemented, passed on",
            110 => "Message with unrecognized parameter, discarded",
            111 => "Protocol error, unspecified",
            127 => "Interworking, unspecified",
            _ => return None,
        })
    }

    /// This value if Q.850 assigns it, otherwise the "unspecified" default of its class
    /// (31, 47, 63, 79, 95, 111 or 127), as Q.850 asks a receiver to treat it.
    pub fn normalized(self) -> Self {
        if self.name().is_some() {
            return self;
        }
        match self.class() {
            0 | 1 => Self::NORMAL_UNSPECIFIED,
            2 => Self::RESOURCE_UNAVAILABLE,
            3 => Self::SERVICE_NOT_AVAILABLE,
            4 => Self::SERVICE_NOT_IMPLEMENTED,
            5 => Self::INVALID_MESSAGE,
            6 => Self::PROTOCOL_ERROR,
            _ => Self::INTERWORKING,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{} (unassigned)", self.0),
        }
    }
}

/// Where a cause or progress indication was generated (bits 4-1 of octet 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Location(pub u8);

impl Location {
    /// 0: user.
    pub const USER: Self = Self(0);
    /// 1: private network serving the local user.
    pub const PRIVATE_LOCAL: Self = Self(1);
    /// 2: public network serving the local user.
    pub const PUBLIC_LOCAL: Self = Self(2);
    /// 3: transit network.
    pub const TRANSIT: Self = Self(3);
    /// 4: public network serving the remote user.
    pub const PUBLIC_REMOTE: Self = Self(4);
    /// 5: private network serving the remote user.
    pub const PRIVATE_REMOTE: Self = Self(5);
    /// 7: international network.
    pub const INTERNATIONAL: Self = Self(7);
    /// 10: network beyond interworking point.
    pub const BEYOND_INTERWORKING: Self = Self(10);

    /// The Q.850 name, or `None` for a reserved value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "User",
            1 => "Private network serving the local user",
            2 => "Public network serving the local user",
            3 => "Transit network",
            4 => "Public network serving the remote user",
            5 => "Private network serving the remote user",
            7 => "International network",
            10 => "Network beyond interworking point",
            _ => return None,
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Reserved location {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_class_is_bits_7_to_5() {
        assert_eq!(Cause::NORMAL_CLEARING.class(), 1);
        assert_eq!(Cause::NO_CIRCUIT_AVAILABLE.class(), 2);
        assert_eq!(Cause::MANDATORY_IE_MISSING.class(), 6);
        assert_eq!(Cause::INTERWORKING.class(), 7);
    }

    #[test]
    fn unassigned_cause_normalizes_to_its_class_default() {
        assert_eq!(Cause(10).normalized(), Cause::NORMAL_UNSPECIFIED);
        assert_eq!(Cause(35).normalized(), Cause::RESOURCE_UNAVAILABLE);
        assert_eq!(Cause(51).normalized(), Cause::SERVICE_NOT_AVAILABLE);
        assert_eq!(Cause(67).normalized(), Cause::SERVICE_NOT_IMPLEMENTED);
        assert_eq!(Cause(89).normalized(), Cause::INVALID_MESSAGE);
        assert_eq!(Cause(104).normalized(), Cause::PROTOCOL_ERROR);
        assert_eq!(Cause(120).normalized(), Cause::INTERWORKING);
    }

    #[test]
    fn assigned_cause_normalizes_to_itself() {
        for value in 0..=127u8 {
            let cause = Cause(value);
            if cause.name().is_some() {
                assert_eq!(cause.normalized(), cause);
            } else {
                assert!(cause.normalized().name().is_some());
            }
        }
    }

    #[test]
    fn cause_display_names_the_value() {
        assert_eq!(Cause::USER_BUSY.to_string(), "17 (User busy)");
        assert_eq!(Cause(12).to_string(), "12 (unassigned)");
        assert_eq!(
            Location::PUBLIC_LOCAL.to_string(),
            "Public network serving the local user"
        );
    }
}
