//! ChangeBatchSize against the qonnx oracle on every real model: both set batch size 4
//! (we run RemoveStaticGraphInputs first, as qonnx reads initializers listed as inputs as
//! constants, and its cleanup after); the op histograms must agree, our model must run
//! wherever the original does, and where qonnx's runs too, the two must compute the same
//! outputs on the same batch-4 input. The models qonnx breaks are listed, with why.

use brainsmith_core::ir::{Dim, Model, Node, Tensor, ValueInfo};
use brainsmith_core::{Transform, TransformContext};
use brainsmith_plugins::{
    ChangeBatchSize, RemoveStaticGraphInputs, RemoveUnusedTensors, SortGraph,
};
use brainsmith_tests::oracle::{Oracle, apply_all, scratch_dir};
use brainsmith_tests::{all_models, float_model, histogram, models_dir};

fn batch(v: &ValueInfo) -> Option<Dim> {
    v.tensor_type()?.shape.as_ref()?.first().cloned()
}

/// The models whose batch-4 version qonnx breaks (it no longer runs) and ours does not,
/// and why.
const QONNX_BREAKS: &[(&str, &str)] = &[
    (
        "light_squeezenet.onnx",
        "its first graph input is an initializer (conv1_b_0), whose 64 values qonnx resizes to 4",
    ),
    (
        "node_test_attention_4d.onnx",
        "qonnx changes only the first input, Q; K and V keep batch 2 (we are told they are batched)",
    ),
    (
        "node_test_attention_4d_expanded.onnx",
        "qonnx changes only the first input, Q; K and V keep batch 2 (we are told they are batched)",
    ),
    (
        "qonnx_mnist_conv.onnx",
        "qonnx overwrites the first entry of the Reshape of a weight to [256, 10] with 4",
    ),
];

/// Models whose first dimension is not a batch: no batch-first rewrite can keep them
/// running, qonnx's or ours: ours refuses them, naming the node the change breaks.
const NOT_BATCH_FIRST: &[(&str, &str)] = &[(
    "qonnx_sdp_attention.onnx",
    "PyTorch's MultiheadAttention layout [L, N, E]: the first dimension is the sequence",
)];

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn change_batch_size_matches_the_oracle_on_every_model() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("change_batch_size");
    std::fs::create_dir_all(&scratch).unwrap();
    let (mut compared, mut outputs, mut mismatches) = (0, 0, Vec::new());
    let mut broken_by_qonnx = Vec::new();
    for (name, mut ours) in all_models() {
        let path = models_dir().join(&name);
        let theirs = oracle.run(&path, "ChangeBatchSize:4", true, &scratch);
        let inputs = name
            .starts_with("node_test_attention")
            .then(|| vec!["K".to_owned(), "V".to_owned()]);
        let change = ChangeBatchSize {
            batch_size: 4,
            inputs,
        };
        let not_batch_first = NOT_BATCH_FIRST.iter().any(|(m, _)| *m == name);
        if not_batch_first {
            // Its first dimension is not a batch: the change breaks a Reshape, and the
            // transform says so rather than writing a model that does not run.
            let mut m = ours.clone();
            RemoveStaticGraphInputs
                .apply(&mut m, &mut TransformContext::default())
                .unwrap();
            let err = change
                .apply(&mut m, &mut TransformContext::default())
                .unwrap_err();
            assert!(
                err.to_string().contains("a batch of 4 breaks node"),
                "{err}"
            );
            continue;
        }
        // qonnx's own cleanup after every transform, as in the other comparisons.
        let notes = apply_all(
            &mut ours,
            &[
                &RemoveStaticGraphInputs,
                &change,
                &RemoveUnusedTensors,
                &SortGraph,
            ],
        );
        notes
            .iter()
            .for_each(|n| mismatches.push(format!("{name}: diagnostic: {n}")));
        assert_eq!(batch(&ours.graph.inputs[0]), Some(Dim::Value(4)), "{name}");
        let ours_path = scratch.join(name.replace(".onnx", ".ours.onnx"));
        ours.save(&ours_path).unwrap();
        let runs = |p: &std::path::Path| oracle.compare_outputs(p, p).is_ok();
        if runs(&path) && !runs(&ours_path) {
            mismatches.push(format!(
                "{name}: the original runs, ours at batch 4 does not"
            ));
        }
        let theirs = match theirs {
            Ok(run) => run.model,
            Err(why) => {
                eprintln!("{name}: the oracle cannot run ChangeBatchSize ({why})");
                continue;
            }
        };
        compared += 1;
        if histogram(&ours) != histogram(&theirs) {
            mismatches.push(format!("{name}: op histograms differ"));
        }
        let theirs_path = scratch.join(name.replace(".onnx", ".oracle.onnx"));
        if !runs(&theirs_path) {
            if runs(&ours_path) {
                broken_by_qonnx.push(name.clone());
            }
            continue;
        }
        if batch(&ours.graph.outputs[0]) != batch(&theirs.graph.outputs[0]) {
            mismatches.push(format!(
                "{name}: output batch {:?} here, {:?} in qonnx",
                batch(&ours.graph.outputs[0]),
                batch(&theirs.graph.outputs[0])
            ));
        }
        for d in oracle.compare_outputs(&theirs_path, &ours_path).unwrap() {
            outputs += 1;
            match d.max_abs_diff {
                Ok(x) if x <= 1e-5 * d.max_abs.max(1.0) => {}
                other => mismatches.push(format!(
                    "{name}: output {:?} differs from qonnx's: {other:?}",
                    d.names
                )),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let documented: Vec<&str> = QONNX_BREAKS.iter().map(|(m, _)| *m).collect();
    broken_by_qonnx.sort();
    assert_eq!(
        broken_by_qonnx, documented,
        "models qonnx breaks and we do not"
    );
    assert!(compared >= 15, "only {compared} models compared");
    assert!(outputs >= 8, "only {outputs} outputs compared");
    eprintln!(
        "ChangeBatchSize: {compared} models agree with qonnx; {outputs} outputs equal; \
         qonnx breaks {} that we do not",
        documented.len()
    );
}

/// A `Reshape` to `[-1]` flattens the whole batch: qonnx overwrites the `-1` with the new
/// batch size, and the model no longer runs; ours leaves it, and the batch-3 model
/// computes the batch-1 model's outputs three times over.
#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn change_batch_size_keeps_a_reshape_to_minus_one_where_qonnx_breaks_it() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let mut m = float_model(
        &[1, 2, 3],
        &[6],
        vec![Tensor::from_i64("flat", &[1], &[-1])],
        vec![Node::new("Reshape", ["x", "flat"], ["y"])],
    );
    let scratch = scratch_dir("change_batch_size_flatten");
    std::fs::create_dir_all(&scratch).unwrap();
    let path = scratch.join("flatten.onnx");
    m.save(&path).unwrap();

    let theirs = oracle
        .run(&path, "ChangeBatchSize:3", false, &scratch)
        .unwrap()
        .model;
    let flat = |m: &Model| m.graph.initializers[0].to_i64().unwrap();
    assert_eq!(flat(&theirs), [3], "qonnx overwrites the -1");

    apply_all(
        &mut m,
        &[&ChangeBatchSize {
            batch_size: 3,
            inputs: None,
        }],
    );
    assert_eq!(flat(&m), [-1]);
    assert_eq!(batch(&m.graph.inputs[0]), Some(Dim::Value(3)));
    let ours = scratch.join("ours.onnx");
    m.save(&ours).unwrap();
    let theirs_path = scratch.join("flatten.oracle.onnx");
    // Ours runs; qonnx's cannot reshape 18 values to [3].
    assert!(oracle.compare_outputs(&ours, &ours).is_ok());
    assert!(oracle.compare_outputs(&theirs_path, &theirs_path).is_err());
}
