//! `cargo xtask bench`: the registry at scale, measured side by side in one run and
//! written to `BENCHMARKS.md`.
//!
//! For each N (default 0, 100, 1000, 10000) it generates the three twin crates of
//! `bench-gen` and the Python package, builds them in release, and measures:
//! instructions executed up to `main` (callgrind: stable counts, unlike time), registry
//! first access and lookups (in-process, next to a `HashMap` baseline), `plugins` and
//! `plugins --format json` wall time next to a hello-world binary, clean release compile
//! time of the plugin crate, stripped binary size, and the Python import-to-discover
//! registry timed by the same harness. The micro-benchmarks of the built-in registry
//! and of model I/O are criterion's: `cargo bench -p brainsmith-plugins`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench_gen::{self, Variant};
use crate::util::workspace_root;

struct Options {
    sizes: Vec<usize>,
    runs: usize,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sizes: vec![0, 100, 1000, 10_000],
        runs: 100,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => {
                let list = it
                    .next()
                    .ok_or("--sizes takes a comma-separated list, e.g. 0,100")?;
                options.sizes = list
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .map_err(|_| format!("--sizes: '{s}' is not a count"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--runs" => {
                options.runs = it
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|r| *r > 0)
                    .ok_or("--runs takes a positive count")?;
            }
            other => {
                return Err(format!(
                    "unknown option '{other}'; options: --sizes 0,100,... --runs R"
                ));
            }
        }
    }
    Ok(options)
}

/// Everything measured for one N.
#[derive(Default)]
struct Row {
    n: usize,
    premain: [u64; 3],
    /// The `--bench-registry` output of every measuring process.
    registry: Vec<String>,
    wall: [Duration; 3],
    compile: [Duration; 3],
    size: [u64; 3],
    python: Duration,
}

/// How many processes measure the registry; each figure reported is the median over
/// them (a single process's lookups vary with where its tables land in the cache).
const REGISTRY_PROCESSES: usize = 11;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = options(args)?;
    let root = bench_gen::generate(&options.sizes)?;
    eprintln!("building every generated crate once (dependencies included)...");
    cargo(&root, &["build", "--release", "--workspace", "--quiet"])?;
    let release = root.join("target/release");
    let hello = release.join("hello");
    let hello_size = stripped_size(&hello)?;
    let mut rows = Vec::new();
    for &n in &options.sizes {
        eprintln!("N = {n}");
        let mut row = Row {
            n,
            ..Row::default()
        };
        for (v, variant) in Variant::ALL.iter().enumerate() {
            let bin = release.join(variant.package(n));
            check_count(&bin, *variant, n)?;
            row.premain[v] = premain_instructions(&bin)?;
            row.size[v] = stripped_size(&bin)?;
        }
        // Compile times are the best of two rounds, the variants interleaved in each, so
        // that a slow moment of the machine does not land on one variant only.
        row.compile = [Duration::MAX; 3];
        for _ in 0..2 {
            for (v, variant) in Variant::ALL.iter().enumerate() {
                let package = variant.package(n);
                cargo(&root, &["clean", "--release", "--quiet", "-p", &package])?;
                let start = Instant::now();
                cargo(&root, &["build", "--release", "--quiet", "-p", &package])?;
                row.compile[v] = row.compile[v].min(start.elapsed());
            }
        }
        let ours = release.join(Variant::Ours.package(n));
        // First access happens once per process: the median of several processes.
        row.registry = (0..REGISTRY_PROCESSES)
            .map(|_| Ok(output(&ours, &["--bench-registry"])?.trim().to_owned()))
            .collect::<Result<Vec<String>, String>>()?;
        let cases: [(&Path, &[&str]); 3] = [
            (&hello, &[]),
            (&ours, &["plugins"]),
            (&ours, &["plugins", "--format", "json"]),
        ];
        let wall = interleaved(&cases, options.runs)?;
        row.wall = [wall[0], wall[1], wall[2]];
        let py_dir = root.join("py");
        let module = format!("benchpkg_{n}");
        let python_bin = python_executable()?;
        let python: [(&Path, &[&str]); 1] = [(&python_bin, &["discover.py", &module])];
        run_in(&py_dir, &python_bin, &["discover.py", &module])?; // warm the .pyc cache
        row.python = interleaved_in(&py_dir, &python, (options.runs / 10).max(5))?[0];
        rows.push(row);
    }
    let non_pie = non_pie_premain(&root, &options.sizes)?;
    let report = report(&rows, &non_pie, hello_size, &options)?;
    let path = workspace_root().join("BENCHMARKS.md");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    print!("{report}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Pre-main instructions of `ours` at the smallest and largest N, built as
/// position-dependent executables (`-C relocation-model=static`): with no dynamic
/// relocations to apply, what the records cost before `main` is what remains.
fn non_pie_premain(root: &Path, sizes: &[usize]) -> Result<Vec<(usize, u64)>, String> {
    let (Some(&min), Some(&max)) = (sizes.iter().min(), sizes.iter().max()) else {
        return Ok(Vec::new());
    };
    eprintln!("building ours-{min} and ours-{max} as non-PIE executables...");
    let target = "x86_64-unknown-linux-gnu";
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "build",
        "--release",
        "--quiet",
        "--target",
        target,
        "--target-dir",
        "target-static",
    ];
    let packages = [Variant::Ours.package(min), Variant::Ours.package(max)];
    for package in &packages {
        args.extend(["-p", package.as_str()]);
    }
    let status = Command::new(cargo_bin)
        .args(&args)
        .current_dir(root)
        .env("RUSTFLAGS", "-C relocation-model=static")
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("the non-PIE build failed".into());
    }
    let dir = root.join("target-static").join(target).join("release");
    let mut out = Vec::new();
    for (n, package) in [min, max].into_iter().zip(&packages) {
        out.push((n, premain_instructions(&dir.join(package))?));
    }
    Ok(out)
}

fn cargo(dir: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo {} failed in {}",
            args.join(" "),
            dir.display()
        ))
    }
}

fn run_in(dir: &Path, bin: &Path, args: &[&str]) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("{} {} failed", bin.display(), args.join(" ")));
    }
    Ok(elapsed)
}

/// The interpreter itself, not a version manager's shim script in front of it.
fn python_executable() -> Result<PathBuf, String> {
    let out = output(
        Path::new("python3"),
        &["-c", "import sys; print(sys.executable)"],
    )?;
    Ok(PathBuf::from(out.trim()))
}

fn output(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            bin.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// The binary really registers N plugins: the comparison is between equals.
fn check_count(bin: &Path, variant: Variant, n: usize) -> Result<(), String> {
    let count = match variant {
        Variant::Inventory => output(bin, &[])?
            .trim()
            .parse::<usize>()
            .map_err(|e| e.to_string())?,
        _ => output(bin, &["plugins", "--format", "json"])?
            .matches("\"qualified_name\"")
            .count(),
    };
    if count != n {
        return Err(format!(
            "{} registers {count} plugins, expected {n}",
            bin.display()
        ));
    }
    Ok(())
}

fn interleaved(cases: &[(&Path, &[&str])], runs: usize) -> Result<Vec<Duration>, String> {
    interleaved_in(Path::new("."), cases, runs)
}

/// Median wall time of each case, the cases run in turn `runs` times after 5 warm-ups.
fn interleaved_in(
    dir: &Path,
    cases: &[(&Path, &[&str])],
    runs: usize,
) -> Result<Vec<Duration>, String> {
    let mut samples = vec![Vec::with_capacity(runs); cases.len()];
    for round in 0..runs + 5 {
        for (i, (bin, args)) in cases.iter().enumerate() {
            let t = run_in(dir, bin, args)?;
            if round >= 5 {
                samples[i].push(t);
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|mut s| {
            s.sort_unstable();
            s[s.len() / 2]
        })
        .collect())
}

/// Instructions executed by a run that returns from `main` at once: what runs before
/// `main`, plus a constant for process exit.
fn premain_instructions(bin: &Path) -> Result<u64, String> {
    let mut cmd = callgrind(&[]);
    cmd.arg(bin).env("BENCH_EXIT_AT_MAIN", "1");
    collected(&mut cmd)
}

/// `valgrind --tool=callgrind` with `options`, writing no profile; add the program.
pub(crate) fn callgrind(options: &[&str]) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .args(options);
    cmd
}

/// Runs a [`callgrind`] command; the instructions it collected.
pub(crate) fn collected(cmd: &mut Command) -> Result<u64, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in valgrind's output:\n{text}"))
}

fn stripped_size(bin: &Path) -> Result<u64, String> {
    let copy = PathBuf::from(format!("{}.stripped", bin.display()));
    std::fs::copy(bin, &copy).map_err(|e| e.to_string())?;
    let status = Command::new("strip")
        .arg(&copy)
        .status()
        .map_err(|e| format!("cannot run strip: {e}"))?;
    if !status.success() {
        return Err(format!("strip {} failed", copy.display()));
    }
    let size = std::fs::metadata(&copy).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_file(&copy);
    Ok(size)
}

/// The median of `values` (NaN when empty or when any is NaN).
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median of `key` over every process's output.
fn median_field(runs: &[String], key: &str) -> f64 {
    median(runs.iter().map(|run| field(run, key)).collect())
}

fn field(json: &str, key: &str) -> f64 {
    json.split(&format!("\"{key}\": "))
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory}; {rustc}; {python}; Linux x86_64")
}

fn report(
    rows: &[Row],
    non_pie: &[(usize, u64)],
    hello_size: u64,
    options: &Options,
) -> Result<String, String> {
    let mut s = String::new();
    let base = rows.iter().find(|r| r.n == 0);
    let sizes: Vec<String> = options.sizes.iter().map(usize::to_string).collect();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench --sizes {} --runs {}`; every figure below comes from one run on one machine.\n",
        sizes.join(","),
        options.runs
    );
    let _ = writeln!(s, "Machine: {}.\n", machine());
    let _ = writeln!(
        s,
        "The plugin crates are written by `cargo xtask bench-gen N`: N plugins (40% transforms, 20% kernels, 30% backends, \
         10% steps) with doc comments, tags, versions and authors, registered three ways with the same records: our \
         attributes (`ours`), raw `linkme` statics (`linkme`) and `inventory::submit!` (`inventory`).\n"
    );

    let _ = writeln!(
        s,
        "## Work before `main`\n\nInstructions executed by a run whose `main` returns at once (valgrind callgrind; includes process start and exit).\n"
    );
    let _ = writeln!(
        s,
        "| N | ours | linkme | inventory | ours vs N=0 | inventory vs N=0 |\n|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let (o, i) = base.map_or((String::new(), String::new()), |b| {
            (
                ratio(r.premain[0] as f64, b.premain[0] as f64),
                ratio(r.premain[2] as f64, b.premain[2] as f64),
            )
        });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {o} | {i} |",
            r.n, r.premain[0], r.premain[1], r.premain[2]
        );
    }

    if let [(n0, i0), (n1, i1)] = non_pie {
        let _ = writeln!(
            s,
            "\nIn a position-independent executable (the default) every pointer in a static record is a relocation \
             the dynamic loader applies before `main`; a record holds 2 or 3, so the work grows with N for raw linkme \
             statics exactly as for ours. Built as position-dependent executables (`RUSTFLAGS=\"-C relocation-model=static\"`, \
             `--target x86_64-unknown-linux-gnu`), `ours` runs {i0} instructions at N = {n0} and {i1} at N = {n1}: {}.",
            ratio(*i1 as f64, *i0 as f64)
        );
    }

    let _ = writeln!(
        s,
        "\n## Registry operations\n\nIn-process, release build of `ours-N`; lookups cycle over up to 1000 names of all kinds; the baseline is `HashMap<&str, usize>::get` on the same qualified names. First access is what the first `Registry::global()` of a process does (one pass over the records, the name table, backends by kernel), with its fresh heap pages; a rebuild is the same work again in the same process.\n"
    );
    let _ = writeln!(
        s,
        "Every figure is the median over {REGISTRY_PROCESSES} processes (the ratio: of each process's own ratio).\n\n| N | first access | rebuild (median of 15) | lookup qualified | lookup short | HashMap get | qualified vs HashMap | list all | kernels for op | backends of kernel |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let j = |key: &str| median_field(&r.registry, key);
        let qualified_vs_map = median(
            r.registry
                .iter()
                .map(|run| field(run, "lookup_qualified_ns") / field(run, "hashmap_get_ns"))
                .collect(),
        );
        let _ = writeln!(
            s,
            "| {} | {:.1} µs | {:.1} µs | {:.1} ns | {:.1} ns | {:.1} ns | {} | {:.0} ns | {:.1} ns | {:.1} ns |",
            r.n,
            j("first_access_ns") / 1e3,
            j("build_median_ns") / 1e3,
            j("lookup_qualified_ns"),
            j("lookup_short_ns"),
            j("hashmap_get_ns"),
            if qualified_vs_map.is_finite() {
                format!("{qualified_vs_map:.2}x")
            } else {
                "NaNx".to_owned()
            },
            j("list_all_ns"),
            j("kernels_for_op_ns"),
            j("backends_of_kernel_ns"),
        );
    }

    let _ = writeln!(
        s,
        "\n## `plugins` wall time\n\nMedian of {} interleaved runs after 5 warm-ups, stdout to /dev/null, next to a hello-world binary built the same way.\n",
        options.runs
    );
    let _ = writeln!(
        s,
        "| N | hello-world | `plugins` | ratio | `plugins --format json` | ratio |\n|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let h = r.wall[0].as_secs_f64();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.n,
            us(r.wall[0]),
            us(r.wall[1]),
            ratio(r.wall[1].as_secs_f64(), h),
            us(r.wall[2]),
            ratio(r.wall[2].as_secs_f64(), h)
        );
    }

    let _ = writeln!(
        s,
        "\n## Compile time and binary size\n\nClean release compile of the plugin crate alone (dependencies already built; best of two interleaved rounds), and the stripped binary (hello-world: {hello_size} bytes).\n"
    );
    let _ = writeln!(
        s,
        "| N | compile ours | linkme | inventory | ours / linkme | ours / inventory | size ours | linkme | inventory | per plugin ours / linkme |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let per_plugin = match base {
            Some(b) if r.n > 0 => ratio(
                r.size[0].saturating_sub(b.size[0]) as f64,
                r.size[1].saturating_sub(b.size[1]) as f64,
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {per_plugin} |",
            r.n,
            ms(r.compile[0]),
            ms(r.compile[1]),
            ms(r.compile[2]),
            ratio(r.compile[0].as_secs_f64(), r.compile[1].as_secs_f64()),
            ratio(r.compile[0].as_secs_f64(), r.compile[2].as_secs_f64()),
            r.size[0],
            r.size[1],
            r.size[2]
        );
    }

    let _ = writeln!(
        s,
        "\n## The design this replaces: discovery by import\n\nA Python package of N modules, each registering a decorated class when imported (`py/benchpkg_N`), discovered with `pkgutil.iter_modules` + `importlib.import_module`, as Python plugin registries do; `.pyc` files warm. Timed by the same harness as `plugins` (median of interleaved runs).\n"
    );
    let _ = writeln!(
        s,
        "| N | Python import-to-discover | `plugins` (ours) | Python / ours |\n|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.n,
            us(r.python),
            us(r.wall[1]),
            ratio(r.python.as_secs_f64(), r.wall[1].as_secs_f64())
        );
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n```sh\napt-get install valgrind   # callgrind counts\ncargo xtask bench --sizes {} --runs {}\ncargo bench -p brainsmith-plugins   # criterion: built-in registry and model I/O\n```",
        sizes.join(","),
        options.runs
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_reads_callgrinds_count_and_says_when_there_is_none() {
        let mut counted = Command::new("sh");
        counted.args(["-c", "echo '==7== Collected : 1234567' >&2"]);
        assert_eq!(collected(&mut counted), Ok(1_234_567));
        let mut silent = Command::new("sh");
        silent.args(["-c", "echo 'valgrind: no such tool' >&2"]);
        let err = collected(&mut silent).unwrap_err();
        assert!(
            err.contains("no instruction count") && err.contains("no such tool"),
            "{err}"
        );
    }
}
