//! [`MoveFlattenPastKernels`]

use brainsmith_core::ir::{AttributeValue, Node, Tensor, ValueInfo};
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;
use crate::kernels::FINN_DOMAIN;

/// Takes the flatten between a convolutional network's last convolution and its first
/// fully connected layer out of the accelerator: a `Reshape` that only regroups the
/// leading axes (`[1, 1, 1, 256]` to `[1, 256]`: the same vectors in the same order)
/// moves down past every kernel that works vector by vector along the last axis (MVAU,
/// Thresholding, ChannelwiseOp, LabelSelect, each told its new `numInputVectors`) and past scalar
/// `Mul`/`Add`/`Sub`/`Div`, until the graph output or a node it cannot pass. A
/// `Transpose` before it that moves only axes of length 1 (channels-last to first on a
/// 1x1 image) is no move at all in memory, and becomes part of the `Reshape`.
///
/// A stream carries the same values in the same order whatever the leading axes say, so
/// what FINN does by deleting the flatten between two hardware nodes, ours does by
/// moving it to the host side of the output, where the model keeps its declared output
/// shape. Every value is unchanged, bit for bit.
///
/// ```
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
/// use brainsmith_plugins::{InferThresholding, MoveFlattenPastKernels};
///
/// // A flatten of a 1x1 image, then thresholds: the flatten moves to the output.
/// let mt = qonnx("MultiThreshold", ["f", "th"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().int_input("x", &[1, 1, 1, 4], "UINT4").ints("shape", &[2], &[1, 4])
///     .constant("th", &[4, 1], &[3.0; 4]).op("Reshape", ["x", "shape"], ["f"]).node(mt)
///     .output("y").build();
/// assert!(apply(&InferThresholding, &mut m));
/// assert!(apply(&MoveFlattenPastKernels, &mut m));
/// assert_eq!(op_types(&m), ["Thresholding", "Reshape"]);
/// ```
#[transform(stage = dataflow_opt, tags = ["finn", "layout", "reshape"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct MoveFlattenPastKernels;

impl Transform for MoveFlattenPastKernels {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let mut changed = false;
        // Each pass moves each flatten one node down; a chain takes a pass per node.
        for _ in 0..=model.graph.nodes.len() {
            if !pass(model) {
                break;
            }
            changed = true;
        }
        Ok(changed)
    }
}

/// Whether `perm` on `shape` keeps every axis longer than 1 in its order: a reshape.
fn moves_only_unit_axes(perm: &[i64], shape: &[i64]) -> bool {
    perm.len() == shape.len()
        && perm
            .iter()
            .filter_map(|&p| {
                usize::try_from(p)
                    .ok()
                    .and_then(|p| shape.get(p))
                    .map(|&d| (p, d))
            })
            .filter(|&(_, d)| d != 1)
            .map(|(p, _)| p)
            .is_sorted()
}

/// Whether the static `from` and `to` only regroup leading axes: the same last axis and
/// the same number of values.
fn regroups_leading_axes(from: &[i64], to: &[i64]) -> bool {
    !from.is_empty()
        && from.last() == to.last()
        && count(from).is_some()
        && count(from) == count(to)
}

/// The number of values of a static shape; `None` when a dimension is negative or the
/// product overflows (a declared size no tensor can have).
fn count(shape: &[i64]) -> Option<i64> {
    shape
        .iter()
        .try_fold(1i64, |n, &d| if d < 0 { None } else { n.checked_mul(d) })
}

/// A kernel that maps each vector along its input's last axis on its own.
fn vector_kernel(node: &Node) -> bool {
    let base = node
        .op_type
        .strip_suffix("_hls")
        .or_else(|| node.op_type.strip_suffix("_rtl"))
        .unwrap_or(&node.op_type);
    node.domain.starts_with(FINN_DOMAIN)
        && matches!(
            base,
            "MVAU" | "Thresholding" | "LabelSelect" | "ChannelwiseOp"
        )
}

/// Whether `node` can read the flatten's input in place of its output `y`.
fn passes(rw: &Rewriter<'_>, node: &Node, y: &str) -> bool {
    if node.outputs.len() != 1 {
        return false;
    }
    if vector_kernel(node) {
        return node.inputs.first().is_some_and(|i| i == y)
            && !node.inputs[1..].iter().any(|i| i == y);
    }
    let scalar = |name: &str| {
        rw.constant(name)
            .is_some_and(|t| t.dims().iter().product::<i64>() == 1)
    };
    node.is_onnx()
        && matches!(node.op_type.as_str(), "Mul" | "Add" | "Sub" | "Div")
        && node.inputs.len() == 2
        && ((node.inputs[0] == y && scalar(&node.inputs[1]))
            || (node.inputs[1] == y && scalar(&node.inputs[0])))
}

fn pass(model: &mut Model) -> bool {
    let mut rw = Rewriter::new(&mut model.graph);
    let mut taken = vec![false; rw.graph().nodes.len()];
    let mut readers: Vec<Vec<usize>> = Vec::new();
    {
        let graph = rw.graph();
        let mut index: rustc_hash::FxHashMap<&str, Vec<usize>> = Default::default();
        for (i, n) in graph.nodes.iter().enumerate() {
            for input in &n.inputs {
                index.entry(input.as_str()).or_default().push(i);
            }
        }
        for n in graph.nodes.iter() {
            readers.push(
                index
                    .get(n.outputs.first().map_or("", String::as_str))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    for i in 0..rw.graph().nodes.len() {
        let reshape = &rw.graph().nodes[i];
        if reshape.op_type != "Reshape"
            || !reshape.is_onnx()
            || reshape.inputs.len() != 2
            || reshape.outputs.len() != 1
            || taken[i]
        {
            continue;
        }
        let (x, y) = (reshape.inputs[0].clone(), reshape.outputs[0].clone());
        // A transpose of unit axes before it is part of the flatten.
        if let Some(t) = rw.producer(&x)
            && !taken[t]
            && let transpose = &rw.graph().nodes[t]
            && transpose.op_type == "Transpose"
            && transpose.is_onnx()
            && transpose.inputs.len() == 1
            && let Some(perm) = transpose.attr_ints("perm")
            && let Some(shape) = rw.shape(&transpose.inputs[0])
            && moves_only_unit_axes(perm, &shape)
            && rw.reads(&x) == 1
            && !rw.graph().is_output(&x)
        {
            let mut merged = rw.graph().nodes[i].clone();
            merged.inputs[0].clone_from(&transpose.inputs[0]);
            rw.forget_type(&x);
            rw.replace_node(t, Vec::new());
            rw.replace_node(i, vec![merged]);
            taken[t] = true;
            taken[i] = true;
            continue;
        }
        let (Some(from), Some(to)) = (rw.shape(&x), rw.shape(&y)) else {
            continue;
        };
        if !regroups_leading_axes(&from, &to)
            || rw.reads(&y) != 1
            || rw.graph().is_output(&y)
            || readers[i].len() != 1
        {
            continue;
        }
        let c = readers[i][0];
        let consumer = &rw.graph().nodes[c];
        if taken[c] || !passes(&rw, consumer, &y) {
            continue;
        }
        let z = consumer.outputs[0].clone();
        let Some(z_shape) = rw.shape(&z) else {
            continue;
        };
        let Some(vectors) = from.split_last().map(|(_, lead)| lead.to_vec()) else {
            continue;
        };
        let (reshape, consumer) = (rw.graph().nodes[i].clone(), consumer.clone());
        let moved = rw.fresh(&format!("{z}_vectors"));
        let mut new_consumer = consumer.clone();
        for input in new_consumer.inputs.iter_mut().filter(|n| **n == y) {
            input.clone_from(&x);
        }
        new_consumer.outputs[0].clone_from(&moved);
        if vector_kernel(&consumer) {
            new_consumer.set_attribute("numInputVectors", AttributeValue::Ints(vectors.clone()));
        }
        let shape = rw.add_constant(
            &format!("{z}_shape"),
            Tensor::from_i64("", &[z_shape.len() as i64], &z_shape),
        );
        let mut new_reshape = reshape.clone();
        new_reshape.inputs = vec![moved.clone(), shape];
        new_reshape.outputs[0].clone_from(&z);
        if let Some(dt) = rw.datatype(&z) {
            rw.annotate(&moved, dt);
        }
        // The next pass moves the flatten further and needs this tensor's shape.
        if let Some(elem) = rw.elem_type(&z) {
            let mut shape = vectors.clone();
            shape.extend(z_shape.last());
            rw.record_type(ValueInfo::tensor(moved.as_str(), elem, &shape));
        }
        rw.forget_type(&y);
        rw.replace_node(i, Vec::new());
        rw.replace_node(c, vec![new_consumer, new_reshape]);
        taken[i] = true;
        taken[c] = true;
    }
    rw.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_axis_transposes_and_leading_regroupings_are_recognised() {
        assert!(moves_only_unit_axes(&[0, 3, 1, 2], &[1, 1, 1, 256]));
        assert!(!moves_only_unit_axes(&[0, 3, 1, 2], &[1, 2, 2, 256]));
        assert!(moves_only_unit_axes(&[0, 2, 3, 1], &[1, 256, 1, 1]));
        assert!(regroups_leading_axes(&[1, 1, 1, 256], &[1, 256]));
        assert!(!regroups_leading_axes(&[1, 2, 2, 64], &[1, 256]));
    }
}
