//! The lowering and parameter transforms on graphs built for one edge case each: what the
//! graph looks like afterwards, and (where the oracle's venv is set up, as in CI) that it
//! computes what it computed before, run by onnxruntime on a seeded random input.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, Tensor, ValueInfo};
use brainsmith_core::{Transform, TransformContext};
use brainsmith_plugins::{
    BatchNormToAffine, ChangeBatchSize, ConvertDivToMul, ConvertSubToAdd, DoubleToSingleFloat,
    ExpandNorms, ExtractBiasFromConv, GemmToMatMul, GiveUniqueParameterTensors, InferDataLayouts,
    InferDataTypes, InferShapes, LowerConvsToMatMul, MovePadAttributeToTensor,
    RemoveStaticGraphInputs, RemoveUnusedTensors,
};
use brainsmith_tests::oracle::{Oracle, scratch_dir};

/// An opset-17 float model: `inputs` and `outputs` with their shapes, `nodes`, and
/// float initializers holding 0.5, 1.0, 1.5, ...
fn model(
    inputs: &[(&str, &[i64])],
    outputs: &[(&str, &[i64])],
    initializers: &[(&str, &[i64])],
    nodes: Vec<Node>,
) -> Model {
    let mut m = Model::default();
    m.ir_version = 8;
    m.set_opset_version("", 17);
    let info = |(name, shape): &(&str, &[i64])| ValueInfo::tensor(*name, ElemType::Float, shape);
    m.graph.inputs = inputs.iter().map(info).collect();
    m.graph.outputs = outputs.iter().map(info).collect();
    m.graph.initializers = initializers
        .iter()
        .map(|(name, dims)| {
            let n: i64 = dims.iter().product();
            let values: Vec<f32> = (1..=n).map(|k| k as f32 * 0.5).collect();
            Tensor::from_f32(name, dims, &values)
        })
        .collect();
    *m.graph.nodes = nodes;
    m
}

fn apply(t: &dyn Transform, m: &mut Model) -> (bool, Vec<String>) {
    let mut ctx = TransformContext::default();
    let changed = t.apply(m, &mut ctx).expect("the transform runs");
    let notes = ctx
        .diagnostics()
        .iter()
        .map(|d| d.message.clone())
        .collect();
    (changed, notes)
}

fn ops(m: &Model) -> Vec<&str> {
    m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

fn values(m: &Model, name: &str) -> Vec<f64> {
    m.graph
        .initializers
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initializer '{name}'"))
        .to_f64()
        .unwrap()
}

/// Checks with onnxruntime (through the oracle's venv) that `after` computes what
/// `before` does; skipped, saying so, where the venv is missing.
fn assert_same_outputs(test: &str, before: &Model, after: &Model) {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let dir = scratch_dir(test);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("before.onnx"), dir.join("after.onnx"));
    before.save(&a).unwrap();
    after.save(&b).unwrap();
    let diffs = oracle.compare_outputs(&a, &b).expect("both models run");
    assert!(!diffs.is_empty(), "{test}: no outputs compared");
    for d in diffs {
        let diff = d.max_abs_diff.unwrap_or_else(|e| panic!("{test}: {e}"));
        assert!(
            diff <= 1e-5 * d.max_abs.max(1.0),
            "{test}: {:?} differs by {diff}",
            d.names
        );
    }
}

#[test]
fn sub_of_a_shared_constant_copies_it() {
    let before = model(
        &[("x", &[1, 4])],
        &[("y", &[1, 4]), ("z", &[1, 4])],
        &[("c", &[4])],
        vec![
            Node::new("Sub", ["x", "c"], ["y"]),
            Node::new("Mul", ["x", "c"], ["z"]),
        ],
    );
    let mut m = before.clone();
    assert!(apply(&ConvertSubToAdd, &mut m).0);
    assert_eq!(ops(&m), ["Add", "Mul"]);
    let negated = m.graph.nodes[0].inputs[1].clone();
    assert_ne!(
        negated, "c",
        "the Mul still reads c, so the Add reads a copy"
    );
    assert_eq!(values(&m, &negated), [-0.5, -1.0, -1.5, -2.0]);
    assert_eq!(values(&m, "c"), [0.5, 1.0, 1.5, 2.0]);
    assert_eq!(m.graph.nodes[1].inputs, ["x", "c"]);
    assert!(
        !apply(&ConvertSubToAdd, &mut m).0,
        "nothing left to convert"
    );
    assert_same_outputs("sub_of_a_shared_constant", &before, &m);
}

#[test]
fn sub_of_an_integer_constant_wraps_like_sub() {
    let mut m = Model::default();
    *m.graph.initializers = vec![Tensor::from_i64("c", &[2], &[i64::MIN, 3])];
    *m.graph.nodes = vec![Node::new("Sub", ["x", "c"], ["y"])];
    assert!(apply(&ConvertSubToAdd, &mut m).0);
    assert_eq!(m.graph.initializers[0].to_i64().unwrap(), [i64::MIN, -3]);
}

#[test]
fn div_by_a_float_constant_becomes_mul_and_integer_div_stays() {
    let before = model(
        &[("x", &[2, 4])],
        &[("y", &[2, 4])],
        &[("c", &[4])],
        vec![Node::new("Div", ["x", "c"], ["y"])],
    );
    let mut m = before.clone();
    assert!(apply(&ConvertDivToMul, &mut m).0);
    assert_eq!(ops(&m), ["Mul"]);
    assert_eq!(values(&m, "c"), [2.0, 1.0, f64::from(1.0f32 / 1.5), 0.5]);
    assert_same_outputs("div_by_a_float_constant", &before, &m);

    let mut ints = Model::default();
    *ints.graph.initializers = vec![Tensor::from_i64("two", &[], &[2])];
    *ints.graph.nodes = vec![Node::new("Div", ["n", "two"], ["half"])];
    assert!(
        !apply(&ConvertDivToMul, &mut ints).0,
        "1/2 has no integer form"
    );
    assert_eq!(ops(&ints), ["Div"]);
}

#[test]
fn gemm_with_a_private_constant_weight_stores_it_transposed() {
    let before = model(
        &[("a", &[2, 3])],
        &[("y", &[2, 4])],
        &[("w", &[4, 3]), ("bias", &[4])],
        vec![
            Node::new("Gemm", ["a", "w", "bias"], ["y"])
                .with_name("fc")
                .with_attribute("transB", AttributeValue::Int(1))
                .with_attribute("alpha", AttributeValue::Float(0.5))
                .with_attribute("beta", AttributeValue::Float(2.0)),
        ],
    );
    let mut m = before.clone();
    assert!(apply(&GemmToMatMul, &mut m).0);
    assert_eq!(
        ops(&m),
        ["MatMul", "Mul", "Add"],
        "no Transpose, beta folded into C"
    );
    assert_eq!(m.graph.initializers[0].dims(), [3, 4]);
    assert_eq!(&values(&m, "w")[..4], [0.5, 2.0, 3.5, 5.0]);
    assert_eq!(values(&m, "bias"), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(m.graph.nodes.last().unwrap().outputs, ["y"]);
    assert_same_outputs("gemm_private_weight", &before, &m);
}

#[test]
fn gemm_with_a_shared_weight_and_no_bias_transposes_by_node() {
    let before = model(
        &[("a", &[3, 2]), ("b", &[3, 3])],
        &[("y", &[2, 3]), ("z", &[3, 3])],
        &[("w", &[3, 3])],
        vec![
            Node::new("Gemm", ["a", "w"], ["y"])
                .with_attribute("transA", AttributeValue::Int(1))
                .with_attribute("transB", AttributeValue::Int(1)),
            Node::new("Add", ["b", "w"], ["z"]),
        ],
    );
    let mut m = before.clone();
    assert!(apply(&GemmToMatMul, &mut m).0);
    assert_eq!(ops(&m), ["Transpose", "Transpose", "MatMul", "Add"]);
    assert_eq!(
        values(&m, "w")[..3],
        [0.5, 1.0, 1.5],
        "the Add still reads w as it was"
    );
    assert_eq!(
        m.graph.nodes[2].outputs,
        ["y"],
        "no Add: MatMul writes the output"
    );
    assert_same_outputs("gemm_shared_weight", &before, &m);
}

fn batchnorm(x: &str, y: &str) -> Node {
    Node::new(
        "BatchNormalization",
        [x, "scale", "bias", "mean", "var"],
        [y],
    )
    .with_name("bn")
    .with_attribute("epsilon", AttributeValue::Float(0.001))
}

const BN_PARAMS: [(&str, &[i64]); 4] = [
    ("scale", &[3]),
    ("bias", &[3]),
    ("mean", &[3]),
    ("var", &[3]),
];

#[test]
fn batchnorm_becomes_a_per_channel_mul_and_add() {
    let before = model(
        &[("x", &[2, 3, 4, 4])],
        &[("y", &[2, 3, 4, 4])],
        &BN_PARAMS,
        vec![batchnorm("x", "y")],
    );
    let mut m = before.clone();
    assert!(apply(&BatchNormToAffine, &mut m).0);
    assert_eq!(ops(&m), ["Mul", "Add"]);
    let scale = &m.graph.nodes[0].inputs[1];
    let a = m
        .graph
        .initializers
        .iter()
        .find(|t| t.name() == scale)
        .unwrap();
    assert_eq!(a.dims(), [1, 3, 1, 1]);
    assert!((a.to_f64().unwrap()[0] - 0.5 / (0.5f64 + 0.001).sqrt()).abs() < 1e-6);
    assert_same_outputs("batchnorm_4d", &before, &m);
}

#[test]
fn batchnorm_between_unsqueeze_and_squeeze_takes_both_along() {
    let mut before = model(
        &[("x", &[2, 3])],
        &[("y", &[2, 3])],
        &BN_PARAMS,
        vec![
            Node::new("Unsqueeze", ["x", "axes"], ["x3"]),
            batchnorm("x3", "y3"),
            Node::new("Squeeze", ["y3", "axes"], ["y"]),
        ],
    );
    before
        .graph
        .initializers
        .push(Tensor::from_i64("axes", &[1], &[2]));
    assert!(apply(&InferShapes, &mut before).0);
    let mut m = before.clone();
    assert!(apply(&BatchNormToAffine, &mut m).0);
    assert_eq!(ops(&m), ["Mul", "Add"]);
    assert_eq!(m.graph.nodes[0].inputs[0], "x");
    assert_eq!(m.graph.nodes[1].outputs, ["y"]);
    assert_same_outputs("batchnorm_1d", &before, &m);

    // The unsqueezed tensor has another reader: the pair must stay.
    let mut shared = before.clone();
    shared.graph.value_info.retain(|v| v.name != "x3");
    shared
        .graph
        .outputs
        .push(ValueInfo::tensor("x3", ElemType::Float, &[2, 3, 1]));
    let mut m = shared.clone();
    assert!(apply(&BatchNormToAffine, &mut m).0);
    assert_eq!(ops(&m), ["Unsqueeze", "Mul", "Add", "Squeeze"]);
    assert_same_outputs("batchnorm_1d_shared", &shared, &m);
}

#[test]
fn batchnorm_with_overridable_parameters_says_what_to_run() {
    let mut m = model(
        &[("x", &[2, 3, 4, 4]), ("scale", &[3])],
        &[("y", &[2, 3, 4, 4])],
        &BN_PARAMS,
        vec![batchnorm("x", "y")],
    );
    let (changed, notes) = apply(&BatchNormToAffine, &mut m);
    assert!(!changed);
    assert!(notes[0].contains("RemoveStaticGraphInputs"), "{notes:?}");
    assert!(apply(&RemoveStaticGraphInputs, &mut m).0);
    assert!(apply(&BatchNormToAffine, &mut m).0);
}

#[test]
fn conv_bias_moves_into_an_add_and_a_shared_bias_is_copied() {
    let conv = |x: &str, y: &str| {
        Node::new("Conv", [x, "w", "b"], [y])
            .with_attribute("kernel_shape", AttributeValue::Ints(vec![1, 1]))
    };
    let before = model(
        &[("x", &[1, 2, 3, 3])],
        &[("y", &[1, 2, 3, 3]), ("z", &[1, 2, 3, 3])],
        &[("w", &[2, 2, 1, 1]), ("b", &[2])],
        vec![conv("x", "y"), conv("y", "z")],
    );
    let mut m = before.clone();
    assert!(apply(&ExtractBiasFromConv, &mut m).0);
    assert_eq!(ops(&m), ["Conv", "Add", "Conv", "Add"]);
    assert!(
        m.graph
            .nodes
            .iter()
            .all(|n| n.op_type != "Conv" || n.inputs.len() == 2)
    );
    for t in m
        .graph
        .initializers
        .iter()
        .filter(|t| t.name().starts_with('b'))
    {
        assert_eq!(t.dims(), [1, 2, 1, 1], "{}", t.name());
    }
    assert_same_outputs("conv_bias", &before, &m);
}

#[test]
fn layernorm_splits_into_normalization_and_affine_once() {
    let before = model(
        &[("x", &[2, 3, 4])],
        &[("y", &[2, 3, 4])],
        &[("gamma", &[4]), ("beta", &[4])],
        vec![
            Node::new("LayerNormalization", ["x", "gamma", "beta"], ["y"])
                .with_name("ln")
                .with_attribute("axis", AttributeValue::Int(-1)),
        ],
    );
    let mut m = before.clone();
    assert!(apply(&ExpandNorms, &mut m).0);
    assert_eq!(ops(&m), ["LayerNormalization", "Mul", "Add"]);
    let ln = &m.graph.nodes[0];
    assert_eq!(ln.inputs.len(), 2);
    assert_eq!(values(&m, &ln.inputs[1]), [1.0; 4]);
    assert_eq!(ln.attr_int("axis"), Some(-1));
    assert!(
        !apply(&ExpandNorms, &mut m).0,
        "a second run changes nothing"
    );
    assert_same_outputs("layernorm", &before, &m);
}

/// A scale declared with an absurd shape (a graph input, so nothing stores it) cannot be
/// matched by a tensor of ones: the norm stays, with a diagnostic, and no memory is asked
/// for.
#[test]
fn a_norm_with_an_absurdly_large_scale_stays() {
    let huge: &[i64] = &[1 << 20, 1 << 20];
    let mut m = model(
        &[("x", huge), ("gamma", huge)],
        &[("y", huge)],
        &[],
        vec![Node::new("LayerNormalization", ["x", "gamma"], ["y"]).with_name("ln")],
    );
    let before = m.clone();
    let (changed, notes) = apply(&ExpandNorms, &mut m);
    assert!(!changed);
    assert_eq!(m, before);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("the scale 'gamma' has shape [1048576, 1048576], too large"),
        "{notes:?}"
    );
}

#[test]
fn every_read_of_a_parameter_gets_its_own_copy() {
    let mut m = model(
        &[("x", &[4]), ("shared_input", &[4])],
        &[("y", &[4]), ("z", &[4]), ("s", &[4])],
        &[("w", &[4]), ("shared_input", &[4])],
        vec![
            Node::new("Mul", ["x", "w"], ["y"]),
            Node::new("Mul", ["w", "w"], ["z"]),
            Node::new("Add", ["shared_input", "shared_input"], ["s"]),
        ],
    );
    m.graph
        .set_datatype("w", "INT4".parse().expect("a QONNX datatype"));
    let before = m.clone();
    assert!(apply(&GiveUniqueParameterTensors, &mut m).0);
    let reads: Vec<&str> = m.graph.nodes[..2]
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .filter(|i| *i != "x")
        .collect();
    assert_eq!(reads, ["w", "w_1", "w_2"]);
    for copy in ["w_1", "w_2"] {
        assert_eq!(values(&m, copy), values(&m, "w"));
        assert_eq!(m.graph.datatype(copy).unwrap().unwrap().to_string(), "INT4");
    }
    assert_eq!(
        m.graph.nodes[2].inputs,
        ["shared_input", "shared_input"],
        "an overridable input stays shared"
    );
    assert!(!apply(&GiveUniqueParameterTensors, &mut m).0);
    assert_same_outputs("unique_parameters", &before, &m);
}

#[test]
fn unused_constant_nodes_go_with_unused_initializers() {
    let mut m = model(
        &[("x", &[4])],
        &[("y", &[4])],
        &[],
        vec![
            Node::new("Constant", Vec::<String>::new(), ["dead"]).with_attribute(
                "value",
                AttributeValue::Tensor(Tensor::from_f32("", &[1], &[1.0])),
            ),
            Node::new("Constant", Vec::<String>::new(), ["live"]).with_attribute(
                "value",
                AttributeValue::Tensor(Tensor::from_f32("", &[1], &[2.0])),
            ),
            Node::new("Mul", ["x", "live"], ["y"]),
        ],
    );
    assert!(apply(&RemoveUnusedTensors, &mut m).0);
    assert_eq!(ops(&m), ["Constant", "Mul"]);
    assert_eq!(m.graph.nodes[0].outputs, ["live"]);
}

#[test]
fn datatypes_flow_from_quantizers_through_data_movement_into_accumulators() {
    let q = |x: &str, scale: &str, bits: &str, y: &str| {
        Node::new("Quant", [x, scale, "zero", bits], [y])
            .with_domain("qonnx.custom_op.general")
            .with_attribute("signed", AttributeValue::Int(1))
            .with_attribute("narrow", AttributeValue::Int(0))
            .with_attribute("rounding_mode", AttributeValue::String(b"ROUND".to_vec()))
    };
    let mut m = model(
        &[("x", &[1, 4])],
        &[("acc", &[1, 4]), ("scaled", &[1, 4]), ("act", &[1, 4])],
        &[("w", &[4, 4])],
        vec![
            q("x", "one", "four", "xq"),
            Node::new("Reshape", ["xq", "shape"], ["xr"]),
            q("w", "one", "two", "wq"),
            Node::new("MatMul", ["xr", "wq"], ["mm"]),
            Node::new("Sub", ["mm", "mm"], ["acc"]),
            q("x", "half", "four", "scaled"),
            Node::new("Relu", ["acc"], ["act"]),
        ],
    );
    let scalar = |name: &str, v: f32| Tensor::from_f32(name, &[], &[v]);
    m.graph.initializers.extend([
        scalar("one", 1.0),
        scalar("half", 0.5),
        scalar("zero", 0.0),
        scalar("four", 4.0),
        scalar("two", 2.0),
        Tensor::from_i64("shape", &[2], &[1, 4]),
    ]);
    m.set_opset_version("qonnx.custom_op.general", 1);
    let before = m.clone();
    let (changed, notes) = apply(&InferDataTypes, &mut m);
    assert!(changed && notes.is_empty(), "{notes:?}");
    let datatype = |m: &Model, t: &str| m.graph.datatype(t).unwrap().unwrap().to_string();
    let found: Vec<String> = ["xq", "xr", "wq", "mm", "acc", "scaled", "act"]
        .iter()
        .map(|t| datatype(&m, t))
        .collect();
    assert_eq!(
        found,
        [
            "INT4", "INT4", "INT2", "INT32", "INT32", "FLOAT32", "FLOAT32"
        ]
    );
    assert!(
        !apply(&InferDataTypes, &mut m).0,
        "a second pass changes nothing"
    );

    // qonnx agrees, where its venv is there.
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let dir = scratch_dir("datatypes_synthetic");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("quantized.onnx");
    before.save(&path).unwrap();
    let theirs = oracle
        .run(&path, "InferDataTypes", false, &dir)
        .expect("qonnx runs")
        .model;
    for t in ["xq", "xr", "wq", "mm", "acc", "scaled", "act"] {
        let expected = theirs.graph.datatype(t).map(|d| d.unwrap().to_string());
        assert_eq!(Some(datatype(&m, t)), expected, "tensor '{t}'");
    }
}

#[test]
fn an_unknown_custom_op_keeps_its_annotation_and_says_so() {
    let mut m = model(
        &[("x", &[4])],
        &[("y", &[4])],
        &[],
        vec![
            Node::new("Mystery", ["x"], ["y"])
                .with_domain("acme.ops")
                .with_name("m0"),
        ],
    );
    m.graph.set_datatype("y", "UINT3".parse().unwrap());
    let (changed, notes) = apply(&InferDataTypes, &mut m);
    assert!(!changed);
    assert!(notes[0].contains("acme.ops:Mystery"), "{notes:?}");
    assert_eq!(m.graph.datatype("y").unwrap().unwrap().to_string(), "UINT3");
}

/// A 2×2 convolution of two channels into three, with a bias and default attributes
/// (which qonnx cannot read): the bias moves out, the weights become the `[8, 3]` matrix
/// whose row `(ky·2 + kx)·2 + c` holds `w[o][c][ky][kx]`, and `Im2Col` carries the
/// geometry.
#[test]
fn conv_lowers_to_im2col_and_matmul_with_its_weights_rearranged() {
    let before = model(
        &[("x", &[1, 2, 4, 4])],
        &[("y", &[1, 3, 3, 3])],
        &[("w", &[3, 2, 2, 2]), ("b", &[3])],
        vec![Node::new("Conv", ["x", "w", "b"], ["y"])],
    );
    let mut after = before.clone();
    apply(&InferShapes, &mut after);
    let (changed, notes) = apply(&LowerConvsToMatMul, &mut after);
    assert!(changed && notes.is_empty(), "{notes:?}");
    assert_eq!(
        ops(&after),
        ["Transpose", "Im2Col", "MatMul", "Transpose", "Add"]
    );
    let im2col = &after.graph.nodes[1];
    assert_eq!(im2col.domain, "qonnx.custom_op.general");
    // Its domain is imported, or the model is not valid ONNX (the backend suite found it).
    assert_eq!(after.opset_version("qonnx.custom_op.general"), Some(1));
    assert_eq!(im2col.attr_ints("kernel_size"), Some(&[2, 2][..]));
    assert_eq!(im2col.attr_ints("pad_amount"), Some(&[0, 0, 0, 0][..]));
    assert_eq!(im2col.attr_str("input_shape"), Some("(1,4,4,2)"));
    assert_eq!(
        after.graph.datatype(&im2col.inputs[0]).unwrap().unwrap(),
        "FLOAT32".parse().unwrap()
    );
    let w: Vec<f64> = (1..=24).map(|k| k as f64 * 0.5).collect();
    let at = |o: usize, c: usize, ky: usize, kx: usize| w[((o * 2 + c) * 2 + ky) * 2 + kx];
    let mut expected = Vec::new();
    for ky in 0..2 {
        for kx in 0..2 {
            for c in 0..2 {
                for o in 0..3 {
                    expected.push(at(o, c, ky, kx));
                }
            }
        }
    }
    assert_eq!(values(&after, "w"), expected);
    // InferShapes knows Im2Col: it finds the types the lowering recorded.
    let recorded = after.graph.value_info.clone();
    after.graph.value_info.clear();
    let (_, notes) = apply(&InferShapes, &mut after);
    assert!(notes.is_empty(), "{notes:?}");
    for info in &recorded {
        let inferred = after.graph.value_info.iter().find(|v| v.name == info.name);
        assert_eq!(inferred, Some(info), "{}", info.name);
    }
    assert_same_outputs("conv_lowers", &before, &after);
}

/// A 1×1 convolution with stride 1 and no padding is a plain `MatMul` over the channels.
#[test]
fn pointwise_conv_needs_no_im2col() {
    let before = model(
        &[("x", &[1, 3, 5, 5])],
        &[("y", &[1, 4, 5, 5])],
        &[("w", &[4, 3, 1, 1])],
        vec![Node::new("Conv", ["x", "w"], ["y"])],
    );
    let mut after = before.clone();
    apply(&InferShapes, &mut after);
    let (changed, notes) = apply(&LowerConvsToMatMul, &mut after);
    assert!(changed && notes.is_empty(), "{notes:?}");
    assert_eq!(ops(&after), ["Transpose", "MatMul", "Transpose"]);
    assert_same_outputs("pointwise_conv", &before, &after);
}

/// What cannot be lowered stays, each with a diagnostic saying why: a grouped convolution
/// that is not depthwise, a 1-D convolution, weights computed at run time, an input of
/// unknown shape.
#[test]
fn convs_that_cannot_be_lowered_stay_with_a_diagnostic() {
    let mut m = model(
        &[
            ("x", &[1, 4, 6, 6]),
            ("x1", &[1, 2, 9]),
            ("wx", &[2, 4, 1, 1]),
            ("u", &[]),
        ],
        &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[]), ("e", &[])],
        &[
            ("wg", &[2, 2, 3, 3]),
            ("w1", &[2, 2, 3]),
            ("wu", &[2, 4, 1, 1]),
            ("ws", &[2, 4, 3, 3]),
        ],
        vec![
            Node::new("Conv", ["x", "wg"], ["a"]).with_attribute("group", AttributeValue::Int(2)),
            Node::new("Conv", ["x1", "w1"], ["b"]),
            Node::new("Conv", ["x", "wx"], ["c"]),
            Node::new("Conv", ["u", "wu"], ["d"]),
            // A zero stride would divide by zero.
            Node::new("Conv", ["x", "ws"], ["e"])
                .with_attribute("strides", AttributeValue::Ints(vec![0, 1])),
        ],
    );
    m.graph.inputs[3] = ValueInfo::tensor("u", ElemType::Float, &[]);
    m.graph.inputs[3].ty = None;
    let before = ops(&m).join(",");
    let (changed, notes) = apply(&LowerConvsToMatMul, &mut m);
    assert!(!changed);
    assert_eq!(ops(&m).join(","), before);
    let expected = [
        "grouped convolution (group 2, 4 input and 2 output channels)",
        "only 2-D convolutions",
        "weights 'wx' is not a constant",
        "the shape of its input 'u' is unknown; run InferShapes first",
        "`strides` must be positive, not 0",
    ];
    assert_eq!(notes.len(), expected.len(), "{notes:?}");
    for (note, wanted) in notes.iter().zip(expected) {
        assert!(note.contains(wanted), "{note:?} does not say {wanted:?}");
    }
}

/// Layouts follow the data: the first input is taken for NCHW, a `Transpose` permutes,
/// `Unsqueeze` adds an `x` axis, a rank-2 output is NC, a `MultiThreshold` says its own,
/// and a first input of a rank no layout fits is a diagnostic, not a failure.
#[test]
fn data_layouts_follow_transposes_and_reshapes() {
    let mut threshold = Node::new("MultiThreshold", ["t", "th"], ["m"])
        .with_attribute("data_layout", AttributeValue::String("NHWC".into()));
    threshold.domain = "qonnx.custom_op.general".into();
    let mut m = model(
        &[("x", &[1, 3, 4, 4])],
        &[
            ("m", &[1, 4, 4, 3]),
            ("u", &[1, 4, 4, 3, 1]),
            ("f", &[1, 48]),
        ],
        &[("th", &[3, 2]), ("axes", &[1]), ("shape", &[2])],
        vec![
            Node::new("Transpose", ["x"], ["t"])
                .with_attribute("perm", AttributeValue::Ints(vec![0, 2, 3, 1])),
            threshold,
            Node::new("Unsqueeze", ["t", "axes"], ["u"]),
            Node::new("Flatten", ["x"], ["f"]),
        ],
    );
    apply(&InferShapes, &mut m);
    let (changed, notes) = apply(&InferDataLayouts, &mut m);
    assert!(changed && notes.is_empty(), "{notes:?}");
    let layout = |t: &str| m.graph.annotation(t, "tensor_layout").map(str::to_owned);
    assert_eq!(layout("x").as_deref(), Some("['N', 'C', 'H', 'W']"));
    assert_eq!(layout("t").as_deref(), Some("['N', 'H', 'W', 'C']"));
    assert_eq!(layout("m").as_deref(), Some("['N', 'H', 'W', 'C']"));
    assert_eq!(layout("u").as_deref(), Some("['N', 'H', 'W', 'C', 'x']"));
    assert_eq!(layout("f").as_deref(), Some("['N', 'C']"));
    let (changed, _) = apply(&InferDataLayouts, &mut m);
    assert!(!changed, "a second run finds nothing to change");

    let mut odd = model(
        &[("v", &[2, 3, 4, 5, 6])],
        &[("w", &[2, 3, 4, 5, 6])],
        &[],
        vec![Node::new("Relu", ["v"], ["w"])],
    );
    let (_, notes) = apply(&InferDataLayouts, &mut odd);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("graph input 'v' has rank 5"), "{notes:?}");
}

/// The batch changes on the first input, on the inputs `inputs` lists, on outputs of the
/// old batch and on `Reshape` targets starting with it; a target that starts with `-1`
/// or another size stays. A batch of 0 and an unknown input name are errors that say so.
#[test]
fn change_batch_size_changes_the_batch_and_nothing_else() {
    let mut m = model(
        &[("x", &[2, 6]), ("k", &[2, 6]), ("w", &[2, 3])],
        &[("y", &[2, 6]), ("z", &[6, 2])],
        &[],
        vec![
            Node::new("Add", ["x", "k"], ["s"]),
            Node::new("Reshape", ["s", "batch_first"], ["y"]),
            Node::new("Reshape", ["s", "flat"], ["f"]),
            Node::new("Reshape", ["w", "other"], ["z"]),
        ],
    );
    m.graph.outputs[1] = ValueInfo::tensor("z", ElemType::Float, &[3, 2]);
    *m.graph.initializers = vec![
        Tensor::from_i64("batch_first", &[2], &[2, 6]),
        Tensor::from_i64("flat", &[1], &[-1]),
        Tensor::from_i64("other", &[2], &[3, 2]),
    ];
    let change = |batch_size, inputs: &[&str]| ChangeBatchSize {
        batch_size,
        inputs: Some(inputs.iter().map(|s| s.to_string()).collect()),
    };
    let mut ctx = TransformContext::default();
    let err = change(0, &[]).apply(&mut m.clone(), &mut ctx).unwrap_err();
    assert!(
        err.to_string()
            .contains("`batch_size`: a batch holds at least 1 sample, not 0"),
        "{err}"
    );
    let err = change(5, &["q"])
        .apply(&mut m.clone(), &mut ctx)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("names 'q', which is not a graph input; the inputs are x, k, w"),
        "{err}"
    );
    let (changed, notes) = apply(&change(5, &["k"]), &mut m);
    assert!(changed && notes.is_empty(), "{notes:?}");
    let first = |v: &ValueInfo| v.static_shape().unwrap()[0];
    let dims: Vec<i64> = m.graph.inputs.iter().map(first).collect();
    assert_eq!(dims, [5, 5, 2], "w is not batched");
    let dims: Vec<i64> = m.graph.outputs.iter().map(first).collect();
    assert_eq!(dims, [5, 3]);
    assert_eq!(values(&m, "batch_first"), [5.0, 6.0]);
    assert_eq!(values(&m, "flat"), [-1.0]);
    assert_eq!(values(&m, "other"), [3.0, 2.0]);

    // A target shape a caller may override (an initializer that is also an input, as in
    // IR 3 models) is no constant to change: the new batch would break the Reshape, so the
    // transform fails, saying what to run, instead of handing back a model that does not
    // run (7 of the 9 light zoo models did).
    let mut m = model(
        &[("x", &[1, 4, 2]), ("target", &[2])],
        &[("y", &[1, 8])],
        &[],
        vec![Node::new("Reshape", ["x", "target"], ["y"]).with_name("flatten")],
    );
    m.graph.inputs[1] = ValueInfo::tensor("target", ElemType::Int64, &[2]);
    *m.graph.initializers = vec![Tensor::from_i64("target", &[2], &[1, 8])];
    let err = change(2, &[])
        .apply(&mut m, &mut TransformContext::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a batch of 2 breaks node 'flatten'"), "{err}");
    assert!(err.contains("run RemoveStaticGraphInputs first"), "{err}");
    assert_eq!(first(&m.graph.inputs[0]), 1, "the model is as it was");
    apply(&RemoveStaticGraphInputs, &mut m);
    assert!(apply(&change(2, &[]), &mut m).0);
    assert_eq!(values(&m, "target"), [2.0, 8.0]);
}

/// `Pad`'s attributes become inputs (zero pads when only `value` is given, since
/// `constant_value` is the third input); a `value` of unknown element type is a
/// diagnostic. Double tensors, types and casts all become float.
#[test]
fn pad_attributes_move_and_doubles_become_floats() {
    let mut m = model(
        &[("x", &[1, 2])],
        &[("y", &[1, 2]), ("z", &[])],
        &[],
        vec![
            Node::new("Pad", ["x"], ["y"]).with_attribute("value", AttributeValue::Float(2.0)),
            Node::new("Pad", ["u"], ["z"]).with_attribute("value", AttributeValue::Float(2.0)),
            Node::new("Cast", ["x"], ["xd"]).with_attribute("to", AttributeValue::Int(11)),
        ],
    );
    let (changed, notes) = apply(&MovePadAttributeToTensor, &mut m);
    assert!(changed);
    assert_eq!(m.graph.nodes[0].inputs.len(), 3);
    assert_eq!(values(&m, &m.graph.nodes[0].inputs[1].clone()), [0.0; 4]);
    assert_eq!(values(&m, &m.graph.nodes[0].inputs[2].clone()), [2.0]);
    assert!(m.graph.nodes[0].attributes.is_empty());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("element type of its input 'u' is unknown"),
        "{notes:?}"
    );

    m.graph
        .value_info
        .push(ValueInfo::tensor("xd", ElemType::Double, &[1, 2]));
    let (changed, _) = apply(&DoubleToSingleFloat, &mut m);
    assert!(changed);
    assert_eq!(
        m.graph.nodes[2].attr_int("to"),
        Some(ElemType::Float as i64)
    );
    let xd = m.graph.value_info.iter().find(|v| v.name == "xd").unwrap();
    assert_eq!(xd.tensor_type().unwrap().elem_type, ElemType::Float as i32);
    let (changed, _) = apply(&DoubleToSingleFloat, &mut m);
    assert!(!changed, "nothing double is left");
}

/// Below opset 11, moving a Pad's attributes makes the model an opset-11 model (an IR 3
/// model also becomes IR 4 when written, its new initializers not being inputs), so it
/// stays valid ONNX; where another node could mean something else at opset 11 the
/// transform fails instead, naming it. The ONNX backend suite's opset-6 Pad tests found
/// the invalid models this used to write.
#[test]
fn moving_pad_attributes_raises_an_old_opset_or_refuses() {
    let pad = || {
        Node::new("Pad", ["x"], ["y"])
            .with_attribute("pads", AttributeValue::Ints(vec![0, 1, 0, 1]))
            .with_attribute("value", AttributeValue::Float(2.0))
    };
    let mut m = model(&[("x", &[1, 2])], &[("y", &[1, 4])], &[], vec![pad()]);
    m.ir_version = 3;
    m.set_opset_version("", 6);
    let (changed, _) = apply(&MovePadAttributeToTensor, &mut m);
    assert!(changed);
    assert_eq!(m.opset_version(""), Some(11));
    assert_eq!(m.written_ir_version(), 4);

    let mut m = model(
        &[("x", &[1, 2])],
        &[("z", &[1, 4])],
        &[],
        vec![
            pad(),
            Node::new("Add", ["y", "y"], ["z"])
                .with_name("old_add")
                .with_attribute("broadcast", AttributeValue::Int(1)),
        ],
    );
    m.set_opset_version("", 6);
    // An extracted bias is an Add that broadcasts as numpy does: opset 7 on.
    let mut conv = model(
        &[("x", &[1, 2, 3, 3])],
        &[("y", &[1, 3, 2, 2])],
        &[("w", &[3, 2, 2, 2]), ("b", &[3])],
        vec![Node::new("Conv", ["x", "w", "b"], ["y"])],
    );
    conv.set_opset_version("", 6);
    assert!(apply(&ExtractBiasFromConv, &mut conv).0);
    assert_eq!(conv.opset_version(""), Some(7));
    let before = m.clone();
    let err = MovePadAttributeToTensor
        .apply(&mut m, &mut TransformContext::default())
        .unwrap_err();
    assert!(err.to_string().contains("node 'old_add' (Add)"), "{err}");
    assert!(err.to_string().contains("onnx.version_converter"), "{err}");
    assert_eq!(m, before, "refused before anything changed");
}

/// Every double tensor attribute converts with the model (a `TreeEnsemble`'s splits must
/// have its input's type), and a `BitCast`, which reinterprets bits, is refused with the
/// model unchanged: the two ways the ONNX backend suite found the conversion broke models.
#[test]
fn double_to_single_float_converts_tensor_attributes_and_refuses_bitcast() {
    let splits = Tensor::from_raw(
        "",
        ElemType::Double,
        &[2],
        [0.5f64, 1.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let mut m = model(
        &[],
        &[],
        &[],
        vec![
            Node::new("TreeEnsemble", ["x"], ["y"])
                .with_domain("ai.onnx.ml")
                .with_attribute("nodes_splits", AttributeValue::Tensor(splits)),
        ],
    );
    m.graph
        .inputs
        .push(ValueInfo::tensor("x", ElemType::Double, &[3, 2]));
    let (changed, _) = apply(&DoubleToSingleFloat, &mut m);
    assert!(changed);
    let AttributeValue::Tensor(t) = m.graph.nodes[0].attribute("nodes_splits").unwrap() else {
        panic!("a tensor attribute")
    };
    assert_eq!(t.elem_type(), ElemType::Float);
    assert_eq!(t.to_f64().unwrap(), [0.5, 1.5]);

    m.graph.nodes.push(
        Node::new("BitCast", ["x"], ["bits"])
            .with_name("reinterpret")
            .with_attribute("to", AttributeValue::Int(7)),
    );
    m.graph.inputs[0] = ValueInfo::tensor("x", ElemType::Double, &[3, 2]);
    let before = m.clone();
    let err = DoubleToSingleFloat
        .apply(&mut m, &mut TransformContext::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("node 'reinterpret' (BitCast)"),
        "{err}"
    );
    assert_eq!(m, before);
}

/// The declared input shape must agree with the weights, which are real data: a channel
/// count they do not have would index past them (4 declared, weights for 1) or size an
/// absurd matrix (2^40 declared). Refused, naming the node, with nothing allocated.
#[test]
fn a_declared_channel_count_the_weights_disagree_with_is_refused() {
    let mut m = model(
        &[("x", &[1, 4, 5, 5]), ("h", &[1, 1 << 40, 5, 5])],
        &[("a", &[1, 1, 5, 5]), ("b", &[1, 2, 3, 3])],
        &[("w", &[1, 1, 1, 1]), ("w2", &[2, 1, 3, 3])],
        vec![
            Node::new("Conv", ["x", "w"], ["a"]).with_name("four"),
            Node::new("Conv", ["h", "w2"], ["b"]).with_name("huge"),
        ],
    );
    let before = ops(&m).join(",");
    let (changed, notes) = apply(&LowerConvsToMatMul, &mut m);
    assert!(!changed);
    assert_eq!(ops(&m).join(","), before);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("Conv `four` left as it is: its input 'x' declares 4 channels, but its weights [1, 1, 1, 1] with group 1 take 1"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with(
            "Conv `huge` left as it is: its input 'h' declares 1099511627776 channels"
        ),
        "{notes:?}"
    );
}

/// `ExtractBiasFromConv` on a Conv whose weights have rank 1 (and on one whose every
/// tensor does) says so instead of panicking.
#[test]
fn a_conv_with_weights_of_rank_one_keeps_its_bias_with_a_diagnostic() {
    let mut m = model(
        &[("x", &[1, 2, 3, 3])],
        &[("y", &[1, 2, 3, 3])],
        &[("w", &[2]), ("b", &[2])],
        vec![Node::new("Conv", ["x", "w", "b"], ["y"]).with_name("flat")],
    );
    let before = m.clone();
    let (changed, notes) = apply(&ExtractBiasFromConv, &mut m);
    assert!(!changed);
    assert_eq!(m, before);
    assert_eq!(
        notes,
        [
            "Conv `flat` left as it is: its weights or data have rank 1; a convolution's have at \
          least 3 dimensions (batch or filters, channels, and a spatial one)"
        ]
    );
}

/// `FoldConstants` where two foldable nodes write one tensor (malformed: a tensor has one
/// producer): neither is folded, each says why, and nothing panics.
#[test]
fn two_folded_nodes_writing_one_tensor_stay_with_a_diagnostic() {
    use brainsmith_plugins::FoldConstants;
    let mut m = model(
        &[],
        &[("y", &[2, 2])],
        &[("c", &[4]), ("s", &[2])],
        vec![
            Node::new("Reshape", ["c", "s"], ["y"]).with_name("first"),
            Node::new("Reshape", ["c", "s"], ["y"]).with_name("second"),
        ],
    );
    // The shape [2, 2], as int64.
    m.graph.initializers[1] = Tensor::from_i64("s", &[2], &[2, 2]);
    let before = m.clone();
    let mut ctx = TransformContext::default();
    let changed = FoldConstants::default().apply(&mut m, &mut ctx).unwrap();
    assert!(!changed);
    assert_eq!(m, before);
    let notes: Vec<&str> = ctx
        .diagnostics()
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with(
            "cannot fold node `first` (Reshape): its output `y` is written more than once"
        ),
        "{notes:?}"
    );
}

/// A node name of 10,000 bytes is quoted shortened in `FoldConstants`' diagnostics.
#[test]
fn fold_constants_quotes_a_huge_node_name_shortened() {
    use brainsmith_plugins::FoldConstants;
    let long = "n".repeat(10_000);
    let mut m = model(
        &[],
        &[("y", &[4])],
        &[("c", &[4])],
        vec![
            Node::new("Identity", ["c"], ["y"]).with_name(&long),
            Node::new("Identity", ["c"], ["y"]).with_name("other"),
        ],
    );
    let mut ctx = TransformContext::default();
    FoldConstants::default().apply(&mut m, &mut ctx).unwrap();
    let message = &ctx.diagnostics()[0].message;
    assert!(
        message.starts_with(&format!(
            "cannot fold node `{}...(10000 bytes)`",
            &long[..60]
        )),
        "{}",
        &message[..message.len().min(300)]
    );
    assert!(message.len() < 400, "{} bytes", message.len());
}
