//! [`FoldQuantWeights`]

use brainsmith_core::ir::{QuantType, canonical_domain};
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;
use crate::eval::{self, Array};

/// Folds every quantizer of constants (a `Quant` or `BipolarQuant` whose inputs are all
/// constant: a layer's weights) into the constant it computes, annotated with its QONNX
/// datatype (`BIPOLAR`, `INT2`, ...), so that kernel mapping sees integer weights of a
/// known type, as FINN's weight folding does. `FoldConstants` leaves quantizers alone
/// (as qonnx's does) for this.
///
/// The values must be the integers of the type: a scale of 1 and a zero point of 0. A
/// quantizer with another scale stays, with a diagnostic; moving the scale past the layer
/// is the streamlining's business.
///
/// ```
/// use brainsmith_plugins::FoldQuantWeights;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
///
/// // 4-bit signed weights, scale 1: the quantizer folds into INT4 constants.
/// let quant = qonnx("Quant", ["w", "one", "zero", "four"], ["qw"])
///     .int("signed", 1).int("narrow", 0).text("rounding_mode", "ROUND");
/// let mut m = Sketch::new().input("x", &[1, 2]).constant("w", &[2, 2], &[1.0, -3.0, 7.0, 9.0])
///     .constant("one", &[], &[1.0]).constant("zero", &[], &[0.0]).constant("four", &[], &[4.0])
///     .node(quant).op("MatMul", ["x", "qw"], ["y"]).output("y").build();
/// assert!(apply(&FoldQuantWeights, &mut m));
/// assert_eq!(op_types(&m), ["MatMul"]);
/// let w = &m.graph.nodes[0].inputs[1];
/// assert_eq!(m.graph.datatype(w).unwrap().unwrap().to_string(), "INT4");
/// ```
#[transform(stage = topology_opt, consumes = ["Quant", "BipolarQuant"], tags = ["qonnx", "quantization", "weights"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct FoldQuantWeights;

impl Transform for FoldQuantWeights {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let opset = model.opset_version("").unwrap_or(13);
        let mut r = Rewriter::new(&mut model.graph);
        for i in 0..r.graph().nodes.len() {
            let node = &r.graph().nodes[i];
            let quantizer = matches!(node.op_type.as_str(), "Quant" | "BipolarQuant")
                && canonical_domain(&node.domain) == "qonnx.custom_op.general";
            if !quantizer
                || node.inputs.is_empty()
                || !node.inputs.iter().all(|n| r.constant(n).is_some())
            {
                continue;
            }
            if let Err(why) = fold(&mut r, i, opset) {
                let name = r.graph().nodes[i].name.clone();
                ctx.warn(name, format!("weights left quantized at run time: {why}"));
            }
        }
        Ok(r.finish())
    }
}

fn fold(r: &mut Rewriter<'_>, i: usize, opset: i64) -> Result<(), String> {
    let node = r.graph().nodes[i].clone();
    let arrays: Vec<Array> = node
        .inputs
        .iter()
        .map(|n| Array::from_tensor(r.constant(n).expect("checked constant")))
        .collect::<Result<_, _>>()?;
    let needs = if node.op_type == "BipolarQuant" { 2 } else { 4 };
    if arrays.len() != needs {
        return Err(format!(
            "it has {} inputs, and {} takes {needs}",
            arrays.len(),
            node.op_type
        ));
    }
    let unit = |a: &Array, v: f64| a.as_f64().iter().all(|x| *x == v);
    let datatype = if node.op_type == "BipolarQuant" {
        if !unit(&arrays[1], 1.0) {
            return Err("its scale is not 1".into());
        }
        QuantType::Bipolar
    } else {
        if !unit(&arrays[1], 1.0) || !unit(&arrays[2], 0.0) {
            return Err("its scale is not 1 or its zero point not 0".into());
        }
        let bits = arrays[3].as_f64();
        let [b] = bits.as_slice() else {
            return Err("its bit width is not one value".into());
        };
        let signed = node.attr_int("signed").unwrap_or(1) != 0;
        match (*b as u32, signed) {
            (1, true) => QuantType::Bipolar,
            (b, true) => QuantType::Int(b),
            (b, false) => QuantType::UInt(b),
        }
    };
    let run = eval::Run {
        opset,
        max_elements: usize::MAX,
    };
    let refs: Vec<Option<&Array>> = arrays.iter().map(Some).collect();
    let out = eval::evaluate(&node, &refs, &run)?.remove(0);
    // The constant takes the quantizer's output name: its readers read it unchanged.
    let y = node.outputs[0].clone();
    let tensor = out.to_tensor(&y)?;
    r.forget_type(&y);
    r.graph_mut().initializers.push(tensor);
    r.annotate(&y, datatype);
    r.replace_node(i, Vec::new());
    Ok(())
}
