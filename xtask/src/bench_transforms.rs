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
    /// Which of the `onnx` package's light models to add to the whole command's table
    /// (`light_<name>.onnx`); `None`: all.
    light: Option<Vec<String>>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runs: 3,
        chains: vec![100, 1_000, 10_000, 100_000],
        oracle_chain_max: 100,
        python: std::env::var_os("BRAINSMITH_ORACLE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/oracle-venv/bin/python")),
        light: None,
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
            "--light" => {
                o.light = match value()?.as_str() {
                    "all" => None,
                    "none" => Some(Vec::new()),
                    list => Some(list.split(',').map(|s| s.trim().to_owned()).collect()),
                }
            }
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

/// The light models of the `onnx` package's backend test data (the ONNX model zoo's, every
/// float initializer replaced by a `ConstantOfShape`, so the recipe's `FoldConstants`
/// materialises the weights), as installed beside the oracle; those `o.light` names.
fn light_models(o: &Options) -> Result<Vec<PathBuf>, String> {
    if o.light.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let result = Command::new(&o.python)
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'light'))",
        ])
        .output()
        .map_err(|e| format!("cannot run the oracle's interpreter: {e}"))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&result.stdout).trim());
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("the onnx package's light models ({}): {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = file_name(p);
            name.ends_with(".onnx")
                && o.light.as_ref().is_none_or(|wanted| {
                    wanted
                        .iter()
                        .any(|w| name == format!("light_{w}.onnx") || name == *w)
                })
        })
        .collect();
    models.sort();
    Ok(models)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// What `runs` fresh `brainsmith transform` processes on one model cost.
struct Cold {
    /// The fastest transforms, as the binary reports them.
    transforms: f64,
    /// The fastest whole process with the default, synced save.
    synced: Whole,
    /// The fastest with `--no-sync`, which saves as qonnx does, without an `fsync`.
    unsynced: Whole,
    /// The most resident memory a run used at once (bytes; 0 where unknown).
    peak: u64,
    /// The output's size (bytes).
    output: u64,
    before: u64,
    after: u64,
}

/// The fastest whole process of a kind, from its start to its exit (wall time), and the
/// load, transforms and save it reported in that run.
struct Whole {
    wall: f64,
    parts: [f64; 3],
}

/// Runs our binary `runs` times on `model` with the default save and `runs` times with
/// `--no-sync`, interleaved, a fresh process each, the output removed before every run (so
/// that no run pays for freeing the last one's file).
fn ours(bin: &Path, model: &Path, out: &Path, runs: usize) -> Result<Cold, String> {
    let mut cold = Cold {
        transforms: f64::INFINITY,
        synced: Whole {
            wall: f64::INFINITY,
            parts: [f64::NAN; 3],
        },
        unsynced: Whole {
            wall: f64::INFINITY,
            parts: [f64::NAN; 3],
        },
        peak: 0,
        output: 0,
        before: 0,
        after: 0,
    };
    for i in 0..2 * runs.max(1) {
        let sync = i % 2 == 0;
        let _ = std::fs::remove_file(out);
        let mut cmd = Command::new(bin);
        cmd.args(["transform"])
            .arg(model)
            .arg("-o")
            .arg(out)
            .args(["--apply", RECIPE, "--format", "json"]);
        if !sync {
            cmd.arg("--no-sync");
        }
        let run = measured(&mut cmd, out)?;
        if !run.success {
            return Err(format!(
                "brainsmith transform {} failed: {}",
                model.display(),
                String::from_utf8_lossy(&run.stderr)
            ));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&run.stdout).map_err(|e| e.to_string())?;
        let seconds = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
        cold.transforms = cold.transforms.min(seconds("transform_seconds"));
        let whole = if sync {
            &mut cold.synced
        } else {
            &mut cold.unsynced
        };
        if run.wall < whole.wall {
            whole.wall = run.wall;
            whole.parts = [
                seconds("load_seconds"),
                seconds("transform_seconds"),
                seconds("save_seconds"),
            ];
        }
        cold.peak = cold.peak.max(run.peak);
        cold.before = json["nodes_before"].as_u64().unwrap_or(0);
        cold.after = json["nodes_after"].as_u64().unwrap_or(0);
    }
    cold.output = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(out);
    Ok(cold)
}

/// A finished process: its output, its wall time and its peak resident memory.
struct Measured {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Seconds from before the spawn to after the exit.
    wall: f64,
    /// Bytes (the kernel's `ru_maxrss`); 0 where unknown.
    peak: u64,
}

/// Runs `cmd` to its end, its standard output and error going to files beside `scratch`,
/// and nothing else running in this process meanwhile: the clock sees the spawn, the child
/// and the exit alone, not a thread or pipes to drain. On Linux the exit is collected with
/// `wait4`, which gives the child's own peak resident memory.
fn measured(cmd: &mut Command, scratch: &Path) -> Result<Measured, String> {
    use std::process::Stdio;
    let stdout_path = scratch.with_extension("stdout");
    let stderr_path = scratch.with_extension("stderr");
    let file = |path: &Path| {
        std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    cmd.stdin(Stdio::null())
        .stdout(file(&stdout_path)?)
        .stderr(file(&stderr_path)?);
    let start = std::time::Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let (success, peak) = reap(child)?;
    let wall = start.elapsed().as_secs_f64();
    let read = |path: &Path| {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let _ = std::fs::remove_file(path);
        bytes
    };
    Ok(Measured {
        success,
        stdout: read(&stdout_path)?,
        stderr: read(&stderr_path)?,
        wall,
        peak,
    })
}

/// Waits for `child`: whether it succeeded, and its peak resident memory in bytes.
#[cfg(target_os = "linux")]
fn reap(child: std::process::Child) -> Result<(bool, u64), String> {
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `wait4` writes only the two places it is given, both valid and ours. The
    // child is not waited for through `Child` afterwards (dropping it does not wait).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux counts `ru_maxrss` in KiB.
    Ok((success, u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024))
}

#[cfg(not(target_os = "linux"))]
fn reap(mut child: std::process::Child) -> Result<(bool, u64), String> {
    let status = child.wait().map_err(|e| e.to_string())?;
    Ok((status.success(), 0))
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

/// How many fresh oracle processes the whole command of a small model takes the fastest of
/// (a weight-heavy `light_*` model, where the work dwarfs the start, takes one).
const ORACLE_WHOLE_RUNS: usize = 3;

/// The oracle's side, as `oracle_recipe.py` measures it.
struct Theirs {
    /// The first application in the process.
    first: f64,
    /// The fastest application.
    best: f64,
    /// The first run's load, first application and save, timed inside its process.
    in_process: f64,
    /// The process's wall time, from the spawn to the exit: with one run, the whole
    /// command (the interpreter's start and imports, load, recipe, save, exit).
    process: f64,
    nodes: u64,
}

/// The oracle's times for the recipe on `model`: its first application and its fastest
/// of up to `max_runs` within about `budget` seconds, and its node count after.
fn oracle(
    python: &Path,
    harness: &Path,
    model: &Path,
    budget: f64,
    max_runs: usize,
    out: &Path,
) -> Result<Theirs, String> {
    let oracle_dir = workspace_root().join("../shared/oracle");
    let result = measured(
        Command::new(python)
            .arg(harness)
            .arg(oracle_dir)
            .arg(model)
            .arg(RECIPE)
            .arg(budget.to_string())
            .arg(max_runs.to_string())
            .arg(out),
        out,
    )?;
    let process = result.wall;
    if !result.success {
        let stderr = String::from_utf8_lossy(&result.stderr);
        return Err(stderr.lines().last().unwrap_or("").trim().to_owned());
    }
    let json: serde_json::Value =
        serde_json::from_slice(&result.stdout).map_err(|e| e.to_string())?;
    Ok(Theirs {
        first: json["first"].as_f64().unwrap_or(f64::NAN),
        best: json["best"].as_f64().unwrap_or(f64::NAN),
        in_process: ["load", "first", "save"]
            .iter()
            .map(|k| json[k].as_f64().unwrap_or(f64::NAN))
            .sum(),
        process,
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
    eprintln!("building the brainsmith binary as shipped (cargo xtask dist)...");
    let bin = crate::dist::build(&root, "dist")?;
    let scratch = crate::util::target_dir(&root).join("bench-transforms");
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
        let name = file_name(model);
        eprintln!("{name}...");
        let cold = ours(&bin, model, &scratch.join("ours.onnx"), o.runs)?;
        let theirs = oracle(
            &o.python,
            &harness,
            model,
            3.0,
            50,
            &scratch.join("qonnx.onnx"),
        );
        // Its whole command: a process that applies the recipe once; the fastest of
        // `ORACLE_WHOLE_RUNS` such processes, so that one slow start (a second and more of
        // imports, sensitive to the machine's state) does not decide the ratio.
        let theirs = theirs.and_then(|mut t| {
            let mut fastest: Option<Theirs> = None;
            for _ in 0..ORACLE_WHOLE_RUNS {
                let once = oracle(
                    &o.python,
                    &harness,
                    model,
                    0.0,
                    1,
                    &scratch.join("qonnx.onnx"),
                )?;
                if fastest.as_ref().is_none_or(|f| once.process < f.process) {
                    fastest = Some(once);
                }
            }
            if let Some(once) = fastest {
                t.in_process = once.in_process;
                t.process = once.process;
            }
            Ok(t)
        });
        rows.push((name, cold, warm, theirs));
    }
    // The weight-heavy models the `onnx` package ships, for the whole command only: the
    // oracle applies the recipe once (VGG-19 takes it half a minute).
    let mut light = Vec::new();
    for model in light_models(&o)? {
        let name = file_name(&model);
        if rows.iter().any(|r| r.0 == name) {
            continue;
        }
        eprintln!("{name}...");
        let cold = ours(&bin, &model, &scratch.join("ours.onnx"), o.runs)?;
        let theirs = oracle(
            &o.python,
            &harness,
            &model,
            0.0,
            1,
            &scratch.join("qonnx.onnx"),
        );
        light.push((name, cold, theirs));
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
        let cold = ours(&bin, path, &scratch.join("ours.onnx"), o.runs)?;
        let instructions = transform_instructions(&bin, path, &scratch.join("ours.onnx"))?;
        let theirs = (n <= o.oracle_chain_max).then(|| {
            oracle(
                &o.python,
                &harness,
                path,
                3.0,
                50,
                &scratch.join("qonnx.onnx"),
            )
        });
        chains.push((
            n,
            cold.before,
            cold.after,
            cold.transforms,
            warm,
            instructions,
            theirs,
        ));
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
        "In the tables of the transforms, loading and saving the model are excluded on both sides (the whole \
         command's table has them); qonnx's time includes the copy of the model \
         it makes for every transform and the cleanup it runs after each, as it applies them.\n\n- **Cold**: \
         ours is `brainsmith transform MODEL -o OUT --apply <recipe> --format json` (the binary \
         as `cargo xtask dist` builds it, with its allocator: a start arena, then mimalloc), a fresh process per run, the time of the transforms as it reports them (each \
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
    for (name, cold, warm, theirs) in &rows {
        let (before, after, t) = (cold.before, cold.after, &cold.transforms);
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
    whole_command(&mut s, &rows, &light, o.runs);
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
        "\n## Reproduce\n\n```sh\napt-get install valgrind   # instruction counts\npython3 -m venv /tmp/oracle-venv && /tmp/oracle-venv/bin/pip install -r ../shared/oracle/requirements.txt\ncargo xtask bench-transforms --runs {} --chains {} --light {}\n```",
        o.runs,
        o.chains
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        o.light
            .as_ref()
            .map_or("all".to_owned(), |l| if l.is_empty() {
                "none".to_owned()
            } else {
                l.join(",")
            })
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

/// One row of the whole command's table: a model, our runs, the oracle's.
type WholeRow<'a> = (&'a str, &'a Cold, &'a Result<Theirs, String>);

/// The section on the whole command: load, transforms and save, ours against qonnx's.
fn whole_command(
    s: &mut String,
    rows: &[(String, Cold, f64, Result<Theirs, String>)],
    light: &[(String, Cold, Result<Theirs, String>)],
    runs: usize,
) {
    let _ = writeln!(s, "## The whole command\n");
    let _ = writeln!(
        s,
        "What a user waits for, both sides saving the same way: atomically, without an `fsync`. Ours: the \
         binary as `cargo xtask dist` builds it (on Linux, static and position-dependent), \
         `brainsmith transform MODEL -o OUT --apply <recipe> --no-sync`, a fresh process whose standard output \
         and error go to files, its wall time from the spawn to the exit (start, load, transforms, the atomic \
         save, exit), best of {runs} runs, with the \
         load, transforms and save it reported in that run; its peak is the process's peak resident memory \
         (`ru_maxrss`, the most of the runs). Beside it, the same command with the default save, which \
         `fsync`s the output before its rename so that it survives a power loss (best of {runs} runs, \
         interleaved with the others). qonnx's, measured the same way: a fresh process \
         (`xtask/src/oracle_recipe.py`, what a qonnx user's script or `qonnx-cleanup` does) that starts the \
         interpreter and imports qonnx, loads the model (`ModelWrapper`), applies the recipe once and saves \
         the result (`model.save`, which does not `fsync`), its wall time from the spawn to the exit, the \
         fastest of {ORACLE_WHOLE_RUNS} runs (one for the `light_*` models, whose work dwarfs the start); \
         beside it, the load, recipe and save alone as timed inside that run. The output is removed \
         before every run on both sides. The `light_*` models are the ONNX model zoo's as the `onnx` package \
         ships them (`onnx/backend/test/data/light`): every float initializer replaced by a \
         `ConstantOfShape`, so `FoldConstants` materialises the weights and the output is the full-size \
         model.\n"
    );
    let _ = writeln!(
        s,
        "| model | output | ours, whole | load | transforms | save | peak memory | peak / output | ours, synced | qonnx, whole | qonnx, in process | ratio | ratio, synced |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let all: Vec<WholeRow> = rows
        .iter()
        .map(|(name, cold, _, theirs)| (name.as_str(), cold, theirs))
        .chain(
            light
                .iter()
                .map(|(name, cold, theirs)| (name.as_str(), cold, theirs)),
        )
        .collect();
    let mut ratios = Vec::new();
    let mut synced_ratios = Vec::new();
    for (name, cold, theirs) in &all {
        let [load, transforms, save] = cold.unsynced.parts;
        let (qonnx, inside, ratio, synced) = match theirs {
            Ok(q) => {
                ratios.push((q.process / cold.unsynced.wall, *name));
                synced_ratios.push((q.process / cold.synced.wall, *name));
                (
                    fmt_time(q.process),
                    fmt_time(q.in_process),
                    format!("{:.0}x", q.process / cold.unsynced.wall),
                    format!("{:.0}x", q.process / cold.synced.wall),
                )
            }
            Err(why) => (
                format!(
                    "fails: {}",
                    why.chars().take(60).collect::<String>().replace('|', "/")
                ),
                "–".to_owned(),
                "–".to_owned(),
                "–".to_owned(),
            ),
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {qonnx} | {inside} | {ratio} | {synced} |",
            fmt_bytes(cold.output),
            fmt_time(cold.unsynced.wall),
            fmt_time(load),
            fmt_time(transforms),
            fmt_time(save),
            fmt_bytes(cold.peak),
            cold.peak as f64 / cold.output.max(1) as f64,
            fmt_time(cold.synced.wall),
        );
    }
    let _ = writeln!(s);
    for (what, ratios) in [
        ("Median ratio of the whole command", &mut ratios),
        (
            "With our default, synced save: median ratio",
            &mut synced_ratios,
        ),
    ] {
        ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some(low), Some(high)) = (ratios.first(), ratios.last()) {
            let n = ratios.len();
            let median = if n % 2 == 1 {
                ratios[n / 2].0
            } else {
                (ratios[n / 2 - 1].0 + ratios[n / 2].0) / 2.0
            };
            let _ = writeln!(
                s,
                "**{what}: {median:.0}x** over the {n} models qonnx runs (lowest {:.0}x, {}; \
                 highest {:.0}x, {}).\n",
                low.0, low.1, high.0, high.1
            );
        }
    }
}

/// A size in bytes, KiB or MiB.
fn fmt_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1 << 10) as f64),
        n => format!("{n} B"),
    }
}
