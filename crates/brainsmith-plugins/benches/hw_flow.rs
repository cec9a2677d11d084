//! FINN's flow (the shipped `finn.toml` blueprint) from a QONNX file to generated sources,
//! per stage, for `cargo xtask bench-hw`: each model is read from its file and built
//! `--runs` times in this one process, each stage's median counting.
//!
//! ```sh
//! cargo bench -p brainsmith-plugins --bench hw_flow -- --runs 5 --out DIR MODEL.onnx...
//! ```
//!
//! prints one JSON line per model: `{"model", "runs", "stages": [{"stage", "seconds"}],
//! "total", "nodes", "software", "compile", "simulation_build", "simulation_per_frame"}`:
//! the stages are `load` (reading the file) and the blueprint's items; `software` lists
//! the op types left outside hardware; `compile` is the whole `brainsmith compile`
//! without its simulation (median of the runs), the last two its simulation of 20 frames
//! (the build, and the run per frame).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use brainsmith_core::Registry;
use brainsmith_core::blueprint::{Blueprint, Options, execute};
use brainsmith_core::ir::Model;

// The allocator of the `brainsmith` binary, whose work this measures: mimalloc, behind
// the binary's start arena (src/arena.rs), which a warm loop outgrows in its first run.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    runs: usize,
    out: PathBuf,
    models: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        runs: 5,
        out: std::env::temp_dir().join(format!("hw-flow-{}", std::process::id())),
        models: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                a.runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .ok_or("--runs needs a positive count")?
            }
            "--out" => {
                a.out = it
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--out needs a directory")?
            }
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            model => a.models.push(model.to_owned()),
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let a = args()?;
    let registry = Registry::global().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&a.out).map_err(|e| e.to_string())?;
    let blueprint = a.out.join("finn.toml");
    std::fs::write(&blueprint, brainsmith_plugins::blueprints::FINN).map_err(|e| e.to_string())?;
    let plan = Blueprint::check_file(&blueprint, registry).map_err(|e| e.to_string())?;
    for path in &a.models {
        let mut labels: Vec<String> = vec!["load".into()];
        let mut times: Vec<Vec<f64>> = vec![Vec::new()];
        let mut last = None;
        for run in 0..a.runs {
            let start = Instant::now();
            let mut model = Model::load(path).map_err(|e| format!("{path}: {e}"))?;
            times[0].push(start.elapsed().as_secs_f64());
            let out = a.out.join(format!("run{run}"));
            let _ = std::fs::remove_dir_all(&out);
            let mut marks: Vec<(String, Instant)> = Vec::new();
            let mut progress = |_: usize, _: usize, label: &str| {
                marks.push((label.to_owned(), Instant::now()));
            };
            execute(
                &mut model,
                &plan,
                Options {
                    save_intermediate: None,
                    output_dir: Some(&out),
                    progress: Some(&mut progress),
                    target: None,
                    ..Options::default()
                },
            )
            .map_err(|e| format!("{path}: {e}"))
            .inspect(|report| {
                if std::env::var_os("HW_FLOW_PROFILE").is_some() {
                    for s in &report.steps {
                        eprintln!("{:>10.3} ms  {}", s.seconds * 1e3, s.transform);
                    }
                }
            })?;
            let end = Instant::now();
            for (k, (label, at)) in marks.iter().enumerate() {
                let next = marks.get(k + 1).map_or(end, |(_, t)| *t);
                if labels.len() <= k + 1 {
                    labels.push(label.clone());
                    times.push(Vec::new());
                }
                times[k + 1].push(next.duration_since(*at).as_secs_f64());
            }
            last = Some(model);
        }
        let model = last.ok_or("no run")?;
        // The whole `brainsmith compile` (no simulation), and once with its simulation of
        // 20 frames; on ZCU104's part, where CNV folded for 1000 cycles fits.
        let mut compile_times = Vec::new();
        let compile_options = |frames: usize, dir: &str| {
            let mut o = brainsmith_plugins::compile::Options::new(path, a.out.join(dir));
            o.target_cycles = Some(1000);
            o.part = "xczu7ev-ffvc1156-2-e".into();
            o.check_frames = frames;
            o.force = true;
            o
        };
        for _ in 0..a.runs {
            let start = Instant::now();
            brainsmith_plugins::compile::compile(
                registry,
                &compile_options(0, "compiled"),
                &mut |_| {},
            )
            .map_err(|e| format!("{path}: compile: {e}"))?;
            compile_times.push(start.elapsed().as_secs_f64());
        }
        let simulated = brainsmith_plugins::compile::compile(
            registry,
            &compile_options(20, "simulated"),
            &mut |_| {},
        )
        .map_err(|e| format!("{path}: compile with simulation: {e}"))?;
        let sim_seconds = |k: &str| simulated.report.seconds.get(k).copied().unwrap_or(f64::NAN);
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        let stages: Vec<serde_json::Value> = labels
            .iter()
            .zip(&medians)
            .map(|(l, s)| serde_json::json!({"stage": l, "seconds": s}))
            .collect();
        let software: Vec<&str> = model
            .graph
            .nodes
            .iter()
            .filter(|n| !n.domain.starts_with("finn.custom_op.fpgadataflow"))
            .map(|n| n.op_type.as_str())
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "model": path,
                "runs": a.runs,
                "stages": stages,
                "total": medians.iter().sum::<f64>(),
                "nodes": model.graph.nodes.len(),
                "software": software,
                "compile": median(compile_times),
                "simulation_build": sim_seconds("simulation_build"),
                "simulation_per_frame": sim_seconds("simulation") / 20.0,
            })
        );
    }
    let _ = std::fs::remove_dir_all(&a.out);
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
