//! TLS to a remote daemon: TLS 1.3 only, ALPN `http/1.1`, the client
//! certificate on every connection, and the server certificate checked
//! against a pin.
//!
//! Incus servers present self-signed leaf certificates, which webpki will
//! not take as trust anchors; the `incus` CLI pins them. So does
//! [`PinnedServer`]: it accepts exactly the certificate whose SHA-256
//! fingerprint is pinned, and still verifies the handshake signatures with
//! the provider's algorithms, so only the holder of that certificate's key
//! gets through; the pinned certificate must also be within its validity
//! period. There is no way to turn verification off.

use crate::error::{IncusError, Result};
use exec_core::backend::x509::{Summary, utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The SHA-256 of `der`, lower-case hex: the fingerprint `incus info` and
/// `GET /1.0` (`environment.certificate_fingerprint`) show.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    hex(digest.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A fingerprint as written (hex, any case, with or without `:`) in the form
/// [`fingerprint`] gives.
///
/// # Errors
///
/// [`IncusError::Config`] naming `server_fingerprint` when it is not 64 hex digits.
pub(crate) fn parse_fingerprint(text: &str) -> Result<String> {
    let plain: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if plain.len() != 64 || !plain.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(IncusError::Config {
            field: "server_fingerprint",
            reason: format!(
                "{text:?} is not a SHA-256 fingerprint: expected 64 hex digits (as `incus info` \
                 shows it, colons allowed)"
            ),
        });
    }
    Ok(plain)
}

/// The certificates of a PEM file (at least one).
pub(crate) fn read_certs(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let text = read(field, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| IncusError::Pem {
            field,
            path: path.to_owned(),
            reason: "it is not valid PEM".to_owned(),
            source: Some(Box::new(e)),
        })?;
    if certs.is_empty() {
        return Err(IncusError::Pem {
            field,
            path: path.to_owned(),
            reason: "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
            source: None,
        });
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub(crate) fn read_key(field: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let text = read(field, path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| IncusError::Pem {
        field,
        path: path.to_owned(),
        reason: "it holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned(),
        source: Some(Box::new(e)),
    })
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| IncusError::Pem {
        field,
        path: path.to_owned(),
        reason: "cannot be read".to_owned(),
        source: Some(Box::new(e)),
    })
}

/// Accepts exactly the server certificate whose fingerprint is pinned, and
/// checks the handshake signatures made with its key.
#[derive(Debug)]
pub(crate) struct PinnedServer {
    /// Lower-case hex SHA-256 of the DER.
    pin: String,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The typed reason a pinned handshake failed, kept in the rustls error so
/// the caller can report what was expected and what was found without
/// parsing a message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PinRefusal {
    /// Another certificate than the pinned one.
    #[error("the server certificate's fingerprint is {found}, {expected} is pinned")]
    Mismatch { expected: String, found: String },
    /// The pinned certificate, outside its validity period (or with one
    /// that cannot be read).
    #[error("the pinned certificate is not valid now")]
    NotValidNow {
        fingerprint: String,
        /// The certificate's validity, in words.
        validity: String,
        /// The time it was checked at, in words.
        now: String,
    },
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let refuse = |refusal| {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(refusal))),
            ))
        };
        let found = fingerprint(end_entity.as_ref());
        if found != self.pin {
            return refuse(PinRefusal::Mismatch {
                expected: self.pin.clone(),
                found,
            });
        }
        // The pin says which certificate; its dates still say when.
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match Summary::parse(end_entity.as_ref()) {
            Some(summary) if summary.valid_at(now) => Ok(ServerCertVerified::assertion()),
            summary => refuse(PinRefusal::NotValidNow {
                fingerprint: found,
                validity: summary.map_or_else(
                    || "its validity period cannot be read".to_owned(),
                    |s| format!("valid from {} to {}", utc(s.not_before), utc(s.not_after)),
                ),
                now: utc(now),
            }),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client configuration for one remote daemon: TLS 1.3, ALPN
/// `http/1.1` (the server offers `h2` only, which cannot upgrade to a
/// websocket), the client certificate, the pinned server certificate.
pub(crate) fn client_config(
    pin: String,
    client_certs: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedServer {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| IncusError::Config {
            field: "host",
            reason: format!("TLS 1.3 is not available: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(client_certs, client_key)
        .map_err(|e| IncusError::Config {
            field: "client_key",
            reason: format!(
                "it does not go with client_cert, or its algorithm is not supported: {e}"
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why the pinned handshake was refused, if the pin is why.
pub(crate) fn pin_refusal(error: &std::io::Error) -> Option<&PinRefusal> {
    match rustls_error(error)? {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<PinRefusal>()
        }
        _ => None,
    }
}

/// The rustls error inside a failed handshake.
fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Whether the handshake failed because the server does not speak TLS 1.3
/// (it offered an older version, or refused ours).
pub(crate) fn is_version_refused(error: &std::io::Error) -> bool {
    matches!(
        rustls_error(error),
        Some(
            rustls::Error::PeerIncompatible(_)
                | rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
        )
    )
}
