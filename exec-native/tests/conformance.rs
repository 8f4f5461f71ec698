//! The exec-core conformance suite, run against host processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::{Executor, ExecutorSettings, Result};
use exec_native::NativeExecutor;
use std::sync::Arc;

fn native(settings: ExecutorSettings) -> Result<Arc<dyn Executor>> {
    Ok(Arc::new(NativeExecutor::new(settings)))
}

exec_core::conformance_tests!(Some(native));
