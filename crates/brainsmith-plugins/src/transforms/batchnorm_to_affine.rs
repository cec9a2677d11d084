//! [`BatchNormToAffine`]

use brainsmith_core::ir::{Node, Tensor};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, rewrite_each};
use crate::eval::Array;

/// Replaces every inference-mode `BatchNormalization` with constant parameters by
/// `x * a + b`: a `Mul` and an `Add` with per-channel constants of shape `[1, C, 1, ...]`,
/// where `a = scale / sqrt(var + epsilon)` and `b = bias - a * mean`.
///
/// A `BatchNormalization` between an `Unsqueeze` and a `Squeeze` of the same trailing
/// axes (how a 1-d batch norm over `[N, C]` is exported) is replaced together with both,
/// when nothing else reads the tensors between them. A node in training mode, with
/// non-constant parameters or an input of unknown rank (run `InferShapes` first) is left
/// as it is, with a diagnostic.
///
/// ```
/// use brainsmith_plugins::BatchNormToAffine;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types, values};
///
/// // scale 2, bias 1, mean 3, variance 4 (epsilon 0): x * 1 + (-2).
/// let p = ["scale", "bias", "mean", "var"];
/// let mut m = Sketch::new().input("x", &[1, 1, 2, 2]);
/// for (name, v) in p.iter().zip([2.0, 1.0, 3.0, 4.0]) {
///     m = m.constant(name, &[1], &[v]);
/// }
/// let bn = brainsmith_core::ir::Node::new("BatchNormalization", ["x", p[0], p[1], p[2], p[3]], ["y"])
///     .with_attribute("epsilon", brainsmith_core::ir::AttributeValue::Float(0.0));
/// let mut m = m.node(bn).output("y").build();
/// assert!(apply(&BatchNormToAffine, &mut m));
/// assert_eq!(op_types(&m), ["Mul", "Add"]);
/// assert_eq!(values(&m, &m.graph.nodes[1].inputs[1]), [-2.0]);
/// ```
#[transform(stage = topology_opt, tags = ["batchnorm", "lowering", "affine"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct BatchNormToAffine;

impl Transform for BatchNormToAffine {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let opset = model.opset_version("").unwrap_or(1);
        Ok(rewrite_each(
            &mut model.graph,
            ctx,
            |n| n.op_type == "BatchNormalization",
            |rewriter, i| {
                let plan = plan(rewriter, i, opset)?;
                apply(rewriter, i, plan);
                Ok(())
            },
        ))
    }
}

/// What replaces one batch norm.
struct Plan {
    /// The tensor the `Mul` reads and the one the `Add` writes.
    input: String,
    output: String,
    /// The nodes removed with it (`Unsqueeze` before, `Squeeze` after).
    removed: Vec<usize>,
    a: Tensor,
    b: Tensor,
}

fn plan(rewriter: &Rewriter<'_>, i: usize, opset: i64) -> Result<Plan, String> {
    let node = &rewriter.graph().nodes[i];
    if node.attr_int("training_mode").unwrap_or(0) != 0 {
        return Err("it is in training mode".into());
    }
    if node.attr_int("spatial").unwrap_or(1) == 0 {
        return Err("spatial = 0 (per-element statistics) is not supported".into());
    }
    if node.inputs.len() != 5 {
        return Err(format!("it has {} inputs, expected 5", node.inputs.len()));
    }
    if let Some(extra) = node.outputs[1..]
        .iter()
        .find(|o| !o.is_empty() && rewriter.reads(o) > 0)
    {
        return Err(format!("its statistics output '{extra}' is read"));
    }
    let constant = |k: usize| -> Result<Vec<f64>, String> {
        let name = &node.inputs[k];
        let t = rewriter
            .constant(name)
            .ok_or_else(|| format!("parameter {}", rewriter.not_constant(name)))?;
        Ok(Array::from_tensor(t)?.as_f64())
    };
    let (scale, bias, mean, var) = (constant(1)?, constant(2)?, constant(3)?, constant(4)?);
    let channels = scale.len();
    if [bias.len(), mean.len(), var.len()] != [channels; 3] {
        return Err("its parameters differ in length".into());
    }
    let epsilon = f64::from(node.attr_float("epsilon").unwrap_or(1e-5));
    let a: Vec<f64> = scale
        .iter()
        .zip(&var)
        .map(|(s, v)| s / (v + epsilon).sqrt())
        .collect();
    let b: Vec<f64> = bias
        .iter()
        .zip(&mean)
        .zip(&a)
        .map(|((b, m), a)| b - a * m)
        .collect();

    let (mut input, mut output) = (node.inputs[0].clone(), node.outputs[0].clone());
    let mut rank = rewriter
        .rank(&input)
        .or_else(|| rewriter.rank(&output))
        .ok_or_else(|| format!("the rank of '{input}' is unknown; run InferShapes first"))?;
    let mut removed = Vec::new();
    if let Some((unsqueeze, squeeze, axes)) = squeeze_pair(rewriter, node, rank, opset) {
        input = rewriter.graph().nodes[unsqueeze].inputs[0].clone();
        output = rewriter.graph().nodes[squeeze].outputs[0].clone();
        rank -= axes;
        removed = vec![unsqueeze, squeeze];
    }
    if rank < 2 {
        return Err(format!("'{input}' has rank {rank}, expected at least 2"));
    }
    let mut dims = vec![1usize; rank];
    dims[1] = channels;
    let elem = rewriter
        .constant(&node.inputs[1])
        .map(Tensor::elem_type)
        .expect("checked above");
    let store = |values: Vec<f64>| Array::floats(elem, dims.clone(), values).to_tensor("");
    Ok(Plan {
        input,
        output,
        removed,
        a: store(a)?,
        b: store(b)?,
    })
}

/// The `Unsqueeze` producing the batch norm's input and the `Squeeze` reading its output,
/// when they add and remove the same axes (all after the channel axis) and nothing else
/// reads the tensors between them; with the number of axes.
fn squeeze_pair(
    rewriter: &Rewriter<'_>,
    node: &Node,
    rank: usize,
    opset: i64,
) -> Option<(usize, usize, usize)> {
    let (x, y) = (&node.inputs[0], &node.outputs[0]);
    let unsqueeze = rewriter.producer(x)?;
    let graph = rewriter.graph();
    let before = &graph.nodes[unsqueeze];
    if before.op_type != "Unsqueeze" || !before.is_onnx() || rewriter.reads(x) != 1 {
        return None;
    }
    if graph.is_output(x) || graph.is_output(y) || rewriter.reads(y) != 1 {
        return None;
    }
    let squeeze = graph
        .nodes
        .iter()
        .position(|n| n.inputs.first() == Some(y))?;
    let after = &graph.nodes[squeeze];
    if after.op_type != "Squeeze" || !after.is_onnx() {
        return None;
    }
    let axes = |n: &Node| -> Option<Vec<usize>> {
        let raw: Vec<i64> = if opset >= 13 {
            let t = rewriter.constant(n.inputs.get(1)?)?;
            t.to_i64().ok()?
        } else {
            n.attr_ints("axes")?.to_vec()
        };
        let mut axes: Vec<usize> = raw
            .iter()
            .map(|&a| usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok())
            .collect::<Option<_>>()?;
        axes.sort_unstable();
        Some(axes)
    };
    let (added, dropped) = (axes(before)?, axes(after)?);
    (added == dropped && !added.is_empty() && added.iter().all(|&a| a >= 2 && a < rank))
        .then_some((unsqueeze, squeeze, added.len()))
}

fn apply(rewriter: &mut Rewriter<'_>, i: usize, plan: Plan) {
    let base = plan.output.clone();
    let a = rewriter.add_constant(&format!("{base}_scale"), plan.a);
    let b = rewriter.add_constant(&format!("{base}_shift"), plan.b);
    let scaled = rewriter.fresh(&format!("{base}_scaled"));
    let name = rewriter.graph().nodes[i].name.clone();
    let names = if name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            rewriter.fresh(&format!("{name}_mul")),
            rewriter.fresh(&format!("{name}_add")),
        )
    };
    let mul = Node::new("Mul", [plan.input, a], [scaled.clone()]).with_name(names.0);
    let add = Node::new("Add", [scaled, b], [plan.output]).with_name(names.1);
    for removed in plan.removed {
        rewriter.replace_node(removed, Vec::new());
    }
    rewriter.replace_node(i, vec![mul, add]);
}
