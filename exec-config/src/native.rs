//! The `exec.native` kind: host processes (feature `native`).

use crate::kind::ExecutorKind;
use exec_core::{Executor, ExecutorSettings};
use exec_native::NativeExecutor;
use std::sync::Arc;

/// The `exec.native` kind: the common fields are all it takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeKind;

/// `exec.native` has no fields of its own.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NativeSpec {}

impl ExecutorKind for NativeKind {
    type Spec = NativeSpec;

    fn build(
        &self,
        settings: ExecutorSettings,
        _spec: NativeSpec,
    ) -> exec_core::Result<Arc<dyn Executor>> {
        Ok(Arc::new(NativeExecutor::new(settings)))
    }
}
