//! The plugin contracts: the traits a plugin implements and the closed sets (kinds,
//! stages, languages) the attributes choose from.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::PluginError;
use crate::hardware::KernelChoice;
use crate::ir::{Graph, Model, Node};
use crate::record::PluginRecord;
use crate::registry::{PluginRef, Registry, TransformRef};

/// The link from a plugin's Rust type to its registry entry, implemented by
/// `#[transform]`, `#[kernel]` and `#[backend]` for their struct. Look a plugin up by
/// type with [`Registry::by_type`] or apply a transform with [`StepContext::apply_type`];
/// never implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered plugin",
    label = "this type has no #[transform], #[kernel] or #[backend] attribute"
)]
pub trait Registered {
    /// The plugin's record.
    #[doc(hidden)]
    const RECORD: &'static PluginRecord;
}

/// A graph rewrite, registered with `#[transform]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is registered with #[transform] but does not implement `brainsmith_core::Transform`",
    label = "needs `impl brainsmith_core::Transform for {Self}`"
)]
pub trait Transform: Send + Sync + 'static {
    /// Rewrites `model` in place and returns whether anything changed.
    ///
    /// On error the caller may discard `model`; the executor restores the state from
    /// before the call.
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError>;
}

/// A hardware operator implementing ONNX op types, registered with `#[kernel]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is registered with #[kernel] but does not implement `brainsmith_core::Kernel`",
    label = "needs `impl brainsmith_core::Kernel for {Self}`"
)]
pub trait Kernel: Send + Sync + 'static {
    /// Checks that `node` (one of the kernel's op types) is an instance the kernel can
    /// implement, and says why not otherwise.
    fn check(&self, node: &Node, graph: &Graph) -> Result<(), PluginError>;
}

/// An HLS or RTL code generator for one kernel, registered with `#[backend]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is registered with #[backend] but does not implement `brainsmith_core::Backend`",
    label = "needs `impl brainsmith_core::Backend for {Self}`"
)]
pub trait Backend: Send + Sync + 'static {
    /// Generates the source files implementing `node`, an instance of the backend's kernel.
    fn generate(&self, node: &Node, graph: &Graph) -> Result<Vec<GeneratedFile>, PluginError>;
}

/// One file a backend generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the backend's output directory.
    pub path: String,
    /// The file's text.
    pub contents: String,
}

/// What a transform may report besides its result.
#[derive(Debug, Default)]
pub struct TransformContext {
    diagnostics: Vec<Diagnostic>,
}

/// A remark a transform makes about a node it could not handle fully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The node's name, or `""` for the graph as a whole.
    pub node: String,
    /// What happened.
    pub message: String,
}

impl TransformContext {
    /// Records a remark about `node`.
    pub fn warn(&mut self, node: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            node: node.into(),
            message: message.into(),
        });
    }

    /// The remarks made so far.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

/// What a step receives besides the model: the registry it was found in, the kernels the
/// build uses and where the build writes its files.
pub struct StepContext<'a> {
    registry: &'a Registry,
    output_dir: Option<PathBuf>,
    transform: TransformContext,
    kernels: Option<&'a [KernelChoice<'a>]>,
}

impl<'a> StepContext<'a> {
    /// A context over `registry`, writing nothing to disk.
    pub fn new(registry: &'a Registry) -> Self {
        StepContext {
            registry,
            output_dir: None,
            transform: TransformContext::default(),
            kernels: None,
        }
    }

    /// Restricts the build to `kernels`, in order of preference, each configured (a
    /// blueprint's `kernels` list); without it every registered kernel is used with its
    /// defaults.
    pub fn with_kernels(mut self, kernels: &'a [KernelChoice<'a>]) -> Self {
        self.kernels = Some(kernels);
        self
    }

    /// The kernel the build uses for `node`, configured, with its backends in order of
    /// preference; `None` when the build uses no kernel for its op type.
    ///
    /// With a blueprint's `kernels`, the first listed kernel implementing the node's op
    /// type and domain; otherwise the first registered one (by source and name) with its
    /// default configuration and every backend by priority. An error names a kernel or
    /// backend that needs configuration keys and was not given them.
    pub fn kernel_for(&self, node: &Node) -> Result<Option<KernelChoice<'a>>, PluginError> {
        if let Some(kernels) = self.kernels {
            return Ok(kernels
                .iter()
                .find(|k| k.implements(&node.domain, &node.op_type))
                .cloned());
        }
        let domain = if node.domain == "ai.onnx" {
            ""
        } else {
            &node.domain
        };
        let Some(kernel) = self
            .registry
            .kernels_for_op(&node.op_type)
            .find(|k| k.domain() == domain)
        else {
            return Ok(None);
        };
        KernelChoice::defaults(kernel).map(Some).map_err(|e| {
            PluginError::new(format!(
                "{e}\nconfigure it in the blueprint's `kernels` list: \
                 {{ kernel = \"{}\", config = {{ ... }} }}",
                kernel.qualified_name()
            ))
        })
    }

    /// Sets the build's output directory.
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// The registry the step was found in; steps find transforms and kernels here.
    pub fn registry(&self) -> &'a Registry {
        self.registry
    }

    /// The build's output directory, if the build writes files.
    pub fn output_dir(&self) -> Option<&Path> {
        self.output_dir.as_deref()
    }

    /// The context handed to transforms the step applies.
    pub fn transform_context(&mut self) -> &mut TransformContext {
        &mut self.transform
    }

    /// Applies `transform` once; returns whether it changed the model. An error names the
    /// transform and where it is defined.
    pub fn apply_transform(
        &mut self,
        transform: TransformRef<'_>,
        model: &mut Model,
    ) -> Result<bool, PluginError> {
        transform
            .instantiate()
            .apply(model, &mut self.transform)
            .map_err(|e| in_transform(e, transform))
    }

    /// Applies `transform`, an instance of a registered transform configured by the step,
    /// once; an error names it and where it is defined, as [`StepContext::apply_type`]
    /// does.
    pub fn apply_with<T: Registered + Transform>(
        &mut self,
        transform: &T,
        model: &mut Model,
    ) -> Result<bool, PluginError> {
        let plugin = self.registered::<T>()?;
        transform
            .apply(model, &mut self.transform)
            .map_err(|e| in_transform(e, plugin))
    }

    /// Applies the transform registered as `name` (short or qualified) once.
    pub fn apply(&mut self, name: &str, model: &mut Model) -> Result<bool, PluginError> {
        let transform = self.registry.transform(name)?;
        self.apply_transform(transform, model)
    }

    /// Applies the transform whose Rust type is `T` once, as registered: a step names its
    /// transforms by type rather than by string.
    pub fn apply_type<T: Registered>(&mut self, model: &mut Model) -> Result<bool, PluginError> {
        let transform = self.registered::<T>()?;
        self.apply_transform(transform, model)
    }

    /// The registry's transform whose Rust type is `T`.
    fn registered<T: Registered>(&self) -> Result<TransformRef<'a>, PluginError> {
        self.registry
            .by_type::<T>()
            .and_then(PluginRef::as_transform)
            .ok_or_else(|| {
                PluginError::new(format!(
                    "`{}` is not a transform of this registry",
                    std::any::type_name::<T>()
                ))
            })
    }
}

/// `error`, said to come from `transform` and where it is defined.
fn in_transform(error: PluginError, transform: TransformRef<'_>) -> PluginError {
    error.context(format!(
        "transform '{}' ({})",
        transform.qualified_name(),
        transform.location()
    ))
}

macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The name used in attributes, manifests and on the command line.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    let hint = crate::suggest::did_you_mean(s, names.iter().copied());
                    format!("unknown {} '{s}'{hint}; expected one of: {}", $what, names.join(", "))
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

closed_set! {
    /// The four kinds of plugin.
    PluginKind, "plugin kind" {
        /// A graph rewrite.
        Transform = "transform",
        /// A hardware operator.
        Kernel = "kernel",
        /// A code generator of one kernel.
        Backend = "backend",
        /// A build-pipeline stage.
        Step = "step",
    }
}

impl PluginKind {
    /// The plural, for listings: "transforms".
    pub const fn plural(self) -> &'static str {
        match self {
            PluginKind::Transform => "transforms",
            PluginKind::Kernel => "kernels",
            PluginKind::Backend => "backends",
            PluginKind::Step => "steps",
        }
    }
}

closed_set! {
    /// When a transform runs in a build, in pipeline order.
    Stage, "stage" {
        /// Normalise the graph: remove identities, sort, name things.
        Cleanup = "cleanup",
        /// Restructure the network: fold, fuse, reorder.
        TopologyOpt = "topology_opt",
        /// Replace ONNX nodes by hardware kernels.
        KernelMapping = "kernel_mapping",
        /// Tune kernel instances: parallelism, memory modes.
        KernelOpt = "kernel_opt",
        /// Shape the dataflow: FIFOs, partitions.
        DataflowOpt = "dataflow_opt",
        /// Final touches after the dataflow is fixed.
        PostProc = "post_proc",
    }
}

closed_set! {
    /// What a backend generates.
    Language, "language" {
        /// High-level synthesis C++.
        Hls = "hls",
        /// Register-transfer level (Verilog/SystemVerilog).
        Rtl = "rtl",
    }
}
