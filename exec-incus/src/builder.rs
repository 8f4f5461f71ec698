//! [`IncusBuilder`]: the settings of an [`IncusExecutor`], checked when it
//! is built (so a config with a bad field fails at load, not at the first
//! command).

use crate::IncusExecutor;
use crate::client::{Client, Transport};
use crate::error::{IncusError, Result};
use crate::tls;
use exec_core::ExecutorSettings;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the local daemon listens when `INCUS_DIR` is not set.
pub const DEFAULT_SOCKET: &str = "/var/lib/incus/unix.socket";

/// The local daemon's socket: `$INCUS_DIR/unix.socket`, or [`DEFAULT_SOCKET`].
pub fn default_socket() -> PathBuf {
    match std::env::var_os("INCUS_DIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join("unix.socket"),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// Builds an [`IncusExecutor`]: the instance to run commands in, where its
/// daemon is, and how to trust it.
///
/// ```
/// use exec_core::ExecutorSettings;
/// use exec_incus::IncusBuilder;
///
/// // The local daemon over its unix socket: no certificates.
/// let local = IncusBuilder::new("web1")
///     .with_host("unix:///var/lib/incus/unix.socket")
///     .with_project("staging")
///     .build(ExecutorSettings::new("app:web1"))?;
///
/// // A remote daemon needs a pin and a client certificate.
/// let err = IncusBuilder::new("web1")
///     .with_host("https://incus.example.org:8443")
///     .build(ExecutorSettings::new("app:far"))
///     .unwrap_err();
/// assert_eq!(err.kind(), exec_core::ErrorKind::Invalid);
/// assert!(err.to_string().starts_with("invalid server_cert"), "{err}");
/// # Ok::<(), exec_incus::IncusError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct IncusBuilder {
    instance: String,
    host: Option<String>,
    project: Option<String>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    server_cert: Option<PathBuf>,
    server_fingerprint: Option<String>,
    user: Option<u32>,
    group: Option<u32>,
}

impl IncusBuilder {
    /// Commands will run in `instance` (a container or a virtual machine
    /// that exists and runs).
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            ..Self::default()
        }
    }

    /// The daemon: `unix:///path/to/unix.socket` (or the bare path), or
    /// `https://HOST:PORT`. Default: the local socket, `$INCUS_DIR/unix.socket`
    /// or [`DEFAULT_SOCKET`].
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The project the instance is in (default: the daemon's `default`).
    #[must_use]
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The client certificate and its key (PEM files), presented to a
    /// remote daemon on every connection. The daemon must trust it.
    #[must_use]
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self
    }

    /// Pins the remote daemon's certificate: the PEM file of it (such as
    /// the daemon's `server.crt`).
    #[must_use]
    pub fn with_server_cert(mut self, cert: impl Into<PathBuf>) -> Self {
        self.server_cert = Some(cert.into());
        self
    }

    /// Pins the remote daemon's certificate by the SHA-256 fingerprint of
    /// its DER, as `incus info` and `GET /1.0` show it (hex, colons allowed).
    #[must_use]
    pub fn with_server_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.server_fingerprint = Some(fingerprint.into());
        self
    }

    /// The user id commands run as in the instance (default 0, root).
    #[must_use]
    pub fn with_user(mut self, uid: u32) -> Self {
        self.user = Some(uid);
        self
    }

    /// The group id commands run as in the instance (default 0).
    #[must_use]
    pub fn with_group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// Checks every setting, reads the certificate files and builds the
    /// executor. Nothing is connected yet: that happens at the first `start`.
    ///
    /// # Errors
    ///
    /// [`IncusError::Config`] naming the field: an instance or project name
    /// the API cannot take, a host that is neither a unix socket nor
    /// `https://HOST:PORT` (plain `http://` included), a remote host without
    /// a pin (`server_cert` or `server_fingerprint`, not both) or without a
    /// client certificate, certificates for a unix socket;
    /// [`IncusError::Pem`] for a certificate or key file that cannot be read.
    pub fn build(self, settings: ExecutorSettings) -> Result<IncusExecutor> {
        settings.validate().map_err(|e| IncusError::Config {
            field: "default_env",
            reason: e.to_string(),
        })?;
        check_name("instance", &self.instance)?;
        if let Some(project) = &self.project {
            check_name("project", project)?;
        }
        let host = self.host.clone();
        let (transport, address) = match host.as_deref().map(str::trim) {
            None | Some("") => {
                let path = default_socket();
                self.no_certificates("the local unix socket")?;
                (
                    Transport::Unix(path.clone()),
                    format!("unix:{}", path.display()),
                )
            }
            Some(host) => {
                if let Some(rest) = host.strip_prefix("https://") {
                    self.https(host, rest)?
                } else if host.starts_with("http://") {
                    return Err(IncusError::Config {
                        field: "host",
                        reason: format!(
                            "{host:?}: plain HTTP is not offered by Incus and would send commands \
                             unauthenticated; use https://HOST:PORT with server_cert or \
                             server_fingerprint and client_cert/client_key"
                        ),
                    });
                } else {
                    let path = host
                        .strip_prefix("unix://")
                        .or_else(|| host.strip_prefix("unix:"))
                        .unwrap_or(host);
                    if !path.starts_with('/') {
                        return Err(IncusError::Config {
                            field: "host",
                            reason: format!(
                                "{host:?} is neither a unix socket (unix:///path or an absolute \
                                 path) nor https://HOST:PORT"
                            ),
                        });
                    }
                    self.no_certificates("a unix socket")?;
                    (Transport::Unix(PathBuf::from(path)), format!("unix:{path}"))
                }
            }
        };
        let client = Client::new(transport, address, self.project.clone());
        Ok(IncusExecutor::from_parts(
            settings,
            self.instance,
            self.user,
            self.group,
            Arc::new(client),
        ))
    }

    /// Certificates make no sense over a unix socket: refuse them rather
    /// than ignore what the config asked for.
    fn no_certificates(&self, what: &str) -> Result<()> {
        let given = [
            ("client_cert", self.client_cert.is_some()),
            ("client_key", self.client_key.is_some()),
            ("server_cert", self.server_cert.is_some()),
            ("server_fingerprint", self.server_fingerprint.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return Err(IncusError::Config {
                field,
                reason: format!(
                    "it is only used with an https:// host, and the host is {what}, trusted by \
                     its file permissions"
                ),
            });
        }
        Ok(())
    }

    fn https(&self, host: &str, rest: &str) -> Result<(Transport, String)> {
        let bad = |reason: String| IncusError::Config {
            field: "host",
            reason,
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(bad(format!(
                "{host:?} is not https://HOST:PORT (no path, user or query)"
            )));
        }
        let (name, port) = match authority.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(':') && !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        bad(format!("{host:?}: the port {port:?} is not a port number"))
                    })?;
                (name, port)
            }
            _ => (authority, 8443),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() {
            return Err(bad(format!("{host:?} names no host")));
        }
        let server_name =
            rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|e| {
                bad(format!(
                    "{host:?}: {name:?} is not a host name or address: {e}"
                ))
            })?;
        let pin = match (&self.server_cert, &self.server_fingerprint) {
            (Some(_), Some(_)) => {
                return Err(IncusError::Config {
                    field: "server_fingerprint",
                    reason: "give server_cert or server_fingerprint, not both".to_owned(),
                });
            }
            (None, None) => {
                return Err(IncusError::Config {
                    field: "server_cert",
                    reason: format!(
                        "the remote host {host:?} needs its certificate pinned: server_cert (a \
                         PEM file of it) or server_fingerprint (its SHA-256, as `incus info` \
                         shows it); the daemon's certificate is self-signed, so there is no CA \
                         to check it against"
                    ),
                });
            }
            (Some(path), None) => {
                let certs = tls::read_certs("server_cert", path)?;
                let Some(first) = certs.first() else {
                    return Err(IncusError::Config {
                        field: "server_cert",
                        reason: format!("{path:?} holds no certificate"),
                    });
                };
                tls::fingerprint(first.as_ref())
            }
            (None, Some(fingerprint)) => tls::parse_fingerprint(fingerprint)?,
        };
        let (cert, key) = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => (cert, key),
            (None, _) => {
                return Err(IncusError::Config {
                    field: "client_cert",
                    reason: format!(
                        "the remote host {host:?} needs a client certificate the daemon trusts \
                         (client_cert and client_key, PEM files)"
                    ),
                });
            }
            (Some(_), None) => {
                return Err(IncusError::Config {
                    field: "client_key",
                    reason: "client_cert is given without its key".to_owned(),
                });
            }
        };
        let certs = tls::read_certs("client_cert", cert)?;
        let client_fingerprint = certs
            .first()
            .map(|c| tls::fingerprint(c.as_ref()))
            .unwrap_or_default();
        let key = tls::read_key("client_key", key)?;
        let config = tls::client_config(pin, certs, key)?;
        let address = format!("https://{authority}");
        let transport = Transport::Https {
            host: name.to_owned(),
            port,
            server_name,
            tls: crate::client::Tls(tokio_rustls::TlsConnector::from(config)),
            client_fingerprint,
        };
        Ok((transport, address))
    }
}

/// Instance and project names: what the API takes in a path or a query
/// (letters, digits, `-`, `_`, `.`; 1 to 63 characters for an instance).
fn check_name(field: &'static str, name: &str) -> Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'-'
                || (field == "project" && (b == b'_' || b == b'.'))
        })
        && !name.starts_with('-');
    if fine {
        Ok(())
    } else {
        Err(IncusError::Config {
            field,
            reason: format!(
                "{name:?} is not an Incus {field} name (1 to 63 letters, digits and '-'{}, not \
                 starting with '-')",
                if field == "project" { ", '_', '.'" } else { "" }
            ),
        })
    }
}
