//! Build-time plugin registry, model IR and command-line front end for ML-to-FPGA
//! dataflow compilers.
//!
//! A compiler in the style of FINN or Brainsmith turns an ONNX model into an FPGA
//! dataflow accelerator. It is extended with four kinds of plugins:
//!
//! | kind | attribute | on | implements |
//! |---|---|---|---|
//! | transform: a graph rewrite, run in a stage | [`#[transform]`](transform) | struct | [`Transform`] + `Default` or `Config` |
//! | kernel: a hardware operator for ONNX op types | [`#[kernel]`](kernel) | struct | [`Kernel`] + `Default` or `Config` |
//! | backend: HLS or RTL code generator of one kernel | [`#[backend]`](backend) | struct | [`Backend`] + `Default` or `Config` |
//! | step: a build-pipeline stage | [`#[step]`](step) | fn | `fn(&mut Model, &mut StepContext[, &Config]) -> Result<(), E>` |
//!
//! Each attribute checks its input at compile time and emits one static record into a
//! link-time list. Nothing runs before `main`: the [`Registry`] is indexed on first use
//! and every linked plugin is in it, with its docs and source location.
//!
//! # Writing a plugin
//!
//! ```
//! use brainsmith_core::prelude::*;
//!
//! /// Removes `Identity` nodes.
//! #[transform(stage = cleanup, tags = ["identity"])]
//! #[derive(Default)]
//! struct DropIdentity;
//!
//! impl Transform for DropIdentity {
//!     fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
//!         let before = model.graph.nodes.len();
//!         let graph = &mut model.graph;
//!         while let Some(i) = graph.nodes.iter().position(|n| n.op_type == "Identity") {
//!             let node = graph.nodes.remove(i);
//!             graph.rename_tensor(&node.outputs[0], &node.inputs[0]);
//!         }
//!         Ok(graph.nodes.len() != before)
//!     }
//! }
//!
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let transform = registry.transform("DropIdentity").unwrap();
//! assert_eq!(transform.stage(), Stage::Cleanup);
//! assert_eq!(transform.summary(), "Removes `Identity` nodes.");
//!
//! let mut model = Model::default();
//! model.graph.nodes.push(Node::new("Identity", ["x"], ["y"]));
//! model.graph.nodes.push(Node::new("Relu", ["y"], ["z"]));
//! let changed = transform.instantiate().apply(&mut model, &mut TransformContext::default()).unwrap();
//! assert!(changed);
//! assert_eq!(model.graph.nodes[0].inputs, ["x"]);
//! ```
//!
//! # Attribute keys
//!
//! Every kind takes `name = "..."` (default: the identifier), `description = "..."`
//! (default: the doc comment, which is required otherwise), `version = "1.2.0"` (semver),
//! `author = "..."` and `tags = ["..."]` (lowercase). Then:
//!
//! - `#[transform(stage = cleanup)]`: one of `cleanup`, `topology_opt`, `kernel_mapping`,
//!   `kernel_opt`, `dataflow_opt`, `post_proc`; or `infers = path::to::Kernel` for a
//!   kernel-inference transform (which runs in `kernel_mapping`). The flag `config` says
//!   the struct derives [`Config`](macro@Config): its fields are the transform's
//!   configuration keys (see [`config`]), listed in the manifest and `plugins show`, and
//!   read by [`TransformRef::configure`](registry::TransformRef::configure).
//! - `#[kernel(op_types = ["MultiThreshold"], domain = "qonnx.custom_op.general")]`: the
//!   ONNX op types it implements; `domain` defaults to the default ONNX domain.
//! - `#[backend(kernel = path::to::Kernel, language = hls, priority = 10)]`: the kernel
//!   is a type path, so a backend of a kernel that does not exist does not compile;
//!   `language` is `hls` or `rtl`; `priority` (default 0) orders a kernel's backends.
//! - Kernels and backends take the `config` flag as transforms do; a blueprint's
//!   `kernels` list configures them (see [`blueprint`]), and a step gets them,
//!   configured, from [`StepContext::kernel_for`].
//! - `#[step]` takes only the common keys. A step function may take a third argument,
//!   its configuration by shared reference (`config: &MyConfig`, a struct deriving
//!   [`Config`](macro@Config)): its keys are listed like a transform's, checked by
//!   [`StepRef::check_config`](registry::StepRef::check_config) (and by a blueprint's
//!   `{ step = "...", config = { ... } }` before anything runs) and read on every run.
//!
//! ```
//! use brainsmith_core::prelude::*;
//!
//! /// How strict the export check is.
//! #[derive(Config)]
//! struct ExportConfig {
//!     /// Largest node count accepted.
//!     #[config(default = 10_000)]
//!     max_nodes: usize,
//! }
//!
//! /// Refuses models larger than the target device takes.
//! #[step]
//! fn check_size(
//!     model: &mut Model,
//!     _: &mut StepContext<'_>,
//!     config: &ExportConfig,
//! ) -> Result<(), PluginError> {
//!     match model.graph.nodes.len() {
//!         n if n > config.max_nodes => Err(PluginError::new(format!("{n} nodes"))),
//!         _ => Ok(()),
//!     }
//! }
//!
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let step = registry.step("check_size").unwrap();
//! let config = toml::Table::from_iter([("max_nodes".to_owned(), toml::Value::Integer(0))]);
//! let mut model = Model::default();
//! model.graph.nodes.push(brainsmith_core::ir::Node::new("Relu", ["x"], ["y"]));
//! let mut ctx = StepContext::new(registry);
//! assert!(step.run_configured(&mut model, &mut ctx, &config).is_err());
//! assert!(step.run(&mut model, &mut ctx).is_ok());
//! assert!(step.check_config(&toml::Table::from_iter([("max_node".to_owned(), 1.into())])).is_err());
//! ```
//!
//! Every mistake is a compile error at the offending token, all of an item's mistakes at
//! once: unknown keys (with the closest valid key), duplicates, wrong value types,
//! invalid names, stages, languages and versions, the wrong kind of item, generics, and a
//! missing trait impl (reported on your type).
//!
//! # Sources and names
//!
//! A plugin's source is its crate's package name, or the namespace the crate declares
//! with [`namespace!`]. `source:Name` is unique per kind; a short `Name` works when it is
//! unique. See [`registry`].
//!
//! # Linking
//!
//! A plugin crate is in the registry when the final binary links it. Cargo links a
//! dependency only when the binary refers to it, so a compiler that uses nothing else
//! from a plugin crate names it: `use my_plugins as _;`. `cargo xtask manifest` reports
//! a workspace crate whose plugins are missing from the registry.
//!
//! # Cost
//!
//! Discovery happens at link time. A record is static data with 2 or 3 pointers; in a
//! position-independent executable (Rust's default) the dynamic loader relocates those
//! before `main`, about 40 instructions per plugin, and in a position-dependent one
//! (`-C relocation-model=static`) nothing runs before `main` at all. The registry is
//! indexed on first use; lookups are hash probes. `BENCHMARKS.md` has the figures at up
//! to 10,000 plugins.
//!
//! # Embedding the command line
//!
//! ```no_run
//! use my_plugins as _; // link the plugins
//! # mod my_plugins {}
//!
//! fn main() -> std::process::ExitCode {
//!     brainsmith_core::cli::main()
//! }
//! ```

pub mod blueprint;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod error;
mod fsutil;
pub mod hardware;
pub mod ir;
pub mod manifest;
mod namespace;
pub mod pipeline;
mod plugin;
mod record;
pub mod registry;
pub mod suggest;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use brainsmith_macros::{Config, backend, kernel, step, transform};
pub use config::{Config, ConfigError, ConfigField, ConfigProblem};
pub use error::PluginError;
pub use plugin::{
    Backend, Diagnostic, GeneratedFile, Kernel, Language, PluginKind, Registered, Stage,
    StepContext, Transform, TransformContext,
};
pub use registry::Registry;

/// Everything a plugin author needs: `use brainsmith_core::prelude::*;`.
pub mod prelude {
    pub use crate::ir::{Attribute, AttributeValue, Graph, Model, Node, Tensor, ValueInfo};
    pub use crate::{
        Backend, Config, GeneratedFile, Kernel, Language, PluginError, Registered, Stage,
        StepContext, Transform, TransformContext, backend, kernel, step, transform,
    };
}

/// Everything a compiler that queries the registry needs: `use brainsmith_core::host::*;`.
pub mod host {
    pub use crate::ir::Model;
    pub use crate::registry::{
        BackendRef, KernelRef, LoadError, LookupError, Plugin, PluginRef, Registry, StepRef,
        TransformRef,
    };
    pub use crate::{Language, PluginKind, Registered, Stage, StepContext};
}
