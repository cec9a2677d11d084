//! `transform MODEL -o OUT --apply A,B(key = value),...` or `--blueprint FILE`: runs registered
//! transforms (or a blueprint's steps) on a model and writes the result atomically, with
//! a summary of node counts and times. A progress line shows on a terminal only.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::apply;
use super::table::Table;
use crate::blueprint::{Blueprint, Options, execute};
use crate::fsutil::Durability;
use crate::ir::Model;
use crate::pipeline;
use crate::registry::Registry;

/// Arguments of `transform`.
#[derive(Args)]
pub(super) struct TransformArgs {
    /// The ONNX model to read.
    model: PathBuf,
    /// Where to write the result; replaced only when every transform succeeded. A symlink
    /// is followed and its target replaced; a FIFO, device or directory is refused.
    #[arg(short, long)]
    output: PathBuf,
    /// Transforms to apply in order, short or qualified names, comma-separated; a
    /// configuration in parentheses as TOML, e.g. `RemoveIdentityOps(tolerance = 1e-5)`.
    #[arg(
        long,
        value_name = "LIST",
        required_unless_present = "blueprint",
        conflicts_with = "blueprint"
    )]
    apply: Vec<String>,
    /// A blueprint to run instead (checked whole before the model is read).
    #[arg(long)]
    blueprint: Option<PathBuf>,
    /// Write the model after every blueprint step into this directory.
    #[arg(long, requires = "blueprint")]
    save_intermediate: Option<PathBuf>,
    /// The build's output directory, where steps write what they generate (hardware
    /// sources, reports).
    #[arg(long, requires = "blueprint", value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    format: SummaryFormat,
    /// Replace the output without waiting for the disk (no `fsync`): still never seen
    /// half-written, but a power loss soon after may leave it empty. Saves the disk's
    /// write time, most of a run on a model of hundreds of megabytes.
    #[arg(long)]
    no_sync: bool,
}

impl TransformArgs {
    /// How every model this command writes is saved.
    fn durability(&self) -> Durability {
        if self.no_sync {
            Durability::Unsynced
        } else {
            Durability::Synced
        }
    }
}

/// How the summary is printed.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SummaryFormat {
    Table,
    Json,
}

pub(super) fn run(
    registry: &Registry,
    args: TransformArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    // A FIFO, a device or a directory as the output is refused before any work is done.
    crate::fsutil::output_target(&args.output)
        .map_err(|e| format!("cannot write the output there: {e}"))?;
    if let Some(path) = &args.blueprint {
        return run_blueprint(registry, path, &args, out, err);
    }
    // Every name and configuration is checked before the model is even read.
    let planned = apply::plan(registry, &args.apply)?;
    let load_start = std::time::Instant::now();
    let mut model = Model::load(&args.model).map_err(|e| e.to_string())?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let mut report = pipeline::Report::starting(&model);
    pipeline::run_planned(&mut model, &planned, &mut report)
        .map_err(|f| format!("{f}; nothing was written to {}", args.output.display()))?;
    finish(&args, model, &report, load_seconds, out, err)
}

fn run_blueprint(
    registry: &Registry,
    path: &std::path::Path,
    args: &TransformArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let plan = Blueprint::check_file(path, registry).map_err(|e| e.to_string())?;
    let load_start = std::time::Instant::now();
    let mut model = Model::load(&args.model).map_err(|e| e.to_string())?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |i: usize, n: usize, label: &str| {
        if terminal {
            eprint!("\r\x1b[2K[{}/{n}] {label}", i + 1);
        }
    };
    let options = Options {
        save_intermediate: args.save_intermediate.as_deref(),
        output_dir: args.output_dir.as_deref(),
        progress: Some(&mut progress),
        target: None,
        durability: args.durability(),
    };
    let result = execute(&mut model, &plan, options);
    if terminal {
        eprint!("\r\x1b[2K");
    }
    let report =
        result.map_err(|e| format!("{e}; nothing was written to {}", args.output.display()))?;
    finish(args, model, &report, load_seconds, out, err)
}

/// Writes the model and prints the summary.
fn finish(
    args: &TransformArgs,
    model: Model,
    report: &pipeline::Report,
    load_seconds: f64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let save_start = std::time::Instant::now();
    // The model is not needed after: saved without the copy `save_with` makes.
    model
        .save_owned(&args.output, args.durability())
        .map_err(|e| e.to_string())?;
    let save_seconds = save_start.elapsed().as_secs_f64();

    for step in &report.steps {
        for d in &step.diagnostics {
            let _ = writeln!(err, "warning: {}: {}", step.transform, d.message);
        }
    }
    let text = match args.format {
        SummaryFormat::Json => json(args, report, load_seconds, save_seconds),
        SummaryFormat::Table => table(args, report, load_seconds, save_seconds),
    };
    write!(out, "{text}").map_err(|e| e.to_string())
}

fn table(args: &TransformArgs, report: &pipeline::Report, load: f64, save: f64) -> String {
    let mut t = Table::new(&["transform", "changed", "nodes", "time"]).right_align(&[2, 3]);
    t.row(vec![
        format!("(load {})", args.model.display()),
        String::new(),
        report.nodes_before.to_string(),
        millis(load),
    ]);
    for s in &report.steps {
        t.row(vec![
            s.transform.clone(),
            if s.changed { "yes" } else { "no" }.to_owned(),
            s.nodes_after.to_string(),
            millis(s.seconds),
        ]);
    }
    t.row(vec![
        format!("(save {})", args.output.display()),
        String::new(),
        report.nodes_after.to_string(),
        millis(save),
    ]);
    let total = transform_seconds(report);
    t.row(vec![
        "total (transforms)".to_owned(),
        String::new(),
        format!("{} -> {}", report.nodes_before, report.nodes_after),
        millis(total),
    ]);
    t.render()
}

/// A duration in milliseconds; never `-0.000 ms` (a sum of no steps is `-0.0` in Rust).
fn millis(seconds: f64) -> String {
    let ms = if seconds > 0.0 { seconds * 1e3 } else { 0.0 };
    format!("{ms:.3} ms")
}

/// The transforms' time together: `f64`'s `sum` of nothing is `-0.0`, so it is folded
/// from `0.0`.
fn transform_seconds(report: &pipeline::Report) -> f64 {
    report.steps.iter().fold(0.0, |total, s| total + s.seconds)
}

fn json(args: &TransformArgs, report: &pipeline::Report, load: f64, save: f64) -> String {
    let steps: Vec<serde_json::Value> = report
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "transform": s.transform,
                "stage": s.stage.map(|s| s.to_string()),
                "runs": s.runs,
                "changed": s.changed,
                "nodes": s.nodes_after,
                "seconds": s.seconds,
                "diagnostics": s.diagnostics.iter().map(|d| serde_json::json!({
                    "node": d.node,
                    "message": d.message,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = serde_json::json!({
        "model": args.model.display().to_string(),
        "output": args.output.display().to_string(),
        "nodes_before": report.nodes_before,
        "nodes_after": report.nodes_after,
        "load_seconds": load,
        "save_seconds": save,
        "transform_seconds": transform_seconds(report),
        "steps": steps,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
