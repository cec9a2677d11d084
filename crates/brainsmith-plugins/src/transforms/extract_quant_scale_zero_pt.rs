//! [`ExtractQuantScaleZeroPt`]

use brainsmith_core::ir::{Node, Tensor};
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;

/// Moves a `Quant` node's scale and zero point out of it: `Quant(x, s, z, b)` becomes
/// `Mul(Sub(Quant(Add(Div(x, s), z), 1, 0, b), z), s)`, which computes the same, so that
/// the quantizer left is a plain integer quantizer (`MultiThreshold` in FINN) and the
/// affine parts can move through the graph as ordinary arithmetic.
///
/// Only the parts that are not already identities are extracted: a scale of all ones
/// adds no `Div`/`Mul`, a zero point of all zeros no `Add`/`Sub`. The scale and zero
/// point must be constants (initializers or `Constant` nodes); a `Quant` with either
/// computed at run time, or a graph input with a default value (run
/// `RemoveStaticGraphInputs` first), stays as it is, with a diagnostic.
///
/// ```
/// use brainsmith_plugins::ExtractQuantScaleZeroPt;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
///
/// // Scale 0.25, zero point 0: a Div before the quantizer and a Mul after it.
/// let quant = qonnx("Quant", ["x", "scale", "zero", "bits"], ["y"])
///     .int("signed", 1).int("narrow", 0).text("rounding_mode", "ROUND");
/// let mut m = Sketch::new().input("x", &[4]).constant("scale", &[], &[0.25])
///     .constant("zero", &[], &[0.0]).constant("bits", &[], &[4.0]).node(quant);
/// let mut m = m.output("y").build();
/// assert!(apply(&ExtractQuantScaleZeroPt, &mut m));
/// assert_eq!(op_types(&m), ["Div", "Quant", "Mul"]);
/// ```
#[transform(stage = topology_opt, tags = ["quantization", "lowering"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct ExtractQuantScaleZeroPt;

impl Transform for ExtractQuantScaleZeroPt {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut rw = Rewriter::new(&mut model.graph);
        for i in 0..rw.graph().nodes.len() {
            let node = &rw.graph().nodes[i];
            if node.op_type != "Quant" || node.is_onnx() || node.inputs.len() != 4 {
                continue;
            }
            let is = |name: &str, value: f64, rw: &Rewriter<'_>| {
                rw.constant(name)
                    .and_then(|t| t.to_f64().ok())
                    .map(|v| v.iter().all(|&x| x == value))
            };
            let (scale, zero) = (node.inputs[1].clone(), node.inputs[2].clone());
            let (extract_scale, extract_zero) = match (is(&scale, 1.0, &rw), is(&zero, 0.0, &rw)) {
                (Some(s), Some(z)) => (!s, !z),
                (s, _) => {
                    let name = if s.is_none() { &scale } else { &zero };
                    ctx.warn(
                        node.name.clone(),
                        format!("Quant left as it is: {}", rw.not_constant(name)),
                    );
                    continue;
                }
            };
            if extract_scale || extract_zero {
                extract(&mut rw, i, extract_scale, extract_zero);
            }
        }
        Ok(rw.finish())
    }
}

/// Replaces Quant node `q` by the chain, with the parts asked for.
fn extract(rw: &mut Rewriter<'_>, q: usize, scale: bool, zero: bool) {
    let mut quant = rw.graph().nodes[q].clone();
    let (x, s, z) = (
        quant.inputs[0].clone(),
        quant.inputs[1].clone(),
        quant.inputs[2].clone(),
    );
    let base = if quant.name.is_empty() {
        quant.outputs[0].clone()
    } else {
        quant.name.clone()
    };
    let output = quant.outputs[0].clone();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut input = x;
    if scale {
        let scaled = rw.fresh(&format!("{base}_scaled"));
        before.push(step(rw, &base, "Div", [input, s.clone()], &scaled));
        input = scaled;
        quant.inputs[1] = rw.add_constant(&format!("{base}_unit_scale"), scalar(1.0));
    }
    if zero {
        let shifted = rw.fresh(&format!("{base}_shifted"));
        before.push(step(rw, &base, "Add", [input, z.clone()], &shifted));
        input = shifted;
        quant.inputs[2] = rw.add_constant(&format!("{base}_zero_point"), scalar(0.0));
    }
    quant.inputs[0] = input;
    // Outputs, from the last node back: the last one writes the Quant's output.
    let mut next = output;
    if scale {
        let unscaled = rw.fresh(&format!("{base}_unscaled"));
        after.push(step(rw, &base, "Mul", [unscaled.clone(), s], &next));
        next = unscaled;
    }
    if zero {
        let unshifted = rw.fresh(&format!("{base}_unshifted"));
        after.push(step(rw, &base, "Sub", [unshifted.clone(), z], &next));
        next = unshifted;
    }
    quant.outputs[0] = next;
    let mut nodes = before;
    nodes.push(quant);
    nodes.extend(after.into_iter().rev());
    rw.replace_node(q, nodes);
}

/// A standard node `op(inputs) -> output` named after `base`.
fn step(rw: &mut Rewriter<'_>, base: &str, op: &str, inputs: [String; 2], output: &str) -> Node {
    let name = rw.fresh(&format!("{base}_{}", op.to_lowercase()));
    Node::new(op, inputs, [output]).with_name(name)
}

/// A float32 scalar.
fn scalar(value: f32) -> Tensor {
    Tensor::from_f32("", &[], &[value])
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{AttributeValue, ElemType, ValueInfo};

    use super::*;

    fn model(scale: &[f32], zero: f32) -> Model {
        let mut m = Model::default();
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1, 2]));
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[1, 2]));
        *m.graph.initializers = vec![
            Tensor::from_f32("s", &[scale.len() as i64], scale),
            Tensor::from_f32("z", &[], &[zero]),
            Tensor::from_f32("b", &[], &[4.0]),
        ];
        let mut quant = Node::new("Quant", ["x", "s", "z", "b"], ["y"])
            .with_name("q")
            .with_attribute("signed", AttributeValue::Int(1));
        quant.domain = "qonnx.custom_op.general".into();
        *m.graph.nodes = vec![quant];
        m
    }

    fn chain(m: &Model) -> Vec<(String, Vec<String>, Vec<String>)> {
        m.graph
            .nodes
            .iter()
            .map(|n| (n.op_type.clone(), n.inputs.clone(), n.outputs.clone()))
            .collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scale_and_zero_point_move_around_the_quantizer() {
        let mut m = model(&[0.5, 0.25], 1.0);
        assert!(
            ExtractQuantScaleZeroPt
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        assert_eq!(
            chain(&m),
            [
                ("Div".into(), strings(&["x", "s"]), strings(&["q_scaled"])),
                (
                    "Add".into(),
                    strings(&["q_scaled", "z"]),
                    strings(&["q_shifted"])
                ),
                (
                    "Quant".into(),
                    strings(&["q_shifted", "q_unit_scale", "q_zero_point", "b"]),
                    strings(&["q_unshifted"])
                ),
                (
                    "Sub".into(),
                    strings(&["q_unshifted", "z"]),
                    strings(&["q_unscaled"])
                ),
                ("Mul".into(), strings(&["q_unscaled", "s"]), strings(&["y"])),
            ]
        );
        assert_eq!(m.graph.nodes[2].attr_int("signed"), Some(1));
        let unit = m
            .graph
            .initializers
            .iter()
            .find(|t| t.name() == "q_unit_scale");
        assert_eq!(unit.unwrap().to_f64().unwrap(), [1.0]);
    }

    #[test]
    fn identity_parts_stay_inside() {
        let mut m = model(&[1.0, 1.0], 0.0);
        let mut ctx = TransformContext::default();
        assert!(!ExtractQuantScaleZeroPt.apply(&mut m, &mut ctx).unwrap());
        let mut m = model(&[2.0, 2.0], 0.0);
        assert!(ExtractQuantScaleZeroPt.apply(&mut m, &mut ctx).unwrap());
        assert!(ctx.diagnostics().is_empty());
        let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Div", "Quant", "Mul"]);
        assert_eq!(m.graph.nodes[1].inputs[2], "z");
        assert!(!ExtractQuantScaleZeroPt.apply(&mut m, &mut ctx).unwrap());
    }

    #[test]
    fn a_scale_that_is_a_graph_input_is_named() {
        let mut m = model(&[2.0, 2.0], 0.0);
        m.graph
            .inputs
            .push(ValueInfo::tensor("s", ElemType::Float, &[2]));
        let mut ctx = TransformContext::default();
        assert!(!ExtractQuantScaleZeroPt.apply(&mut m, &mut ctx).unwrap());
        let message = &ctx.diagnostics()[0].message;
        assert!(
            message.contains("Quant left as it is: 's' is a graph input")
                && message.contains("RemoveStaticGraphInputs"),
            "{message}"
        );
    }
}
