//! `cargo xtask bench-hw`: FINN's flow from a QONNX export to generated hardware sources,
//! per stage, ours against FINN's own (PyPI `finn-plus`) on the same networks in the same
//! run, written to `BENCHMARKS-hw.md`.
//!
//! Ours: the `hw_flow` bench target (release build) runs the shipped `finn.toml`
//! blueprint in one process, `--runs` times per model, each stage's median counting
//! (reading the file is a stage of its own). FINN: `scripts/finn_reference/run_finn.py`
//! in its venv (`target/finn-venv`, see that directory's README), one process per run,
//! `--finn-runs` runs, each stage's median; its import of FINN is reported on its own row.
//! Both read the Brevitas export and give it FINN's pre- and post-processing (UINT8
//! pixels divided by 255; the top-1 label): ours before the clock starts, FINN's as FINN's
//! end-to-end test merges it, a stage shown but not counted. Without FINN's venv the
//! table has our side only, and says so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_core::ir::{ElemType, Model, Node, QuantType, Tensor, ValueInfo};

use crate::util::{Mode, ensure_file_contents, generated_header, workspace_root};

struct Options {
    runs: usize,
    finn_runs: usize,
    finn_python: PathBuf,
}

fn options(args: &[String], root: &Path) -> Result<Options, String> {
    let mut o = Options {
        runs: 5,
        finn_runs: 3,
        finn_python: root.join("target/finn-venv/bin/python"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--finn-runs" => {
                o.finn_runs = value()?.parse().map_err(|e| format!("--finn-runs: {e}"))?
            }
            "--finn-python" => o.finn_python = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other}; see `cargo xtask`")),
        }
    }
    Ok(o)
}

/// FINN's pre- and post-processing of its example networks: UINT8 pixels divided by 255
/// in front, the index of the largest score behind.
fn prepared(mut m: Model) -> Result<Model, String> {
    let x = m.graph.inputs[0].name.clone();
    let shape = m.graph.inputs[0]
        .static_shape()
        .ok_or("the input's shape is not static")?;
    *m.graph.inputs = vec![ValueInfo::tensor("pixels", ElemType::Float, &shape)];
    m.graph
        .initializers
        .push(Tensor::from_f32("pixel_scale", &[], &[255.0]));
    m.graph.nodes.insert(
        0,
        Node::new("Div", ["pixels", "pixel_scale"], [x.as_str()]).with_name("to_unit"),
    );
    m.graph.set_datatype("pixels", QuantType::UInt(8));
    let scores = m.graph.outputs[0].name.clone();
    m.graph
        .initializers
        .push(Tensor::from_i64("one", &[1], &[1]));
    m.graph
        .nodes
        .push(Node::new("TopK", [scores.as_str(), "one"], ["", "label"]).with_name("top1"));
    *m.graph.outputs = vec![ValueInfo::tensor("label", ElemType::Int64, &[1, 1])];
    Ok(m)
}

/// One stage's median time.
struct Stage {
    name: String,
    seconds: f64,
    note: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One model's stages, the op types left in software, and the whole compile's seconds:
/// (compile, simulation build, simulation per frame).
type Measured = (Vec<Stage>, Vec<String>, [f64; 3]);

/// Our stages for each prepared model, from the `hw_flow` bench target.
fn ours(root: &Path, runs: usize, models: &[PathBuf]) -> Result<Vec<Measured>, String> {
    let out = root.join("target/bench-hw/out");
    let result = Command::new(env!("CARGO"))
        .args([
            "bench",
            "--quiet",
            "-p",
            "brainsmith-plugins",
            "--bench",
            "hw_flow",
            "--",
        ])
        .args(["--runs", &runs.to_string(), "--out"])
        .arg(&out)
        .args(models)
        .current_dir(root)
        .output()
        .map_err(|e| e.to_string())?;
    if !result.status.success() {
        return Err(format!(
            "the hw_flow bench failed: {}",
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    String::from_utf8_lossy(&result.stdout)
        .lines()
        .map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            let stages = json["stages"]
                .as_array()
                .ok_or("no stages")?
                .iter()
                .map(|s| Stage {
                    name: s["stage"].as_str().unwrap_or("?").to_owned(),
                    seconds: s["seconds"].as_f64().unwrap_or(f64::NAN),
                    note: String::new(),
                })
                .collect();
            let software = json["software"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let secs = |k: &str| json[k].as_f64().unwrap_or(f64::NAN);
            Ok((
                stages,
                software,
                [
                    secs("compile"),
                    secs("simulation_build"),
                    secs("simulation_per_frame"),
                ],
            ))
        })
        .collect()
}

/// FINN's stages for `model` (the raw export), medians over `runs` processes.
fn finn(root: &Path, o: &Options, model: &Path) -> Result<(Vec<Stage>, String), String> {
    let script = root.join("scripts/finn_reference/run_finn.py");
    let out = root.join("target/bench-hw/finn");
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for run in 0..o.finn_runs {
        let dir = out.join(format!("run{run}"));
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "  FINN run {}/{} on {}",
            run + 1,
            o.finn_runs,
            model.display()
        );
        let result = Command::new(&o.finn_python)
            .arg(&script)
            .arg(model)
            .arg(&dir)
            .arg("--json")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", o.finn_python.display()))?;
        if !result.status.success() {
            return Err(format!(
                "FINN's run failed: {}",
                String::from_utf8_lossy(&result.stderr)
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
        runs.push(
            serde_json::from_slice(&result.stdout)
                .map_err(|e| format!("FINN's report is not JSON: {e}"))?,
        );
    }
    let first = runs.first().ok_or("no FINN run")?;
    let version = first["finn_version"].as_str().unwrap_or("?").to_owned();
    let names: Vec<String> = first["stages"]
        .as_array()
        .ok_or("no stages in FINN's report")?
        .iter()
        .map(|s| s["stage"].as_str().unwrap_or("?").to_owned())
        .collect();
    let stages = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let at = |r: &serde_json::Value| r["stages"][k].clone();
            let ok = runs.iter().all(|r| at(r)["ok"].as_bool().unwrap_or(false));
            Stage {
                name: name.clone(),
                seconds: median(
                    runs.iter()
                        .map(|r| at(r)["seconds"].as_f64().unwrap_or(f64::NAN))
                        .collect(),
                ),
                note: if ok {
                    String::new()
                } else {
                    at(first)["note"].as_str().unwrap_or("failed").to_owned()
                },
            }
        })
        .collect();
    Ok((stages, version))
}

/// The stages compared, as (label, our stage labels, FINN's stage names).
const GROUPS: &[(&str, &[&str], &[&str])] = &[
    ("read the model", &["load"], &["load"]),
    (
        "QONNX to FINN form, streamlining",
        &["stage cleanup", "stage topology_opt"],
        &["qonnx_to_finn", "tidy_up", "streamline"],
    ),
    (
        "kernel mapping",
        &["stage kernel_mapping"],
        &["convert_to_hw"],
    ),
    ("folding", &["stage kernel_opt"], &["folding"]),
    (
        "backend choice",
        &["step brainsmith:specialize_layers"],
        &["specialize"],
    ),
    (
        "width converters, sources",
        &["stage dataflow_opt", "step brainsmith:hw_codegen"],
        &["codegen"],
    ),
];

fn fmt_time(s: f64) -> String {
    if s.is_nan() {
        "-".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let o = options(args, &root)?;
    let shared = std::env::var_os("BRAINSMITH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    let networks = [
        (
            "TFC-w1a1",
            root.join("testdata/models/brevitas_tfc_1w1a_seed1.onnx"),
        ),
        (
            "CNV-w1a1",
            shared.join("models/brevitas_cnv_1w1a_seed2.onnx"),
        ),
    ];
    let dir = root.join("target/bench-hw");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut inputs = Vec::new();
    for (name, path) in &networks {
        let m = Model::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = dir.join(format!("{}.onnx", name.to_lowercase()));
        prepared(m)?.save(&file).map_err(|e| e.to_string())?;
        inputs.push(file);
    }
    eprintln!("our flow, {} runs per model (release build)...", o.runs);
    let ours = ours(&root, o.runs, &inputs)?;
    let with_finn = o.finn_python.is_file();
    let mut md = generated_header("<!--", "cargo xtask bench-hw");
    md.pop();
    md.push_str(" -->\n# From a QONNX export to hardware sources: ours and FINN's\n\n");
    let _ = writeln!(
        md,
        "FINN's flow on its end-to-end example networks (Brevitas exports, random weights), \
         from reading the file to generated sources, stage by stage: ours (the shipped \
         `finn.toml` blueprint, median of {} runs in one process) and FINN's own \
         transformations (PyPI `finn-plus` through `scripts/finn_reference/run_finn.py`, \
         median of {} processes), measured in the same run on this machine. Both give the \
         export FINN's pre- and post-processing (UINT8 pixels / 255, the top-1 label) and \
         fold it for 1000 cycles per frame.\n",
        o.runs, o.finn_runs
    );
    for ((name, raw), (stages, software, whole)) in networks.iter().zip(&ours) {
        let theirs = if with_finn {
            eprintln!("FINN's flow on {name}...");
            Some(finn(&root, &o, raw))
        } else {
            None
        };
        let _ = writeln!(md, "## {name}\n");
        if let Some(Ok((_, version))) = &theirs {
            let _ = writeln!(md, "FINN: finn-plus {version}.\n");
        }
        md.push_str("| stage | ours | FINN | FINN / ours |\n|---|---:|---:|---:|\n");
        let (mut total_ours, mut total_finn) = (0.0, 0.0);
        let mut finn_import = None;
        for (label, our_names, finn_names) in GROUPS {
            let ours_s: f64 = stages
                .iter()
                .filter(|s| our_names.contains(&s.name.as_str()))
                .map(|s| s.seconds)
                .sum();
            total_ours += ours_s;
            let (finn_s, note) = match &theirs {
                Some(Ok((fs, _))) => {
                    let picked: Vec<&Stage> = fs
                        .iter()
                        .filter(|s| finn_names.contains(&s.name.as_str()))
                        .collect();
                    let note: Vec<&str> = picked
                        .iter()
                        .filter(|s| !s.note.is_empty())
                        .map(|s| s.note.as_str())
                        .collect();
                    let t: f64 = picked.iter().map(|s| s.seconds).sum();
                    finn_import = fs.iter().find(|s| s.name == "import").map(|s| s.seconds);
                    (
                        if picked.is_empty() { f64::NAN } else { t },
                        note.join("; "),
                    )
                }
                _ => (f64::NAN, String::new()),
            };
            if !finn_s.is_nan() {
                total_finn += finn_s;
            }
            let ratio = if finn_s.is_nan() || !note.is_empty() {
                if note.is_empty() {
                    "-".to_owned()
                } else {
                    format!("({note})")
                }
            } else {
                format!("{:.0}x", finn_s / ours_s)
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {ratio} |",
                fmt_time(ours_s),
                fmt_time(finn_s)
            );
        }
        match &theirs {
            Some(Ok(_)) => {
                let _ = writeln!(
                    md,
                    "| **total** | **{}** | **{}** | **{:.0}x** |",
                    fmt_time(total_ours),
                    fmt_time(total_finn),
                    total_finn / total_ours
                );
                if let Some(import) = finn_import {
                    let _ = writeln!(
                        md,
                        "| not counted: FINN's start-up (Python, importing FINN) | - | {} | |",
                        fmt_time(import)
                    );
                }
                if let Some(Ok((fs, _))) = &theirs
                    && let Some(pre) = fs.iter().find(|s| s.name == "pre_post")
                {
                    let _ = writeln!(
                        md,
                        "| not counted: FINN's merge of the pre- and post-processing | - | {} | |",
                        fmt_time(pre.seconds)
                    );
                }
            }
            Some(Err(e)) => {
                let _ = writeln!(md, "| **total** | **{}** | - | |", fmt_time(total_ours));
                let _ = writeln!(md, "\nFINN's run failed here: {e}");
            }
            None => {
                let _ = writeln!(md, "| **total** | **{}** | - | |", fmt_time(total_ours));
                let _ = writeln!(
                    md,
                    "\nFINN was not measured: no venv at {} (see scripts/finn_reference/README.md).",
                    o.finn_python.display()
                );
            }
        }
        let [compile_s, build_s, frame_s] = *whole;
        let ratio = if total_finn > 0.0 && matches!(theirs, Some(Ok(_))) {
            format!("{:.0}x", total_finn / compile_s)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            md,
            "\nThe whole `brainsmith compile` (the flow above, then the partition, FIFOs, every \
             node generated and written, the stitched tops, the report and the picture; no \
             simulation), against FINN's total above: **{}** against {} (**{ratio}**). Its \
             simulation of 20 frames then builds in {:.1} s and runs {} per frame.",
            fmt_time(compile_s),
            fmt_time(total_finn),
            build_s,
            fmt_time(frame_s)
        );
        let _ = writeln!(
            md,
            "\nLeft in software by ours: {}.\n",
            if software.is_empty() {
                "nothing".to_owned()
            } else {
                software.join(", ")
            }
        );
    }
    ensure_file_contents(
        &root.join("BENCHMARKS-hw.md"),
        &md,
        Mode::Write,
        "cargo xtask bench-hw",
    )
}
