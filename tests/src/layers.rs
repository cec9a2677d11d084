//! Single-layer models for the backend simulation tests (`hls_sim.rs`, `rtl_sim.rs`): a
//! `MatMul` with an optional `MultiThreshold`, or a `MultiThreshold` alone, mapped onto
//! the MVAU or the thresholding kernel, with a first input frame whose values meet the
//! thresholds exactly, so that comparisons meet ties.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{Transform, TransformContext};
use brainsmith_plugins::{InferDataTypes, InferMvau, InferShapes, InferThresholding};

use crate::Lcg;

const QONNX: &str = "qonnx.custom_op.general";

/// A model of `node` alone, reading `x` of `shape` and `datatype`.
pub fn one_node(node: Node, shape: &[i64], datatype: QuantType) -> Model {
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, shape)];
    m.graph.set_datatype("x", datatype);
    m.graph.nodes.push(node);
    m
}

/// One layer configuration: `x [lead.., mw] -> MatMul -> (MultiThreshold to out)`.
pub struct Case {
    /// The input's leading dimensions (`[1]`, or `[1, H, W]`: vectors per frame).
    pub lead: Vec<i64>,
    /// Input vector length.
    pub mw: i64,
    /// Output vector length.
    pub mh: i64,
    /// Input lanes per word.
    pub simd: i64,
    /// Output lanes per word.
    pub pe: i64,
    /// The activations' datatype.
    pub input: QuantType,
    /// The weights' datatype.
    pub weights: QuantType,
    /// `None`: no activation.
    pub out: Option<QuantType>,
}

/// The mapped layer, and a first input frame whose sums the thresholds include exactly,
/// so that the comparisons meet ties (`>=` against `>` is caught).
pub fn mapped(case: &Case, seed: u64) -> (Model, Vec<f64>) {
    let mut g = Lcg(seed);
    let frame: i64 = case.lead.iter().product::<i64>() * case.mw;
    let first: Vec<f64> = (0..frame).map(|_| g.value(case.input)).collect();
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    let x_shape: Vec<i64> = case.lead.iter().copied().chain([case.mw]).collect();
    let y_shape: Vec<i64> = case.lead.iter().copied().chain([case.mh]).collect();
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &x_shape)];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &y_shape)];
    let w: Vec<f32> = (0..case.mw * case.mh)
        .map(|_| g.value(case.weights) as f32)
        .collect();
    m.graph
        .initializers
        .push(Tensor::from_f32("w", &[case.mw, case.mh], &w));
    m.graph.set_datatype("x", case.input);
    m.graph.set_datatype("w", case.weights);
    let out_name = if case.out.is_some() { "h" } else { "y" };
    m.graph
        .nodes
        .push(Node::new("MatMul", ["x", "w"], [out_name]).with_name("fc"));
    if let Some(out) = case.out {
        let bipolar = out == QuantType::Bipolar;
        let steps = if bipolar {
            1
        } else {
            (out.range().1 - out.range().0) as i64
        };
        // Thresholds spread over the accumulator's likely range, ascending per row.
        let span = (case.mw as f64).sqrt() * 4.0;
        let t: Vec<f32> = (0..case.mh)
            .flat_map(|c| {
                let mut row: Vec<f32> = (0..steps)
                    .map(|_| g.int(-span as i64, span as i64) as f32)
                    .collect();
                // The first vector's exact sum for this column.
                let sum: f64 = (0..case.mw as usize)
                    .map(|r| first[r] * f64::from(w[r * case.mh as usize + c as usize]))
                    .sum();
                row[0] = sum as f32;
                row.sort_by(f32::total_cmp);
                row
            })
            .collect();
        m.graph
            .initializers
            .push(Tensor::from_f32("t", &[case.mh, steps], &t));
        let mut mt = Node::new("MultiThreshold", ["h", "t"], ["y"])
            .with_name("act")
            .with_domain(QONNX)
            .with_attribute("out_dtype", AttributeValue::string(&out.to_string()));
        if bipolar {
            mt.set_attribute("out_scale", AttributeValue::Float(2.0));
            mt.set_attribute("out_bias", AttributeValue::Float(-1.0));
        } else if out.range().0 < 0.0 {
            mt.set_attribute("out_bias", AttributeValue::Float(out.range().0 as f32));
        }
        if case.lead.len() > 1 {
            mt.set_attribute("data_layout", AttributeValue::string("NHWC"));
        }
        m.graph.nodes.push(mt);
    }
    let mut ctx = TransformContext::default();
    for t in [&InferShapes as &dyn Transform, &InferDataTypes, &InferMvau] {
        t.apply(&mut m, &mut ctx).unwrap();
    }
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    assert_eq!(m.graph.nodes.len(), 1);
    let node = &mut m.graph.nodes[0];
    node.set_attribute("SIMD", AttributeValue::Int(case.simd));
    node.set_attribute("PE", AttributeValue::Int(case.pe));
    (m, first)
}

/// One thresholding configuration: `x [lead.., channels] -> MultiThreshold -> y`.
pub struct ActCase {
    /// The input's leading dimensions.
    pub lead: Vec<i64>,
    /// Channels (the last axis).
    pub channels: i64,
    /// Channels per word.
    pub pe: i64,
    /// The input's datatype.
    pub input: QuantType,
    /// One row shared by every channel, or one per channel.
    pub shared: bool,
    /// The output's datatype.
    pub out: QuantType,
}

/// The mapped activation, and a first frame that meets every channel's thresholds
/// exactly (ties), as for the MVAU.
pub fn mapped_activation(case: &ActCase, seed: u64) -> (Model, Vec<f64>) {
    let mut g = Lcg(seed);
    let frame: i64 = case.lead.iter().product::<i64>() * case.channels;
    let first: Vec<f64> = (0..frame).map(|_| g.value(case.input)).collect();
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    let shape: Vec<i64> = case.lead.iter().copied().chain([case.channels]).collect();
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &shape)];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &shape)];
    let bipolar = case.out == QuantType::Bipolar;
    let steps = if bipolar {
        1
    } else {
        (case.out.range().1 - case.out.range().0) as i64
    };
    let rows = if case.shared { 1 } else { case.channels };
    let (lo, hi) = case.input.range();
    let t: Vec<f32> = (0..rows)
        .flat_map(|c| {
            let mut row: Vec<f32> = (0..steps)
                .map(|_| g.int(lo as i64, hi as i64 + 1) as f32)
                .collect();
            row[0] = first[c as usize] as f32;
            row.sort_by(f32::total_cmp);
            row
        })
        .collect();
    m.graph
        .initializers
        .push(Tensor::from_f32("t", &[rows, steps], &t));
    m.graph.set_datatype("x", case.input);
    let mut mt = Node::new("MultiThreshold", ["x", "t"], ["y"])
        .with_name("act")
        .with_domain(QONNX)
        .with_attribute("out_dtype", AttributeValue::string(&case.out.to_string()))
        .with_attribute("data_layout", AttributeValue::string("NHWC"));
    if bipolar {
        mt.set_attribute("out_scale", AttributeValue::Float(2.0));
        mt.set_attribute("out_bias", AttributeValue::Float(-1.0));
    } else if case.out.range().0 < 0.0 {
        mt.set_attribute("out_bias", AttributeValue::Float(case.out.range().0 as f32));
    }
    m.graph.nodes.push(mt);
    let mut ctx = TransformContext::default();
    for t in [
        &InferShapes as &dyn Transform,
        &InferDataTypes,
        &InferThresholding,
    ] {
        t.apply(&mut m, &mut ctx).unwrap();
    }
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    assert_eq!(m.graph.nodes.len(), 1);
    m.graph.nodes[0].set_attribute("PE", AttributeValue::Int(case.pe));
    (m, first)
}

/// What the kernel's `execute` gives for `m`'s only node on one frame `x` of its first
/// input (of `shape`), its other inputs the model's constants: the reference a simulation
/// is compared with.
pub fn reference(
    kernel: &dyn brainsmith_core::kernel::DynKernel,
    m: &Model,
    shape: &[i64],
    x: &[f64],
) -> Vec<f64> {
    let node = &m.graph.nodes[0];
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let inputs: Vec<Tensor> = std::iter::once(Tensor::from_f32("x", shape, &x))
        .chain(
            node.inputs[1..]
                .iter()
                .map(|n| m.graph.constant(n).unwrap().clone()),
        )
        .collect();
    kernel.execute(node, &m.graph, &inputs).unwrap()[0]
        .to_f64()
        .unwrap()
}
