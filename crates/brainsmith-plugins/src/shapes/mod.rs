//! Static shape and element-type inference: one pass over the graph in dependency order,
//! one rule per op type (by family, with the ops' evaluators, in the crate's `ops` module).
//!
//! A tensor's type is a [`TensorType`]: element type and shape, where each dimension is a
//! number, a named symbol or unknown. Rules read constant inputs (initializers and
//! `Constant` nodes) where the output shape depends on values (`Reshape`, `Slice`,
//! `ConstantOfShape`...). A node no rule covers, or whose inputs are not known well
//! enough, is reported and its outputs stay unknown; everything downstream that does not
//! depend on it is still inferred.

use rustc_hash::FxHashMap;

use brainsmith_core::ir::{
    AttributeValue, Dim, ElemType, Graph, Node, QuantType, Tensor, TensorType,
};
use brainsmith_core::kernel::Tensors;

#[cfg(test)]
pub(crate) use crate::ops::op_types;

/// Whether some shape rule covers `node`.
pub fn supports(node: &Node) -> bool {
    crate::ops::shape_rule(node).is_some()
}

/// The largest rank a tensor may have here: a shape tensor declared longer (a graph input
/// `int64[2147483648]` feeding `Reshape`) is reported instead of allocating a rank that
/// size. ONNX sets no limit; no real model comes near this one.
pub const MAX_RANK: usize = 64;

/// Why a node's outputs could not be inferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Index of the node in the graph.
    pub node: usize,
    /// What went wrong, naming the node and its op type.
    pub message: String,
}

/// The inferred types of a graph's tensors.
#[derive(Debug, Default)]
pub struct Inference<'g> {
    /// Every tensor whose type is known, by name.
    pub types: FxHashMap<&'g str, TensorType>,
    /// The nodes in the order they were visited (a topological order).
    pub order: Vec<usize>,
    /// The nodes that could not be inferred.
    pub problems: Vec<Problem>,
}

/// What a rule sees of one node.
pub(crate) struct Ctx<'a> {
    pub(crate) node: &'a Node,
    pub(crate) inputs: Vec<Option<&'a TensorType>>,
    /// Values learned while folding, then the graph's constants: looked up only by the
    /// rules that read a value (most read types alone).
    learned: &'a FxHashMap<String, Tensor>,
    consts: &'a FxHashMap<&'a str, &'a Tensor>,
    pub(crate) opset: i64,
}

impl<'a> Ctx<'a> {
    /// The type of input `i`; an error when it is missing or unknown.
    pub(crate) fn input(&self, i: usize) -> Result<&'a TensorType, String> {
        match self.inputs.get(i) {
            Some(Some(t)) => Ok(t),
            Some(None) => Err(format!(
                "the type of input {i} (`{}`) is unknown",
                self.node.inputs[i]
            )),
            None => Err(format!("input {i} is missing")),
        }
    }

    /// The shape of input `i`; an error when it is unknown or has a negative dimension
    /// (so that no rule meets one).
    pub(crate) fn shape(&self, i: usize) -> Result<&'a [Dim], String> {
        let t = self.input(i)?;
        let dims = t.shape.as_deref().ok_or_else(|| {
            format!(
                "the shape of input {i} (`{}`) is unknown",
                self.node.inputs[i]
            )
        })?;
        if dims.iter().any(|d| matches!(d, Dim::Value(v) if *v < 0)) {
            return Err(format!(
                "the shape of input {i} (`{}`), {}, has a negative dimension",
                self.node.inputs[i],
                show(dims)
            ));
        }
        Ok(dims)
    }

    /// The shape of input `i` when known: `None` when the input is typed but its shape is
    /// not (a tensor computed with a shape the model leaves open); an error as
    /// [`Ctx::shape`] otherwise.
    pub(crate) fn shape_if_known(&self, i: usize) -> Result<Option<&'a [Dim]>, String> {
        if self.input(i)?.shape.is_none() {
            return Ok(None);
        }
        self.shape(i).map(Some)
    }

    /// Whether optional input `i` is given.
    pub(crate) fn has_input(&self, i: usize) -> bool {
        self.node.inputs.get(i).is_some_and(|n| !n.is_empty())
    }

    /// Input `i`, when it is a constant.
    fn constant(&self, i: usize) -> Option<&'a Tensor> {
        let name = self.node.inputs.get(i).filter(|n| !n.is_empty())?;
        self.learned
            .get(name.as_str())
            .or_else(|| self.consts.get(name.as_str()).copied())
    }

    /// The values of input `i` as integers, when it is a constant.
    pub(crate) fn const_ints(&self, i: usize) -> Result<Option<Vec<i64>>, String> {
        match self.constant(i) {
            Some(t) => t.to_i64().map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    /// The values of input `i` as floats, when it is a constant.
    pub(crate) fn const_floats(&self, i: usize) -> Result<Option<Vec<f64>>, String> {
        match self.constant(i) {
            Some(t) => t.to_f64().map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    /// The length of 1-D input `i` (a shape or axes computed at run time), when static: a
    /// rank. A declared length beyond [`MAX_RANK`] is a problem, never an allocation.
    pub(crate) fn length(&self, i: usize) -> Result<Option<usize>, String> {
        let Some(dims) = self
            .inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|t| t.shape.as_deref())
        else {
            return Ok(None);
        };
        match dims {
            [Dim::Value(n)] if *n > MAX_RANK as i64 => Err(format!(
                "input {i} (`{}`) is a shape of {n} dimensions; no tensor has more than \
                 {MAX_RANK}",
                self.node.inputs[i]
            )),
            [Dim::Value(n)] => Ok(usize::try_from(*n).ok()),
            _ => Ok(None),
        }
    }

    /// The integer values of input `i`, which must be a constant.
    pub(crate) fn required_ints(&self, i: usize, what: &str) -> Result<Vec<i64>, String> {
        self.const_ints(i)?.ok_or_else(|| {
            format!(
                "its {what} (input {i}, `{}`) is computed at run time, not a constant",
                self.node.inputs.get(i).map_or("", String::as_str)
            )
        })
    }
}

/// Normalises a possibly negative axis against `rank`; `what` names it in the error.
pub(crate) fn axis(a: i64, rank: usize, what: &str) -> Result<usize, String> {
    let r = rank as i64;
    let n = if a < 0 { a + r } else { a };
    if (0..r).contains(&n) {
        Ok(n as usize)
    } else {
        Err(format!("{what} {a} is out of range for rank {rank}"))
    }
}

/// The dimensions a `Shape` node returns for an input of rank `rank`: its `start` and
/// `end` attributes (opset 15), negative from the end, clamped.
pub(crate) fn shape_window(node: &Node, rank: usize) -> std::ops::Range<usize> {
    let r = rank as i64;
    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    let start = clamp(node.attr_int("start").unwrap_or(0));
    let end = clamp(node.attr_int("end").unwrap_or(r));
    start..end.max(start)
}

/// Whether the shape of `t` is known and every dimension a number.
pub(crate) fn static_shape(t: &TensorType) -> bool {
    t.shape
        .as_ref()
        .is_some_and(|s| s.iter().all(|d| matches!(d, Dim::Value(_))))
}

/// Element type of a tensor type, as the enum.
pub(crate) fn elem(t: &TensorType) -> i32 {
    t.elem_type
}

/// A tensor type from an element type and static dimensions.
pub(crate) fn known(elem_type: i32, dims: &[i64]) -> TensorType {
    TensorType {
        elem_type,
        shape: Some(dims.iter().map(|&d| Dim::Value(d)).collect()),
    }
}

/// A tensor type from an element type and dimensions.
pub(crate) fn typed(elem_type: i32, dims: Vec<Dim>) -> TensorType {
    TensorType {
        elem_type,
        shape: Some(dims),
    }
}

/// A tensor type of rank `rank` with every dimension unknown, or of unknown rank: what a
/// rule gives where the model computes a shape at run time.
pub(crate) fn open(elem_type: i32, rank: Option<usize>) -> TensorType {
    TensorType {
        elem_type,
        shape: rank.map(|r| vec![Dim::Unknown; r]),
    }
}

/// Tensor values every rule may read: initializers and the outputs of `Constant` nodes.
/// An initializer also listed as a graph input (old-style files) still counts: ONNX's own
/// inference reads it the same way.
fn constants(graph: &Graph) -> FxHashMap<&str, &Tensor> {
    let mut out: FxHashMap<&str, &Tensor> =
        graph.initializers.iter().map(|t| (t.name(), t)).collect();
    for node in &graph.nodes {
        if node.op_type == "Constant"
            && node.is_onnx()
            && let (Some(out_name), Some(AttributeValue::Tensor(t))) =
                (node.outputs.first(), node.attribute("value"))
        {
            out.insert(out_name.as_str(), t);
        }
    }
    out
}

/// The values of `Constant` nodes that list them in an attribute (`value_ints`,
/// `value_int`, `value_floats`, `value_float`) rather than hold a tensor: axes and shapes
/// written that way are as constant as an initializer.
fn listed_constants(graph: &Graph) -> FxHashMap<String, Tensor> {
    let mut out = FxHashMap::default();
    for node in graph.nodes.iter() {
        if node.op_type != "Constant" || !node.is_onnx() {
            continue;
        }
        let (Some(name), Some(a)) = (node.outputs.first(), node.attributes.first()) else {
            continue;
        };
        let t = match (a.name.as_str(), &a.value) {
            ("value_int", AttributeValue::Int(v)) => Tensor::from_i64(name, &[], &[*v]),
            ("value_ints", AttributeValue::Ints(v)) => Tensor::from_i64(name, &[v.len() as i64], v),
            ("value_float", AttributeValue::Float(v)) => Tensor::from_f32(name, &[], &[*v]),
            ("value_floats", AttributeValue::Floats(v)) => {
                Tensor::from_f32(name, &[v.len() as i64], v)
            }
            _ => continue,
        };
        out.insert(name.clone(), t);
    }
    out
}

/// Inference node by node, for callers that learn constant values as they go
/// (`FoldConstants` folds a node, then the nodes after it see its value).
pub struct Engine<'g> {
    graph: &'g Graph,
    opset: i64,
    /// Every tensor whose type is known so far, by name.
    pub types: FxHashMap<&'g str, TensorType>,
    consts: FxHashMap<&'g str, &'g Tensor>,
    learned: FxHashMap<String, Tensor>,
}

impl<'g> Engine<'g> {
    /// An engine that knows the graph inputs, the initializers and `Constant` nodes.
    pub fn new(graph: &'g Graph, opset: i64) -> Engine<'g> {
        let mut types: FxHashMap<&'g str, TensorType> = FxHashMap::with_capacity_and_hasher(
            graph.inputs.len() + graph.initializers.len() + graph.nodes.len(),
            Default::default(),
        );
        for vi in graph.inputs.iter() {
            if let Some(t) = vi.tensor_type() {
                types.insert(vi.name.as_str(), t.clone());
            }
        }
        for t in &graph.initializers {
            types.entry(t.name()).or_insert_with(|| TensorType {
                elem_type: t.elem_type() as i32,
                shape: Some(t.dims().iter().map(|&d| Dim::Value(d)).collect()),
            });
        }
        Engine {
            graph,
            opset,
            types,
            consts: constants(graph),
            learned: listed_constants(graph),
        }
    }

    /// Makes the value of tensor `name` known to the nodes inferred after this.
    pub fn learn(&mut self, name: &str, value: Tensor) {
        self.learned.insert(name.to_owned(), value);
    }

    /// Infers the outputs of node `index`, whose inputs must have been inferred before;
    /// an error names the node and says why.
    pub fn infer_node(&mut self, index: usize) -> Result<(), String> {
        let node = &self.graph.nodes[index];
        if let Some(result) = crate::kernels::infer(node, &KnownTensors(self)) {
            let outputs = result.map_err(|message| {
                format!(
                    "cannot infer the outputs of node `{}` ({}): {message}",
                    node.name,
                    op_label(node)
                )
            })?;
            for (name, info) in node.outputs.iter().zip(outputs) {
                if !name.is_empty() {
                    self.types
                        .insert(name.as_str(), known(ElemType::Float as i32, &info.shape));
                }
            }
            return Ok(());
        }
        let outputs = {
            let cx = Ctx {
                node,
                inputs: node
                    .inputs
                    .iter()
                    .map(|n| {
                        if n.is_empty() {
                            None
                        } else {
                            self.types.get(n.as_str())
                        }
                    })
                    .collect(),
                learned: &self.learned,
                consts: &self.consts,
                opset: self.opset,
            };
            crate::ops::shape_rule(node)
                .ok_or_else(|| "no shape rule for this op type".to_owned())
                .and_then(|rule| rule(&cx))
                .map_err(|message| {
                    format!(
                        "cannot infer the outputs of node `{}` ({}): {message}",
                        node.name,
                        op_label(node)
                    )
                })?
        };
        for (name, t) in node.outputs.iter().zip(outputs) {
            if !name.is_empty() {
                self.types.insert(name.as_str(), t);
            }
        }
        Ok(())
    }
}

/// What a kernel's `infer` hook sees during inference: the shapes found so far, the
/// graph's datatype annotations and its constants.
struct KnownTensors<'e, 'g>(&'e Engine<'g>);

impl Tensors for KnownTensors<'_, '_> {
    fn shape(&self, name: &str) -> Option<Vec<i64>> {
        self.0.types.get(name)?.static_shape()
    }

    fn datatype(&self, name: &str) -> Option<QuantType> {
        match self.0.graph.datatype(name) {
            Some(Ok(dt)) => Some(dt),
            Some(Err(_)) => None,
            None => self
                .0
                .types
                .get(name)
                .filter(|t| t.elem_type == ElemType::Float as i32)
                .map(|_| QuantType::Float32),
        }
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        self.0
            .learned
            .get(name)
            .or_else(|| self.0.consts.get(name).copied())
    }
}

/// Infers the type of every tensor of `graph`. `opset` is the model's version of the
/// default ONNX domain, which decides the form of several ops.
pub fn infer(graph: &Graph, opset: i64) -> Inference<'_> {
    let mut engine = Engine::new(graph, opset);
    let order = graph.topological_order().nodes;
    let mut problems = Vec::new();
    let mut visited = vec![false; graph.nodes.len()];
    for &index in &order {
        visited[index] = true;
        if let Err(message) = engine.infer_node(index) {
            problems.push(Problem {
                node: index,
                message,
            });
        }
    }
    for (index, seen) in visited.iter().enumerate() {
        if !seen {
            let node = &graph.nodes[index];
            problems.push(Problem {
                node: index,
                message: format!(
                    "cannot infer the outputs of node `{}` ({}): it is part of a cycle or \
                     reads a tensor nothing produces",
                    node.name,
                    op_label(node)
                ),
            });
        }
    }
    problems.sort_by_key(|p| p.node);
    Inference {
        types: engine.types,
        order,
        problems,
    }
}

/// `Op` for the default domain, `domain:Op` otherwise.
pub(crate) fn op_label(node: &Node) -> String {
    if node.is_onnx() {
        node.op_type.clone()
    } else {
        format!("{}:{}", node.domain, node.op_type)
    }
}

/// The element type `ElemType::Int64` as stored in a [`TensorType`].
pub(crate) const INT64: i32 = ElemType::Int64 as i32;
/// The element type `ElemType::Bool` as stored in a [`TensorType`].
pub(crate) const BOOL: i32 = ElemType::Bool as i32;
/// The element type `ElemType::Float` as stored in a [`TensorType`].
pub(crate) const FLOAT: i32 = ElemType::Float as i32;
/// The element type `ElemType::Uint8` as stored in a [`TensorType`].
pub(crate) const UINT8: i32 = ElemType::Uint8 as i32;
/// The element type `ElemType::Int32` as stored in a [`TensorType`].
pub(crate) const INT32: i32 = ElemType::Int32 as i32;
/// The element type `ElemType::String` as stored in a [`TensorType`].
pub(crate) const STRING: i32 = ElemType::String as i32;

pub(crate) fn attr_int(cx: &Ctx<'_>, name: &str, default: i64) -> i64 {
    cx.node.attr_int(name).unwrap_or(default)
}

pub(crate) fn attr_ints<'a>(cx: &'a Ctx<'_>, name: &str) -> Option<&'a [i64]> {
    cx.node.attr_ints(name)
}

pub(crate) fn dim_value(d: &Dim) -> Option<i64> {
    match d {
        Dim::Value(v) => Some(*v),
        _ => None,
    }
}

pub(crate) fn static_dims(dims: &[Dim]) -> Option<Vec<i64>> {
    dims.iter().map(dim_value).collect()
}

/// The number of elements of a shape: `None` when a dimension is not static, an error
/// when the count leaves `i64` (absurd sizes must not wrap into a wrong dimension).
pub(crate) fn product(dims: &[Dim]) -> Result<Option<i64>, String> {
    let mut total = 1i64;
    for d in dims {
        let Some(v) = dim_value(d) else {
            return Ok(None);
        };
        total = total
            .checked_mul(v)
            .ok_or_else(|| format!("shape {} has more elements than 64 bits count", show(dims)))?;
    }
    Ok(Some(total))
}

/// A dimension computed in `i128` from `i64` operands (which cannot overflow there),
/// or an error when it does not fit back into `i64`.
pub(crate) fn fit(v: i128) -> Result<i64, String> {
    i64::try_from(v).map_err(|_| format!("a dimension would be {v}, beyond 64 bits"))
}

/// Multidirectional (numpy) broadcasting of two shapes.
pub(crate) fn broadcast(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|j| &a[j]);
        let db = (i + b.len()).checked_sub(rank).map(|j| &b[j]);
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) => match (x, y) {
                (Dim::Value(1), other) | (other, Dim::Value(1)) => other.clone(),
                (Dim::Value(p), Dim::Value(q)) if p == q => Dim::Value(*p),
                (Dim::Value(_), Dim::Value(_)) => {
                    return Err(format!(
                        "shapes {} and {} do not broadcast",
                        show(a),
                        show(b)
                    ));
                }
                (Dim::Value(v), _) | (_, Dim::Value(v)) => Dim::Value(*v),
                (Dim::Param(p), Dim::Param(q)) if p == q => Dim::Param(p.clone()),
                _ => Dim::Unknown,
            },
            (None, None) => Dim::Unknown,
        });
    }
    Ok(out)
}

/// When a shape is computed at run time: a tensor of the rank given by the static length
/// of 1-D input `i`, every dimension unknown, or of unknown rank. Not a problem to report:
/// the model itself leaves the shape open.
pub(crate) fn unknown_dims(cx: &Ctx<'_>, elem_type: i32, i: usize) -> Result<TensorType, String> {
    Ok(TensorType {
        elem_type,
        shape: cx.length(i)?.map(|rank| vec![Dim::Unknown; rank]),
    })
}

pub(crate) fn attr_floats(cx: &Ctx<'_>, name: &str) -> Result<Vec<f64>, String> {
    match cx.node.attribute(name) {
        Some(AttributeValue::Floats(v)) => Ok(v.iter().map(|&f| f64::from(f)).collect()),
        _ => Err(format!("it has no `{name}` attribute")),
    }
}

/// `[1, 3, ?]` for messages.
pub fn show(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Value(v) => v.to_string(),
            Dim::Param(p) => p.clone(),
            Dim::Unknown => "?".to_owned(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{AttributeValue, Dim, ElemType, Graph, Node, Tensor, ValueInfo};

    use super::{FLOAT, infer, show};

    fn graph(nodes: Vec<Node>, inits: Vec<Tensor>) -> Graph {
        let mut g = Graph::default();
        g.inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1, 3, 32, 32]));
        *g.nodes = nodes;
        *g.initializers = inits;
        g
    }

    fn messages<'i>(inference: &'i super::Inference<'_>) -> Vec<&'i str> {
        inference
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect()
    }

    fn shape_of(inference: &super::Inference, name: &str) -> String {
        inference.types[name]
            .shape
            .as_deref()
            .map_or("none".into(), show)
    }

    #[test]
    fn convolution_pooling_and_reshape() {
        let g = graph(
            vec![
                Node::new("Conv", ["x", "w"], ["c"])
                    .with_attribute("pads", AttributeValue::Ints(vec![1, 1, 1, 1]))
                    .with_attribute("strides", AttributeValue::Ints(vec![2, 2])),
                Node::new("MaxPool", ["c"], ["p"])
                    .with_attribute("kernel_shape", AttributeValue::Ints(vec![3, 3]))
                    .with_attribute("strides", AttributeValue::Ints(vec![2, 2]))
                    .with_attribute("ceil_mode", AttributeValue::Int(1)),
                Node::new("Reshape", ["p", "s"], ["r"]),
                Node::new("Slice", ["r", "st", "en", "ax", "stp"], ["sl"]),
                Node::new("MaxPool", ["c"], ["p2", "idx"])
                    .with_attribute("kernel_shape", AttributeValue::Ints(vec![2, 2])),
            ],
            vec![
                Tensor::from_f32("w", &[8, 3, 3, 3], &[0.0; 216]),
                Tensor::from_i64("s", &[3], &[0, -1, 4]),
                Tensor::from_i64("st", &[1], &[-1]),
                Tensor::from_i64("en", &[1], &[i64::MIN]),
                Tensor::from_i64("ax", &[1], &[1]),
                Tensor::from_i64("stp", &[1], &[-3]),
            ],
        );
        let inference = infer(&g, 13);
        assert!(inference.problems.is_empty(), "{:?}", inference.problems);
        assert_eq!(shape_of(&inference, "c"), "[1, 8, 16, 16]");
        assert_eq!(shape_of(&inference, "p"), "[1, 8, 8, 8]");
        assert_eq!(shape_of(&inference, "r"), "[1, 128, 4]");
        assert_eq!(shape_of(&inference, "sl"), "[1, 43, 4]");
        assert_eq!(inference.types["sl"].elem_type, FLOAT);
        // A MaxPool's indices have its output's shape, as integers.
        assert_eq!(shape_of(&inference, "p2"), "[1, 8, 15, 15]");
        assert_eq!(shape_of(&inference, "idx"), "[1, 8, 15, 15]");
        assert_eq!(inference.types["p2"].elem_type, FLOAT);
        assert_eq!(inference.types["idx"].elem_type, ElemType::Int64 as i32);
    }

    /// Window attributes of the wrong length or with a zero step are problems naming the
    /// node, never a panic (an index out of bounds, a division by zero).
    #[test]
    fn malformed_window_attributes_are_reported() {
        let conv = |attribute: &str, values: Vec<i64>| {
            Node::new("Conv", ["x", "w"], ["c"])
                .with_name("conv")
                .with_attribute(attribute, AttributeValue::Ints(values))
        };
        for (node, expected) in [
            (
                conv("strides", vec![2]),
                "`strides` has 1 values for 2 spatial dimensions",
            ),
            (conv("dilations", vec![1, 1, 1]), "`dilations` has 3 values"),
            (
                conv("pads", vec![1, 1]),
                "`pads` has 2 values for 2 spatial dimensions",
            ),
            (
                conv("strides", vec![1, 0]),
                "`strides` must be positive, not 0",
            ),
            (
                conv("dilations", vec![-1, 1]),
                "`dilations` must be positive, not -1",
            ),
            (
                Node::new("MaxPool", ["x"], ["c"])
                    .with_name("conv")
                    .with_attribute("kernel_shape", AttributeValue::Ints(vec![2, 2]))
                    .with_attribute("strides", AttributeValue::Ints(vec![0, 0])),
                "`strides` must be positive, not 0",
            ),
            (
                Node::new("Im2Col", ["x"], ["c"])
                    .with_name("conv")
                    .with_domain("qonnx.custom_op.general")
                    .with_attribute("kernel_size", AttributeValue::Ints(vec![2, 2]))
                    .with_attribute("stride", AttributeValue::Ints(vec![0, 1])),
                "`stride` must be positive, not 0",
            ),
        ] {
            let g = graph(
                vec![node],
                vec![Tensor::from_f32("w", &[8, 3, 3, 3], &[0.0; 216])],
            );
            let inference = infer(&g, 13);
            let message = &inference.problems[0].message;
            assert!(
                message.contains("node `conv`") && message.contains(expected),
                "{message}"
            );
        }
    }

    /// Counts that would divide by zero are problems too.
    #[test]
    fn zero_counts_are_reported() {
        let mut q = Graph::default();
        for name in ["q", "k", "v"] {
            q.inputs
                .push(ValueInfo::tensor(name, ElemType::Float, &[1, 4, 8]));
        }
        q.nodes.push(
            Node::new("Attention", ["q", "k", "v"], ["y"])
                .with_name("attention")
                .with_attribute("q_num_heads", AttributeValue::Int(2))
                .with_attribute("kv_num_heads", AttributeValue::Int(0)),
        );
        q.nodes
            .push(Node::new("Split", ["q"], [] as [&str; 0]).with_name("split"));
        let inference = infer(&q, 23);
        let messages = messages(&inference);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("head counts must be positive, not 2 and 0"));
        assert!(messages[1].contains("node `split` (Split): it has no outputs"));
    }

    /// Sizes whose arithmetic leaves `i64` are problems, not dimensions wrapped to a
    /// wrong value (nor, in debug builds, panics); so are negative dimensions where a rule
    /// computes with them, and padding that removes more than an axis holds.
    #[test]
    fn absurd_sizes_are_problems() {
        let mut g = Graph::default();
        g.inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1 << 62, 4]));
        g.inputs
            .push(ValueInfo::tensor("neg", ElemType::Float, &[2, -3]));
        g.initializers
            .push(Tensor::from_i64("pads", &[4], &[0, -5, 0, 0]));
        g.inputs
            .push(ValueInfo::tensor("small", ElemType::Float, &[2, 4]));
        g.nodes.push(
            Node::new("Concat", ["x", "x"], ["c"])
                .with_name("concat")
                .with_attribute("axis", AttributeValue::Int(0)),
        );
        g.nodes.push(
            Node::new("Flatten", ["x"], ["f"])
                .with_name("flatten")
                .with_attribute("axis", AttributeValue::Int(2)),
        );
        g.nodes
            .push(Node::new("Flatten", ["neg"], ["r"]).with_name("negative"));
        g.nodes
            .push(Node::new("Pad", ["small", "pads"], ["p"]).with_name("pad"));
        let inference = infer(&g, 13);
        let messages = messages(&inference);
        let expected = [
            "node `concat` (Concat): a dimension would be 9223372036854775808, beyond 64 bits",
            "node `flatten` (Flatten): shape [4611686018427387904, 4] has more elements than 64 \
             bits count",
            "node `negative` (Flatten): the shape of input 0 (`neg`), [2, -3], has a negative \
             dimension",
            "node `pad` (Pad): pads [0, -5, 0, 0] remove more than the 4 elements of axis 1",
        ];
        assert_eq!(messages.len(), expected.len(), "{messages:?}");
        for (m, e) in messages.iter().zip(expected) {
            assert!(m.contains(e), "{m}\n  does not contain\n{e}");
        }
    }

    /// A shape tensor whose declared length is absurd gives a problem, not a rank of that
    /// size (an allocation of tens of gigabytes, and an abort, before the fix).
    #[test]
    fn a_declared_shape_length_is_no_rank() {
        let mut g = Graph::default();
        g.inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[2, 3]));
        g.inputs
            .push(ValueInfo::tensor("s", ElemType::Int64, &[1 << 31]));
        g.nodes
            .push(Node::new("Reshape", ["x", "s"], ["r"]).with_name("reshape"));
        g.nodes
            .push(Node::new("ConstantOfShape", ["s"], ["c"]).with_name("fill"));
        g.nodes
            .push(Node::new("Expand", ["x", "s"], ["e"]).with_name("expand"));
        // A Constant whose tensor attribute is not `value`: typed, not a known constant.
        let big = Tensor::from_raw("big", ElemType::Int64, &[1 << 31], Vec::new());
        let declared = Node::new("Constant", Vec::<String>::new(), ["k"])
            .with_name("const")
            .with_attribute("other", AttributeValue::Tensor(big));
        g.nodes.push(declared);
        g.nodes
            .push(Node::new("Reshape", ["x", "k"], ["r2"]).with_name("reshape2"));
        let inference = infer(&g, 13);
        let messages = messages(&inference);
        assert_eq!(messages.len(), 4, "{messages:?}");
        for m in &messages {
            assert!(m.contains("is a shape of 2147483648 dimensions"), "{m}");
        }
    }

    /// No rule panics, whatever a node holds: every op type with a rule, given inputs of
    /// several ranks (typed, untyped, constant, some with sizes whose products overflow
    /// `i64`) and attributes that are empty, zero, negative or far out of range (up to
    /// `i64`'s extremes), gives types or a problem.
    #[test]
    fn no_rule_panics_on_malformed_nodes() {
        use crate::malformed::{ATTRIBUTE_NAMES, SHAPES, attribute_values, malformed};

        let mut cases = 0;
        let mut failures = Vec::new();
        let values = attribute_values();
        for (op, domain) in crate::ops::op_types() {
            for arity in 0..=5 {
                // Attribute `k` takes value `variant + k * spread`: spread 0 gives every
                // attribute the same value, the others mix them.
                for (spread, variant, shape) in (0..3).flat_map(|spread| {
                    (0..values.len()).flat_map(move |variant| {
                        [None, Some(0), Some(1), Some(2), Some(3), Some(4)]
                            .map(|shape| (spread, variant, shape))
                    })
                }) {
                    {
                        // Spread 2 types every input, so that typed inputs meet.
                        let g = malformed(op, domain, arity, variant, shape, spread == 2, |k| {
                            values[(variant + k * spread) % values.len()].clone()
                        });
                        for opset in [11, 13, 18] {
                            cases += 1;
                            let outcome =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    infer(&g, opset).problems.len()
                                }));
                            if outcome.is_err() {
                                failures.push(format!(
                                    "{op} with {arity} inputs, variant {variant}, spread \
                                     {spread}, shape {shape:?}, opset {opset}: {:?}",
                                    g.nodes[0].attributes
                                ));
                            }
                        }
                    }
                }
            }
        }
        // One attribute at a time, the others absent, on inputs of one shape: so that a
        // single bad value meets a node that is otherwise well formed.
        for (op, domain) in crate::ops::op_types() {
            for arity in 2..=3 {
                for (shape, dims) in SHAPES.iter().enumerate() {
                    for name in ATTRIBUTE_NAMES {
                        for value in &values {
                            let mut g = malformed(op, domain, arity, 0, Some(shape), false, |_| {
                                AttributeValue::Undefined
                            });
                            let node = &mut g.nodes[0];
                            node.attributes.clear();
                            *node = std::mem::take(node).with_attribute(name, value.clone());
                            cases += 1;
                            let outcome =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    infer(&g, 13).problems.len()
                                }));
                            if outcome.is_err() {
                                failures.push(format!(
                                    "{op} with {arity} inputs of shape {dims:?} and `{name}` = \
                                     {value:?}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert!(cases > 100_000, "only {cases} cases");
        assert!(
            failures.is_empty(),
            "{} of {cases} cases panicked, among them:\n{}",
            failures.len(),
            failures[..failures.len().min(20)].join("\n")
        );
    }

    /// `ConvTranspose` by its formula and by `output_shape`; shapes the model computes at
    /// run time keep their rank; a `Constant` written with `value_ints` is a constant.
    #[test]
    fn transposed_convolution_and_shapes_computed_at_run_time() {
        let mut g = graph(
            vec![
                // [1, 3, 32, 32] with weights [3, 4, 3, 3], group 2: 8 channels,
                // 2 * 31 + 1 + 3 - 2 = 64.
                Node::new("ConvTranspose", ["x", "w"], ["t"])
                    .with_attribute("group", AttributeValue::Int(2))
                    .with_attribute("strides", AttributeValue::Ints(vec![2, 2]))
                    .with_attribute("pads", AttributeValue::Ints(vec![1, 1, 1, 1]))
                    .with_attribute("output_padding", AttributeValue::Ints(vec![1, 0])),
                Node::new("ConvTranspose", ["x", "w"], ["o"])
                    .with_attribute("output_shape", AttributeValue::Ints(vec![65, 66])),
                Node::new("ReduceSum", ["x", "axes"], ["r"]),
                Node::new("ReduceSum", ["x", "axes"], ["flat"])
                    .with_attribute("keepdims", AttributeValue::Int(0)),
                Node::new("Constant", Vec::<String>::new(), ["target"])
                    .with_attribute("value_ints", AttributeValue::Ints(vec![3, -1])),
                Node::new("Reshape", ["x", "target"], ["reshaped"]),
            ],
            vec![Tensor::from_f32("w", &[3, 4, 3, 3], &[0.0; 108])],
        );
        g.inputs
            .push(ValueInfo::tensor("axes", ElemType::Int64, &[2]));
        let inference = infer(&g, 18);
        assert!(inference.problems.is_empty(), "{:?}", inference.problems);
        assert_eq!(shape_of(&inference, "t"), "[1, 8, 64, 63]");
        assert_eq!(shape_of(&inference, "o"), "[1, 4, 65, 66]");
        assert_eq!(shape_of(&inference, "r"), "[?, ?, ?, ?]");
        assert_eq!(shape_of(&inference, "flat"), "none");
        assert_eq!(inference.types["flat"].elem_type, FLOAT);
        assert_eq!(shape_of(&inference, "reshaped"), "[3, 1024]");
    }

    #[test]
    fn depth_and_space_trade_places() {
        let g = graph(
            vec![
                Node::new("SpaceToDepth", ["x"], ["s"])
                    .with_attribute("blocksize", AttributeValue::Int(2)),
                Node::new("DepthToSpace", ["s"], ["d"])
                    .with_attribute("blocksize", AttributeValue::Int(2)),
            ],
            vec![],
        );
        let inference = infer(&g, 13);
        assert_eq!(shape_of(&inference, "s"), "[1, 12, 16, 16]");
        assert_eq!(shape_of(&inference, "d"), "[1, 3, 32, 32]");
    }

    #[test]
    fn an_unknown_op_is_reported_and_only_its_descendants_stay_unknown() {
        let g = graph(
            vec![
                Node::new("Frobnicate", ["x"], ["f"]).with_name("frob"),
                Node::new("Relu", ["f"], ["after"]),
                Node::new("Relu", ["x"], ["beside"]),
            ],
            vec![],
        );
        let inference = infer(&g, 13);
        let messages = messages(&inference);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains("node `frob` (Frobnicate): no shape rule"),
            "{messages:?}"
        );
        assert!(messages[1].contains("(Relu): the type of input 0 (`f`) is unknown"));
        assert!(!inference.types.contains_key("after"));
        assert_eq!(shape_of(&inference, "beside"), "[1, 3, 32, 32]");
    }

    #[test]
    fn a_cycle_is_reported() {
        let g = graph(
            vec![
                Node::new("Add", ["x", "b"], ["a"]).with_name("first"),
                Node::new("Relu", ["a"], ["b"]).with_name("second"),
            ],
            vec![],
        );
        let inference = infer(&g, 13);
        assert_eq!(inference.problems.len(), 2);
        assert!(
            inference.problems[0]
                .message
                .contains("`first` (Add): it is part of a cycle")
        );
    }

    #[test]
    fn broadcasting_keeps_symbols_and_rejects_mismatches() {
        let mut g = graph(
            vec![
                Node::new("Add", ["x", "y"], ["ok"]),
                Node::new("Mul", ["x", "z"], ["bad"]).with_name("mul"),
            ],
            vec![],
        );
        let mut y = ValueInfo::tensor("y", ElemType::Float, &[]);
        if let Some(brainsmith_core::ir::ValueType::Tensor(t)) = &mut y.ty {
            // [n, 1, m, 1, 1]: a symbol against nothing or against 1 survives; against 3
            // it can only be 3.
            t.shape = Some(vec![
                Dim::Param("n".into()),
                Dim::Value(1),
                Dim::Param("m".into()),
                Dim::Value(1),
                Dim::Value(1),
            ]);
        }
        g.inputs.push(y);
        g.inputs.push(ValueInfo::tensor("z", ElemType::Float, &[5]));
        let inference = infer(&g, 13);
        assert_eq!(shape_of(&inference, "ok"), "[n, 1, 3, 32, 32]");
        assert!(
            inference.problems[0]
                .message
                .contains("node `mul` (Mul): shapes [1, 3, 32, 32] and [5] do not broadcast")
        );
    }
}
