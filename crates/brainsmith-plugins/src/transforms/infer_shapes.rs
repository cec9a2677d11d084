//! [`InferShapes`]

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::ir::{Dim, Graph, TensorType, ValueInfo, ValueType};
use brainsmith_core::prelude::*;

use crate::shapes;

/// Infers the element type and shape of every intermediate tensor and records them in
/// `value_info`; fills in graph outputs whose type or dimensions were not declared.
///
/// Covers the default-domain ops of the ONNX backend suite but control flow and the ops
/// that read a sequence or an optional (elementwise with broadcasting, convolution and
/// pooling, reshaping, slicing, reductions, `Resize`, `TopK`, `Attention`...), reading
/// constant inputs where a shape depends on values; the `ai.onnx.ml` ops the suite tests
/// (`Binarizer`, `ArrayFeatureExtractor`, `LabelEncoder`, `TreeEnsemble`); the QONNX and
/// FINN custom ops (`Quant`, `MultiThreshold`, `Im2Col`...); and the ops of registered
/// kernels. A node it cannot infer gets a diagnostic naming the node and its op type; the
/// tensors downstream of it stay unknown. Declared types are never overwritten, except
/// that unknown dimensions are filled in.
///
/// ```
/// use brainsmith_plugins::InferShapes;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// let mut m = Sketch::new().input("x", &[2, 3, 4]).op("Flatten", ["x"], ["y"]).output("y")
///     .unshaped();
/// assert!(apply(&InferShapes, &mut m));
/// assert_eq!(m.graph.outputs[0].static_shape(), Some(vec![2, 12]));
/// ```
#[transform(stage = cleanup, tags = ["analysis", "shapes"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct InferShapes;

/// The default opset of models that import none.
const DEFAULT_OPSET: i64 = 1;

impl Transform for InferShapes {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let opset = model.opset_version("").unwrap_or(DEFAULT_OPSET);
        Ok(record_types(&mut model.graph, opset, ctx))
    }
}

/// Infers every tensor's type and records it: `value_info` for intermediates, and the
/// undeclared parts of graph outputs. Problems go to `ctx`. Returns whether anything
/// changed.
pub(crate) fn record_types(graph: &mut Graph, opset: i64, ctx: &mut TransformContext) -> bool {
    // Take what was inferred out of the borrowed inference before the graph changes: the
    // types of the graph outputs, then those of node outputs in visiting order.
    let (problems, outputs, computed) = {
        let inference = shapes::infer(graph, opset);
        let problems: Vec<(String, String)> = inference
            .problems
            .into_iter()
            .map(|p| (graph.nodes[p.node].name.clone(), p.message))
            .collect();
        let mut types = inference.types;
        let outputs: Vec<Option<TensorType>> = graph
            .outputs
            .iter()
            .map(|o| types.get(o.name.as_str()).cloned())
            .collect();
        let skip: FxHashSet<&str> = graph
            .inputs
            .iter()
            .chain(&graph.outputs)
            .map(|v| v.name.as_str())
            .chain(graph.initializers.iter().map(|t| t.name()))
            .collect();
        let mut computed: Vec<(usize, usize, TensorType)> = Vec::new();
        for &index in &inference.order {
            for (k, name) in graph.nodes[index].outputs.iter().enumerate() {
                if name.is_empty() || skip.contains(name.as_str()) {
                    continue;
                }
                if let Some(t) = types.remove(name.as_str()) {
                    computed.push((index, k, t));
                }
            }
        }
        (problems, outputs, computed)
    };
    for (node, message) in problems {
        ctx.warn(node, message);
    }
    let mut changed = false;

    // By index, so that the outputs are written (and must be saved again) only where a
    // type changes.
    for (i, inferred) in outputs.into_iter().enumerate() {
        let Some(inferred) = inferred else { continue };
        let output = &graph.outputs[i];
        match merge(output.tensor_type(), &inferred) {
            Ok(Some(merged)) => {
                graph.outputs[i].ty = Some(ValueType::Tensor(merged));
                changed = true;
            }
            Ok(None) => {}
            Err(message) => ctx.warn("", format!("graph output `{}`: {message}", output.name)),
        }
    }

    // Where each inferred type goes, decided while the graph is only read: an update of
    // the value_info entry at an index, or a new entry.
    let placed: Vec<Placed> = {
        let mut existing: FxHashMap<&str, usize> =
            FxHashMap::with_capacity_and_hasher(graph.value_info.len(), Default::default());
        for (i, vi) in graph.value_info.iter().enumerate() {
            existing.insert(vi.name.as_str(), i);
        }
        computed
            .into_iter()
            .map(|(index, k, inferred)| {
                let name = graph.nodes[index].outputs[k].as_str();
                let (merged, at) = match existing.get(name) {
                    Some(&i) => (merge(graph.value_info[i].tensor_type(), &inferred), Some(i)),
                    None => (Ok(Some(inferred)), None),
                };
                Placed {
                    node: index,
                    output: k,
                    merged,
                    at,
                }
            })
            .collect()
    };
    for Placed {
        node: index,
        output: k,
        merged,
        at,
    } in placed
    {
        match (merged, at) {
            (Ok(Some(t)), Some(i)) => {
                graph.value_info[i].ty = Some(ValueType::Tensor(t));
                changed = true;
            }
            (Ok(Some(t)), None) => {
                let mut vi = ValueInfo::default();
                vi.name.clone_from(&graph.nodes[index].outputs[k]);
                vi.ty = Some(ValueType::Tensor(t));
                graph.value_info.push(vi);
                changed = true;
            }
            (Ok(None), _) => {}
            (Err(message), _) => {
                let node = &graph.nodes[index];
                ctx.warn(
                    node.name.clone(),
                    format!("tensor `{}`: {message}", node.outputs[k]),
                );
            }
        }
    }
    changed
}

/// Whether every type [`record_types`] could write is already settled, so that running it
/// would change nothing: each graph output and each node output (but initializers) has a
/// declared tensor type with a known element type and a fully static shape.
///
/// [`merge`] completes a declared type and never overwrites it: against a settled one it
/// returns "no change" or a contradiction, which is a diagnostic only. A caller that drops
/// the diagnostics (`FoldConstants`, after `InferShapes` has run) can skip the inference.
pub(crate) fn types_settled(graph: &Graph) -> bool {
    let settled =
        |t: Option<&TensorType>| t.is_some_and(|t| t.elem_type != 0 && shapes::static_shape(t));
    if !graph.outputs.iter().all(|o| settled(o.tensor_type())) {
        return false;
    }
    // As `record_types` places types: the last `value_info` entry of a name counts.
    let mut declared: FxHashMap<&str, bool> =
        FxHashMap::with_capacity_and_hasher(graph.value_info.len(), Default::default());
    for vi in &graph.value_info {
        declared.insert(vi.name.as_str(), settled(vi.tensor_type()));
    }
    let decided: FxHashSet<&str> = graph
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .chain(graph.inputs.iter().map(|i| i.name.as_str()))
        .chain(graph.initializers.iter().map(|t| t.name()))
        .collect();
    graph.nodes.iter().all(|node| {
        node.outputs.iter().all(|name| {
            name.is_empty()
                || declared.get(name.as_str()) == Some(&true)
                || decided.contains(name.as_str())
        })
    })
}

/// Where the type inferred for output `output` of node `node` goes: into the `value_info`
/// entry at `at`, or a new one; `merged` as [`merge`] returns it.
struct Placed {
    node: usize,
    output: usize,
    merged: Result<Option<TensorType>, String>,
    at: Option<usize>,
}

/// The declared type completed by the inferred one: `Ok(None)` when nothing changes, an
/// error when they contradict each other.
fn merge(
    declared: Option<&TensorType>,
    inferred: &TensorType,
) -> Result<Option<TensorType>, String> {
    let Some(declared) = declared else {
        return Ok(Some(inferred.clone()));
    };
    if declared == inferred {
        return Ok(None);
    }
    let mut merged = declared.clone();
    if merged.elem_type == 0 {
        merged.elem_type = inferred.elem_type;
    } else if inferred.elem_type != 0 && merged.elem_type != inferred.elem_type {
        return Err(format!(
            "declared element type {} but the graph computes {}",
            merged.elem_type, inferred.elem_type
        ));
    }
    match (&mut merged.shape, &inferred.shape) {
        (None, Some(shape)) => merged.shape = Some(shape.clone()),
        (Some(dims), Some(shape)) => {
            if dims.len() != shape.len() {
                return Err(format!(
                    "declared rank {} but the graph computes shape {}",
                    dims.len(),
                    shapes::show(shape)
                ));
            }
            for (d, s) in dims.iter_mut().zip(shape) {
                match (&*d, s) {
                    (Dim::Value(a), Dim::Value(b)) if a != b => {
                        return Err(format!(
                            "declared shape {} but the graph computes {}",
                            shapes::show(&declared.shape.clone().unwrap_or_default()),
                            shapes::show(shape)
                        ));
                    }
                    (Dim::Value(_), _) => {}
                    (_, Dim::Value(_)) => *d = s.clone(),
                    (Dim::Unknown, Dim::Param(_)) => *d = s.clone(),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok((merged != *declared).then_some(merged))
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{Dim, ElemType, Graph, Node, Tensor, ValueInfo, ValueType};
    use brainsmith_core::prelude::TransformContext;

    use super::{record_types, types_settled};

    fn graph() -> Graph {
        let mut g = Graph::default();
        g.inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1, 4]));
        g.outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[1, 4]));
        *g.nodes = vec![
            Node::new("Relu", ["x"], ["r"]),
            Node::new("Add", ["r", "b"], ["y"]),
        ];
        *g.initializers = vec![Tensor::from_f32("b", &[4], &[1.0; 4])];
        g
    }

    fn set_shape(vi: &mut ValueInfo, shape: Vec<Dim>) {
        if let Some(ValueType::Tensor(t)) = &mut vi.ty {
            t.shape = Some(shape);
        }
    }

    #[test]
    fn types_are_settled_once_every_output_has_a_static_type() {
        let mut g = graph();
        assert!(!types_settled(&g), "`r` has no type yet");
        assert!(record_types(&mut g, 13, &mut TransformContext::default()));
        assert!(types_settled(&g));

        // A symbolic dimension, anywhere, is not settled.
        let mut symbolic = g.clone();
        set_shape(
            &mut symbolic.value_info[0],
            vec![Dim::Param("n".into()), Dim::Value(4)],
        );
        assert!(!types_settled(&symbolic));
        let mut open_output = g.clone();
        set_shape(
            &mut open_output.outputs[0],
            vec![Dim::Unknown, Dim::Value(4)],
        );
        assert!(!types_settled(&open_output));
    }

    #[test]
    fn recording_over_settled_types_changes_nothing_even_when_they_contradict() {
        // What makes skipping sound: a settled declaration is completed by nothing, and a
        // contradiction is reported, never written.
        let mut g = graph();
        record_types(&mut g, 13, &mut TransformContext::default());
        set_shape(&mut g.value_info[0], vec![Dim::Value(2), Dim::Value(2)]);
        set_shape(&mut g.outputs[0], vec![Dim::Value(9)]);
        assert!(types_settled(&g));
        let before = g.clone();
        let mut ctx = TransformContext::default();
        assert!(!record_types(&mut g, 13, &mut ctx));
        assert_eq!(g, before);
        assert_eq!(ctx.diagnostics().len(), 2, "{:?}", ctx.diagnostics());
    }
}
