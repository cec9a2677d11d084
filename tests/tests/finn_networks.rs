//! FINN's end-to-end networks, from the Brevitas export to FINN's kernels: every stage of
//! the flow (QONNX to FINN form, streamlining, kernel mapping) runs bit for bit like the
//! stage before on seeded inputs, and at the end no compute is left in software but what
//! FINN leaves there too (the first `Reshape`).

use brainsmith_core::ir::{ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{Transform, TransformContext};
use brainsmith_plugins::exec::execute;
use brainsmith_plugins::{
    AbsorbAffineIntoMultiThreshold, AbsorbScalarMulAddIntoTopK, BatchNormToAffine,
    ConvertQuantActToMultiThreshold, ConvertSubToAdd, FoldConstants, FoldQuantWeights,
    GemmToMatMul, InferDataTypes, InferLabelSelect, InferMvau, InferShapes, InferThresholding,
    RemoveIdentityOps, RemoveStaticGraphInputs, RemoveUnusedNodes, RemoveUnusedTensors,
};
use brainsmith_tests::{Lcg, model};

/// FINN's pre-processing: the network reads pixels as `UINT8` and divides them by 255.
fn with_uint8_input(mut m: Model) -> Model {
    let x = m.graph.inputs[0].name.clone();
    let shape = m.graph.inputs[0].static_shape().unwrap();
    let pixels = "pixels".to_owned();
    m.graph.inputs[0] = ValueInfo::tensor(pixels.as_str(), ElemType::Float, &shape);
    m.graph
        .initializers
        .push(Tensor::from_f32("pixel_scale", &[], &[255.0]));
    m.graph.nodes.insert(
        0,
        Node::new("Div", [pixels.as_str(), "pixel_scale"], [x.as_str()]).with_name("to_unit"),
    );
    m.graph.set_datatype(&pixels, QuantType::UInt(8));
    m
}

/// FINN's post-processing: the index of the largest score.
fn with_top_1(mut m: Model) -> Model {
    let scores = m.graph.outputs[0].name.clone();
    m.graph
        .initializers
        .push(Tensor::from_i64("one", &[1], &[1]));
    m.graph.nodes.push(
        Node::new(
            "TopK",
            [scores.as_str(), "one", ""].into_iter().take(2),
            ["", "label"],
        )
        .with_name("top1"),
    );
    m.graph.outputs[0] = ValueInfo::tensor("label", ElemType::Int64, &[1, 1]);
    m
}

/// Seeded pixel frames.
fn frames(m: &Model, n: usize) -> Vec<Tensor> {
    let shape = m.graph.inputs[0].static_shape().unwrap();
    let len: i64 = shape.iter().product();
    let mut g = Lcg(2024);
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..len).map(|_| g.int(0, 255) as f32).collect();
            Tensor::from_f32("pixels", &shape, &v)
        })
        .collect()
}

fn outputs(m: &Model, inputs: &[Tensor]) -> Vec<Vec<u64>> {
    inputs
        .iter()
        .map(|x| {
            execute(m, std::slice::from_ref(x))
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .flat_map(|t| t.to_f64().unwrap())
                .map(f64::to_bits)
                .collect()
        })
        .collect()
}

/// Applies `stage` and checks the model still computes what it did, bit for bit.
fn stage(m: &mut Model, inputs: &[Tensor], expected: &[Vec<u64>], stage: &[&dyn Transform]) {
    let mut ctx = TransformContext::default();
    for t in stage {
        t.apply(m, &mut ctx).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        outputs(m, inputs),
        expected,
        "after {:?}",
        ctx.diagnostics()
    );
}

fn compute_ops(m: &Model) -> Vec<String> {
    m.graph.nodes.iter().map(|n| n.op_type.clone()).collect()
}

#[test]
fn tfc_w1a1_maps_completely_onto_finns_kernels_bit_exact() {
    let original = with_uint8_input(model("brevitas_tfc_1w1a_seed1.onnx"));
    let inputs = frames(&original, 8);
    let logits = outputs(&original, &inputs);
    let mut m = original.clone();
    // QONNX to FINN form: weights folded, Gemm to MatMul, batch norm to arithmetic, the
    // activation quantizers to thresholds. (No `ConvertDivToMul`: `x / c` and
    // `x * (1 / c)` differ in the last bit; the absorptions read `Div` as it is.)
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &RemoveStaticGraphInputs,
            &InferShapes,
            &FoldQuantWeights,
            &FoldConstants::default(),
            &GemmToMatMul,
            &FoldConstants::default(),
            &BatchNormToAffine,
            &ConvertSubToAdd,
            &RemoveIdentityOps::default(),
            &InferShapes,
            &ConvertQuantActToMultiThreshold,
        ],
    );
    assert!(
        !compute_ops(&m).iter().any(|op| op.ends_with("Quant")),
        "{:?}",
        compute_ops(&m)
    );
    // Streamlining: the arithmetic into the thresholds.
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &InferShapes,
            &InferDataTypes,
            &AbsorbAffineIntoMultiThreshold,
            &RemoveUnusedTensors,
            &InferShapes,
            &InferDataTypes,
        ],
    );
    // Kernel mapping.
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &InferMvau,
            &InferThresholding,
            &InferShapes,
            &InferDataTypes,
            &RemoveUnusedTensors,
        ],
    );
    // The classifier's choice: the last arithmetic goes into the top-1.
    let mut labelled = with_top_1(m.clone());
    let expected = outputs(&with_top_1(original.clone()), &inputs);
    assert_eq!(outputs(&labelled, &inputs), expected);
    stage(
        &mut labelled,
        &inputs,
        &expected,
        &[
            &InferShapes,
            &InferDataTypes,
            &AbsorbScalarMulAddIntoTopK,
            &RemoveUnusedNodes,
            &InferShapes,
            &InferDataTypes,
            &InferLabelSelect,
        ],
    );
    let ops = compute_ops(&labelled);
    assert_eq!(
        ops,
        [
            "Reshape",
            "Thresholding",
            "MVAU",
            "MVAU",
            "MVAU",
            "MVAU",
            "LabelSelect"
        ],
        "everything but the first Reshape in hardware"
    );
    // The first three units are XNOR-popcount with fused thresholds; the last has none.
    let units: Vec<&Node> = labelled
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "MVAU")
        .collect();
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u.attr_int("binaryXnorMode"), Some(1), "unit {i}");
        assert_eq!(
            u.attr_int("noActivation"),
            Some(i64::from(i == 3)),
            "unit {i}"
        );
    }
}
