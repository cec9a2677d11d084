//! Which kernels and backends a build uses, each configured: a blueprint's `kernels` list
//! (see [`crate::blueprint`]), or, without one, every registered kernel with its default
//! configuration and all its backends by priority.
//!
//! A step that maps nodes to hardware asks its [`StepContext`](crate::StepContext) for
//! [`kernel_for`](crate::StepContext::kernel_for) a node and gets a [`KernelChoice`]: the
//! configured kernel and its configured backends in the order the build prefers them.
//!
//! The chosen backend is recorded on the node in FINN's convention ([`specialize`]): op
//! type `<Kernel>_hls` or `<Kernel>_rtl` in domain `<kernel domain>.hls` or `.rtl`, so a
//! model specialised by FINN (`MVAU_hls` in `finn.custom_op.fpgadataflow.hls`) and one
//! specialised here read back alike ([`resolve`]).

use std::fmt;
use std::sync::Arc;

use crate::backend::DynBackend;
use crate::config::ConfigError;
use crate::ir::{AttributeValue, Node, canonical_domain};
use crate::kernel::DynKernel;
use crate::plugin::Language;
use crate::registry::{BackendRef, KernelRef, Registry};

/// A kernel the build uses, configured, with the backends it may generate code with.
#[derive(Clone)]
pub struct KernelChoice<'r> {
    /// The registered kernel.
    pub kernel: KernelRef<'r>,
    /// The kernel, constructed from its configuration.
    pub instance: Arc<dyn DynKernel>,
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
    pub instance: Arc<dyn DynBackend>,
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
        self.kernel.domain() == canonical_domain(domain)
            && self.kernel.op_types().any(|op| op == op_type)
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

/// The node attribute naming the backend when a node's language alone does not: set by
/// [`specialize`] when the chosen backend is not the highest-priority one of its language.
/// (Not `backend`: FINN writes `backend = "fpgadataflow"` on every hardware node.)
pub const BACKEND_ATTR: &str = "brainsmith_backend";

/// What implements one node: its kernel and, once specialised, its backend.
#[derive(Clone, Copy, Debug)]
pub struct NodeImpl<'r> {
    /// The kernel.
    pub kernel: KernelRef<'r>,
    /// The language the node is specialised to, if it is.
    pub language: Option<Language>,
    /// The backend recorded on the node: `None` when it is not specialised, or when no
    /// linked crate provides a backend of its kernel in its language.
    pub backend: Option<BackendRef<'r>>,
}

impl NodeImpl<'_> {
    /// Why a specialised node has no backend here, if that is so.
    pub fn missing_backend(&self) -> Option<String> {
        match (self.language, self.backend) {
            (Some(language), None) => Some(format!(
                "the node is specialised to {language}, but kernel '{}' has no registered \
                 {language} backend; link the crate that provides one",
                self.kernel.qualified_name()
            )),
            _ => None,
        }
    }
}

/// The language, base domain and base op type of a specialised node (`MVAU_hls` in
/// `finn.custom_op.fpgadataflow.hls`: hls, `finn.custom_op.fpgadataflow`, `MVAU`).
fn specialised<'a>(domain: &'a str, op_type: &'a str) -> Option<(Language, &'a str, &'a str)> {
    Language::ALL.iter().find_map(|&l| {
        let rest = domain.strip_suffix(l.as_str())?;
        let base_domain = match rest {
            "" => "",
            _ => rest.strip_suffix('.')?,
        };
        let base_op = op_type.strip_suffix(l.as_str())?.strip_suffix('_')?;
        (!base_op.is_empty()).then_some((l, base_domain, base_op))
    })
}

/// The domain and op type of the kernel `node` is an instance of: its own, or, for a
/// specialised node (`MVAU_hls` in `....hls`), the ones before specialisation.
pub fn kernel_op(node: &Node) -> (&str, &str) {
    let domain = canonical_domain(&node.domain);
    match specialised(domain, &node.op_type) {
        Some((_, d, o)) => (d, o),
        None => (domain, &node.op_type),
    }
}

/// The kernel, and the backend when the node is specialised, that implement `node`; `None`
/// when no registered kernel does. A specialised node whose language has no registered
/// backend still resolves to its kernel ([`NodeImpl::missing_backend`] says so); an error
/// says why a node's `brainsmith_backend` attribute names a backend it cannot have.
pub fn resolve<'r>(registry: &'r Registry, node: &Node) -> Result<Option<NodeImpl<'r>>, String> {
    let domain = canonical_domain(&node.domain);
    let find = |domain: &str, op: &str| registry.kernels_for_op(op).find(|k| k.domain() == domain);
    if let Some((language, base_domain, base_op)) = specialised(domain, &node.op_type)
        && let Some(kernel) = find(base_domain, base_op)
    {
        {
            let backend = match node.attr_str(BACKEND_ATTR) {
                Some(name) => {
                    let backend = registry.backend(name).map_err(|e| {
                        format!("node '{}': attribute '{BACKEND_ATTR}': {e}", node.name)
                    })?;
                    if backend.kernel().qualified_name() != kernel.qualified_name()
                        || backend.language() != language
                    {
                        return Err(format!(
                            "node '{}': attribute '{BACKEND_ATTR}' names '{}', a {} backend of \
                             '{}', but the node is a {language} node of '{}'",
                            node.name,
                            backend.qualified_name(),
                            backend.language(),
                            backend.kernel().qualified_name(),
                            kernel.qualified_name()
                        ));
                    }
                    backend
                }
                None => match kernel.best_backend(Some(language)) {
                    Some(backend) => backend,
                    None => {
                        return Ok(Some(NodeImpl {
                            kernel,
                            language: Some(language),
                            backend: None,
                        }));
                    }
                },
            };
            return Ok(Some(NodeImpl {
                kernel,
                language: Some(language),
                backend: Some(backend),
            }));
        }
    }
    Ok(find(domain, &node.op_type).map(|kernel| NodeImpl {
        kernel,
        language: None,
        backend: None,
    }))
}

/// Records `backend` as the implementation of `node`, an instance of its kernel: the op
/// type and domain get the language suffix (FINN's convention), and the backend's name is
/// written to [`BACKEND_ATTR`] only when the language alone would resolve to another
/// backend. A node already specialised is re-specialised from its kernel's op type.
pub fn specialize(node: &mut Node, backend: BackendRef<'_>) {
    let kernel = backend.kernel();
    let language = backend.language();
    let domain = canonical_domain(&node.domain);
    let (base_domain, base_op) = match specialised(domain, &node.op_type) {
        Some((_, d, o)) => (d.to_owned(), o.to_owned()),
        None => (domain.to_owned(), node.op_type.clone()),
    };
    node.op_type = format!("{base_op}_{language}");
    node.domain = if base_domain.is_empty() {
        language.as_str().to_owned()
    } else {
        format!("{base_domain}.{language}")
    };
    node.attributes.retain(|a| a.name != BACKEND_ATTR);
    // The language alone names the backend only when it is the language's one best: not
    // another, and not tied with another (whose order only the build's blueprint knows).
    let best = kernel.best_backend(Some(language));
    let tied = kernel
        .backends()
        .filter(|b| b.language() == language && b.priority() == backend.priority())
        .count()
        > 1;
    if tied || best.is_none_or(|b| b.qualified_name() != backend.qualified_name()) {
        node.set_attribute(
            BACKEND_ATTR,
            AttributeValue::string(backend.qualified_name()),
        );
    }
}
