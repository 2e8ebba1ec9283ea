//! Text rendering of a message in the style of Cisco IOS `debug isdn q931`, for
//! `dialgate line watch` and logs. The caller prefixes the direction
//! (`TX ->` / `RX <-`).
//!
//! ```text
//! SETUP pd = 8  callref = 0x0001
//!         Bearer Capability i = 0x8090A2
//!                 Standard = CCITT
//!                 Transfer Capability = Speech
//!                 Transfer Mode = Circuit
//!                 Transfer Rate = 64 kbit/s
//!         Channel ID i = 0xA98385
//!                 Exclusive, Channel 5
//!         Called Party Number i = 0xC1, '5552000'
//!                 Plan:ISDN, Type:Subscriber(local)
//! ```

use std::fmt::{self, Write as _};

use super::ie::{
    BearerCapability, CallStateIe, CauseIe, ChangeStatus, ChannelId, ChannelSelection, Codeset,
    DateTime, Display, Ie, IeCodec, IeError, IeId, Keypad, NotificationIndicator, PartyNumber,
    ProgressIndicator, RestartIndicator, Shift, Signal,
};
use super::message::Message;

const IE_INDENT: &str = "        ";
const DETAIL_INDENT: &str = "                ";

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name)?,
            None => write!(f, "UNKNOWN (0x{:02X})", self.message_type.0)?,
        }
        write!(f, " pd = {}  callref = {}", self.protocol.0, self.call_ref)?;
        if !self.national_contents().is_empty() {
            write!(
                f,
                "\n{IE_INDENT}National contents i = 0x{}",
                Hex(self.national_contents())
            )?;
        }
        for ie in self.ies() {
            f.write_char('\n')?;
            f.write_str(IE_INDENT)?;
            write_ie(f, ie)?;
        }
        Ok(())
    }
}

/// Octets as uppercase hex without separators (`8090A2`).
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|o| write!(f, "{o:02X}"))
    }
}

fn detail(f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>) -> fmt::Result {
    write!(f, "\n{DETAIL_INDENT}{args}")
}

fn shifted_name(codeset: Codeset, id: IeId) -> Option<&'static str> {
    match (codeset.0, id.0) {
        (5, 0x32) => Some("Calling Party Category"),
        (6, 0x01) => Some("Originating Line Info"),
        (6, 0x37) => Some("Generic Digits"),
        _ => None,
    }
}

fn write_ie(f: &mut fmt::Formatter<'_>, ie: &Ie) -> fmt::Result {
    if let Some(octet) = ie.single_octet() {
        return match ie.as_shift() {
            Some(Shift::Locking(c)) => write!(f, "Locking Shift to Codeset {}", c.0),
            Some(Shift::NonLocking(c)) => write!(f, "Non-Locking Shift to Codeset {}", c.0),
            None => match ie.id() {
                IeId::SENDING_COMPLETE => f.write_str("Sending Complete"),
                IeId::MORE_DATA => f.write_str("More Data"),
                IeId::CONGESTION_LEVEL => write!(f, "Congestion Level i = 0x{octet:02X}"),
                IeId::REPEAT_INDICATOR => write!(f, "Repeat Indicator i = 0x{octet:02X}"),
                _ => write!(f, "Single-octet IE i = 0x{octet:02X}"),
            },
        };
    }
    let id = ie.id();
    let contents = ie.contents();
    if ie.codeset() != Codeset::ITU {
        write!(f, "Codeset {} IE 0x{:02X}", ie.codeset().0, id.0)?;
        if let Some(name) = shifted_name(ie.codeset(), id) {
            write!(f, " ({name})")?;
        }
        return write!(f, "  i = 0x{}", Hex(contents));
    }
    let Some(name) = id.name() else {
        return write!(f, "Unknown IE 0x{:02X}  i = 0x{}", id.0, Hex(contents));
    };
    f.write_str(name)?;
    match id {
        IeId::BEARER_CAPABILITY => bearer(f, contents),
        IeId::CHANNEL_ID => channel(f, contents),
        IeId::CAUSE => cause(f, contents),
        IeId::PROGRESS_INDICATOR => progress(f, contents),
        IeId::CALL_STATE => call_state(f, contents),
        IeId::CONNECTED_NUMBER
        | IeId::CALLING_PARTY_NUMBER
        | IeId::CALLED_PARTY_NUMBER
        | IeId::ORIGINAL_CALLED_NUMBER
        | IeId::REDIRECTING_NUMBER
        | IeId::REDIRECTION_NUMBER => number(f, contents),
        IeId::DISPLAY => display(f, contents),
        IeId::KEYPAD_FACILITY => keypad(f, contents),
        IeId::RESTART_INDICATOR => restart(f, contents),
        IeId::CHANGE_STATUS => change_status(f, contents),
        IeId::NOTIFICATION_INDICATOR => notification(f, contents),
        IeId::DATE_TIME => date_time(f, contents),
        IeId::SIGNAL => signal(f, contents),
        _ => write!(f, " i = 0x{}", Hex(contents)),
    }
}

/// Contents that do not decode are printed raw, with the reason.
fn invalid(f: &mut fmt::Formatter<'_>, contents: &[u8], reason: IeError) -> fmt::Result {
    write!(f, " i = 0x{}", Hex(contents))?;
    detail(f, format_args!("(invalid contents: {reason})"))
}

/// Decodes the contents or prints them raw and returns from the renderer.
macro_rules! decode_or_raw {
    ($ty:ty, $f:expr, $contents:expr) => {
        match <$ty>::decode($contents) {
            Ok(value) => value,
            Err(reason) => return invalid($f, $contents, reason),
        }
    };
}

fn bearer(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let bc = decode_or_raw!(BearerCapability, f, contents);
    write!(f, " i = 0x{}", Hex(contents))?;
    detail(f, format_args!("Standard = {}", bc.coding_standard))?;
    detail(
        f,
        format_args!("Transfer Capability = {}", bc.transfer_capability),
    )?;
    detail(f, format_args!("Transfer Mode = {}", bc.transfer_mode))?;
    detail(f, format_args!("Transfer Rate = {}", bc.rate))?;
    if let Some(m) = bc.rate_multiplier {
        detail(f, format_args!("Rate Multiplier = {m}"))?;
    }
    if let Some(l1) = bc.layer1 {
        detail(f, format_args!("User Info Layer 1 = {l1}"))?;
    }
    Ok(())
}

fn channel(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let c = decode_or_raw!(ChannelId, f, contents);
    write!(f, " i = 0x{}", Hex(contents))?;
    let mut line = String::new();
    if let Some(id) = c.interface_id {
        let _ = write!(line, "Interface {id}, ");
    }
    line.push_str(if c.exclusive {
        "Exclusive"
    } else {
        "Preferred"
    });
    if c.d_channel {
        line.push_str(", D-channel");
    }
    match c.selection {
        ChannelSelection::NONE => line.push_str(", No channel"),
        ChannelSelection::ANY => line.push_str(", Any channel"),
        _ => {}
    }
    match c.channel_numbers() {
        [] if c.channel_type.is_some_and(|t| t.slot_map) => {
            let _ = write!(line, ", Slot map 0x{}", Hex(&c.channels));
        }
        [] => {}
        [one] => {
            let _ = write!(line, ", Channel {one}");
        }
        many => {
            line.push_str(", Channels");
            for n in many {
                let _ = write!(line, " {n}");
            }
        }
    }
    detail(f, format_args!("{line}"))
}

fn cause(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let c = decode_or_raw!(CauseIe, f, contents);
    let name = c.value.name().unwrap_or("Unassigned cause");
    write!(f, " i = 0x{} - {name}", Hex(contents))?;
    detail(
        f,
        format_args!("Cause {}, Location = {}", c.value.0, c.location),
    )?;
    if !c.diagnostics.is_empty() {
        detail(f, format_args!("Diagnostics = 0x{}", Hex(&c.diagnostics)))?;
    }
    Ok(())
}

fn progress(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let p = decode_or_raw!(ProgressIndicator, f, contents);
    write!(f, " i = 0x{} - {}", Hex(contents), p.description)
}

fn call_state(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let s = decode_or_raw!(CallStateIe, f, contents);
    write!(f, " i = 0x{} - State {}", Hex(contents), s.state.0)
}

fn number(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let n = decode_or_raw!(PartyNumber, f, contents);
    let header = contents.len().saturating_sub(n.digits.len());
    let head = contents.get(..header).unwrap_or(contents);
    write!(f, " i = 0x{}, '{}'", Hex(head), n.digits)?;
    let mut line = format!("Plan:{}, Type:{}", n.numbering_plan, n.type_of_number);
    if let Some(p) = n.presentation {
        let _ = write!(line, ", {}, {}", p.presentation, p.screening);
    }
    if let Some(r) = n.reason {
        let _ = write!(line, ", Reason:{r}");
    }
    detail(f, format_args!("{line}"))
}

fn display(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let d = decode_or_raw!(Display, f, contents);
    match d.charset {
        Some(c) => write!(f, " i = 0x{c:02X}, '{}'", d.text().escape_debug()),
        None => write!(f, " i = '{}'", d.text().escape_debug()),
    }
}

fn keypad(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let k = decode_or_raw!(Keypad, f, contents);
    write!(f, " i = '{}'", k.digits.escape_debug())
}

fn restart(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let r = decode_or_raw!(RestartIndicator, f, contents);
    write!(f, " i = 0x{} - {}", Hex(contents), r.class)
}

fn change_status(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let c = decode_or_raw!(ChangeStatus, f, contents);
    let scope = if c.channel_preference {
        "channel"
    } else {
        "interface"
    };
    write!(f, " i = 0x{} - {}, {scope}", Hex(contents), c.status)
}

fn notification(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let n = decode_or_raw!(NotificationIndicator, f, contents);
    write!(f, " i = 0x{} - {}", Hex(contents), n.description)
}

fn date_time(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let d = decode_or_raw!(DateTime, f, contents);
    write!(f, " i = 0x{}", Hex(contents))?;
    let mut line = format!("Date = {:02}/{:02}/{:02}", d.year, d.month, d.day);
    if let Some(h) = d.hour {
        let _ = write!(line, " {h:02}:{:02}", d.minute.unwrap_or(0));
        if let Some(s) = d.second {
            let _ = write!(line, ":{s:02}");
        }
    }
    detail(f, format_args!("{line}"))
}

fn signal(f: &mut fmt::Formatter<'_>, contents: &[u8]) -> fmt::Result {
    let s = decode_or_raw!(Signal, f, contents);
    write!(f, " i = 0x{} - {s}", Hex(contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn setup_prints_like_debug_isdn_q931() {
        let m = Message::decode(&hex(
            "08 02 00 01 05 04 03 80 90 A2 18 03 A9 83 85 6C 09 41 80 35 35 35 31 30 30 30 \
             70 08 C1 35 35 35 32 30 30 30",
        ))
        .unwrap();
        let expected = "SETUP pd = 8  callref = 0x0001
        Bearer Capability i = 0x8090A2
                Standard = CCITT
                Transfer Capability = Speech
                Transfer Mode = Circuit
                Transfer Rate = 64 kbit/s
                User Info Layer 1 = u-law
        Channel ID i = 0xA98385
                Exclusive, Channel 5
        Calling Party Number i = 0x4180, '5551000'
                Plan:ISDN, Type:Subscriber(local), Presentation allowed, User-provided, not screened
        Called Party Number i = 0xC1, '5552000'
                Plan:ISDN, Type:Subscriber(local)";
        assert_eq!(m.to_string(), expected);
    }

    #[test]
    fn cause_progress_and_state_print_their_meaning() {
        let m = Message::decode(&hex("08 02 80 01 7D 08 02 82 9E 14 01 04")).unwrap();
        let text = m.to_string();
        assert!(
            text.starts_with("STATUS pd = 8  callref = 0x8001"),
            "{text}"
        );
        assert!(
            text.contains("Cause i = 0x829E - Response to STATUS ENQUIRY"),
            "{text}"
        );
        assert!(
            text.contains("Location = Public network serving the local user"),
            "{text}"
        );
        assert!(text.contains("Call State i = 0x04 - State 4"), "{text}");
        let m = Message::decode(&hex("08 02 80 01 03 1E 02 82 88")).unwrap();
        assert!(
            m.to_string()
                .contains("Progress Ind i = 0x8288 - In-band info or appropriate now available")
        );
    }

    #[test]
    fn shifted_unknown_and_broken_ies_print_raw() {
        let m =
            Message::decode_unchecked(&hex("08 02 00 01 05 96 01 01 00 A1 3A 01 FF 9D 32 01 01"))
                .unwrap();
        let text = m.to_string();
        assert!(text.contains("Locking Shift to Codeset 6"), "{text}");
        assert!(
            text.contains("Codeset 6 IE 0x01 (Originating Line Info)  i = 0x00"),
            "{text}"
        );
        assert!(text.contains("Sending Complete"), "{text}");
        assert!(text.contains("Codeset 6 IE 0x3A  i = 0xFF"), "{text}");
        assert!(text.contains("Non-Locking Shift to Codeset 5"), "{text}");
        let m = Message::decode_unchecked(&hex("08 02 00 01 05 04 01 80 3A 01 FF")).unwrap();
        let text = m.to_string();
        assert!(
            text.contains("Bearer Capability i = 0x80\n                (invalid contents"),
            "{text}"
        );
        assert!(text.contains("Unknown IE 0x3A  i = 0xFF"), "{text}");
    }

    #[test]
    fn display_and_maintenance_print() {
        let m = Message::decode(&hex("08 02 80 01 01 28 09 B1 4A 6F 68 6E 20 44 6F 65")).unwrap();
        assert!(
            m.to_string().contains("Display i = 0xB1, 'John Doe'"),
            "{m}"
        );
        let m = Message::decode(&hex("03 02 80 00 07 01 01 C2 18 03 A9 83 85")).unwrap();
        let text = m.to_string();
        assert!(
            text.starts_with("SERVICE ACKNOWLEDGE pd = 3  callref = 0x8000"),
            "{text}"
        );
        assert!(
            text.contains("Change Status i = 0xC2 - Out of service, channel"),
            "{text}"
        );
    }
}
