//! [`InferChannelwiseOp`]

use brainsmith_core::ir::{AttributeValue, Graph, Tensor};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;
use crate::kernels::{
    ChannelwiseOp, ChannelwiseOpAttrs, FINN_DOMAIN, Func, ThresholdRam, integer_type,
};

/// Maps an integer `Add` or `Mul` by a per-channel (or scalar) constant onto FINN's
/// channelwise operation (`ChannelwiseOp`, `Func` `add` or `mul`): the channels are the
/// last axis when the constant varies along it, or axis 1 of a 4-D input (NCHW), which
/// gets a transpose to NHWC before the kernel and one back after it. The parameters and
/// the output get the narrowest integer types that hold them and every result.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed:
/// a constant that is not integer-valued or varies along another axis, an input that is
/// not integer or has no static shape. Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::InferChannelwiseOp;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// let mut m = Sketch::new().int_input("x", &[1, 4], "UINT4")
///     .constant("bias", &[4], &[1.0, 2.0, 3.0, 4.0]).op("Add", ["x", "bias"], ["y"])
///     .output("y").build();
/// assert!(apply(&InferChannelwiseOp, &mut m));
/// assert_eq!(op_types(&m), ["ChannelwiseOp"]);
/// assert_eq!(m.graph.nodes[0].attr_str("Func"), Some("add"));
/// ```
#[transform(infers = ChannelwiseOp, consumes = ["Add", "Mul"], tags = ["finn", "affine"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferChannelwiseOp;

struct Mapping {
    node: usize,
    /// The computed input.
    x: String,
    params: Vec<f32>,
    attrs: ChannelwiseOpAttrs,
    /// Channels on axis 1 of a 4-D input: transposes around the kernel.
    nchw: bool,
}

impl Transform for InferChannelwiseOp {
    /// Passes until nothing more maps: a mapped node's output gets its integer datatype,
    /// which lets the `Add` or `Mul` after it map in the next pass. Only the last pass's
    /// refusals are reported.
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut changed = false;
        loop {
            let mut refusals = Vec::new();
            if !pass(model, &mut refusals) {
                for (node, why) in refusals {
                    ctx.warn(node, why);
                }
                return Ok(changed);
            }
            changed = true;
        }
    }
}

/// One pass over the nodes; whether it mapped any. Refusals go to `refusals`.
fn pass(model: &mut Model, refusals: &mut Vec<(String, String)>) -> bool {
    {
        let mut mappings = Vec::new();
        for (i, node) in model.graph.nodes.iter().enumerate() {
            let constants = node
                .inputs
                .iter()
                .filter(|x| model.graph.constant(x).is_some())
                .count();
            if !matches!(node.op_type.as_str(), "Add" | "Mul")
                || !node.is_onnx()
                || node.inputs.len() != 2
                || node.outputs.len() != 1
                || constants != 1
            {
                continue;
            }
            match plan(&model.graph, i) {
                Ok(m) => mappings.push(m),
                Err(why) => refusals.push((
                    node.name.clone(),
                    format!("left as {}: {why}", node.op_type),
                )),
            }
        }
        if mappings.is_empty() {
            return false;
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut replacements = Vec::new();
        for m in mappings {
            let old = &graph.nodes[m.node];
            let name = old.name.clone();
            let base = if name.is_empty() {
                "channelwise".to_owned()
            } else {
                name.clone()
            };
            let y = old.outputs[0].clone();
            let p = names.fresh(format!("{base}_params"));
            graph
                .initializers
                .push(Tensor::from_f32(&p, &[m.params.len() as i64], &m.params));
            graph.set_datatype(&p, m.attrs.params);
            let around = m
                .nchw
                .then(|| names.around_nhwc(&base, m.x.clone(), y.clone()));
            let (kin, kout) = match &around {
                Some(a) => {
                    graph.set_datatype(&a.input, m.attrs.input);
                    (a.input.clone(), a.output.clone())
                }
                None => (m.x.clone(), y.clone()),
            };
            graph.set_datatype(&kout, m.attrs.output);
            graph.set_datatype(&y, m.attrs.output);
            let mut node = Node::new("ChannelwiseOp", [kin, p], [kout])
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
        true
    }
}

fn plan(graph: &Graph, i: usize) -> Result<Mapping, String> {
    let node = &graph.nodes[i];
    let k = usize::from(graph.constant(&node.inputs[0]).is_none());
    let (x, c) = (&node.inputs[1 - k], &node.inputs[k]);
    let constant = graph
        .constant(c)
        .ok_or("its constant operand went missing")?;
    let input = match Tensors::datatype(graph, x) {
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
    let rank = shape.len();
    if rank == 0 || shape.iter().any(|&d| d < 1) {
        return Err(format!("its input shape {shape:?} has no channel axis"));
    }
    let values = constant
        .to_f64()
        .map_err(|e| format!("its constant '{c}': {e}"))?;
    if let Some(v) = values
        .iter()
        .find(|v| v.fract() != 0.0 || v.abs() > 2f64.powi(24))
    {
        return Err(format!(
            "its constant '{c}' holds {v}, not an integer a channelwise parameter can be"
        ));
    }
    // Where the constant varies, right-aligned against the input's shape.
    let dims = constant.dims();
    if dims.len() > rank {
        return Err(format!(
            "its constant of shape {dims:?} has more axes than its input {shape:?}"
        ));
    }
    let offset = rank - dims.len();
    let mut axis = None;
    for (j, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        if d != shape[offset + j] || axis.is_some() {
            return Err(format!(
                "its constant of shape {dims:?} does not vary along one axis of {shape:?}"
            ));
        }
        axis = Some(offset + j);
    }
    let (channels, nchw) = match axis {
        None => (shape[rank - 1], false),
        Some(a) if a == rank - 1 => (shape[a], false),
        Some(1) if rank == 4 => (shape[1], true),
        Some(a) => {
            return Err(format!(
                "its constant varies along axis {a} of {shape:?}; the channels are the last \
                 axis, or axis 1 of NCHW"
            ));
        }
    };
    let params: Vec<f64> = if values.len() == 1 {
        vec![values[0]; channels as usize]
    } else {
        values
    };
    let (pl, ph) = params
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let func = if node.op_type == "Add" {
        Func::Add
    } else {
        Func::Mul
    };
    let mut attrs = ChannelwiseOpAttrs {
        func,
        channels: channels as u64,
        pe: 1,
        ram_style: ThresholdRam::Distributed,
        input,
        params: integer_type(pl, ph),
        output: input,
        vectors: if nchw {
            vec![shape[0] as u64, shape[2] as u64, shape[3] as u64]
        } else {
            shape[..rank - 1].iter().map(|&d| d as u64).collect()
        },
    };
    let (lo, hi) = attrs.result_range((pl, ph));
    attrs.output = integer_type(lo, hi);
    Ok(Mapping {
        node: i,
        x: x.clone(),
        params: params.iter().map(|&v| v as f32).collect(),
        attrs,
        nchw,
    })
}
