//! `cargo xtask bench`: the wall time of `brainsmith plugins` against a hello-world Rust
//! binary, both release builds, measured interleaved in one run so that machine noise
//! hits both alike. The registry and model I/O micro-benchmarks are criterion's:
//! `cargo bench -p brainsmith-plugins --bench registry`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::workspace_root;

const RUNS: usize = 300;
const WARMUP: usize = 20;

/// Builds both binaries, times them, prints the table.
pub(crate) fn run() -> Result<(), String> {
    let root = workspace_root();
    let target = root.join("target/xtask-bench");
    cargo(
        &root,
        &[
            "build",
            "--release",
            "-p",
            "brainsmith-plugins",
            "--bin",
            "brainsmith",
        ],
    )?;
    let hello_dir = target.join("hello");
    std::fs::create_dir_all(hello_dir.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(
        hello_dir.join("Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[workspace]\n\n[profile.release]\ndebug = false\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        hello_dir.join("src/main.rs"),
        "fn main() {\n    println!(\"hello, world\");\n}\n",
    )
    .map_err(|e| e.to_string())?;
    cargo(
        &hello_dir,
        &[
            "build",
            "--release",
            "--quiet",
            "--target-dir",
            target.join("target").to_str().unwrap_or(""),
        ],
    )?;

    let hello = target.join("target/release/hello");
    let brainsmith = root.join("target/release/brainsmith");
    let cases: [(&str, &Path, &[&str]); 3] = [
        ("hello-world (baseline)", &hello, &[]),
        ("brainsmith plugins", &brainsmith, &["plugins"]),
        (
            "brainsmith plugins --format json",
            &brainsmith,
            &["plugins", "--format", "json"],
        ),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(RUNS); cases.len()];
    for round in 0..WARMUP + RUNS {
        for (i, (_, bin, args)) in cases.iter().enumerate() {
            let elapsed = time(bin, args)?;
            if round >= WARMUP {
                samples[i].push(elapsed);
            }
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| percentile(s, 50)).collect();
    println!(
        "{:<34} {:>10} {:>10} {:>8}",
        "command", "median", "p90", "ratio"
    );
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let ratio = medians[i].as_secs_f64() / medians[0].as_secs_f64();
        println!(
            "{name:<34} {:>8.0}µs {:>8.0}µs {ratio:>7.2}x",
            medians[i].as_secs_f64() * 1e6,
            percentile(&mut samples[i], 90).as_secs_f64() * 1e6,
        );
    }
    println!(
        "({RUNS} interleaved runs each after {WARMUP} warm-up rounds; ratio = median / hello-world median)"
    );
    Ok(())
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
        Err(format!("cargo {} failed", args.join(" ")))
    }
}

fn time(bin: &Path, args: &[&str]) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(args)
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

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() - 1) * p / 100]
}
