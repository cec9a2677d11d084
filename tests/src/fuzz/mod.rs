//! A deterministic mutation fuzzer on stable Rust (`cargo xtask fuzz`, the `fuzz` binary
//! of this crate): no libFuzzer, no instrumentation, no dependency but the crates under
//! test.
//!
//! Each target ([`targets::TARGETS`]) starts from seeds in the repository (the test
//! models, the blueprints, `--apply` lists, the plugin manifests) and runs mutants of them
//! ([`mutate`]) drawn from one [`rng::Rng`] per target, seeded from `--seed` and the
//! target's name: a seed and an iteration count name every input. A mutant the target
//! accepts (it parsed) joins the corpus, so later mutants reach past the parser.
//!
//! A crash is a panic, caught with `catch_unwind` (a hook records its message and
//! location instead of printing it), or the death of the process (an abort, a stack
//! overflow, an allocation failure): the fuzzer runs as a child of itself, and writes
//! each input to `current` before running it, so the parent saves that file when the
//! child dies. Either way the input goes to `crashes/<target>-<hash>.bin` beside a
//! `.txt` with the message, and the command that reproduces it is printed; the run
//! exits 1.
//!
//! Usage: `fuzz [--target T]... [--seconds N | --iterations K] [--seed S] [--out DIR]`,
//! or `fuzz --target T --reproduce FILE`.

pub mod mutate;
pub mod rng;
pub mod targets;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rng::{Rng, fnv1a};
use targets::{Context, TARGETS, Target};

/// Set in the child that runs the targets; the parent only watches it.
const WORKER: &str = "BRAINSMITH_FUZZ_WORKER";

/// The most inputs a target's corpus holds, seeds included.
const CORPUS_CAP: usize = 256;

/// The last panic's message and location, recorded by the hook.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Takes the message the panic hook recorded last.
pub fn take_panic() -> Option<String> {
    PANIC.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The text of a panic payload.
pub fn payload_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic with a payload that is not text".to_owned())
}

/// The command line.
struct Options {
    targets: Vec<&'static Target>,
    seconds: Option<f64>,
    iterations: Option<u64>,
    seed: u64,
    out: PathBuf,
    reproduce: Option<PathBuf>,
}

const USAGE: &str =
    "usage: fuzz [--target T]... [--seconds N | --iterations K] [--seed S] [--out DIR]
       fuzz --target T --reproduce FILE
targets: onnx, blueprint, apply, manifest, transforms (all by default)";

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        targets: Vec::new(),
        seconds: None,
        iterations: None,
        seed: 1,
        out: root().join("target/fuzz"),
        reproduce: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--target" => {
                let name = value()?;
                let target = TARGETS
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| format!("no target `{name}`"))?;
                o.targets.push(target);
            }
            "--seconds" => o.seconds = Some(number(&value()?)?),
            "--iterations" => o.iterations = Some(number(&value()?)?),
            "--seed" => o.seed = number(&value()?)?,
            "--out" => o.out = PathBuf::from(value()?),
            "--reproduce" => o.reproduce = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().collect();
    }
    if o.reproduce.is_some() && o.targets.len() != 1 {
        return Err("--reproduce needs exactly one --target".into());
    }
    if o.seconds.is_none() && o.iterations.is_none() {
        o.seconds = Some(60.0);
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_owned()
}

/// The `fuzz` binary: parses the arguments, then watches a child (or, in the child or
/// when reproducing, runs the targets).
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if let Some(file) = &o.reproduce {
        reproduce(o.targets[0], file)
    } else if std::env::var_os(WORKER).is_some() {
        work(&o)
    } else {
        watch(&o, &args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The parent: runs this binary again as the worker and saves the input it was running
/// when it died.
fn watch(o: &Options, args: &[String]) -> Result<(), String> {
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new(exe)
        .args(args)
        .env(WORKER, "1")
        .status()
        .map_err(|e| format!("cannot start the fuzz worker: {e}"))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => Err("the fuzzer found crashes (listed above)".into()),
        Some(2) => Err("bad usage".into()),
        _ => {
            let input = std::fs::read(o.out.join("current")).unwrap_or_default();
            let target = std::fs::read_to_string(o.out.join("current.target"))
                .unwrap_or_else(|_| "unknown".into());
            let path = save_crash(
                &o.out,
                target.trim(),
                &input,
                &format!("the fuzz worker died ({status}) running this input"),
            )?;
            Err(format!(
                "the fuzz worker died ({status}); its input is {}",
                path.display()
            ))
        }
    }
}

/// The worker: runs every chosen target for its share of the time or its iterations.
fn work(o: &Options) -> Result<(), String> {
    let root = root();
    let ctx = Context::new(&root)?;
    std::panic::set_hook(Box::new(|info| {
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.to_string());
    }));
    let share = o
        .seconds
        .map(|s| Duration::from_secs_f64(s / o.targets.len() as f64));
    let mut crashes = 0;
    for target in &o.targets {
        if !run_target(o, &ctx, &root, target, share)? {
            crashes += 1;
        }
    }
    if crashes > 0 {
        return Err(format!("{crashes} target(s) crashed"));
    }
    Ok(())
}

/// Fuzzes one target; false when it crashed (the input saved and reported).
fn run_target(
    o: &Options,
    ctx: &Context,
    root: &Path,
    target: &Target,
    share: Option<Duration>,
) -> Result<bool, String> {
    let mut corpus = (target.seeds)(root);
    let seeds = corpus.len();
    if seeds == 0 {
        return Err(format!("target {}: no seeds found", target.name));
    }
    let current = o.out.join("current");
    let staged = o.out.join("current.next");
    std::fs::write(o.out.join("current.target"), target.name)
        .map_err(|e| format!("{}: {e}", o.out.display()))?;
    let mut rng = Rng::new(o.seed ^ fnv1a(target.name.as_bytes()));
    let start = Instant::now();
    let mut iteration = 0u64;
    loop {
        if o.iterations.is_some_and(|k| iteration >= k)
            || share.is_some_and(|s| start.elapsed() >= s)
        {
            break;
        }
        let mut input = corpus[rng.below(corpus.len())].clone();
        let other = &corpus[rng.below(corpus.len())];
        (target.mutate)(&mut rng, &mut input, other);
        // Written beside and renamed, so that `current` always holds a whole input.
        std::fs::write(&staged, &input)
            .and_then(|()| std::fs::rename(&staged, &current))
            .map_err(|e| format!("{}: {e}", current.display()))?;
        iteration += 1;
        match catch_unwind(AssertUnwindSafe(|| (target.run)(ctx, &input))) {
            Ok(true) if corpus.len() < CORPUS_CAP => corpus.push(input),
            Ok(true) if corpus.len() > seeds => {
                let at = seeds + rng.below(corpus.len() - seeds);
                corpus[at] = input;
            }
            Ok(_) => {}
            Err(payload) => {
                let message = take_panic().unwrap_or_else(|| payload_message(payload.as_ref()));
                let path = save_crash(
                    &o.out,
                    target.name,
                    &input,
                    &format!(
                        "{message}\n(seed {}, iteration {iteration} of target {})",
                        o.seed, target.name
                    ),
                )?;
                eprintln!(
                    "fuzz {}: CRASH at iteration {iteration}: {message}\n  input: {}",
                    target.name,
                    path.display()
                );
                return Ok(false);
            }
        }
    }
    println!(
        "fuzz {:<10} {iteration:>8} iterations in {:>6.1} s, corpus {:>3} ({seeds} seeds); \
         again: cargo xtask fuzz --target {} --seed {} --iterations {iteration}",
        target.name,
        start.elapsed().as_secs_f64(),
        corpus.len(),
        target.name,
        o.seed,
    );
    Ok(true)
}

/// Writes a crashing input and its message under `out/crashes`; prints how to reproduce.
fn save_crash(out: &Path, target: &str, input: &[u8], message: &str) -> Result<PathBuf, String> {
    let dir = out.join("crashes");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{target}-{:016x}.bin", fnv1a(input)));
    std::fs::write(&path, input).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(path.with_extension("txt"), format!("{message}\n"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "reproduce: cargo xtask fuzz --target {target} --reproduce {}",
        path.display()
    );
    Ok(path)
}

/// Runs one saved input, panics and all, with the default panic message.
fn reproduce(target: &Target, file: &Path) -> Result<(), String> {
    let input = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let ctx = Context::new(&root())?;
    let accepted = (target.run)(&ctx, &input);
    println!(
        "{}: no crash ({})",
        file.display(),
        if accepted { "accepted" } else { "refused" }
    );
    Ok(())
}
