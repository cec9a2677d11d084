//! [`FoldConstants`]

use std::collections::{HashMap, HashSet};

use brainsmith_core::ir::{AttributeValue, Dim, ElemType, Node};
use brainsmith_core::prelude::*;

use crate::eval::{self, Array};
use crate::shapes;
use crate::transforms::infer_shapes::record_types;

/// Replaces every node whose inputs are all constant by initializers holding its
/// outputs, in one pass in dependency order, so a chain of constant nodes folds at once;
/// then records the tensor types folding made known, as `InferShapes` does.
///
/// Constant inputs are initializers and the outputs of nodes folded before. A `Shape`
/// node folds too when its input's shape is fully static. Quantizers (`Quant`,
/// `BipolarQuant`, `FloatQuant`, `Trunc`) are kept even on constant weights: their
/// formats are what hardware mapping reads. A node with constant
/// inputs that cannot be evaluated (an op type without a kernel, or an evaluation error)
/// gets a diagnostic naming it, and stays.
#[transform(stage = cleanup, tags = ["simplify", "constants"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct FoldConstants;

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
        let graph = &mut model.graph;
        // Types are inferred node by node as folding goes, so that a Shape node sees the
        // dimensions that folding before it made static.
        let order = shapes::topological_order(graph);
        let mut engine = shapes::Engine::new(graph, opset);
        let initializers: HashMap<&str, usize> = graph
            .initializers
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name(), i))
            .collect();
        let mut values: HashMap<String, Array> = HashMap::new();
        let mut unreadable: HashSet<String> = HashSet::new();
        let mut folded = vec![false; graph.nodes.len()];

        for &index in &order {
            let node = &graph.nodes[index];
            // A node that cannot be inferred is InferShapes' to report.
            let _ = engine.infer_node(index);
            if KEEP.contains(&node.op_type.as_str()) || has_subgraph(node) {
                continue;
            }
            let is_static_shape = node.op_type == "Shape"
                && node.is_onnx()
                && node.inputs.first().is_some_and(|i| {
                    engine.types.get(i).is_some_and(|t| {
                        t.shape
                            .as_ref()
                            .is_some_and(|s| s.iter().all(|d| matches!(d, Dim::Value(_))))
                    })
                });
            let all_constant = node.inputs.iter().all(|i| {
                i.is_empty() || values.contains_key(i) || initializers.contains_key(i.as_str())
            });
            if !(all_constant || is_static_shape) {
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
                            node.name, node.op_type
                        ),
                    );
                }
                continue;
            }
            let result = if is_static_shape {
                shape_of(node, &engine.types[&node.inputs[0]])
            } else {
                // Read the initializers this node needs, once each.
                let mut failed = None;
                for input in &node.inputs {
                    if input.is_empty() || values.contains_key(input) || unreadable.contains(input)
                    {
                        continue;
                    }
                    let tensor = &graph.initializers[initializers[input.as_str()]];
                    match Array::from_tensor(tensor) {
                        Ok(a) => {
                            values.insert(input.clone(), a);
                        }
                        Err(e) => {
                            unreadable.insert(input.clone());
                            failed = Some(format!("initializer `{input}`: {e}"));
                        }
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => {
                        let inputs: Vec<Option<&Array>> = node
                            .inputs
                            .iter()
                            .map(|i| if i.is_empty() { None } else { values.get(i) })
                            .collect();
                        if inputs
                            .iter()
                            .zip(&node.inputs)
                            .any(|(a, n)| a.is_none() && !n.is_empty())
                        {
                            Err("an input could not be read".to_owned())
                        } else {
                            eval::evaluate(node, &inputs, opset)
                        }
                    }
                }
            };
            match result {
                Ok(outputs) => {
                    for (name, array) in node.outputs.iter().zip(outputs) {
                        if !name.is_empty() {
                            // Shape rules read shapes, axes and sizes: small tensors. Weights
                            // are converted once, at the end, and only if still read.
                            if array.len() <= LEARN_LIMIT
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
                    format!("cannot fold node `{}` ({}): {e}", node.name, node.op_type),
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
        graph.nodes = kept;
        let read: HashSet<&str> = graph
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .chain(graph.outputs.iter().map(|o| o.name.as_str()))
            .collect();
        let mut new = Vec::new();
        for name in produced {
            if !read.contains(name.as_str()) {
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
        // recorded types, as after InferShapes; problems are InferShapes' to report.
        record_types(graph, opset, &mut TransformContext::default());
        Ok(true)
    }
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
