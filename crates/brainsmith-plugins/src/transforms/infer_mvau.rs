//! [`InferMvau`]

use brainsmith_core::ir::{AttributeValue, Graph, canonical_domain};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;

use crate::kernels::{FINN_DOMAIN, MemMode, Mvau, MvauAttrs, RamStyle, integer_type};

/// Maps `MatMul` nodes with constant integer weights onto the `MVAU` kernel (`Mvau`),
/// together with the `MultiThreshold` that reads their output, as FINN's quantized and
/// binarised matrix-vector inference does:
///
/// - integer activations times integer weights: a standard MVAU; with a following
///   `MultiThreshold` the thresholds move into it (`ActVal` from its integer `out_bias`,
///   or a bipolar output from `out_scale = 2, out_bias = -1`), otherwise it has no
///   activation and its output is the accumulator;
/// - bipolar activations times bipolar weights followed by a `MultiThreshold`: XNOR and
///   popcount (`binaryXnorMode`), the thresholds moved from the bipolar sum `2p - MW` to
///   the popcount `p` (`ceil((t + MW) / 2)`), which is exact; without one (a classifier's
///   last layer), the popcount with no activation, followed by the `Mul` by 2 and the
///   `Add` of `-MW` that turn it back into the sum (which the streamlining absorbs).
///
/// The accumulator gets the narrowest integer type that holds every sum the weights and
/// the input type allow. A node it cannot map stays as it is, with a diagnostic saying
/// which condition failed (unknown input type or shape, weights not constant or not
/// integer, thresholds per channel on a channel axis that is not the last, a scale the
/// hardware cannot apply...). Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::InferMvau;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
///
/// // 2-bit weights, then a 1-bit activation: one MVAU with its thresholds.
/// let mt = qonnx("MultiThreshold", ["acc", "th"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().int_input("x", &[1, 4], "UINT2").constant("w", &[4, 3], &[1.0; 12])
///     .datatype("w", "INT2").constant("th", &[3, 1], &[0.0, 1.0, 2.0])
///     .op("MatMul", ["x", "w"], ["acc"]).node(mt).output("y").build();
/// assert!(apply(&InferMvau, &mut m));
/// assert_eq!(op_types(&m), ["MVAU"]);
/// assert_eq!((m.graph.nodes[0].attr_int("MW"), m.graph.nodes[0].attr_int("MH")), (Some(4), Some(3)));
/// ```
#[transform(infers = Mvau, consumes = ["MatMul", "MultiThreshold"], tags = ["finn", "matmul"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferMvau;

/// One mapping, decided before anything changes.
struct Mapping {
    matmul: usize,
    threshold: Option<usize>,
    attrs: MvauAttrs,
    /// Thresholds moved to the popcount domain, for XNOR mode.
    xnor_thresholds: Option<Tensor>,
    /// XNOR mode without an activation: the popcount `p`, to be turned back into the
    /// bipolar sum `2p - MW` after the unit.
    popcount_to_sum: bool,
}

impl Transform for InferMvau {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        {
            let graph = &model.graph;
            let consumers = graph.consumers();
            for (i, node) in graph.nodes.iter().enumerate() {
                if node.op_type != "MatMul" || !node.is_onnx() {
                    continue;
                }
                match plan(graph, i, &consumers) {
                    Ok(m) => mappings.push(m),
                    Err(why) => ctx.warn(node.name.clone(), format!("left as MatMul: {why}")),
                }
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let mut fresh = |base: String| names.fresh(base);
        let graph = &mut model.graph;
        let mut remove = Vec::new();
        let mut after: Vec<(usize, Vec<Node>)> = Vec::new();
        for m in mappings {
            let matmul = graph.nodes[m.matmul].clone();
            let mut inputs = matmul.inputs.clone();
            let mut outputs = matmul.outputs.clone();
            if let Some(t) = m.threshold {
                let mt = &graph.nodes[t];
                let thresholds = match m.xnor_thresholds {
                    Some(tensor) => {
                        let name = tensor.name().to_owned();
                        graph.initializers.push(tensor);
                        name
                    }
                    None => mt.inputs[1].clone(),
                };
                inputs.push(thresholds);
                outputs = mt.outputs.clone();
                remove.push(t);
            }
            if m.popcount_to_sum {
                // MVAU -> p; Mul(p, 2) -> 2p; Add(2p, -MW) -> the MatMul's output.
                let y = outputs[0].clone();
                let base = if matmul.name.is_empty() {
                    "mvau"
                } else {
                    &matmul.name
                };
                let p = fresh(format!("{base}_popcount"));
                let doubled = fresh(format!("{base}_doubled"));
                let (two, minus_mw) = (
                    fresh(format!("{base}_two")),
                    fresh(format!("{base}_minus_mw")),
                );
                graph.initializers.push(Tensor::from_f32(&two, &[], &[2.0]));
                graph
                    .initializers
                    .push(Tensor::from_f32(&minus_mw, &[], &[-(m.attrs.mw as f32)]));
                graph.set_datatype(&p, m.attrs.output);
                outputs = vec![p.clone()];
                after.push((
                    m.matmul,
                    vec![
                        Node::new("Mul", [p, two], [doubled.clone()])
                            .with_name(fresh(format!("{base}_to_sum_scale"))),
                        Node::new("Add", [doubled, minus_mw], [y])
                            .with_name(fresh(format!("{base}_to_sum_offset"))),
                    ],
                ));
            }
            let mut node = Node::new("MVAU", inputs, outputs)
                .with_name(matmul.name.clone())
                .with_domain(FINN_DOMAIN);
            m.attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            graph.nodes[m.matmul] = node;
        }
        // Insert after each unit (from the back, so earlier indices hold), then remove the
        // absorbed thresholds (their indices shift by what was inserted before them).
        let mut removed = vec![false; graph.nodes.len()];
        for t in remove {
            removed[t] = true;
        }
        let mut extra: rustc_hash::FxHashMap<usize, Vec<Node>> = after.into_iter().collect();
        let old = std::mem::take(&mut *graph.nodes);
        for (i, node) in old.into_iter().enumerate() {
            if !removed[i] {
                graph.nodes.push(node);
            }
            if let Some(nodes) = extra.remove(&i) {
                graph.nodes.extend(nodes);
            }
        }
        ensure_opset(model);
        Ok(true)
    }
}

/// The mapped model imports FINN's hardware domain, as FINN's models do.
fn ensure_opset(model: &mut Model) {
    if model.opset_version(FINN_DOMAIN).is_none() {
        model.set_opset_version(FINN_DOMAIN, 1);
    }
}

fn plan(
    graph: &Graph,
    i: usize,
    consumers: &rustc_hash::FxHashMap<&str, Vec<usize>>,
) -> Result<Mapping, String> {
    let node = &graph.nodes[i];
    let [x, w] = node.inputs.as_slice() else {
        return Err(format!("it has {} inputs, not 2", node.inputs.len()));
    };
    let weights = graph
        .constant(w)
        .ok_or_else(|| format!("its weights '{w}' are not a constant"))?;
    let [mw, mh] = *weights.dims() else {
        return Err(format!(
            "its weights have shape {:?}, not 2-D",
            weights.dims()
        ));
    };
    let values = weights.to_f64().map_err(|e| e.to_string())?;
    if values.iter().any(|v| v.fract() != 0.0) {
        return Err("its weights are not integers (quantize them first)".into());
    }
    let wdt = match Tensors::datatype(graph, w) {
        Some(dt) if dt.is_integer() => dt,
        _ => smallest_type(&values),
    };
    let idt = Tensors::datatype(graph, x)
        .filter(|dt| dt.is_integer())
        .ok_or_else(|| {
            format!("the datatype of its input '{x}' is not an integer type; run InferDataTypes")
        })?;
    let shape = Tensors::shape(graph, x)
        .ok_or_else(|| format!("the shape of its input '{x}' is unknown; run InferShapes"))?;
    let Some((&last, lead)) = shape.split_last() else {
        return Err(format!("its input '{x}' is a scalar"));
    };
    if last != mw || lead.iter().any(|&d| d < 1) {
        return Err(format!(
            "its input shape {shape:?} does not end in the weights' {mw} rows"
        ));
    }
    let binary = idt == QuantType::Bipolar && wdt == QuantType::Bipolar;
    let output = &node.outputs[0];
    let next = consumers
        .get(output.as_str())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let threshold = match next {
        [t] if graph.nodes[*t].op_type == "MultiThreshold"
            && canonical_domain(&graph.nodes[*t].domain) == "qonnx.custom_op.general"
            && !graph.is_output(output) =>
        {
            Some(*t)
        }
        _ => None,
    };
    let mut attrs = MvauAttrs {
        mw: mw as u64,
        mh: mh as u64,
        simd: 1,
        pe: 1,
        input: idt,
        weights: wdt,
        output: QuantType::Int(32),
        acc: accumulator(&values, mw as usize, mh as usize, idt, binary),
        act_val: 0,
        binary_xnor: binary,
        no_activation: threshold.is_none(),
        vectors: lead.iter().map(|&d| d as u64).collect(),
        // Constant weights in the unit, what the standard HLS backend implements.
        mem_mode: MemMode::Embedded,
        ram_style: RamStyle::Auto,
    };
    let mut xnor_thresholds = None;
    let mut popcount_to_sum = false;
    match threshold {
        None if binary => {
            attrs.output = attrs.acc;
            popcount_to_sum = true;
        }
        None => attrs.output = attrs.acc,
        Some(t) => {
            let mt = &graph.nodes[t];
            let tensor = mt
                .inputs
                .get(1)
                .and_then(|n| graph.constant(n))
                .ok_or("the MultiThreshold's thresholds are not a constant")?;
            let [rows, steps] = *tensor.dims() else {
                return Err(format!(
                    "thresholds have shape {:?}, not 2-D",
                    tensor.dims()
                ));
            };
            if rows != 1 && rows != mh {
                return Err(format!("thresholds have {rows} rows for {mh} outputs"));
            }
            let layout = mt.attr_str("data_layout").unwrap_or("NCHW");
            if rows != 1 && shape.len() > 2 && !layout.ends_with('C') {
                return Err(format!(
                    "per-channel thresholds on layout {layout}: the MVAU's channels are the \
                     last axis (convert to NHWC first)"
                ));
            }
            let out: QuantType = mt
                .attr_str("out_dtype")
                .unwrap_or("FLOAT32")
                .parse()
                .map_err(|e: String| format!("the MultiThreshold's out_dtype: {e}"))?;
            let scale = mt.attr_float("out_scale").unwrap_or(1.0);
            let bias = mt.attr_float("out_bias").unwrap_or(0.0);
            if out == QuantType::Bipolar {
                if (scale, bias) != (2.0, -1.0) {
                    return Err(format!(
                        "a bipolar MultiThreshold must scale by 2 and add -1, not {scale} and {bias}"
                    ));
                }
            } else if !out.is_integer() || scale != 1.0 || bias.fract() != 0.0 {
                return Err(format!(
                    "the MultiThreshold's output ({out}, scale {scale}, bias {bias}) is not an \
                     integer count plus an integer bias"
                ));
            } else {
                attrs.act_val = bias as i64;
            }
            attrs.output = out;
            if binary {
                let t: Vec<f32> = tensor
                    .to_f64()
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|&t| ((t + mw as f64) / 2.0).ceil() as f32)
                    .collect();
                let name = format!("{}_popcount_thresholds", mt.inputs[1]);
                xnor_thresholds = Some(Tensor::from_f32(&name, &[rows, steps], &t));
            }
        }
    }
    Ok(Mapping {
        matmul: i,
        threshold,
        attrs,
        xnor_thresholds,
        popcount_to_sum,
    })
}

/// The narrowest QONNX integer type holding every value.
fn smallest_type(values: &[f64]) -> QuantType {
    let (lo, hi) = values
        .iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if values.iter().all(|&v| v == 1.0 || v == -1.0) {
        return QuantType::Bipolar;
    }
    integer_type(lo, hi)
}

/// The narrowest accumulator: every sum of `mw` products of an input value of `idt` and
/// a column's weights, or the popcount `0..=MW` in XNOR mode.
fn accumulator(w: &[f64], mw: usize, mh: usize, idt: QuantType, binary: bool) -> QuantType {
    if binary {
        return integer_type(0.0, mw as f64);
    }
    let (xl, xh) = idt.range();
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for col in 0..mh {
        let (mut l, mut h) = (0.0, 0.0);
        for row in 0..mw {
            let v = w[row * mh + col];
            let (a, b) = (v * xl, v * xh);
            l += a.min(b);
            h += a.max(b);
        }
        lo = lo.min(l);
        hi = hi.max(h);
    }
    integer_type(lo, hi)
}
