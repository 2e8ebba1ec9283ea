//! SIP over TLS (RFC 3261 §26.2.1, RFC 5630): rustls configurations built from PEM files.
//!
//! TLS is only a wrapper around the TCP byte stream: framing (Content-Length), connection
//! reuse and everything above stay as for TCP (see `transport.rs`). This file turns the
//! operator's files into a server side (our certificate chain and key, for connections
//! peers open to us) and a client side (the roots that verify a peer's certificate, for
//! connections we open).
//!
//! ```text
//!   certificate_chain + private_key ──▶ acceptor   (listen on tls, default port 5061)
//!   ca_roots, or webpki roots       ──▶ connector  (peers and registrars with tls)
//!                                        SNI and name check: the peer's host, else its IP
//! ```
//!
//! The crypto provider is rustls's `ring` one, chosen explicitly so nothing depends on a
//! process-wide default (and nothing needs cmake to build). Peers are not asked for
//! client certificates: trust on inbound calls stays the source-address list.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The default port of SIP over TLS (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5061;

/// How long a TLS handshake may take before the connection is given up.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS settings of the SIP leg (all files PEM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// Our certificate chain, leaf first; needed to listen on TLS.
    pub certificate_chain: Option<PathBuf>,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub private_key: Option<PathBuf>,
    /// CA certificates that verify peers; `None` trusts the webpki (Mozilla) roots.
    pub ca_roots: Option<PathBuf>,
}

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: io::Error,
    },
    /// A file is not valid PEM, or holds nothing of the expected kind.
    #[error("{path}: no usable {what} in PEM: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Certificate or private key.
        what: &'static str,
        /// The PEM reader's complaint.
        source: rustls_pki_types::pem::Error,
    },
    /// A CA certificate could not be used as a root.
    #[error("{path}: bad CA certificate: {source}")]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The certificate and key do not form a usable identity (key mismatch, bad key).
    #[error("certificate chain and private key refused: {0}")]
    Identity(#[source] rustls::Error),
    /// A TLS listener is configured without `certificate_chain` and `private_key`.
    #[error("listening on TLS needs tls.certificate_chain and tls.private_key")]
    MissingIdentity,
}

/// The loaded configuration, shared by every connection.
#[derive(Clone)]
pub(crate) struct Context {
    /// Present when we have an identity (and so can listen).
    pub(crate) acceptor: Option<TlsAcceptor>,
    pub(crate) connector: TlsConnector,
}

impl Context {
    /// Loads the files; `listening` requires an identity.
    pub(crate) fn load(tls: &Tls, listening: bool) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let acceptor = match (&tls.certificate_chain, &tls.private_key) {
            (Some(chain), Some(key)) => {
                let chain = certificates(chain)?;
                let key = private_key(key)?;
                let config = ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(TlsError::Identity)?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)
                    .map_err(TlsError::Identity)?;
                Some(TlsAcceptor::from(Arc::new(config)))
            }
            _ if listening => return Err(TlsError::MissingIdentity),
            _ => None,
        };
        let roots = match &tls.ca_roots {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|source| TlsError::BadRoot {
                        path: path.clone(),
                        source,
                    })?;
                }
                roots
            }
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Identity)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            acceptor,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// The name a peer's certificate must carry (and the SNI we send): its configured host
/// when that is a DNS name or an IP literal, else its address.
pub(crate) fn server_name(host: Option<&str>, ip: IpAddr) -> ServerName<'static> {
    host.map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| ServerName::try_from(h.to_owned()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(ip.into()))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        path: path.to_owned(),
        what: "certificate",
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(pem_error(rustls_pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|source| TlsError::Pem {
        path: path.to_owned(),
        what: "private key",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_prefers_host_then_address() {
        let ip: IpAddr = [192, 0, 2, 7].into();
        assert_eq!(
            server_name(Some("sbc.example.net"), ip),
            ServerName::try_from("sbc.example.net").unwrap()
        );
        assert_eq!(
            server_name(Some("[2001:db8::1]"), ip),
            ServerName::IpAddress("2001:db8::1".parse::<IpAddr>().unwrap().into())
        );
        assert_eq!(server_name(None, ip), ServerName::IpAddress(ip.into()));
        // A host that is no valid name falls back to the address.
        assert_eq!(
            server_name(Some("bad name!"), ip),
            ServerName::IpAddress(ip.into())
        );
    }

    #[test]
    fn listening_without_identity_is_refused() {
        assert!(matches!(
            Context::load(&Tls::default(), true),
            Err(TlsError::MissingIdentity)
        ));
        // A client-only configuration needs no identity.
        assert!(Context::load(&Tls::default(), false).is_ok());
    }

    #[test]
    fn missing_and_non_pem_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let tls = Tls {
            ca_roots: Some(missing.clone()),
            ..Tls::default()
        };
        assert!(
            matches!(Context::load(&tls, false), Err(TlsError::Read { path, .. }) if path == missing)
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, b"not a certificate\n").unwrap();
        let tls = Tls {
            ca_roots: Some(garbage.clone()),
            ..Tls::default()
        };
        assert!(
            matches!(Context::load(&tls, false), Err(TlsError::Pem { path, .. }) if path == garbage)
        );
    }
}
