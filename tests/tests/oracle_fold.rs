//! FoldConstants against the qonnx oracle on every real model: qonnx runs InferShapes and
//! FoldConstants (each followed by its own cleanup); we run InferShapes, FoldConstants,
//! RemoveUnusedTensors and SortGraph. The op histograms must agree except for the
//! differences listed in `KNOWN`, each with its reason, and our result must compute the
//! same outputs as the original model on a seeded random input (the oracle's executor).

use std::path::Path;

use brainsmith_core::ir::{ElemType, Tensor};
use brainsmith_core::prelude::*;
use brainsmith_plugins::{FoldConstants, InferShapes, RemoveUnusedTensors, SortGraph};
use brainsmith_tests::oracle::{Oracle, scratch_dir};
use brainsmith_tests::{histogram, models_dir};

/// Our count minus qonnx's, per op type.
type Delta = &'static [(&'static str, i64)];

/// Where our histogram differs from qonnx's: model, delta, and why we are right.
const KNOWN: &[(&str, Delta, &str)] = &[
    (
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        &[("Cast", 2), ("Concat", 1), ("Shape", 1), ("Slice", 1)],
        "the input's batch dimension is symbolic; qonnx folds Shape of it to 0 anyway, which \
         only works because the Reshape it feeds reads 0 as \"copy\"; we keep the Shape \
         subgraph",
    ),
    (
        "qonnx_fp8_gemm.onnx",
        &[("FloatQuant", 1)],
        "we keep FloatQuant on weights as qonnx keeps Quant: the minifloat format is what \
         hardware mapping reads; qonnx 1.0.0's exclusion list predates FloatQuant",
    ),
];

fn run_ours(model: &mut Model) -> Vec<String> {
    let mut ctx = TransformContext::default();
    InferShapes.apply(model, &mut ctx).unwrap();
    FoldConstants.apply(model, &mut ctx).unwrap();
    RemoveUnusedTensors.apply(model, &mut ctx).unwrap();
    SortGraph.apply(model, &mut ctx).unwrap();
    ctx.diagnostics()
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

fn check(oracle: &Oracle, name: &str, scratch: &Path) -> Result<Vec<String>, String> {
    let path = models_dir().join(name);
    let theirs = oracle.run(&path, "InferShapes,FoldConstants", true, scratch)?;
    let mut ours = Model::load(&path).map_err(|e| e.to_string())?;
    let notes = run_ours(&mut ours);
    let ours_path = scratch.join(name.replace(".onnx", ".ours.onnx"));
    ours.save(&ours_path).map_err(|e| e.to_string())?;
    let mut report = Vec::new();
    for n in notes {
        report.push(format!("{name}: note: {n}"));
    }
    let (a, b) = (histogram(&ours), histogram(&theirs.model));
    let mut delta: Vec<(String, i64)> = Vec::new();
    for (op, count) in &a {
        let other = b.iter().find(|(o, _)| o == op).map_or(0, |(_, c)| *c);
        if *count != other {
            delta.push((op.clone(), *count as i64 - other as i64));
        }
    }
    for (op, count) in &b {
        if !a.iter().any(|(o, _)| o == op) {
            delta.push((op.clone(), -(*count as i64)));
        }
    }
    delta.sort();
    let known: Vec<(String, i64)> = KNOWN
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(_, d, _)| d.iter().map(|(o, c)| (o.to_string(), *c)).collect())
        .unwrap_or_default();
    let mut known = known;
    known.sort();
    if delta != known {
        report.push(format!(
            "{name}: MISMATCH histogram delta (ours - qonnx) {delta:?}, documented {known:?}; ours {} nodes, qonnx {}",
            ours.graph.nodes.len(),
            theirs.model.graph.nodes.len()
        ));
    }
    match oracle.compare_outputs(&path, &ours_path) {
        Ok(diffs) => {
            report.push(format!("{name}: outputs compared: {}", diffs.len()));
            for d in diffs {
                match d.max_abs_diff {
                    Ok(x) if x <= 1e-5 * d.max_abs.max(1.0) => {}
                    other => report.push(format!(
                        "{name}: MISMATCH output {:?} differs: {other:?} (scale {})",
                        d.names, d.max_abs
                    )),
                }
            }
        }
        Err(why) => report.push(format!("{name}: note: outputs not compared ({why})")),
    }
    Ok(report)
}

#[test]
fn fold_constants_matches_the_oracle_on_every_model() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("fold_constants");
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    names.sort();
    // The oracle takes minutes on the largest models: two workers, one per core.
    let queue = std::sync::Mutex::new(names);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(name) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let r = check(&oracle, &name, &scratch);
                    results.lock().unwrap().push((name, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut outputs = 0;
    for (name, r) in results {
        match r {
            Ok(lines) => {
                compared += 1;
                for l in lines {
                    if let Some(n) = l.split("outputs compared: ").nth(1) {
                        outputs += n.parse::<usize>().unwrap_or(0);
                        continue;
                    }
                    eprintln!("{l}");
                    if l.contains(": MISMATCH ") {
                        failures.push(l);
                    }
                }
            }
            Err(why) => eprintln!("{name}: the oracle cannot run ({why}); not compared"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared >= 15, "only {compared} models compared");
    assert!(
        outputs >= compared,
        "only {outputs} outputs compared on {compared} models"
    );
    eprintln!("{compared} models, {outputs} outputs equal to the original model's");
}

#[test]
fn the_output_comparison_notices_a_changed_weight() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("changed_weight");
    std::fs::create_dir_all(&scratch).unwrap();
    let path = models_dir().join("qonnx_residual_block.onnx");
    let mut model = Model::load(&path).unwrap();
    let w = model
        .graph
        .initializers
        .iter_mut()
        .find(|t| t.elem_type() == ElemType::Float && t.len() > 1)
        .unwrap();
    let mut values: Vec<f32> = w.to_f64().unwrap().iter().map(|&v| v as f32).collect();
    values[0] += 1.0;
    *w = Tensor::from_f32(w.name(), w.dims(), &values);
    let changed = scratch.join("changed.onnx");
    model.save(&changed).unwrap();
    let same = oracle.compare_outputs(&path, &path).unwrap();
    assert!(
        !same.is_empty() && same.iter().all(|d| d.max_abs_diff == Ok(0.0)),
        "{same:?}"
    );
    let diffs = oracle.compare_outputs(&path, &changed).unwrap();
    assert!(
        diffs
            .iter()
            .any(|d| d.max_abs_diff.as_ref().is_ok_and(|&x| x > 1e-3)),
        "{diffs:?}"
    );
}
