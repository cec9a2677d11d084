//! The third-party example: acme's kernel inferred on the real FINN MLP, code generated
//! by its backends through the registry.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{BuildContext, Language, NodeAttrs, Registry, StepContext, TransformContext};
use brainsmith_tests::model;

fn registry() -> &'static Registry {
    Registry::global().unwrap()
}

fn infer(m: &mut Model) -> TransformContext {
    let mut ctx = TransformContext::default();
    let t = registry().transform("acme:InferThresholding").unwrap();
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
        let p = acme_plugins::ThresholdingAttrs::read(node).unwrap();
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
    let kernel = registry().kernel("acme:Thresholding").unwrap();
    let rtl = kernel.best_backend(Some(Language::Rtl)).unwrap();
    let generated = rtl
        .instantiate()
        .generate(
            kernel.instantiate().as_ref(),
            &m.graph.nodes[0],
            &m.graph,
            &BuildContext::default(),
        )
        .unwrap();
    assert_eq!(generated.sources.len(), 1);
    assert!(generated.params.is_empty());
    assert_eq!(generated.sources[0].path, "act.sv");
    assert_eq!(generated.interface.top, "act");
    let ports: Vec<(&str, u64)> = generated
        .interface
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.width))
        .collect();
    assert_eq!(ports, [("x", 8), ("count", 2)]);
    insta::assert_snapshot!("rtl_int8", generated.sources[0].contents);
}

#[test]
fn backend_and_kernel_errors_name_the_node() {
    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    infer(&mut m);
    let rtl = registry().backend("ThresholdingRtl").unwrap();
    let kernel = registry()
        .kernel("acme:Thresholding")
        .unwrap()
        .instantiate();
    let err = rtl
        .instantiate()
        .supports(kernel.as_ref(), &m.graph.nodes[4], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node 'MultiThreshold_0'") && err.contains("integer input type"),
        "{err}"
    );

    let mut m = int8_node();
    *m.graph.initializers = vec![Tensor::from_f32("t", &[1, 3], &[7.0, 0.5, -4.0])];
    infer(&mut m);
    let kernel = registry().kernel("acme:Thresholding").unwrap();
    let err = kernel
        .instantiate()
        .check(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'act' (Thresholding): thresholds 't' are not ascending"
    );
}

#[test]
fn multithreshold_with_runtime_thresholds_is_left_with_a_diagnostic() {
    let mut m = int8_node();
    m.graph.initializers.clear();
    m.graph
        .inputs
        .push(ValueInfo::tensor("t", ElemType::Float, &[1, 3]));
    let mut ctx = TransformContext::default();
    let t = registry().transform("acme:InferThresholding").unwrap();
    assert!(!t.instantiate().apply(&mut m, &mut ctx).unwrap());
    assert_eq!(ctx.diagnostics()[0].node, "act");
    assert!(ctx.diagnostics()[0].message.contains("not constant"));
}

#[test]
fn the_kernel_answers_every_hook_from_typed_attributes() {
    let mut m = int8_node();
    infer(&mut m);
    let node = &m.graph.nodes[0];
    let kernel = registry()
        .kernel("acme:Thresholding")
        .unwrap()
        .instantiate();
    let info = kernel.infer(node, &m.graph).unwrap();
    assert_eq!(
        (info[0].shape.as_slice(), info[0].datatype),
        (&[1i64, 16][..], QuantType::UInt(2))
    );
    let streams = kernel.streams(node, &m.graph).unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].folded_shape, [1, 16, 1]);
    assert_eq!((streams[0].width(), streams[1].width()), (8, 2));
    assert_eq!(
        kernel.folding(node, &m.graph).unwrap()[0].legal,
        [1, 2, 4, 8, 16]
    );
    assert_eq!(kernel.cycles(node, &m.graph).unwrap(), Some(16));

    // Folding by 4: a quarter of the cycles, four lanes per transfer.
    let mut folded = node.clone();
    folded.set_attribute("PE", AttributeValue::Int(4));
    assert_eq!(kernel.cycles(&folded, &m.graph).unwrap(), Some(4));
    let streams = kernel.streams(&folded, &m.graph).unwrap();
    assert_eq!(
        (streams[0].folded_shape.as_slice(), streams[0].width()),
        (&[1i64, 4, 4][..], 32)
    );
    let resources = kernel
        .resources(&folded, &m.graph, &Default::default())
        .unwrap()
        .unwrap();
    assert!(resources.lut > 0 && resources.dsp == 0, "{resources:?}");

    // The reference: count of thresholds (-4, 0.5, 7) reached.
    let x = Tensor::from_f32("x", &[1, 4], &[-5.0, 0.0, 0.5, 100.0]);
    let t = m.graph.constant("t").unwrap().clone();
    let mut four = node.clone();
    four.set_attribute("NumChannels", AttributeValue::Int(4));
    let y = kernel.execute(&four, &m.graph, &[x, t]).unwrap();
    assert_eq!(y[0].to_f64().unwrap(), [0.0, 1.0, 2.0, 3.0]);
}

#[test]
fn every_attribute_problem_of_a_node_is_reported_at_once() {
    let mut m = int8_node();
    infer(&mut m);
    let node = &mut m.graph.nodes[0];
    node.set_attribute("PE", AttributeValue::Int(3));
    node.set_attribute("inputDataType", AttributeValue::string("INT99"));
    node.attributes.retain(|a| a.name != "numSteps");
    let kernel = registry()
        .kernel("acme:Thresholding")
        .unwrap()
        .instantiate();
    let err = kernel
        .infer(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'act' (Thresholding) has 2 attribute problems:\n  \
         attribute 'numSteps': missing; this int attribute is required (Thresholds per channel)\n  \
         attribute 'inputDataType': unknown QONNX datatype 'INT99'; expected FLOAT32, FLOAT16, \
         BINARY, BIPOLAR, TERNARY, INT<n>, UINT<n>, FIXED<w,i>, SCALEDINT<n> or FLOAT<e,m,b>"
    );
    // With the fields readable, the cross-attribute rule speaks.
    let node = &mut m.graph.nodes[0];
    node.set_attribute("numSteps", AttributeValue::Int(3));
    node.set_attribute("inputDataType", AttributeValue::string("INT8"));
    let err = kernel
        .check(&m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "node 'act' (Thresholding): attribute 'PE': PE (3) does not divide NumChannels (16); \
         choose a divisor of 16"
    );
}

#[test]
fn the_standard_inference_asks_registered_kernels() {
    let mut m = int8_node();
    infer(&mut m);
    m.graph.value_info.clear();
    let mut ctx = TransformContext::default();
    for name in ["InferShapes", "InferDataTypes"] {
        registry()
            .transform(name)
            .unwrap()
            .instantiate()
            .apply(&mut m, &mut ctx)
            .unwrap();
    }
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    let y = m.graph.value_info_of("y").unwrap();
    assert_eq!(y.static_shape(), Some(vec![1, 16]));
    assert_eq!(m.graph.datatype("y"), Some(Ok(QuantType::UInt(2))));

    // A node the kernel refuses is a diagnostic naming the node and the attribute.
    m.graph.nodes[0].set_attribute("NumChannels", AttributeValue::Int(15));
    m.graph.nodes[0].set_attribute("PE", AttributeValue::Int(2));
    let mut ctx = TransformContext::default();
    registry()
        .transform("InferDataTypes")
        .unwrap()
        .instantiate()
        .apply(&mut m, &mut ctx)
        .unwrap();
    let message = &ctx.diagnostics()[0].message;
    assert!(
        message
            .starts_with("kernel 'acme:Thresholding': node 'act' (Thresholding): attribute 'PE'"),
        "{message}"
    );
}

#[test]
fn the_chosen_backend_is_recorded_finn_style_and_reads_back() {
    use brainsmith_core::hardware::{resolve, specialize};

    let mut m = int8_node();
    infer(&mut m);
    let rtl = registry().backend("ThresholdingRtl").unwrap();
    let hls = registry().backend("ThresholdingHls").unwrap();
    let node = &mut m.graph.nodes[0];
    specialize(node, rtl);
    assert_eq!(
        (node.op_type.as_str(), node.domain.as_str()),
        ("Thresholding_rtl", "acme.fpgadataflow.rtl")
    );
    assert!(
        node.attribute("backend").is_none(),
        "the only rtl backend needs no name"
    );
    let found = resolve(registry(), node).unwrap().unwrap();
    assert_eq!(found.kernel.name(), "Thresholding");
    assert_eq!(found.backend.unwrap().name(), "ThresholdingRtl");
    specialize(node, hls);
    assert_eq!(
        (node.op_type.as_str(), node.domain.as_str()),
        ("Thresholding_hls", "acme.fpgadataflow.hls")
    );
    assert_eq!(
        resolve(registry(), node)
            .unwrap()
            .unwrap()
            .backend
            .unwrap()
            .name(),
        "ThresholdingHls"
    );

    // A named backend that does not fit the node's language is an error naming both.
    node.set_attribute(
        "brainsmith_backend",
        AttributeValue::string("acme:ThresholdingRtl"),
    );
    let err = resolve(registry(), node).unwrap_err();
    assert!(
        err.contains("a rtl backend") && err.contains("hls node"),
        "{err}"
    );

    // The hooks still answer on the specialised node.
    node.attributes.retain(|a| a.name != "brainsmith_backend");
    let kernel = registry()
        .kernel("acme:Thresholding")
        .unwrap()
        .instantiate();
    assert_eq!(
        kernel.cycles(&m.graph.nodes[0], &m.graph).unwrap(),
        Some(16)
    );
}

#[test]
fn the_generate_step_falls_back_with_the_reason_and_specialises() {
    let mut m = int8_node();
    infer(&mut m);
    // Prefer RTL; the node's scaled output is beyond it, so HLS implements it.
    m.graph.nodes[0].set_attribute("out_scale", AttributeValue::Float(2.0));
    let dir = std::env::temp_dir().join(format!("acme-fallback-{}", std::process::id()));
    let plan_path = dir.join("b.toml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &plan_path,
        "steps = [\"generate_hardware\"]\n\
         kernels = [{ kernel = \"acme:Thresholding\", backends = [\"ThresholdingRtl\", \"ThresholdingHls\"] }]\n",
    )
    .unwrap();
    let plan = brainsmith_core::blueprint::Blueprint::check_file(&plan_path, registry())
        .unwrap_or_else(|e| panic!("{e}"));
    let report = brainsmith_core::blueprint::execute(
        &mut m,
        &plan,
        brainsmith_core::blueprint::Options {
            output_dir: Some(&dir),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<String> = report
        .steps
        .iter()
        .flat_map(|a| {
            a.diagnostics
                .iter()
                .map(|d| format!("{}: {}", d.node, d.message))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("act: acme:ThresholdingRtl refused it: node 'act' (Thresholding): the RTL backend outputs the threshold count")
            && warnings[0].ends_with("fell back to acme:ThresholdingHls"),
        "{warnings:?}"
    );
    assert_eq!(m.graph.nodes[0].op_type, "Thresholding_hls");
    assert!(dir.join("act/act.hpp").exists() && dir.join("act/act_params.hpp").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plugins_lists_the_kernel_under_the_op_type_it_is_mapped_from() {
    let (code, out, err) =
        brainsmith_tests::cli(&["plugins", "--op-type", "MultiThreshold", "--verbose"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("acme:Thresholding") && out.contains("acme:InferThresholding"),
        "{out}"
    );
    let (code, out, _) = brainsmith_tests::cli(&["plugins", "show", "acme:Thresholding"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("show_thresholding", out);
}

#[test]
fn inspect_lists_kernel_nodes_with_their_estimates() {
    let mut m = int8_node();
    infer(&mut m);
    let dir = std::env::temp_dir().join(format!("acme-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.onnx");
    m.save(&path).unwrap();
    let (code, out, err) = brainsmith_tests::cli(&["inspect", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("inspect_int8", out);
    let (code, json, _) =
        brainsmith_tests::cli(&["inspect", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["nodes"][0]["kernel"], "acme:Thresholding");
    assert_eq!(v["nodes"][0]["cycles"], 16);

    // A broken node: every problem listed, exit code 1, nothing panics.
    m.graph.nodes[0].set_attribute("PE", AttributeValue::Int(5));
    m.graph.nodes[0].set_attribute("outputDataType", AttributeValue::Int(2));
    m.save(&path).unwrap();
    let (code, out, err) = brainsmith_tests::cli(&["inspect", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("problem: attribute 'outputDataType': expected a STRING naming a QONNX datatype, found INT 2"), "{out}");
    assert!(err.contains("1 node(s) have problems"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `x -> MatMul(W) -> MultiThreshold(T)`: an INT8 input, a layer of integer weights, 16
/// channels of 3 ascending thresholds each.
fn matmul_threshold_model() -> Model {
    let mut m = Model::default();
    m.set_opset_version("", 13);
    *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, &[1, 8])];
    *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, &[1, 16])];
    let w: Vec<f32> = (0..8 * 16).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let t: Vec<f32> = (0..16)
        .flat_map(|c| [-4.0 + c as f32 / 2.0, c as f32 / 4.0, 6.0 + c as f32])
        .collect();
    *m.graph.initializers = vec![
        Tensor::from_f32("w", &[8, 16], &w),
        Tensor::from_f32("t", &[16, 3], &t),
    ];
    m.graph.set_datatype("x", QuantType::Int(8));
    *m.graph.nodes = vec![
        Node::new("MatMul", ["x", "w"], ["h"]).with_name("mm"),
        Node::new("MultiThreshold", ["h", "t"], ["y"])
            .with_name("act")
            .with_domain("qonnx.custom_op.general")
            .with_attribute("out_dtype", AttributeValue::string("UINT2")),
    ];
    m
}

#[test]
fn a_mapped_graph_runs_bit_exact_against_the_model_it_came_from() {
    use brainsmith_plugins::exec::{execute, max_abs_difference};

    let original = matmul_threshold_model();
    let mut mapped = original.clone();
    for name in ["InferShapes", "InferDataTypes", "acme:InferThresholding"] {
        registry()
            .transform(name)
            .unwrap()
            .instantiate()
            .apply(&mut mapped, &mut TransformContext::default())
            .unwrap();
    }
    assert_eq!(mapped.graph.nodes[1].op_type, "Thresholding");
    // Seeded INT8 inputs (a linear congruential generator: no dependency).
    let mut state = 12345u64;
    for _ in 0..20 {
        let x: Vec<f32> = (0..8)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 256) as f32 - 128.0
            })
            .collect();
        let x = Tensor::from_f32("x", &[1, 8], &x);
        assert_eq!(
            max_abs_difference(&original, &mapped, std::slice::from_ref(&x)).unwrap(),
            0.0
        );
        // And not trivially: the outputs use all four levels across the inputs.
        let y = execute(&mapped, &[x]).unwrap()[0].to_f64().unwrap();
        assert!(y.iter().all(|v| [0.0, 1.0, 2.0, 3.0].contains(v)), "{y:?}");
    }
    // A kernel that refuses to run names the node.
    mapped.graph.nodes[1].set_attribute("PE", AttributeValue::Int(3));
    let x = Tensor::from_f32("x", &[1, 8], &[0.0; 8]);
    let err = execute(&mapped, &[x]).unwrap_err().to_string();
    assert!(
        err.starts_with("kernel 'acme:Thresholding': node 'act' (Thresholding): attribute 'PE'"),
        "{err}"
    );
}
