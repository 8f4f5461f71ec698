//! Certificates made on the spot and TLS servers that present them, for
//! the tests of refused handshakes: another CA's certificate for the right
//! name, an expired one, one not valid yet, a server that speaks only TLS
//! 1.2. A server completes the handshake (or fails it) and answers any
//! request with `answer`, then closes.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate and its key, as DER and as PEM files in a directory.
#[derive(Debug)]
pub struct Identity {
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The key, PKCS#8 DER.
    key: Vec<u8>,
    /// The certificate as a PEM file.
    pub cert_file: PathBuf,
    /// The key as a PEM file.
    pub key_file: PathBuf,
}

impl Identity {
    /// The identity `name` saved in `dir` (by [`Authority::issue`] or
    /// [`self_signed`]), read back — in another process, say.
    pub fn load(dir: &Path, name: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        let cert_file = dir.join(format!("{name}.crt"));
        let key_file = dir.join(format!("{name}.key"));
        let der = CertificateDer::from_pem_file(&cert_file).expect("the certificate");
        let key = PrivatePkcs8KeyDer::from_pem_file(&key_file).expect("the key");
        Self {
            der,
            key: key.secret_pkcs8_der().to_vec(),
            cert_file,
            key_file,
        }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// A certificate authority that issues certificates.
#[derive(Debug)]
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// Its own certificate.
    pub identity: Identity,
}

/// When a certificate is valid, as years (start, end).
#[derive(Debug, Clone, Copy)]
pub struct Years(pub i32, pub i32);

/// Valid now, for years to come.
pub const NOW: Years = Years(2020, 2090);
/// Expired years ago.
pub const EXPIRED: Years = Years(2015, 2020);
/// Not valid before 2090.
pub const NOT_YET: Years = Years(2090, 2095);

fn params(name: &str, hosts: &[&str], years: Years) -> CertificateParams {
    let mut params =
        CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
            .expect("certificate names");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    params
}

fn save(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
    Identity {
        der: cert.der().clone(),
        key: key.serialize_der(),
        cert_file,
        key_file,
    }
}

impl Authority {
    /// A new CA called `name`, its files in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let key = KeyPair::generate().expect("a key");
        let mut params = params(name, &[], NOW);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("a CA certificate");
        let identity = save(dir, name, &cert, &key);
        Self {
            issuer: Issuer::new(params, key),
            identity,
        }
    }

    /// A certificate for `hosts` (names and IP addresses) valid in `years`,
    /// signed by this CA, its files in `dir` as `name.crt` and `name.key`.
    pub fn issue(&self, dir: &Path, name: &str, hosts: &[&str], years: Years) -> Identity {
        let key = KeyPair::generate().expect("a key");
        let cert = params(name, hosts, years)
            .signed_by(&key, &self.issuer)
            .expect("a certificate");
        save(dir, name, &cert, &key)
    }
}

/// A self-signed certificate for `hosts` valid in `years` (as Incus's).
pub fn self_signed(dir: &Path, name: &str, hosts: &[&str], years: Years) -> Identity {
    let key = KeyPair::generate().expect("a key");
    let cert = params(name, hosts, years)
        .self_signed(&key)
        .expect("a certificate");
    save(dir, name, &cert, &key)
}

/// Which TLS versions a [`Server`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 and 1.3.
    Both,
    /// TLS 1.2 only.
    Tls12Only,
}

/// A TLS server on loopback; stopped when dropped.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Listens on 127.0.0.1 presenting `identity` (with `chain` after it),
    /// speaking `versions`; with `client_ca`, it asks for a client
    /// certificate signed by it. Each connection gets `answer` to its first
    /// request.
    pub async fn start(
        identity: &Identity,
        chain: &[&Identity],
        versions: Versions,
        client_ca: Option<&Identity>,
        answer: &'static [u8],
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
            Versions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            Versions::Tls12Only => &[&rustls::version::TLS12],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("the versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der.clone()).expect("the client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut certs = vec![identity.der.clone()];
        certs.extend(chain.iter().map(|c| c.der.clone()));
        let mut config = builder
            .with_single_cert(certs, identity.key())
            .expect("the server's certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(n) if n > 0 => request.extend_from_slice(&buffer[..n]),
                            _ => return,
                        }
                    }
                    let _ = tls.write_all(answer).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { address, task }
    }
}
