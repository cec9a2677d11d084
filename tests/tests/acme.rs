//! The third-party example: acme's kernel inferred on the real FINN MLP, code generated
//! by its backends through the registry.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{Language, Registry, StepContext, TransformContext};
use brainsmith_tests::model;

fn registry() -> &'static Registry {
    Registry::global().unwrap()
}

fn infer(m: &mut Model) -> TransformContext {
    let mut ctx = TransformContext::default();
    let t = registry().transform("InferThresholding").unwrap();
    assert!(t.instantiate().apply(m, &mut ctx).unwrap());
    ctx
}

#[test]
fn infers_thresholding_on_the_finn_mlp() {
    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    let ctx = infer(&mut m);
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    let mapped: Vec<&Node> = m
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == acme_plugins::OP_TYPE)
        .collect();
    assert_eq!(mapped.len(), 4);
    assert!(m.graph.nodes.iter().all(|n| n.op_type != "MultiThreshold"));
    let kernel = registry()
        .kernels_for_node_type(acme_plugins::DOMAIN, acme_plugins::OP_TYPE)
        .next()
        .unwrap();
    for node in &mapped {
        kernel.instantiate().check(node, &m.graph).unwrap();
        let p = acme_plugins::ThresholdingParams::read(node, &m.graph).unwrap();
        assert_eq!(
            (p.steps, p.output, p.scale, p.bias),
            (1, QuantType::Bipolar, 2.0, -1.0)
        );
    }
}

#[test]
fn the_generate_step_writes_hls_for_every_node() {
    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    infer(&mut m);
    let dir = std::env::temp_dir().join(format!("acme-codegen-{}", std::process::id()));
    let mut ctx = StepContext::new(registry()).with_output_dir(&dir);
    registry()
        .step("generate_hardware")
        .unwrap()
        .run(&mut m, &mut ctx)
        .unwrap();
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "MultiThreshold_0",
            "MultiThreshold_1",
            "MultiThreshold_2",
            "MultiThreshold_3"
        ]
    );
    let hls = std::fs::read_to_string(dir.join("MultiThreshold_0/MultiThreshold_0.hpp")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    insta::assert_snapshot!("hls_multithreshold_0", hls);
}

/// A thresholding node over an INT8 input with 3 shared thresholds.
fn int8_node() -> Model {
    let mut m = Model::default();
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 16])];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[1, 16])];
    *m.graph.initializers = vec![Tensor::from_f32("t", &[1, 3], &[-4.0, 0.5, 7.0])];
    m.graph.set_datatype("x", QuantType::Int(8));
    *m.graph.nodes = vec![
        Node::new("MultiThreshold", ["x", "t"], ["y"])
            .with_name("act")
            .with_domain("qonnx.custom_op.general")
            .with_attribute("out_dtype", AttributeValue::string("UINT2")),
    ];
    m
}

#[test]
fn rtl_backend_generates_systemverilog_for_integer_inputs() {
    let mut m = int8_node();
    infer(&mut m);
    let kernel = registry().kernel("Thresholding").unwrap();
    let rtl = kernel.best_backend(Some(Language::Rtl)).unwrap();
    let files = rtl
        .instantiate()
        .generate(&m.graph.nodes[0], &m.graph)
        .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, "act.sv");
    insta::assert_snapshot!("rtl_int8", files[0].contents);
}

#[test]
fn backend_and_kernel_errors_name_the_node() {
    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    infer(&mut m);
    let rtl = registry().backend("ThresholdingRtl").unwrap();
    let err = rtl
        .instantiate()
        .generate(&m.graph.nodes[4], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node 'MultiThreshold_0'") && err.contains("integer input type"),
        "{err}"
    );

    let mut m = int8_node();
    *m.graph.initializers = vec![Tensor::from_f32("t", &[1, 3], &[7.0, 0.5, -4.0])];
    infer(&mut m);
    let kernel = registry().kernel("Thresholding").unwrap();
    let err = kernel
        .instantiate()
        .check(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "node 'act': thresholds 't' are not ascending");
}

#[test]
fn multithreshold_with_runtime_thresholds_is_left_with_a_diagnostic() {
    let mut m = int8_node();
    m.graph.initializers.clear();
    m.graph
        .inputs
        .push(ValueInfo::tensor("t", ElemType::Float, &[1, 3]));
    let mut ctx = TransformContext::default();
    let t = registry().transform("InferThresholding").unwrap();
    assert!(!t.instantiate().apply(&mut m, &mut ctx).unwrap());
    assert_eq!(ctx.diagnostics()[0].node, "act");
    assert!(ctx.diagnostics()[0].message.contains("not constant"));
}
