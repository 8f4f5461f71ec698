//! The exec-core conformance suite against a real incusd, over the unix
//! socket (`unix::`) and over HTTPS with a pinned server certificate and a
//! trusted client certificate (`https::`).

use exec_core::conformance::{Backend, daemon_or_skip};
use exec_core::{Executor, ExecutorSettings};
use exec_incus::IncusBuilder;
use exec_test_support::incus::IncusDaemon;
use std::sync::Arc;

fn daemon() -> Option<IncusDaemon> {
    daemon_or_skip("incusd", IncusDaemon::from_env())
}

mod unix {
    use super::*;

    fn backend() -> Option<impl Backend> {
        let daemon = daemon()?;
        Some(move |settings: ExecutorSettings| {
            let executor = IncusBuilder::new(&daemon.instance)
                .with_host(daemon.unix_host())
                .build(settings)?;
            Ok(Arc::new(executor) as Arc<dyn Executor>)
        })
    }

    exec_core::conformance_tests!(backend());
}

mod https {
    use super::*;

    fn backend() -> Option<impl Backend> {
        let daemon = daemon()?;
        Some(move |settings: ExecutorSettings| {
            let executor = IncusBuilder::new(&daemon.instance)
                .with_host(&daemon.https)
                .with_server_cert(&daemon.server_cert)
                .with_client_cert(&daemon.client_cert, &daemon.client_key)
                .build(settings)?;
            Ok(Arc::new(executor) as Arc<dyn Executor>)
        })
    }

    exec_core::conformance_tests!(backend());
}
