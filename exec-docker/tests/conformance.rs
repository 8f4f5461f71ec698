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
}

impl Backend for Docker {
    fn executor(&self, settings: ExecutorSettings) -> Result<Arc<dyn Executor>> {
        let executor = DockerExecutor::builder(&self.image)
            .host(&self.host)
            .network_mode("none")
            .pull(Pull::Never)
            .build(settings)?;
        Ok(Arc::new(executor))
    }

    fn memory_limited(
        &self,
        settings: ExecutorSettings,
        bytes: u64,
    ) -> Option<Result<Arc<dyn Executor>>> {
        let executor = DockerExecutor::builder(&self.image)
            .host(&self.host)
            .network_mode("none")
            .pull(Pull::Never)
            .memory_limit(bytes.max(exec_docker::MIN_MEMORY_LIMIT))
            .build(settings)
            .map(|e| Arc::new(e) as Arc<dyn Executor>)
            .map_err(Into::into);
        Some(executor)
    }
}

fn local() -> Option<Docker> {
    daemon_or_skip("dockerd", exec_test_support::daemons::docker()).map(|d| Docker {
        host: d.host,
        image: d.image,
    })
}

exec_core::conformance_tests!(local());
