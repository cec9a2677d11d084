//! A transform recipe on models, warm, for `cargo xtask bench-transforms`: each model is
//! loaded once and the recipe applied to fresh copies of it, in this one process, through
//! the pipeline the `brainsmith transform` command uses; the fastest application counts,
//! so what is left is the transforms' own work, not the cost of a cold process.
//!
//! ```sh
//! cargo bench -p brainsmith-plugins --bench recipe -- \
//!     --transforms InferShapes,SortGraph --runs 200 --budget 2 MODEL.onnx...
//! ```
//!
//! prints one JSON line per model: `{"model", "runs", "first", "best"}`, times in
//! seconds of the transforms as the pipeline reports them (`first`: the first
//! application in this process).

use std::process::ExitCode;
use std::time::Instant;

use brainsmith_core::ir::Model;
use brainsmith_core::{Registry, pipeline};
use brainsmith_plugins as _;

// The allocator of the `brainsmith` binary, whose work this measures: mimalloc, behind
// the binary's start arena (src/arena.rs), which a warm loop outgrows in its first run.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    transforms: Vec<String>,
    runs: usize,
    budget: f64,
    models: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        transforms: Vec::new(),
        runs: 200,
        budget: 2.0,
        models: Vec::new(),
    };
    // Cargo passes `--bench` to every bench target.
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--transforms" => {
                a.transforms = value()?.split(',').map(|s| s.trim().to_owned()).collect()
            }
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--budget" => a.budget = value()?.parse().map_err(|e| format!("--budget: {e}"))?,
            _ => a.models.push(arg),
        }
    }
    if a.transforms.is_empty() {
        return Err("--transforms A,B,... is required".into());
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let a = args()?;
    let registry = Registry::global().map_err(|e| e.to_string())?;
    let recipe = pipeline::resolve(registry, &a.transforms).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    for path in &a.models {
        let model = Model::load(path).map_err(|e| format!("{path}: {e}"))?;
        let (mut first, mut best, mut runs, mut spent) = (None, f64::INFINITY, 0, 0.0);
        while runs < a.runs.max(1) && (runs == 0 || spent < a.budget) {
            let mut copy = model.clone();
            let start = Instant::now();
            let report = pipeline::run(&mut copy, &recipe).map_err(|e| format!("{path}: {e}"))?;
            spent += start.elapsed().as_secs_f64();
            let seconds: f64 = report.steps.iter().map(|s| s.seconds).sum();
            first.get_or_insert(seconds);
            best = best.min(seconds);
            runs += 1;
        }
        println!(
            "{}",
            serde_json::json!({"model": path, "runs": runs, "first": first, "best": best})
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
