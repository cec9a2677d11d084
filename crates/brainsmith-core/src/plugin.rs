//! The transform contract and the closed sets (kinds, stages, languages) the attributes
//! choose from. The kernel and backend contracts are in [`crate::kernel`] and
//! [`crate::backend`].
//!
//! Architecture invariant: the contracts name nothing above `ir`: no registry, no
//! blueprint, no step context (that is `step.rs`, which may name the registry).

use std::fmt;

use crate::error::PluginError;
use crate::ir::Model;
use crate::record::PluginRecord;

/// The link from a plugin's Rust type to its registry entry, implemented by
/// `#[transform]`, `#[kernel]` and `#[backend]` for their struct. Look a plugin up by
/// type with [`Registry::by_type`](crate::Registry::by_type) or apply a transform with
/// [`StepContext::apply_type`](crate::StepContext::apply_type);
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
