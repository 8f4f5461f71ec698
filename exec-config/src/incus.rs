//! The `exec.incus` kind: commands in an Incus instance (feature `incus`).

use crate::kind::ExecutorKind;
use exec_core::{Executor, ExecutorSettings};
use exec_incus::IncusBuilder;
use std::path::PathBuf;
use std::sync::Arc;

/// The `exec.incus` kind: the common fields plus [`IncusSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct IncusKind;

/// The fields of an `exec.incus` entry. Everything is checked at load: a
/// remote `host` without a pin (`server_cert` or `server_fingerprint`) and a
/// client certificate, `http://`, certificates for a unix socket, a file that
/// cannot be read, a bad name or fingerprint are load errors naming the
/// field. Nothing connects to the daemon at load.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct IncusSpec {
    /// The instance commands run in (required).
    pub instance: String,
    /// `unix:///path/unix.socket` (or the bare path), or `https://HOST:PORT`;
    /// default the local socket, `$INCUS_DIR/unix.socket` or
    /// `/var/lib/incus/unix.socket`.
    #[serde(default)]
    pub host: Option<String>,
    /// The instance's project (default: the daemon's `default`).
    #[serde(default)]
    pub project: Option<String>,
    /// The client certificate presented to a remote daemon (PEM file).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM file).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The remote daemon's certificate to pin (PEM file).
    #[serde(default)]
    pub server_cert: Option<PathBuf>,
    /// The remote daemon's certificate to pin, by the SHA-256 of its DER
    /// (hex, colons allowed), as `incus info` shows it.
    #[serde(default)]
    pub server_fingerprint: Option<String>,
    /// The user id commands run as (default 0).
    #[serde(default)]
    pub user: Option<u32>,
    /// The group id commands run as (default 0).
    #[serde(default)]
    pub group: Option<u32>,
}

impl ExecutorKind for IncusKind {
    type Spec = IncusSpec;

    fn build(
        &self,
        settings: ExecutorSettings,
        spec: IncusSpec,
    ) -> exec_core::Result<Arc<dyn Executor>> {
        let mut builder = IncusBuilder::new(spec.instance);
        if let Some(host) = spec.host {
            builder = builder.with_host(host);
        }
        if let Some(project) = spec.project {
            builder = builder.with_project(project);
        }
        match (spec.client_cert, spec.client_key) {
            (Some(cert), Some(key)) => builder = builder.with_client_cert(cert, key),
            (Some(_), None) => {
                return Err(exec_core::Error::InvalidArgument {
                    field: "client_key".to_owned(),
                    reason: "client_cert is given without its key".to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(exec_core::Error::InvalidArgument {
                    field: "client_cert".to_owned(),
                    reason: "client_key is given without its certificate".to_owned(),
                });
            }
            (None, None) => {}
        }
        if let Some(cert) = spec.server_cert {
            builder = builder.with_server_cert(cert);
        }
        if let Some(fingerprint) = spec.server_fingerprint {
            builder = builder.with_server_fingerprint(fingerprint);
        }
        if let Some(uid) = spec.user {
            builder = builder.with_user(uid);
        }
        if let Some(gid) = spec.group {
            builder = builder.with_group(gid);
        }
        let executor = builder
            .build(settings)
            .map_err(|e| e.into_core("exec.incus"))?;
        Ok(Arc::new(executor))
    }
}
