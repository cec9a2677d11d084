//! The cleanup transforms on the real models and on graphs built for one edge case each.

use std::collections::HashSet;

use brainsmith_core::ir::{ElemType, Model, Node, Tensor, ValueInfo};
use brainsmith_core::{Registry, StepContext, TransformContext};
use brainsmith_tests::{all_models, histogram, model};

fn registry() -> &'static Registry {
    Registry::global().unwrap()
}

fn apply(name: &str, model: &mut Model) -> Result<bool, String> {
    let t = registry().transform(name).map_err(|e| e.to_string())?;
    t.instantiate()
        .apply(model, &mut TransformContext::default())
        .map_err(|e| e.to_string())
}

/// A float model with the given inputs and outputs (shape `[1, 4]`) and nodes.
fn graph(inputs: &[&str], outputs: &[&str], nodes: Vec<Node>) -> Model {
    let mut m = Model::default();
    m.graph.inputs = inputs
        .iter()
        .map(|n| ValueInfo::tensor(*n, ElemType::Float, &[1, 4]))
        .collect();
    m.graph.outputs = outputs
        .iter()
        .map(|n| ValueInfo::tensor(*n, ElemType::Float, &[1, 4]))
        .collect();
    *m.graph.nodes = nodes;
    m
}

/// Every tensor a node reads is a graph input, an initializer or an earlier output.
fn assert_well_formed(name: &str, m: &Model) {
    let mut available: HashSet<&str> = m.graph.inputs.iter().map(|v| v.name.as_str()).collect();
    available.extend(m.graph.initializers.iter().map(|t| t.name()));
    available.insert("");
    for node in &m.graph.nodes {
        for input in &node.inputs {
            assert!(
                available.contains(input.as_str()),
                "{name}: '{}' reads '{input}' before it exists",
                node.name
            );
        }
        available.extend(node.outputs.iter().map(String::as_str));
    }
    for output in &m.graph.outputs {
        assert!(
            available.contains(output.name.as_str()),
            "{name}: output '{}' is not produced",
            output.name
        );
    }
}

#[test]
fn cleanup_step_on_every_real_model() {
    for (name, mut m) in all_models() {
        let before = histogram(&m);
        let mut ctx = StepContext::new(registry());
        registry()
            .step("cleanup")
            .unwrap()
            .run(&mut m, &mut ctx)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_well_formed(&name, &m);
        // Only identity-capable op types, and Constant nodes nothing reads, may disappear.
        let after = histogram(&m);
        for (op, n) in &before {
            let left = after.iter().find(|(o, _)| o == op).map_or(0, |(_, n)| *n);
            if left != *n {
                assert!(
                    [
                        "Identity",
                        "Add",
                        "Sub",
                        "Mul",
                        "Div",
                        "Reshape",
                        "Transpose",
                        "Constant"
                    ]
                    .contains(&op.as_str()),
                    "{name}: {op} went from {n} to {left}"
                );
            }
        }
        // Names are unique, readable and stable: a second run changes nothing.
        let names: HashSet<&str> = m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names.len(),
            m.graph.nodes.len(),
            "{name}: node names are not unique"
        );
        for transform in [
            "SortGraph",
            "GiveUniqueNodeNames",
            "GiveReadableTensorNames",
            "RemoveUnusedTensors",
        ] {
            assert_eq!(
                apply(transform, &mut m),
                Ok(false),
                "{name}: {transform} is not idempotent"
            );
        }
        // The result is a valid model file that re-encodes to the same bytes.
        let bytes = m.encode();
        let again = Model::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            again.encode() == bytes,
            "{name}: cleaned model does not round-trip"
        );
    }
}

#[test]
fn removes_the_four_multiplications_by_one_of_the_finn_mlp() {
    // Each MatMul of the streamlined MLP is followed by `Mul` with the scalar 1.0; the
    // other Mul/Sub/Div nodes scale by 2, 255, 0.73... and stay.
    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    let removed: Vec<String> = ["Mul_1", "Mul_2", "Mul_3", "Mul_4"]
        .map(String::from)
        .to_vec();
    let mut expected: Vec<String> = m
        .graph
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| !removed.contains(n))
        .collect();
    assert_eq!(apply("RemoveIdentityOps", &mut m), Ok(true));
    let names: Vec<String> = m.graph.nodes.iter().map(|n| n.name.clone()).collect();
    expected.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let unsqueeze = m
        .graph
        .nodes
        .iter()
        .find(|n| n.name == "Unsqueeze_0")
        .unwrap();
    assert_eq!(unsqueeze.inputs, ["MatMul_0_out0"]);
    assert_well_formed("finn_tfc", &m);
    assert_eq!(apply("RemoveIdentityOps", &mut m), Ok(false));
}

#[test]
fn never_takes_an_epsilon_for_zero() {
    // The expanded LayerNormalization adds its epsilon (1e-5) to the variance.
    let mut m = model("node_test_layer_normalization_4d_axis_negative_1_expanded.onnx");
    let before = histogram(&m);
    apply("RemoveIdentityOps", &mut m).unwrap();
    assert_eq!(histogram(&m), before);
}

#[test]
fn exact_identities_are_removed_and_uses_rewired() {
    let zero = Tensor::from_f32("zero", &[1], &[0.0]);
    let one = Tensor::from_f32("one", &[], &[1.0]);
    let shape = Tensor::from_i64("shape", &[2], &[1, -1]);
    let mut m = graph(
        &["x"],
        &["y"],
        vec![
            Node::new("Relu", ["x"], ["a"]),
            Node::new("Identity", ["a"], ["b"]),
            Node::new("Add", ["b", "zero"], ["c"]),
            Node::new("Mul", ["one", "c"], ["d"]),
            Node::new("Div", ["d", "one"], ["e"]),
            Node::new("Sub", ["e", "zero"], ["f"]),
            Node::new("Reshape", ["f", "shape"], ["g"]),
            Node::new("Transpose", ["g"], ["h"]).with_attribute(
                "perm",
                brainsmith_core::ir::AttributeValue::Ints(vec![0, 1]),
            ),
            Node::new("Identity", ["h"], ["y"]),
        ],
    );
    *m.graph.initializers = vec![zero, one, shape];
    m.graph.value_info = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .map(|n| ValueInfo::tensor(*n, ElemType::Float, &[1, 4]))
        .collect();
    assert_eq!(apply("RemoveIdentityOps", &mut m), Ok(true));
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Relu"]);
    // The graph output keeps its name; the producer writes it directly.
    assert_eq!(m.graph.nodes[0].outputs, ["y"]);
    assert_eq!(m.graph.outputs[0].name, "y");
    assert_well_formed("chain", &m);
    assert_eq!(apply("RemoveUnusedTensors", &mut m), Ok(true));
    assert!(m.graph.initializers.is_empty());
    // The merged tensors' value infos collapse onto the graph output, which needs none.
    assert!(m.graph.value_info.is_empty(), "{:?}", m.graph.value_info);
}

#[test]
fn keeps_what_is_not_an_exact_identity() {
    let big_zero = Tensor::from_f32("zeros", &[3, 1, 4], &[0.0; 12]);
    let eps = Tensor::from_f32("eps", &[], &[1e-5]);
    let mut m = graph(
        &["x", "z"],
        &["y", "w", "v", "u"],
        vec![
            // Broadcasting to [3, 1, 4] changes the shape.
            Node::new("Add", ["x", "zeros"], ["y"]),
            // Not exactly zero.
            Node::new("Add", ["x", "eps"], ["w"]),
            // 0 - x is a negation.
            Node::new("Sub", ["eps", "x"], ["v"]),
            // A graph input straight to a graph output has no producer to rename.
            Node::new("Identity", ["z"], ["u"]),
        ],
    );
    *m.graph.initializers = vec![big_zero, eps];
    assert_eq!(apply("RemoveIdentityOps", &mut m), Ok(false));
    assert_eq!(m.graph.nodes.len(), 4);
}

#[test]
fn a_constant_that_is_also_a_graph_input_is_not_constant() {
    let mut m = graph(
        &["x", "zero"],
        &["y"],
        vec![Node::new("Add", ["x", "zero"], ["y"])],
    );
    *m.graph.initializers = vec![Tensor::from_f32("zero", &[], &[0.0])];
    assert_eq!(apply("RemoveIdentityOps", &mut m), Ok(false));
}

#[test]
fn readable_names_rename_every_use_of_a_tensor() {
    // qonnx 1.0.0 renames only the first use in a node and leaves Mul(x, x) dangling.
    let mut m = graph(
        &["x"],
        &["y"],
        vec![
            Node::new("Mul", ["x", "x"], ["t"]),
            Node::new("Mul", ["t", "t"], ["y"]),
        ],
    );
    apply("GiveUniqueNodeNames", &mut m).unwrap();
    apply("GiveReadableTensorNames", &mut m).unwrap();
    assert_eq!(m.graph.nodes[0].name, "Mul_0");
    assert_eq!(m.graph.nodes[0].inputs, ["global_in", "global_in"]);
    assert_eq!(m.graph.nodes[1].inputs, ["Mul_0_out0", "Mul_0_out0"]);
    assert_eq!(m.graph.nodes[1].outputs, ["global_out"]);
    assert_well_formed("square", &m);
}

#[test]
fn readable_names_need_unique_node_names() {
    let mut m = graph(&["x"], &["y"], vec![Node::new("Relu", ["x"], ["y"])]);
    let err = apply("GiveReadableTensorNames", &mut m).unwrap_err();
    assert!(err.contains("run GiveUniqueNodeNames first"), "{err}");
}

#[test]
fn sort_graph_orders_reversed_nodes_stably() {
    let mut m = graph(
        &["x"],
        &["y"],
        vec![
            Node::new("Relu", ["b"], ["y"]).with_name("last"),
            Node::new("Neg", ["a"], ["b"]).with_name("middle"),
            Node::new("Abs", ["x"], ["a"]).with_name("first"),
            Node::new("Sigmoid", ["x"], ["unused"]).with_name("independent"),
        ],
    );
    assert_eq!(apply("SortGraph", &mut m), Ok(true));
    let names: Vec<&str> = m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["first", "middle", "last", "independent"]);
    assert_eq!(apply("SortGraph", &mut m), Ok(false));
}

#[test]
fn sort_graph_reports_cycles_and_dangling_inputs() {
    let mut cyclic = graph(
        &["x"],
        &["y"],
        vec![
            Node::new("Add", ["x", "b"], ["a"]).with_name("n1"),
            Node::new("Relu", ["a"], ["b"]).with_name("n2"),
        ],
    );
    let err = apply("SortGraph", &mut cyclic).unwrap_err();
    assert!(
        err.contains("cycle") && err.contains("'n1' (Add)") && err.contains("'n2' (Relu)"),
        "{err}"
    );

    let mut dangling = graph(
        &["x"],
        &["y"],
        vec![Node::new("Add", ["x", "ghost"], ["y"]).with_name("n")],
    );
    let before = dangling.clone();
    let err = apply("SortGraph", &mut dangling).unwrap_err();
    assert!(err.contains("node 'n' (Add) reads tensor 'ghost'"), "{err}");
    assert_eq!(dangling, before, "a failed sort leaves the graph as it was");
}

#[test]
fn unused_initializers_leave_old_style_input_lists_too() {
    // The ESPCN exports list their initializers among the graph inputs (old IR style).
    let mut m = model("qonnx_espcn_subpixel_quant.onnx");
    let real_inputs = m
        .graph
        .inputs
        .iter()
        .filter(|i| m.graph.initializer(&i.name).is_none())
        .count();
    m.graph
        .initializers
        .push(Tensor::from_f32("orphan", &[1], &[3.0]));
    m.graph
        .inputs
        .push(ValueInfo::tensor("orphan", ElemType::Float, &[1]));
    assert_eq!(apply("RemoveUnusedTensors", &mut m), Ok(true));
    assert!(m.graph.initializer("orphan").is_none());
    assert!(m.graph.inputs.iter().all(|i| i.name != "orphan"));
    let still_real = m
        .graph
        .inputs
        .iter()
        .filter(|i| m.graph.initializer(&i.name).is_none())
        .count();
    assert_eq!(still_real, real_inputs);
}

#[test]
fn a_configured_transform_reads_its_keys_and_names_every_bad_one() {
    let remove = registry().transform("RemoveIdentityOps").unwrap();
    let keys: Vec<&str> = remove.config_fields().iter().map(|f| f.name).collect();
    assert_eq!(keys, ["tolerance"]);
    assert_eq!(remove.config_fields()[0].default, Some("0.0"));

    let table = |text: &str| -> toml::Table { text.parse().unwrap() };
    let err = |text: &str| {
        remove
            .configure(&table(text))
            .err()
            .expect("a bad configuration")
            .to_string()
    };
    assert_eq!(
        err("tolerence = 1e-5"),
        "configuration of transform 'brainsmith:RemoveIdentityOps': unknown key 'tolerence'; \
         did you mean 'tolerance'? (keys: tolerance)"
    );
    assert!(
        err("tolerance = \"big\"").starts_with(
            "configuration of transform 'brainsmith:RemoveIdentityOps': key 'tolerance' must \
             be f64: invalid type: string \"big\", expected f64"
        ),
        "{}",
        err("tolerance = \"big\"")
    );
    let two = err("tolerance = \"${BRAINSMITH_TEST_SURELY_UNSET}\"\nextra = 1");
    assert!(two.contains("unknown key 'extra'"), "{two}");
    assert!(
        two.contains("'BRAINSMITH_TEST_SURELY_UNSET', which is not set"),
        "{two}"
    );
    let sort = registry().transform("SortGraph").unwrap();
    assert!(
        sort.configure(&table("x = 1"))
            .err()
            .unwrap()
            .to_string()
            .ends_with("unknown key 'x' (it takes no configuration)")
    );

    // qonnx's tolerance deletes the `+ epsilon` of an expanded LayerNorm; the default keeps it.
    let mut exact = model("node_test_layer_normalization_4d_axis_negative_1_expanded.onnx");
    apply("FoldConstants", &mut exact).unwrap();
    let mut loose = exact.clone();
    let adds = |m: &Model| m.graph.nodes.iter().filter(|n| n.op_type == "Add").count();
    let before = adds(&exact);
    assert_eq!(apply("RemoveIdentityOps", &mut exact), Ok(false));
    let configured = remove.configure(&table("tolerance = 1e-5")).unwrap();
    assert!(
        configured
            .apply(&mut loose, &mut TransformContext::default())
            .unwrap()
    );
    assert_eq!((adds(&exact), adds(&loose)), (before, before - 1));
}
