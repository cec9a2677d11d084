//! `InferShapes` on every model of the ONNX backend suite (the `node`, `simple`,
//! `pytorch-converted` and `pytorch-operator` tests the oracle venv's `onnx` ships)
//! against onnx's own shape inference (`onnx.shape_inference.infer_shapes`,
//! `strict_mode=False`, run once for all models by `tests/oracle/shape_suite.py`).
//!
//! Both sides start from the model with its graph outputs' declared types and its
//! `value_info` removed, so that only inference types a tensor. Wherever onnx gives a
//! tensor a node of the main graph produces an element type, ours must give the same; where
//! onnx gives a shape, ours must have its rank and every dimension onnx knows as a number.
//! A node whose input already differs is not judged (the difference is its producer's).
//!
//! The op types left out on purpose are listed in [`LEFT_OUT`], each with its reason; the
//! test fails on a difference of any other op type, and on an entry that explains nothing
//! any more.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;

use brainsmith_core::ir::Model;
use brainsmith_core::prelude::*;
use brainsmith_plugins::InferShapes;
use brainsmith_tests::oracle::{Signature, backend_suite, backend_suite_python, signature};
use serde::Deserialize;

/// Op types (`domain:Op` outside the default domain) whose outputs we leave less typed
/// than onnx does, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    ("ConcatFromSequence", SEQUENCE),
    ("SequenceAt", SEQUENCE),
    ("OptionalGetElement", OPTIONAL),
    ("If", CONTROL_FLOW),
    ("Loop", CONTROL_FLOW),
    ("Scan", CONTROL_FLOW),
    ("ai.onnx.preview.training:Adagrad", TRAINING),
    ("ai.onnx.preview.training:Adam", TRAINING),
    ("ai.onnx.preview.training:Momentum", TRAINING),
];

/// A tensor read out of a sequence.
const SEQUENCE: &str = "a tensor read out of a sequence: `TensorType` holds no sequence types, so the element's type is unknown here";
/// A tensor read out of an optional.
const OPTIONAL: &str = "a tensor read out of an optional: `TensorType` holds no optional types, so the element's type is unknown here";
/// Outputs that subgraphs compute.
const CONTROL_FLOW: &str = "control flow: its outputs come from subgraphs, which InferShapes does not infer (their bodies read the outer scope's tensors)";
/// The training domain.
const TRAINING: &str = "ai.onnx.preview.training: outside the domains InferShapes covers (the default domain, ai.onnx.ml and QONNX's)";

#[derive(Deserialize)]
struct Row {
    model: PathBuf,
    error: Option<String>,
    types: HashMap<String, Signature>,
}

/// Why `ours` says less than (or other than) `theirs`, if it does.
fn difference(ours: Option<&Signature>, theirs: &Signature) -> Option<String> {
    let Some(ours) = ours else {
        return Some(format!("untyped, onnx {theirs:?}"));
    };
    if ours.0 != theirs.0 {
        return Some(format!("element type {}, onnx {}", ours.0, theirs.0));
    }
    match (&ours.1, &theirs.1) {
        (_, None) => None,
        (None, Some(_)) => Some(format!("no shape, onnx {theirs:?}")),
        (Some(a), Some(b)) if a.len() != b.len() => {
            Some(format!("rank {}, onnx {theirs:?}", a.len()))
        }
        (Some(a), Some(b)) => (!a.iter().zip(b).all(|(x, y)| y.is_none() || x == y))
            .then(|| format!("{ours:?}, onnx {theirs:?}")),
    }
}

/// The types `InferShapes` gives the tensors nodes produce, from the model with its
/// outputs' declared types and `value_info` removed.
fn our_types(model: &mut Model) -> HashMap<String, Signature> {
    for output in model.graph.outputs.iter_mut() {
        output.ty = None;
    }
    model.graph.value_info.clear();
    let mut ctx = TransformContext::default();
    InferShapes
        .apply(model, &mut ctx)
        .expect("InferShapes does not fail");
    let g = &model.graph;
    g.outputs
        .iter()
        .chain(g.value_info.iter())
        .filter_map(|v| Some((v.name.clone(), signature(v.tensor_type()?))))
        .collect()
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the oracle's venv with onnx: set BRAINSMITH_ORACLE_PYTHON"
)]
fn infer_shapes_types_every_tensor_onnx_types_on_the_backend_suite() {
    let Some(python) = backend_suite_python("the shape coverage of the ONNX backend suite") else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = root.join("../target/shape-coverage");
    std::fs::create_dir_all(&scratch).unwrap();
    let tests: Vec<(String, PathBuf)> = backend_suite(&python)
        .into_iter()
        .filter_map(|(name, dir, model)| dir.map(|_| (name, model)))
        .collect();
    assert!(tests.len() > 1500, "only {} suite models", tests.len());

    let models = scratch.join("models.json");
    let results = scratch.join("results.jsonl");
    let paths: Vec<&PathBuf> = tests.iter().map(|(_, m)| m).collect();
    std::fs::write(&models, serde_json::to_vec(&paths).unwrap()).unwrap();
    let status = Command::new(&python)
        .arg(root.join("oracle/shape_suite.py"))
        .arg(&models)
        .arg(&results)
        .status()
        .expect("shape_suite.py starts");
    assert!(status.success(), "shape_suite.py failed");
    let theirs: HashMap<PathBuf, Row> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Row>(line).unwrap())
        .map(|row| (row.model.clone(), row))
        .collect();

    // By op type: (nodes judged, nodes with an output we leave untyped or without rank,
    // differences from onnx).
    let mut by_op: BTreeMap<String, (usize, usize, Vec<String>)> = BTreeMap::new();
    let mut unloadable = Vec::new();
    for (name, path) in &tests {
        let row = &theirs[path];
        if let Some(e) = &row.error {
            panic!("{name}: onnx's shape inference failed: {e}");
        }
        let mut model = match Model::load(path) {
            Ok(m) => m,
            Err(e) => {
                unloadable.push(format!("{name}: {e}"));
                continue;
            }
        };
        let ours = our_types(&mut model);
        let g = &model.graph;
        let mut tainted: HashSet<&str> = HashSet::new();
        for node in g.nodes.iter() {
            if node.inputs.iter().any(|i| tainted.contains(i.as_str())) {
                tainted.extend(node.outputs.iter().map(String::as_str));
                continue;
            }
            let op = if node.is_onnx() {
                node.op_type.clone()
            } else {
                format!("{}:{}", node.domain, node.op_type)
            };
            let entry = by_op.entry(op).or_default();
            entry.0 += 1;
            let mut untyped = false;
            for output in node.outputs.iter().filter(|o| !o.is_empty()) {
                let mine = ours.get(output);
                untyped |= mine.is_none_or(|s| s.1.is_none());
                if let Some(why) = row.types.get(output).and_then(|t| difference(mine, t)) {
                    let at = if node.name.is_empty() {
                        String::new()
                    } else {
                        format!(" (node `{}`)", node.name)
                    };
                    entry.2.push(format!("{name}: `{output}`{at} {why}"));
                    tainted.insert(output);
                }
            }
            if untyped {
                entry.1 += 1;
            }
        }
    }
    assert!(unloadable.is_empty(), "{}", unloadable.join("\n"));

    let (mut nodes, mut untyped, mut ops_untyped) = (0, 0, 0);
    let mut table = String::new();
    for (op, (judged, left, _)) in &by_op {
        nodes += judged;
        untyped += left;
        if *left > 0 {
            ops_untyped += 1;
            table.push_str(&format!("    {op}: {left} of {judged}\n"));
        }
    }
    let differing: Vec<&String> = by_op
        .iter()
        .filter(|(_, (_, _, d))| !d.is_empty())
        .map(|(op, _)| op)
        .collect();
    eprintln!(
        "{} models, {nodes} nodes judged; {untyped} nodes of {ops_untyped} op types leave an \
         output without type or rank:\n{table}{} op types differ from onnx",
        tests.len(),
        differing.len()
    );

    let left_out: HashMap<&str, &str> = LEFT_OUT.iter().copied().collect();
    let mut report = String::new();
    for op in &differing {
        let found = &by_op[*op].2;
        let mut lines = format!("{op}: {} outputs differ\n", found.len());
        for f in found.iter().take(5) {
            lines.push_str(&format!("    {f}\n"));
        }
        match left_out.get(op.as_str()) {
            // Shown with --nocapture.
            Some(why) => eprint!("left out ({why}): {lines}"),
            None => report.push_str(&lines),
        }
    }
    for (op, why) in LEFT_OUT {
        if !differing.iter().any(|d| d == op) {
            report.push_str(&format!(
                "{op} is left out ({why}) but no longer differs from onnx: remove the entry\n"
            ));
        }
    }
    assert!(report.is_empty(), "{report}");
}
