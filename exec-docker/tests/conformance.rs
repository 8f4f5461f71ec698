//! The exec-core conformance suite against a real Docker daemon, over its
//! local socket and over TLS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::{Backend, daemon_or_skip};
use exec_core::{Executor, ExecutorSettings, Result};
use exec_docker::{DockerExecutor, Pull};
use std::sync::Arc;

struct Docker {
    host: String,
    image: String,
    /// The TLS files' directory, for the TLS daemon.
    tls: Option<std::path::PathBuf>,
}

impl Docker {
    fn builder(&self) -> exec_docker::DockerExecutorBuilder {
        let builder = DockerExecutor::builder(&self.image)
            .with_host(&self.host)
            .with_network_mode("none")
            .with_pull(Pull::Never);
        match &self.tls {
            Some(dir) => builder
                .with_tls_ca(dir.join("ca.pem"))
                .with_tls_cert(dir.join("cert.pem"))
                .with_tls_key(dir.join("key.pem")),
            None => builder,
        }
    }
}

impl Backend for Docker {
    fn executor(&self, settings: ExecutorSettings) -> Result<Arc<dyn Executor>> {
        let executor = self.builder().build(settings)?;
        Ok(Arc::new(executor))
    }

    fn memory_limited(
        &self,
        settings: ExecutorSettings,
        bytes: u64,
    ) -> Option<Result<Arc<dyn Executor>>> {
        let executor = self
            .builder()
            .with_memory_limit(bytes.max(exec_docker::MIN_MEMORY_LIMIT))
            .build(settings)
            .map(|e| Arc::new(e) as Arc<dyn Executor>)
            .map_err(Into::into);
        Some(executor)
    }
}

/// Over the local daemon's unix socket.
mod local {
    use super::*;

    fn local() -> Option<Docker> {
        daemon_or_skip("dockerd", exec_test_support::daemons::docker()).map(|d| Docker {
            host: d.host,
            image: d.image,
            tls: None,
        })
    }

    exec_core::conformance_tests!(local());
}

/// Over TCP with TLS (`--tlsverify`, generated certificates): how users
/// reach a daemon on another machine.
mod tls {
    use super::*;

    fn tls() -> Option<Docker> {
        daemon_or_skip("dockerd (TLS)", exec_test_support::daemons::docker_tls()).map(|d| Docker {
            host: d.host,
            image: d.image,
            tls: Some(d.dir),
        })
    }

    exec_core::conformance_tests!(tls());
}
