//! [`ExpandNorms`]

use brainsmith_core::ir::{ElemType, Node};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, rewrite_each};
use crate::eval::Array;

/// Splits every `LayerNormalization` into its normalization (a `LayerNormalization` with
/// unit scale and no bias) followed by an affine `Mul` by the scale and `Add` of the bias,
/// so that the normalization and the elementwise affine map to separate kernels.
///
/// A norm whose scale is already all ones and that has no bias (or an all-zero one) is
/// left as it is, so running the transform twice changes nothing the second time. The
/// `Mean` and `InvStdDev` outputs, which do not depend on scale or bias, stay on the
/// normalization. A norm whose scale has an unknown shape (or one of more than 2^27
/// values) stays, with a diagnostic.
///
/// ```
/// use brainsmith_plugins::ExpandNorms;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types, values};
///
/// let mut m = Sketch::new().input("x", &[1, 2]).constant("gamma", &[2], &[2.0, 3.0])
///     .constant("beta", &[2], &[0.5, 0.0])
///     .op("LayerNormalization", ["x", "gamma", "beta"], ["y"]).output("y").build();
/// assert!(apply(&ExpandNorms, &mut m));
/// assert_eq!(op_types(&m), ["LayerNormalization", "Mul", "Add"]);
/// assert_eq!(values(&m, &m.graph.nodes[0].inputs[1]), [1.0, 1.0]);
/// ```
#[transform(stage = topology_opt, tags = ["layernorm", "normalization", "lowering"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct ExpandNorms;

impl Transform for ExpandNorms {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(rewrite_each(
            &mut model.graph,
            ctx,
            |n| n.op_type == "LayerNormalization",
            expand,
        ))
    }
}

/// The most values the unit scale written for one norm may hold: far beyond any real
/// norm's, and far below what would exhaust memory for a declared shape of absurd size.
const MAX_ONES: usize = 1 << 27;

/// Whether `name` is a constant whose every element is `value`.
fn all(rewriter: &Rewriter<'_>, name: &str, value: f64) -> bool {
    rewriter
        .constant(name)
        .and_then(|t| t.to_f64().ok())
        .is_some_and(|v| v.iter().all(|&x| x == value))
}

fn expand(rewriter: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let node = rewriter.graph().nodes[i].clone();
    let (x, scale) = match node.inputs.as_slice() {
        [x, scale] | [x, scale, _] => (x.clone(), scale.clone()),
        other => return Err(format!("it has {} inputs, expected 2 or 3", other.len())),
    };
    let bias = node.inputs.get(2).filter(|b| !b.is_empty()).cloned();
    if all(rewriter, &scale, 1.0) && bias.as_deref().is_none_or(|b| all(rewriter, b, 0.0)) {
        return Ok(());
    }
    let dims: Vec<usize> = rewriter
        .shape(&scale)
        .ok_or_else(|| format!("the shape of scale '{scale}' is unknown; run InferShapes first"))?
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    let elem = rewriter
        .constant(&scale)
        .map(|t| t.elem_type())
        .or_else(|| {
            let info = rewriter.graph().value_info_of(&x)?;
            ElemType::try_from(info.tensor_type()?.elem_type).ok()
        })
        .unwrap_or(ElemType::Float);
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ONES)
        .ok_or_else(|| {
            format!(
                "the scale '{scale}' has shape {dims:?}, too large for a tensor of ones to \
                 match it (at most {MAX_ONES} values)"
            )
        })?;
    let ones = Array::floats(elem, dims, vec![1.0; count])
        .to_tensor("")
        .map_err(|e| format!("scale: {e}"))?;

    let y = node.outputs[0].clone();
    let ones = rewriter.add_constant(&format!("{scale}_ones"), ones);
    let normalized = rewriter.fresh(&format!("{y}_normalized"));
    let mut norm = node.clone();
    norm.inputs = vec![x, ones];
    // `Mean` and `InvStdDev`, if used, depend on `X` only: the normalization keeps them.
    norm.outputs[0].clone_from(&normalized);
    let scaled = if bias.is_some() {
        rewriter.fresh(&format!("{y}_scaled"))
    } else {
        y.clone()
    };
    let mut nodes = vec![norm];
    nodes.push(rewriter.named_after(
        &node,
        "scale",
        Node::new("Mul", [normalized, scale], [scaled.clone()]),
    ));
    if let Some(bias) = bias {
        nodes.push(rewriter.named_after(&node, "bias", Node::new("Add", [scaled, bias], [y])));
    }
    rewriter.replace_node(i, nodes);
    Ok(())
}
