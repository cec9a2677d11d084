//! `cargo xtask bench-transforms`: the cleanup recipe, ours against the qonnx oracle, on
//! every real model and on synthetic chains, written to `BENCHMARKS-transforms.md`.
//!
//! Each side is measured twice. Cold: ours through the release `brainsmith transform
//! --format json` binary, a fresh process per run, timed by its own report (transforms
//! only, best of `--runs`); the oracle's first application in its process. Warm: the
//! recipe applied again and again in one process, on fresh copies of the model, the
//! fastest application counting: ours through the `recipe` bench target
//! (`crates/brainsmith-plugins/benches/recipe.rs`), the oracle's through `oracle_recipe.py`
//! (the transforms as `../shared/oracle/run_qonnx.py` applies them, each with qonnx's own
//! cleanup). Both in the same run, on this machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, Tensor, ValueInfo};

use crate::util::{Mode, ensure_file_contents, generated_header, workspace_root};

const RECIPE: &str = "InferShapes,FoldConstants,RemoveIdentityOps,GiveUniqueNodeNames,GiveReadableTensorNames,SortGraph";

struct Options {
    runs: usize,
    chains: Vec<usize>,
    oracle_chain_max: usize,
    python: PathBuf,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runs: 3,
        chains: vec![100, 1_000, 10_000, 100_000],
        oracle_chain_max: 100,
        python: std::env::var_os("BRAINSMITH_ORACLE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/oracle-venv/bin/python")),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--chains" => {
                o.chains = value()?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("--chains: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--oracle-chain-max" => {
                o.oracle_chain_max = value()?
                    .parse()
                    .map_err(|e| format!("--oracle-chain-max: {e}"))?
            }
            "--python" => o.python = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other}; see `cargo xtask`")),
        }
    }
    if !o.python.is_file() {
        return Err(format!(
            "no oracle interpreter at {} (create the venv as ../shared/oracle/README.md says, or pass --python)",
            o.python.display()
        ));
    }
    Ok(o)
}

/// A chain of `n` nodes shaped like what the recipe works on: every fourth node multiplies
/// by one (an identity), every fourth adds the output of a `Constant` → `Neg` pair (two
/// nodes to fold), the rest are `Relu`s. Unnamed, so the naming transforms have work.
pub(crate) fn chain(n: usize) -> Model {
    let mut m = Model::default();
    m.ir_version = 8;
    m.set_opset_version("", 17);
    m.graph.name = format!("chain{n}");
    m.graph
        .inputs
        .push(ValueInfo::tensor("x", ElemType::Float, &[1, 64]));
    m.graph
        .initializers
        .push(Tensor::from_f32("one", &[], &[1.0]));
    let mut prev = "x".to_owned();
    let mut i = 0;
    while m.graph.nodes.len() < n {
        let out = format!("t{i}");
        match i % 4 {
            0 => m
                .graph
                .nodes
                .push(Node::new("Mul", [prev.as_str(), "one"], [out.as_str()])),
            1 if m.graph.nodes.len() + 3 <= n => {
                let (c, neg) = (format!("c{i}"), format!("n{i}"));
                m.graph.nodes.push(
                    Node::new("Constant", [] as [&str; 0], [c.as_str()]).with_attribute(
                        "value",
                        AttributeValue::Tensor(Tensor::from_f32("", &[64], &[0.5; 64])),
                    ),
                );
                m.graph
                    .nodes
                    .push(Node::new("Neg", [c.as_str()], [neg.as_str()]));
                m.graph.nodes.push(Node::new(
                    "Add",
                    [prev.as_str(), neg.as_str()],
                    [out.as_str()],
                ));
            }
            _ => m
                .graph
                .nodes
                .push(Node::new("Relu", [prev.as_str()], [out.as_str()])),
        }
        prev = out;
        i += 1;
    }
    m.graph
        .outputs
        .push(ValueInfo::tensor(prev, ElemType::Float, &[1, 64]));
    m
}

/// Seconds our binary spends in the transforms (best of `runs`), and the node counts.
fn ours(bin: &Path, model: &Path, out: &Path, runs: usize) -> Result<(f64, u64, u64), String> {
    let mut best = f64::INFINITY;
    let mut nodes = (0, 0);
    for _ in 0..runs.max(1) {
        let result = Command::new(bin)
            .args(["transform"])
            .arg(model)
            .arg("-o")
            .arg(out)
            .args(["--apply", RECIPE, "--format", "json"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        if !result.status.success() {
            return Err(format!(
                "brainsmith transform {} failed: {}",
                model.display(),
                String::from_utf8_lossy(&result.stderr)
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&result.stdout).map_err(|e| e.to_string())?;
        best = best.min(json["transform_seconds"].as_f64().unwrap_or(f64::NAN));
        nodes = (
            json["nodes_before"].as_u64().unwrap_or(0),
            json["nodes_after"].as_u64().unwrap_or(0),
        );
    }
    Ok((best, nodes.0, nodes.1))
}

/// Instructions executed inside the transforms' `apply` (valgrind callgrind, which
/// collects only while one runs): a count that does not depend on caches or on other
/// processes, so it shows how the work itself grows with the graph.
fn transform_instructions(bin: &Path, model: &Path, out: &Path) -> Result<u64, String> {
    let mut cmd = crate::bench::callgrind(&[
        "--toggle-collect=*as brainsmith_core::plugin::Transform>::apply",
    ]);
    cmd.arg(bin)
        .arg("transform")
        .arg(model)
        .arg("-o")
        .arg(out)
        .args(["--apply", RECIPE]);
    crate::bench::collected(&mut cmd)
}

/// The oracle's side, as `oracle_recipe.py` measures it.
struct Theirs {
    /// The first application in the process.
    first: f64,
    /// The fastest application.
    best: f64,
    nodes: u64,
}

/// The oracle's times for the recipe on `model`: its first application and its fastest
/// of up to `max_runs` within about `budget` seconds, and its node count after.
fn oracle(python: &Path, harness: &Path, model: &Path, budget: f64) -> Result<Theirs, String> {
    let oracle_dir = workspace_root().join("../shared/oracle");
    let result = Command::new(python)
        .arg(harness)
        .arg(oracle_dir)
        .arg(model)
        .arg(RECIPE)
        .arg(budget.to_string())
        .arg("50")
        .output()
        .map_err(|e| format!("cannot run the oracle: {e}"))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        return Err(stderr.lines().last().unwrap_or("").trim().to_owned());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&result.stdout).map_err(|e| e.to_string())?;
    Ok(Theirs {
        first: json["first"].as_f64().unwrap_or(f64::NAN),
        best: json["best"].as_f64().unwrap_or(f64::NAN),
        nodes: json["nodes"].as_u64().unwrap_or(0),
    })
}

/// Our warm times (the fastest application of the recipe in one process) for each model,
/// from the `recipe` bench target.
fn ours_warm(root: &Path, models: &[PathBuf]) -> Result<Vec<f64>, String> {
    let result = Command::new(env!("CARGO"))
        .args([
            "bench",
            "--quiet",
            "-p",
            "brainsmith-plugins",
            "--bench",
            "recipe",
            "--",
            "--transforms",
            RECIPE,
        ])
        .args(models)
        .current_dir(root)
        .output()
        .map_err(|e| e.to_string())?;
    if !result.status.success() {
        return Err(format!(
            "the recipe bench failed: {}",
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    String::from_utf8_lossy(&result.stdout)
        .lines()
        .map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            json["best"]
                .as_f64()
                .ok_or_else(|| format!("no time in {line}"))
        })
        .collect()
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.3} ms", s * 1e3)
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = options(args)?;
    let root = workspace_root();
    let script = root.join("../shared/oracle/run_qonnx.py");
    if !script.is_file() {
        return Err(format!("{} does not exist", script.display()));
    }
    eprintln!("building the release brainsmith binary...");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "brainsmith-plugins",
            "--bin",
            "brainsmith",
        ])
        .current_dir(&root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    let bin = root.join("target/release/brainsmith");
    let scratch = root.join("target/bench-transforms");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;

    let mut models: Vec<PathBuf> = std::fs::read_dir(root.join("testdata/models"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    models.sort();
    let harness = scratch.join("oracle_recipe.py");
    std::fs::write(&harness, include_str!("oracle_recipe.py")).map_err(|e| e.to_string())?;
    eprintln!("our warm times...");
    let warm = ours_warm(&root, &models)?;
    let mut rows = Vec::new();
    for (model, warm) in models.iter().zip(warm) {
        let name = model
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        eprintln!("{name}...");
        let (t_ours, before, after) = ours(&bin, model, &scratch.join("ours.onnx"), o.runs)?;
        let theirs = oracle(&o.python, &harness, model, 3.0);
        rows.push((name, before, after, t_ours, warm, theirs));
    }
    let mut chains = Vec::new();
    let chain_paths: Vec<PathBuf> = o
        .chains
        .iter()
        .map(|n| scratch.join(format!("chain-{n}.onnx")))
        .collect();
    for (&n, path) in o.chains.iter().zip(&chain_paths) {
        chain(n).save(path).map_err(|e| e.to_string())?;
    }
    eprintln!("our warm times on the chains...");
    let chain_warm = ours_warm(&root, &chain_paths)?;
    for ((&n, path), warm) in o.chains.iter().zip(&chain_paths).zip(chain_warm) {
        eprintln!("chain of {n} nodes...");
        let (t_ours, before, after) = ours(&bin, path, &scratch.join("ours.onnx"), o.runs)?;
        let instructions = transform_instructions(&bin, path, &scratch.join("ours.onnx"))?;
        let theirs = (n <= o.oracle_chain_max).then(|| oracle(&o.python, &harness, path, 3.0));
        chains.push((n, before, after, t_ours, warm, instructions, theirs));
    }

    let mut s = generated_header("<!--", "cargo xtask bench-transforms");
    s.pop();
    s.push_str(" -->\n# Transform benchmarks\n\n");
    let _ = writeln!(
        s,
        "The cleanup recipe (`{}`), ours and the qonnx 1.0.0 oracle's, measured in one run on one machine: {}.\n",
        RECIPE.replace(',', ", "),
        crate::bench::machine()
    );
    let _ = writeln!(
        s,
        "Loading and saving the model are excluded on both sides; qonnx's time includes the copy of the model \
         it makes for every transform and the cleanup it runs after each, as it applies them.\n\n- **Cold**: \
         ours is `brainsmith transform MODEL -o OUT --apply <recipe> --format json` (release, with its \
         mimalloc allocator), a fresh process per run, the time of the transforms as it reports them (each \
         application including the copy of the model that makes it transactional), best of {} runs; qonnx's \
         is its first application in its process, as `run_qonnx.py` times it. This is what one command \
         costs.\n- **Warm**: the recipe applied again and again in one process to fresh copies of the model, \
         the fastest application counting (up to 200 runs or 2 s for ours, \
         `crates/brainsmith-plugins/benches/recipe.rs`, with the binary's allocator; up to 50 runs or 3 s for \
         qonnx, `xtask/src/oracle_recipe.py`). This is the transforms' own work, without the costs of a cold \
         process (page faults, first allocations).\n",
        o.runs
    );
    let _ = writeln!(s, "## Real models\n");
    let _ = writeln!(
        s,
        "| model | nodes | after (ours) | after (qonnx) | ours, cold | qonnx, cold | ratio | ours, warm | qonnx, warm | ratio |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, before, after, t, warm, theirs) in &rows {
        match theirs {
            Ok(q) => {
                let _ = writeln!(
                    s,
                    "| {name} | {before} | {after} | {} | {} | {} | {:.0}x | {} | {} | {:.0}x |",
                    q.nodes,
                    fmt_time(*t),
                    fmt_time(q.first),
                    q.first / t,
                    fmt_time(*warm),
                    fmt_time(q.best),
                    q.best / warm
                );
            }
            Err(why) => {
                let why: String = why.chars().take(80).collect();
                let _ = writeln!(
                    s,
                    "| {name} | {before} | {after} | – | {} | fails: {} | – | {} | – | – |",
                    fmt_time(*t),
                    why.replace('|', "/"),
                    fmt_time(*warm)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nNode counts after the recipe differ where the tests document it (`tests/tests/oracle_cleanup.rs`).\n"
    );
    let _ = writeln!(s, "## Synthetic chains: time against node count\n");
    let _ = writeln!(
        s,
        "`cargo xtask bench-transforms` writes chains of N nodes (`xtask/src/bench_transforms.rs::chain`): every fourth \
         node multiplies by one, every fourth adds a `Constant` → `Neg` pair to fold, the rest are `Relu`s. \
         Instructions are those executed inside the transforms (valgrind callgrind, collecting only within \
         `Transform::apply`): they do not depend on caches, so they show how the work grows; time per node also \
         grows as the working set outgrows the caches.\n"
    );
    let _ = writeln!(
        s,
        "| nodes | after | ours, cold | per node | ours, warm | per node | instructions per node | qonnx, cold | ratio | qonnx, warm | ratio |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (n, _, after, t, warm, instructions, theirs) in &chains {
        let oracle = match theirs {
            Some(Ok(q)) => format!(
                "{} | {:.0}x | {} | {:.0}x",
                fmt_time(q.first),
                q.first / t,
                fmt_time(q.best),
                q.best / warm
            ),
            Some(Err(why)) => format!(
                "fails: {} | – | – | –",
                why.chars().take(60).collect::<String>()
            ),
            None => "not run | – | – | –".into(),
        };
        let _ = writeln!(
            s,
            "| {n} | {after} | {} | {:.2} µs | {} | {:.2} µs | {} | {oracle} |",
            fmt_time(*t),
            t / *n as f64 * 1e6,
            fmt_time(*warm),
            warm / *n as f64 * 1e6,
            instructions / *n as u64
        );
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n```sh\napt-get install valgrind   # instruction counts\npython3 -m venv /tmp/oracle-venv && /tmp/oracle-venv/bin/pip install -r ../shared/oracle/requirements.txt\ncargo xtask bench-transforms --runs {} --chains {}\n```",
        o.runs,
        o.chains
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    ensure_file_contents(
        &root.join("BENCHMARKS-transforms.md"),
        &s,
        Mode::Write,
        "cargo xtask bench-transforms",
    )?;
    eprintln!("wrote BENCHMARKS-transforms.md");
    Ok(())
}
