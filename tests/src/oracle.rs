//! The qonnx oracle (`../shared/oracle/run_qonnx.py`): runs the Python reference
//! transformations on a model, so that tests can compare our results with qonnx 1.0.0's.
//!
//! The oracle needs its pinned virtual environment. `.ci/run` creates it and sets
//! `BRAINSMITH_ORACLE_PYTHON` and `BRAINSMITH_REQUIRE_ORACLE=1`, so in CI a missing oracle
//! fails the tests; elsewhere they skip, saying why. It also finds the ONNX backend suite
//! that the venv's `onnx` package ships (`backend_suite`).

use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_core::ir::Model;

/// A runnable oracle: its interpreter and script.
pub struct Oracle {
    python: PathBuf,
    script: PathBuf,
}

/// What one oracle run produced.
pub struct OracleRun {
    /// The transformed model.
    pub model: Model,
    /// The JSON summary the script writes (histograms, node counts, times).
    pub summary: String,
}

impl Oracle {
    /// The oracle, or `None` after printing why it is unavailable. Panics instead when
    /// `BRAINSMITH_REQUIRE_ORACLE` is set, as CI does.
    pub fn find() -> Option<Oracle> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let shared = std::env::var_os("BRAINSMITH_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared"));
        let python = std::env::var_os("BRAINSMITH_ORACLE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/oracle-venv/bin/python"));
        let script = shared.join("oracle/run_qonnx.py");
        let missing = if !script.is_file() {
            Some(format!(
                "{} does not exist (set BRAINSMITH_SHARED)",
                script.display()
            ))
        } else if !python.is_file() {
            Some(format!(
                "{} does not exist (create the venv as ../shared/oracle/README.md says, or set \
                 BRAINSMITH_ORACLE_PYTHON)",
                python.display()
            ))
        } else {
            None
        };
        match missing {
            None => Some(Oracle { python, script }),
            Some(why) if std::env::var_os("BRAINSMITH_REQUIRE_ORACLE").is_some() => {
                panic!("the qonnx oracle is required but unavailable: {why}")
            }
            Some(why) => {
                eprintln!("skipping the oracle comparison: {why}");
                None
            }
        }
    }

    /// Runs `transforms` (the script's comma-separated names) on `model`, with qonnx's
    /// own cleanup after each unless `cleanup` is false. An error carries the script's
    /// last line of output.
    pub fn run(
        &self,
        model: &Path,
        transforms: &str,
        cleanup: bool,
        scratch: &Path,
    ) -> Result<OracleRun, String> {
        std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
        let stem = model.file_stem().unwrap_or_default().to_string_lossy();
        let out = scratch.join(format!("{stem}.oracle.onnx"));
        let summary = scratch.join(format!("{stem}.oracle.json"));
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .arg(model)
            .arg(&out)
            .arg("--transforms")
            .arg(transforms)
            .arg("--summary")
            .arg(&summary);
        if !cleanup {
            cmd.arg("--no-cleanup");
        }
        let result = cmd
            .output()
            .map_err(|e| format!("cannot run the oracle: {e}"))?;
        if !result.status.success() {
            return Err(last_line(&result.stderr));
        }
        Ok(OracleRun {
            model: Model::load(&out).map_err(|e| e.to_string())?,
            summary: std::fs::read_to_string(&summary).map_err(|e| e.to_string())?,
        })
    }
}

/// How far one output of a model is from the same output of another.
#[derive(Debug)]
pub struct OutputDiff {
    /// Output names in the first and second model.
    pub names: (String, String),
    /// The largest absolute difference, or why the outputs cannot be compared.
    pub max_abs_diff: Result<f64, String>,
    /// The largest absolute value of the first model's output, for scale.
    pub max_abs: f64,
}

impl Oracle {
    /// Runs `a` and `b` on the same seeded random input with the oracle's executor
    /// (`tests/oracle/compare_outputs.py`) and compares their outputs by position.
    pub fn compare_outputs(&self, a: &Path, b: &Path) -> Result<Vec<OutputDiff>, String> {
        let helper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oracle/compare_outputs.py");
        let oracle_dir = self.script.parent().unwrap_or(Path::new("."));
        let result = Command::new(&self.python)
            .arg(&helper)
            .arg(oracle_dir)
            .arg(a)
            .arg(b)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", helper.display()))?;
        if !result.status.success() {
            return Err(last_line(&result.stderr));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&result.stdout).map_err(|e| e.to_string())?;
        let outputs = json["outputs"].as_array().cloned().unwrap_or_default();
        Ok(outputs
            .iter()
            .map(|o| OutputDiff {
                names: (
                    o["a"].as_str().unwrap_or("").to_owned(),
                    o["b"].as_str().unwrap_or("").to_owned(),
                ),
                max_abs_diff: match o["error"].as_str() {
                    Some(e) => Err(e.to_owned()),
                    None => Ok(o["max_abs_diff"].as_f64().unwrap_or(f64::NAN)),
                },
                max_abs: o["max_abs"].as_f64().unwrap_or(0.0),
            })
            .collect())
    }
}

impl Oracle {
    /// Runs `model` (a file) with qonnx's executor on `inputs` (by position, the graph
    /// inputs that are not initializers) and returns its outputs, through `.npy` files in
    /// `dir` (`tests/oracle/execute.py`).
    pub fn execute(
        &self,
        model: &Path,
        inputs: &[brainsmith_core::ir::Tensor],
        dir: &Path,
    ) -> Result<Vec<brainsmith_core::ir::Tensor>, String> {
        use brainsmith_core::ir::npy;
        let helper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oracle/execute.py");
        let mut command = Command::new(&self.python);
        command.arg(&helper).arg(model);
        for (i, t) in inputs.iter().enumerate() {
            let path = dir.join(format!("in{i}.npy"));
            std::fs::write(&path, npy::write(t)?).map_err(|e| e.to_string())?;
            command.arg(path);
        }
        command.arg("--");
        let outputs = Model::load(model)
            .map_err(|e| e.to_string())?
            .graph
            .outputs
            .len();
        let paths: Vec<PathBuf> = (0..outputs)
            .map(|i| dir.join(format!("out{i}.npy")))
            .collect();
        command.args(&paths);
        let result = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", helper.display()))?;
        if !result.status.success() {
            return Err(last_line(&result.stderr));
        }
        paths
            .iter()
            .map(|p| {
                let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
                npy::read("out", &bytes)
            })
            .collect()
    }
}

/// The last non-empty line a Python script wrote to stderr: the exception, after its
/// traceback.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.trim().to_owned()
}

/// `f` of every real model's file name, two models at a time (each oracle run is a slow
/// Python process), sorted by name.
pub fn on_every_model<R: Send>(f: impl Fn(&str) -> R + Sync) -> Vec<(String, R)> {
    let queue = std::sync::Mutex::new(crate::model_names());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(name) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let r = f(&name);
                    results.lock().unwrap().push((name, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

/// One tensor's value of a per-tensor fact (its datatype, its layout), ours and qonnx's.
pub struct TensorPair<V> {
    /// The model's file name.
    pub model: String,
    /// The tensor.
    pub tensor: String,
    /// Our value.
    pub ours: V,
    /// qonnx's value.
    pub theirs: V,
}

/// Runs `oracle_transforms` (qonnx, with its cleanup) and `ours` on every real model and
/// pairs `read` of every tensor both results have, printing our diagnostics and the models
/// the oracle cannot run. Returns the pairs and how many models were compared; `None`
/// without the oracle.
pub fn tensor_pairs<V: Send>(
    test: &str,
    oracle_transforms: &str,
    ours: fn(&mut Model) -> Vec<String>,
    read: fn(&Model) -> std::collections::HashMap<String, V>,
) -> Option<(Vec<TensorPair<V>>, usize)> {
    let oracle = Oracle::find()?;
    let scratch = scratch_dir(test);
    let results = on_every_model(|name| {
        let path = crate::models_dir().join(name);
        let theirs = oracle.run(&path, oracle_transforms, true, &scratch);
        let mut model = Model::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let notes = ours(&mut model);
        (theirs.map(|run| read(&run.model)), read(&model), notes)
    });
    let (mut pairs, mut compared) = (Vec::new(), 0);
    for (name, (theirs, ours, notes)) in results {
        notes
            .iter()
            .for_each(|n| eprintln!("{name}: diagnostic: {n}"));
        let mut theirs = match theirs {
            Ok(theirs) => theirs,
            Err(why) => {
                eprintln!(
                    "{name}: the oracle cannot run `{oracle_transforms}` ({why}); not compared"
                );
                continue;
            }
        };
        compared += 1;
        for (tensor, value) in ours {
            if let Some(expected) = theirs.remove(&tensor) {
                pairs.push(TensorPair {
                    model: name.clone(),
                    tensor,
                    ours: value,
                    theirs: expected,
                });
            }
        }
    }
    pairs.sort_by(|a, b| (&a.model, &a.tensor).cmp(&(&b.model, &b.tensor)));
    Some((pairs, compared))
}

/// A scratch directory for one test, under the target directory, emptied first.
///
/// It is removed when the test passes (dropped outside a panic): the oracles' outputs of
/// every real model come to hundreds of megabytes. A failing test leaves it to look at.
pub fn scratch_dir(test: &str) -> Scratch {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/oracle-scratch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

/// See [`scratch_dir`].
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Applies `transforms` in order, as a recipe's `ours` does, and returns their
/// diagnostics. A transform error fails the test, naming the transform.
pub fn apply_all(model: &mut Model, transforms: &[&dyn brainsmith_core::Transform]) -> Vec<String> {
    let mut ctx = brainsmith_core::TransformContext::default();
    for t in transforms {
        if let Err(e) = t.apply(model, &mut ctx) {
            panic!("{}: {e}", std::any::type_name_of_val(*t));
        }
    }
    ctx.diagnostics()
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

/// A documented difference between our result and qonnx's on one model: our op counts
/// minus qonnx's, and why ours is right.
pub struct Known {
    /// The model's file name.
    pub model: &'static str,
    /// Our count minus qonnx's, per op type.
    pub delta: &'static [(&'static str, i64)],
    /// Why.
    pub reason: &'static str,
}

/// A documented looser bound on how far one model's outputs may move, and why.
pub struct Tolerance {
    /// The model's file name.
    pub model: &'static str,
    /// The largest absolute difference allowed (otherwise `1e-5` of the output's scale).
    pub max_abs_diff: f64,
    /// Why.
    pub reason: &'static str,
}

/// One recipe to compare: what the oracle runs, and what we run.
pub struct Recipe {
    /// Scratch directory name and label.
    pub name: &'static str,
    /// The oracle's `--transforms` (each followed by qonnx's own cleanup).
    pub oracle: &'static str,
    /// Our side: transforms the model and returns its diagnostics.
    pub ours: fn(&mut Model) -> Vec<String>,
    /// Where the op histograms may differ.
    pub known: &'static [Known],
    /// Whether the graphs must also be the same up to naming (where the histograms agree).
    pub structural: bool,
    /// Where outputs may move further than rounding.
    pub tolerances: &'static [Tolerance],
}

fn histogram_delta(ours: &Model, theirs: &Model) -> Vec<(String, i64)> {
    let (a, b) = (crate::histogram(ours), crate::histogram(theirs));
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
    delta
}

/// What comparing one model found.
struct ModelReport {
    /// Why the oracle could not run the recipe, if it could not.
    oracle_failed: Option<String>,
    mismatches: Vec<String>,
    notes: Vec<String>,
    outputs: usize,
}

fn check_model(oracle: &Oracle, recipe: &Recipe, name: &str, scratch: &Path) -> ModelReport {
    let path = crate::models_dir().join(name);
    let theirs = oracle.run(&path, recipe.oracle, true, scratch);
    let mut report = ModelReport {
        oracle_failed: theirs.as_ref().err().cloned(),
        mismatches: Vec::new(),
        notes: Vec::new(),
        outputs: 0,
    };
    let mut ours = match Model::load(&path) {
        Ok(model) => model,
        Err(e) => {
            report.mismatches.push(format!("{name}: {e}"));
            return report;
        }
    };
    let notes = (recipe.ours)(&mut ours);
    let ours_path = scratch.join(name.replace(".onnx", ".ours.onnx"));
    if let Err(e) = ours.save(&ours_path) {
        report.mismatches.push(format!("{name}: {e}"));
        return report;
    }
    report.notes = notes
        .into_iter()
        .map(|n| format!("{name}: diagnostic: {n}"))
        .collect();
    if let Ok(theirs) = &theirs {
        compare_graphs(recipe, name, &ours, &theirs.model, &mut report);
    }
    match oracle.compare_outputs(&path, &ours_path) {
        Ok(diffs) => {
            report.outputs = diffs.len();
            let bound = |scale: f64| {
                recipe
                    .tolerances
                    .iter()
                    .find(|t| t.model == name)
                    .map_or(1e-5 * scale.max(1.0), |t| t.max_abs_diff)
            };
            for d in diffs {
                match d.max_abs_diff {
                    Ok(x) if x <= bound(d.max_abs) => {}
                    other => report.mismatches.push(format!(
                        "{name}: output {:?} differs from the original model's: {other:?} (scale {})",
                        d.names, d.max_abs
                    )),
                }
            }
        }
        Err(why) => report
            .notes
            .push(format!("{name}: outputs not compared ({why})")),
    }
    report
}

/// Op histograms (up to the documented difference) and, where they agree exactly, the
/// graphs up to naming.
fn compare_graphs(
    recipe: &Recipe,
    name: &str,
    ours: &Model,
    theirs: &Model,
    report: &mut ModelReport,
) {
    let delta = histogram_delta(ours, theirs);
    let mut known: Vec<(String, i64)> = recipe
        .known
        .iter()
        .find(|k| k.model == name)
        .map(|k| k.delta.iter().map(|(o, c)| (o.to_string(), *c)).collect())
        .unwrap_or_default();
    known.sort();
    if delta != known {
        report.mismatches.push(format!(
            "{name}: op histogram delta (ours - qonnx) {delta:?}, documented {known:?}; ours {} nodes, qonnx {}",
            ours.graph.nodes.len(),
            theirs.graph.nodes.len()
        ));
    } else if recipe.structural && known.is_empty() {
        let diff = crate::structure::differences(
            &crate::structure::structure(ours),
            &crate::structure::structure(theirs),
        );
        if !diff.is_empty() {
            report.mismatches.push(format!(
                "{name}: not the same graph up to naming: {}",
                diff.join("; ")
            ));
        }
    }
}

/// Runs `recipe` on every real model, with the oracle and with ours, two models at a time,
/// and panics listing every mismatch: an undocumented op-histogram difference, a graph that
/// differs beyond naming, or an output that differs from the original model's.
pub fn check_recipe(recipe: &Recipe) {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir(recipe.name);
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let results = on_every_model(|name| check_model(&oracle, recipe, name, &scratch));
    let (mut mismatches, mut compared, mut outputs) = (Vec::new(), 0, 0);
    for (name, report) in results {
        match &report.oracle_failed {
            None => compared += 1,
            Some(why) => eprintln!(
                "{name}: the oracle cannot run `{}` ({why}); only our outputs are checked",
                recipe.oracle
            ),
        }
        outputs += report.outputs;
        report.notes.iter().for_each(|n| eprintln!("{n}"));
        mismatches.extend(report.mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "{}:\n{}",
        recipe.name,
        mismatches.join("\n")
    );
    assert!(compared >= 15, "only {compared} models compared");
    assert!(
        outputs >= compared,
        "only {outputs} outputs compared on {compared} models"
    );
    eprintln!(
        "{}: {compared} models agree with qonnx ({} documented differences); {outputs} outputs equal the original model's",
        recipe.name,
        recipe.known.len()
    );
}

/// The oracle venv's Python for the tests that run the ONNX backend suite (`what` names
/// the test in the message), or `None` after printing why it is missing. Panics instead
/// when `BRAINSMITH_REQUIRE_ORACLE` is set, as CI does.
pub fn backend_suite_python(what: &str) -> Option<PathBuf> {
    let python = std::env::var_os("BRAINSMITH_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/oracle-venv/bin/python"));
    if python.is_file() {
        return Some(python);
    }
    assert!(
        std::env::var_os("BRAINSMITH_REQUIRE_ORACLE").is_none(),
        "the oracle's venv is required but {} does not exist",
        python.display()
    );
    eprintln!(
        "skipping {what}: {} does not exist (set BRAINSMITH_ORACLE_PYTHON)",
        python.display()
    );
    None
}

/// (name, test directory or none, model) of every test of the ONNX backend suite that
/// `python`'s `onnx` package ships: the `node`, `simple`, `pytorch-converted` and
/// `pytorch-operator` tests with their directories, then the "light" zoo models without.
pub fn backend_suite(python: &Path) -> Vec<(String, Option<PathBuf>, PathBuf)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data'))",
        ])
        .output()
        .expect("the oracle's python runs");
    let data = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let mut tests = Vec::new();
    for family in ["node", "simple", "pytorch-converted", "pytorch-operator"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(data.join(family))
            .unwrap_or_else(|e| panic!("{}: {e}", data.join(family).display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            tests.push((name, Some(dir.clone()), dir.join("model.onnx")));
        }
    }
    let mut light: Vec<PathBuf> = std::fs::read_dir(data.join("light"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    light.sort();
    for model in light {
        let name = model.file_stem().unwrap().to_string_lossy().into_owned();
        tests.push((name, None, model));
    }
    tests
}

/// Element type and dimensions of a tensor type, symbolic ones as `None`: what the shape
/// comparisons with onnx's inference compare.
pub type Signature = (i32, Option<Vec<Option<i64>>>);

/// The [`Signature`] of `t`.
pub fn signature(t: &brainsmith_core::ir::TensorType) -> Signature {
    let dims = t.shape.as_ref().map(|s| {
        s.iter()
            .map(|d| match d {
                brainsmith_core::ir::Dim::Value(v) => Some(*v),
                _ => None,
            })
            .collect()
    });
    (t.elem_type, dims)
}
