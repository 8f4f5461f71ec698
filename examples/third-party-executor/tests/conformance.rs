//! exec-core's conformance kit, run by a crate that depends on nothing else
//! of the exec project and sets up no tokio runtime of its own.

use exec_core::{Executor, ExecutorSettings};
use std::sync::Arc;
use third_party_executor::ThirdPartyExecutor;

fn backend() -> Option<impl exec_core::conformance::Backend> {
    Some(|settings: ExecutorSettings| {
        Ok(Arc::new(ThirdPartyExecutor::new(settings)) as Arc<dyn Executor>)
    })
}

exec_core::conformance_tests!(backend());
