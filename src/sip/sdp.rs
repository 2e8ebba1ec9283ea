//! SDP for G.711 calls (RFC 4566) and the offer/answer rules we rely on (RFC 3264).
//!
//! Only what a PRI gateway needs: one audio stream, PCMU/PCMA, RFC 4733 telephone-event,
//! ptime and direction. Pure functions, no I/O.
//!
//! ```text
//!   offer (bytes) ──parse──▶ Session ──answer(local codecs)──▶ Negotiated ──print──▶ bytes
//!                                      └ no common codec ─▶ NoCommonCodec (488)
//! ```
//!
//! The answer keeps the offer's codec order (the offerer's preference, RFC 3264 §6.1) and
//! the offer's payload type for telephone-event.

use std::net::{IpAddr, SocketAddr};

use super::message::{push_decimal, push_ip, split_byte, split_once_byte};

/// A G.711 law. The payload types are the static ones of RFC 3551.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law, payload type 0 (T1 spans).
    Pcmu,
    /// G.711 A-law, payload type 8 (E1 spans).
    Pcma,
}

impl Codec {
    /// Static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    fn encoding(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    fn from_payload(pt: u8, rtpmap: Option<&str>) -> Option<Self> {
        match rtpmap {
            Some(name) if name.eq_ignore_ascii_case("PCMU/8000") => Some(Self::Pcmu),
            Some(name) if name.eq_ignore_ascii_case("PCMA/8000") => Some(Self::Pcma),
            Some(_) => None,
            None => match pt {
                0 => Some(Self::Pcmu),
                8 => Some(Self::Pcma),
                _ => None,
            },
        }
    }
}

/// Media direction attribute (RFC 3264 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways (the default when absent).
    #[default]
    SendRecv,
    /// The describing side only sends (it puts the other on hold).
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// No media either way.
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to an offer with this direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }
}

/// What the local side can do, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Codecs in local preference order (PCMU first on T1, PCMA first on E1).
    pub codecs: Vec<Codec>,
    /// Payload type we offer for telephone-event; `None` disables RFC 4733 relay.
    pub telephone_event: Option<u8>,
    /// Packetisation time in milliseconds.
    pub ptime: u16,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: Some(101),
            ptime: 20,
        }
    }
}

/// The media one side describes, as the call layer needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// Where to send RTP (port 0 means the stream is refused).
    pub rtp: SocketAddr,
    /// Where to send RTCP when the SDP says (`a=rtcp`, RFC 3605); `None`: RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Codecs in that side's order.
    pub codecs: Vec<Codec>,
    /// telephone-event payload type in that side's numbering.
    pub telephone_event: Option<u8>,
    /// Packetisation time in ms, when given.
    pub ptime: Option<u16>,
    /// Direction as that side wrote it; `c=0.0.0.0` (RFC 2543 hold) reads as `SendOnly`.
    pub direction: Direction,
}

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// `o=` session id and version (kept to tell a changed description from a repeat).
    pub(crate) origin: (u64, u64),
    /// The audio stream, if any.
    pub(crate) audio: Option<Media>,
    /// The number of m= lines (an answer must have as many).
    pub(crate) streams: usize,
}

/// Why an SDP body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    /// Not text, or a required line (`v=`, `o=`, `c=`, `m=`) is missing or malformed.
    #[error("malformed SDP")]
    Malformed,
    /// No G.711 in common with our configuration (answered 488).
    #[error("no common codec")]
    NoCommonCodec,
}

/// Parses the parts of an SDP body we use.
pub(crate) fn parse(body: &[u8]) -> Result<Session, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::Malformed)?;
    let mut origin = None;
    let mut session_addr: Option<IpAddr> = None;
    let mut session_dir = Direction::SendRecv;
    let mut streams = 0;
    let mut audio: Option<(u16, Vec<u8>, Option<IpAddr>, Direction)> = None;
    let mut rtpmaps: Vec<(u8, &str)> = Vec::new();
    let mut ptime = None;
    let mut rtcp: Option<(u16, Option<IpAddr>)> = None;
    let mut in_audio = false;
    let mut saw_version = false;
    for line in split_byte(text, b'\n') {
        let line = line.trim_end_matches('\r');
        let Some((kind, value)) = split_once_byte(line, b'=') else {
            continue;
        };
        match kind {
            "v" => saw_version = value.trim_ascii() == "0",
            "o" => {
                // username sess-id sess-version nettype addrtype address: six fields.
                let mut f = value.split_ascii_whitespace();
                let (Some(_), Some(id), Some(version), Some(_), Some(_), Some(_), None) = (
                    f.next(),
                    f.next(),
                    f.next(),
                    f.next(),
                    f.next(),
                    f.next(),
                    f.next(),
                ) else {
                    return Err(Error::Malformed);
                };
                let id = id.parse().map_err(|_| Error::Malformed)?;
                let version = version.parse().map_err(|_| Error::Malformed)?;
                origin = Some((id, version));
            }
            "c" => {
                let addr = parse_connection(value)?;
                if streams == 0 {
                    session_addr = Some(addr);
                } else if let (true, Some(a)) = (in_audio, audio.as_mut()) {
                    a.2 = Some(addr);
                }
            }
            "m" => {
                streams += 1;
                // media port[/count] proto format...
                let mut f = value.split_ascii_whitespace();
                let (Some(media), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
                    return Err(Error::Malformed);
                };
                in_audio = media == "audio" && audio.is_none() && proto.starts_with("RTP/AVP");
                if in_audio {
                    let port = split_once_byte(port, b'/').map_or(port, |(p, _)| p);
                    let port: u16 = port.parse().map_err(|_| Error::Malformed)?;
                    let formats = f.filter_map(|p| p.parse().ok()).collect();
                    audio = Some((port, formats, None, session_dir));
                }
            }
            "a" => {
                let dir = match value.trim_ascii() {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if streams == 0 {
                        session_dir = d;
                    } else if let (true, Some(a)) = (in_audio, audio.as_mut()) {
                        a.3 = d;
                    }
                } else if in_audio {
                    if let Some(map) = value.strip_prefix("rtpmap:") {
                        if let Some((pt, enc)) = split_once_byte(map, b' ')
                            && let Ok(pt) = pt.trim_ascii().parse()
                        {
                            rtpmaps.push((pt, enc.trim_ascii()));
                        }
                    } else if let Some(p) = value.strip_prefix("ptime:") {
                        ptime = p.trim_ascii().parse().ok();
                    } else if let Some(r) = value.strip_prefix("rtcp:") {
                        // A malformed one is passed over: RTCP then goes to RTP + 1,
                        // RFC 3550's default, which is what a peer without it expects.
                        rtcp = parse_rtcp(r);
                    }
                } else if let Some(p) = value.strip_prefix("ptime:") {
                    ptime = p.trim_ascii().parse().ok();
                }
            }
            _ => {}
        }
    }
    let origin = origin.ok_or(Error::Malformed)?;
    if !saw_version {
        return Err(Error::Malformed);
    }
    let audio = match audio {
        Some((port, formats, addr, mut direction)) => {
            let ip = addr.or(session_addr).ok_or(Error::Malformed)?;
            if ip.is_unspecified() && direction == Direction::SendRecv {
                direction = Direction::SendOnly;
            }
            let rtpmap = |pt: u8| rtpmaps.iter().find(|(p, _)| *p == pt).map(|&(_, e)| e);
            let codecs = formats
                .iter()
                .filter_map(|&pt| Codec::from_payload(pt, rtpmap(pt)))
                .collect();
            let telephone_event = formats.iter().copied().find(|&pt| {
                rtpmap(pt).is_some_and(|e| {
                    split_once_byte(e, b'/')
                        .map_or(e, |(n, _)| n)
                        .eq_ignore_ascii_case("telephone-event")
                })
            });
            Some(Media {
                rtp: SocketAddr::new(ip, port),
                rtcp: rtcp.map(|(port, addr)| SocketAddr::new(addr.unwrap_or(ip), port)),
                codecs,
                telephone_event,
                ptime,
                direction,
            })
        }
        None => None,
    };
    Ok(Session {
        origin,
        audio,
        streams,
    })
}

/// `a=rtcp:PORT [IN IP4|IP6 ADDRESS]` (RFC 3605 section 2.1); `None` if malformed.
fn parse_rtcp(value: &str) -> Option<(u16, Option<IpAddr>)> {
    let mut f = value.split_ascii_whitespace();
    let port = f.next()?.parse().ok()?;
    match (f.next(), f.next(), f.next(), f.next()) {
        (None, ..) => Some((port, None)),
        (Some("IN"), Some("IP4" | "IP6"), Some(addr), None) => {
            Some((port, Some(addr.parse().ok()?)))
        }
        _ => None,
    }
}

fn parse_connection(value: &str) -> Result<IpAddr, Error> {
    // nettype addrtype connection-address
    let mut f = value.split_ascii_whitespace();
    let (Some("IN"), Some(_), Some(addr), None) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(Error::Malformed);
    };
    // A multicast TTL suffix (`/127`) is not used for unicast voice; drop it.
    let addr = split_once_byte(addr, b'/').map_or(addr, |(a, _)| a);
    addr.parse().map_err(|_| Error::Malformed)
}

/// Checks that an offer has a codec we accept; returns the codecs of the answer in the
/// offer's order, and the offer's telephone-event type if we relay DTMF.
pub(crate) fn answer_codecs(
    offer: &Media,
    local: &Capabilities,
) -> Result<(Vec<Codec>, Option<u8>), Error> {
    let codecs: Vec<Codec> = offer
        .codecs
        .iter()
        .copied()
        .filter(|c| local.codecs.contains(c))
        .collect();
    if codecs.is_empty() || offer.rtp.port() == 0 {
        return Err(Error::NoCommonCodec);
    }
    let dtmf = local.telephone_event.and(offer.telephone_event);
    Ok((codecs, dtmf))
}

/// The local side of a session description, printed for every offer and answer we send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Local {
    pub(crate) session_id: u64,
    pub(crate) version: u64,
    pub(crate) rtp: SocketAddr,
    pub(crate) codecs: Vec<Codec>,
    pub(crate) telephone_event: Option<u8>,
    pub(crate) ptime: u16,
    pub(crate) direction: Direction,
}

impl Local {
    /// Prints the description (CRLF line ends, RFC 4566 §5).
    pub(crate) fn print(&self) -> Vec<u8> {
        // push_str over write!: the fmt machinery was most of this function's cost.
        let ip = self.rtp.ip();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let mut s = String::with_capacity(256);
        s.push_str("v=0\r\no=dialgate ");
        push_decimal(&mut s, self.session_id);
        s.push(' ');
        push_decimal(&mut s, self.version);
        // The origin's and the connection's address; SDP writes IPv6 bare (no brackets,
        // RFC 4566 section 5.7).
        s.push_str(" IN ");
        s.push_str(family);
        s.push(' ');
        push_ip(&mut s, ip);
        s.push_str("\r\ns=-\r\nc=IN ");
        s.push_str(family);
        s.push(' ');
        push_ip(&mut s, ip);
        s.push_str("\r\nt=0 0\r\nm=audio ");
        push_decimal(&mut s, self.rtp.port());
        s.push_str(" RTP/AVP");
        for c in &self.codecs {
            s.push(' ');
            push_decimal(&mut s, c.payload_type());
        }
        if let Some(pt) = self.telephone_event {
            s.push(' ');
            push_decimal(&mut s, pt);
        }
        s.push_str("\r\n");
        for c in &self.codecs {
            s.push_str("a=rtpmap:");
            push_decimal(&mut s, c.payload_type());
            s.push(' ');
            s.push_str(c.encoding());
            s.push_str("/8000\r\n");
        }
        if let Some(pt) = self.telephone_event {
            s.push_str("a=rtpmap:");
            push_decimal(&mut s, pt);
            s.push_str(" telephone-event/8000\r\na=fmtp:");
            push_decimal(&mut s, pt);
            s.push_str(" 0-16\r\n");
        }
        s.push_str("a=ptime:");
        push_decimal(&mut s, self.ptime);
        s.push_str("\r\na=");
        s.push_str(self.direction.attribute());
        s.push_str("\r\n");
        s.into_bytes()
    }

    /// The negotiated view of this description.
    #[cfg(test)]
    pub(crate) fn media(&self) -> Media {
        Media {
            rtp: self.rtp,
            // Ours is always RTP + 1, so our SDP does not say it.
            rtcp: None,
            codecs: self.codecs.clone(),
            telephone_event: self.telephone_event,
            ptime: Some(self.ptime),
            direction: self.direction,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=pbx 8842 8842 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\n\
        t=0 0\r\nm=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:30\r\na=sendrecv\r\n";

    #[test]
    fn offer_parses_into_codecs_in_offer_order() {
        let s = parse(OFFER.as_bytes()).unwrap();
        let a = s.audio.unwrap();
        assert_eq!(a.rtp, "198.51.100.20:20000".parse().unwrap());
        assert_eq!(a.codecs, vec![Codec::Pcma, Codec::Pcmu]);
        assert_eq!(a.telephone_event, Some(101));
        assert_eq!(a.ptime, Some(30));
        assert_eq!(s.origin, (8842, 8842));
    }

    #[test]
    fn rtcp_attribute_names_the_rtcp_address_else_none() {
        // (a=rtcp line in the audio section, RTCP address)
        let rows = [
            ("", None),
            ("a=rtcp:53020\r\n", Some("198.51.100.20:53020")),
            (
                "a=rtcp:53020 IN IP4 126.16.64.4\r\n",
                Some("126.16.64.4:53020"),
            ),
            (
                "a=rtcp:53020 IN IP6 2001:db8::1\r\n",
                Some("[2001:db8::1]:53020"),
            ),
            // Malformed: passed over, RTCP goes to RTP + 1.
            ("a=rtcp:port\r\n", None),
            ("a=rtcp:53020 IN IP4\r\n", None),
            ("a=rtcp:53020 IN IP4 not-an-address\r\n", None),
        ];
        for (line, rtcp) in rows {
            let sdp = OFFER.replace("a=sendrecv\r\n", &format!("{line}a=sendrecv\r\n"));
            let a = parse(sdp.as_bytes()).unwrap().audio.unwrap();
            assert_eq!(a.rtcp, rtcp.map(|r| r.parse().unwrap()), "{line:?}");
        }
    }

    #[test]
    fn answer_follows_the_peers_codec_order() {
        let offer = parse(OFFER.as_bytes()).unwrap().audio.unwrap();
        let (codecs, dtmf) = answer_codecs(&offer, &Capabilities::default()).unwrap();
        assert_eq!(codecs, vec![Codec::Pcma, Codec::Pcmu]);
        assert_eq!(dtmf, Some(101));
    }

    #[test]
    fn offer_without_g711_has_no_common_codec() {
        let g729 = OFFER
            .replace("RTP/AVP 8 0 101", "RTP/AVP 18")
            .replace("a=rtpmap:8 PCMA/8000\r\n", "");
        let offer = parse(g729.as_bytes()).unwrap().audio.unwrap();
        assert_eq!(
            answer_codecs(&offer, &Capabilities::default()),
            Err(Error::NoCommonCodec)
        );
    }

    #[test]
    fn pcma_only_configuration_refuses_a_pcmu_only_offer() {
        let pcmu = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 0");
        let offer = parse(pcmu.as_bytes()).unwrap().audio.unwrap();
        let local = Capabilities {
            codecs: vec![Codec::Pcma],
            ..Capabilities::default()
        };
        assert_eq!(answer_codecs(&offer, &local), Err(Error::NoCommonCodec));
    }

    #[test]
    fn rfc2543_hold_reads_as_sendonly() {
        let hold = OFFER.replace("c=IN IP4 198.51.100.20", "c=IN IP4 0.0.0.0");
        let a = parse(hold.as_bytes()).unwrap().audio.unwrap();
        assert_eq!(a.direction, Direction::SendOnly);
    }

    #[test]
    fn local_description_round_trips() {
        let local = Local {
            session_id: 4711,
            version: 4712,
            rtp: "192.0.2.10:16384".parse().unwrap(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: Some(101),
            ptime: 20,
            direction: Direction::SendOnly,
        };
        let s = parse(&local.print()).unwrap();
        assert_eq!(s.origin, (4711, 4712));
        assert_eq!(s.audio.unwrap(), local.media());
    }

    #[test]
    fn local_description_prints_line_by_line() {
        let local = Local {
            session_id: 4711,
            version: 1 << 40,
            rtp: "[2001:db8::5]:40000".parse().unwrap(),
            codecs: vec![Codec::Pcma],
            telephone_event: Some(101),
            ptime: 30,
            direction: Direction::SendRecv,
        };
        let text = String::from_utf8(local.print()).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(
            lines,
            [
                "v=0",
                "o=dialgate 4711 1099511627776 IN IP6 2001:db8::5",
                "s=-",
                "c=IN IP6 2001:db8::5",
                "t=0 0",
                "m=audio 40000 RTP/AVP 8 101",
                "a=rtpmap:8 PCMA/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-16",
                "a=ptime:30",
                "a=sendrecv",
            ]
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert_eq!(parse(b"\xff\xfe"), Err(Error::Malformed));
        assert_eq!(
            parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(Error::Malformed)
        );
        assert_eq!(parse(b"v=0\r\no=a b c\r\n"), Err(Error::Malformed));
    }
}
