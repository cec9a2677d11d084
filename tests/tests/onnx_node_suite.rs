//! The ONNX backend test suite that the `onnx` package ships (every
//! `node/`, `simple/`, `pytorch-converted/` and `pytorch-operator/` test, `model.onnx`
//! with its `test_data_set_*`, and the "light" zoo models on seeded inputs), and the real
//! models of `testdata/models` on seeded inputs, against every transform that claims to
//! keep a standard ONNX model's meaning.
//!
//! Each transform is applied alone to each test model, and the cleanup recipe as a whole.
//! A model it changed is saved, and the oracle's venv checks it
//! (`tests/oracle/node_suite.py`): `onnx.checker` (full check) must pass wherever it passes
//! on the original, and onnxruntime must reproduce the test data's outputs wherever it
//! reproduces them from the original. A transform must not fail or panic on a model the
//! suite holds. Every exception is written down with its reason in
//! `tests/oracle/node_suite_exceptions.toml`; a finding no exception explains fails the
//! test, and so does an exception that explains nothing any more.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Command;

use brainsmith_core::ir::Model;
use brainsmith_core::{Registry, TransformContext};
use brainsmith_tests::oracle::{backend_suite, backend_suite_python};
use serde::Deserialize;

/// The transforms that keep a standard ONNX model's meaning.
const TRANSFORMS: &[&str] = &[
    "InferShapes",
    "FoldConstants",
    "RemoveIdentityOps",
    "GiveUniqueNodeNames",
    "GiveReadableTensorNames",
    "GiveUniqueParameterTensors",
    "InferDataLayouts",
    "InferDataTypes",
    "RemoveStaticGraphInputs",
    "RemoveUnusedNodes",
    "RemoveUnusedTensors",
    "SortCommutativeInputsInitializerLast",
    "SortGraph",
    "Tidy",
    "DoubleToSingleFloat",
    "BatchNormToAffine",
    "ConvertDivToMul",
    "ConvertSubToAdd",
    "ExpandNorms",
    "ExtractBiasFromConv",
    "GemmToMatMul",
    "LowerConvsToMatMul",
    "MovePadAttributeToTensor",
    "MoveScalarMulPastMatMul",
    "AbsorbConsecutiveTransposes",
];

/// `GiveReadableTensorNames` needs unique node names first.
const READABLE: &[&str] = &["GiveUniqueNodeNames", "GiveReadableTensorNames"];

/// The cleanup recipe, applied as one.
const RECIPE: &[&str] = &[
    "InferShapes",
    "FoldConstants",
    "RemoveIdentityOps",
    "GiveUniqueNodeNames",
    "GiveReadableTensorNames",
    "SortGraph",
];

#[derive(Deserialize)]
struct Exceptions {
    exception: Vec<Exception>,
}

/// A finding that is not a defect, and why.
#[derive(Deserialize)]
struct Exception {
    /// A transform, `recipe`, `static+` either (after RemoveStaticGraphInputs), or `*`.
    transform: String,
    /// Glob patterns (`*`) on test names.
    tests: Vec<String>,
    /// `load`, `apply`, `check` or `run`.
    what: String,
    reason: String,
}

#[derive(Deserialize)]
struct Row {
    test: String,
    transform: String,
    check: Option<String>,
    run: Option<String>,
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

/// Applies `names` in order; whether anything changed, or the error or panic.
fn apply(registry: &Registry, model: &mut Model, names: &[&str]) -> Result<bool, String> {
    let mut changed = false;
    for name in names {
        // `Name(key = value)` is a configured transform.
        let transform = match name.split_once('(') {
            Some((name, config)) => {
                let config: toml::Table = toml::from_str(config.trim_end_matches(')')).unwrap();
                registry
                    .transform(name)
                    .unwrap()
                    .configure(&config)
                    .unwrap()
            }
            None => registry.transform(name).unwrap().instantiate(),
        };
        let mut ctx = TransformContext::default();
        match std::panic::catch_unwind(AssertUnwindSafe(|| transform.apply(model, &mut ctx))) {
            Ok(Ok(c)) => changed |= c,
            Ok(Err(e)) => return Err(format!("{name}: {e}")),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                return Err(format!("{name} panicked: {msg}"));
            }
        }
    }
    Ok(changed)
}

#[test]
fn transforms_keep_the_onnx_backend_suite_valid_and_running() {
    let Some(python) = backend_suite_python("the ONNX backend suite") else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = root.join("../target/node-suite");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let registry = Registry::global().unwrap();
    let exceptions: Exceptions = toml::from_str(
        &std::fs::read_to_string(root.join("oracle/node_suite_exceptions.toml")).unwrap(),
    )
    .unwrap();

    // (test, transform, what, message)
    let mut findings: Vec<(String, String, &str, String)> = Vec::new();
    let mut jobs = Vec::new();
    let mut tests = backend_suite(&python);
    // And the real models of this repository's test data (PaddleOCR, Brevitas and FINN
    // exports, qonnx's examples) on seeded inputs, those the suite does not hold already.
    for file in brainsmith_tests::model_names() {
        let name = file.trim_end_matches(".onnx").to_owned();
        if !name.starts_with("light_") && !name.starts_with("node_test_") {
            tests.push((name, None, brainsmith_tests::models_dir().join(&file)));
        }
    }
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (name, dir, model_path) in &tests {
        let original = match Model::load(model_path) {
            Ok(m) => m,
            Err(e) => {
                findings.push((name.clone(), "*".into(), "load", e.to_string()));
                continue;
            }
        };
        let out = scratch.join(name);
        std::fs::create_dir_all(&out).unwrap();
        let mut variants = Vec::new();
        let mut runs: Vec<(String, Vec<&str>)> = TRANSFORMS
            .iter()
            .map(|t| match *t {
                // Its precondition: unique node names, which this gives.
                "GiveReadableTensorNames" => (t.to_string(), READABLE.to_vec()),
                _ => (t.to_string(), vec![*t]),
            })
            .chain([("recipe".to_owned(), RECIPE.to_vec())])
            .collect();
        // Initializers that are also inputs are not constants (a caller may override
        // them); once RemoveStaticGraphInputs made them constants, every transform again.
        let inputs: Vec<&str> = original
            .graph
            .inputs
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        if original
            .graph
            .initializers
            .iter()
            .any(|t| inputs.contains(&t.name()))
        {
            let statics: Vec<(String, Vec<&str>)> = runs
                .iter()
                .filter(|(label, _)| label != "RemoveStaticGraphInputs")
                .map(|(label, names)| {
                    let mut chain = vec!["RemoveStaticGraphInputs"];
                    chain.extend(names);
                    (format!("static+{label}"), chain)
                })
                .collect();
            runs.extend(statics);
        }
        // A light zoo model at batch 2 (once its Reshape targets are constants) must give,
        // per sample, what the original gives at batch 1.
        if name.starts_with("light_") {
            runs.push((
                "static+ChangeBatchSize".to_owned(),
                vec!["RemoveStaticGraphInputs", "ChangeBatchSize(batch_size = 2)"],
            ));
        }
        for (label, names) in &runs {
            let label = label.as_str();
            let mut model = original.clone();
            match apply(registry, &mut model, names) {
                Ok(false) => {}
                Ok(true) => {
                    let path = out.join(format!("{label}.onnx"));
                    match model.save(&path) {
                        Ok(()) => variants.push(serde_json::json!({
                            "transform": label,
                            "path": path,
                            "batch": label.ends_with("ChangeBatchSize").then_some(2),
                        })),
                        Err(e) => findings.push((
                            name.clone(),
                            label.into(),
                            "apply",
                            format!("save: {e}"),
                        )),
                    }
                }
                Err(e) => findings.push((name.clone(), label.into(), "apply", e)),
            }
        }
        jobs.push(serde_json::json!({
            "test": name,
            "dir": dir,
            "original": model_path,
            "variants": variants,
        }));
    }
    std::panic::set_hook(previous_hook);

    // Two checkers at once: one per core.
    let script = root.join("oracle/node_suite.py");
    let half = jobs.len().div_ceil(2);
    let children: Vec<_> = jobs
        .chunks(half.max(1))
        .enumerate()
        .map(|(i, chunk)| {
            let jobs_file = scratch.join(format!("jobs{i}.json"));
            let results = scratch.join(format!("results{i}.jsonl"));
            std::fs::write(&jobs_file, serde_json::to_vec(chunk).unwrap()).unwrap();
            let child = Command::new(&python)
                .arg(&script)
                .arg(&jobs_file)
                .arg(&results)
                .spawn()
                .expect("the checker starts");
            (child, results)
        })
        .collect();
    let mut rows = Vec::new();
    for (mut child, results) in children {
        assert!(child.wait().unwrap().success(), "node_suite.py failed");
        for line in std::fs::read_to_string(&results).unwrap().lines() {
            rows.push(serde_json::from_str::<Row>(line).unwrap());
        }
    }
    let mut originals: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.transform.is_empty()) {
        originals.insert(r.test.clone(), (r.check.is_none(), r.run.is_none()));
    }
    for r in rows.iter().filter(|r| !r.transform.is_empty()) {
        let (checks, runs) = originals[&r.test];
        if let (true, Some(why)) = (checks, &r.check) {
            findings.push((r.test.clone(), r.transform.clone(), "check", why.clone()));
        }
        if let (true, Some(why)) = (runs, &r.run) {
            findings.push((r.test.clone(), r.transform.clone(), "run", why.clone()));
        }
    }

    let mut used = vec![false; exceptions.exception.len()];
    let mut unexplained: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (test, transform, what, message) in &findings {
        let explained = exceptions.exception.iter().position(|e| {
            (e.transform == "*" || e.transform == *transform)
                && e.what == *what
                && e.tests.iter().any(|p| glob(p, test))
        });
        match explained {
            Some(i) => used[i] = true,
            None => unexplained
                .entry(format!("{transform} ({what})"))
                .or_default()
                .push(format!("{test}: {message}")),
        }
    }
    let stale: Vec<String> = exceptions
        .exception
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(e, _)| format!("{} {} {:?}: {}", e.transform, e.what, e.tests, e.reason))
        .collect();
    let checked = rows.iter().filter(|r| !r.transform.is_empty()).count();
    eprintln!(
        "{} tests, {checked} transformed models checked, {} findings, {} explained",
        tests.len(),
        findings.len(),
        findings.len() - unexplained.values().map(Vec::len).sum::<usize>()
    );
    let mut report = String::new();
    for (group, items) in &unexplained {
        report.push_str(&format!("{group}: {} unexplained\n", items.len()));
        for item in items {
            report.push_str(&format!("    {item}\n"));
        }
    }
    if let Some(path) = std::env::var_os("BRAINSMITH_NODE_SUITE_REPORT") {
        std::fs::write(path, &report).unwrap();
    }
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{report}{}",
        if stale.is_empty() {
            String::new()
        } else {
            format!(
                "exceptions that explain nothing any more:\n{}\n",
                stale.join("\n")
            )
        }
    );
}
