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
//!
//! Variants are checked as they are saved and deleted once they pass, so the test's
//! scratch directory (`target/node-suite`) holds a few models at a time and, at the end,
//! only the findings' files. All of them at once would be 5.4 GB.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;

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
    /// The variant's file.
    path: PathBuf,
    /// Whether the original passes `onnx.checker`.
    original_checks: bool,
    /// Whether the original reproduces the test data.
    original_runs: bool,
}

impl Row {
    /// A variant's failures where its original passes: `check`, `run`, both or none.
    fn findings(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let variant = !self.transform.is_empty();
        let check = self
            .check
            .as_ref()
            .filter(|_| variant && self.original_checks);
        let run = self.run.as_ref().filter(|_| variant && self.original_runs);
        [("check", check), ("run", run)]
            .into_iter()
            .filter_map(|(what, why)| Some((what, why?)))
    }
}

/// `node_suite.py` processes, each checking one job at a time, fed as they finish.
struct Checkers {
    children: Vec<(Child, Option<ChildStdin>)>,
    /// Jobs sent to each checker and not answered yet.
    pending: Vec<usize>,
    /// (checker, an answer, or none once it ended).
    answers: mpsc::Receiver<(usize, Option<String>)>,
    rows: Vec<Row>,
}

impl Checkers {
    fn start(python: &Path, script: &Path, n: usize) -> Checkers {
        let (tx, answers) = mpsc::channel();
        let children = (0..n)
            .map(|i| {
                let mut child = Command::new(python)
                    .arg(script)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("the checker starts");
                let stdout = BufReader::new(child.stdout.take().unwrap());
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in stdout.lines() {
                        let Ok(line) = line else { break };
                        if tx.send((i, Some(line))).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((i, None));
                });
                let stdin = child.stdin.take();
                (child, stdin)
            })
            .collect();
        Checkers {
            children,
            pending: vec![0; n],
            answers,
            rows: Vec::new(),
        }
    }

    /// Gives `job` to an idle checker, first waiting for one to finish if all are busy.
    fn send(&mut self, job: serde_json::Value) {
        loop {
            if let Some(i) = (0..self.pending.len()).find(|&i| self.pending[i] == 0) {
                let stdin = self.children[i].1.as_mut().unwrap();
                writeln!(stdin, "{job}")
                    .and_then(|()| stdin.flush())
                    .expect("node_suite.py takes a job");
                self.pending[i] += 1;
                return;
            }
            self.receive();
        }
    }

    /// Takes one answer; deletes the variant unless it holds a finding.
    fn receive(&mut self) {
        let (i, line) = self.answers.recv().unwrap();
        let Some(line) = line else {
            panic!("node_suite.py (checker {i}) ended before it answered every job: see its stderr")
        };
        self.pending[i] -= 1;
        let row: Row = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("node_suite.py answered {line:?}: {e}"));
        if !row.transform.is_empty() && row.findings().next().is_none() {
            std::fs::remove_file(&row.path).unwrap();
        }
        self.rows.push(row);
    }

    /// Every answer, once all jobs are answered and the checkers ended.
    fn finish(mut self) -> Vec<Row> {
        while self.pending.iter().any(|&p| p > 0) {
            self.receive();
        }
        for (child, stdin) in &mut self.children {
            drop(stdin.take());
            assert!(child.wait().unwrap().success(), "node_suite.py failed");
        }
        self.rows
    }
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
    let mut tests = backend_suite(&python);
    // And the real models of this repository's test data (PaddleOCR, Brevitas and FINN
    // exports, qonnx's examples) on seeded inputs, those the suite does not hold already.
    for file in brainsmith_tests::model_names() {
        let name = file.trim_end_matches(".onnx").to_owned();
        if !name.starts_with("light_") && !name.starts_with("node_test_") {
            tests.push((name, None, brainsmith_tests::models_dir().join(&file)));
        }
    }
    // Two checkers, one per core, fed one variant at a time: a variant is checked as soon
    // as it is saved and deleted unless it is a finding, so the scratch directory holds
    // three variants at a time, not the suite's 5 GB of transformed weights.
    let mut checkers = Checkers::start(&python, &root.join("oracle/node_suite.py"), 2);
    for (name, dir, model_path) in &tests {
        let original = match Model::load(model_path) {
            Ok(m) => m,
            Err(e) => {
                findings.push((name.clone(), "*".into(), "load", e.to_string()));
                continue;
            }
        };
        let job = |transform: &str, path: &Path, batch: Option<u32>| {
            serde_json::json!({
                "test": name,
                "dir": dir,
                "original": model_path,
                "transform": transform,
                "path": path,
                "batch": batch,
            })
        };
        checkers.send(job("", model_path, None));
        let out = scratch.join(name);
        std::fs::create_dir_all(&out).unwrap();
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
            // A transform's panic is a finding, reported as one: the hook stays quiet
            // for it alone, so that the test's own failures still print.
            let previous_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let applied = apply(registry, &mut model, names);
            std::panic::set_hook(previous_hook);
            match applied {
                Ok(false) => {}
                Ok(true) => {
                    let path = out.join(format!("{label}.onnx"));
                    match model.save(&path) {
                        Ok(()) => {
                            drop(model);
                            let batch = label.ends_with("ChangeBatchSize").then_some(2);
                            checkers.send(job(label, &path, batch));
                        }
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
    }
    let rows = checkers.finish();
    for r in &rows {
        for (what, why) in r.findings() {
            findings.push((r.test.clone(), r.transform.clone(), what, why.clone()));
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
