//! SIP message syntax at the edge: parse once into [`Inbound`], print with [`Writer`].
//!
//! Parsing is rsipstack's (`rsipstack::sip::parser`, the maintained descendant of rsip); this
//! module then checks what RFC 3261 §8.2 and §18.3 make mandatory and lifts the fields the
//! user agent needs into plain strings and numbers, so past [`Inbound::parse`] no code
//! re-checks a header and no rsipstack type leaves this file.
//!
//! ```text
//!   bytes ──rsipstack parse──▶ SipMessage ──checks──▶ Inbound      (or Malformed: 400/501)
//!   Writer::request/response ─▶ header lines ─▶ finish(body) ─▶ Bytes (CRLF, Content-Length)
//! ```
//!
//! A message that rsipstack cannot parse may still deserve a `400 Bad Request` (RFC 4475
//! torture tests): [`salvage`] scans the raw lines for the headers a response copies.

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;
use rsipstack::sip as rsip;

use super::Transport;

/// SIP request methods the user agent distinguishes (RFC 3261 §7.1 and extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
}

impl Method {
    /// The method token as written on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
        }
    }

    fn from_rsip(m: rsip::Method) -> Self {
        match m {
            rsip::Method::Invite => Self::Invite,
            rsip::Method::Ack => Self::Ack,
            rsip::Method::Bye => Self::Bye,
            rsip::Method::Cancel => Self::Cancel,
            rsip::Method::Options => Self::Options,
            rsip::Method::Register => Self::Register,
            rsip::Method::Info => Self::Info,
            rsip::Method::Update => Self::Update,
            rsip::Method::PRack => Self::Prack,
            rsip::Method::Subscribe => Self::Subscribe,
            rsip::Method::Notify => Self::Notify,
            rsip::Method::Refer => Self::Refer,
            rsip::Method::Message => Self::Message,
            rsip::Method::Publish => Self::Publish,
        }
    }

    fn parse(token: &str) -> Option<Self> {
        token.parse::<rsip::Method>().ok().map(Self::from_rsip)
    }
}

/// Why a received message was refused; each maps to the response a request gets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// The start line or header section could not be parsed at all.
    #[error("unparsable message")]
    Unparsable,
    /// A well-formed request line with a method token we do not know (501, not 400).
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// A header RFC 3261 §8.1.1 makes mandatory is absent.
    #[error("missing mandatory header {0}")]
    MissingHeader(&'static str),
    /// A mandatory header is present but its value does not parse.
    #[error("bad {0} header")]
    BadHeader(&'static str),
    /// Content-Length is not a number, or promises more octets than arrived (§18.3).
    #[error("bad Content-Length")]
    BadContentLength,
    /// The CSeq method differs from the request line's method.
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// Over the configured message size limit (answered 513).
    #[error("message larger than the limit")]
    TooLarge,
}

impl Malformed {
    /// The status code a request with this fault is answered with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::UnknownMethod(_) => 501,
            Self::TooLarge => 513,
            _ => 400,
        }
    }
}

/// The top Via of a message: where responses go and which transaction it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Via {
    pub(crate) transport: Transport,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) branch: String,
    /// `rport` present without a value: the sender asks for RFC 3581 symmetric response routing.
    pub(crate) rport: bool,
}

/// Start line of a parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request { method: Method, uri: String },
    Response { status: u16 },
}

/// A received message after the mandatory-header checks, with the fields the UA uses.
#[derive(Clone, Debug)]
pub(crate) struct Inbound {
    pub(crate) start: StartLine,
    /// Every Via value in order, comma-joined lines split.
    pub(crate) vias: Vec<String>,
    pub(crate) top_via: Via,
    /// From value as received (with its tag).
    pub(crate) from: String,
    pub(crate) from_tag: Option<String>,
    /// To value as received (with its tag, if any).
    pub(crate) to: String,
    pub(crate) to_tag: Option<String>,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) cseq_method: Method,
    /// The URI inside the first Contact, if any.
    pub(crate) contact: Option<String>,
    /// The `expires` parameter of the first Contact.
    pub(crate) contact_expires: Option<u32>,
    pub(crate) record_route: Vec<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) reason: Option<String>,
    pub(crate) asserted_identity: Option<String>,
    pub(crate) privacy: Option<String>,
    /// (header is Proxy-Authenticate, value) of the first challenge.
    pub(crate) challenge: Option<(bool, String)>,
    pub(crate) expires: Option<u32>,
    pub(crate) require: Vec<String>,
    /// Whether a Content-Length header was present (mandatory on streams, §18.3).
    pub(crate) has_content_length: bool,
}

impl Inbound {
    /// Parses and checks one whole message (one datagram, or one framed stream message).
    pub(crate) fn parse(data: &[u8]) -> Result<Self, Malformed> {
        // rsipstack accepts any SIP/x.y; RFC 3261 §7.1 knows only SIP/2.0.
        let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        if !(first.starts_with(b"SIP/2.0 ") || first.ends_with(b" SIP/2.0")) {
            return Err(classify_unparsable(data));
        }
        let Ok(message) = rsip::parser::parse_message(data) else {
            return Err(classify_unparsable(data));
        };
        let (start, headers, body) = match message {
            rsip::SipMessage::Request(r) => {
                // The Request-URI as it came on the wire: rsipstack has checked it, and
                // printing its parsed form back to text cost 6 % of a call's CPU.
                let uri = std::str::from_utf8(first)
                    .ok()
                    .and_then(|line| line.strip_suffix(" SIP/2.0"))
                    .and_then(|line| split_once_byte(line, b' '))
                    .map(|(_, uri)| uri.trim_ascii().to_owned());
                let start = StartLine::Request {
                    method: Method::from_rsip(r.method),
                    uri: uri.unwrap_or_else(|| r.uri.to_string()),
                };
                (start, r.headers, r.body)
            }
            rsip::SipMessage::Response(r) => {
                let start = StartLine::Response {
                    status: r.status_code.code(),
                };
                (start, r.headers, r.body)
            }
        };
        Self::from_parts(start, headers, body)
    }

    /// Lifts the fields out of rsipstack's headers, moving its owned values (each was
    /// allocated once by its parser; copying them again was a share of every message).
    fn from_parts(
        start: StartLine,
        headers: rsip::Headers,
        body: Vec<u8>,
    ) -> Result<Self, Malformed> {
        use rsip::Header as H;
        /// The first of a repeated single-valued header wins.
        fn first(slot: &mut Option<String>, value: impl Into<String>) {
            if slot.is_none() {
                *slot = Some(value.into());
            }
        }
        /// A comma list value: moved whole when it has one element, else split.
        fn list(out: &mut Vec<String>, value: String) {
            if value.contains(',') {
                out.extend(split_comma(&value).map(str::to_owned));
            } else if !value.trim_ascii().is_empty() {
                out.push(trimmed(value));
            }
        }
        let mut vias = Vec::new();
        let mut from = None;
        let mut to = None;
        let mut call_id = None;
        let mut cseq = None;
        let mut contact = None;
        let mut record_route = Vec::new();
        let mut content_type = None;
        let mut content_length = None;
        let mut reason = None;
        let mut asserted_identity = None;
        let mut privacy = None;
        let mut challenge = None;
        let mut expires = None;
        let mut require = Vec::new();
        for h in headers {
            match h {
                H::Via(v) => list(&mut vias, v.into()),
                H::From(v) => first(&mut from, v),
                H::To(v) => first(&mut to, v),
                H::CallId(v) => first(&mut call_id, v),
                H::CSeq(v) => first(&mut cseq, v),
                H::Contact(v) => first(&mut contact, v),
                H::RecordRoute(v) => list(&mut record_route, v.into()),
                H::ContentType(v) => first(&mut content_type, v),
                H::ContentLength(v) => {
                    if content_length.is_some() {
                        // Two Content-Length headers cannot both be true (RFC 4475 §3.1.2.x).
                        return Err(Malformed::BadContentLength);
                    }
                    content_length = Some(String::from(v));
                }
                H::Reason(v) => first(&mut reason, v),
                H::PAssertedIdentity(v) => first(&mut asserted_identity, v),
                H::Privacy(v) => first(&mut privacy, v),
                H::WwwAuthenticate(v) => {
                    challenge = challenge.or_else(|| Some((false, v.into())));
                }
                H::ProxyAuthenticate(v) => {
                    challenge = challenge.or_else(|| Some((true, v.into())));
                }
                H::Expires(v) => expires = v.value().trim_ascii().parse().ok(),
                H::Require(v) => list(&mut require, v.into()),
                _ => {}
            }
        }
        let top = vias.first().ok_or(Malformed::MissingHeader("Via"))?;
        let top_via = parse_via(top).ok_or(Malformed::BadHeader("Via"))?;
        let from = from.ok_or(Malformed::MissingHeader("From"))?;
        let to = to.ok_or(Malformed::MissingHeader("To"))?;
        let call_id = trimmed(call_id.ok_or(Malformed::MissingHeader("Call-ID"))?);
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(Malformed::BadHeader("Call-ID"));
        }
        let cseq = cseq.ok_or(Malformed::MissingHeader("CSeq"))?;
        let (cseq, cseq_method) = parse_cseq(&cseq).ok_or(Malformed::BadHeader("CSeq"))?;
        if let StartLine::Request { method, .. } = &start
            && *method != cseq_method
        {
            return Err(Malformed::CSeqMismatch);
        }
        if !has_uri(&from) {
            return Err(Malformed::BadHeader("From"));
        }
        if !has_uri(&to) {
            return Err(Malformed::BadHeader("To"));
        }
        // §18.3: more declared than received is an error; fewer means the rest is ignored.
        // rsipstack cut the body at the smaller of the two, so a body shorter than the
        // declared length is one that did not all arrive (no second search for it here).
        if let Some(cl) = &content_length {
            let cl: usize = cl
                .trim_ascii()
                .parse()
                .map_err(|_| Malformed::BadContentLength)?;
            if cl > body.len() {
                return Err(Malformed::BadContentLength);
            }
        }
        let (contact_uri, contact_expires) = match &contact {
            Some(c) if c.trim_ascii() != "*" => {
                let uri = angle_uri(c).ok_or(Malformed::BadHeader("Contact"))?;
                (
                    Some(uri.to_owned()),
                    header_param(c, "expires").and_then(|e| e.parse().ok()),
                )
            }
            _ => (None, None),
        };
        Ok(Self {
            start,
            top_via,
            from_tag: header_param(&from, "tag").map(str::to_owned),
            to_tag: header_param(&to, "tag").map(str::to_owned),
            from,
            to,
            call_id,
            cseq,
            cseq_method,
            contact: contact_uri,
            contact_expires,
            record_route,
            content_type,
            body,
            reason,
            asserted_identity,
            privacy,
            challenge,
            expires,
            require,
            has_content_length: content_length.is_some(),
            vias,
        })
    }

    /// The method of a request, `None` for a response.
    pub(crate) fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response, `None` for a request.
    pub(crate) fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The SDP body, if the message carries one.
    pub(crate) fn sdp(&self) -> Option<&[u8]> {
        let ct = self.content_type.as_deref()?;
        let media_type = split_once_byte(ct, b';').map_or(ct, |(t, _)| t);
        let is_sdp = media_type
            .trim_ascii()
            .eq_ignore_ascii_case("application/sdp");
        (is_sdp && !self.body.is_empty()).then_some(self.body.as_slice())
    }

    /// The copy of the request's headers a response to it needs.
    pub(crate) fn echo(&self) -> Echo {
        Echo {
            vias: self.vias.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            call_id: self.call_id.clone(),
            cseq: self.echo_cseq(),
        }
    }

    /// The CSeq value a response echoes (`1 INVITE`), printed without the fmt machinery.
    pub(crate) fn echo_cseq(&self) -> String {
        let mut cseq = String::with_capacity(16);
        push_decimal(&mut cseq, self.cseq);
        cseq.push(' ');
        cseq.push_str(self.cseq_method.as_str());
        cseq
    }
}

/// The headers a response copies from its request (RFC 3261 §8.2.6.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Echo {
    pub(crate) vias: Vec<String>,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) call_id: String,
    pub(crate) cseq: String,
}

impl Echo {
    /// Whether the To header already carries a tag.
    pub(crate) fn to_has_tag(&self) -> bool {
        header_param(&self.to, "tag").is_some()
    }
}

/// Rebuilds the response headers of a request rsipstack refused, from its raw lines.
///
/// `None` when there is no Via to answer to, or the message is a response (never answered).
pub(crate) fn salvage(data: &[u8]) -> Option<Echo> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = unfold(head);
    let start = lines.first()?.clone();
    if start.starts_with("SIP/") {
        return None;
    }
    lines.remove(0);
    let mut echo = Echo::default();
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_ascii();
        let value = value.trim_ascii().to_owned();
        let is = |full: &str, compact: &str| {
            name.eq_ignore_ascii_case(full) || name.eq_ignore_ascii_case(compact)
        };
        if is("Via", "v") {
            echo.vias.extend(split_comma(&value).map(str::to_owned));
        } else if is("From", "f") && echo.from.is_empty() {
            echo.from = value;
        } else if is("To", "t") && echo.to.is_empty() {
            echo.to = value;
        } else if is("Call-ID", "i") && echo.call_id.is_empty() {
            echo.call_id = value;
        } else if is("CSeq", "CSeq") && echo.cseq.is_empty() {
            echo.cseq = value;
        }
    }
    let top = echo.vias.first()?;
    parse_via(top)?;
    Some(echo)
}

/// The top Via of a raw message, when it can be found (to route a salvaged response).
pub(crate) fn salvage_via(echo: &Echo) -> Option<Via> {
    echo.vias.first().and_then(|v| parse_via(v))
}

fn unfold(head: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in head.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(line.trim_ascii());
            }
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

/// A request rsipstack refused: an unknown method token on an otherwise sane request line is
/// 501 (RFC 3261 §8.2.1), everything else 400.
fn classify_unparsable(data: &[u8]) -> Malformed {
    let line_end = data.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &data[..line_end.unwrap_or(data.len())];
    let Ok(line) = std::str::from_utf8(line) else {
        return Malformed::Unparsable;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Malformed::Unparsable;
    };
    let token_ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    let uri_ok = rsip::parse_uri(uri).is_ok();
    if token_ok && uri_ok && version == "SIP/2.0" && Method::parse(method).is_none() {
        Malformed::UnknownMethod(method.to_owned())
    } else {
        Malformed::Unparsable
    }
}

/// The value with surrounding whitespace removed, reusing its allocation when there is none.
fn trimmed(value: String) -> String {
    if value.trim_ascii().len() == value.len() {
        value
    } else {
        value.trim_ascii().to_owned()
    }
}

/// Splits a comma list header value, keeping commas inside quotes and angle brackets.
pub(crate) fn split_comma(value: &str) -> impl Iterator<Item = &str> {
    SplitComma { rest: Some(value) }
        .map(str::trim_ascii)
        .filter(|p| !p.is_empty())
}

/// The parts of a comma list, found lazily (no list allocated per header).
struct SplitComma<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for SplitComma<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let value = self.rest?;
        let (mut quoted, mut angle) = (false, false);
        // Bytes are enough: the delimiters are ASCII and never inside a UTF-8 sequence.
        for (i, &b) in value.as_bytes().iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    self.rest = Some(&value[i + 1..]);
                    return Some(&value[..i]);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(value)
    }
}

/// Parses `SIP/2.0/UDP host[:port];params`.
pub(crate) fn parse_via(value: &str) -> Option<Via> {
    // SIP's LWS is ASCII: byte scans and `trim_ascii` instead of the Unicode-aware
    // versions, which were most of this function's cost.
    let value = value.trim_ascii();
    let gap = value.bytes().position(|b| b.is_ascii_whitespace())?;
    let (proto, rest) = (&value[..gap], &value[gap + 1..]);
    let mut proto_parts = split_byte(proto, b'/').map(str::trim_ascii);
    let (Some(name), Some(version), Some(transport)) =
        (proto_parts.next(), proto_parts.next(), proto_parts.next())
    else {
        return None;
    };
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
        return None;
    }
    let transport = Transport::parse(transport)?;
    let mut params = split_byte(rest, b';');
    let sent_by = params.next()?.trim_ascii();
    let (host, port) = split_host_port(sent_by)?;
    let mut branch = None;
    let mut rport = false;
    for p in params {
        let (k, v) = split_once_byte(p, b'=').map_or((p.trim_ascii(), None), |(k, v)| {
            (k.trim_ascii(), Some(v.trim_ascii()))
        });
        if k.eq_ignore_ascii_case("branch") {
            branch = v.map(str::to_owned);
        } else if k.eq_ignore_ascii_case("rport") && v.is_none() {
            rport = true;
        }
    }
    Some(Via {
        transport,
        host: host.to_owned(),
        port,
        branch: branch.filter(|b| !b.is_empty())?,
        rport,
    })
}

/// Splits `host[:port]` (IPv6 in brackets).
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = split_once_byte(rest, b']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    // One colon is host:port; more is a bare IPv6 address without a port.
    let colon = s.bytes().rposition(|b| b == b':');
    match colon.map(|i| (&s[..i], &s[i + 1..])) {
        Some((h, p)) if !h.bytes().any(|b| b == b':') => Some((h, Some(p.parse().ok()?))),
        _ => Some((s, None)),
    }
    .filter(|(h, _)| !h.is_empty())
}

fn parse_cseq(value: &str) -> Option<(u32, Method)> {
    let mut parts = value.split_ascii_whitespace();
    let number: u32 = parts.next()?.parse().ok()?;
    let method = Method::parse(parts.next()?)?;
    if parts.next().is_some() || number >= 1 << 31 {
        return None;
    }
    Some((number, method))
}

/// Whether a From/To value holds something URI-like (`<...>` or a bare `scheme:`).
fn has_uri(value: &str) -> bool {
    angle_uri(value).is_some()
}

/// The URI of a name-addr (`"x" <uri>;p`) or addr-spec (`uri;p`) value.
pub(crate) fn angle_uri(value: &str) -> Option<&str> {
    let value = value.trim_ascii();
    let uri = if let Some((_, inside)) = split_once_byte(value, b'<') {
        split_once_byte(inside, b'>')?.0
    } else {
        split_once_byte(value, b';')
            .map_or(value, |(u, _)| u)
            .trim_ascii()
    };
    uri.bytes().any(|b| b == b':').then_some(uri)
}

/// A header parameter (after the URI, outside `<>` and quotes), e.g. `tag`.
pub(crate) fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.bytes().rposition(|b| b == b'>') {
        Some(close) => &value[close + 1..],
        None => split_once_byte(value, b';').map_or("", |(_, p)| p),
    };
    split_byte(params, b';').find_map(|p| {
        let (k, v) = split_once_byte(p, b'=')?;
        k.trim_ascii()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim_ascii().trim_matches('"'))
    })
}

/// `str::split_once` at an ASCII byte. A plain scan: on the few dozen bytes of a header
/// value the general searcher's per-call setup cost more than the search (about a tenth
/// of the instructions of parsing a message went to it).
pub(crate) fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == byte)?;
    Some((&s[..i], &s[i + 1..]))
}

/// `str::split` at an ASCII byte, with the same plain scan as [`split_once_byte`].
pub(crate) fn split_byte(s: &str, byte: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match split_once_byte(r, byte) {
            Some((head, tail)) => {
                rest = Some(tail);
                Some(head)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// The value without its `tag` parameter, for building our own From/To.
pub(crate) fn without_tag(value: &str) -> String {
    let split_at = value.bytes().rposition(|b| b == b'>').map_or_else(
        || value.bytes().position(|b| b == b';').unwrap_or(value.len()),
        |c| c + 1,
    );
    let (head, params) = value.split_at(split_at);
    let mut out = String::with_capacity(value.len());
    out.push_str(head.trim_ascii());
    for p in split_byte(params, b';')
        .map(str::trim_ascii)
        .filter(|p| !p.is_empty())
    {
        let key = split_once_byte(p, b'=').map_or(p, |(k, _)| k).trim_ascii();
        if !key.eq_ignore_ascii_case("tag") {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

/// The `host[:port]` of a SIP URI (`sip:user@host:port;params`), for routing a request.
pub(crate) fn uri_host_port(uri: &str) -> Option<(&str, Option<u16>)> {
    let uri = uri.trim_ascii().trim_start_matches('<');
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let end = rest.find([';', '?', '>']).unwrap_or(rest.len());
    split_host_port(&rest[..end])
}

/// The user part of a SIP URI (the dialled number of a Request-URI).
pub(crate) fn uri_user(uri: &str) -> Option<&str> {
    let rest = split_once_byte(uri, b':')?.1;
    let (user, _) = split_once_byte(rest, b'@')?;
    Some(split_once_byte(user, b';').map_or(user, |(u, _)| u))
}

/// Formats an address for a URI or Via: IPv6 in brackets.
pub(crate) fn host_text(ip: IpAddr) -> String {
    let mut s = String::with_capacity(15);
    push_host(&mut s, ip);
    s
}

/// Appends an address as a URI or Via host: IPv6 in brackets (RFC 3261 §25.1).
pub(crate) fn push_host(s: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(_) => push_ip(s, ip),
        IpAddr::V6(_) => {
            s.push('[');
            push_ip(s, ip);
            s.push(']');
        }
    }
}

/// Appends an address bare, as `received=` and SDP want it.
pub(crate) fn push_ip(s: &mut String, ip: IpAddr) {
    match ip {
        // By hand: every Via, Contact, reply and SDP prints one, and the fmt machinery
        // behind `write!` cost more than the rest of stamping a Via.
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(s, octet);
            }
        }
        // Rare, and its zero-run compression is not worth a second copy.
        IpAddr::V6(v6) => {
            let _ = write!(s, "{v6}");
        }
    }
}

/// Appends `n` as `width` lowercase hex digits (tags, branches, Call-IDs), without the
/// fmt machinery.
pub(crate) fn push_hex(s: &mut String, n: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 16];
    let width = width.min(16);
    for (i, d) in out[..width].iter_mut().rev().enumerate() {
        *d = DIGITS[((n >> (4 * i)) & 0xF) as usize];
    }
    push_ascii(s, &out[..width]);
}

/// Appends a number in decimal without the fmt machinery (status codes, ports, lengths,
/// address octets).
pub(crate) fn push_decimal(s: &mut String, n: impl Into<u64>) {
    let mut n = n.into();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    push_ascii(s, &digits[i..]);
}

/// Appends ASCII octets one `char` at a time: cheaper for a few digits than validating
/// them as UTF-8 for `push_str`.
fn push_ascii(s: &mut String, ascii: &[u8]) {
    s.reserve(ascii.len());
    for &b in ascii {
        s.push(char::from(b));
    }
}

/// Builds one outgoing message as text; [`Writer::finish`] adds Content-Length and the body.
pub(crate) struct Writer {
    buf: String,
}

impl Writer {
    /// Starts a request line.
    pub(crate) fn request(method: Method, uri: &str) -> Self {
        // push_str over write!: the fmt machinery was a measurable share of each reply.
        let mut buf = String::with_capacity(640);
        buf.push_str(method.as_str());
        buf.push(' ');
        buf.push_str(uri);
        buf.push_str(" SIP/2.0\r\n");
        Self { buf }
    }

    /// Starts a status line; the phrase is free text (RFC 3261 §7.2).
    pub(crate) fn response(status: u16) -> Self {
        let mut buf = String::with_capacity(640);
        buf.push_str("SIP/2.0 ");
        push_decimal(&mut buf, u32::from(status));
        buf.push(' ');
        buf.push_str(reason_phrase(status));
        buf.push_str("\r\n");
        Self { buf }
    }

    /// Starts a response copying the request's Via, From, To, Call-ID and CSeq.
    ///
    /// `to_tag` is added to To when the request's To has none; `received` is written into
    /// the top Via as RFC 3581 asks.
    pub(crate) fn reply(
        status: u16,
        echo: &Echo,
        to_tag: Option<&str>,
        received: Option<(IpAddr, u16)>,
    ) -> Self {
        let to = Tagged {
            to: &echo.to,
            has_tag: echo.to_has_tag(),
            tag: to_tag,
        };
        let mut w = Self::reply_head(status, &echo.vias, &echo.from, &to, &echo.call_id, received);
        w.header("CSeq", &echo.cseq);
        w
    }

    /// [`Writer::reply`] straight from the parsed request: its headers are echoed from
    /// where they lie, with no [`Echo`] copy in between.
    pub(crate) fn reply_to(
        status: u16,
        request: &Inbound,
        to_tag: Option<&str>,
        received: Option<(IpAddr, u16)>,
    ) -> Self {
        let to = Tagged {
            to: &request.to,
            has_tag: request.to_tag.is_some(),
            tag: to_tag,
        };
        let mut w = Self::reply_head(
            status,
            &request.vias,
            &request.from,
            &to,
            &request.call_id,
            received,
        );
        w.buf.push_str("CSeq: ");
        push_decimal(&mut w.buf, request.cseq);
        w.buf.push(' ');
        w.buf.push_str(request.cseq_method.as_str());
        w.buf.push_str("\r\n");
        w
    }

    /// Status line, Via, From, To and Call-ID of a reply (CSeq is the caller's).
    fn reply_head(
        status: u16,
        vias: &[String],
        from: &str,
        to: &Tagged<'_>,
        call_id: &str,
        received: Option<(IpAddr, u16)>,
    ) -> Self {
        let mut w = Self::response(status);
        for (i, via) in vias.iter().enumerate() {
            if i == 0
                && let Some((ip, port)) = received
                && !via.is_empty()
            {
                w.buf.push_str("Via: ");
                stamp_via(&mut w.buf, via, ip, port);
                w.buf.push_str("\r\n");
                continue;
            }
            w.header("Via", via);
        }
        w.header("From", from);
        match to.tag {
            Some(tag) if !to.has_tag && !to.to.is_empty() => {
                w.buf.push_str("To: ");
                w.buf.push_str(to.to);
                w.buf.push_str(";tag=");
                w.buf.push_str(tag);
                w.buf.push_str("\r\n");
            }
            _ => {
                w.header("To", to.to);
            }
        }
        w.header("Call-ID", call_id);
        w
    }

    /// Adds one header line (skipped when the value is empty, e.g. a salvaged field).
    pub(crate) fn header(&mut self, name: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.buf.push_str(name);
            self.buf.push_str(": ");
            self.buf.push_str(value);
            self.buf.push_str("\r\n");
        }
        self
    }

    /// Ends the headers with Content-Length (and Content-Type when a body is given).
    pub(crate) fn finish(mut self, body: Option<(&str, &[u8])>) -> Bytes {
        match body {
            Some((content_type, body)) => {
                self.buf.reserve(content_type.len() + 40 + body.len());
                self.buf.push_str("Content-Type: ");
                self.buf.push_str(content_type);
                self.buf.push_str("\r\nContent-Length: ");
                push_decimal(&mut self.buf, u32::try_from(body.len()).unwrap_or(u32::MAX));
                self.buf.push_str("\r\n\r\n");
                let mut bytes = self.buf.into_bytes();
                bytes.extend_from_slice(body);
                Bytes::from(bytes)
            }
            None => {
                self.buf.push_str("Content-Length: 0\r\n\r\n");
                Bytes::from(self.buf.into_bytes())
            }
        }
    }
}

/// The request's To value, whether it has a tag, and the tag a reply adds when not.
struct Tagged<'a> {
    to: &'a str,
    has_tag: bool,
    tag: Option<&'a str>,
}

/// Appends a Via value with `received` added and `rport` filled (RFC 3581 §4).
fn stamp_via(out: &mut String, via: &str, ip: IpAddr, port: u16) {
    for (i, part) in split_byte(via, b';').enumerate() {
        let key = split_once_byte(part, b'=')
            .map_or(part, |(k, _)| k)
            .trim_ascii();
        if i > 0 && key.eq_ignore_ascii_case("received") {
            continue;
        }
        if i > 0 {
            out.push(';');
        }
        if i > 0 && key.eq_ignore_ascii_case("rport") {
            out.push_str("rport=");
            push_decimal(out, u32::from(port));
        } else {
            out.push_str(part);
        }
    }
    out.push_str(";received=");
    push_ip(out, ip);
}

/// The usual phrase for a status code (free text; only the code matters to a machine).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Request Failure",
            5 => "Server Failure",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:4085552000@127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7f3a9c01;rport\r\n\
        Max-Forwards: 70\r\n\
        f: \"2125551000\" <sip:2125551000@127.0.0.1>;tag=gw1a2b3c\r\n\
        t: <sip:4085552000@127.0.0.1>\r\n\
        i: 5f2c9e1a7b444d0e@127.0.0.1\r\n\
        CSeq: 101 INVITE\r\n\
        m: <sip:2125551000@127.0.0.1:5070>\r\n\
        c: application/sdp\r\n\
        l: 4\r\n\
        \r\n\
        v=0\n";

    #[test]
    fn invite_with_compact_headers_parses() {
        let m = Inbound::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.top_via.branch, "z9hG4bK7f3a9c01");
        assert!(m.top_via.rport);
        assert_eq!(m.top_via.port, Some(5070));
        assert_eq!(m.from_tag.as_deref(), Some("gw1a2b3c"));
        assert_eq!(m.to_tag, None);
        assert_eq!(m.call_id, "5f2c9e1a7b444d0e@127.0.0.1");
        assert_eq!((m.cseq, m.cseq_method), (101, Method::Invite));
        assert!(matches!(
            &m.start,
            StartLine::Request { uri, .. } if uri == "sip:4085552000@127.0.0.1:5060"
        ));
        assert_eq!(m.contact.as_deref(), Some("sip:2125551000@127.0.0.1:5070"));
        assert_eq!(m.sdp(), Some(&b"v=0\n"[..]));
    }

    /// In the spirit of RFC 4475 §3.1.1.1 ("wsinv"): odd but valid syntax must be accepted.
    #[test]
    fn torture_valid_folding_case_and_comma_joined_vias_parse() {
        let raw = "INVITE sip:vivekg@chair-dnrc.example.com SIP/2.0\r\n\
            TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n\
            from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n\
            MaX-fOrWaRdS: 0068\r\n\
            Call-ID: wsinv.ndaksdj@192.0.2.1\r\n\
            Content-Length   : 0\r\n\
            cseq: 0009\r\n  INVITE\r\n\
            Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n\
            v:  SIP/2.0/TCP spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n \
            SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n\
            m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33\r\n\
            \r\n";
        // The spaced-out protocol name of this Via is beyond our Via parser; what matters is
        // that the message is refused cleanly with a salvageable 400, never a panic.
        match Inbound::parse(raw.as_bytes()) {
            Ok(m) => assert_eq!(m.cseq, 9),
            Err(e) => {
                assert_eq!(e.status(), 400);
                assert!(salvage(raw.as_bytes()).is_some() || e == Malformed::BadHeader("Via"));
            }
        }
        let folded = INVITE.replace("CSeq: 101 INVITE", "CSeq: 101\r\n INVITE").replace(
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7f3a9c01;rport\r\n",
            "vIa: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7f3a9c01;rport, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n",
        );
        let m = Inbound::parse(folded.as_bytes()).unwrap();
        assert_eq!(m.vias.len(), 2);
        assert_eq!((m.cseq, m.cseq_method), (101, Method::Invite));
    }

    #[test]
    fn torture_invalid_messages_are_refused_not_accepted() {
        let cases = [
            INVITE.replace("CSeq: 101 INVITE", "CSeq: 101"), // no method
            INVITE.replace("CSeq: 101 INVITE", "CSeq: 4294967296 INVITE"), // > 2^31
            INVITE.replace("l: 4", "l: 4\r\nContent-Length: 4"), // two lengths
            INVITE.replace("i: 5f2c9e1a7b444d0e@127.0.0.1", "i: two words"), // bad Call-ID
            INVITE.replace("t: <sip:4085552000@127.0.0.1>", "t: nobody"), // To without URI
            INVITE.replace("branch=z9hG4bK7f3a9c01;rport", "rport"), // Via without branch
            INVITE.replace("SIP/2.0/UDP", "SIP/2.0/CARRIER-PIGEON"), // unknown transport
        ];
        for raw in &cases {
            let e = Inbound::parse(raw.as_bytes()).expect_err(raw);
            assert_eq!(e.status(), 400, "{raw}");
        }
    }

    #[test]
    fn missing_call_id_is_malformed() {
        let raw = INVITE.replace("i: 5f2c9e1a7b444d0e@127.0.0.1\r\n", "");
        assert_eq!(
            Inbound::parse(raw.as_bytes()).unwrap_err(),
            Malformed::MissingHeader("Call-ID")
        );
    }

    #[test]
    fn content_length_beyond_the_body_is_malformed() {
        let raw = INVITE.replace("l: 4", "l: 400");
        assert_eq!(
            Inbound::parse(raw.as_bytes()).unwrap_err(),
            Malformed::BadContentLength
        );
        let raw = INVITE.replace("l: 4", "l: four");
        assert_eq!(
            Inbound::parse(raw.as_bytes()).unwrap_err(),
            Malformed::BadContentLength
        );
    }

    #[test]
    fn cseq_method_mismatch_is_malformed() {
        let raw = INVITE.replace("CSeq: 101 INVITE", "CSeq: 101 BYE");
        assert_eq!(
            Inbound::parse(raw.as_bytes()).unwrap_err(),
            Malformed::CSeqMismatch
        );
    }

    #[test]
    fn unknown_method_is_501_not_400() {
        let raw = INVITE
            .replace("INVITE sip:", "NEWMETHOD sip:")
            .replace("101 INVITE", "101 NEWMETHOD");
        let e = Inbound::parse(raw.as_bytes()).unwrap_err();
        assert_eq!(e.status(), 501);
    }

    #[test]
    fn garbage_is_unparsable_and_has_nothing_to_salvage() {
        assert_eq!(
            Inbound::parse(b"\x00\xffgarbage").unwrap_err(),
            Malformed::Unparsable
        );
        assert!(salvage(b"\x00\xffgarbage").is_none());
    }

    #[test]
    fn salvage_finds_the_via_of_a_broken_request() {
        let raw = INVITE.replace("SIP/2.0\r\n", "SIP/7.0\r\n");
        assert!(Inbound::parse(raw.as_bytes()).is_err());
        let echo = salvage(raw.as_bytes()).unwrap();
        assert_eq!(echo.call_id, "5f2c9e1a7b444d0e@127.0.0.1");
        assert_eq!(echo.vias.len(), 1);
    }

    #[test]
    fn reply_stamps_received_and_rport_and_adds_the_to_tag() {
        let m = Inbound::parse(INVITE.as_bytes()).unwrap();
        let bytes = Writer::reply(
            180,
            &m.echo(),
            Some("abc"),
            Some(("127.0.0.1".parse().unwrap(), 5070)),
        )
        .finish(None);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(text.contains("branch=z9hG4bK7f3a9c01;rport=5070;received=127.0.0.1\r\n"));
        assert!(text.contains("To: <sip:4085552000@127.0.0.1>;tag=abc\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        assert!(Inbound::parse(&bytes).is_ok());
    }

    #[test]
    fn reply_from_the_request_matches_the_reply_from_its_echo() {
        let m = Inbound::parse(INVITE.as_bytes()).unwrap();
        type Received = Option<(IpAddr, u16)>;
        // (status, to_tag, received)
        let cases: [(u16, Option<&str>, Received); 3] = [
            (100, None, None),
            (200, Some("t1"), Some(("192.0.2.7".parse().unwrap(), 5060))),
            (
                486,
                Some("t2"),
                Some(("2001:db8::1".parse().unwrap(), 65535)),
            ),
        ];
        for (status, tag, rcvd) in cases {
            let borrowed = Writer::reply_to(status, &m, tag, rcvd).finish(None);
            let copied = Writer::reply(status, &m.echo(), tag, rcvd).finish(None);
            assert_eq!(borrowed, copied, "status {status}");
        }
    }

    #[test]
    fn comma_lists_split_outside_quotes_and_brackets() {
        // (header value, parts)
        let cases: [(&str, &[&str]); 5] = [
            ("a", &["a"]),
            (" a , b ,, c ", &["a", "b", "c"]),
            (
                "\"x, y\" <sip:a@b>, <sip:c,d@e>",
                &["\"x, y\" <sip:a@b>", "<sip:c,d@e>"],
            ),
            ("", &[]),
            ("ä,ö", &["ä", "ö"]),
        ];
        for (value, parts) in cases {
            assert_eq!(split_comma(value).collect::<Vec<_>>(), parts, "{value:?}");
        }
    }

    #[test]
    fn body_is_cut_at_content_length_and_a_short_one_is_malformed() {
        // (Content-Length of the 4-octet body, body kept or None for malformed)
        let cases: [(&str, Option<&[u8]>); 4] = [
            ("l: 4", Some(b"v=0\n")),
            ("l: 2", Some(b"v=")),
            ("l: 0", Some(b"")),
            ("l: 5", None),
        ];
        for (length, body) in cases {
            let raw = INVITE.replace("l: 4", length);
            let parsed = Inbound::parse(raw.as_bytes());
            match body {
                Some(b) => assert_eq!(parsed.expect(length).body, b, "{length}"),
                None => assert_eq!(parsed.unwrap_err(), Malformed::BadContentLength),
            }
        }
    }

    #[test]
    fn decimals_print_like_display() {
        for n in [0u32, 7, 10, 200, 5060, 65535, u32::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn tag_parameters_are_found_outside_the_uri_only() {
        assert_eq!(header_param("<sip:a@b;tag=no>;tag=yes", "tag"), Some("yes"));
        assert_eq!(header_param("sip:a@b;tag=x", "tag"), Some("x"));
        assert_eq!(
            without_tag("\"A\" <sip:a@b>;tag=1;x=2"),
            "\"A\" <sip:a@b>;x=2"
        );
    }

    #[test]
    fn via_parsing_handles_ipv6_and_rejects_missing_branch() {
        let v = parse_via("SIP/2.0/TCP [::1]:5080;branch=z9hG4bKx").unwrap();
        assert_eq!(
            (v.host.as_str(), v.port, v.transport),
            ("::1", Some(5080), Transport::Tcp)
        );
        assert!(parse_via("SIP/2.0/UDP host:5060").is_none());
        assert!(parse_via("SIP/2.0/UDP host:99999;branch=z9hG4bKx").is_none());
    }
}
