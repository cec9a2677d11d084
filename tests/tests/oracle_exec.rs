//! The executor (`brainsmith_plugins::exec`) against qonnx's, bit for bit: the QONNX
//! quantizers in every signedness, narrowness and rounding mode, `MultiThreshold` in both
//! layouts with shared and per-channel thresholds, `Im2Col` plain and padded, `MaxPool` overlapping,
//! in ceil mode and padded, `TopK` with ties, `Conv` grouped, strided, dilated and padded,
//! the global pools, and the ONNX ops between them.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, Tensor, ValueInfo};
use brainsmith_core::{Transform, TransformContext};
use brainsmith_plugins::InferShapes;
use brainsmith_plugins::exec::execute;
use brainsmith_tests::oracle::{Oracle, scratch_dir};

const QONNX: &str = "qonnx.custom_op.general";

/// Seeded values in `[-range, range)`, some zero and some on exact halves, to exercise
/// the comparisons and the rounding.
fn values(n: usize, seed: u64, range: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 40) as f32 / (1u64 << 24) as f32;
            if i % 5 == 0 {
                0.0
            } else if i % 7 == 0 {
                ((u * 2.0 * range).floor() - range) + 0.5
            } else {
                (u * 2.0 - 1.0) * range
            }
        })
        .collect()
}

/// `x [1, 4, 3, 3]` through the QONNX quantizers and a thresholding, every variant.
fn quantizer_model() -> Model {
    let mut m = Model::default();
    m.set_opset_version("", 13);
    m.set_opset_version(QONNX, 1);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 4, 3, 3])];
    let scalar = |name: &str, v: f32| Tensor::from_f32(name, &[], &[v]);
    let mut inits = vec![
        scalar("s", 0.25),
        scalar("z0", 0.0),
        scalar("z1", 1.0),
        scalar("b1", 1.0),
        scalar("b3", 3.0),
        scalar("b4", 4.0),
        Tensor::from_f32("sc", &[1, 4, 1, 1], &[0.5, 0.125, 1.0, 2.0]),
        Tensor::from_f32("t_shared", &[1, 3], &[-1.0, 0.0, 1.5]),
        Tensor::from_f32(
            "t_chan",
            &[4, 2],
            &[-2.0, 0.0, -0.5, 0.5, 0.0, 1.0, 1.0, 3.0],
        ),
    ];
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    let quant =
        |out: &str, scale: &str, zp: &str, bits: &str, signed: i64, narrow: i64, mode: &str| {
            Node::new("Quant", ["x", scale, zp, bits], [out])
                .with_name(out)
                .with_domain(QONNX)
                .with_attribute("signed", AttributeValue::Int(signed))
                .with_attribute("narrow", AttributeValue::Int(narrow))
                .with_attribute("rounding_mode", AttributeValue::string(mode))
        };
    for (i, (bits, signed, narrow, mode, scale, zp)) in [
        ("b4", 1, 0, "ROUND", "s", "z0"),
        ("b4", 1, 1, "ROUND", "sc", "z0"),
        ("b3", 0, 0, "FLOOR", "s", "z1"),
        ("b3", 0, 1, "CEIL", "sc", "z0"),
        ("b4", 1, 0, "DOWN", "s", "z1"),
        ("b4", 1, 0, "up", "sc", "z0"),
        ("b3", 1, 0, "HALF_UP", "s", "z0"),
        ("b3", 1, 1, "HALF_DOWN", "sc", "z1"),
        ("b1", 0, 0, "ROUND", "s", "z0"),
        ("b1", 1, 0, "ROUND", "sc", "z0"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("q{i}");
        nodes.push(quant(&out, scale, zp, bits, signed, narrow, mode));
        outputs.push(out);
    }
    nodes.push(
        Node::new("BipolarQuant", ["x", "sc"], ["bq"])
            .with_name("bq")
            .with_domain(QONNX),
    );
    outputs.push("bq".into());
    // NCHW with per-channel thresholds, scaled and biased; NHWC after a transpose.
    nodes.push(
        Node::new("MultiThreshold", ["x", "t_chan"], ["mt_nchw"])
            .with_name("mt_nchw")
            .with_domain(QONNX)
            .with_attribute("out_scale", AttributeValue::Float(2.0))
            .with_attribute("out_bias", AttributeValue::Float(-1.0)),
    );
    outputs.push("mt_nchw".into());
    inits.push(Tensor::from_i64("perm", &[4], &[0, 2, 3, 1]));
    nodes.push(
        Node::new("Transpose", ["x"], ["x_nhwc"])
            .with_name("to_nhwc")
            .with_attribute("perm", AttributeValue::Ints(vec![0, 2, 3, 1])),
    );
    nodes.push(
        Node::new("MultiThreshold", ["x_nhwc", "t_chan"], ["mt_nhwc"])
            .with_name("mt_nhwc")
            .with_domain("finn.custom_op.general")
            .with_attribute("data_layout", AttributeValue::string("NHWC")),
    );
    outputs.push("mt_nhwc".into());
    nodes.push(
        Node::new("MultiThreshold", ["q0", "t_shared"], ["mt_shared"])
            .with_name("mt_shared")
            .with_domain(QONNX),
    );
    outputs.push("mt_shared".into());
    // Im2Col, plain, and padded with a taller stride and an uneven window.
    let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
    for (name, kernel, stride, pads) in [
        ("im2col", [2, 2], [1, 1], [0, 0, 0, 0]),
        ("im2col_padded", [3, 2], [2, 1], [1, 0, 1, 0]),
    ] {
        nodes.push(
            Node::new("Im2Col", ["x_nhwc"], [name])
                .with_name(name)
                .with_domain(QONNX)
                .with_attribute("kernel_size", ints(&kernel))
                .with_attribute("stride", ints(&stride))
                .with_attribute("pad_amount", ints(&pads))
                .with_attribute("input_shape", AttributeValue::string("(1, 3, 3, 4)")),
        );
        outputs.push(name.into());
    }
    // MaxPool: overlapping, ceil mode, padded.
    for (name, kernel, stride, pads, ceil) in [
        ("pool_overlap", [2, 2], [1, 1], [0, 0, 0, 0], 0),
        ("pool_ceil", [2, 2], [2, 2], [0, 0, 0, 0], 1),
        ("pool_padded", [2, 2], [2, 2], [1, 1, 0, 0], 0),
    ] {
        nodes.push(
            Node::new("MaxPool", ["x"], [name])
                .with_name(name)
                .with_attribute("kernel_shape", ints(&kernel))
                .with_attribute("strides", ints(&stride))
                .with_attribute("pads", ints(&pads))
                .with_attribute("ceil_mode", AttributeValue::Int(ceil)),
        );
        outputs.push(name.into());
    }
    // TopK along the last axis, with ties among the values.
    inits.push(Tensor::from_i64("k", &[1], &[2]));
    nodes.push(Node::new("Floor", ["x"], ["x_floor"]).with_name("floor"));
    // Global pools: the mean of integers (a sum, then one division) and the maximum.
    for (name, op) in [("gap", "GlobalAveragePool"), ("gmp", "GlobalMaxPool")] {
        nodes.push(Node::new(op, ["x_floor"], [name]).with_name(name));
        outputs.push(name.into());
    }
    // Conv on integer values (exact in any summation order, so onnxruntime's order and
    // ours agree): padded unevenly; grouped, strided, with a bias; dilated.
    let small = |n: usize, seed: u64| -> Vec<f32> {
        values(n, seed, 3.0).iter().map(|v| v.round()).collect()
    };
    for (name, wshape, group, stride, dilation, pads, bias) in [
        (
            "conv_plain",
            [3, 4, 2, 2],
            1,
            [1, 1],
            [1, 1],
            [1, 0, 0, 1],
            false,
        ),
        (
            "conv_group",
            [4, 2, 2, 2],
            2,
            [2, 2],
            [1, 1],
            [1, 1, 1, 1],
            true,
        ),
        (
            "conv_dilated",
            [2, 4, 2, 2],
            1,
            [1, 1],
            [2, 2],
            [0, 0, 0, 0],
            false,
        ),
    ] {
        let len: i64 = wshape.iter().product();
        let wname = format!("{name}_w");
        inits.push(Tensor::from_f32(
            wname.as_str(),
            &wshape,
            &small(len as usize, 7 + wshape[0] as u64),
        ));
        let mut ins = vec!["x_floor".to_owned(), wname];
        if bias {
            let bname = format!("{name}_b");
            inits.push(Tensor::from_f32(
                bname.as_str(),
                &[wshape[0]],
                &small(4, 99),
            ));
            ins.push(bname);
        }
        nodes.push(
            Node::new("Conv", ins.iter().map(String::as_str), [name])
                .with_name(name)
                .with_attribute("group", AttributeValue::Int(group))
                .with_attribute("strides", ints(&stride))
                .with_attribute("dilations", ints(&dilation))
                .with_attribute("pads", ints(&pads)),
        );
        outputs.push(name.into());
    }
    nodes.push(
        Node::new("TopK", ["x_floor", "k"], ["topk_values", "topk_indices"]).with_name("topk"),
    );
    outputs.push("topk_values".into());
    outputs.push("topk_indices".into());
    inits.retain(|t| t.name() != "perm");
    *m.graph.initializers = inits;
    *m.graph.nodes = nodes;
    *m.graph.outputs = outputs
        .iter()
        .map(|o| {
            let shape: &[i64] = match o.as_str() {
                "mt_nhwc" => &[1, 3, 3, 4],
                "im2col" => &[1, 2, 2, 16],
                "im2col_padded" => &[1, 2, 2, 24],
                "pool_overlap" | "pool_ceil" | "pool_padded" => &[1, 4, 2, 2],
                "topk_values" | "topk_indices" => &[1, 4, 3, 2],
                "conv_plain" => &[1, 3, 3, 3],
                "gap" | "gmp" => &[1, 4, 1, 1],
                "conv_group" => &[1, 4, 2, 2],
                "conv_dilated" => &[1, 2, 1, 1],
                _ => &[1, 4, 3, 3],
            };
            let elem = if o == "topk_indices" {
                ElemType::Int64
            } else {
                ElemType::Float
            };
            ValueInfo::tensor(o.as_str(), elem, shape)
        })
        .collect();
    // qonnx's Im2Col reads its input's datatype annotation.
    m.graph
        .set_datatype("x_nhwc", brainsmith_core::ir::QuantType::Float32);
    // qonnx's executor wants every intermediate shape declared.
    InferShapes
        .apply(&mut m, &mut TransformContext::default())
        .unwrap();
    m
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn the_executor_matches_qonnx_bit_for_bit() {
    let model = quantizer_model();
    let Some(oracle) = Oracle::find() else { return };
    let dir = scratch_dir("oracle_exec");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("quantizers.onnx");
    model.save(&path).unwrap();
    for seed in 0..5 {
        let x = Tensor::from_f32("x", &[1, 4, 3, 3], &values(36, seed, 3.0));
        let ours = execute(&model, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{e}"));
        let theirs = oracle
            .execute(&path, &[x], &dir)
            .unwrap_or_else(|e| panic!("qonnx: {e}"));
        assert_eq!(ours.len(), theirs.len());
        for ((o, t), name) in ours.iter().zip(&theirs).zip(model.graph.outputs.iter()) {
            assert_eq!(o.dims(), t.dims(), "output {}", name.name);
            let (o, t) = (o.to_f64().unwrap(), t.to_f64().unwrap());
            assert_eq!(
                o.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                t.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "output {} (seed {seed}): ours {o:?}, qonnx {t:?}",
                name.name
            );
        }
    }
}
