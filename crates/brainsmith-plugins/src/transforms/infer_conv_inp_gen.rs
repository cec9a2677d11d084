//! [`InferConvInpGen`]

use brainsmith_core::ir::{AttributeValue, Graph, canonical_domain};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;

use crate::kernels::{
    ConvolutionInputGenerator, ConvolutionInputGeneratorAttrs, FINN_DOMAIN, FmPaddingAttrs,
    RamStyle,
};
use crate::ops::window::Window;

/// Maps each QONNX `Im2Col` (what `LowerConvsToMatMul` writes in front of a
/// convolution's `MatMul`) onto the sliding window generator
/// (`ConvolutionInputGenerator`), as FINN's convolution input inference does: same
/// window, same order, `SIMD` = all channels until folding says otherwise. A 1x1 window
/// with a stride becomes a generator too (FINN needs a separate down-sampler for it).
/// Zero padding becomes an `FMPadding` kernel in front of the generator, as in FINN.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed:
/// an input that is not integer or not a static NHWC shape, padding with a value other
/// than zero (or one its type cannot hold), a window that does not fit. Run `InferShapes`
/// and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
/// use brainsmith_plugins::{InferConvInpGen, LowerConvsToMatMul};
///
/// // A 2x2 convolution lowered, then its Im2Col mapped onto the window generator.
/// let mut m = Sketch::new().int_input("x", &[1, 2, 3, 3], "UINT4")
///     .constant("w", &[1, 2, 2, 2], &[1.0; 8]).op("Conv", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&LowerConvsToMatMul, &mut m));
/// assert!(apply(&InferConvInpGen, &mut m));
/// assert_eq!(op_types(&m), ["Transpose", "ConvolutionInputGenerator", "MatMul", "Transpose"]);
/// ```
#[transform(infers = ConvolutionInputGenerator, consumes = ["Im2Col"], tags = ["finn", "convolution"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferConvInpGen;

impl Transform for InferConvInpGen {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        for (i, node) in model.graph.nodes.iter().enumerate() {
            if node.op_type != "Im2Col"
                || canonical_domain(&node.domain) != "qonnx.custom_op.general"
            {
                continue;
            }
            match plan(&model.graph, i) {
                Ok(attrs) => mappings.push((i, attrs)),
                Err(why) => ctx.warn(node.name.clone(), format!("left as Im2Col: {why}")),
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let mut fresh = |base: String| names.fresh(base);
        let graph = &mut model.graph;
        let mut replacements = Vec::new();
        for (i, (padding, attrs)) in mappings {
            let old = &graph.nodes[i];
            let name = old.name.clone();
            let (x, y) = (old.inputs[0].clone(), old.outputs[0].clone());
            let mut nodes = Vec::new();
            let input = match padding {
                Some(pad) => {
                    let padded = fresh(format!("{name}_padded"));
                    let mut node = Node::new("FMPadding", [x], [padded.clone()])
                        .with_name(fresh(format!("{name}_padding")))
                        .with_domain(FINN_DOMAIN);
                    pad.write(&mut node);
                    node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
                    graph.set_datatype(&padded, pad.datatype);
                    nodes.push(node);
                    padded
                }
                None => x,
            };
            let mut node = Node::new("ConvolutionInputGenerator", [input], [y])
                .with_name(name)
                .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            nodes.push(node);
            replacements.push((i, nodes));
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

/// The padding kernel in front, if the window pads, and the generator.
type Plan = (Option<FmPaddingAttrs>, ConvolutionInputGeneratorAttrs);

fn plan(graph: &Graph, i: usize) -> Result<Plan, String> {
    let node = &graph.nodes[i];
    let [x] = node.inputs.as_slice() else {
        return Err(format!("it has {} inputs, not 1", node.inputs.len()));
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
    let &[n, h, w, c] = shape.as_slice() else {
        return Err(format!("its input shape {shape:?} is not NHWC"));
    };
    if n != 1 || [h, w, c].iter().any(|&d| d < 1) {
        return Err(format!(
            "its input shape {shape:?} is not one frame [1, H, W, C] (the generator \
             streams one frame at a time)"
        ));
    }
    let two = |name: &str, default: [u64; 2]| -> Result<Vec<u64>, String> {
        match node.attr_ints(name) {
            None => Ok(default.to_vec()),
            Some(&[a, b]) if a > 0 && b > 0 => Ok(vec![a as u64, b as u64]),
            Some(other) => Err(format!("its `{name}` {other:?} is not two positive values")),
        }
    };
    let kernel = match node.attr_ints("kernel_size") {
        Some(&[a, b]) if a > 0 && b > 0 => vec![a as u64, b as u64],
        other => {
            return Err(format!(
                "its `kernel_size` {other:?} is not two positive values"
            ));
        }
    };
    let stride = two("stride", [1, 1])?;
    let dilation = two("dilations", [1, 1])?;
    let pads: Vec<u64> = match node.attr_ints("pad_amount") {
        None => vec![0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
            p.iter().map(|&v| v as u64).collect()
        }
        Some(other) => return Err(format!("its `pad_amount` {other:?} is not four sizes")),
    };
    let padding = if pads.iter().any(|&p| p != 0) {
        let value = node.attr_float("pad_value").unwrap_or(0.0);
        if value != 0.0 {
            return Err(format!(
                "it pads with {value}; the padding kernel (FMPadding) pads with zeros"
            ));
        }
        let (lo, hi) = dt.range();
        if lo > 0.0 || hi < 0.0 {
            return Err(format!("its input type {dt} cannot hold the zero padding"));
        }
        Some(FmPaddingAttrs {
            image: vec![h as u64, w as u64],
            padding: pads.clone(),
            channels: c as u64,
            simd: c as u64,
            datatype: dt,
            frames: 1,
        })
    } else {
        None
    };
    let (h, w) = (
        h + (pads[0] + pads[2]) as i64,
        w + (pads[1] + pads[3]) as i64,
    );
    let u = |v: &[u64]| [v[0] as usize, v[1] as usize];
    let window = Window {
        kernel: u(&kernel),
        stride: u(&stride),
        dilation: u(&dilation),
        pads: [0; 4],
    };
    let [oh, ow] = window.out_dims([h as usize, w as usize])?;
    let generator = ConvolutionInputGeneratorAttrs {
        kernel,
        channels: c as u64,
        ifm: vec![h as u64, w as u64],
        ofm: vec![oh as u64, ow as u64],
        simd: c as u64,
        stride,
        dilation,
        input: dt,
        output: dt,
        depthwise: node.attr_int("depthwise").unwrap_or(0) != 0,
        ram_style: RamStyle::Distributed,
        parallel_window: false,
        is_1d: h == 1 || w == 1,
        dynamic_mode: false,
    };
    Ok((padding, generator))
}
