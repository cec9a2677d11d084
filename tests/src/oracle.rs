//! The qonnx oracle (`../shared/oracle/run_qonnx.py`): runs the Python reference
//! transformations on a model, so that tests can compare our results with qonnx 1.0.0's.
//!
//! The oracle needs its pinned virtual environment. `.ci/run` creates it and sets
//! `BRAINSMITH_ORACLE_PYTHON` and `BRAINSMITH_REQUIRE_ORACLE=1`, so in CI a missing oracle
//! fails the tests; elsewhere they skip, saying why.

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
            let stderr = String::from_utf8_lossy(&result.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(last.trim().to_owned());
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
            let stderr = String::from_utf8_lossy(&result.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(last.trim().to_owned());
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

/// A scratch directory for one test, under the target directory.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/oracle-scratch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
