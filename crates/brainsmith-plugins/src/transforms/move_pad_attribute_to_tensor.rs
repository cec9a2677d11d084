//! [`MovePadAttributeToTensor`]

use brainsmith_core::ir::{ElemType, Tensor};
use brainsmith_core::prelude::*;
use brainsmith_core::suggest::shorten;

use super::rewrite::{Rewriter, opset_below, rewrite_each};
use crate::eval::Array;

/// Moves the `pads` and `value` attributes of every `Pad` (its opset 2 form) into
/// constant inputs, the form opset 11 and FINN's padding kernels read: `pads` becomes an
/// `INT64` tensor, `value` a scalar of the padded tensor's element type.
///
/// A model below opset 11 is raised to opset 11 with it, so that what it holds is valid
/// ONNX (qonnx 1.0 leaves the import as it was, and onnxruntime refuses the model). That
/// is done only when every other node means at opset 11 what it meant (elementwise math,
/// convolutions, pooling, shape ops, ... without an attribute that opset 11 dropped, such
/// as `broadcast` or `is_test`); otherwise the transform fails, naming the node that
/// stops it: convert the model to opset 11 first (`onnx.version_converter`). A `value`
/// whose element type is unknown (run `InferShapes` first) leaves the node as it is, with
/// a diagnostic, and so fails on a model below opset 11, which cannot hold both forms.
///
/// ```
/// use brainsmith_plugins::MovePadAttributeToTensor;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, values};
/// use brainsmith_core::ir::Node;
///
/// let pad = Node::new("Pad", ["x"], ["y"]).ints("pads", &[0, 1, 0, 1]);
/// let mut m = Sketch::new().input("x", &[2, 2]).node(pad).output("y").build();
/// assert!(apply(&MovePadAttributeToTensor, &mut m));
/// let pad = &m.graph.nodes[0];
/// assert!(pad.attribute("pads").is_none());
/// assert_eq!(values(&m, &pad.inputs[1]), [0.0, 1.0, 0.0, 1.0]);
/// ```
#[transform(stage = topology_opt, tags = ["pad", "canonicalize", "finn"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct MovePadAttributeToTensor;

impl Transform for MovePadAttributeToTensor {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let with_attributes = |n: &Node| {
            n.op_type == "Pad"
                && n.is_onnx()
                && (n.attribute("pads").is_some() || n.attribute("value").is_some())
        };
        if !model.graph.nodes.iter().any(with_attributes) {
            return Ok(false);
        }
        let old_opset = opset_below(model, 11, "Pad takes its pads as an input", |n| {
            n.op_type == "Pad"
        })?;
        let changed = rewrite_each(&mut model.graph, ctx, with_attributes, move_attributes);
        if let Some(opset) = old_opset {
            if let Some(node) = model.graph.nodes.iter().find(|n| with_attributes(n)) {
                return Err(PluginError::new(format!(
                    "node '{}' (Pad) keeps its attributes (see the diagnostics), and a model \
                     of opset {opset} cannot hold Pads of both forms; run InferShapes first",
                    shorten(&node.name, 80)
                )));
            }
            model.set_opset_version("", 11);
        }
        Ok(changed)
    }
}

fn move_attributes(rewriter: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let mut node = rewriter.graph().nodes[i].clone();
    let x = node.inputs.first().cloned().ok_or("it has no input")?;
    if node.inputs.len() != 1 {
        return Err(format!(
            "it has both attributes and {} inputs; which padding holds is unclear",
            node.inputs.len()
        ));
    }
    let pads = match node.attribute("pads") {
        Some(_) => Some(
            node.attr_ints("pads")
                .ok_or("its `pads` attribute is not a list of integers")?
                .to_vec(),
        ),
        None => None,
    };
    let value = match node.attribute("value") {
        Some(_) => {
            let v = node
                .attr_float("value")
                .ok_or("its `value` attribute is not a float")?;
            let elem = rewriter.elem_type(&x).ok_or_else(|| {
                format!("the element type of its input '{x}' is unknown; run InferShapes first")
            })?;
            Some(scalar(elem, f64::from(v))?)
        }
        None => None,
    };
    let label = if node.name.is_empty() {
        node.outputs.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    };
    // Without `pads` the padding is none: opset 11 needs the input anyway to reach
    // `constant_value`.
    let rank_pads = match pads {
        Some(p) => p,
        None => {
            let rank = rewriter.rank(&x).ok_or_else(|| {
                format!("the rank of its input '{x}' is unknown; run InferShapes first")
            })?;
            vec![0; 2 * rank]
        }
    };
    let pads = Tensor::from_i64("", &[rank_pads.len() as i64], &rank_pads);
    let pads = rewriter.add_constant(&format!("{label}_pads"), pads);
    node.inputs.push(pads);
    if let Some(value) = value {
        let value = rewriter.add_constant(&format!("{label}_value"), value);
        node.inputs.push(value);
    }
    node.attributes
        .retain(|a| a.name != "pads" && a.name != "value");
    rewriter.replace_node(i, vec![node]);
    Ok(())
}

fn scalar(elem: ElemType, value: f64) -> Result<Tensor, String> {
    let a = if matches!(
        elem,
        ElemType::Float | ElemType::Double | ElemType::Float16 | ElemType::Bfloat16
    ) {
        Array::floats(elem, Vec::new(), vec![value])
    } else {
        Array::ints(elem, Vec::new(), vec![value as i64])
    };
    a.to_tensor("").map_err(|e| format!("its `value`: {e}"))
}
