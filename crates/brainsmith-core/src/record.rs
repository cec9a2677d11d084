//! The static records the attributes emit, one per plugin, and the distributed slices
//! that collect them at link time.
//!
//! Architecture invariant: records are plain `static` data (strings, slices, function
//! pointers). Nothing here runs before `main`; building the registry from the slices is
//! deferred to the first access.

use crate::error::PluginError;
use crate::ir::Model;
use crate::plugin::{Backend, Kernel, Language, Stage, StepContext, Transform};

/// Every plugin the binary links, in link order.
#[linkme::distributed_slice]
pub static PLUGINS: [PluginRecord];

/// Every namespace declaration (`brainsmith_core::namespace!`) the binary links.
#[linkme::distributed_slice]
pub static NAMESPACES: [NamespaceRecord];

/// What one `#[transform]`, `#[kernel]`, `#[backend]` or `#[step]` registers.
#[derive(Debug)]
pub struct PluginRecord {
    /// The registered name (the identifier unless `name = "..."`).
    pub name: &'static str,
    /// One paragraph: `description = "..."` or the doc comment's first paragraph.
    pub summary: &'static str,
    /// The whole doc comment.
    pub docs: &'static str,
    /// The plugin's own semver version, if it declares one.
    pub version: Option<&'static str>,
    /// The plugin's author, if it declares one.
    pub author: Option<&'static str>,
    /// Lowercase search tags.
    pub tags: &'static [&'static str],
    /// The Rust identifier of the struct or function.
    pub type_name: &'static str,
    /// `CARGO_PKG_NAME` of the defining crate.
    pub crate_name: &'static str,
    /// `CARGO_PKG_VERSION` of the defining crate.
    pub crate_version: &'static str,
    /// `module_path!()` where the item is defined.
    pub module_path: &'static str,
    /// `file!()` of the item.
    pub file: &'static str,
    /// Line of the item's identifier.
    pub line: u32,
    /// Column of the item's identifier.
    pub column: u32,
    /// What only this kind of plugin carries.
    pub details: Details,
}

/// The kind-specific part of a [`PluginRecord`].
#[derive(Debug)]
pub enum Details {
    /// A graph rewrite.
    Transform(TransformRecord),
    /// A hardware operator.
    Kernel(KernelRecord),
    /// A code generator of one kernel.
    Backend(BackendRecord),
    /// A build-pipeline stage.
    Step(StepRecord),
}

/// Transform-specific record fields.
#[derive(Debug)]
pub struct TransformRecord {
    /// The stage; `KernelMapping` for a transform that infers a kernel.
    pub stage: Stage,
    /// The kernel this transform maps nodes to, if it is a kernel-inference transform.
    pub infers: Option<&'static PluginRecord>,
    /// Constructs the transform.
    pub new: fn() -> Box<dyn Transform>,
}

/// Kernel-specific record fields.
#[derive(Debug)]
pub struct KernelRecord {
    /// The ONNX op types the kernel implements.
    pub op_types: &'static [&'static str],
    /// The ONNX domain of those op types (`""` is the default domain).
    pub domain: &'static str,
    /// Constructs the kernel.
    pub new: fn() -> Box<dyn Kernel>,
}

/// Backend-specific record fields.
#[derive(Debug)]
pub struct BackendRecord {
    /// The kernel's record: a type path in the attribute, so it always exists.
    pub kernel: &'static PluginRecord,
    /// HLS or RTL.
    pub language: Language,
    /// Higher wins when several backends of one kernel fit.
    pub priority: i32,
    /// Constructs the backend.
    pub new: fn() -> Box<dyn Backend>,
}

/// Signature of a step as stored in its record.
pub type StepFn = fn(&mut Model, &mut StepContext<'_>) -> Result<(), PluginError>;

/// Step-specific record fields.
#[derive(Debug)]
pub struct StepRecord {
    /// Runs the step.
    pub run: StepFn,
}

/// A crate's declaration of the source name its plugins are registered under.
#[derive(Debug)]
pub struct NamespaceRecord {
    /// The source name.
    pub namespace: &'static str,
    /// `CARGO_PKG_NAME` of the declaring crate.
    pub crate_name: &'static str,
    /// Where the declaration is.
    pub file: &'static str,
    /// Line of the declaration.
    pub line: u32,
}
