//! TLS to a remote daemon (`tcp://` with `tls_ca`, `tls_cert`, `tls_key`):
//! the server certificate must be signed by `tls_ca` — and only by it: the
//! system's roots are not consulted, so a certificate a public CA issued
//! for the daemon's name is refused —, be valid for the daemon's address
//! and valid now; the connection speaks TLS 1.3 only and presents the
//! client certificate. A refusal says what was expected and what was found.
//!
//! bollard's own TLS (`connect_with_ssl`) adds the system's roots to
//! `tls_ca` and allows TLS 1.2; exec-docker hands bollard a transport of its
//! own instead (hyper-rustls with this configuration).

use crate::builder::config_error;
use crate::client::TlsFiles;
use crate::error::DockerError;
use exec_core::backend::x509::{Summary, now, utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The client configuration for the daemon: roots from `tls_ca` only, TLS
/// 1.3, the client certificate, ALPN `http/1.1` (attach upgrades need it).
pub(crate) fn client_config(files: &TlsFiles) -> Result<ClientConfig, DockerError> {
    let ca = read_certs("tls_ca", &files.ca)?;
    let mut roots = RootCertStore::empty();
    let mut authorities = Vec::new();
    for cert in ca {
        authorities
            .push(Summary::parse(cert.as_ref()).map_or_else(|| "?".to_owned(), |s| s.subject));
        roots.add(cert).map_err(|e| {
            config_error(
                "tls_ca",
                format!(
                    "{}: not a CA certificate rustls takes: {e}",
                    files.ca.display()
                ),
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_error("tls_ca", format!("{}: {e}", files.ca.display())))?;
    let verifier = SignedByCa {
        inner,
        expected: format!(
            "signed by tls_ca {} (\"{}\")",
            files.ca.display(),
            authorities.join("\", \"")
        ),
    };
    let client_certs = read_certs("tls_cert", &files.cert)?;
    let key = read_key(&files.key)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| config_error("host", format!("TLS 1.3 is not available: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(client_certs, key)
        .map_err(|e| {
            config_error(
                "tls_key",
                format!("it does not go with tls_cert, or its algorithm is not supported: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, DockerError> {
    std::fs::read(path)
        .map_err(|e| config_error(field, format!("{} cannot be read: {e}", path.display())))
}

fn read_certs(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, DockerError> {
    let pem = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(field, format!("{} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_error(
            field,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, DockerError> {
    let pem = read("tls_key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        config_error(
            "tls_key",
            format!("{} holds no PEM private key: {e}", path.display()),
        )
    })
}

/// The SHA-256 of `der`, lower-case hex.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// webpki's verification against `tls_ca` alone, whose refusals carry
/// what was expected and what was presented ([`Refusal`]).
#[derive(Debug)]
struct SignedByCa {
    inner: Arc<WebPkiServerVerifier>,
    /// "signed by tls_ca PATH (subjects)".
    expected: String,
}

/// Why the daemon's certificate was refused, what was expected of it and
/// what it was: kept in the rustls error for the caller to report.
#[derive(Debug, thiserror::Error)]
#[error("{reason}; expected a certificate for {name}, {expected}, valid at {now}; found {found}")]
pub(crate) struct Refusal {
    /// rustls's words for the failed check.
    pub(crate) reason: String,
    name: String,
    expected: String,
    now: String,
    found: String,
}

impl ServerCertVerifier for SignedByCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now_time: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now_time,
            )
            .map_err(|error| match error {
                rustls::Error::InvalidCertificate(reason) => {
                    let found = match Summary::parse(end_entity.as_ref()) {
                        Some(summary) => format!("{summary} (SHA-256 {})", fingerprint(end_entity)),
                        None => format!(
                            "a certificate that cannot be read (SHA-256 {})",
                            fingerprint(end_entity)
                        ),
                    };
                    let refusal = Refusal {
                        reason: reason.to_string(),
                        name: server_name.to_str().into_owned(),
                        expected: self.expected.clone(),
                        now: utc(i64::try_from(now_time.as_secs()).unwrap_or_else(|_| now())),
                        found,
                    };
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                        rustls::OtherError(Arc::new(refusal)),
                    ))
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A bollard handle on the daemon at `address` (`HOST:PORT`) over TLS with
/// `config`.
pub(crate) fn connect(
    address: &str,
    config: ClientConfig,
    timeout: u64,
) -> Result<bollard::Docker, bollard::errors::Error> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnector::from((http, config));
    let mut builder =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    // As bollard's own: a connection is not kept for the next request.
    builder.pool_max_idle_per_host(0);
    let client = Arc::new(builder.build(https));
    bollard::Docker::connect_with_custom_transport(
        move |request: bollard::BollardRequest| {
            let client = Arc::clone(&client);
            async move {
                client
                    .request(request)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some(format!("https://{address}")),
        timeout,
        bollard::API_DEFAULT_VERSION,
    )
}
