//! Which kernels and backends a build uses, each configured: a blueprint's `kernels` list
//! (see [`crate::blueprint`]), or, without one, every registered kernel with its default
//! configuration and all its backends by priority.
//!
//! A step that maps nodes to hardware asks its [`StepContext`](crate::StepContext) for
//! [`kernel_for`](crate::StepContext::kernel_for) a node and gets a [`KernelChoice`]: the
//! configured kernel and its configured backends in the order the build prefers them.

use std::fmt;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::plugin::{Backend, Kernel, Language};
use crate::registry::{BackendRef, KernelRef};

/// A kernel the build uses, configured, with the backends it may generate code with.
#[derive(Clone)]
pub struct KernelChoice<'r> {
    /// The registered kernel.
    pub kernel: KernelRef<'r>,
    /// The kernel, constructed from its configuration.
    pub instance: Arc<dyn Kernel>,
    /// Its backends in the order the build prefers them (a blueprint's order, or highest
    /// priority first).
    pub backends: Vec<BackendChoice<'r>>,
}

/// A backend the build uses, configured.
#[derive(Clone)]
pub struct BackendChoice<'r> {
    /// The registered backend.
    pub backend: BackendRef<'r>,
    /// The backend, constructed from its configuration.
    pub instance: Arc<dyn Backend>,
}

impl<'r> KernelChoice<'r> {
    /// `kernel` with its default configuration and every backend of it by priority, each
    /// with its default configuration. An error names the first plugin that needs
    /// configuration keys it did not get.
    pub fn defaults(kernel: KernelRef<'r>) -> Result<Self, ConfigError> {
        let instance = kernel.configure(&toml::Table::new())?;
        let backends = kernel
            .backends()
            .map(|backend| {
                Ok(BackendChoice {
                    backend,
                    instance: backend.configure(&toml::Table::new())?.into(),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(KernelChoice {
            kernel,
            instance: instance.into(),
            backends,
        })
    }

    /// The first backend the build prefers, optionally of one language.
    pub fn backend(&self, language: Option<Language>) -> Option<&BackendChoice<'r>> {
        self.backends
            .iter()
            .find(|b| language.is_none_or(|l| b.backend.language() == l))
    }

    /// Whether this kernel implements nodes of `op_type` in ONNX domain `domain`.
    pub fn implements(&self, domain: &str, op_type: &str) -> bool {
        let domain = if domain == "ai.onnx" { "" } else { domain };
        self.kernel.domain() == domain && self.kernel.op_types().any(|op| op == op_type)
    }
}

impl fmt::Debug for KernelChoice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelChoice")
            .field("kernel", &self.kernel.qualified_name())
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for BackendChoice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.backend.qualified_name())
    }
}
