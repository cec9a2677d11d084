//! [`FoldTransposeIntoQuantInit`]

use brainsmith_core::ir::{AttributeValue, Node};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, rewrite_each};
use crate::eval::{self, Array};

/// Folds a `Transpose` of quantized weights into the weights: when a `Quant` or
/// `BipolarQuant` reads only constants and a `Transpose` is the only reader of its
/// output, the constants are transposed once, the quantizer writes the transposed
/// tensor and the `Transpose` goes. Exporters such as Brevitas emit this pattern for the
/// weights of `MatMul` and `Gemm`.
///
/// A scale or zero point of lower rank than the weight broadcasts against it, so it is
/// transposed as the weight is, as if padded with leading ones (qonnx 1.0 leaves such a
/// tensor as it is, which changes what the quantizer computes). A constant that other
/// nodes also read is copied, not changed.
///
/// ```
/// use brainsmith_plugins::FoldTransposeIntoQuantInit;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
/// use brainsmith_core::ir::Node;
///
/// let quant = qonnx("BipolarQuant", ["w", "s"], ["q"]);
/// let transpose = Node::new("Transpose", ["q"], ["qt"]).ints("perm", &[1, 0]);
/// let mut m = Sketch::new().input("x", &[1, 3]).constant("w", &[2, 3], &[1.0; 6])
///     .constant("s", &[], &[1.0]).node(quant).node(transpose)
///     .op("MatMul", ["x", "qt"], ["y"]).output("y").build();
/// assert!(apply(&FoldTransposeIntoQuantInit, &mut m));
/// assert_eq!(op_types(&m), ["BipolarQuant", "MatMul"]);
/// assert_eq!(m.graph.initializer(&m.graph.nodes[0].inputs[0]).unwrap().dims(), [3, 2]);
/// ```
#[transform(stage = topology_opt, tags = ["quantization", "constants"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct FoldTransposeIntoQuantInit;

/// The quantizers whose constant inputs can be transposed.
const QUANTIZERS: &[&str] = &["Quant", "BipolarQuant"];

impl Transform for FoldTransposeIntoQuantInit {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let opset = model.opset_version("").unwrap_or(1);
        Ok(rewrite_each(
            &mut model.graph,
            ctx,
            |n| n.op_type == "Transpose",
            |rw, t| fold(rw, t, opset),
        ))
    }
}

/// Folds Transpose node `t` into the quantizer before it, when there is one that reads
/// only constants; `Ok` without a change when the pattern is not there at all.
fn fold(rw: &mut Rewriter<'_>, t: usize, opset: i64) -> Result<(), String> {
    let transpose = &rw.graph().nodes[t];
    let input = transpose.inputs.first().cloned().unwrap_or_default();
    let Some(q) = rw.producer(&input) else {
        return Ok(());
    };
    let quant = &rw.graph().nodes[q];
    if quant.is_onnx() || !QUANTIZERS.contains(&quant.op_type.as_str()) {
        return Ok(());
    }
    if !quant.inputs.iter().all(|i| rw.constant(i).is_some()) {
        return Ok(());
    }
    if rw.reads(&input) != 1 || rw.graph().is_output(&input) {
        return Err(format!(
            "the quantized weight `{input}` is also read elsewhere, which needs it untransposed"
        ));
    }
    let weight_rank = rw.constant(&quant.inputs[0]).map_or(0, |w| w.dims().len());
    let perm: Vec<i64> = match transpose.attr_ints("perm") {
        Some(p) => p.to_vec(),
        None => (0..weight_rank as i64).rev().collect(),
    };
    if perm.len() != weight_rank {
        return Err(format!(
            "its perm {perm:?} does not fit the weight's rank {weight_rank}"
        ));
    }
    let mut values = Vec::new();
    for (k, name) in quant.inputs.iter().enumerate() {
        let tensor = rw.constant(name).ok_or_else(|| rw.not_constant(name))?;
        if tensor.dims().is_empty() {
            continue;
        }
        let array = Array::from_tensor(tensor).map_err(|e| format!("`{name}`: {e}"))?;
        values.push((
            k,
            transposed(array, &perm, weight_rank, opset)
                .map_err(|e| format!("cannot transpose `{name}`: {e}"))?,
        ));
    }
    let output = transpose.outputs[0].clone();
    for (k, value) in values {
        let value = value
            .to_tensor("")
            .map_err(|e| format!("cannot store it: {e}"))?;
        rw.replace_constant(q, k, value);
    }
    rw.forget_type(&input);
    rw.node_mut(q).outputs[0] = output;
    rw.replace_node(t, Vec::new());
    Ok(())
}

/// `array`, padded with leading ones to `rank` dimensions, transposed by `perm`.
fn transposed(mut array: Array, perm: &[i64], rank: usize, opset: i64) -> Result<Array, String> {
    if array.dims.len() > rank {
        return Err(format!(
            "its rank {} is above the weight's {rank}",
            array.dims.len()
        ));
    }
    let mut dims = vec![1; rank - array.dims.len()];
    dims.extend(&array.dims);
    array.dims = dims;
    let node = Node::new("Transpose", ["x"], ["y"])
        .with_attribute("perm", AttributeValue::Ints(perm.to_vec()));
    // A transpose makes as many elements as it reads: no limit to apply.
    let run = eval::Run {
        opset,
        max_elements: usize::MAX,
    };
    let mut out = eval::evaluate(&node, &[Some(&array)], &run)?;
    Ok(out.remove(0))
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{ElemType, Tensor, ValueInfo};

    use super::*;

    /// `x[1, 4] @ Transpose(Quant(w[3, 4], scale, 0, 4))`, scale of shape `scale_dims`.
    fn model(scale_dims: &[i64], scale: &[f32]) -> Model {
        let mut m = Model::default();
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1, 4]));
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[1, 3]));
        let w: Vec<f32> = (0..12).map(|v| v as f32 - 6.0).collect();
        *m.graph.initializers = vec![
            Tensor::from_f32("w", &[3, 4], &w),
            Tensor::from_f32("s", scale_dims, scale),
            Tensor::from_f32("z", &[], &[0.0]),
            Tensor::from_f32("b", &[], &[4.0]),
        ];
        let mut quant = Node::new("Quant", ["w", "s", "z", "b"], ["wq"]);
        quant.domain = "qonnx.custom_op.general".into();
        *m.graph.nodes = vec![
            quant,
            Node::new("Transpose", ["wq"], ["wt"])
                .with_attribute("perm", AttributeValue::Ints(vec![1, 0])),
            Node::new("MatMul", ["x", "wt"], ["y"]),
        ];
        m
    }

    fn init<'m>(m: &'m Model, name: &str) -> &'m Tensor {
        m.graph
            .initializers
            .iter()
            .find(|t| t.name() == name)
            .unwrap()
    }

    #[test]
    fn the_weight_and_a_broadcast_scale_are_transposed() {
        // One scale per input column of w: shape [4], broadcast as [1, 4].
        let mut m = model(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let mut ctx = TransformContext::default();
        assert!(FoldTransposeIntoQuantInit.apply(&mut m, &mut ctx).unwrap());
        let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Quant", "MatMul"]);
        assert_eq!(m.graph.nodes[0].outputs, ["wt"]);
        let w = init(&m, "w");
        assert_eq!(w.dims(), [4, 3]);
        // w'[j][i] = w[i][j] = 4i + j - 6.
        assert_eq!(
            w.to_f64().unwrap(),
            [
                -6.0, -2.0, 2.0, -5.0, -1.0, 3.0, -4.0, 0.0, 4.0, -3.0, 1.0, 5.0
            ]
        );
        let s = init(&m, "s");
        assert_eq!(s.dims(), [4, 1]);
        assert_eq!(s.to_f64().unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(init(&m, "z").dims(), [] as [i64; 0]);
        assert!(ctx.diagnostics().is_empty());
    }

    #[test]
    fn a_weight_read_elsewhere_stays_and_says_why() {
        let mut m = model(&[], &[0.5]);
        m.graph.nodes.push(Node::new("Relu", ["wq"], ["r"]));
        let mut ctx = TransformContext::default();
        assert!(!FoldTransposeIntoQuantInit.apply(&mut m, &mut ctx).unwrap());
        assert_eq!(m.graph.nodes.len(), 4);
        assert!(
            ctx.diagnostics()[0].message.contains("also read elsewhere"),
            "{:?}",
            ctx.diagnostics()
        );
    }

    #[test]
    fn a_shared_weight_is_copied() {
        let mut m = model(&[], &[0.5]);
        m.graph.nodes.push(Node::new("Relu", ["w"], ["r"]));
        FoldTransposeIntoQuantInit
            .apply(&mut m, &mut TransformContext::default())
            .unwrap();
        assert_eq!(init(&m, "w").dims(), [3, 4]);
        let copy = &m.graph.nodes[0].inputs[0];
        assert_ne!(copy, "w");
        assert_eq!(init(&m, copy).dims(), [4, 3]);
    }
}
