//! [`LowerConvsToMatMul`]

use brainsmith_core::ir::{AttributeValue, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::prelude::*;
use brainsmith_core::suggest::{QUOTED, shorten};

use super::ExtractBiasFromConv;
use super::rewrite::{Rewriter, rewrite_each};
use crate::eval::{Array, Values};

/// Lowers every 2-D `Conv` with constant weights to the matrix form FINN's kernels
/// implement: a `Transpose` to NHWC, an `Im2Col` (`qonnx.custom_op.general`) that gathers
/// each output pixel's window, a `MatMul` by the weights laid out as a
/// `[kh·kw·C_in, C_out]` matrix, and a `Transpose` back to NCHW. A 1×1 convolution with
/// stride 1 and no padding needs no `Im2Col`.
///
/// It runs [`ExtractBiasFromConv`] first, as qonnx does. The weights may be a constant or
/// the output of a `Quant` of one (Brevitas' quantized weights): then the quantizer's
/// constant is rearranged, and a per-output-channel scale or zero point with it. A
/// depthwise convolution (`group` = input channels = output channels) becomes a dense
/// matrix that is zero off the diagonal, marked `depthwise` on the `Im2Col` and with a
/// `tensor_sparsity` annotation on the weights, as FINN expects. The new tensors get
/// their types and QONNX datatypes, and `Im2Col` records the real batch size.
///
/// A convolution it cannot lower stays, with a diagnostic saying why: not 2-D, weights
/// computed at run time, a grouped convolution that is not depthwise (qonnx 1.0 fails on
/// those), input shape unknown (run `InferShapes` first), or a declared input shape that
/// disagrees with the weights (input channels other than the weights' channels times
/// `group`: the weights are the data, the declaration may be wrong), weights that do not
/// hold the values their shape declares, or a matrix of more than 2^28 values (only a
/// depthwise convolution's can be larger than its weights).
///
/// ```
/// use brainsmith_plugins::LowerConvsToMatMul;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// let mut m = Sketch::new().input("x", &[1, 1, 4, 4]).constant("w", &[2, 1, 3, 3], &[0.5; 18])
///     .op("Conv", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&LowerConvsToMatMul, &mut m));
/// assert_eq!(op_types(&m), ["Transpose", "Im2Col", "MatMul", "Transpose"]);
/// // The weights as a [kh·kw·C_in, C_out] matrix.
/// assert_eq!(m.graph.initializer(&m.graph.nodes[2].inputs[1]).unwrap().dims(), [9, 2]);
/// ```
#[transform(stage = topology_opt, tags = ["conv", "matmul", "lowering", "finn"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct LowerConvsToMatMul;

impl Transform for LowerConvsToMatMul {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let extracted = ExtractBiasFromConv.apply(model, ctx)?;
        let lowered = rewrite_each(&mut model.graph, ctx, |n| n.op_type == "Conv", lower);
        // The Im2Col nodes' domain needs its opset import, or the model is not valid ONNX.
        let im2col = |n: &Node| n.op_type == "Im2Col" && n.domain == QONNX;
        if lowered && model.opset_version(QONNX).is_none() && model.graph.nodes.iter().any(im2col) {
            model.set_opset_version(QONNX, 1);
        }
        Ok(extracted || lowered)
    }
}

/// The geometry of one 2-D convolution.
struct Conv {
    batch: i64,
    channels: i64,
    height: i64,
    width: i64,
    filters: i64,
    kernel: [i64; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
    /// `[top, left, bottom, right]`, as ONNX and `Im2Col` order them.
    pads: [i64; 4],
    group: i64,
}

impl Conv {
    /// The output's height and width; `None` where a size is out of `i64`'s range. (In
    /// `i128`, where these sums and products of `i64`s cannot overflow.)
    fn output(&self) -> Option<[i64; 2]> {
        let size = |i: usize, extent: i64| {
            let span = i128::from(extent) + i128::from(self.pads[i]) + i128::from(self.pads[i + 2])
                - i128::from(self.dilations[i]) * (i128::from(self.kernel[i]) - 1)
                - 1;
            i64::try_from(span.div_euclid(i128::from(self.strides[i])) + 1).ok()
        };
        Some([size(0, self.height)?, size(1, self.width)?])
    }

    fn depthwise(&self) -> bool {
        self.group != 1 && self.group == self.channels && self.filters == self.channels
    }
}

fn pair(node: &Node, name: &str, default: [i64; 2]) -> Result<[i64; 2], String> {
    match node.attr_ints(name) {
        None => Ok(default),
        Some(&[a, b]) => Ok([a, b]),
        Some(other) => Err(format!("`{name}` {other:?} is not two values")),
    }
}

fn geometry(rewriter: &Rewriter<'_>, node: &Node, weights: &[i64]) -> Result<Conv, String> {
    let x = &node.inputs[0];
    let shape = rewriter
        .shape(x)
        .ok_or_else(|| format!("the shape of its input '{x}' is unknown; run InferShapes first"))?;
    let &[batch, channels, height, width] = shape.as_slice() else {
        return Err(format!(
            "its input '{x}' has shape {shape:?}; only 2-D convolutions (4-D tensors) are lowered"
        ));
    };
    let &[filters, per_group, kh, kw] = weights else {
        return Err(format!("its weights have shape {weights:?}, not 4-D"));
    };
    if weights.iter().any(|&d| d < 1) {
        return Err(format!(
            "its weights have shape {weights:?}; every dimension must be positive"
        ));
    }
    if shape.iter().any(|&d| d < 1) {
        return Err(format!(
            "its input '{}' has shape {shape:?}; every dimension must be positive",
            shorten(x, QUOTED)
        ));
    }
    // The declared input shape must agree with the weights, which are real data: the
    // matrix is sized from both, so a declared channel count the weights do not have
    // would index past them or ask for an absurd allocation.
    let group = node.attr_int("group").unwrap_or(1);
    if group < 1 {
        return Err(format!("`group` must be positive, not {group}"));
    }
    if per_group.checked_mul(group) != Some(channels) || filters % group != 0 {
        return Err(format!(
            "its input '{}' declares {channels} channels, but its weights {weights:?} with \
             group {group} take {} (and {filters} filters must divide into {group} groups): \
             the declared shape and the weights disagree; fix the model or run InferShapes \
             to recompute the shape",
            shorten(x, QUOTED),
            per_group.saturating_mul(group)
        ));
    }
    let kernel = pair(node, "kernel_shape", [kh, kw])?;
    let strides = pair(node, "strides", [1, 1])?;
    if let Some(bad) = strides.iter().find(|&&s| s < 1) {
        return Err(format!("`strides` must be positive, not {bad}"));
    }
    let dilations = pair(node, "dilations", [1, 1])?;
    if let Some(bad) = dilations.iter().find(|&&d| d < 1) {
        return Err(format!("`dilations` must be positive, not {bad}"));
    }
    let explicit = match node.attr_ints("pads") {
        None => [0; 4],
        Some(&[t, l, b, r]) => [t, l, b, r],
        Some(other) => return Err(format!("`pads` {other:?} is not four values")),
    };
    let pads = match node.attr_str("auto_pad").unwrap_or("NOTSET") {
        "NOTSET" => explicit,
        "VALID" => [0; 4],
        mode @ ("SAME_UPPER" | "SAME_LOWER") => {
            let mut pads = [0; 4];
            for (i, extent) in [height, width].into_iter().enumerate() {
                // In `i128`, where these sums and products of `i64`s cannot overflow.
                let (extent, stride) = (i128::from(extent), i128::from(strides[i]));
                let out = (extent + stride - 1) / stride;
                let total = ((out - 1) * stride
                    + i128::from(dilations[i]) * (i128::from(kernel[i]) - 1)
                    + 1
                    - extent)
                    .max(0);
                let small = total / 2;
                let (begin, end) = if mode == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                let fit =
                    |p: i128| i64::try_from(p).map_err(|_| format!("padding {p} is too large"));
                pads[i] = fit(begin)?;
                pads[i + 2] = fit(end)?;
            }
            pads
        }
        other => return Err(format!("`auto_pad` is `{other}`")),
    };
    let conv = Conv {
        batch,
        channels,
        height,
        width,
        filters,
        kernel,
        strides,
        dilations,
        pads,
        group,
    };
    if conv.group != 1 && !conv.depthwise() {
        return Err(format!(
            "it is a grouped convolution (group {}, {} input and {} output channels) with no \
             single-matrix form; only group 1 and depthwise convolutions are lowered",
            conv.group, conv.channels, conv.filters
        ));
    }
    if conv.kernel != [kh, kw] || conv.output().is_none_or(|o| o.iter().any(|&d| d < 1)) {
        return Err(format!(
            "its kernel {:?} does not fit weights {weights:?} and input {shape:?}",
            conv.kernel
        ));
    }
    // Only a depthwise convolution's matrix is larger than its weights (zero off the
    // diagonal): bound it before anything is allocated.
    let matrix = kh
        .checked_mul(kw)
        .and_then(|n| n.checked_mul(channels))
        .and_then(|n| n.checked_mul(filters))
        .filter(|&n| n <= MAX_MATRIX);
    if matrix.is_none() {
        return Err(format!(
            "its weight matrix would hold {kh}·{kw}·{channels}·{filters} values, more than \
             {MAX_MATRIX}"
        ));
    }
    Ok(conv)
}

/// The most values a lowered weight matrix may hold (2^28, 1 GiB of `f32`): a dense
/// matrix is the weights themselves except for a depthwise convolution, whose matrix is
/// its weights times the channel count.
const MAX_MATRIX: i64 = 1 << 28;

/// The domain of the `Im2Col` nodes it writes.
const QONNX: &str = "qonnx.custom_op.general";

/// Conv weights `[C_out, C_in/group, kh, kw]` as the `[kh·kw·C_in, C_out]` matrix
/// `Im2Col`'s column order needs: row `(ky·kw + kx)·C_in + c`, column `o`. Depthwise
/// weights spread over the diagonal, zero elsewhere. Values stored as raw bytes move as
/// bytes, without a conversion.
fn weight_matrix(w: &Tensor, conv: &Conv) -> Result<Tensor, String> {
    let [kh, kw] = conv.kernel.map(|k| k as usize);
    let dims = [(kh * kw) as i64 * conv.channels, conv.filters];
    let width = w
        .raw_bytes()
        .filter(|raw| !w.is_empty() && raw.len() % w.len() == 0)
        .map(|raw| (raw, raw.len() / w.len()));
    let bytes = match width {
        Some((raw, 1)) => Some(rearrange::<1>(raw, conv)),
        Some((raw, 2)) => Some(rearrange::<2>(raw, conv)),
        Some((raw, 4)) => Some(rearrange::<4>(raw, conv)),
        Some((raw, 8)) => Some(rearrange::<8>(raw, conv)),
        _ => None,
    };
    if let Some(bytes) = bytes {
        return Ok(Tensor::from_raw("", w.elem_type(), &dims, bytes));
    }
    let a = Array::from_tensor(w)?;
    let values = match &a.values {
        Values::Float(v) => Values::Float(rearrange_values(v, conv)),
        Values::Int(v) => Values::Int(rearrange_values(v, conv)),
    };
    Array {
        elem: a.elem,
        dims: dims.iter().map(|&d| d as usize).collect(),
        values,
    }
    .to_tensor("")
}

/// For each element of the matrix in order, the index of the weight it holds (`None`:
/// off a depthwise diagonal, zero).
fn sources(conv: &Conv) -> impl Iterator<Item = Option<usize>> + '_ {
    let (filters, channels) = (conv.filters as usize, conv.channels as usize);
    let [kh, kw] = conv.kernel.map(|k| k as usize);
    let depthwise = conv.depthwise();
    let per_filter = if depthwise { 1 } else { channels };
    (0..kh * kw * channels).flat_map(move |row| {
        let (window, c) = (row / channels, row % channels);
        (0..filters).map(move |o| {
            let ci = if depthwise { (c == o).then_some(0)? } else { c };
            Some((o * per_filter + ci) * kh * kw + window)
        })
    })
}

fn rearrange<const W: usize>(raw: &[u8], conv: &Conv) -> Vec<u8> {
    let elements: &[[u8; W]] = raw.as_chunks::<W>().0;
    let [kh, kw] = conv.kernel.map(|k| k as usize);
    let mut out = vec![0u8; kh * kw * (conv.channels * conv.filters) as usize * W];
    for (to, from) in out.as_chunks_mut::<W>().0.iter_mut().zip(sources(conv)) {
        if let Some(k) = from {
            *to = elements[k];
        }
    }
    out
}

fn rearrange_values<T: Copy + Default>(v: &[T], conv: &Conv) -> Vec<T> {
    sources(conv)
        .map(|from| from.map_or_else(T::default, |k| v[k]))
        .collect()
}

/// A quantizer parameter of the weights, rearranged like them: a scalar stays, one value
/// per output channel becomes a `[1, C_out]` row.
fn per_channel_row(t: &Array, conv: &Conv) -> Result<Option<Array>, String> {
    let n = t.dims.iter().product::<usize>();
    if n == 1 {
        return Ok(None);
    }
    let per_output =
        t.dims.first() == Some(&(conv.filters as usize)) && t.dims[1..].iter().all(|&d| d == 1);
    if !per_output {
        return Err(format!(
            "its weight quantizer has a parameter of shape {:?}, neither a scalar nor one \
             value per output channel",
            t.dims
        ));
    }
    let mut row = t.clone();
    row.dims = vec![1, n];
    Ok(Some(row))
}

/// Where the weights come from: the constant itself, or a `Quant` of a constant.
struct Weights {
    /// (node, input) reading the constant to rearrange.
    at: (usize, usize),
    tensor: Tensor,
    /// The quantizer, when there is one: its node and its tensor feeding the `Conv`.
    quant: Option<(usize, String)>,
}

fn weights(rewriter: &Rewriter<'_>, i: usize) -> Result<Weights, String> {
    let w = &rewriter.graph().nodes[i].inputs[1];
    if let Some(t) = rewriter.constant(w) {
        return Ok(Weights {
            at: (i, 1),
            tensor: t.clone(),
            quant: None,
        });
    }
    let q = rewriter
        .producer(w)
        .ok_or_else(|| format!("weights {}", rewriter.not_constant(w)))?;
    let quant = &rewriter.graph().nodes[q];
    if quant.is_onnx() || quant.op_type != "Quant" {
        return Err(format!(
            "its weights '{w}' are computed by a {}",
            quant.op_type
        ));
    }
    if rewriter.reads(w) != 1 || rewriter.graph().is_output(w) {
        return Err(format!(
            "its quantized weights '{w}' are also read elsewhere"
        ));
    }
    let source = &quant.inputs[0];
    let t = rewriter
        .constant(source)
        .ok_or_else(|| format!("weights quantized from {}", rewriter.not_constant(source)))?;
    Ok(Weights {
        at: (q, 0),
        tensor: t.clone(),
        quant: Some((q, w.clone())),
    })
}

fn lower(rewriter: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let node = rewriter.graph().nodes[i].clone();
    if node.inputs.get(2).is_some_and(|b| !b.is_empty()) {
        return Err("its bias could not be moved out (see ExtractBiasFromConv)".into());
    }
    let (x, y) = match (node.inputs.first(), node.outputs.first()) {
        (Some(x), Some(y)) if node.inputs.len() >= 2 => (x.clone(), y.clone()),
        _ => return Err("it does not have an input, weights and an output".into()),
    };
    let source = weights(rewriter, i)?;
    let dims = source.tensor.dims().to_vec();
    let conv = geometry(rewriter, &node, &dims)?;
    // The geometry bounds the dimensions; the weights must also hold what they declare.
    match source.tensor.stored_len() {
        Ok(n) if n == source.tensor.len() => {}
        Ok(n) => {
            return Err(format!(
                "its weights declare shape {dims:?} but hold {n} values"
            ));
        }
        Err(e) => return Err(format!("its weights cannot be read: {e}")),
    }
    let elem = source.tensor.elem_type();

    // Everything that can fail, before the graph changes.
    let matrix = weight_matrix(&source.tensor, &conv)?;
    let mut quant_params = Vec::new();
    if let Some((q, _)) = &source.quant {
        for k in [1, 2] {
            let Some(name) = rewriter.graph().nodes[*q].inputs.get(k) else {
                continue;
            };
            let t = rewriter
                .constant(name)
                .ok_or_else(|| format!("its weight quantizer {}", rewriter.not_constant(name)))?;
            if let Some(row) = per_channel_row(&Array::from_tensor(t)?, &conv)? {
                quant_params.push((k, row.to_tensor("")?));
            }
        }
    }

    let [oh, ow] = conv.output().ok_or("its output size is out of range")?;
    let (n, c, h, w) = (conv.batch, conv.channels, conv.height, conv.width);
    let [kh, kw] = conv.kernel;
    let patch = kh * kw * c;
    let dt = |t: &str| rewriter.datatype(t).unwrap_or(QuantType::Float32);
    let (in_dt, out_dt) = (dt(&x), dt(&y));

    rewriter.replace_constant(source.at.0, source.at.1, matrix);
    for (k, row) in quant_params {
        rewriter.replace_constant(source.at.0, k, row);
    }
    let weights_in = match &source.quant {
        Some((_, quantized)) => {
            rewriter.record_type(ValueInfo::tensor(quantized, elem, &[patch, conv.filters]));
            quantized.clone()
        }
        None => rewriter.graph().nodes[i].inputs[1].clone(),
    };
    if conv.depthwise() {
        let sparsity = format!("{{'dw': {{'kernel_shape': [{kh}, {kw}]}}}}");
        let weights = rewriter.graph().nodes[source.at.0].inputs[source.at.1].clone();
        rewriter
            .graph_mut()
            .set_annotations("tensor_sparsity", [(weights, sparsity)]);
    }

    let mut nodes = Vec::new();
    let nhwc = rewriter.fresh(&format!("{x}_nhwc"));
    rewriter.record_type(ValueInfo::tensor(&nhwc, elem, &[n, h, w, c]));
    rewriter.annotate(&nhwc, in_dt);
    let to_nhwc = Node::new("Transpose", [x.clone()], [nhwc.clone()])
        .with_attribute("perm", AttributeValue::Ints(vec![0, 2, 3, 1]));
    nodes.push(rewriter.named_after(&node, "to_nhwc", to_nhwc));

    let needs_im2col = conv.kernel != [1, 1] || conv.strides != [1, 1] || conv.pads != [0; 4];
    let mut rows = nhwc.clone();
    if needs_im2col {
        rows = rewriter.fresh(&format!("{x}_im2col"));
        rewriter.record_type(ValueInfo::tensor(&rows, elem, &[n, oh, ow, patch]));
        rewriter.annotate(&rows, in_dt);
        let mut im2col = Node::new("Im2Col", [nhwc], [rows.clone()])
            .with_attribute("stride", AttributeValue::Ints(conv.strides.to_vec()))
            .with_attribute("kernel_size", AttributeValue::Ints(conv.kernel.to_vec()))
            .with_attribute("pad_amount", AttributeValue::Ints(conv.pads.to_vec()))
            .with_attribute(
                "input_shape",
                AttributeValue::String(format!("({n},{h},{w},{c})").into_bytes()),
            )
            .with_attribute("depthwise", AttributeValue::Int(conv.depthwise().into()))
            .with_attribute("dilations", AttributeValue::Ints(conv.dilations.to_vec()));
        im2col.domain = QONNX.into();
        nodes.push(rewriter.named_after(&node, "im2col", im2col));
    }

    let product = rewriter.fresh(&format!("{y}_nhwc"));
    rewriter.record_type(ValueInfo::tensor(
        &product,
        elem,
        &[n, oh, ow, conv.filters],
    ));
    rewriter.annotate(&product, out_dt);
    let matmul = Node::new("MatMul", [rows, weights_in], [product.clone()]);
    nodes.push(rewriter.named_after(&node, "matmul", matmul));
    let to_nchw = Node::new("Transpose", [product], [y])
        .with_attribute("perm", AttributeValue::Ints(vec![0, 3, 1, 2]));
    nodes.push(rewriter.named_after(&node, "to_nchw", to_nchw));
    rewriter.replace_node(i, nodes);
    Ok(())
}
