//! The kernel contract: what a hardware operator answers about each node it implements.
//!
//! A kernel declares its node attributes as a [`NodeAttrs`] type and answers, from a
//! [`KernelNode`] (the node, its attributes read and checked, and what is known of the
//! tensors around it):
//!
//! | hook | answers | default |
//! |---|---|---|
//! | [`Kernel::check`] | whether it can implement this instance | yes |
//! | [`Kernel::infer`] | each output's shape and datatype | required |
//! | [`Kernel::streams`] | normal and folded shapes and widths of every stream | one unfolded stream per input and output |
//! | [`Kernel::folding`] | the folding knobs and their legal values | none |
//! | [`Kernel::cycles`] | expected cycles per frame | unknown |
//! | [`Kernel::resources`] | LUT, BRAM18, URAM, DSP on a target | unknown |
//! | [`Kernel::execute`] | the bit-exact reference result | not executable |
//!
//! The registry holds kernels as [`DynKernel`], the same hooks on plain nodes: each call
//! reads the node's attributes first, so a bad node is reported by attribute, every
//! problem at once, before any hook runs.
//!
//! Architecture invariant: this module knows the IR and nothing above it (no registry, no
//! steps, no command line).

use std::any::TypeId;
use std::fmt;

use crate::attrs::{AttrSpec, NodeAttrs};
use crate::error::PluginError;
use crate::ir::{Graph, Node, QuantType, Tensor};

/// What a kernel hook can learn about the tensors around a node: the graph's annotations,
/// or what an inference pass has found so far.
pub trait Tensors {
    /// The static shape of tensor `name`, when known.
    fn shape(&self, name: &str) -> Option<Vec<i64>>;
    /// The QONNX datatype of tensor `name`, when known.
    fn datatype(&self, name: &str) -> Option<QuantType>;
    /// The value of tensor `name`, when it is a constant.
    fn constant(&self, name: &str) -> Option<&Tensor>;
}

impl Tensors for Graph {
    fn shape(&self, name: &str) -> Option<Vec<i64>> {
        if let Some(t) = self.constant(name) {
            return Some(t.dims().to_vec());
        }
        self.value_info_of(name)?.static_shape()
    }

    fn datatype(&self, name: &str) -> Option<QuantType> {
        match Graph::datatype(self, name) {
            Some(Ok(dt)) => Some(dt),
            Some(Err(_)) => None,
            None => self
                .value_info_of(name)
                .and_then(|v| v.tensor_type())
                .filter(|t| t.elem_type == crate::ir::ElemType::Float as i32)
                .map(|_| QuantType::Float32),
        }
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        Graph::constant(self, name)
    }
}

/// One node as a kernel sees it: the node, its attributes read and checked, and the
/// tensors around it.
pub struct KernelNode<'a, A> {
    /// The node's attributes.
    pub attrs: A,
    node: &'a Node,
    tensors: &'a dyn Tensors,
}

impl<'a, A> KernelNode<'a, A> {
    /// A view of `node` whose attributes are `attrs`.
    pub fn new(node: &'a Node, attrs: A, tensors: &'a dyn Tensors) -> Self {
        KernelNode {
            attrs,
            node,
            tensors,
        }
    }

    /// The node.
    pub fn node(&self) -> &'a Node {
        self.node
    }

    /// The node's name.
    pub fn name(&self) -> &'a str {
        &self.node.name
    }

    /// What is known of the tensors around the node.
    pub fn tensors(&self) -> &'a dyn Tensors {
        self.tensors
    }

    /// An error about this node: `node 'NAME' (OP): message`.
    pub fn error(&self, message: impl fmt::Display) -> PluginError {
        PluginError::new(format!(
            "node '{}' ({}): {message}",
            crate::suggest::shorten(&self.node.name, 80),
            self.node.op_type
        ))
    }

    fn input_name(&self, i: usize) -> Result<&'a str, PluginError> {
        self.node
            .inputs
            .get(i)
            .filter(|n| !n.is_empty())
            .map(String::as_str)
            .ok_or_else(|| {
                self.error(format!(
                    "input {i} is missing (the node has {})",
                    self.node.inputs.len()
                ))
            })
    }

    /// The static shape of input `i`; an error names the node and the input.
    pub fn input_shape(&self, i: usize) -> Result<Vec<i64>, PluginError> {
        let name = self.input_name(i)?;
        self.tensors.shape(name).ok_or_else(|| {
            self.error(format!(
                "the shape of input {i} ('{name}') is unknown; run InferShapes first"
            ))
        })
    }

    /// The datatype of input `i`; an error names the node and the input.
    pub fn input_datatype(&self, i: usize) -> Result<QuantType, PluginError> {
        let name = self.input_name(i)?;
        self.tensors.datatype(name).ok_or_else(|| {
            self.error(format!(
                "the datatype of input {i} ('{name}') is unknown; run InferDataTypes first"
            ))
        })
    }

    /// Input `i`'s value, which must be a constant (weights, thresholds).
    pub fn constant_input(&self, i: usize) -> Result<&'a Tensor, PluginError> {
        let name = self.input_name(i)?;
        self.tensors.constant(name).ok_or_else(|| {
            self.error(format!(
                "input {i} ('{name}') must be a constant (an initializer)"
            ))
        })
    }
}

impl<A: fmt::Debug> fmt::Debug for KernelNode<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelNode")
            .field("node", &self.node.name)
            .field("attrs", &self.attrs)
            .finish_non_exhaustive()
    }
}

/// The shape and datatype of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Static shape.
    pub shape: Vec<i64>,
    /// QONNX datatype (the container is float32, FINN's convention).
    pub datatype: QuantType,
}

/// Which way a stream flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Into the kernel: an activation input.
    In,
    /// Out of the kernel.
    Out,
    /// Into the kernel: streamed weights or parameters.
    Weight,
}

/// One stream of a kernel instance, normal and folded.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Stream {
    /// Which way it flows.
    pub direction: Direction,
    /// The node input or output it carries (its index among the node's inputs or outputs).
    pub index: usize,
    /// The tensor's shape.
    pub normal_shape: Vec<i64>,
    /// The shape as it is streamed: the last dimension is what moves per cycle (SIMD or
    /// PE lanes), the others are cycles.
    pub folded_shape: Vec<i64>,
    /// Element datatype.
    #[serde(serialize_with = "crate::kernel::serialize_display")]
    pub datatype: QuantType,
}

impl Stream {
    /// An unfolded stream: the whole last dimension moves per cycle.
    pub fn unfolded(direction: Direction, index: usize, info: &TensorInfo) -> Stream {
        Stream {
            direction,
            index,
            normal_shape: info.shape.clone(),
            folded_shape: info.shape.clone(),
            datatype: info.datatype,
        }
    }

    /// Bits per transfer: lanes (the folded shape's last dimension) times element width.
    pub fn width(&self) -> u64 {
        let lanes = self.folded_shape.last().copied().unwrap_or(1).max(0) as u64;
        lanes.saturating_mul(u64::from(self.datatype.bitwidth()))
    }

    /// Transfers per frame: the product of the folded shape but its last dimension.
    pub fn transfers(&self) -> u64 {
        let n = self.folded_shape.len().saturating_sub(1);
        self.folded_shape[..n]
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d.max(0) as u64))
    }
}

pub(crate) fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// A folding parameter of a kernel instance: a node attribute and its legal values.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FoldingKnob {
    /// The attribute (`SIMD`, `PE`, ...).
    pub attr: &'static str,
    /// Its legal values for this node, ascending (the divisors of a dimension, say).
    pub legal: Vec<u64>,
}

/// Estimated resources of one kernel instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Resources {
    /// Look-up tables.
    pub lut: u64,
    /// 18-kbit block RAMs.
    pub bram18: u64,
    /// UltraRAMs.
    pub uram: u64,
    /// DSP slices.
    pub dsp: u64,
}

impl std::ops::Add for Resources {
    type Output = Resources;

    fn add(self, o: Resources) -> Resources {
        Resources {
            lut: self.lut.saturating_add(o.lut),
            bram18: self.bram18.saturating_add(o.bram18),
            uram: self.uram.saturating_add(o.uram),
            dsp: self.dsp.saturating_add(o.dsp),
        }
    }
}

/// The device and clock a build targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The FPGA part (`xc7z020clg400-1`).
    pub part: String,
    /// The clock period in nanoseconds.
    pub clock_ns: f64,
}

impl Default for Target {
    /// The PYNQ-Z1's Zynq-7020 at 100 MHz, FINN's default board.
    fn default() -> Self {
        Target {
            part: "xc7z020clg400-1".into(),
            clock_ns: 10.0,
        }
    }
}

/// A hardware operator implementing ONNX op types, registered with `#[kernel]`.
///
/// Only [`Kernel::infer`] is required; every other hook has a default that says "not
/// known" rather than guessing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is registered with #[kernel] but does not implement `brainsmith_core::Kernel`",
    label = "needs `impl brainsmith_core::Kernel for {Self}`"
)]
pub trait Kernel: Send + Sync + 'static {
    /// The node attributes of its instances (`()` for none).
    type Attrs: NodeAttrs;

    /// Checks what attributes alone cannot: that this instance can be implemented (a
    /// constant input, a supported datatype), and says why not otherwise.
    fn check(&self, node: &KernelNode<'_, Self::Attrs>) -> Result<(), PluginError> {
        let _ = node;
        Ok(())
    }

    /// The shape and datatype of every output, in order.
    fn infer(&self, node: &KernelNode<'_, Self::Attrs>) -> Result<Vec<TensorInfo>, PluginError>;

    /// Every stream, normal and folded. By default one unfolded stream per input whose
    /// shape and datatype are known and is not a constant, and one per output.
    fn streams(&self, node: &KernelNode<'_, Self::Attrs>) -> Result<Vec<Stream>, PluginError> {
        default_streams(node, self.infer(node)?)
    }

    /// The folding knobs of this instance and their legal values.
    fn folding(&self, node: &KernelNode<'_, Self::Attrs>) -> Vec<FoldingKnob> {
        let _ = node;
        Vec::new()
    }

    /// Expected cycles per frame, when the kernel models it.
    fn cycles(&self, node: &KernelNode<'_, Self::Attrs>) -> Option<u64> {
        let _ = node;
        None
    }

    /// Estimated resources on `target`, when the kernel models them.
    fn resources(&self, node: &KernelNode<'_, Self::Attrs>, target: &Target) -> Option<Resources> {
        let _ = (node, target);
        None
    }

    /// The bit-exact result of the node on `inputs` (one tensor per node input, constants
    /// included), one tensor per output.
    fn execute(
        &self,
        node: &KernelNode<'_, Self::Attrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let _ = inputs;
        Err(node.error("this kernel has no reference execution"))
    }
}

/// The default of [`Kernel::streams`].
pub fn default_streams<A>(
    node: &KernelNode<'_, A>,
    outputs: Vec<TensorInfo>,
) -> Result<Vec<Stream>, PluginError> {
    let mut streams = Vec::new();
    for (i, name) in node.node().inputs.iter().enumerate() {
        if name.is_empty() || node.tensors().constant(name).is_some() {
            continue;
        }
        let info = TensorInfo {
            shape: node.input_shape(i)?,
            datatype: node.input_datatype(i)?,
        };
        streams.push(Stream::unfolded(Direction::In, i, &info));
    }
    for (i, info) in outputs.iter().enumerate() {
        streams.push(Stream::unfolded(Direction::Out, i, info));
    }
    Ok(streams)
}

/// A kernel as the registry holds it: the hooks of [`Kernel`] on plain nodes, through the
/// inherent methods of `dyn DynKernel` ([`infer`](#method.infer), [`streams`](#method.streams),
/// ...). Each reads the node's attributes first; their problems come back as one error
/// naming every one. Implemented for every [`Kernel`]; never implement it by hand.
///
/// The trait itself has one method, the dispatch: every registered kernel type's vtable is
/// static data whose function pointers the loader relocates before `main`, so one entry
/// instead of one per hook keeps that work flat as kernels are added.
pub trait DynKernel: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn ask<'a>(
        &'a self,
        node: &Node,
        tensors: &dyn Tensors,
        query: Query<'_>,
    ) -> Result<Answer<'a>, PluginError>;
}

/// What [`DynKernel`]'s dispatch is asked. Not public API.
#[doc(hidden)]
pub enum Query<'q> {
    Schema,
    Attrs,
    Check,
    Infer,
    Streams,
    Folding,
    Cycles,
    Resources(&'q Target),
    Execute(&'q [Tensor]),
    Concrete,
}

/// What [`DynKernel`]'s dispatch answers. Not public API.
#[doc(hidden)]
pub enum Answer<'a> {
    Schema(&'static [AttrSpec]),
    Attrs(Result<(), crate::attrs::AttrError>),
    Unit,
    Infos(Vec<TensorInfo>),
    Streams(Vec<Stream>),
    Knobs(Vec<FoldingKnob>),
    Cycles(Option<u64>),
    Resources(Option<Resources>),
    Tensors(Vec<Tensor>),
    /// The kernel's type and its address: no `dyn Any`, whose vtable would be one more
    /// relocation per kernel type before `main`.
    Concrete(TypeId, &'a ()),
}

fn view<'a, K: Kernel>(
    node: &'a Node,
    tensors: &'a dyn Tensors,
) -> Result<KernelNode<'a, K::Attrs>, PluginError> {
    let attrs = K::Attrs::read(node).map_err(PluginError::from)?;
    Ok(KernelNode::new(node, attrs, tensors))
}

impl<K: Kernel> DynKernel for K {
    fn ask<'a>(
        &'a self,
        node: &Node,
        tensors: &dyn Tensors,
        query: Query<'_>,
    ) -> Result<Answer<'a>, PluginError> {
        Ok(match query {
            Query::Schema => Answer::Schema(K::Attrs::SCHEMA),
            Query::Attrs => Answer::Attrs(K::Attrs::read(node).map(drop)),
            // SAFETY (read by `downcast`): the type answered is `K`, the type of `self`.
            Query::Concrete => Answer::Concrete(TypeId::of::<K>(), cast_ref(self)),
            Query::Check => {
                Kernel::check(self, &view::<K>(node, tensors)?)?;
                Answer::Unit
            }
            Query::Infer => {
                let view = view::<K>(node, tensors)?;
                let outputs = Kernel::infer(self, &view)?;
                if outputs.len() != node.outputs.len() {
                    return Err(view.error(format!(
                        "the kernel infers {} output(s) but the node has {}",
                        outputs.len(),
                        node.outputs.len()
                    )));
                }
                Answer::Infos(outputs)
            }
            Query::Streams => Answer::Streams(Kernel::streams(self, &view::<K>(node, tensors)?)?),
            Query::Folding => Answer::Knobs(Kernel::folding(self, &view::<K>(node, tensors)?)),
            Query::Cycles => Answer::Cycles(Kernel::cycles(self, &view::<K>(node, tensors)?)),
            Query::Resources(target) => {
                Answer::Resources(Kernel::resources(self, &view::<K>(node, tensors)?, target))
            }
            Query::Execute(inputs) => {
                let view = view::<K>(node, tensors)?;
                if inputs.len() != node.inputs.len() {
                    return Err(view.error(format!(
                        "executing needs one tensor per input ({}), got {}",
                        node.inputs.len(),
                        inputs.len()
                    )));
                }
                Answer::Tensors(Kernel::execute(self, &view, inputs)?)
            }
        })
    }
}

/// `self` as an untyped reference, for [`Answer::Concrete`].
fn cast_ref<K>(k: &K) -> &() {
    // SAFETY: `()` is a zero-sized type with alignment 1: a reference to it is valid at
    // any non-null address, and nothing is ever read through it; `downcast` casts it back
    // to `K` only after checking the `TypeId`.
    unsafe { &*std::ptr::from_ref(k).cast::<()>() }
}

mod sealed {
    /// Seals [`DynKernel`](super::DynKernel): its blanket implementation for every
    /// `Kernel` is the only one, which `downcast` relies on.
    pub trait Sealed {}
    impl<K: super::Kernel> Sealed for K {}
}

/// An answer of the wrong kind: a bug in the dispatch, reported rather than panicking.
fn mismatch(what: &str) -> PluginError {
    PluginError::new(format!(
        "internal error: the kernel dispatch answered {what} wrongly"
    ))
}

impl dyn DynKernel {
    /// The node attribute schema.
    pub fn attr_schema(&self) -> &'static [AttrSpec] {
        match self.ask(&Node::default(), &Graph::default(), Query::Schema) {
            Ok(Answer::Schema(s)) => s,
            _ => &[],
        }
    }

    /// Reads `node`'s attributes, reporting every problem.
    pub fn check_attrs(&self, node: &Node) -> Result<(), crate::attrs::AttrError> {
        match self.ask(node, &Graph::default(), Query::Attrs) {
            Ok(Answer::Attrs(r)) => r,
            _ => Ok(()),
        }
    }

    /// [`Kernel::check`].
    pub fn check(&self, node: &Node, tensors: &dyn Tensors) -> Result<(), PluginError> {
        match self.ask(node, tensors, Query::Check)? {
            Answer::Unit => Ok(()),
            _ => Err(mismatch("check")),
        }
    }

    /// [`Kernel::infer`].
    pub fn infer(
        &self,
        node: &Node,
        tensors: &dyn Tensors,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        match self.ask(node, tensors, Query::Infer)? {
            Answer::Infos(v) => Ok(v),
            _ => Err(mismatch("infer")),
        }
    }

    /// [`Kernel::streams`].
    pub fn streams(&self, node: &Node, tensors: &dyn Tensors) -> Result<Vec<Stream>, PluginError> {
        match self.ask(node, tensors, Query::Streams)? {
            Answer::Streams(v) => Ok(v),
            _ => Err(mismatch("streams")),
        }
    }

    /// [`Kernel::folding`].
    pub fn folding(
        &self,
        node: &Node,
        tensors: &dyn Tensors,
    ) -> Result<Vec<FoldingKnob>, PluginError> {
        match self.ask(node, tensors, Query::Folding)? {
            Answer::Knobs(v) => Ok(v),
            _ => Err(mismatch("folding")),
        }
    }

    /// [`Kernel::cycles`].
    pub fn cycles(&self, node: &Node, tensors: &dyn Tensors) -> Result<Option<u64>, PluginError> {
        match self.ask(node, tensors, Query::Cycles)? {
            Answer::Cycles(v) => Ok(v),
            _ => Err(mismatch("cycles")),
        }
    }

    /// [`Kernel::resources`].
    pub fn resources(
        &self,
        node: &Node,
        tensors: &dyn Tensors,
        target: &Target,
    ) -> Result<Option<Resources>, PluginError> {
        match self.ask(node, tensors, Query::Resources(target))? {
            Answer::Resources(v) => Ok(v),
            _ => Err(mismatch("resources")),
        }
    }

    /// [`Kernel::execute`].
    pub fn execute(
        &self,
        node: &Node,
        tensors: &dyn Tensors,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        match self.ask(node, tensors, Query::Execute(inputs))? {
            Answer::Tensors(v) => Ok(v),
            _ => Err(mismatch("execute")),
        }
    }

    /// The concrete kernel, when it is a `K`: how a backend reaches its kernel's typed
    /// hooks.
    pub fn downcast<K: Kernel>(&self) -> Option<&K> {
        match self.ask(&Node::default(), &Graph::default(), Query::Concrete) {
            Ok(Answer::Concrete(id, address)) if id == TypeId::of::<K>() => {
                // SAFETY: `DynKernel` is sealed: its one implementation, the blanket impl
                // for every `Kernel` above, answers `Concrete` with its own `TypeId` and
                // the address of `self`, so the address is a live `K` borrowed for as long
                // as `self`. (A `dyn Any` would need no `unsafe`, but its vtable is one
                // more relocation per kernel type before `main`: BENCHMARKS.md.)
                Some(unsafe { &*std::ptr::from_ref(address).cast::<K>() })
            }
            _ => None,
        }
    }
}
