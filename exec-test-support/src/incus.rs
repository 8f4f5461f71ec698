//! The Incus daemon the tests run against, as `cargo xtask test-all`
//! provisions it and describes it in `EXEC_INCUS_*` variables.

use std::path::PathBuf;

/// A provisioned Incus daemon: where it listens and what it holds.
#[derive(Debug, Clone)]
pub struct IncusDaemon {
    /// The unix socket (`EXEC_INCUS_SOCKET`).
    pub socket: PathBuf,
    /// A running container (`EXEC_INCUS_INSTANCE`).
    pub instance: String,
    /// A container that is not running (`EXEC_INCUS_STOPPED_INSTANCE`).
    pub stopped_instance: String,
    /// A project with a running container named like `instance`
    /// (`EXEC_INCUS_PROJECT`).
    pub project: String,
    /// The HTTPS address, `https://127.0.0.1:PORT` (`EXEC_INCUS_HTTPS`).
    pub https: String,
    /// The daemon's certificate, PEM (`EXEC_INCUS_SERVER_CERT`).
    pub server_cert: PathBuf,
    /// A client certificate the daemon trusts, and its key
    /// (`EXEC_INCUS_CLIENT_CERT`, `EXEC_INCUS_CLIENT_KEY`).
    pub client_cert: PathBuf,
    /// The key of `client_cert`.
    pub client_key: PathBuf,
    /// A client certificate the daemon does not trust, and its key
    /// (`EXEC_INCUS_UNTRUSTED_CERT`, `EXEC_INCUS_UNTRUSTED_KEY`).
    pub untrusted_cert: PathBuf,
    /// The key of `untrusted_cert`.
    pub untrusted_key: PathBuf,
}

impl IncusDaemon {
    /// The daemon the `EXEC_INCUS_*` variables describe, if they are set and
    /// its socket answers; otherwise why not (for
    /// `exec_core::conformance::daemon_or_skip`).
    ///
    /// # Errors
    ///
    /// A variable that is not set, or a socket that does not accept a connection.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| crate::daemons::var(name, "an incusd");
        let daemon = Self {
            socket: var("EXEC_INCUS_SOCKET")?.into(),
            instance: var("EXEC_INCUS_INSTANCE")?,
            stopped_instance: var("EXEC_INCUS_STOPPED_INSTANCE")?,
            project: var("EXEC_INCUS_PROJECT")?,
            https: var("EXEC_INCUS_HTTPS")?,
            server_cert: var("EXEC_INCUS_SERVER_CERT")?.into(),
            client_cert: var("EXEC_INCUS_CLIENT_CERT")?.into(),
            client_key: var("EXEC_INCUS_CLIENT_KEY")?.into(),
            untrusted_cert: var("EXEC_INCUS_UNTRUSTED_CERT")?.into(),
            untrusted_key: var("EXEC_INCUS_UNTRUSTED_KEY")?.into(),
        };
        std::os::unix::net::UnixStream::connect(&daemon.socket)
            .map_err(|e| format!("no incusd answers on {}: {e}", daemon.socket.display()))?;
        Ok(daemon)
    }

    /// The unix socket as a `host` value: `unix:///path`.
    pub fn unix_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}
