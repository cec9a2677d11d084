//! [`ExtractBiasFromConv`]

use brainsmith_core::ir::Node;
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, opset_below, rewrite_each};

/// Moves the bias of every `Conv` and `ConvTranspose` into an `Add` after it, reshaped
/// to `[1, C, 1, ...]`, so that the convolution maps to a kernel without bias.
///
/// The bias must be a constant, or the output of a `Quant`, `IntQuant` or `BipolarQuant`
/// whose inputs are all constants (a quantized bias): then the quantizer's per-channel
/// inputs are reshaped too. A bias the transform cannot reshape (computed at run time,
/// or of unknown rank: run `InferShapes` first) stays, with a diagnostic. The `Add`
/// broadcasts as numpy does, which opset 7 introduced: a model of opset 6 is raised to 7
/// when every other node means the same there, and refused otherwise, naming the node.
///
/// ```
/// use brainsmith_plugins::ExtractBiasFromConv;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// let mut m = Sketch::new().input("x", &[1, 1, 3, 3]).constant("w", &[2, 1, 1, 1], &[1.0, -1.0])
///     .constant("b", &[2], &[0.5, 0.25]).op("Conv", ["x", "w", "b"], ["y"]).output("y").build();
/// assert!(apply(&ExtractBiasFromConv, &mut m));
/// assert_eq!(op_types(&m), ["Conv", "Add"]);
/// let bias = m.graph.initializer(&m.graph.nodes[1].inputs[1]).unwrap();
/// assert_eq!(bias.dims(), [1, 2, 1, 1]);
/// ```
#[transform(stage = topology_opt, tags = ["conv", "bias", "lowering"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct ExtractBiasFromConv;

impl Transform for ExtractBiasFromConv {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let with_bias = |n: &Node| {
            matches!(n.op_type.as_str(), "Conv" | "ConvTranspose")
                && n.inputs.get(2).is_some_and(|b| !b.is_empty())
        };
        if !model.graph.nodes.iter().any(with_bias) {
            return Ok(false);
        }
        // The Add broadcasts its bias as numpy does, which opset 7 introduced.
        let old_opset = opset_below(model, 7, "an Add broadcasts as numpy does", |_| false)?;
        let changed = rewrite_each(&mut model.graph, ctx, with_bias, extract);
        if changed && old_opset.is_some() {
            model.set_opset_version("", 7);
        }
        Ok(changed)
    }
}

/// The quantizers a bias may come from, with the inputs that may be per channel.
fn quantizer_channel_inputs(op_type: &str) -> Option<&'static [usize]> {
    match op_type {
        "Quant" | "IntQuant" => Some(&[0, 1, 2]),
        "BipolarQuant" => Some(&[0, 1]),
        _ => None,
    }
}

fn extract(rewriter: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let node = rewriter.graph().nodes[i].clone();
    let bias = node.inputs[2].clone();
    let Some(y) = node.outputs.first().cloned() else {
        return Err("it has no output".into());
    };
    let rank = rewriter
        .rank(&node.inputs[1])
        .or_else(|| rewriter.rank(&node.inputs[0]))
        .or_else(|| rewriter.rank(&y))
        .ok_or("the rank of its tensors is unknown; run InferShapes first")?;
    if rank < 3 {
        return Err(format!(
            "its weights or data have rank {rank}; a convolution's have at least 3 \
             dimensions (batch or filters, channels, and a spatial one)"
        ));
    }
    // (node, input) of every constant to reshape, and the number of channels.
    let mut reshape: Vec<(usize, usize)> = Vec::new();
    let channels = if let Some(t) = rewriter.constant(&bias) {
        reshape.push((i, 2));
        t.len()
    } else {
        let q = rewriter
            .producer(&bias)
            .ok_or_else(|| format!("bias {}", rewriter.not_constant(&bias)))?;
        let quant = &rewriter.graph().nodes[q];
        let per_channel = quantizer_channel_inputs(&quant.op_type)
            .filter(|_| !quant.is_onnx())
            .ok_or_else(|| format!("bias '{bias}' is computed by a {}", quant.op_type))?;
        if let Some(input) = quant.inputs.iter().find(|x| rewriter.constant(x).is_none()) {
            return Err(format!(
                "bias '{bias}' is quantized from '{input}', which is not a constant"
            ));
        }
        if rewriter.reads(&bias) != 1 {
            return Err(format!("bias '{bias}' is also read elsewhere"));
        }
        let channels = rewriter.constant(&quant.inputs[0]).map_or(0, |t| t.len());
        for &k in per_channel {
            let len = quant
                .inputs
                .get(k)
                .and_then(|x| rewriter.constant(x))
                .map(|t| t.len());
            if len == Some(channels) && (k == 0 || channels > 1) {
                reshape.push((q, k));
            }
        }
        channels
    };
    let mut dims = vec![1i64; rank];
    dims[1] = channels as i64;
    for (n, k) in reshape {
        let name = rewriter.graph().nodes[n].inputs[k].clone();
        let mut t = rewriter
            .constant(&name)
            .expect("checked to be a constant")
            .clone();
        t.reshape(&dims).map_err(|e| e.to_string())?;
        rewriter.replace_constant(n, k, t);
        if n != i {
            // The quantizer's output changes shape with its inputs.
            let out = rewriter.graph().nodes[n].outputs[0].clone();
            rewriter.forget_type(&out);
        }
    }
    let convolved = rewriter.fresh(&format!("{y}_conv"));
    let mut conv = node.clone();
    conv.inputs.truncate(2);
    conv.outputs[0] = convolved.clone();
    let bias = rewriter.graph().nodes[i].inputs[2].clone();
    let mut add = Node::new("Add", [convolved, bias], [y]);
    if !node.name.is_empty() {
        add = add.with_name(rewriter.fresh(&format!("{}_bias", node.name)));
    }
    rewriter.replace_node(i, vec![conv, add]);
    Ok(())
}
