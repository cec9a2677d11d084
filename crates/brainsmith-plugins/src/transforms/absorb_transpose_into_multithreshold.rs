//! [`AbsorbTransposeIntoMultiThreshold`]

use brainsmith_core::ir::{AttributeValue, canonical_domain};
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;

/// The permutation that reads a channels-last 4-D tensor as channels-first.
const TO_NCHW: [i64; 4] = [0, 3, 1, 2];
/// The permutation that reads a channels-first 4-D tensor as channels-last.
const TO_NHWC: [i64; 4] = [0, 2, 3, 1];

/// Moves a channels-last-to-first `Transpose` (`perm = [0, 3, 1, 2]`) from the input of a
/// `MultiThreshold` to its output, and makes the thresholds read the channels last
/// (`data_layout = "NHWC"`): `MultiThreshold(Transpose(x))` becomes
/// `Transpose(MultiThreshold_NHWC(x))`. Thresholding is per element and per channel, so
/// the values are the same, bit for bit.
///
/// After `LowerConvsToMatMul`, every lowered convolution ends in such a transpose; moved
/// past the thresholds, it meets the next layer's channels-last transpose, and
/// `AbsorbConsecutiveTransposes` removes the pair, so the product and its thresholds sit
/// side by side, as kernel mapping fuses them.
///
/// The other way round, a channels-first-to-last `Transpose` (`[0, 2, 3, 1]`) that is the
/// only reader of a channels-first `MultiThreshold` moves to its input:
/// `Transpose(MultiThreshold(x))` becomes `MultiThreshold_NHWC(Transpose(x))`. That takes
/// the transpose a lowered first convolution puts after the input quantizer to the
/// network's input, where it stays in software as FINN leaves it, and the quantizer joins
/// the channels-last dataflow. A moved transpose must have had no other reader.
///
/// ```
/// use brainsmith_plugins::AbsorbTransposeIntoMultiThreshold;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
/// use brainsmith_core::ir::Node;
///
/// let to_nchw = Node::new("Transpose", ["x"], ["t"]).ints("perm", &[0, 3, 1, 2]);
/// let mt = qonnx("MultiThreshold", ["t", "th"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().input("x", &[1, 2, 2, 3]).constant("th", &[3, 1], &[0.0; 3])
///     .node(to_nchw).node(mt).output("y").build();
/// assert!(apply(&AbsorbTransposeIntoMultiThreshold, &mut m));
/// assert_eq!(op_types(&m), ["MultiThreshold", "Transpose"]);
/// assert_eq!(m.graph.nodes[0].attr_str("data_layout"), Some("NHWC"));
/// ```
#[transform(stage = topology_opt, tags = ["transpose", "layout", "streamline"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct AbsorbTransposeIntoMultiThreshold;

impl Transform for AbsorbTransposeIntoMultiThreshold {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let mut rw = Rewriter::new(&mut model.graph);
        for i in 0..rw.graph().nodes.len() {
            let mt = &rw.graph().nodes[i];
            let nchw = mt
                .attr_str("data_layout")
                .is_none_or(|layout| layout == "NCHW");
            if mt.op_type != "MultiThreshold"
                || canonical_domain(&mt.domain) != "qonnx.custom_op.general"
                || !nchw
                || mt.inputs.len() != 2
                || mt.outputs.len() != 1
            {
                continue;
            }
            if move_up(&mut rw, i).is_some() {
                continue;
            }
            let mt = &rw.graph().nodes[i];
            let Some(t) = rw.producer(&mt.inputs[0]) else {
                continue;
            };
            let transpose = &rw.graph().nodes[t];
            if transpose.op_type != "Transpose"
                || !transpose.is_onnx()
                || transpose.inputs.len() != 1
                || transpose.outputs.len() != 1
                || transpose.attr_ints("perm") != Some(&TO_NCHW[..])
                || rw.reads(&transpose.outputs[0]) != 1
                || rw.graph().is_output(&transpose.outputs[0])
            {
                continue;
            }
            let (mt, transpose) = (mt.clone(), transpose.clone());
            let thresholded = rw.fresh(&format!("{}_nhwc", mt.outputs[0]));
            let mut new_mt = mt.clone();
            new_mt.inputs[0].clone_from(&transpose.inputs[0]);
            new_mt.outputs[0].clone_from(&thresholded);
            new_mt.set_attribute("data_layout", AttributeValue::string("NHWC"));
            let mut new_transpose = transpose.clone();
            new_transpose.inputs[0] = thresholded;
            new_transpose.outputs[0].clone_from(&mt.outputs[0]);
            // The datatype the thresholds give now holds before the transpose as well.
            if let Some(dt) = rw.datatype(&mt.outputs[0]) {
                rw.annotate(&new_mt.outputs[0], dt);
            }
            rw.forget_type(&transpose.outputs[0]);
            rw.replace_node(t, Vec::new());
            rw.replace_node(i, vec![new_mt, new_transpose]);
        }
        Ok(rw.finish())
    }
}

/// Moves the channels-last transpose that alone reads the output of `MultiThreshold`
/// `i` to its input; `Some` when it did.
fn move_up(rw: &mut Rewriter<'_>, i: usize) -> Option<()> {
    let mt = &rw.graph().nodes[i];
    let out = &mt.outputs[0];
    if rw.reads(out) != 1 || rw.graph().is_output(out) || rw.rank(&mt.inputs[0]) != Some(4) {
        return None;
    }
    let t = rw
        .graph()
        .nodes
        .iter()
        .position(|n| n.inputs.first() == Some(out))?;
    let transpose = &rw.graph().nodes[t];
    if transpose.op_type != "Transpose"
        || !transpose.is_onnx()
        || transpose.outputs.len() != 1
        || transpose.attr_ints("perm") != Some(&TO_NHWC[..])
    {
        return None;
    }
    let (mt, transpose) = (mt.clone(), transpose.clone());
    let input_nhwc = rw.fresh(&format!("{}_nhwc", mt.inputs[0]));
    let mut new_transpose = transpose.clone();
    new_transpose.inputs[0].clone_from(&mt.inputs[0]);
    new_transpose.outputs[0].clone_from(&input_nhwc);
    let mut new_mt = mt.clone();
    new_mt.inputs[0] = input_nhwc.clone();
    new_mt.outputs[0].clone_from(&transpose.outputs[0]);
    new_mt.set_attribute("data_layout", AttributeValue::string("NHWC"));
    if let Some(dt) = rw.datatype(&mt.inputs[0]) {
        rw.annotate(&input_nhwc, dt);
    }
    if let Some(dt) = rw.datatype(&mt.outputs[0]) {
        rw.annotate(&new_mt.outputs[0], dt);
    }
    rw.forget_type(&mt.outputs[0]);
    rw.replace_node(t, Vec::new());
    rw.replace_node(i, vec![new_transpose, new_mt]);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainsmith_core::ir::{ElemType, Node, Tensor, ValueInfo};

    #[test]
    fn the_transpose_moves_past_the_thresholds_bit_exact() {
        let mut m = Model::default();
        m.set_opset_version("", 13);
        *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 2, 3, 4])];
        *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[1, 4, 2, 3])];
        let t: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 3.0).collect();
        *m.graph.initializers = vec![Tensor::from_f32("t", &[4, 3], &t)];
        *m.graph.nodes = vec![
            Node::new("Transpose", ["x"], ["x_nchw"])
                .with_attribute("perm", AttributeValue::Ints(TO_NCHW.to_vec())),
            Node::new("MultiThreshold", ["x_nchw", "t"], ["y"])
                .with_domain("qonnx.custom_op.general")
                .with_name("act"),
        ];
        let before = m.clone();
        assert!(
            AbsorbTransposeIntoMultiThreshold
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["MultiThreshold", "Transpose"]);
        assert_eq!(m.graph.nodes[0].attr_str("data_layout"), Some("NHWC"));
        let v: Vec<f32> = (0..24).map(|i| (i * 7 % 13) as f32 * 0.5 - 3.0).collect();
        let x = Tensor::from_f32("x", &[1, 2, 3, 4], &v);
        let run = |m: &Model| {
            crate::exec::execute(m, std::slice::from_ref(&x)).unwrap()[0]
                .to_f64()
                .unwrap()
        };
        assert_eq!(run(&before), run(&m));
    }
}
