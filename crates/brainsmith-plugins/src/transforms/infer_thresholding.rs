//! [`InferThresholding`]

use brainsmith_core::ir::{AttributeValue, Graph, canonical_domain};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;

use crate::kernels::integer_type;
use crate::kernels::{FINN_DOMAIN, MemMode, ThresholdRam, Thresholding, ThresholdingAttrs};

/// Maps each `MultiThreshold` on integer activations onto the `Thresholding` kernel
/// (`Thresholding`), as FINN's thresholding inference does, so that a quantized
/// activation no matrix-vector unit absorbed runs in hardware.
///
/// The thresholds move to the integer domain on the way: an integer `x` reaches `t`
/// exactly when it reaches `ceil(t)`, and a threshold below the input's range is always
/// reached (above it, never), so each becomes `ceil(t)` clipped to `min..=max + 1` of
/// the input type, which is exact and keeps the stored type (`weightDataType`) narrow.
/// Channels are the last axis: a 4-D `NCHW` input with per-channel thresholds gets a
/// `Transpose` to NHWC before the kernel and one back after it.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed
/// (input not integer or of unknown shape, thresholds not constant, a scale the
/// hardware cannot apply, outputs the output type cannot hold...). Run `InferShapes` and
/// `InferDataTypes` first; run it after `InferMvau`, which absorbs the thresholds that
/// follow a matrix product.
///
/// ```
/// use brainsmith_plugins::InferThresholding;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
///
/// // Three thresholds per channel on 4-bit inputs: a 2-bit activation.
/// let mt = qonnx("MultiThreshold", ["x", "th"], ["y"]).text("out_dtype", "UINT2");
/// let mut m = Sketch::new().int_input("x", &[1, 2], "UINT4")
///     .constant("th", &[2, 3], &[1.0, 5.0, 9.0, 2.0, 4.0, 8.0]).node(mt).output("y").build();
/// assert!(apply(&InferThresholding, &mut m));
/// assert_eq!(op_types(&m), ["Thresholding"]);
/// assert_eq!(m.graph.nodes[0].attr_int("numSteps"), Some(3));
/// ```
#[transform(infers = Thresholding, consumes = ["MultiThreshold"], tags = ["finn", "activation"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferThresholding;

/// One mapping, decided before anything changes.
struct Mapping {
    node: usize,
    attrs: ThresholdingAttrs,
    /// The thresholds, as integers in range.
    thresholds: Tensor,
    /// Channels are axis 1 of a 4-D input: transpose around the kernel.
    transpose: bool,
}

impl Transform for InferThresholding {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        {
            let graph = &model.graph;
            for (i, node) in graph.nodes.iter().enumerate() {
                if node.op_type != "MultiThreshold"
                    || canonical_domain(&node.domain) != "qonnx.custom_op.general"
                {
                    continue;
                }
                match plan(graph, i) {
                    Ok(m) => mappings.push(m),
                    Err(why) => {
                        ctx.warn(node.name.clone(), format!("left as MultiThreshold: {why}"))
                    }
                }
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut replacements: Vec<(usize, Vec<Node>)> = Vec::new();
        for m in mappings {
            let mt = &graph.nodes[m.node];
            let name = mt.name.clone();
            let (x, y) = (mt.inputs[0].clone(), mt.outputs[0].clone());
            let thresholds = names.fresh(format!("{name}_thresholds"));
            let mut tensor = m.thresholds;
            tensor.set_name(&thresholds);
            graph.initializers.push(tensor);
            graph.set_datatype(&thresholds, m.attrs.thresholds);
            let around = m
                .transpose
                .then(|| names.around_nhwc(&name, x.clone(), y.clone()));
            let (kin, kout) = match &around {
                Some(a) => {
                    graph.set_datatype(&a.input, m.attrs.input);
                    graph.set_datatype(&a.output, m.attrs.output);
                    (a.input.clone(), a.output.clone())
                }
                None => (x, y),
            };
            let mut node = Node::new("Thresholding", [kin, thresholds], [kout])
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
        // Splice from the back so that earlier indices stay valid.
        for (i, nodes) in replacements.into_iter().rev() {
            graph.nodes.splice(i..=i, nodes);
        }
        if model.opset_version(FINN_DOMAIN).is_none() {
            model.set_opset_version(FINN_DOMAIN, 1);
        }
        Ok(true)
    }
}

fn plan(graph: &Graph, i: usize) -> Result<Mapping, String> {
    let node = &graph.nodes[i];
    let [x, t] = node.inputs.as_slice() else {
        return Err(format!("it has {} inputs, not 2", node.inputs.len()));
    };
    let idt = match Tensors::datatype(graph, x) {
        Some(dt) if dt.is_integer() => dt,
        Some(dt) => {
            return Err(format!(
                "its input '{x}' is {dt}, not an integer type (a network's first quantizer \
                 stays in software)"
            ));
        }
        None => {
            return Err(format!(
                "the datatype of its input '{x}' is unknown; run InferDataTypes"
            ));
        }
    };
    let shape = Tensors::shape(graph, x)
        .ok_or_else(|| format!("the shape of its input '{x}' is unknown; run InferShapes"))?;
    let tensor = graph
        .constant(t)
        .ok_or_else(|| format!("its thresholds '{t}' are not a constant"))?;
    let [rows, steps] = *tensor.dims() else {
        return Err(format!(
            "its thresholds have shape {:?}, not 2-D",
            tensor.dims()
        ));
    };
    if steps < 1 {
        return Err("its thresholds have no steps".into());
    }
    let layout = node.attr_str("data_layout").unwrap_or("NCHW");
    let channels_last = shape.len() <= 2 || layout.ends_with('C') || rows == 1;
    let transpose = !channels_last && shape.len() == 4;
    if !channels_last && !transpose {
        return Err(format!(
            "per-channel thresholds on a {}-D {layout} input: channels must be the last axis \
             (convert to channels-last first)",
            shape.len()
        ));
    }
    let channel_axis = if transpose {
        1
    } else {
        shape.len().saturating_sub(1)
    };
    let Some(&channels) = shape.get(channel_axis) else {
        return Err(format!("its input '{x}' is a scalar"));
    };
    if rows != 1 && rows != channels {
        return Err(format!(
            "its thresholds have {rows} rows for {channels} channels"
        ));
    }
    let out: QuantType = node
        .attr_str("out_dtype")
        .unwrap_or("FLOAT32")
        .parse()
        .map_err(|e: String| format!("its out_dtype: {e}"))?;
    let scale = node.attr_float("out_scale").unwrap_or(1.0);
    let bias = node.attr_float("out_bias").unwrap_or(0.0);
    let act_val = if out == QuantType::Bipolar {
        if (scale, bias) != (2.0, -1.0) {
            return Err(format!(
                "a bipolar MultiThreshold must scale by 2 and add -1, not {scale} and {bias}"
            ));
        }
        0
    } else if !out.is_integer() || scale != 1.0 || bias.fract() != 0.0 {
        return Err(format!(
            "its output ({out}, scale {scale}, bias {bias}) is not an integer count plus an \
             integer bias"
        ));
    } else {
        bias as i64
    };
    let (lo, hi) = idt.range();
    let values: Vec<f32> = tensor
        .to_f64()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|&v| v.ceil().clamp(lo, hi + 1.0) as f32)
        .collect();
    let (tmin, tmax) = values.iter().fold((lo, hi), |(a, b), &v| {
        (a.min(f64::from(v)), b.max(f64::from(v)))
    });
    let lead: Vec<u64> = if transpose {
        vec![shape[0] as u64, shape[2] as u64, shape[3] as u64]
    } else {
        shape[..shape.len() - 1].iter().map(|&d| d as u64).collect()
    };
    if lead.contains(&0) || channels < 1 {
        return Err(format!("its input shape {shape:?} has an empty dimension"));
    }
    let attrs = ThresholdingAttrs {
        channels: channels as u64,
        pe: 1,
        steps: steps as u64,
        input: idt,
        thresholds: integer_type(tmin, tmax),
        output: out,
        act_val,
        vectors: if lead.is_empty() { vec![1] } else { lead },
        // Constant thresholds in the unit, what the standard HLS backend implements.
        mem_mode: MemMode::Embedded,
        ram_style: ThresholdRam::Distributed,
        runtime_writeable: false,
    };
    let (omin, omax) = out.range();
    let (first, last) = if out == QuantType::Bipolar {
        (-1.0, 1.0)
    } else {
        (act_val as f64, (act_val + steps) as f64)
    };
    if out == QuantType::Bipolar && steps != 1 {
        return Err(format!("a bipolar output takes 1 threshold, not {steps}"));
    }
    if first < omin || last > omax {
        return Err(format!(
            "its outputs span {first}..={last}, beyond its out_dtype {out}"
        ));
    }
    Ok(Mapping {
        node: i,
        attrs,
        thresholds: Tensor::from_f32(t, &[rows, steps], &values),
        transpose,
    })
}
