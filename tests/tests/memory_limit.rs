//! Allocation bounds, an architecture invariant: every registered transform, applied to
//! models whose declared sizes are absurd (dimensions of 2^31 and beyond, shape tensors
//! asking for as much, initializers whose data is far shorter than their dimensions),
//! runs within a limit on the address space. The sweep runs in a child process (this
//! test binary again) under `ulimit -v`, so an allocation sized from a declared shape
//! fails there and kills the child, and the parent names it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, Tensor, ValueInfo};
use brainsmith_core::{Registry, TransformContext};
use brainsmith_tests::fuzz::targets::configured_transforms;

/// Set in the child, which runs the sweep under the limit.
const CHILD: &str = "BRAINSMITH_MEMORY_LIMIT_CHILD";

/// The limit on the child's address space, in KiB (`ulimit -v`): 3 GiB, room for the test
/// binary and its threads, far from what one absurd tensor asks for.
const LIMIT_KIB: u64 = 3 << 20;

const HUGE: i64 = 1 << 31;

/// Declared shapes, each absurd in its own way.
const SHAPES: &[&[i64]] = &[
    &[HUGE, HUGE],
    &[1, HUGE, HUGE, 3],
    &[1 << 20, 1 << 20, 1 << 20],
    &[i64::MAX],
    &[1, 3, 1 << 40, 1 << 40],
];

/// Op types whose rules, evaluators or rewrites size something from their inputs.
const OPS: &[(&str, &str)] = &[
    ("Conv", ""),
    ("MatMul", ""),
    ("Gemm", ""),
    ("Reshape", ""),
    ("Expand", ""),
    ("Tile", ""),
    ("ConstantOfShape", ""),
    ("Range", ""),
    ("Pad", ""),
    ("Resize", ""),
    ("Upsample", ""),
    ("Flatten", ""),
    ("Transpose", ""),
    ("Concat", ""),
    ("Gather", ""),
    ("Slice", ""),
    ("Split", ""),
    ("Squeeze", ""),
    ("Unsqueeze", ""),
    ("MaxPool", ""),
    ("AveragePool", ""),
    ("GlobalAveragePool", ""),
    ("Add", ""),
    ("Mul", ""),
    ("Div", ""),
    ("Relu", ""),
    ("Softmax", ""),
    ("ReduceMean", ""),
    ("ReduceSum", ""),
    ("BatchNormalization", ""),
    ("LayerNormalization", ""),
    ("Identity", ""),
    ("Shape", ""),
    ("Cast", ""),
    ("Clip", ""),
    ("TopK", ""),
    ("DepthToSpace", ""),
    ("MultiThreshold", "qonnx.custom_op.general"),
    ("Quant", "qonnx.custom_op.general"),
    ("BipolarQuant", "qonnx.custom_op.general"),
    ("Trunc", "qonnx.custom_op.general"),
    ("Im2Col", "qonnx.custom_op.general"),
];

/// One model per op type, declared shape and attribute choice: graph input `x` of the
/// shape, a float initializer `w` declaring it with eight values stored, an int64 shape
/// tensor `s` asking for it, and window attributes as large.
fn absurd_models() -> Vec<(String, Model)> {
    let mut models = Vec::new();
    for &(op, domain) in OPS {
        for (k, shape) in SHAPES.iter().enumerate() {
            for arity in 1..=4 {
                for odd_attributes in [false, true] {
                    let inputs = ["x", "w", "s", "w"][..arity].to_vec();
                    let mut node = Node::new(op, inputs, ["y"]).with_name("n");
                    if !domain.is_empty() {
                        node = node.with_domain(domain);
                    }
                    if odd_attributes {
                        let window = vec![HUGE; 2];
                        node = node
                            .with_attribute("kernel_shape", AttributeValue::Ints(window.clone()))
                            .with_attribute("pads", AttributeValue::Ints(vec![HUGE; 4]))
                            .with_attribute("strides", AttributeValue::Ints(vec![1, 1]))
                            .with_attribute("blocksize", AttributeValue::Int(HUGE))
                            .with_attribute("group", AttributeValue::Int(1))
                            .with_attribute("k", AttributeValue::Int(HUGE));
                    }
                    let mut m = Model::default();
                    m.ir_version = 8;
                    m.set_opset_version("", 13);
                    m.graph
                        .inputs
                        .push(ValueInfo::tensor("x", ElemType::Float, shape));
                    m.graph
                        .outputs
                        .push(ValueInfo::tensor("y", ElemType::Float, shape));
                    *m.graph.initializers = vec![
                        Tensor::from_f32("w", shape, &[1.0; 8]),
                        Tensor::from_i64("s", &[shape.len() as i64], shape),
                    ];
                    *m.graph.nodes = vec![node];
                    let name = format!("{op} shape {k} arity {arity} odd {odd_attributes}");
                    models.push((name, m));
                }
            }
        }
    }
    models
}

/// The sweep, in the child: every transform on every absurd model, as it is and after
/// `InferShapes`. A panic is a failure too.
fn sweep() {
    // The limit is in force: a reservation beyond it fails instead of being granted lazily.
    assert!(
        Vec::<u8>::new().try_reserve(8 << 30).is_err(),
        "the child runs without a memory limit"
    );
    let registry = Registry::global().expect("linked plugins are consistent");
    let transforms = configured_transforms(registry).expect("every transform configures");
    let infer = registry
        .transform("InferShapes")
        .expect("InferShapes is registered")
        .configure(&toml::Table::new())
        .expect("InferShapes takes no configuration");
    let mut failures = Vec::new();
    for (case, model) in absurd_models() {
        let mut inferred = model.clone();
        let _ = catch_unwind(AssertUnwindSafe(|| {
            infer.apply(&mut inferred, &mut TransformContext::default())
        }));
        for (start, base) in [("as built", &model), ("after InferShapes", &inferred)] {
            for (name, transform) in &transforms {
                let mut m = base.clone();
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    transform.apply(&mut m, &mut TransformContext::default())
                }));
                if outcome.is_err() {
                    failures.push(format!("{name} panicked on {case}, {start}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} panics:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

#[test]
fn every_transform_stays_within_a_memory_limit_on_absurd_sizes() {
    if std::env::var_os(CHILD).is_some() {
        return sweep();
    }
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args([
            "every_transform_stays_within_a_memory_limit_on_absurd_sizes",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the sweep under a {LIMIT_KIB} KiB address-space limit failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
