//! The evaluators checked against numpy, family by family.

use brainsmith_core::ir::{AttributeValue, ElemType, Node};

use crate::eval::{Array, Run, Values, evaluate, supports};

fn ints(dims: &[usize], v: &[i64]) -> Array {
    Array::ints(ElemType::Int64, dims.to_vec(), v.to_vec())
}

fn floats(dims: &[usize], v: &[f64]) -> Array {
    Array::floats(ElemType::Float, dims.to_vec(), v.to_vec())
}

fn run(node: Node, inputs: &[&Array]) -> Array {
    let inputs: Vec<Option<&Array>> = inputs.iter().map(|a| Some(*a)).collect();
    let run = Run {
        opset: 18,
        max_elements: usize::MAX,
    };
    evaluate(&node, &inputs, &run).unwrap().remove(0)
}

#[test]
fn data_movement_matches_numpy() {
    let x = ints(&[2, 3], &[0, 1, 2, 3, 4, 5]);
    let t = run(Node::new("Transpose", ["x"], ["y"]), &[&x]);
    assert_eq!(
        (t.dims, t.values),
        (vec![3, 2], Values::Int(vec![0, 3, 1, 4, 2, 5]))
    );
    // x[:, ::-2]
    let s = run(
        Node::new("Slice", ["x", "s", "e", "a", "t"], ["y"]),
        &[
            &x,
            &ints(&[1], &[-1]),
            &ints(&[1], &[i64::MIN]),
            &ints(&[1], &[1]),
            &ints(&[1], &[-2]),
        ],
    );
    assert_eq!(
        (s.dims, s.values),
        (vec![2, 2], Values::Int(vec![2, 0, 5, 3]))
    );
    let g = run(
        Node::new("Gather", ["x", "i"], ["y"]).with_attribute("axis", AttributeValue::Int(1)),
        &[&x, &ints(&[2], &[-1, 0])],
    );
    assert_eq!(
        (g.dims, g.values),
        (vec![2, 2], Values::Int(vec![2, 0, 5, 3]))
    );
    let c = run(
        Node::new("Concat", ["x", "x"], ["y"]).with_attribute("axis", AttributeValue::Int(1)),
        &[&x, &x],
    );
    assert_eq!(c.dims, vec![2, 6]);
    assert_eq!(
        c.values,
        Values::Int(vec![0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
    );
    let e = run(
        Node::new("Expand", ["x", "s"], ["y"]),
        &[&ints(&[2, 1], &[7, 8]), &ints(&[2], &[2, 2])],
    );
    assert_eq!(e.values, Values::Int(vec![7, 7, 8, 8]));
    let w = run(
        Node::new("Where", ["c", "a", "b"], ["y"]),
        &[
            &Array::ints(ElemType::Bool, vec![2, 1], vec![1, 0]),
            &ints(&[2], &[1, 2]),
            &ints(&[1], &[9]),
        ],
    );
    assert_eq!(
        (w.dims, w.values),
        (vec![2, 2], Values::Int(vec![1, 2, 9, 9]))
    );
    let tl = run(
        Node::new("Tile", ["x", "r"], ["y"]),
        &[&ints(&[1, 2], &[1, 2]), &ints(&[2], &[2, 2])],
    );
    assert_eq!(tl.values, Values::Int(vec![1, 2, 1, 2, 1, 2, 1, 2]));
}

#[test]
fn arithmetic_follows_onnx_semantics() {
    let m = run(
        Node::new("Mod", ["a", "b"], ["y"]),
        &[&ints(&[2], &[-7, 7]), &ints(&[1], &[3])],
    );
    assert_eq!(m.values, Values::Int(vec![2, 1]));
    let d = run(
        Node::new("Div", ["a", "b"], ["y"]),
        &[&ints(&[2], &[-7, 7]), &ints(&[1], &[2])],
    );
    assert_eq!(d.values, Values::Int(vec![-3, 3]));
    let f = run(
        Node::new("Div", ["a", "b"], ["y"]),
        &[&floats(&[1], &[1.0]), &floats(&[1], &[3.0])],
    );
    assert_eq!(f.values, Values::Float(vec![f64::from(1.0f32 / 3.0f32)]));
    let mm = run(
        Node::new("MatMul", ["a", "b"], ["y"]),
        &[
            &floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
            &floats(&[2], &[1.0, 1.0]),
        ],
    );
    assert_eq!(
        (mm.dims, mm.values),
        (vec![2], Values::Float(vec![3.0, 7.0]))
    );
    let r = run(
        Node::new("ReduceMean", ["x", "a"], ["y"])
            .with_attribute("keepdims", AttributeValue::Int(0)),
        &[&floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]), &ints(&[1], &[-1])],
    );
    assert_eq!((r.dims, r.values), (vec![2], Values::Float(vec![1.5, 3.5])));
    let err = evaluate(
        &Node::new("Div", ["a", "b"], ["y"]),
        &[Some(&ints(&[1], &[1])), Some(&ints(&[1], &[0]))],
        &Run {
            opset: 17,
            max_elements: 16,
        },
    );
    assert_eq!(err.unwrap_err(), "integer division by zero");
}

/// Outputs larger than the limit are refused before anything is allocated: each of
/// these would need far more memory than any machine has.
#[test]
fn absurd_outputs_are_refused() {
    let small = Run {
        opset: 18,
        max_elements: 1000,
    };
    let huge = ints(&[2], &[1 << 40, 1 << 40]);
    let wide = ints(&[3], &[1 << 20, 1 << 20, 1 << 10]);
    let column = floats(&[40, 1], &[0.5; 40]);
    let row = floats(&[1, 40], &[0.5; 40]);
    let point = floats(&[1], &[0.5]);
    let reps = ints(&[2], &[1, 1 << 40]);
    let (zero, far, one) = (ints(&[], &[0]), ints(&[], &[1 << 62]), ints(&[], &[1]));
    let indices = ints(&[40, 40], &[0; 1600]);
    let cases: Vec<(Node, Vec<&Array>, &str)> = vec![
        (
            Node::new("ConstantOfShape", ["s"], ["y"]),
            vec![&huge],
            "[1099511627776, 1099511627776] would hold more than 2^64 values",
        ),
        (
            Node::new("Expand", ["x", "s"], ["y"]),
            vec![&point, &wide],
            "[1048576, 1048576, 1024] would hold 1125899906842624 values",
        ),
        (
            Node::new("Tile", ["x", "r"], ["y"]),
            vec![&row, &reps],
            "[1, 43980465111040] would hold 43980465111040 values",
        ),
        (
            Node::new("Range", ["a", "b", "c"], ["y"]),
            vec![&zero, &far, &one],
            "[4611686018427387904] would hold 4611686018427387904 values",
        ),
        (
            Node::new("Add", ["a", "b"], ["y"]),
            vec![&column, &row],
            "[40, 40] would hold 1600 values",
        ),
        (
            Node::new("MatMul", ["a", "b"], ["y"]),
            vec![&column, &row],
            "[1, 40, 40] would hold 1600 values",
        ),
        (
            Node::new("Gather", ["a", "i"], ["y"]),
            vec![&column, &indices],
            "[40, 40, 1] would hold 1600 values",
        ),
    ];
    for (node, inputs, expected) in cases {
        let inputs: Vec<Option<&Array>> = inputs.into_iter().map(Some).collect();
        let err = evaluate(&node, &inputs, &small).unwrap_err();
        assert!(
            err.contains(expected) && err.contains("more than `max_elements` (1000)"),
            "{}: {err}",
            node.op_type
        );
    }
    // At the limit, the same kind of node evaluates.
    let fill = evaluate(
        &Node::new("ConstantOfShape", ["s"], ["y"]),
        &[Some(&ints(&[1], &[1000]))],
        &small,
    )
    .unwrap();
    assert_eq!(fill[0].len(), 1000);
}

/// No kernel panics, whatever its node holds: every op type with a kernel, given 0 to
/// 5 inputs from a pool of odd arrays (empty, scalar, extreme and negative values,
/// mismatched shapes) and attributes of empty, zero, negative and extreme values,
/// returns values or an error, and never more values than the limit.
#[test]
fn no_kernel_panics_on_malformed_nodes() {
    let pool = [
        ints(&[], &[i64::MAX]),
        ints(&[], &[-1]),
        ints(&[4], &[1 << 40, i64::MIN, 0, 3]),
        ints(&[2], &[2, 3]),
        ints(&[1], &[-7]),
        ints(&[0, 5], &[]),
        floats(&[2, 3], &[1.0, -2.0, f64::NAN, 4.0, f64::INFINITY, 0.0]),
        floats(&[], &[f64::NAN]),
        floats(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]),
        Array::ints(ElemType::Bool, vec![2, 1], vec![1, 0]),
    ];
    let values = [
        AttributeValue::Int(0),
        AttributeValue::Int(-1),
        AttributeValue::Int(3),
        AttributeValue::Int(i64::MAX),
        AttributeValue::Int(i64::MIN),
        AttributeValue::Ints(vec![]),
        AttributeValue::Ints(vec![0, 0]),
        AttributeValue::Ints(vec![-1, i64::MAX]),
        AttributeValue::Ints(vec![1, 0, 2, 5]),
        AttributeValue::Float(f32::NAN),
        AttributeValue::Floats(vec![]),
        AttributeValue::Tensor(brainsmith_core::ir::Tensor::from_i64("v", &[2], &[1, 2])),
        AttributeValue::string("x"),
    ];
    const NAMES: &[&str] = &[
        "value",
        "value_int",
        "value_ints",
        "value_float",
        "value_floats",
        "to",
        "axis",
        "axes",
        "perm",
        "keepdims",
        "starts",
        "ends",
        "shape",
        "min",
        "max",
        "allowzero",
        "noop_with_empty_axes",
    ];
    let limit = Run {
        opset: 18,
        max_elements: 1 << 12,
    };
    let mut failures = Vec::new();
    let mut cases = 0;
    let ops: Vec<&str> = crate::shapes::op_types()
        .filter(|&(op, domain)| {
            domain == super::Domain::Onnx && supports(&Node::new(op, [""; 0], ["y"]))
        })
        .map(|(op, _)| op)
        .collect();
    assert!(ops.len() > 40, "only {} op types have kernels", ops.len());
    for &op in &ops {
        for arity in 0..=5 {
            for variant in 0..2 * pool.len() * values.len() {
                let inputs: Vec<Option<&Array>> = (0..arity)
                    .map(|i| Some(&pool[(variant + i * (1 + variant / pool.len())) % pool.len()]))
                    .collect();
                let mut node = Node::new(op, vec![""; arity], ["y"]);
                for (k, name) in NAMES.iter().enumerate() {
                    // Half the variants leave attribute `k` out; the rest mix values.
                    if (variant / values.len() + k).is_multiple_of(2) {
                        node.set_attribute(name, values[(variant + k) % values.len()].clone());
                    }
                }
                for opset in [9, 13, 18] {
                    cases += 1;
                    let run = Run { opset, ..limit };
                    let outcome = std::panic::catch_unwind(|| evaluate(&node, &inputs, &run));
                    match outcome {
                        Err(_) => failures.push(format!(
                            "{op}, opset {opset}, inputs {inputs:?}, attributes {:?}",
                            node.attributes
                        )),
                        Ok(Ok(outputs)) => assert!(
                            outputs.iter().all(|o| o.len() <= limit.max_elements),
                            "{op} made an output over the limit"
                        ),
                        Ok(Err(_)) => {}
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases panicked, among them:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}

/// No op type gets two shape rules, two evaluators or two view rules: the table would
/// keep the last silently.
#[test]
fn every_op_is_registered_once_per_kind() {
    use super::{FAMILIES, What};
    let mut seen = std::collections::HashSet::new();
    for entry in FAMILIES.iter().flat_map(|f| f.iter()) {
        let kind = match entry.what {
            What::Shape(_) => 0,
            What::Eval(..) => 1,
            What::View(_) => 2,
        };
        for &op in entry.ops {
            assert!(
                seen.insert((entry.domain, op, kind)),
                "{op} registered twice (kind {kind})"
            );
        }
    }
}
