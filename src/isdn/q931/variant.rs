//! Switch variants: what changes on the wire between NI-2, AT&T 5ESS/4ESS, Nortel
//! DMS-100, EuroISDN (ETSI EN 300 403) and QSIG (reference `q931-call-control.md`
//! section 12).
//!
//! The decoder is the same for every variant (it accepts all the codings listed
//! in the reference); only what we *send* differs, and these helpers are where
//! the builders in [`super::message`] look those differences up.
//!
//! ```text
//!              law     display    maintenance   sending complete  screening of allowed numbers
//!  national    mu-law  B1 prefix  SERVICE PD 43  no                as given
//!  5ess        mu-law  B1 prefix  SERVICE PD 03  no                as given
//!  4ess        mu-law  B1 prefix  SERVICE PD 03  no                forced network-provided
//!  dms100      mu-law  B1 prefix  SERVICE PD 03  no                forced network-provided
//!  euroisdn    A-law   text only  RESTART only   en-bloc SETUP     as given
//!  qsig        A-law*  text only  RESTART only   no                as given   (* per link)
//! ```

use std::fmt;
use std::str::FromStr;

use super::ie::{Display, Layer1Protocol, PartyNumber, Presentation, Screening};
use super::message::ProtocolDiscriminator;

/// The switch type at the far end of the span.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Variant {
    /// National ISDN-2 (T1).
    National,
    /// AT&T/Lucent 5ESS custom.
    Ess5,
    /// AT&T 4ESS.
    Ess4,
    /// Nortel DMS-100.
    Dms100,
    /// EuroISDN / ETSI EN 300 403 (E1).
    EuroIsdn,
    /// QSIG (ECMA-143), PBX to PBX.
    Qsig,
}

/// A variant name that is not one of ours.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown switch variant {0:?} (expected national, 5ess, 4ess, dms100, euroisdn or qsig)")]
pub struct UnknownVariant(pub String);

impl Variant {
    /// Every variant, in a fixed order.
    pub const ALL: [Self; 6] = [
        Self::National,
        Self::Ess5,
        Self::Ess4,
        Self::Dms100,
        Self::EuroIsdn,
        Self::Qsig,
    ];

    /// The configuration name (`national`, `5ess`, `4ess`, `dms100`, `euroisdn`, `qsig`).
    pub fn name(self) -> &'static str {
        match self {
            Self::National => "national",
            Self::Ess5 => "5ess",
            Self::Ess4 => "4ess",
            Self::Dms100 => "dms100",
            Self::EuroIsdn => "euroisdn",
            Self::Qsig => "qsig",
        }
    }

    /// Whether this is one of the North American switch types.
    pub fn is_north_american(self) -> bool {
        matches!(
            self,
            Self::National | Self::Ess5 | Self::Ess4 | Self::Dms100
        )
    }

    /// The G.711 law of the B-channels (bearer capability octet 5). QSIG runs on
    /// either; E1 links are the common case, so A-law is the default there.
    pub fn layer1(self) -> Layer1Protocol {
        match self {
            Self::EuroIsdn | Self::Qsig => Layer1Protocol::G711_A_LAW,
            _ => Layer1Protocol::G711_MU_LAW,
        }
    }

    /// The octet libpri puts before display text for North American switches (`B1`).
    pub fn display_prefix(self) -> Option<u8> {
        self.is_north_american().then_some(0xB1)
    }

    /// The protocol discriminator of SERVICE / SERVICE ACKNOWLEDGE, or `None` when the
    /// variant has only RESTART.
    pub fn maintenance_protocol(self) -> Option<ProtocolDiscriminator> {
        match self {
            Self::National => Some(ProtocolDiscriminator::NATIONAL_MAINTENANCE),
            Self::Ess5 | Self::Ess4 | Self::Dms100 => Some(ProtocolDiscriminator::MAINTENANCE),
            Self::EuroIsdn | Self::Qsig => None,
        }
    }

    /// Display text coded for this switch: `B1` + text for North American switches,
    /// plain text elsewhere (reference section 5.8).
    pub fn display(self, text: &str) -> Display {
        Display {
            charset: self.display_prefix(),
            ..Display::new(text)
        }
    }

    /// Whether an en-bloc SETUP carries sending complete (`A1`).
    pub fn sends_sending_complete(self) -> bool {
        self == Self::EuroIsdn
    }

    /// Whether an NFAS interface identifier (channel id octet 3.1) may be sent.
    pub fn allows_interface_id(self) -> bool {
        self != Self::Qsig
    }

    /// The calling number as this switch wants it: 4ESS and DMS-100 get
    /// "network provided" screening on numbers whose presentation is allowed
    /// (as libpri does).
    pub fn calling_number(self, number: PartyNumber) -> PartyNumber {
        let forces = matches!(self, Self::Ess4 | Self::Dms100);
        let p = number.presentation_or_default();
        if forces && p.presentation == Presentation::ALLOWED {
            number.with_presentation(Presentation::ALLOWED, Screening::NETWORK_PROVIDED)
        } else {
            number
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isdn::q931::ie::{NumberingPlan, TypeOfNumber};

    #[test]
    fn names_parse_back() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>(), Ok(v));
        }
        assert_eq!("5ESS".parse::<Variant>(), Ok(Variant::Ess5));
        assert!("ni1".parse::<Variant>().is_err());
    }

    #[test]
    fn screening_is_forced_only_for_4ess_and_dms100() {
        let n = PartyNumber::new(TypeOfNumber::NATIONAL, NumberingPlan::ISDN, "2125551000");
        for v in Variant::ALL {
            let screening = v
                .calling_number(n.clone())
                .presentation_or_default()
                .screening;
            let expected = if matches!(v, Variant::Ess4 | Variant::Dms100) {
                Screening::NETWORK_PROVIDED
            } else {
                Screening::USER_NOT_SCREENED
            };
            assert_eq!(screening, expected, "{v}");
        }
        let restricted = n.with_presentation(Presentation::RESTRICTED, Screening::USER_PASSED);
        assert_eq!(
            Variant::Dms100.calling_number(restricted.clone()),
            restricted
        );
    }
}
