//! [`InferDataTypes`]

use rustc_hash::FxHashMap;

use brainsmith_core::ir::{AttributeValue, ElemType, Graph, Node, QuantType, Tensor};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;
use super::sort_graph::topological_order;

/// Annotates every node output with its QONNX datatype (`finn_datatype`), in one pass in
/// dependency order: what the quantizers produce (`Quant`, `IntQuant`, `BipolarQuant`,
/// `FloatQuant`, `MultiThreshold`, ...), carried through the ops that only move data, and
/// widened through the multiply-accumulate ops.
///
/// The rules are qonnx 1.0's: a `Quant` with unit scale and zero offset gives `INT<n>` or
/// `UINT<n>` (`BIPOLAR` or `BINARY` at one bit); `MatMul`, `Gemm`, `Conv`, `Add`, `Sub` and
/// `Mul` of integers give `INT32` (`UINT32` when no input is signed and nothing
/// subtracts), of fixed-point or scaled integers `SCALEDINT<32>`, of any float
/// `FLOAT32`; `Reshape`, `Transpose`, `Concat`, `MaxPool` and the other data-movement ops
/// keep their input's type; `Sign` gives `BIPOLAR`; everything else `FLOAT32`, unless its
/// output already has another type. Scaled-integer results are written as `FLOAT32`
/// (qonnx's `allow_scaledint_dtypes = False`). A tensor without an annotation is
/// `FLOAT32` (`FLOAT16` for float16 tensors).
///
/// A custom op it does not know keeps its outputs' annotations, with a diagnostic naming
/// the node (qonnx stops with an exception).
///
/// ```
/// use brainsmith_plugins::InferDataTypes;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// // 4-bit activations times 2-bit weights accumulate in INT32.
/// let mut m = Sketch::new().int_input("x", &[1, 2], "UINT4").constant("w", &[2, 2], &[1.0; 4])
///     .datatype("w", "INT2").op("MatMul", ["x", "w"], ["y"]).output("y").unshaped();
/// assert!(apply(&InferDataTypes, &mut m));
/// assert_eq!(m.graph.datatype("y").unwrap().unwrap().to_string(), "INT32");
/// ```
#[transform(stage = cleanup, tags = ["datatypes", "quantization", "qonnx"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct InferDataTypes;

impl Transform for InferDataTypes {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let order = topological_order(&model.graph)?;
        let mut facts = Facts::new(&mut model.graph);
        let mut changes: Vec<(String, QuantType)> = Vec::new();
        for i in order {
            let node = &facts.rewriter.graph().nodes[i];
            match infer(&facts, node) {
                Rule::Set(outputs) => {
                    for (name, datatype) in outputs {
                        if facts.annotated.get(&name) != Some(&datatype) {
                            facts.annotated.insert(name.clone(), datatype);
                            changes.push((name, datatype));
                        }
                    }
                }
                Rule::Keep => {}
                Rule::Failed(message) => ctx.warn(
                    node.name.clone(),
                    format!("{message}; its outputs keep their annotations"),
                ),
                Rule::Unknown => ctx.warn(
                    node.name.clone(),
                    format!(
                        "custom op {}:{} has no datatype rule; its outputs keep their annotations",
                        node.domain, node.op_type
                    ),
                ),
            }
        }
        drop(facts);
        let changed = !changes.is_empty();
        model.graph.set_datatypes(changes);
        Ok(changed)
    }
}

/// What inference reads, indexed once.
struct Facts<'g> {
    rewriter: Rewriter<'g>,
    /// Current annotations, updated as the pass goes.
    annotated: FxHashMap<String, QuantType>,
    /// Element types of declared tensors and initializers.
    elems: FxHashMap<String, i32>,
}

impl<'g> Facts<'g> {
    fn new(graph: &'g mut Graph) -> Facts<'g> {
        let annotated = graph.datatypes();
        let mut elems: FxHashMap<String, i32> = FxHashMap::default();
        for t in &graph.initializers {
            elems.insert(t.name().to_owned(), t.elem_type() as i32);
        }
        for v in graph
            .value_info
            .iter()
            .chain(&graph.outputs)
            .chain(&graph.inputs)
        {
            if let Some(t) = v.tensor_type() {
                elems.insert(v.name.clone(), t.elem_type);
            }
        }
        Facts {
            rewriter: Rewriter::new(graph),
            annotated,
            elems,
        }
    }

    /// The datatype `name` has: its annotation, else `FLOAT16` for a float16 tensor and
    /// `FLOAT32` for any other.
    fn datatype(&self, name: &str) -> QuantType {
        if let Some(&datatype) = self.annotated.get(name) {
            return datatype;
        }
        if self.elems.get(name) == Some(&(ElemType::Float16 as i32)) {
            QuantType::Float16
        } else {
            QuantType::Float32
        }
    }

    fn elem(&self, name: &str) -> Option<i32> {
        self.elems.get(name).copied()
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        self.rewriter.constant(name)
    }
}

/// What to do with one node's outputs.
enum Rule {
    /// Annotate these outputs.
    Set(Vec<(String, QuantType)>),
    /// Leave them as they are.
    Keep,
    /// A custom op without a rule.
    Unknown,
    /// The kernel implementing the node could not answer.
    Failed(String),
}

/// Ops whose output holds values of their first input.
const MOVES_DATA: &[&str] = &[
    "Reshape",
    "Transpose",
    "Flatten",
    "Slice",
    "Gather",
    "GatherElements",
    "GatherND",
    "Identity",
    "Expand",
    "MaxPool",
    "GlobalMaxPool",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Squeeze",
    "Unsqueeze",
    "Tile",
    "Pad",
    "Concat",
    "Clip",
];

/// Ops that multiply and accumulate.
const MAC_LIKE: &[&str] = &["MatMul", "Gemm", "Conv", "Add", "Sub", "Mul"];

fn is_signed(t: QuantType) -> bool {
    !matches!(t, QuantType::Binary | QuantType::UInt(_))
}

fn is_float(t: QuantType) -> bool {
    matches!(
        t,
        QuantType::Float32 | QuantType::Float16 | QuantType::Float(..)
    )
}

fn is_scaled_int(t: QuantType) -> bool {
    t.is_integer() || matches!(t, QuantType::Fixed(..) | QuantType::ScaledInt(_))
}

/// Scaled integers are written as `FLOAT32`.
fn written(t: QuantType) -> QuantType {
    match t {
        QuantType::ScaledInt(_) => QuantType::Float32,
        t => t,
    }
}

/// What a kernel's `infer` hook sees: the datatypes found so far, the graph's shapes and
/// constants.
impl Tensors for Facts<'_> {
    fn shape(&self, name: &str) -> Option<Vec<i64>> {
        Tensors::shape(self.rewriter.graph(), name)
    }

    fn datatype(&self, name: &str) -> Option<QuantType> {
        Some(Facts::datatype(self, name))
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        Facts::constant(self, name)
    }
}

fn infer(facts: &Facts<'_>, node: &Node) -> Rule {
    let first_output = || node.outputs.first().cloned().unwrap_or_default();
    let one = |t: QuantType| Rule::Set(vec![(first_output(), written(t))]);
    if let Some(result) = crate::kernels::infer(node, facts) {
        return match result {
            Ok(outputs) => Rule::Set(
                node.outputs
                    .iter()
                    .zip(outputs)
                    .filter(|(name, _)| !name.is_empty())
                    .map(|(name, info)| (name.clone(), written(info.datatype)))
                    .collect(),
            ),
            Err(message) => Rule::Failed(message),
        };
    }
    if !node.is_onnx() {
        return match custom(facts, node) {
            Some(t) => one(t),
            None => Rule::Unknown,
        };
    }
    let op = node.op_type.as_str();
    let input = |k: usize| facts.datatype(node.inputs.get(k).map_or("", String::as_str));
    if op == "Sign" {
        return one(QuantType::Bipolar);
    }
    if MAC_LIKE.contains(&op) {
        let inputs: Vec<QuantType> = (0..node.inputs.len()).map(input).collect();
        let signed = op == "Sub" || inputs.iter().any(|&t| is_signed(t));
        let result = if inputs.iter().all(|t| t.is_integer()) {
            if signed {
                QuantType::Int(32)
            } else {
                QuantType::UInt(32)
            }
        } else if inputs.iter().all(|&t| is_scaled_int(t)) {
            QuantType::ScaledInt(32)
        } else if inputs.iter().any(|&t| is_float(t)) {
            QuantType::Float32
        } else {
            facts.datatype(&first_output())
        };
        return one(result);
    }
    if matches!(op, "Resize" | "Upsample") {
        let mode = match node.attribute("mode") {
            Some(AttributeValue::String(s)) => s.as_slice(),
            _ => b"nearest",
        };
        return if mode == b"nearest" {
            one(input(0))
        } else {
            Rule::Keep
        };
    }
    if MOVES_DATA.contains(&op) {
        return one(input(0));
    }
    let integer = |elem: i32| -> Option<QuantType> {
        let elem = ElemType::try_from(elem).ok()?;
        Some(match elem {
            ElemType::Int8 => QuantType::Int(8),
            ElemType::Uint8 => QuantType::UInt(8),
            ElemType::Int16 => QuantType::Int(16),
            ElemType::Uint16 => QuantType::UInt(16),
            ElemType::Int32 => QuantType::Int(32),
            ElemType::Uint32 => QuantType::UInt(32),
            _ => return None,
        })
    };
    let elem_of = |name: &str| facts.elem(name);
    match op {
        "QuantizeLinear" => {
            if let Some(t) = elem_of(&first_output()).and_then(integer) {
                return one(t);
            }
        }
        "DequantizeLinear" => {
            if let Some(t) = node
                .inputs
                .first()
                .and_then(|x| elem_of(x))
                .and_then(integer)
            {
                return one(QuantType::ScaledInt(t.bitwidth()));
            }
        }
        _ => {}
    }
    Rule::Set(
        node.outputs
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| (o.clone(), facts.datatype(o)))
            .collect(),
    )
}

/// The output datatype of a QONNX or FINN custom op, `None` when there is no rule.
fn custom(facts: &Facts<'_>, node: &Node) -> Option<QuantType> {
    let constant =
        |k: usize| -> Option<Vec<f64>> { facts.constant(node.inputs.get(k)?)?.to_f64().ok() };
    let scalar = |k: usize| -> Option<f64> {
        let t = facts.constant(node.inputs.get(k)?)?;
        if !t.dims().is_empty() {
            return None;
        }
        t.to_f64().ok()?.first().copied()
    };
    let all = |k: usize, value: f64| constant(k).is_some_and(|v| v.iter().all(|&x| x == value));
    Some(match node.op_type.as_str() {
        "Quant" | "IntQuant" => {
            let integer_width = scalar(3).filter(|w| w.fract() == 0.0 && *w >= 1.0 && *w <= 64.0);
            match integer_width {
                Some(width) if all(2, 0.0) && constant(1).is_some() => {
                    let width = width as u32;
                    let signed = node.attr_int("signed").unwrap_or(1) != 0;
                    if !all(1, 1.0) {
                        QuantType::ScaledInt(width)
                    } else if width == 1 {
                        if signed {
                            QuantType::Bipolar
                        } else {
                            QuantType::Binary
                        }
                    } else if signed {
                        QuantType::Int(width)
                    } else {
                        QuantType::UInt(width)
                    }
                }
                _ => QuantType::Float32,
            }
        }
        "BipolarQuant" => {
            if all(1, 1.0) {
                QuantType::Bipolar
            } else {
                QuantType::Float32
            }
        }
        "FloatQuant" => {
            let params = (1..=5).map(scalar).collect::<Option<Vec<f64>>>();
            match params.as_deref() {
                Some(&[_, e, m, b, _])
                    if all(1, 1.0) && [e, m, b].iter().all(|x| x.fract() == 0.0) =>
                {
                    QuantType::Float(e as u32, m as u32, b as i32)
                }
                _ => QuantType::Float32,
            }
        }
        "Trunc" => QuantType::Float32,
        // Rearranges its input's values, padding with zeros.
        "Im2Col" => facts.datatype(node.inputs.first()?),
        "MultiThreshold" => {
            let fractional = |name: &str| node.attr_float(name).is_some_and(|v| v.fract() != 0.0);
            if fractional("out_scale") || fractional("out_bias") {
                QuantType::Float32
            } else {
                node.attr_str("out_dtype")?.parse().ok()?
            }
        }
        // FINN's hardware layers carry their output type as an attribute.
        _ => node.attr_str("outputDataType")?.parse().ok()?,
    })
}
