//! `brainsmith-dev watch`: build, read the registry, show it or the errors, wait for a
//! change, again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brainsmith_core::manifest::{Manifest, diff};

use crate::cargo;
use crate::poll::{Snapshot, Watched};
use crate::report::{self, Style};
use crate::workspace::{self, Selection, Workspace};

/// How often the watched files are scanned.
const POLL: Duration = Duration::from_millis(300);
/// How long the files must stay still after a change before a build starts, so that a
/// burst (a save of several files, a `git checkout`) makes one build.
const SETTLE: Duration = Duration::from_millis(200);

/// What `watch` was asked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// `--manifest-path`.
    pub(crate) manifest_path: Option<PathBuf>,
    /// `--bin`.
    pub(crate) bin: Option<String>,
    /// `--package`.
    pub(crate) package: Option<String>,
    /// `--watch`: these directories instead of the binary's crates.
    pub(crate) watch: Vec<PathBuf>,
    /// Stop after this many builds (`--once` is 1).
    pub(crate) max_builds: Option<u64>,
    /// Colour the output and ask rustc for coloured errors.
    pub(crate) colour: bool,
    /// Clear the screen before each build's report.
    pub(crate) clear: bool,
}

/// The last build that produced a registry.
struct Good {
    number: u64,
    manifest: Manifest,
}

/// Runs until `max_builds` builds are done (forever without it); whether the last build
/// succeeded. `Err` for what stops the watch before any build: the workspace cannot be
/// read, no binary can be chosen, a `--watch` directory is missing, cargo is missing.
pub(crate) fn run(opts: &Options, out: &mut dyn Write) -> Result<bool, String> {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let ws = workspace::locate(
        &cargo,
        &Selection {
            manifest_path: opts.manifest_path.as_deref(),
            bin: opts.bin.as_deref(),
            package: opts.package.as_deref(),
        },
    )?;
    let watched = watched(&ws, &opts.watch)?;
    let style = Style {
        colour: opts.colour,
    };
    let io = |e: std::io::Error| format!("cannot write the report: {e}");
    let mut last: Option<Good> = None;
    let mut snapshot = Snapshot::scan(&watched);
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut number = 0;
    loop {
        number += 1;
        let started = Instant::now();
        let build = cargo::build(&cargo, &ws, opts.colour)?;
        let registry = build
            .executable
            .as_ref()
            .map(|exe| cargo::manifest(exe, &ws));
        if opts.clear {
            write!(out, "\x1b[2J\x1b[H").map_err(io)?;
        }
        let head = format!(
            "build {number} of {}{}",
            ws.bin,
            describe_changes(&changed, &ws.root)
        );
        let took = format!("{:.1}s", started.elapsed().as_secs_f64());
        let ok = match registry {
            Some(Ok(manifest)) => {
                show_registry(
                    out,
                    style,
                    &head,
                    &took,
                    &ws,
                    &build,
                    last.as_ref(),
                    &manifest,
                )
                .map_err(io)?;
                last = Some(Good { number, manifest });
                true
            }
            failure => {
                show_failure(out, style, &head, &took, &build, failure, last.as_ref())
                    .map_err(io)?;
                false
            }
        };
        if opts.max_builds.is_some_and(|max| number >= max) {
            out.flush().map_err(io)?;
            return Ok(ok);
        }
        writeln!(
            out,
            "{}",
            style.note(&format!(
                "watching {} files of {}; Ctrl-C to stop",
                snapshot.len(),
                watched_what(&ws, &opts.watch)
            ))
        )
        .map_err(io)?;
        out.flush().map_err(io)?;
        let now = wait_for_change(&watched, &snapshot);
        changed = snapshot
            .changed(&now)
            .into_iter()
            .map(Path::to_owned)
            .collect();
        snapshot = now;
        writeln!(
            out,
            "{}",
            style.note(&format!(
                "{} changed: building {} ...",
                files(&changed, &ws.root),
                ws.bin
            ))
        )
        .map_err(io)?;
        out.flush().map_err(io)?;
    }
}

/// What to scan: the `--watch` directories, else the binary's crates (their `Cargo.toml`,
/// `build.rs` and `src/`) and the workspace's `Cargo.toml`.
fn watched(ws: &Workspace, dirs: &[PathBuf]) -> Result<Watched, String> {
    let mut watched = Watched::default();
    if dirs.is_empty() {
        watched.files.push(ws.root.join("Cargo.toml"));
        for member in &ws.members {
            watched.add_crate(member);
        }
        return Ok(watched);
    }
    for dir in dirs {
        if !dir.is_dir() {
            return Err(format!(
                "--watch {}: no such directory (relative paths start from the current \
                 directory)",
                dir.display()
            ));
        }
        watched.trees.push(dir.clone());
    }
    Ok(watched)
}

fn watched_what(ws: &Workspace, dirs: &[PathBuf]) -> String {
    let (n, what) = if dirs.is_empty() {
        (ws.members.len(), "crate")
    } else {
        (dirs.len(), "directory")
    };
    match (n, what) {
        (1, _) => format!("1 {what}"),
        (_, "directory") => format!("{n} directories"),
        _ => format!("{n} {what}s"),
    }
}

/// Scans until something changed and then stayed still for [`SETTLE`].
fn wait_for_change(watched: &Watched, before: &Snapshot) -> Snapshot {
    loop {
        std::thread::sleep(POLL);
        let mut now = Snapshot::scan(watched);
        if now == *before {
            continue;
        }
        loop {
            std::thread::sleep(SETTLE);
            let again = Snapshot::scan(watched);
            if again == now {
                return now;
            }
            now = again;
        }
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `src/lib.rs`, `src/a.rs and 2 more`: the files of a change.
fn files(changed: &[PathBuf], root: &Path) -> String {
    match changed {
        [] => String::new(),
        [one] => relative(one, root),
        [one, rest @ ..] => format!("{} and {} more", relative(one, root), rest.len()),
    }
}

/// ` (src/lib.rs changed)`, ` (src/a.rs and 2 more changed)`, or nothing for the first
/// build.
fn describe_changes(changed: &[PathBuf], root: &Path) -> String {
    if changed.is_empty() {
        String::new()
    } else {
        format!(" ({} changed)", files(changed, root))
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one report, written from the loop's state"
)]
fn show_registry(
    out: &mut dyn Write,
    style: Style,
    head: &str,
    took: &str,
    ws: &Workspace,
    build: &cargo::Build,
    last: Option<&Good>,
    manifest: &Manifest,
) -> std::io::Result<()> {
    let count = manifest.plugins.len();
    let delta = last.map_or_else(String::new, |g| {
        format!(" ({})", report::delta(g.manifest.plugins.len(), count))
    });
    writeln!(
        out,
        "{head}: {}, {count} plugins{delta} in {took}",
        style.good("ok")
    )?;
    write!(out, "{}", report::counts(manifest))?;
    if let Some(good) = last {
        let d = diff(&good.manifest, manifest);
        if d.is_empty() {
            writeln!(out, "no plugin changed since build {}", good.number)?;
        } else {
            writeln!(out, "since build {}:", good.number)?;
            write!(out, "{}", report::changes(&d, style))?;
        }
    }
    if build.warnings > 0 {
        writeln!(
            out,
            "{} warning{}: `cargo build --package {} --bin {}` shows {}",
            build.warnings,
            if build.warnings == 1 { "" } else { "s" },
            ws.package,
            ws.bin,
            if build.warnings == 1 { "it" } else { "them" }
        )?;
    }
    Ok(())
}

fn show_failure(
    out: &mut dyn Write,
    style: Style,
    head: &str,
    took: &str,
    build: &cargo::Build,
    failure: Option<Result<Manifest, String>>,
    last: Option<&Good>,
) -> std::io::Result<()> {
    writeln!(out, "{head}: {} in {took}", style.bad("failed"))?;
    match failure {
        // The binary built but gave no registry.
        Some(Err(message)) => writeln!(out, "{}: {message}", style.bad("error"))?,
        _ => {
            for error in &build.errors {
                writeln!(out, "{error}\n")?;
            }
            // Cargo's own errors explain a failure rustc did not report (a broken
            // Cargo.toml); after rustc's errors only its summary line is worth a line.
            for line in build
                .cargo_messages
                .lines()
                .filter(|l| build.errors.is_empty() || cargo::strip_ansi(l).starts_with("error"))
            {
                writeln!(out, "{line}")?;
            }
        }
    }
    match last {
        Some(good) => writeln!(
            out,
            "the registry is still build {}'s: {} plugins",
            good.number,
            good.manifest.plugins.len()
        ),
        None => writeln!(out, "no build has succeeded yet"),
    }
}
