//! Build-time plugin registry, model IR and command-line front end for ML-to-FPGA
//! dataflow compilers.
//!
//! A compiler in the style of FINN or Brainsmith turns an ONNX model into an FPGA
//! dataflow accelerator. It is extended with four kinds of plugins:
//!
//! | kind | attribute | on | implements |
//! |---|---|---|---|
//! | transform: a graph rewrite, run in a stage | [`#[transform]`](macro@transform) | struct | [`Transform`] + `Default` or `Config` |
//! | kernel: a hardware operator for ONNX op types | [`#[kernel]`](macro@kernel) | struct | [`Kernel`] + `Default` or `Config` |
//! | backend: HLS or RTL code generator of one kernel | [`#[backend]`](macro@backend) | struct | [`Backend`] + `Default` or `Config` |
//! | step: a build-pipeline stage | [`#[step]`](macro@step) | fn | `fn(&mut Model, &mut StepContext[, &Config]) -> Result<(), E>` |
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
//! # Writing a kernel and its backend
//!
//! A kernel declares its node attributes as a struct deriving
//! [`NodeAttrs`](macro@NodeAttrs) (see [`attrs`]) and answers the hooks of [`Kernel`]
//! about each node: output types (required), streams, folding knobs, cycles, resources
//! and a bit-exact reference execution. A backend names its kernel as a type, may declare
//! attributes of its own, says whether it can implement a node and generates sources,
//! parameter files and the interface a stitcher connects (see [`backend`](mod@backend)).
//!
//! ```
//! use brainsmith_core::backend::{Port, PortDirection, Protocol, identifier};
//! use brainsmith_core::kernel::{Direction, FoldingKnob};
//! use brainsmith_core::prelude::*;
//!
//! /// Adds a constant to every element, `PE` elements per cycle.
//! #[kernel(op_types = ["AddConst"], domain = "my.fpgadataflow")]
//! #[derive(Default)]
//! struct AddConst;
//!
//! /// The attributes of an `AddConst` node.
//! #[derive(NodeAttrs)]
//! #[node_attrs(check = rules)]
//! struct AddConstAttrs {
//!     /// Elements per frame.
//!     #[attr(name = "NumElems")]
//!     elems: u32,
//!     /// Elements per cycle; divides `NumElems`.
//!     #[attr(name = "PE", default = 1)]
//!     pe: u32,
//!     /// What is added.
//!     #[attr(name = "value")]
//!     value: i64,
//!     /// Datatype of the input and the output.
//!     #[attr(name = "dataType")]
//!     datatype: QuantType,
//! }
//!
//! fn rules(a: &AddConstAttrs, c: &mut AttrCheck) {
//!     c.divides("PE", a.pe, "NumElems", a.elems);
//! }
//!
//! impl Kernel for AddConst {
//!     type Attrs = AddConstAttrs;
//!
//!     fn infer(&self, n: &KernelNode<'_, AddConstAttrs>) -> Result<Vec<TensorInfo>, PluginError> {
//!         Ok(vec![TensorInfo { shape: vec![1, i64::from(n.attrs.elems)], datatype: n.attrs.datatype }])
//!     }
//!
//!     fn streams(&self, n: &KernelNode<'_, AddConstAttrs>) -> Result<Vec<Stream>, PluginError> {
//!         let a = &n.attrs;
//!         let folded = vec![1, i64::from(a.elems / a.pe), i64::from(a.pe)];
//!         Ok([Direction::In, Direction::Out].map(|direction| Stream {
//!             direction,
//!             index: 0,
//!             normal_shape: vec![1, i64::from(a.elems)],
//!             folded_shape: folded.clone(),
//!             datatype: a.datatype,
//!         }).to_vec())
//!     }
//!
//!     fn folding(&self, n: &KernelNode<'_, AddConstAttrs>) -> Vec<FoldingKnob> {
//!         let e = u64::from(n.attrs.elems);
//!         vec![FoldingKnob { attr: "PE", legal: (1..=e).filter(|d| e % d == 0).collect() }]
//!     }
//!
//!     fn cycles(&self, n: &KernelNode<'_, AddConstAttrs>) -> Option<u64> {
//!         Some(u64::from(n.attrs.elems / n.attrs.pe))
//!     }
//!
//!     fn execute(&self, n: &KernelNode<'_, AddConstAttrs>, inputs: &[Tensor]) -> Result<Vec<Tensor>, PluginError> {
//!         // FINN's convention: integers in float containers.
//!         let x = inputs[0].to_f64()?;
//!         let y: Vec<f32> = x.iter().map(|&v| (v as i64 + n.attrs.value) as f32).collect();
//!         Ok(vec![Tensor::from_f32(&n.node().outputs[0], inputs[0].dims(), &y)])
//!     }
//! }
//!
//! /// Its HLS C++.
//! #[backend(kernel = AddConst, language = hls)]
//! #[derive(Default)]
//! struct AddConstHls;
//!
//! impl Backend for AddConstHls {
//!     type Kernel = AddConst;
//!     type Attrs = ();
//!
//!     fn supports(&self, n: &BackendNode<'_, Self>) -> Result<(), PluginError> {
//!         match n.attrs_of_kernel().datatype.is_integer() {
//!             true => Ok(()),
//!             false => Err(n.error("the HLS backend adds integers only")),
//!         }
//!     }
//!
//!     fn generate(&self, n: &BackendNode<'_, Self>, _: &BuildContext) -> Result<Generated, PluginError> {
//!         let a = n.attrs_of_kernel();
//!         let top = identifier(n.name());
//!         let width = u64::from(a.pe * a.datatype.bitwidth());
//!         let source = format!("void {top}(hls::stream<ap_uint<{width}>> &in0, hls::stream<ap_uint<{width}>> &out0);\n");
//!         let port = |name: &str, direction| Port { name: name.into(), direction, width, protocol: Protocol::AxiStream };
//!         Ok(Generated {
//!             sources: vec![GeneratedFile { path: format!("{top}.hpp"), contents: source }],
//!             params: Vec::new(),
//!             interface: Interface {
//!                 top,
//!                 ports: vec![port("in0", PortDirection::In), port("out0", PortDirection::Out)],
//!                 clock: Some("ap_clk".into()),
//!                 reset: Some("ap_rst_n".into()),
//!             },
//!         })
//!     }
//! }
//!
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let kernel = registry.kernel("AddConst").unwrap();
//! let names: Vec<&str> = kernel.attrs().iter().map(|a| a.name).collect();
//! assert_eq!(names, ["NumElems", "PE", "value", "dataType"]);
//!
//! let graph = Graph::default();
//! let node = Node::new("AddConst", ["x"], ["y"])
//!     .with_name("add0")
//!     .with_domain("my.fpgadataflow")
//!     .with_attribute("NumElems", AttributeValue::Int(64))
//!     .with_attribute("PE", AttributeValue::Int(4))
//!     .with_attribute("value", AttributeValue::Int(-3))
//!     .with_attribute("dataType", AttributeValue::string("INT8"));
//! let k = kernel.instantiate();
//! assert_eq!(k.cycles(&node, &graph).unwrap(), Some(16));
//! assert_eq!(k.streams(&node, &graph).unwrap()[0].width(), 32);
//! let y = k.execute(&node, &graph, &[Tensor::from_f32("x", &[1, 2], &[5.0, -1.0])]).unwrap();
//! assert_eq!(y[0].to_f64().unwrap(), [2.0, -4.0]);
//!
//! let hls = kernel.best_backend(None).unwrap().instantiate();
//! let generated = hls.generate(k.as_ref(), &node, &graph, &BuildContext::default()).unwrap();
//! assert_eq!(generated.interface.ports[0].width, 32);
//!
//! // A bad node: every problem at once, by attribute.
//! let bad = node.clone()
//!     .with_attribute("PE", AttributeValue::Int(5))
//!     .with_attribute("dataType", AttributeValue::string("FLOAT32"));
//! assert_eq!(
//!     hls.supports(k.as_ref(), &bad, &graph).unwrap_err().to_string(),
//!     "node 'add0' (AddConst): attribute 'PE': PE (5) does not divide NumElems (64); choose a divisor of 64"
//! );
//! let float = node.clone().with_attribute("dataType", AttributeValue::string("FLOAT32"));
//! assert_eq!(
//!     hls.supports(k.as_ref(), &float, &graph).unwrap_err().to_string(),
//!     "node 'add0' (AddConst): the HLS backend adds integers only"
//! );
//! ```
//!
//! [`hardware::specialize`] records the chosen backend on a node in FINN's convention
//! (`AddConst_hls` in `my.fpgadataflow.hls`), and [`hardware::resolve`] reads a
//! specialised node back as kernel plus backend. The standard `InferShapes` and
//! `InferDataTypes` ask the linked kernels for the outputs of every node they implement.
//!
//! # Attribute keys
//!
//! Every kind takes `name = "..."` (default: the identifier), `description = "..."`
//! (default: the doc comment, which is required otherwise), `version = "1.2.0"` (semver),
//! `author = "..."` and `tags = ["..."]` (lowercase). Then:
//!
//! - `#[transform(stage = cleanup)]`: one of `cleanup`, `topology_opt`, `kernel_mapping`,
//!   `kernel_opt`, `dataflow_opt`, `post_proc`; or `infers = path::to::Kernel` for a
//!   kernel-inference transform (which runs in `kernel_mapping`). A struct that derives
//!   [`Config`](macro@Config) is its own configuration: its fields are the transform's
//!   configuration keys (see [`config`]), listed in the manifest and `plugins show`, and
//!   read by [`TransformRef::configure`](registry::TransformRef::configure). The flag
//!   `config` says so explicitly; without the derive it is a compile error.
//! - `#[transform(..., consumes = ["MatMul"])]`: the op types it rewrites, so `plugins
//!   --op-type MatMul` finds it, and the kernel it infers.
//! - `#[kernel(op_types = ["MultiThreshold"], domain = "qonnx.custom_op.general")]`: the
//!   ONNX op types it implements; `domain` defaults to the default ONNX domain.
//! - `#[backend(kernel = path::to::Kernel, language = hls, priority = 10)]`: the kernel
//!   is a type path, so a backend of a kernel that does not exist does not compile (nor
//!   one whose `Backend::Kernel` is another type);
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
//! # Switching plugins off
//!
//! A linked plugin can be disabled without relinking: `BRAINSMITH_DISABLE="acme:*,
//! brainsmith:FoldConstants"` for a process, `disable = ["acme:*"]` in a blueprint for one
//! build, [`Registry::with_disabled`] for a host. A disabled plugin (and, for a kernel,
//! its backends and inferring transforms) is invisible to lookups, which say it is
//! disabled and by what; `plugins` lists it, marked; the manifest is unchanged. See
//! [`registry::Disabled`].
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

pub mod attrs;
pub mod backend;
pub mod blueprint;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod error;
pub mod fsutil;
pub mod hardware;
pub mod ir;
pub mod kernel;
pub mod manifest;
mod namespace;
pub mod pipeline;
mod plugin;
mod record;
pub mod registry;
pub mod sim;
mod step;
pub mod suggest;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use attrs::{AttrCheck, AttrError, NodeAttrs};
pub use backend::{Backend, BackendNode, BuildContext, Generated, GeneratedFile, Interface};
pub use brainsmith_macros::{AttrEnum, Config, NodeAttrs, backend, kernel, step, transform};
pub use config::{Config, ConfigError, ConfigField, ConfigProblem};
pub use error::PluginError;
pub use kernel::{Kernel, KernelNode, Resources, Stream, Target, TensorInfo};
pub use plugin::{
    Diagnostic, Language, PluginKind, Registered, Stage, Transform, TransformContext,
};
pub use registry::Registry;
pub use step::StepContext;

/// Everything a plugin author needs: `use brainsmith_core::prelude::*;`.
pub mod prelude {
    pub use crate::ir::{
        Attribute, AttributeValue, Graph, Model, Node, QuantType, Tensor, ValueInfo,
    };
    pub use crate::{
        AttrCheck, AttrEnum, Backend, BackendNode, BuildContext, Config, Generated, GeneratedFile,
        Interface, Kernel, KernelNode, Language, NodeAttrs, PluginError, Registered, Resources,
        Stage, StepContext, Stream, Target, TensorInfo, Transform, TransformContext, backend,
        kernel, step, transform,
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
