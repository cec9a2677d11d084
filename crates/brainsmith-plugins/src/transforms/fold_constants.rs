//! [`FoldConstants`]

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::ir::{AttributeValue, Dim, ElemType, Graph, Node, Tensor};
use brainsmith_core::prelude::*;
use brainsmith_core::suggest::{QUOTED, shorten};

use crate::eval::{self, Array};
use crate::shapes;
use crate::transforms::infer_shapes::{record_types, types_settled};

/// Replaces every node whose inputs are all constant by initializers holding its
/// outputs, in one pass in dependency order, so a chain of constant nodes folds at once;
/// then records the tensor types folding made known, as `InferShapes` does.
///
/// Constant inputs are initializers and the outputs of nodes folded before. A `Shape`
/// node folds too when its input's shape is fully static. Quantizers (`Quant`,
/// `BipolarQuant`, `FloatQuant`, `Trunc`) are kept even on constant weights: their
/// formats are what hardware mapping reads. A node with constant
/// inputs that cannot be evaluated (an op type without a kernel, or an evaluation error)
/// gets a diagnostic naming it, and stays; so does a node whose output would hold more
/// than `max_elements` values (a `ConstantOfShape`, `Expand`, `Tile` or `Range` of absurd
/// size would otherwise exhaust memory), and a node writing a tensor that something else
/// writes too (another node, or an initializer: malformed, as a tensor has one producer
/// in ONNX, and which value is meant is unknown).
///
/// ```
/// use brainsmith_plugins::FoldConstants;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types, values};
///
/// // a + b depends on constants only: it becomes one.
/// let mut m = Sketch::new().input("x", &[2]).constant("a", &[2], &[1.0, 2.0])
///     .constant("b", &[2], &[10.0, 20.0]).op("Add", ["a", "b"], ["c"])
///     .op("Mul", ["x", "c"], ["y"]).output("y").build();
/// assert!(apply(&FoldConstants::default(), &mut m));
/// assert_eq!(op_types(&m), ["Mul"]);
/// assert_eq!(values(&m, "c"), [11.0, 22.0]);
/// ```
#[transform(stage = cleanup, tags = ["simplify", "constants"], version = "1.0.0", config)]
#[derive(Debug, Config)]
pub struct FoldConstants {
    /// The most values one folded output may hold (2^27 by default, 1 GiB of `f64` while
    /// it is computed); a larger one is left to run time, with a diagnostic.
    #[config(default = 134217728)]
    pub max_elements: u64,
}

/// The configuration's defaults (declared once, on the fields).
impl Default for FoldConstants {
    fn default() -> FoldConstants {
        FoldConstants::from_table(&Default::default()).expect("every key has a default")
    }
}

/// Op types that are never folded, whatever their inputs.
const KEEP: &[&str] = &["Quant", "BipolarQuant", "FloatQuant", "Trunc"];

/// Folded values up to this many elements are handed to shape inference as they are made.
const LEARN_LIMIT: usize = 4096;

/// The default opset of models that import none.
const DEFAULT_OPSET: i64 = 1;

fn has_subgraph(node: &Node) -> bool {
    node.attributes.iter().any(|a| {
        matches!(
            a.value,
            AttributeValue::Graph(_) | AttributeValue::Graphs(_)
        )
    })
}

impl Transform for FoldConstants {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let opset = model.opset_version("").unwrap_or(DEFAULT_OPSET);
        let run = eval::Run {
            opset,
            // Beyond what `usize` counts, no output is too large.
            max_elements: usize::try_from(self.max_elements).unwrap_or(usize::MAX),
        };
        let graph = &mut model.graph;
        let initializers: FxHashMap<&str, usize> = graph
            .initializers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name(), i))
            .collect();
        // A node folds only if its inputs are initializers or folded outputs, or it is a
        // Shape; without a first such node (a Constant has no inputs), none ever folds.
        let starts = |n: &Node| {
            n.op_type == "Shape" && n.is_onnx()
                || n.inputs
                    .iter()
                    .all(|i| i.is_empty() || initializers.contains_key(i.as_str()))
        };
        if !graph.nodes.iter().any(starts) {
            return Ok(false);
        }
        // How many nodes (and initializers) write each tensor; one that more than one
        // writes is never folded.
        let mut writers: FxHashMap<&str, usize> = FxHashMap::default();
        for name in graph
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter())
            .filter(|o| !o.is_empty())
            .map(String::as_str)
            .chain(graph.initializers.iter().map(|t| t.name()))
        {
            *writers.entry(name).or_default() += 1;
        }
        // Types are inferred node by node as folding goes, so that a Shape node sees the
        // dimensions that folding before it made static. Only a Shape node reads them.
        let order = graph.topological_order().nodes;
        let mut engine = graph
            .nodes
            .iter()
            .any(|n| n.op_type == "Shape" && n.is_onnx())
            .then(|| shapes::Engine::new(graph, opset));
        let mut values: FxHashMap<String, Array> = FxHashMap::default();
        // Large fills, made as stored tensors directly (see `large_fill`).
        let mut stored: FxHashMap<String, Tensor> = FxHashMap::default();
        let mut unreadable: FxHashSet<String> = FxHashSet::default();
        let mut folded = vec![false; graph.nodes.len()];

        for &index in &order {
            let node = &graph.nodes[index];
            // A node that cannot be inferred is InferShapes' to report.
            if let Some(engine) = &mut engine {
                let _ = engine.infer_node(index);
            }
            if KEEP.contains(&node.op_type.as_str()) || has_subgraph(node) {
                continue;
            }
            let static_shape = match (&engine, node.inputs.first()) {
                (Some(engine), Some(input)) if node.op_type == "Shape" && node.is_onnx() => engine
                    .types
                    .get(input.as_str())
                    .filter(|t| shapes::static_shape(t)),
                _ => None,
            };
            let is_static_shape = static_shape.is_some();
            let all_constant = node.inputs.iter().all(|i| {
                i.is_empty()
                    || values.contains_key(i)
                    || stored.contains_key(i)
                    || initializers.contains_key(i.as_str())
            });
            if !(all_constant || is_static_shape) {
                continue;
            }
            if let Some(shared) = node
                .outputs
                .iter()
                .find(|o| writers.get(o.as_str()).is_some_and(|&n| n > 1))
            {
                ctx.warn(
                    node.name.clone(),
                    format!(
                        "cannot fold node `{}` ({}): its output `{}` is written more than once \
                         (by another node or an initializer, or twice by this one); in ONNX \
                         every tensor has one producer: rename one",
                        shorten(&node.name, QUOTED),
                        node.op_type,
                        shorten(shared, QUOTED)
                    ),
                );
                continue;
            }
            if !node.is_onnx() || !eval::supports(node) && !is_static_shape {
                // Custom ops run in hardware or in their own executor; only report the
                // standard ones this transform lacks a kernel for.
                if node.is_onnx()
                    && node.op_type != "RandomNormal"
                    && node.op_type != "RandomUniform"
                {
                    ctx.warn(
                        node.name.clone(),
                        format!(
                            "cannot fold node `{}` ({}): its inputs are constant but there is no \
                             kernel for this op type",
                            shorten(&node.name, QUOTED),
                            node.op_type
                        ),
                    );
                }
                continue;
            }
            let view = if static_shape.is_none() && eval::is_view(node) {
                view_of(
                    node,
                    graph,
                    &initializers,
                    &stored,
                    &mut values,
                    &mut unreadable,
                    opset,
                )
            } else {
                None
            };
            let result = if let Some(t) = static_shape {
                shape_of(node, t).map(Folded::Arrays)
            } else if let Some(tensor) = view {
                tensor.map(Folded::Tensor)
            } else {
                match read_inputs(
                    &node.inputs,
                    graph,
                    &initializers,
                    &stored,
                    &mut values,
                    &mut unreadable,
                ) {
                    Err(e) => Err(e),
                    Ok(inputs) => match large_fill(node, &inputs, &run) {
                        Some(tensor) => tensor.map(Folded::Tensor),
                        None => eval::evaluate(node, &inputs, &run).map(Folded::Arrays),
                    },
                }
            };
            match result {
                Ok(Folded::Tensor(tensor)) => {
                    if let Some(engine) = &mut engine
                        && tensor.len() <= LEARN_LIMIT
                    {
                        engine.learn(&node.outputs[0], tensor.clone());
                    }
                    stored.insert(node.outputs[0].clone(), tensor);
                    folded[index] = true;
                }
                Ok(Folded::Arrays(outputs)) => {
                    for (name, array) in node.outputs.iter().zip(outputs) {
                        if !name.is_empty() {
                            // Shape rules read shapes, axes and sizes: small tensors. Weights
                            // are converted once, at the end, and only if still read.
                            if let Some(engine) = &mut engine
                                && array.len() <= LEARN_LIMIT
                                && let Ok(t) = array.to_tensor(name)
                            {
                                engine.learn(name, t);
                            }
                            values.insert(name.clone(), array);
                        }
                    }
                    folded[index] = true;
                }
                Err(e) => ctx.warn(
                    node.name.clone(),
                    format!(
                        "cannot fold node `{}` ({}): {e}",
                        shorten(&node.name, QUOTED),
                        node.op_type
                    ),
                ),
            }
        }

        if !folded.contains(&true) {
            return Ok(false);
        }
        // Materialise what the remaining nodes and the graph outputs read.
        let mut produced: Vec<String> = Vec::new();
        for (node, &f) in graph.nodes.iter().zip(&folded) {
            if f {
                produced.extend(node.outputs.iter().filter(|o| !o.is_empty()).cloned());
            }
        }
        let mut kept = Vec::with_capacity(graph.nodes.len());
        for (node, f) in std::mem::take(&mut graph.nodes).into_iter().zip(folded) {
            if !f {
                kept.push(node);
            }
        }
        *graph.nodes = kept;
        // Read by a node, a subgraph's node (an outer-scope name in an `If` branch, say)
        // or a graph output.
        let mut reads = Vec::new();
        for node in graph.nodes.iter() {
            node.reads(&mut reads);
        }
        let read: FxHashSet<&str> = reads
            .into_iter()
            .chain(graph.outputs.iter().map(|o| o.name.as_str()))
            .collect();
        let mut new = Vec::new();
        for name in produced {
            if !read.contains(name.as_str()) {
                continue;
            }
            if let Some(t) = stored.remove(&name) {
                new.push(t);
                continue;
            }
            let array = &values[&name];
            match array.to_tensor(&name) {
                Ok(t) => new.push(t),
                Err(e) => {
                    return Err(PluginError::new(format!(
                        "cannot store folded tensor `{name}`: {e}"
                    )));
                }
            }
        }
        graph.initializers.extend(new);
        // What folding made known (a dimension computed from a folded shape) goes into the
        // recorded types, as after InferShapes; problems are InferShapes' to report, so
        // where every type is already settled there is nothing to record.
        if !types_settled(graph) {
            record_types(graph, opset, &mut TransformContext::default());
        }
        Ok(true)
    }
}

/// What folding one node made.
enum Folded {
    /// Values, one per output.
    Arrays(Vec<Array>),
    /// The single output, already stored.
    Tensor(Tensor),
}

/// The values of the inputs called `names` (`None` for an omitted optional one), reading
/// each initializer or stored tensor once into `values`.
fn read_inputs<'v>(
    names: &[String],
    graph: &Graph,
    initializers: &FxHashMap<&str, usize>,
    stored: &FxHashMap<String, Tensor>,
    values: &'v mut FxHashMap<String, Array>,
    unreadable: &mut FxHashSet<String>,
) -> Result<Vec<Option<&'v Array>>, String> {
    for input in names {
        if input.is_empty() || values.contains_key(input) {
            continue;
        }
        if unreadable.contains(input) {
            return Err(format!("initializer `{input}` could not be read"));
        }
        let tensor = match stored.get(input) {
            Some(t) => t,
            None => &graph.initializers[initializers[input.as_str()]],
        };
        match Array::from_tensor(tensor) {
            Ok(a) => {
                values.insert(input.clone(), a);
            }
            Err(e) => {
                unreadable.insert(input.clone());
                return Err(format!("initializer `{input}`: {e}"));
            }
        }
    }
    let values = &*values;
    Ok(names
        .iter()
        .map(|i| if i.is_empty() { None } else { values.get(i) })
        .collect())
}

/// For a view op ([`eval::is_view`]) of a stored
/// tensor (an initializer or a tensor folded to storage), its output as a tensor sharing
/// the stored values under the new dimensions: a reshaped weight is neither read nor
/// copied. `None` where the values must be evaluated: another op, data computed in this
/// pass, or storage that does not hold as many values as its dimensions describe (reading
/// it reports why).
fn view_of(
    node: &Node,
    graph: &Graph,
    initializers: &FxHashMap<&str, usize>,
    stored: &FxHashMap<String, Tensor>,
    values: &mut FxHashMap<String, Array>,
    unreadable: &mut FxHashSet<String>,
    opset: i64,
) -> Option<Result<Tensor, String>> {
    let (data, rest) = node.inputs.split_first()?;
    let [output] = &node.outputs[..] else {
        return None;
    };
    let tensor = match stored.get(data) {
        Some(t) => t,
        None => &graph.initializers[*initializers.get(data.as_str())?],
    };
    if tensor.stored_len().ok()? != tensor.len() {
        return None;
    }
    let dims: Vec<usize> = tensor
        .dims()
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let rest = match read_inputs(rest, graph, initializers, stored, values, unreadable) {
        Ok(rest) => rest,
        Err(e) => return Some(Err(e)),
    };
    Some(eval::view_dims(node, &dims, &rest, opset)?.and_then(|out| {
        let out: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let mut view = tensor.clone();
        view.set_name(output.as_str());
        view.reshape(&out).map_err(|e| e.to_string())?;
        Ok(view)
    }))
}

/// A `ConstantOfShape` of more than [`LEARN_LIMIT`] elements, made as a stored tensor by
/// repeating the bytes of its one value: a weight generated in the graph (light_resnet50
/// makes 100 MB of them) is written once, not computed in the `f64` lane and converted.
/// `None` for any other node, which `eval` computes.
fn large_fill(
    node: &Node,
    inputs: &[Option<&Array>],
    run: &eval::Run,
) -> Option<Result<Tensor, String>> {
    if node.op_type != "ConstantOfShape" {
        return None;
    }
    let shape = inputs.first().copied().flatten()?.as_i64().ok()?;
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let len = match eval::count(&dims, run) {
        Ok(len) if len <= LEARN_LIMIT => return None,
        Ok(len) => len,
        Err(e) => return Some(Err(e)),
    };
    let one = eval::evaluate(
        node,
        &[Some(&Array::ints(ElemType::Int64, vec![1], vec![1]))],
        run,
    )
    .and_then(|mut v| v.remove(0).to_tensor(""));
    Some(one.and_then(|one| {
        let bytes = one
            .raw_bytes()
            .ok_or("its value is not stored as raw bytes")?;
        Ok(Tensor::from_raw(
            &node.outputs[0],
            one.elem_type(),
            &shape,
            bytes.repeat(len),
        ))
    }))
}

/// The value of a `Shape` node over a static shape (`start` and `end` as in opset 15).
fn shape_of(node: &Node, t: &brainsmith_core::ir::TensorType) -> Result<Vec<Array>, String> {
    let dims: Vec<i64> = t
        .shape
        .iter()
        .flatten()
        .filter_map(|d| match d {
            Dim::Value(v) => Some(*v),
            _ => None,
        })
        .collect();
    let part = dims[shapes::shape_window(node, dims.len())].to_vec();
    Ok(vec![Array::ints(ElemType::Int64, vec![part.len()], part)])
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{Model, ValueInfo};

    use super::*;

    /// `ConstantOfShape(shape) -> w`, added to a graph input so the fill is kept.
    fn fill(shape: &[i64], value: Tensor) -> Model {
        let mut m = Model::default();
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", value.elem_type(), shape));
        m.graph
            .initializers
            .push(Tensor::from_i64("shape", &[shape.len() as i64], shape));
        m.graph.nodes.push(
            Node::new("ConstantOfShape", ["shape"], ["w"])
                .with_attribute("value", AttributeValue::Tensor(value)),
        );
        m.graph.nodes.push(Node::new("Add", ["x", "w"], ["y"]));
        m
    }

    fn folded(mut m: Model) -> Tensor {
        let changed = FoldConstants::default()
            .apply(&mut m, &mut TransformContext::default())
            .unwrap();
        assert!(changed);
        assert_eq!(m.graph.nodes.len(), 1, "{:?}", m.graph.nodes);
        m.graph
            .initializers
            .into_iter()
            .find(|t| t.name() == "w")
            .unwrap()
    }

    #[test]
    fn only_a_node_on_constants_or_a_shape_starts_folding() {
        // Nothing reads only constants: unchanged, and nothing to report.
        let mut m = fill(&[2], Tensor::from_f32("v", &[1], &[1.0]));
        m.graph.nodes.remove(0);
        m.graph.nodes[0].inputs[1] = "x".into();
        let before = m.clone();
        let mut ctx = TransformContext::default();
        assert!(!FoldConstants::default().apply(&mut m, &mut ctx).unwrap());
        assert_eq!(m, before);
        assert!(ctx.diagnostics().is_empty());

        // A custom op on constants starts the pass too: it is reported, not folded.
        let mut custom = before.clone();
        custom
            .graph
            .nodes
            .insert(0, Node::new("Frob", ["shape"], ["f"]).with_domain("acme"));
        let mut builtin = custom.clone();
        builtin.graph.nodes[0] = Node::new("Frob", ["shape"], ["f"]).with_name("frob");
        let mut ctx = TransformContext::default();
        assert!(
            !FoldConstants::default()
                .apply(&mut custom, &mut ctx)
                .unwrap()
        );
        assert!(
            ctx.diagnostics().is_empty(),
            "custom ops are not ours to report"
        );
        assert!(
            !FoldConstants::default()
                .apply(&mut builtin, &mut ctx)
                .unwrap()
        );
        assert!(
            ctx.diagnostics()[0]
                .message
                .contains("cannot fold node `frob` (Frob)"),
            "{:?}",
            ctx.diagnostics()
        );
    }

    /// An `ai.onnx.ml` op has a shape rule but no evaluator: on constants it stays,
    /// unreported as a custom op is, while the `Shape` of its output folds.
    #[test]
    fn onnx_ml_ops_stay_and_their_shapes_fold() {
        let mut m = Model::default();
        m.set_opset_version("", 13);
        m.set_opset_version("ai.onnx.ml", 5);
        m.graph
            .initializers
            .push(Tensor::from_f32("c", &[2, 3], &[0.5; 6]));
        m.graph.nodes.push(
            Node::new("Binarizer", ["c"], ["b"])
                .with_domain("ai.onnx.ml")
                .with_name("bin"),
        );
        m.graph.nodes.push(Node::new("Shape", ["b"], ["s"]));
        for name in ["b", "s"] {
            let mut output = ValueInfo::default();
            output.name = name.into();
            m.graph.outputs.push(output);
        }
        let mut ctx = TransformContext::default();
        assert!(FoldConstants::default().apply(&mut m, &mut ctx).unwrap());
        assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
        assert_eq!(m.graph.nodes.len(), 1, "{:?}", m.graph.nodes);
        assert_eq!(m.graph.nodes[0].name, "bin");
        let s = m.graph.initializers.iter().find(|t| t.name() == "s");
        assert_eq!(s.map(|t| t.to_i64().unwrap()), Some(vec![2, 3]));
    }

    /// A fill larger than `max_elements` stays, reported with its size and the setting to
    /// raise, whether it would take the direct path (large) or evaluation (small limit),
    /// and whether its count fits in 64 bits or not; a negative limit is refused as a
    /// configuration.
    #[test]
    fn fills_beyond_the_limit_stay_with_a_diagnostic() {
        assert_eq!(FoldConstants::default().max_elements, 1 << 27);
        let one = || Tensor::from_f32("", &[1], &[0.5]);
        for (shape, limit, size) in [
            (vec![1_i64 << 40, 1 << 40], 1 << 27, "more than 2^64 values"),
            (vec![1 << 20, 1 << 10], 1 << 27, "hold 1073741824 values"),
            (vec![100, 300], 1 << 27, ""),
            (vec![100, 300], 29_999, "hold 30000 values"),
            (vec![10, 10], 99, "hold 100 values"),
        ] {
            let mut m = fill(&shape, one());
            let mut ctx = TransformContext::default();
            let fold = FoldConstants {
                max_elements: limit,
            };
            let changed = fold.apply(&mut m, &mut ctx).unwrap();
            if size.is_empty() {
                assert!(changed && ctx.diagnostics().is_empty(), "{shape:?}");
                continue;
            }
            assert!(!changed, "{shape:?} folded");
            assert_eq!(m.graph.nodes.len(), 2);
            let message = &ctx.diagnostics()[0].message;
            assert!(
                message.contains("cannot fold node `` (ConstantOfShape)")
                    && message.contains(size)
                    && message.contains(&format!("more than `max_elements` ({limit}) allows")),
                "{message}"
            );
        }
        // A negative limit is a configuration error, found before anything runs.
        let table: toml::Table = "max_elements = -1".parse().unwrap();
        let problems = FoldConstants::from_table(&table).unwrap_err();
        assert!(
            problems[0].to_string().contains("max_elements")
                && problems[0].to_string().contains("u64"),
            "{problems:?}"
        );
    }

    #[test]
    fn large_fills_hold_the_value_in_every_element() {
        // 30,000 elements: above the size where the bytes are repeated directly.
        let w = folded(fill(&[100, 300], Tensor::from_f32("", &[1], &[0.02])));
        assert_eq!(w.dims(), [100, 300]);
        assert_eq!(w.elem_type(), ElemType::Float);
        let values = w.to_f64().unwrap();
        assert_eq!(values.len(), 30_000);
        assert!(values.iter().all(|&v| v == f64::from(0.02f32)));

        let w = folded(fill(&[5000], Tensor::from_i64("", &[1], &[-3])));
        assert_eq!(w.elem_type(), ElemType::Int64);
        assert!(w.to_i64().unwrap().iter().all(|&v| v == -3));
    }

    #[test]
    fn small_and_large_fills_agree() {
        let small = folded(fill(&[64], Tensor::from_f32("", &[1], &[1.5])));
        let large = folded(fill(&[64, 100], Tensor::from_f32("", &[1], &[1.5])));
        assert_eq!(
            small.raw_bytes().unwrap(),
            &large.raw_bytes().unwrap()[..64 * 4]
        );
    }

    #[test]
    fn nodes_reading_a_large_fill_fold_too() {
        let mut m = fill(&[100, 300], Tensor::from_f32("", &[1], &[-0.5]));
        m.graph.nodes[1] = Node::new("Neg", ["w"], ["y"]);
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[100, 300]));
        FoldConstants::default()
            .apply(&mut m, &mut TransformContext::default())
            .unwrap();
        assert!(m.graph.nodes.is_empty());
        let y = m
            .graph
            .initializers
            .iter()
            .find(|t| t.name() == "y")
            .unwrap();
        assert!(y.to_f64().unwrap().iter().all(|&v| v == 0.5));
    }

    /// `w` viewed by `node` (reading `w` and `aux`), then added to input `x` so it stays.
    fn view(w: Tensor, aux: Option<Tensor>, node: Node) -> Model {
        let mut m = Model::default();
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", w.elem_type(), &[1]));
        m.graph.initializers.push(w);
        m.graph.initializers.extend(aux);
        m.graph.nodes.push(node);
        m.graph.nodes.push(Node::new("Add", ["x", "v"], ["y"]));
        m
    }

    fn viewed(mut m: Model) -> (Tensor, Model) {
        assert!(
            FoldConstants::default()
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        assert_eq!(m.graph.nodes.len(), 1, "{:?}", m.graph.nodes);
        let v = m.graph.initializer("v").unwrap().clone();
        (v, m)
    }

    #[test]
    fn a_view_of_a_stored_weight_shares_its_values() {
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let w = Tensor::from_f32("w", &[2, 3, 4], &values);
        let shape = Tensor::from_i64("s", &[2], &[-1, 4]);
        let (v, m) = viewed(view(
            w.clone(),
            Some(shape),
            Node::new("Reshape", ["w", "s"], ["v"]),
        ));
        assert_eq!(v.dims(), [6, 4]);
        assert_eq!(v.elem_type(), ElemType::Float);
        // The very bytes of `w`, not a copy.
        let stored = m.graph.initializer("w").unwrap().raw_bytes().unwrap();
        assert_eq!(v.raw_bytes().unwrap().as_ptr(), stored.as_ptr());
        assert_eq!(v.to_f64().unwrap(), w.to_f64().unwrap());

        // Each view op gives the dimensions evaluating it gives.
        let opset13 = |m: Model| {
            let mut m = m;
            m.opset_imports
                .push(brainsmith_core::ir::proto::OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(13),
                    ..Default::default()
                });
            m
        };
        let axes = |a: &[i64]| Some(Tensor::from_i64("a", &[a.len() as i64], a));
        for (node, aux, dims) in [
            (Node::new("Identity", ["w"], ["v"]), None, vec![2, 3, 4]),
            (
                Node::new("Flatten", ["w"], ["v"]).with_attribute("axis", AttributeValue::Int(2)),
                None,
                vec![6, 4],
            ),
            (
                Node::new("Unsqueeze", ["w", "a"], ["v"]),
                axes(&[0, -1]),
                vec![1, 2, 3, 4, 1],
            ),
        ] {
            let (v, _) = viewed(opset13(view(w.clone(), aux, node.clone())));
            assert_eq!(v.dims(), dims, "{}", node.op_type);
            assert_eq!(v.to_f64().unwrap(), w.to_f64().unwrap());
        }
        // Omitted trailing axes: every dimension of 1 goes, as when evaluating.
        let one = Tensor::from_f32("w", &[1, 3, 1], &[1.0, 2.0, 3.0]);
        let (v, _) = viewed(opset13(view(
            one.clone(),
            None,
            Node::new("Squeeze", ["w", ""], ["v"]),
        )));
        assert_eq!(v.dims(), [3]);
        let (v, _) = viewed(opset13(view(
            one,
            axes(&[2]),
            Node::new("Squeeze", ["w", "a"], ["v"]),
        )));
        assert_eq!(v.dims(), [1, 3]);
    }

    #[test]
    fn a_view_of_bad_storage_is_reported_not_folded() {
        // Six bytes are not a whole number of float32 values.
        let ragged = Tensor::from_raw("w", ElemType::Float, &[2], vec![0u8; 6]);
        let mut m = view(
            ragged,
            None,
            Node::new("Identity", ["w"], ["v"]).with_name("id"),
        );
        let mut ctx = TransformContext::default();
        assert!(!FoldConstants::default().apply(&mut m, &mut ctx).unwrap());
        assert_eq!(m.graph.nodes.len(), 2);
        let message = &ctx.diagnostics()[0].message;
        assert!(
            message.contains("cannot fold node `id` (Identity)") && message.contains("6 bytes"),
            "{message}"
        );

        // A target shape the values cannot take is reported with both.
        let w = Tensor::from_f32("w", &[2, 3], &[0.0; 6]);
        let shape = Tensor::from_i64("s", &[1], &[4]);
        let mut m = view(
            w,
            Some(shape),
            Node::new("Reshape", ["w", "s"], ["v"]).with_name("r"),
        );
        let mut ctx = TransformContext::default();
        assert!(!FoldConstants::default().apply(&mut m, &mut ctx).unwrap());
        let message = &ctx.diagnostics()[0].message;
        assert!(
            message.contains("cannot fold node `r` (Reshape)"),
            "{message}"
        );
    }
}
