//! Party numbers ↔ SIP identities (reference `interworking.md` §3.2-3.3, §4.2-4.3).
//!
//! ```text
//!   Calling party number (type, plan, presentation, screening)
//!        │ calling_to_sip ──▶ From user (or anonymous), P-Asserted-Identity, Privacy
//!   From / P-Asserted-Identity / Privacy
//!        │ calling_from_sip ─▶ digits + presentation + screening ──▶ Calling party number
//! ```
//!
//! Pure functions: the translation profiles have run before these are called, so the
//! digits here are the ones to send.

use crate::isdn::q931::ie::{
    NumberingPlan as Plan, PartyNumber, Presentation, Screening, TypeOfNumber,
};
use crate::routing::translation::{Number, NumberType, NumberingPlan};
use crate::sip;

/// A Q.931 party number as the router sees it (digits, type, plan).
pub fn number_from_party(party: &PartyNumber) -> Number {
    let number_type = match party.type_of_number {
        TypeOfNumber::INTERNATIONAL => NumberType::International,
        TypeOfNumber::NATIONAL => NumberType::National,
        TypeOfNumber::NETWORK_SPECIFIC => NumberType::Network,
        TypeOfNumber::SUBSCRIBER => NumberType::Subscriber,
        TypeOfNumber::ABBREVIATED => NumberType::Abbreviated,
        TypeOfNumber::UNKNOWN => NumberType::Unknown,
        _ => NumberType::Reserved,
    };
    let plan = match party.numbering_plan {
        Plan::UNKNOWN => NumberingPlan::Unknown,
        Plan::ISDN => NumberingPlan::Isdn,
        Plan::DATA => NumberingPlan::Data,
        Plan::TELEX => NumberingPlan::Telex,
        Plan::NATIONAL => NumberingPlan::National,
        Plan::PRIVATE => NumberingPlan::Private,
        _ => NumberingPlan::Reserved,
    };
    Number {
        digits: party.digits.clone(),
        number_type,
        plan,
    }
}

/// A router number as a Q.931 party number (no octet 3a). A leading `+` becomes type
/// international, plan ISDN (§4.2).
pub fn party_from_number(number: &Number) -> PartyNumber {
    if let Some(digits) = number.digits.strip_prefix('+') {
        return PartyNumber::new(TypeOfNumber::INTERNATIONAL, Plan::ISDN, digits);
    }
    let type_of_number = match number.number_type {
        NumberType::Unknown => TypeOfNumber::UNKNOWN,
        NumberType::International => TypeOfNumber::INTERNATIONAL,
        NumberType::National => TypeOfNumber::NATIONAL,
        NumberType::Network => TypeOfNumber::NETWORK_SPECIFIC,
        NumberType::Subscriber => TypeOfNumber::SUBSCRIBER,
        NumberType::Abbreviated => TypeOfNumber::ABBREVIATED,
        NumberType::Reserved => TypeOfNumber(7),
    };
    let plan = match number.plan {
        NumberingPlan::Unknown => Plan::UNKNOWN,
        NumberingPlan::Isdn => Plan::ISDN,
        NumberingPlan::Data => Plan::DATA,
        NumberingPlan::Telex => Plan::TELEX,
        NumberingPlan::National => Plan::NATIONAL,
        NumberingPlan::Private => Plan::PRIVATE,
        NumberingPlan::Ermes => Plan(5),
        NumberingPlan::Reserved => Plan(15),
    };
    PartyNumber::new(type_of_number, plan, &number.digits)
}

/// The user part of a SIP URI for a number (§3.2): international gets `+`; national
/// gets `+<country code>` when one is configured; anything else goes as it is.
pub fn sip_user(number: &Number, country_code: Option<&str>) -> String {
    let digits = number.digits.trim_start_matches('+');
    match (number.number_type, country_code) {
        _ if number.digits.starts_with('+') => number.digits.clone(),
        (NumberType::International, _) => format!("+{digits}"),
        (NumberType::National, Some(cc)) => format!("+{cc}{digits}"),
        _ => digits.to_owned(),
    }
}

/// How the caller appears in the INVITE (§3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipIdentity {
    /// From: the number, or anonymous.
    pub from: sip::Party,
    /// P-Asserted-Identity URI (the endpoint sends it only to trust-domain peers).
    pub asserted: Option<String>,
    /// Privacy header.
    pub privacy: Option<String>,
}

/// The INVITE identity for a SETUP's calling party number. `number` is the calling
/// number after translation, `ie` the IE as received (for presentation and
/// screening), `host` the gateway's host for the URIs.
pub fn calling_to_sip(
    number: Option<&Number>,
    ie: Option<&PartyNumber>,
    display: Option<&str>,
    host: &str,
    country_code: Option<&str>,
) -> SipIdentity {
    let anonymous = SipIdentity {
        from: sip::Party {
            user: None,
            display: None,
        },
        asserted: None,
        privacy: None,
    };
    let (Some(number), Some(ie)) = (number, ie) else {
        return anonymous;
    };
    if number.digits.is_empty() {
        return anonymous;
    }
    let ps = ie.presentation_or_default();
    let user = sip_user(number, country_code);
    let asserted = format!("<sip:{user}@{host};user=phone>");
    let screened = matches!(
        ps.screening,
        Screening::USER_PASSED | Screening::NETWORK_PROVIDED
    );
    match ps.presentation {
        Presentation::ALLOWED => SipIdentity {
            from: sip::Party {
                user: Some(user),
                display: display.map(str::to_owned),
            },
            asserted: screened.then_some(asserted),
            privacy: None,
        },
        Presentation::RESTRICTED => SipIdentity {
            from: sip::Party {
                user: None,
                display: None,
            },
            asserted: Some(asserted),
            privacy: Some("id".to_owned()),
        },
        _ => anonymous,
    }
}

/// The user part of a SIP or tel URI in a header value (`"A" <sip:+1212@h>`,
/// `tel:+1212`), if it is a dialable number.
pub fn uri_user(value: &str) -> Option<String> {
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.trim(),
    };
    let rest = inner
        .strip_prefix("sip:")
        .or_else(|| inner.strip_prefix("sips:"))
        .or_else(|| inner.strip_prefix("tel:"))?;
    let user = rest
        .split(['@', ';', '?', '>'])
        .next()
        .unwrap_or_default()
        .trim();
    let digits = user.strip_prefix('+').unwrap_or(user);
    let dialable = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#'));
    dialable.then(|| user.to_owned())
}

/// The calling number for a SETUP from an INVITE's identity (§4.3), before
/// translation: digits (a `+` kept, for [`party_from_number`]) and octet 3a.
pub fn calling_from_sip(
    from_user: Option<&str>,
    asserted: Option<&str>,
    privacy: Option<&str>,
) -> (Option<Number>, Presentation, Screening) {
    let hides = privacy.is_some_and(|p| {
        p.split(';').map(str::trim).any(|v| {
            v.eq_ignore_ascii_case("id")
                || v.eq_ignore_ascii_case("user")
                || v.eq_ignore_ascii_case("header")
        })
    });
    let presentation = if hides {
        Presentation::RESTRICTED
    } else {
        Presentation::ALLOWED
    };
    if let Some(number) = asserted.and_then(uri_user) {
        return (
            Some(Number::new(number)),
            presentation,
            Screening::USER_PASSED,
        );
    }
    let from = from_user.filter(|u| {
        !u.eq_ignore_ascii_case("anonymous") && uri_user(&format!("sip:{u}@x")).is_some()
    });
    match from {
        Some(user) => (
            Some(Number::new(user)),
            presentation,
            Screening::USER_NOT_SCREENED,
        ),
        None => (
            None,
            Presentation::NOT_AVAILABLE,
            Screening::NETWORK_PROVIDED,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calling(digits: &str, p: Presentation, s: Screening) -> PartyNumber {
        PartyNumber::new(TypeOfNumber::NATIONAL, Plan::ISDN, digits).with_presentation(p, s)
    }

    fn national(digits: &str) -> Number {
        Number {
            digits: digits.into(),
            number_type: NumberType::National,
            plan: NumberingPlan::Isdn,
        }
    }

    /// §3.3 row 1: allowed and screened: From and PAI, no Privacy.
    #[test]
    fn allowed_network_provided_number_is_asserted() {
        let ie = calling(
            "2125551000",
            Presentation::ALLOWED,
            Screening::NETWORK_PROVIDED,
        );
        let id = calling_to_sip(
            Some(&national("2125551000")),
            Some(&ie),
            None,
            "gw",
            Some("1"),
        );
        assert_eq!(id.from.user.as_deref(), Some("+12125551000"));
        assert_eq!(
            id.asserted.as_deref(),
            Some("<sip:+12125551000@gw;user=phone>")
        );
        assert_eq!(id.privacy, None);
    }

    /// §3.3 row 2: allowed but not screened: From only.
    #[test]
    fn allowed_unscreened_number_is_not_asserted() {
        let ie = calling(
            "2125551000",
            Presentation::ALLOWED,
            Screening::USER_NOT_SCREENED,
        );
        let id = calling_to_sip(Some(&national("2125551000")), Some(&ie), None, "gw", None);
        assert_eq!(id.from.user.as_deref(), Some("2125551000"));
        assert_eq!(id.asserted, None);
        assert_eq!(id.privacy, None);
    }

    /// §3.3 row 3: restricted: anonymous From, PAI, Privacy: id.
    #[test]
    fn restricted_number_is_anonymous_with_privacy_id() {
        let ie = calling(
            "2125551000",
            Presentation::RESTRICTED,
            Screening::NETWORK_PROVIDED,
        );
        let id = calling_to_sip(Some(&national("2125551000")), Some(&ie), None, "gw", None);
        assert_eq!(id.from.user, None);
        assert_eq!(
            id.asserted.as_deref(),
            Some("<sip:2125551000@gw;user=phone>")
        );
        assert_eq!(id.privacy.as_deref(), Some("id"));
    }

    /// §3.3 row 4: not available or absent: anonymous, nothing else.
    #[test]
    fn unavailable_or_missing_number_is_anonymous() {
        let ie = calling("", Presentation::NOT_AVAILABLE, Screening::NETWORK_PROVIDED);
        let id = calling_to_sip(Some(&national("")), Some(&ie), None, "gw", None);
        assert_eq!(id.from.user, None);
        assert_eq!(id.asserted, None);
        let id = calling_to_sip(None, None, None, "gw", None);
        assert_eq!(id.from.user, None);
        assert_eq!(id.privacy, None);
    }

    #[test]
    fn sip_user_formats_by_type_of_number() {
        let intl = Number {
            digits: "442071234567".into(),
            number_type: NumberType::International,
            plan: NumberingPlan::Isdn,
        };
        assert_eq!(sip_user(&intl, None), "+442071234567");
        assert_eq!(sip_user(&national("4085552000"), Some("1")), "+14085552000");
        assert_eq!(sip_user(&national("4085552000"), None), "4085552000");
        assert_eq!(sip_user(&Number::new("2001"), Some("1")), "2001");
    }

    /// §4.3 rows.
    #[test]
    fn trusted_pai_without_privacy_is_allowed_and_verified() {
        let (n, p, s) = calling_from_sip(Some("1000"), Some("<sip:+12125551000@p>"), None);
        assert_eq!(n.map(|n| n.digits).as_deref(), Some("+12125551000"));
        assert_eq!((p, s), (Presentation::ALLOWED, Screening::USER_PASSED));
    }

    #[test]
    fn pai_with_privacy_id_is_restricted() {
        let (n, p, s) = calling_from_sip(None, Some("tel:+12125551000"), Some("id"));
        assert_eq!(n.map(|n| n.digits).as_deref(), Some("+12125551000"));
        assert_eq!((p, s), (Presentation::RESTRICTED, Screening::USER_PASSED));
    }

    #[test]
    fn from_number_without_pai_is_not_screened() {
        let (n, p, s) = calling_from_sip(Some("5551000"), None, None);
        assert_eq!(n.map(|n| n.digits).as_deref(), Some("5551000"));
        assert_eq!(
            (p, s),
            (Presentation::ALLOWED, Screening::USER_NOT_SCREENED)
        );
        let (_, p, _) = calling_from_sip(Some("5551000"), None, Some("user"));
        assert_eq!(p, Presentation::RESTRICTED);
    }

    #[test]
    fn anonymous_from_without_pai_is_not_available() {
        let (n, p, s) = calling_from_sip(Some("anonymous"), None, None);
        assert_eq!(n, None);
        assert_eq!(
            (p, s),
            (Presentation::NOT_AVAILABLE, Screening::NETWORK_PROVIDED)
        );
        let (n, _, _) = calling_from_sip(Some("alice"), None, None);
        assert_eq!(n, None);
    }

    #[test]
    fn plus_numbers_become_international_isdn() {
        let p = party_from_number(&Number::new("+442071234567"));
        assert_eq!(p.type_of_number, TypeOfNumber::INTERNATIONAL);
        assert_eq!(p.numbering_plan, Plan::ISDN);
        assert_eq!(p.digits, "442071234567");
        let back = number_from_party(&p);
        assert_eq!(back.number_type, NumberType::International);
    }
}
