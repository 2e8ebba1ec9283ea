//! Digest authentication as a client (RFC 3261 §22, RFC 2617 / RFC 8760 algorithms).
//!
//! When a peer or registrar challenges with 401 (WWW-Authenticate) or 407
//! (Proxy-Authenticate), the request is sent again with CSeq + 1 and an Authorization or
//! Proxy-Authorization header. The challenge is parsed and the response hash computed by
//! rsipstack (`WwwAuthenticate::parse`, `DigestGenerator`); the header is printed here.

use rsipstack::sip as rsip;
use rsipstack::sip::headers::auth::{Algorithm, AuthQop, Qop};

/// Username and password for one peer or registrar.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Digest username.
    pub username: String,
    /// Digest password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Passwords never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a challenge could not be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    #[error("unparsable or non-Digest challenge")]
    BadChallenge,
    #[error("request URI does not parse")]
    BadUri,
}

/// Builds the `(header name, value)` answering a challenge.
///
/// `proxy` says the challenge came in Proxy-Authenticate (407); `cnonce` is a fresh random
/// value from the caller (sans-IO: no RNG here).
pub(crate) fn answer(
    proxy: bool,
    challenge: &str,
    credentials: &Credentials,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Result<(&'static str, String), Error> {
    let challenge =
        rsip::typed::WwwAuthenticate::parse(challenge).map_err(|_| Error::BadChallenge)?;
    if challenge.scheme != rsip::headers::auth::Scheme::Digest {
        return Err(Error::BadChallenge);
    }
    let parsed_uri = rsip::parse_uri(uri).map_err(|_| Error::BadUri)?;
    let method: rsip::Method = method.parse().map_err(|_| Error::BadUri)?;
    // RFC 2617: absent algorithm means MD5 (rsipstack's own default is SHA-256).
    let algorithm = challenge.algorithm.unwrap_or(Algorithm::Md5);
    let qop = match challenge.qop {
        Some(Qop::Auth) | Some(Qop::AuthInt) => Some(AuthQop::Auth {
            cnonce: cnonce.to_owned(),
            nc: 1,
        }),
        None => None,
    };
    let generator = rsip::DigestGenerator {
        username: &credentials.username,
        password: &credentials.password,
        nonce: &challenge.nonce,
        uri: &parsed_uri,
        realm: &challenge.realm,
        method: &method,
        qop: qop.as_ref(),
        algorithm,
    };
    let response = generator.compute();
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        credentials.username, challenge.realm, challenge.nonce, parsed_uri, response, algorithm
    );
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    if qop.is_some() {
        value.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
    }
    let name = if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "gw".into(),
            password: "secret".into(),
        }
    }

    #[test]
    fn md5_challenge_without_qop_matches_rfc2617_formula() {
        let (name, value) = answer(
            false,
            "Digest realm=\"example.com\", nonce=\"abc\"",
            &creds(),
            "REGISTER",
            "sip:example.com",
            "c1",
        )
        .unwrap();
        assert_eq!(name, "Authorization");
        // HA1 = md5(gw:example.com:secret), HA2 = md5(REGISTER:sip:example.com), md5(HA1:abc:HA2)
        let ha1 = hex_md5("gw:example.com:secret");
        let ha2 = hex_md5("REGISTER:sip:example.com");
        let expected = hex_md5(&format!("{ha1}:abc:{ha2}"));
        assert!(
            value.contains(&format!("response=\"{expected}\"")),
            "{value}"
        );
        assert!(value.contains("algorithm=MD5"));
    }

    #[test]
    fn qop_auth_challenge_adds_nc_and_cnonce() {
        let (name, value) = answer(
            true,
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth\", opaque=\"o\"",
            &creds(),
            "INVITE",
            "sip:100@127.0.0.1:5060",
            "cafe",
        )
        .unwrap();
        assert_eq!(name, "Proxy-Authorization");
        let ha1 = hex_md5("gw:r:secret");
        let ha2 = hex_md5("INVITE:sip:100@127.0.0.1:5060");
        let expected = hex_md5(&format!("{ha1}:n:00000001:cafe:auth:{ha2}"));
        assert!(
            value.contains(&format!("response=\"{expected}\"")),
            "{value}"
        );
        assert!(value.contains("opaque=\"o\"") && value.contains("nc=00000001"));
    }

    #[test]
    fn basic_or_garbage_challenge_is_refused() {
        assert_eq!(
            answer(
                false,
                "Basic realm=\"x\"",
                &creds(),
                "INVITE",
                "sip:a@b",
                "c"
            )
            .unwrap_err(),
            Error::BadChallenge
        );
        assert!(answer(false, "Digest", &creds(), "INVITE", "sip:a@b", "c").is_err());
    }

    fn hex_md5(s: &str) -> String {
        // An independent MD5 (RFC 1321) so the test does not check rsipstack against itself.
        md5_hex(s.as_bytes())
    }

    fn md5_hex(input: &[u8]) -> String {
        const S: [u32; 64] = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20,
            5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
        ];
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
            .collect();
        let (mut a0, mut b0, mut c0, mut d0) =
            (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
        let mut msg = input.to_vec();
        let bit_len = (input.len() as u64).wrapping_mul(8);
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&bit_len.to_le_bytes());
        for chunk in msg.chunks(64) {
            let m: Vec<u32> = chunk
                .chunks(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(S[i]));
            }
            a0 = a0.wrapping_add(a);
            b0 = b0.wrapping_add(b);
            c0 = c0.wrapping_add(c);
            d0 = d0.wrapping_add(d);
        }
        [a0, b0, c0, d0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
