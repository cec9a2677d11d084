//! FINN's kernel set: the MVAU kernel's hooks on FINN's own specialised model, and
//! `InferMvau` mapping quantized and binarised layers onto it, every mapped graph run
//! bit-exact against the one it came from on seeded inputs.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{Registry, Transform, TransformContext};
use brainsmith_plugins::exec::{execute, max_abs_difference};
use brainsmith_plugins::folding::FoldingConfig;
use brainsmith_plugins::{
    AbsorbConsecutiveTransposes, InferAddStreams, InferChannelwiseOp, InferConvInpGen,
    InferDataTypes, InferDuplicateStreams, InferGlobalAccPool, InferLabelSelect, InferMvau,
    InferShapes, InferStreamingMaxPool, InferThresholding, LowerConvsToMatMul,
};
use brainsmith_tests::{Lcg, cli as brainsmith, models_dir};

const QONNX: &str = "qonnx.custom_op.general";

/// `x [N.., mw] (idt) -> MatMul(W [mw, mh], values lo..=hi) -> MultiThreshold -> y`.
fn layer(lead: &[i64], mw: i64, mh: i64, idt: QuantType, w: (i64, i64), out: &str) -> Model {
    let mut g = Lcg(mw as u64 * 31 + mh as u64);
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    let x_shape: Vec<i64> = lead.iter().copied().chain([mw]).collect();
    let y_shape: Vec<i64> = lead.iter().copied().chain([mh]).collect();
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &x_shape)];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &y_shape)];
    let weights: Vec<f32> = (0..mw * mh)
        .map(|_| {
            if w == (-1, 1) {
                if g.int(0, 1) == 0.0 { -1.0 } else { 1.0 }
            } else {
                g.int(w.0, w.1) as f32
            }
        })
        .collect();
    let bipolar_out = out == "BIPOLAR";
    let steps = if bipolar_out { 1 } else { 3 };
    let thresholds: Vec<f32> = (0..mh)
        .flat_map(|c| {
            let base = (c % 5) as f32 - 2.0;
            (0..steps).map(move |s| base + 2.0 * s as f32 - 1.5)
        })
        .collect();
    *m.graph.initializers = vec![
        Tensor::from_f32("w", &[mw, mh], &weights),
        Tensor::from_f32("t", &[mh, steps], &thresholds),
    ];
    m.graph.set_datatype("x", idt);
    let mut mt = Node::new("MultiThreshold", ["h", "t"], ["y"])
        .with_name("act")
        .with_domain(QONNX)
        .with_attribute("out_dtype", AttributeValue::string(out));
    if bipolar_out {
        mt.set_attribute("out_scale", AttributeValue::Float(2.0));
        mt.set_attribute("out_bias", AttributeValue::Float(-1.0));
    }
    if lead.len() > 1 {
        mt.set_attribute("data_layout", AttributeValue::string("NHWC"));
    }
    *m.graph.nodes = vec![Node::new("MatMul", ["x", "w"], ["h"]).with_name("fc"), mt];
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut m, &mut TransformContext::default()).unwrap();
    }
    m
}

fn map(original: &Model) -> (Model, TransformContext) {
    let mut mapped = original.clone();
    let mut ctx = TransformContext::default();
    InferMvau.apply(&mut mapped, &mut ctx).unwrap();
    (mapped, ctx)
}

/// Runs both models on 20 seeded inputs of `idt`; every output equal bit for bit.
fn assert_bit_exact(original: &Model, mapped: &Model, idt: QuantType) {
    let shape = original.graph.inputs[0].static_shape().unwrap();
    let n: i64 = shape.iter().product();
    let (lo, hi) = idt.range();
    let mut g = Lcg(7);
    for _ in 0..20 {
        let x: Vec<f32> = (0..n)
            .map(|_| {
                if idt == QuantType::Bipolar {
                    if g.int(0, 1) == 0.0 { -1.0 } else { 1.0 }
                } else {
                    g.int(lo as i64, hi as i64) as f32
                }
            })
            .collect();
        let x = Tensor::from_f32("x", &shape, &x);
        assert_eq!(max_abs_difference(original, mapped, &[x]).unwrap(), 0.0);
    }
}

#[test]
fn quantized_and_binarised_layers_map_onto_mvau_bit_exact() {
    let cases = [
        // (lead, MW, MH, input type, weight range, output type)
        (vec![1], 16, 8, QuantType::UInt(2), (-2, 1), "UINT2"),
        (vec![1], 12, 6, QuantType::Int(4), (-1, 1), "INT3"),
        (vec![1, 3, 3], 8, 4, QuantType::UInt(4), (-8, 7), "UINT2"),
        (vec![1], 32, 5, QuantType::Bipolar, (-1, 1), "BIPOLAR"),
        (vec![1], 16, 4, QuantType::UInt(2), (-2, 1), "BIPOLAR"),
    ];
    for (lead, mw, mh, idt, w, out) in cases {
        let original = layer(&lead, mw, mh, idt, w, out);
        let (mapped, ctx) = map(&original);
        assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
        assert_eq!(mapped.graph.nodes.len(), 1, "{lead:?} {mw} {mh} {idt}");
        let node = &mapped.graph.nodes[0];
        assert_eq!(node.op_type, "MVAU");
        assert_eq!(
            node.attr_int("binaryXnorMode"),
            Some(i64::from(idt == QuantType::Bipolar))
        );
        assert_bit_exact(&original, &mapped, idt);
    }
}

#[test]
fn the_accumulator_is_as_narrow_as_the_sums_allow() {
    let original = layer(&[1], 16, 8, QuantType::UInt(2), (-2, 1), "UINT2");
    let (mapped, _) = map(&original);
    // The extreme sums of each column, inputs 0..=3.
    let w = original.graph.constant("w").unwrap().to_f64().unwrap();
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for col in 0..8 {
        let column = (0..16).map(|r| w[r * 8 + col]);
        lo = lo.min(column.clone().filter(|&v| v < 0.0).sum::<f64>() * 3.0);
        hi = hi.max(column.filter(|&v| v > 0.0).sum::<f64>() * 3.0);
    }
    let acc: QuantType = mapped.graph.nodes[0]
        .attr_str("accDataType")
        .unwrap()
        .parse()
        .unwrap();
    let QuantType::Int(bits) = acc else {
        panic!("{acc}")
    };
    let (l, h) = acc.range();
    assert!(l <= lo && hi <= h, "{acc} holds [{lo}, {hi}]");
    let (l, h) = QuantType::Int(bits - 1).range();
    assert!(
        lo < l || hi > h,
        "INT{} would hold [{lo}, {hi}] too",
        bits - 1
    );
    let (mapped, _) = map(&layer(&[1], 32, 5, QuantType::Bipolar, (-1, 1), "BIPOLAR"));
    assert_eq!(mapped.graph.nodes[0].attr_str("accDataType"), Some("UINT6"));
}

#[test]
fn a_layer_that_cannot_be_mapped_says_which_condition_failed() {
    // Fractional weights.
    let mut m = layer(&[1], 8, 4, QuantType::UInt(2), (-2, 1), "UINT2");
    m.graph.initializers[0] = Tensor::from_f32("w", &[8, 4], &[0.5; 32]);
    let (mapped, ctx) = map(&m);
    assert_eq!(mapped.graph.nodes[0].op_type, "MatMul");
    assert_eq!(ctx.diagnostics()[0].node, "fc");
    assert!(
        ctx.diagnostics()[0].message.contains("not integers"),
        "{:?}",
        ctx.diagnostics()
    );
    // A float input.
    let mut m = layer(&[1], 8, 4, QuantType::UInt(2), (-2, 1), "UINT2");
    m.graph.set_datatype("x", QuantType::Float32);
    let (_, ctx) = map(&m);
    assert!(
        ctx.diagnostics()[0].message.contains("not an integer type"),
        "{:?}",
        ctx.diagnostics()
    );
    // Per-channel thresholds on the wrong channel axis.
    let mut m = layer(&[1, 3, 3], 8, 4, QuantType::UInt(4), (-8, 7), "UINT2");
    m.graph.nodes[1]
        .attributes
        .retain(|a| a.name != "data_layout");
    let (_, ctx) = map(&m);
    assert!(
        ctx.diagnostics()[0].message.contains("NHWC"),
        "{:?}",
        ctx.diagnostics()
    );
}

#[test]
fn finns_specialised_model_reads_as_mvau_with_finns_estimates() {
    let path = models_dir().join("finn_cybsec_mvau_hls.onnx");
    let (code, json, err) = brainsmith(&["inspect", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        assert_eq!(n["kernel"], "brainsmith:MVAU");
        assert_eq!(n["backend"], "brainsmith:MVAU_hls");
        // FINN's model keeps its weights decoupled (the default), which the HLS backend
        // generates with its weight streamer: no refusal.
        assert!(n["backend_refuses"].is_null(), "{n}");
    }
    // FINN's cycle formula, (MH / PE) * (MW / SIMD) per frame.
    let cycles: Vec<u64> = nodes
        .iter()
        .map(|n| n["cycles"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, [600 * 64, 64 * 64, 64 * 64, 64]);
    // FINN's LUT formula for the first layer: 300 + 1.1 * PE * (multipliers + adder tree +
    // accumulator + thresholds + comparators); W + A = 3 bits, one SIMD lane: 3 + 3; a
    // 32-bit accumulator; 3 levels of 32 bits, one 64-deep threshold memory: 96 + 96.
    let expected = 300.0 + 1.1 * (3.0 + 3.0 + 32.0 + 96.0 + 96.0);
    assert_eq!(nodes[0]["resources"]["lut"], expected as u64);
}

#[test]
fn the_mvau_executes_finns_model_like_the_matmul_and_thresholds_it_came_from() {
    // Rebuild the first layer of FINN's model as MatMul + MultiThreshold and compare.
    let finn = Model::load(models_dir().join("finn_cybsec_mvau_hls.onnx")).unwrap();
    let mvau = &finn.graph.nodes[0];
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("MVAU").unwrap().instantiate();
    let mut g = Lcg(3);
    let x: Vec<f32> = (0..600)
        .map(|_| if g.int(0, 1) == 0.0 { -1.0 } else { 1.0 })
        .collect();
    let x = Tensor::from_f32("x", &[1, 600], &x);
    let inputs = [
        x.clone(),
        finn.graph.constant(&mvau.inputs[1]).unwrap().clone(),
        finn.graph.constant(&mvau.inputs[2]).unwrap().clone(),
    ];
    let ours = kernel.execute(mvau, &finn.graph, &inputs).unwrap();
    let mut reference = Model::default();
    reference.set_opset_version("", 13);
    *reference.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 600])];
    *reference.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[1, 64])];
    let mut w = inputs[1].clone();
    w.set_name("w");
    let mut t = inputs[2].clone();
    t.set_name("t");
    *reference.graph.initializers = vec![w, t];
    *reference.graph.nodes = vec![
        Node::new("MatMul", ["x", "w"], ["h"]),
        Node::new("MultiThreshold", ["h", "t"], ["y"]).with_domain(QONNX),
    ];
    let expected = execute(&reference, &[x]).unwrap();
    assert_eq!(ours[0].to_f64().unwrap(), expected[0].to_f64().unwrap());
    assert!(expected[0].to_f64().unwrap().iter().any(|&v| v > 0.0));
}

/// A standalone activation: `x (shape, idt) -> MultiThreshold(t [rows, steps]) -> y`,
/// thresholds seeded over a little more than the input's range, fractional ones among
/// them, ascending per row.
#[allow(clippy::too_many_arguments)]
fn activation(
    shape: &[i64],
    layout: Option<&str>,
    idt: QuantType,
    rows: i64,
    steps: i64,
    out: QuantType,
    scale_bias: (f32, f32),
    seed: u64,
) -> Model {
    let mut g = Lcg(seed);
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, shape)];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, shape)];
    let (lo, hi) = if idt.is_integer() {
        idt.range()
    } else {
        (-8.0, 8.0)
    };
    let t: Vec<f32> = (0..rows)
        .flat_map(|_| {
            let mut row: Vec<f32> = (0..steps)
                .map(|_| {
                    let v = g.int(lo as i64 - 2, hi as i64 + 2) as f32;
                    if g.int(0, 3) == 0.0 { v + 0.5 } else { v }
                })
                .collect();
            row.sort_by(f32::total_cmp);
            row
        })
        .collect();
    *m.graph.initializers = vec![Tensor::from_f32("t", &[rows, steps], &t)];
    m.graph.set_datatype("x", idt);
    let mut mt = Node::new("MultiThreshold", ["x", "t"], ["y"])
        .with_name("act")
        .with_domain(QONNX)
        .with_attribute("out_dtype", AttributeValue::string(&out.to_string()))
        .with_attribute("out_scale", AttributeValue::Float(scale_bias.0))
        .with_attribute("out_bias", AttributeValue::Float(scale_bias.1));
    if let Some(layout) = layout {
        mt.set_attribute("data_layout", AttributeValue::string(layout));
    }
    *m.graph.nodes = vec![mt];
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut m, &mut TransformContext::default()).unwrap();
    }
    m
}

fn map_thresholds(original: &Model) -> (Model, TransformContext) {
    let mut mapped = original.clone();
    let mut ctx = TransformContext::default();
    InferThresholding.apply(&mut mapped, &mut ctx).unwrap();
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut mapped, &mut TransformContext::default())
            .unwrap();
    }
    (mapped, ctx)
}

/// (input shape, data_layout, input type, threshold rows, steps, output type, (scale, bias)).
type ActivationCase = (
    &'static [i64],
    Option<&'static str>,
    QuantType,
    i64,
    i64,
    QuantType,
    (f32, f32),
);

#[test]
fn standalone_activations_map_onto_thresholding_bit_exact() {
    use QuantType::*;
    let cases: [ActivationCase; 7] = [
        // 2-D, per-channel, unsigned count.
        (&[2, 8], None, UInt(4), 8, 3, UInt(2), (1.0, 0.0)),
        // Signed count: bias -2.
        (&[1, 6], None, Int(4), 6, 3, Int(2), (1.0, -2.0)),
        // 4-D NCHW per-channel: transposed around the kernel.
        (&[1, 4, 3, 3], None, Int(3), 4, 3, UInt(2), (1.0, 0.0)),
        // 4-D NHWC: channels already last.
        (
            &[1, 3, 3, 4],
            Some("NHWC"),
            UInt(2),
            4,
            3,
            UInt(2),
            (1.0, 0.0),
        ),
        // One row shared by every channel: the layout does not matter.
        (&[1, 4, 2, 2], None, UInt(8), 1, 15, UInt(4), (1.0, 0.0)),
        // Sign: a bipolar output.
        (&[1, 10], None, Int(8), 10, 1, Bipolar, (2.0, -1.0)),
        // A 1-bit input.
        (&[1, 5], None, UInt(1), 5, 1, UInt(1), (1.0, 0.0)),
    ];
    for (i, (shape, layout, idt, rows, steps, out, sb)) in cases.into_iter().enumerate() {
        let original = activation(shape, layout, idt, rows, steps, out, sb, 40 + i as u64);
        let (mapped, ctx) = map_thresholds(&original);
        assert!(
            ctx.diagnostics().is_empty(),
            "case {i}: {:?}",
            ctx.diagnostics()
        );
        let ops: Vec<&str> = mapped
            .graph
            .nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .collect();
        let expected: &[&str] = if shape.len() == 4 && layout.is_none() && rows > 1 {
            &["Transpose", "Thresholding", "Transpose"]
        } else {
            &["Thresholding"]
        };
        assert_eq!(ops, expected, "case {i}");
        let node = mapped
            .graph
            .nodes
            .iter()
            .find(|n| n.op_type == "Thresholding")
            .unwrap();
        // The stored thresholds are integers inside the input's range (plus one).
        let t = mapped
            .graph
            .constant(&node.inputs[1])
            .unwrap()
            .to_f64()
            .unwrap();
        let (lo, hi) = idt.range();
        assert!(
            t.iter()
                .all(|v| v.fract() == 0.0 && *v >= lo && *v <= hi + 1.0),
            "case {i}"
        );
        assert_bit_exact(&original, &mapped, idt);
        // The kernel's checks accept what the mapping wrote.
        let registry = Registry::global().unwrap();
        let kernel = registry
            .kernel("brainsmith:Thresholding")
            .unwrap()
            .instantiate();
        kernel
            .check(node, &mapped.graph)
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
    }
}

#[test]
fn an_activation_that_cannot_be_mapped_says_which_condition_failed() {
    use QuantType::*;
    let cases: [(Model, &str); 4] = [
        (
            activation(&[1, 4], None, Float32, 4, 3, UInt(2), (1.0, 0.0), 1),
            "not an integer type",
        ),
        (
            activation(&[1, 4], None, UInt(4), 4, 3, UInt(2), (0.5, 0.0), 2),
            "not an integer count plus an integer bias",
        ),
        (
            activation(&[1, 4, 5], None, UInt(4), 4, 3, UInt(2), (1.0, 0.0), 3),
            "channels must be the last axis",
        ),
        (
            activation(&[1, 4], None, UInt(4), 4, 7, UInt(2), (1.0, 0.0), 4),
            "beyond its out_dtype UINT2",
        ),
    ];
    for (original, why) in cases {
        let (mapped, ctx) = map_thresholds(&original);
        assert_eq!(mapped.graph.nodes[0].op_type, "MultiThreshold");
        let d = ctx.diagnostics();
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains(why), "{} lacks {why}", d[0].message);
        assert!(
            d[0].message.starts_with("left as MultiThreshold"),
            "{}",
            d[0].message
        );
    }
}

/// `x [1, C, H, W] (UINT4) -> Conv(W [co, C, k_h, k_w], integer) -> y`, lowered to
/// `Transpose, Im2Col, MatMul, Transpose` and typed.
fn lowered_conv(
    c: i64,
    hw: [i64; 2],
    co: i64,
    k: [i64; 2],
    s: [i64; 2],
    d: [i64; 2],
    pads: [i64; 4],
) -> Model {
    let mut g = Lcg((c * 7 + co) as u64);
    let oh = (hw[0] + pads[0] + pads[2] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
    let ow = (hw[1] + pads[1] + pads[3] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    *m.graph.inputs = vec![ValueInfo::tensor(
        "x",
        ElemType::Float,
        &[1, c, hw[0], hw[1]],
    )];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[1, co, oh, ow])];
    let w: Vec<f32> = (0..co * c * k[0] * k[1])
        .map(|_| g.int(-2, 1) as f32)
        .collect();
    *m.graph.initializers = vec![Tensor::from_f32("w", &[co, c, k[0], k[1]], &w)];
    m.graph.set_datatype("x", QuantType::UInt(4));
    let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
    *m.graph.nodes = vec![
        Node::new("Conv", ["x", "w"], ["y"])
            .with_name("conv")
            .with_attribute("kernel_shape", ints(&k))
            .with_attribute("strides", ints(&s))
            .with_attribute("dilations", ints(&d))
            .with_attribute("pads", ints(&pads)),
    ];
    let mut ctx = TransformContext::default();
    for t in [
        &InferShapes as &dyn Transform,
        &LowerConvsToMatMul,
        &InferShapes,
        &InferDataTypes,
    ] {
        t.apply(&mut m, &mut ctx).unwrap();
    }
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    m
}

#[test]
fn convolutions_map_onto_the_window_generator_and_the_mvau_bit_exact() {
    let cases = [
        (3, [6, 6], 4, [3, 3], [1, 1], [1, 1]),
        (2, [7, 5], 3, [2, 3], [2, 1], [1, 1]),
        (2, [7, 7], 2, [3, 3], [1, 1], [2, 2]),
        (4, [6, 6], 2, [1, 1], [2, 2], [1, 1]),
    ];
    for (i, (c, hw, co, k, s, d)) in cases.into_iter().enumerate() {
        let lowered = lowered_conv(c, hw, co, k, s, d, [0, 0, 0, 0]);
        let mut mapped = lowered.clone();
        let mut ctx = TransformContext::default();
        for t in [&InferConvInpGen as &dyn Transform, &InferShapes, &InferMvau] {
            t.apply(&mut mapped, &mut ctx).unwrap();
        }
        assert!(
            ctx.diagnostics().is_empty(),
            "case {i}: {:?}",
            ctx.diagnostics()
        );
        let ops: Vec<&str> = mapped
            .graph
            .nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .collect();
        assert_eq!(
            ops,
            [
                "Transpose",
                "ConvolutionInputGenerator",
                "MVAU",
                "Transpose"
            ],
            "case {i}"
        );
        assert_bit_exact(&lowered, &mapped, QuantType::UInt(4));
        // The generator's own checks accept what the mapping wrote.
        let registry = Registry::global().unwrap();
        let swg = registry
            .kernel("ConvolutionInputGenerator")
            .unwrap()
            .instantiate();
        swg.check(&mapped.graph.nodes[1], &mapped.graph)
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
    }
}

#[test]
fn an_im2col_that_cannot_be_mapped_says_why() {
    let mut m = lowered_conv(2, [5, 5], 2, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]);
    let im2col = m
        .graph
        .nodes
        .iter_mut()
        .find(|n| n.op_type == "Im2Col")
        .unwrap();
    im2col.set_attribute("pad_value", AttributeValue::Float(1.0));
    let mut ctx = TransformContext::default();
    assert!(!InferConvInpGen.apply(&mut m, &mut ctx).unwrap());
    let d = ctx.diagnostics();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("pads with zeros"), "{}", d[0].message);
    // A float input stays too.
    let mut m = lowered_conv(2, [5, 5], 2, [3, 3], [1, 1], [1, 1], [0, 0, 0, 0]);
    let x = m.graph.nodes[0].outputs[0].clone();
    m.graph.set_datatype(&x, QuantType::Float32);
    let mut ctx = TransformContext::default();
    assert!(!InferConvInpGen.apply(&mut m, &mut ctx).unwrap());
    assert!(
        ctx.diagnostics()[0].message.contains("not an integer type"),
        "{:?}",
        ctx.diagnostics()
    );
}

#[test]
fn max_pools_map_onto_the_streaming_pool_bit_exact() {
    // (C, [H, W], window, ceil mode)
    let cases = [
        (3, [4, 4], [2, 2], 0),
        (2, [7, 5], [3, 2], 0),
        (2, [5, 5], [2, 2], 1),
    ];
    for (i, (c, hw, k, ceil)) in cases.into_iter().enumerate() {
        let mut m = Model::default();
        m.set_opset_version("", 13);
        *m.graph.inputs = vec![ValueInfo::tensor(
            "x",
            ElemType::Float,
            &[1, c, hw[0], hw[1]],
        )];
        m.graph.set_datatype("x", QuantType::Int(4));
        let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
        *m.graph.nodes = vec![
            Node::new("MaxPool", ["x"], ["y"])
                .with_name("pool")
                .with_attribute("kernel_shape", ints(&k))
                .with_attribute("strides", ints(&k))
                .with_attribute("ceil_mode", AttributeValue::Int(ceil)),
        ];
        let mut ctx = TransformContext::default();
        for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
            t.apply(&mut m, &mut ctx).unwrap();
        }
        let y = m.graph.value_info_of("y").unwrap().clone();
        *m.graph.outputs = vec![y];
        let mut mapped = m.clone();
        InferStreamingMaxPool.apply(&mut mapped, &mut ctx).unwrap();
        InferShapes.apply(&mut mapped, &mut ctx).unwrap();
        assert!(
            ctx.diagnostics().is_empty(),
            "case {i}: {:?}",
            ctx.diagnostics()
        );
        let ops: Vec<&str> = mapped
            .graph
            .nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .collect();
        assert_eq!(
            ops,
            ["Transpose", "StreamingMaxPool", "Transpose"],
            "case {i}"
        );
        assert_bit_exact(&m, &mapped, QuantType::Int(4));
    }
    // Overlapping windows stay, and say why.
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 2, 4, 4])];
    m.graph.set_datatype("x", QuantType::Int(4));
    *m.graph.nodes = vec![
        Node::new("MaxPool", ["x"], ["y"])
            .with_name("pool")
            .with_attribute("kernel_shape", AttributeValue::Ints(vec![3, 3]))
            .with_attribute("strides", AttributeValue::Ints(vec![1, 1])),
    ];
    let mut ctx = TransformContext::default();
    InferShapes.apply(&mut m, &mut ctx).unwrap();
    assert!(!InferStreamingMaxPool.apply(&mut m, &mut ctx).unwrap());
    let d = ctx.diagnostics();
    assert!(
        d.iter()
            .any(|d| d.message.contains("moves by whole windows")),
        "{d:?}"
    );
}

#[test]
fn a_classifiers_top_k_maps_onto_the_label_selection_bit_exact() {
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 10])];
    *m.graph.initializers = vec![Tensor::from_i64("k", &[1], &[3])];
    m.graph.set_datatype("x", QuantType::UInt(3));
    *m.graph.nodes = vec![Node::new("TopK", ["x", "k"], ["", "labels"]).with_name("top")];
    let mut ctx = TransformContext::default();
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut m, &mut ctx).unwrap();
    }
    let labels = m.graph.value_info_of("labels").unwrap().clone();
    *m.graph.outputs = vec![labels];
    let mut mapped = m.clone();
    InferLabelSelect.apply(&mut mapped, &mut ctx).unwrap();
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    assert_eq!(mapped.graph.nodes[0].op_type, "LabelSelect");
    assert_eq!(
        mapped.graph.datatype("labels").unwrap().unwrap(),
        QuantType::UInt(8),
        "FINN's default: the labels' bits widened to a byte"
    );
    // UINT3 scores over ten labels: ties on every input.
    assert_bit_exact(&m, &mapped, QuantType::UInt(3));
    // Asking for the smallest stays, and says why.
    m.graph.nodes[0].set_attribute("largest", AttributeValue::Int(0));
    let mut ctx = TransformContext::default();
    assert!(!InferLabelSelect.apply(&mut m, &mut ctx).unwrap());
    assert!(
        ctx.diagnostics()[0].message.contains("smallest"),
        "{:?}",
        ctx.diagnostics()
    );
}

#[test]
fn transposes_between_channels_last_kernels_cancel() {
    // conv -> max pool: the mapped graph has NCHW transposes that meet between kernels.
    let mut m = lowered_conv(2, [6, 6], 3, [3, 3], [1, 1], [1, 1], [0, 0, 0, 0]);
    let y = m.graph.outputs[0].name.clone();
    let conv_out = "conv_out".to_owned();
    for node in m.graph.nodes.iter_mut() {
        for o in node.outputs.iter_mut().filter(|o| **o == y) {
            o.clone_from(&conv_out);
        }
    }
    m.graph.nodes.push(
        Node::new("MaxPool", [conv_out.as_str()], [y.as_str()])
            .with_name("pool")
            .with_attribute("kernel_shape", AttributeValue::Ints(vec![2, 2]))
            .with_attribute("strides", AttributeValue::Ints(vec![2, 2])),
    );
    m.graph.outputs[0] = ValueInfo::tensor(y.as_str(), ElemType::Float, &[1, 3, 2, 2]);
    let mut ctx = TransformContext::default();
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut m, &mut ctx).unwrap();
    }
    let mut mapped = m.clone();
    for t in [
        &InferConvInpGen as &dyn Transform,
        &InferMvau,
        // The pool reads the MVAU's accumulator: its type is known once inferred again.
        &InferShapes,
        &InferDataTypes,
        &InferStreamingMaxPool,
        &AbsorbConsecutiveTransposes,
        &InferShapes,
    ] {
        t.apply(&mut mapped, &mut ctx).unwrap();
    }
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    let ops: Vec<&str> = mapped
        .graph
        .nodes
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert_eq!(
        ops,
        [
            "Transpose",
            "ConvolutionInputGenerator",
            "MVAU",
            "StreamingMaxPool",
            "Transpose"
        ]
    );
    assert_bit_exact(&m, &mapped, QuantType::UInt(4));
    // Two transposes that do not cancel become one.
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[2, 3, 4])];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[3, 4, 2])];
    *m.graph.nodes = vec![
        Node::new("Transpose", ["x"], ["t"])
            .with_attribute("perm", AttributeValue::Ints(vec![1, 0, 2])),
        Node::new("Transpose", ["t"], ["y"])
            .with_attribute("perm", AttributeValue::Ints(vec![0, 2, 1])),
    ];
    let before = m.clone();
    assert!(
        AbsorbConsecutiveTransposes
            .apply(&mut m, &mut TransformContext::default())
            .unwrap()
    );
    assert_eq!(m.graph.nodes.len(), 1);
    assert_eq!(m.graph.nodes[0].attr_ints("perm"), Some(&[1, 2, 0][..]));
    let x = Tensor::from_f32(
        "x",
        &[2, 3, 4],
        &(0..24).map(|v| v as f32).collect::<Vec<_>>(),
    );
    assert_eq!(max_abs_difference(&before, &m, &[x]).unwrap(), 0.0);
}

#[test]
fn a_padded_convolution_gets_a_padding_kernel_in_front_bit_exact() {
    for (i, pads) in [[1, 1, 1, 1], [0, 2, 1, 0]].into_iter().enumerate() {
        let lowered = lowered_conv(3, [5, 4], 2, [3, 3], [1, 1], [1, 1], pads);
        let mut mapped = lowered.clone();
        let mut ctx = TransformContext::default();
        for t in [&InferConvInpGen as &dyn Transform, &InferShapes, &InferMvau] {
            t.apply(&mut mapped, &mut ctx).unwrap();
        }
        assert!(
            ctx.diagnostics().is_empty(),
            "case {i}: {:?}",
            ctx.diagnostics()
        );
        let ops: Vec<&str> = mapped
            .graph
            .nodes
            .iter()
            .map(|n| n.op_type.as_str())
            .collect();
        assert_eq!(
            ops,
            [
                "Transpose",
                "FMPadding",
                "ConvolutionInputGenerator",
                "MVAU",
                "Transpose"
            ],
            "case {i}"
        );
        assert_bit_exact(&lowered, &mapped, QuantType::UInt(4));
    }
}

#[test]
fn a_model_written_before_finn_0_10_reads_its_mem_mode_in_the_old_spelling() {
    // FINN 0.9 wrote `mem_mode = "const"` where today's FINN writes "internal_embedded".
    let mut m = Model::load(models_dir().join("finn_cybsec_mvau_hls.onnx")).unwrap();
    for node in m.graph.nodes.iter_mut() {
        node.set_attribute("mem_mode", AttributeValue::string("const"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.onnx");
    m.save(&path).unwrap();
    let (code, json, err) = brainsmith(&["inspect", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for n in v["nodes"].as_array().unwrap() {
        // Inspect shows the model's text; the kernel reads it as embedded weights, which
        // is what the HLS backend generates: no refusal, unlike the decoupled original.
        let mem_mode = n["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "mem_mode")
            .unwrap();
        assert_eq!(mem_mode["value"], "\"const\"", "{n}");
        assert!(n["backend_refuses"].is_null(), "{n}");
    }
}

#[test]
fn a_folding_configuration_is_checked_whole_and_applies_all_or_nothing() {
    let (mut m, _) = map(&layer(&[1], 8, 6, QuantType::Int(4), (-2, 1), "UINT2"));
    let name = m.graph.nodes[0].name.clone();
    let registry = Registry::global().unwrap();
    let before = m.clone();
    // A node the model does not have, an attribute MVAU does not declare, a SIMD that
    // does not divide MW and a PE of the wrong kind: all reported, nothing applied.
    let bad = format!(
        r#"{{ "Defaults": {{ "ram_style": ["block", ["MVAU"]] }},
              "{name}": {{ "SIMD": 3, "PE": "two", "SMID": 2 }},
              "{name}x": {{ "PE": 2 }} }}"#
    );
    let problems = FoldingConfig::parse(&bad)
        .unwrap()
        .apply(registry, &mut m)
        .unwrap_err();
    let all = problems.join("\n");
    assert_eq!(problems.len(), 3, "{all}");
    assert!(
        all.contains(&format!(
            "'{name}x': the model has no node of that name; did you mean '{name}'?"
        )),
        "{all}"
    );
    assert!(
        all.contains("attribute 'SMID' is not one of its kernel's"),
        "{all}"
    );
    assert!(
        all.contains("attribute 'PE': expected INT, found STRING"),
        "{all}"
    );
    assert_eq!(m, before);
    // Rules across attributes, once every attribute reads.
    let rule = format!(r#"{{ "{name}": {{ "SIMD": 3 }} }}"#);
    let problems = FoldingConfig::parse(&rule)
        .unwrap()
        .apply(registry, &mut m)
        .unwrap_err();
    assert!(
        problems[0].contains("SIMD (3) does not divide MW (8)"),
        "{problems:?}"
    );
    assert_eq!(m, before);
    // A good one applies, defaults included, and reads back.
    let good = format!(
        r#"{{ "Defaults": {{ "ram_style": ["block", "all"] }}, "{name}": {{ "SIMD": 4, "PE": 3 }} }}"#
    );
    FoldingConfig::parse(&good)
        .unwrap()
        .apply(registry, &mut m)
        .unwrap();
    let node = &m.graph.nodes[0];
    assert_eq!(
        (node.attr_int("SIMD"), node.attr_int("PE")),
        (Some(4), Some(3))
    );
    assert_eq!(node.attr_str("ram_style"), Some("block"));
    let written = FoldingConfig::of_model(registry, &m);
    assert_eq!(written.nodes[&name]["SIMD"], serde_json::json!(4));
    assert_eq!(written.nodes[&name]["PE"], serde_json::json!(3));
    // Not FINN's form.
    for (text, says) in [
        ("[1, 2]", "a JSON object of node names"),
        (r#"{"n": 3}"#, "'n': expected an object"),
        (
            r#"{"Defaults": {"PE": 2}}"#,
            "'Defaults.PE': expected [value, [op types]]",
        ),
        ("{", "not JSON"),
    ] {
        let e = FoldingConfig::parse(text).unwrap_err();
        assert!(e.contains(says), "{text}: {e}");
    }
}

/// `x` (of `shape`, `idt`) through `nodes` to `y`, with `initializers`, shapes and
/// datatypes inferred.
fn small(shape: &[i64], y: &[i64], idt: QuantType, inits: Vec<Tensor>, nodes: Vec<Node>) -> Model {
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, shape)];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, y)];
    *m.graph.initializers = inits;
    *m.graph.nodes = nodes;
    m.graph.set_datatype("x", idt);
    for t in [&InferShapes as &dyn Transform, &InferDataTypes] {
        t.apply(&mut m, &mut TransformContext::default()).unwrap();
    }
    m
}

fn ops(m: &Model) -> Vec<&str> {
    m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

fn apply_all(m: &Model, transforms: &[&dyn Transform]) -> (Model, TransformContext) {
    let mut mapped = m.clone();
    let mut ctx = TransformContext::default();
    for t in transforms {
        t.apply(&mut mapped, &mut ctx)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (mapped, ctx)
}

#[test]
fn a_residual_block_maps_onto_channelwise_ops_a_fan_out_and_a_stream_sum_bit_exact() {
    // a = x + c1 (per channel); b = a * c2 (per channel); y = a + b: `a` is read twice.
    let c1: Vec<f32> = (0..8).map(|i| (i % 5) as f32 - 2.0).collect();
    let c2: Vec<f32> = (0..8).map(|i| (i % 3) as f32 - 1.0).collect();
    let m = small(
        &[1, 2, 8],
        &[1, 2, 8],
        QuantType::UInt(4),
        vec![
            Tensor::from_f32("c1", &[8], &c1),
            Tensor::from_f32("c2", &[1, 1, 8], &c2),
        ],
        vec![
            Node::new("Add", ["x", "c1"], ["a"]).with_name("shift"),
            Node::new("Mul", ["a", "c2"], ["b"]).with_name("scale"),
            Node::new("Add", ["a", "b"], ["y"]).with_name("residual"),
        ],
    );
    let (mapped, ctx) = apply_all(
        &m,
        &[
            &InferChannelwiseOp,
            &InferShapes,
            &InferDataTypes,
            &InferAddStreams,
            &InferShapes,
            &InferDataTypes,
            &InferDuplicateStreams,
            &InferShapes,
            &InferDataTypes,
        ],
    );
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    assert_eq!(
        ops(&mapped),
        [
            "ChannelwiseOp",
            "DuplicateStreams",
            "ChannelwiseOp",
            "AddStreams"
        ]
    );
    // The narrowest types: UINT4 + [-2, 2] in INT6 (-2..=17); INT6 times [-1, 1] in
    // INT7 (-32 * -1 = 32); INT6 + INT7 in INT8 (-96..=94).
    let dt = |t: &str| mapped.graph.datatype(t).unwrap().unwrap().to_string();
    assert_eq!(
        (dt("a"), dt("b"), dt("y")),
        ("INT6".into(), "INT7".into(), "INT8".into())
    );
    assert_bit_exact(&m, &mapped, QuantType::UInt(4));
    // Every node is a checked kernel instance.
    let registry = Registry::global().unwrap();
    for node in mapped.graph.nodes.iter() {
        let kernel = registry.kernel(&node.op_type).unwrap().instantiate();
        kernel
            .check(node, &mapped.graph)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_global_average_pool_maps_onto_the_sum_pool_and_an_exact_division() {
    let m = small(
        &[1, 3, 7, 7],
        &[1, 3, 1, 1],
        QuantType::Int(4),
        vec![],
        vec![Node::new("GlobalAveragePool", ["x"], ["y"]).with_name("gap")],
    );
    let (mapped, ctx) = apply_all(&m, &[&InferGlobalAccPool, &InferShapes, &InferDataTypes]);
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    assert_eq!(
        ops(&mapped),
        ["Transpose", "GlobalAccPool", "Transpose", "Div"]
    );
    // 49 pixels of INT4 sum within INT10.
    let pool = &mapped.graph.nodes[1];
    let out = &pool.outputs[0];
    assert_eq!(
        mapped.graph.datatype(out).unwrap().unwrap(),
        QuantType::Int(10)
    );
    // Dividing by 49 rounds as the average did; multiplying by 1/49 would not.
    assert_bit_exact(&m, &mapped, QuantType::Int(4));
}

#[test]
fn a_channels_first_constant_gets_transposes_around_the_channelwise_op() {
    let c: Vec<f32> = vec![3.0, -1.0, 2.0];
    let m = small(
        &[1, 3, 2, 2],
        &[1, 3, 2, 2],
        QuantType::Int(4),
        vec![Tensor::from_f32("c", &[1, 3, 1, 1], &c)],
        vec![Node::new("Mul", ["x", "c"], ["y"]).with_name("scale")],
    );
    let (mapped, _) = apply_all(&m, &[&InferChannelwiseOp, &InferShapes, &InferDataTypes]);
    assert_eq!(ops(&mapped), ["Transpose", "ChannelwiseOp", "Transpose"]);
    assert_bit_exact(&m, &mapped, QuantType::Int(4));
}

#[test]
fn what_cannot_be_mapped_to_stream_kernels_says_which_condition_failed() {
    let m = small(
        &[1, 3, 2, 2],
        &[1, 3, 2, 2],
        QuantType::Int(4),
        vec![
            Tensor::from_f32("half", &[], &[0.5]),
            Tensor::from_f32("rows", &[1, 1, 2, 1], &[1.0, 2.0]),
        ],
        vec![
            Node::new("Mul", ["x", "half"], ["h"]).with_name("halve"),
            Node::new("Add", ["x", "rows"], ["r"]).with_name("by_row"),
            Node::new("Add", ["h", "r"], ["y"]).with_name("sum"),
        ],
    );
    let (mapped, ctx) = apply_all(
        &m,
        &[&InferChannelwiseOp, &InferAddStreams, &InferGlobalAccPool],
    );
    assert_eq!(ops(&mapped), ops(&m));
    let said: Vec<String> = ctx
        .diagnostics()
        .iter()
        .map(|d| format!("{}: {}", d.node, d.message))
        .collect();
    let all = said.join("\n");
    assert!(
        all.contains("halve: left as Mul: its constant 'half' holds 0.5, not an integer"),
        "{all}"
    );
    assert!(
        all.contains("by_row: left as Add: its constant varies along axis 2 of [1, 3, 2, 2]"),
        "{all}"
    );
    assert!(
        all.contains("sum: left as Add: its input 'h' is FLOAT32, not an integer type"),
        "{all}"
    );
}

#[test]
fn an_accumulator_too_narrow_for_the_sums_or_a_nan_threshold_is_refused() {
    let (mut m, _) = map(&layer(&[1], 8, 6, QuantType::Int(4), (-2, 1), "UINT2"));
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("MVAU").unwrap().instantiate();
    assert!(kernel.check(&m.graph.nodes[0], &m.graph).is_ok());
    // INT4 inputs times weights in -2..=1 over 8 rows reach beyond INT4.
    m.graph.nodes[0].set_attribute("accDataType", AttributeValue::string("INT4"));
    let err = kernel
        .check(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("accDataType INT4 cannot hold every sum"),
        "{err}"
    );
    m.graph.nodes[0].set_attribute("accDataType", AttributeValue::string("INT32"));
    let t = m.graph.nodes[0].inputs[2].clone();
    let slot = m
        .graph
        .initializers
        .iter_mut()
        .find(|x| x.name() == t)
        .unwrap();
    let mut v: Vec<f32> = slot.to_f64().unwrap().iter().map(|&x| x as f32).collect();
    v[0] = f32::NAN;
    *slot = Tensor::from_f32(&t, slot.dims(), &v);
    let err = kernel
        .check(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a threshold is NaN"), "{err}");
}
