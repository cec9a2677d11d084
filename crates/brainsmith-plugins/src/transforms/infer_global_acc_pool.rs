//! [`InferGlobalAccPool`]

use brainsmith_core::ir::{AttributeValue, Graph, Tensor};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;
use crate::kernels::{FINN_DOMAIN, GlobalAccPool, GlobalAccPoolAttrs};

/// Maps a `GlobalAveragePool` of integers onto FINN's global sum pool (`GlobalAccPool`):
/// the NCHW input transposed to NHWC, summed per channel over the image, transposed back,
/// then divided by the pixel count in software. FINN multiplies by the reciprocal, which
/// is not exact for most counts (1/49); a `Div` rounds as the average did, bit for bit.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed.
/// Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::InferGlobalAccPool;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// let mut m = Sketch::new().int_input("x", &[1, 2, 3, 3], "UINT4")
///     .op("GlobalAveragePool", ["x"], ["y"]).output("y").build();
/// assert!(apply(&InferGlobalAccPool, &mut m));
/// assert_eq!(op_types(&m), ["Transpose", "GlobalAccPool", "Transpose", "Div"]);
/// ```
#[transform(infers = GlobalAccPool, consumes = ["GlobalAveragePool"], tags = ["finn", "pooling"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferGlobalAccPool;

impl Transform for InferGlobalAccPool {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        for (i, node) in model.graph.nodes.iter().enumerate() {
            if node.op_type != "GlobalAveragePool" || !node.is_onnx() {
                continue;
            }
            match plan(&model.graph, i) {
                Ok(attrs) => mappings.push((i, attrs)),
                Err(why) => ctx.warn(
                    node.name.clone(),
                    format!("left as GlobalAveragePool: {why}"),
                ),
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut replacements = Vec::new();
        for (i, attrs) in mappings {
            let old = &graph.nodes[i];
            let name = old.name.clone();
            let base = if name.is_empty() {
                "global_acc_pool".to_owned()
            } else {
                name.clone()
            };
            let (x, y) = (old.inputs[0].clone(), old.outputs[0].clone());
            let sums = names.fresh(format!("{base}_sums"));
            let around = names.around_nhwc(&base, x, sums.clone());
            let pixels = names.fresh(format!("{base}_pixels"));
            let [_, h, w] = [attrs.vectors[0], attrs.vectors[1], attrs.vectors[2]];
            graph
                .initializers
                .push(Tensor::from_f32(&pixels, &[], &[(h * w) as f32]));
            for t in [&around.output, &sums] {
                graph.set_datatype(t, attrs.output());
            }
            graph.set_datatype(&around.input, attrs.input);
            let mut node = Node::new(
                "GlobalAccPool",
                [around.input.clone()],
                [around.output.clone()],
            )
            .with_name(name.clone())
            .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            let div = Node::new("Div", [sums, pixels], [y])
                .with_name(names.fresh(format!("{base}_mean")));
            replacements.push((i, vec![around.before, node, around.after, div]));
        }
        for (i, nodes) in replacements.into_iter().rev() {
            graph.nodes.splice(i..=i, nodes);
        }
        if model.opset_version(FINN_DOMAIN).is_none() {
            model.set_opset_version(FINN_DOMAIN, 1);
        }
        Ok(true)
    }
}

fn plan(graph: &Graph, i: usize) -> Result<GlobalAccPoolAttrs, String> {
    let node = &graph.nodes[i];
    let (Some(x), Some(_)) = (
        node.inputs.first().filter(|x| !x.is_empty()),
        node.outputs.first().filter(|y| !y.is_empty()),
    ) else {
        return Err("it has no input or no output".into());
    };
    let dt = match Tensors::datatype(graph, x) {
        Some(dt) if dt.is_integer() => dt,
        Some(dt) => return Err(format!("its input '{x}' is {dt}, not an integer type")),
        None => {
            return Err(format!(
                "the datatype of its input '{x}' is unknown; run InferDataTypes"
            ));
        }
    };
    let shape = Tensors::shape(graph, x)
        .ok_or_else(|| format!("the shape of its input '{x}' is unknown; run InferShapes"))?;
    let [n, c, h, w] = shape[..] else {
        return Err(format!("its input shape {shape:?} is not NCHW"));
    };
    if [n, c, h, w].iter().any(|&d| d < 1) {
        return Err(format!("its input shape {shape:?} holds no values"));
    }
    Ok(GlobalAccPoolAttrs {
        channels: c as u64,
        pe: 1,
        input: dt,
        vectors: vec![n as u64, h as u64, w as u64],
    })
}
