//! [`InferStreamingMaxPool`]

use brainsmith_core::ir::{AttributeValue, Graph, canonical_domain};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;

use crate::kernels::{FINN_DOMAIN, StreamingMaxPool, StreamingMaxPoolAttrs};

/// Maps max pooling whose stride equals its window onto FINN's streaming max pool
/// (`StreamingMaxPool`): QONNX's channels-last `MaxPoolNHWC` as it is, and ONNX's
/// `MaxPool` on an NCHW input with a `Transpose` to NHWC before the kernel and one back
/// after it (a later pass cancels transposes that meet). Unlike FINN, a window that does
/// not divide the image is fine (the remainder is dropped, or pooled in ceil mode).
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed:
/// a stride other than the window, padding, dilation, an indices output, an input that
/// is not integer or not a static 4-D shape. Run `InferShapes` and `InferDataTypes`
/// first.
///
/// ```
/// use brainsmith_plugins::InferStreamingMaxPool;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types};
/// use brainsmith_core::ir::Node;
///
/// let pool = Node::new("MaxPool", ["x"], ["y"]).ints("kernel_shape", &[2, 2]).ints("strides", &[2, 2]);
/// let mut m = Sketch::new().int_input("x", &[1, 3, 4, 4], "UINT4").node(pool).output("y").build();
/// assert!(apply(&InferStreamingMaxPool, &mut m));
/// assert_eq!(op_types(&m), ["Transpose", "StreamingMaxPool", "Transpose"]);
/// ```
#[transform(infers = StreamingMaxPool, consumes = ["MaxPool", "MaxPoolNHWC"], tags = ["finn", "pooling"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferStreamingMaxPool;

struct Mapping {
    node: usize,
    attrs: StreamingMaxPoolAttrs,
    /// The input is NCHW: transpose around the kernel.
    transpose: bool,
}

impl Transform for InferStreamingMaxPool {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        for (i, node) in model.graph.nodes.iter().enumerate() {
            let nchw = node.op_type == "MaxPool" && node.is_onnx();
            let nhwc = node.op_type == "MaxPoolNHWC"
                && canonical_domain(&node.domain) == "qonnx.custom_op.general";
            if !nchw && !nhwc {
                continue;
            }
            match plan(&model.graph, i, nchw) {
                Ok(attrs) => mappings.push(Mapping {
                    node: i,
                    attrs,
                    transpose: nchw,
                }),
                Err(why) => ctx.warn(
                    node.name.clone(),
                    format!("left as {}: {why}", node.op_type),
                ),
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut replacements = Vec::new();
        for m in mappings {
            let old = &graph.nodes[m.node];
            let name = old.name.clone();
            let (x, y) = (old.inputs[0].clone(), old.outputs[0].clone());
            let around = m
                .transpose
                .then(|| names.around_nhwc(&name, x.clone(), y.clone()));
            let (kin, kout) = match &around {
                Some(a) => {
                    graph.set_datatype(&a.input, m.attrs.datatype);
                    graph.set_datatype(&a.output, m.attrs.datatype);
                    (a.input.clone(), a.output.clone())
                }
                None => (x, y),
            };
            let mut node = Node::new("StreamingMaxPool", [kin], [kout])
                .with_name(name.clone())
                .with_domain(FINN_DOMAIN);
            m.attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            let nodes = match around {
                Some(a) => vec![a.before, node, a.after],
                None => vec![node],
            };
            replacements.push((m.node, nodes));
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

fn plan(graph: &Graph, i: usize, nchw: bool) -> Result<StreamingMaxPoolAttrs, String> {
    let node = &graph.nodes[i];
    let Some(x) = node.inputs.first().filter(|x| !x.is_empty()) else {
        return Err("it has no input".into());
    };
    if node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err("its indices output is used; the streaming pool computes values only".into());
    }
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
    let (h, w, c) = match (shape.as_slice(), nchw) {
        (&[1, c, h, w], true) | (&[1, h, w, c], false) => (h, w, c),
        _ => {
            return Err(format!(
                "its input shape {shape:?} is not one {} frame",
                if nchw { "NCHW" } else { "NHWC" }
            ));
        }
    };
    let kernel = match node.attr_ints("kernel_shape") {
        Some(&[a, b]) if a > 0 && b > 0 => [a, b],
        other => {
            return Err(format!(
                "its `kernel_shape` {other:?} is not two positive values"
            ));
        }
    };
    let strides = node.attr_ints("strides").unwrap_or(&[1, 1]);
    if strides != kernel {
        return Err(format!(
            "its strides {strides:?} differ from its window {kernel:?}; the streaming pool \
             moves by whole windows"
        ));
    }
    if let Some(pads) = node.attr_ints("pads")
        && pads.iter().any(|&p| p != 0)
    {
        return Err(format!(
            "it pads by {pads:?}; the streaming pool does not pad"
        ));
    }
    if node
        .attr_ints("dilations")
        .is_some_and(|d| d.iter().any(|&v| v != 1))
    {
        return Err("it is dilated; the streaming pool is not".into());
    }
    if node
        .attr_str("auto_pad")
        .is_some_and(|p| p != "NOTSET" && p != "VALID")
    {
        return Err("its `auto_pad` pads; the streaming pool does not".into());
    }
    if kernel[0] > h || kernel[1] > w {
        return Err(format!(
            "its window {kernel:?} does not fit into [{h}, {w}]"
        ));
    }
    Ok(StreamingMaxPoolAttrs {
        image: vec![h as u64, w as u64],
        pool: vec![kernel[0] as u64, kernel[1] as u64],
        channels: c as u64,
        pe: 1,
        ceil: node.attr_int("ceil_mode").unwrap_or(0) != 0,
        datatype: dt,
    })
}
