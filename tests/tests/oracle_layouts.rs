//! InferDataLayouts against the qonnx oracle on every real model: qonnx runs InferShapes
//! and InferDataLayouts (to its fixed point); we run RemoveStaticGraphInputs (qonnx reads
//! initializers listed as inputs as constants), InferShapes and InferDataLayouts once.
//! Every graph input and node output must end with the same `tensor_layout` annotation,
//! except where [`KNOWN`] says why ours is right.

use std::collections::{BTreeMap, HashMap};

use brainsmith_core::ir::Model;
use brainsmith_plugins::{InferDataLayouts, InferShapes, RemoveStaticGraphInputs};
use brainsmith_tests::oracle::{apply_all, tensor_pairs};

/// Where qonnx's layouts are wrong: (model, tensors, why). Each follows from a rank that
/// qonnx's shape inference leaves unknown and ours infers.
const KNOWN: &[(&str, &[&str], &str)] = &[
    (
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        &["reshape2_0.tmp_0", "p2o.MatMul.1", "p2o.Add.87"],
        "the Reshape's target shape is computed by a Shape subgraph: qonnx leaves its output \
         without a shape, reads that as rank 0 and copies the NCHW of the 4-D input; we infer \
         rank 2, so NC, and the MatMul and Add after it stay NC",
    ),
    (
        "light_squeezenet.onnx",
        &["r61", "r62", "r63", "r64", "r65", "softmaxout_1"],
        "qonnx has no shape for the Dropout's mask output, so its rule fails and both Dropout \
         outputs become [], and the Conv after it guesses NHWC; we know both shapes, so the \
         Dropout keeps NCHW and so does everything after it (a Conv output is NCHW)",
    ),
];

/// The layout annotation of every graph input and node output, as written.
fn layouts(model: &Model) -> HashMap<String, Option<String>> {
    let graph = &model.graph;
    graph
        .inputs
        .iter()
        .map(|v| &v.name)
        .chain(graph.nodes.iter().flat_map(|n| &n.outputs))
        .filter(|t| !t.is_empty())
        .map(|t| {
            let layout = graph
                .annotation(t, "tensor_layout")
                .map(|l| l.replace('"', "'"));
            (t.clone(), layout)
        })
        .collect()
}

#[test]
fn infer_data_layouts_matches_the_oracle_on_every_model() {
    let Some((pairs, compared)) = tensor_pairs(
        "infer_data_layouts",
        "InferShapes,InferDataLayouts",
        |m| {
            apply_all(
                m,
                &[&RemoveStaticGraphInputs, &InferShapes, &InferDataLayouts],
            )
        },
        layouts,
    ) else {
        return;
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for p in &pairs {
        *seen.entry(format!("{:?}", p.ours)).or_default() += 1;
        let documented = KNOWN
            .iter()
            .any(|(model, tensors, _)| *model == p.model && tensors.contains(&p.tensor.as_str()));
        if (p.ours != p.theirs) != documented {
            mismatches.push(format!(
                "{}: '{}' is {:?} here, {:?} in qonnx{}",
                p.model,
                p.tensor,
                p.ours,
                p.theirs,
                if documented {
                    ", but KNOWN says they differ"
                } else {
                    ""
                }
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 15, "only {compared} models compared");
    assert!(
        seen.len() >= 4,
        "too few distinct layouts to mean much: {seen:?}"
    );
    eprintln!(
        "InferDataLayouts: {} tensors of {compared} models agree with qonnx: {seen:?}",
        pairs.len()
    );
}
