//! Developer tools for brainsmith plugin crates, as the `brainsmith-dev` binary. Not part
//! of any compiler: install it beside your workspace (`cargo install brainsmith-dev`, or
//! `cargo dev` in this repository).
//!
//! # `brainsmith-dev watch`
//!
//! The plugin playground: edit a plugin crate and see at once what the compiler that links
//! it registers.
//!
//! ```text
//! brainsmith-dev watch [--manifest-path PATH] [--bin NAME | --package P] [--watch DIR]...
//!                      [--once | --max-builds N] [--color auto|always|never]
//! ```
//!
//! - **Which binary.** In the workspace of `--manifest-path` (a `Cargo.toml` or its
//!   directory; default: the current directory), the compiler is `--bin NAME`, else the one
//!   binary of `--package P`, else the one binary whose package depends on
//!   `brainsmith-core`. When there are several or none, the error lists the candidates.
//! - **Each build.** `cargo build --package P --bin NAME` (JSON messages), then
//!   `NAME manifest --format json --root WORKSPACE`: the registry as the binary itself
//!   reports it. Shown: `ok`, the number of plugins and its change, a table of counts by
//!   source and kind, and, from the second build on, what changed since the last build
//!   that succeeded: plugins `added` and `removed` (kind, qualified name, file and line)
//!   and `changed`, each change named (stage, priority, op types, kernel, language,
//!   configuration keys and node attributes declared or dropped, summary, docs, version,
//!   author, tags, location, ...). Plugins whose only change is their source location
//!   (lines moved by an edit above them) are counted on one `moved` line.
//! - **A failed build** shows rustc's errors as rustc renders them (or cargo's own error,
//!   for a broken `Cargo.toml`), or why the binary gave no manifest (a duplicate plugin
//!   name, a binary that does not run brainsmith's command line), and says which build's
//!   registry is still the last good one; the next successful build is compared with that.
//! - **What is watched.** The crates that can change the binary: its package and every
//!   workspace member it depends on by path, directly or not (each one's `Cargo.toml`,
//!   `build.rs` and `src/`), plus the workspace's `Cargo.toml`; `--watch DIR` (repeatable)
//!   watches those directories instead. Directories named `target` or starting with `.`
//!   are skipped. Files are polled every 300 ms; a build starts once they have been still
//!   for 200 ms, so a burst of saves makes one build, and a change during a build makes
//!   another after it.
//! - **Terminal.** The screen is cleared before each report only when stdout is a
//!   terminal; colour (and rustc's coloured errors) only then and when `NO_COLOR` is unset,
//!   unless `--color always|never` says otherwise.
//! - **Stopping.** Ctrl-C; `--once` builds and reports once; `--max-builds N` stops after N
//!   builds. The exit status is then the last build's: 0 if it gave a registry, 1 if not.
//!   A workspace that cannot be read, a binary that cannot be chosen or a missing
//!   `--watch` directory is one `error:` line and exit 1; bad usage exits 2.
//!
//! A report after adding a transform to a plugin crate:
//!
//! ```text
//! build 2 of acme-compiler (examples/acme-plugins/src/infer.rs changed): ok, 83 plugins (+1) in 6.1s
//! source      transforms     kernels    backends       steps       total
//! acme                 2           1           2           1           6
//! brainsmith          46          12          16           3          77
//! all                 48          13          18           4          83
//! since build 1:
//!   added    transform acme:NewThing  examples/acme-plugins/src/infer.rs:52
//! ```
//!
//! The report's parts are [`report::counts`] and [`report::changes`] (over
//! [`brainsmith_core::manifest::diff`]).
//!
//! Architecture invariant: this crate knows no plugin. It links none; it learns the
//! registry only from the manifest the compiler binary prints, and reads it with
//! brainsmith-core's own manifest types.

mod cargo;
mod poll;
pub mod report;
mod watch;
mod workspace;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "brainsmith-dev",
    version,
    about = "Developer tools for brainsmith plugin crates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuild the compiler on every change of its plugin crates and show its registry's
    /// counts and what was added, removed or changed, or the compile errors.
    Watch(WatchArgs),
}

#[derive(clap::Args)]
struct WatchArgs {
    /// The workspace's Cargo.toml, or its directory (default: the current directory's).
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// The compiler binary (default: the workspace's one binary that depends on
    /// brainsmith-core).
    #[arg(long, value_name = "NAME")]
    bin: Option<String>,
    /// The package of the compiler binary.
    #[arg(short, long, value_name = "NAME")]
    package: Option<String>,
    /// Watch this directory instead of the binary's crates (repeatable).
    #[arg(short, long, value_name = "DIR")]
    watch: Vec<PathBuf>,
    /// Build and report once; exit 0 if the build gave a registry, 1 if not.
    #[arg(long, conflicts_with = "max_builds")]
    once: bool,
    /// Stop after N builds, with the last one's exit status.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_builds: Option<u64>,
    /// When to colour: `auto` (a terminal without `NO_COLOR`), `always` or `never`.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Runs `brainsmith-dev` with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Watch(args) => {
            let terminal = std::io::stdout().is_terminal();
            let colour = match args.color {
                ColorWhen::Always => true,
                ColorWhen::Never => false,
                ColorWhen::Auto => {
                    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            let options = watch::Options {
                manifest_path: args.manifest_path,
                bin: args.bin,
                package: args.package,
                watch: args.watch,
                max_builds: if args.once { Some(1) } else { args.max_builds },
                colour,
                clear: terminal,
            };
            match watch::run(&options, &mut std::io::stdout().lock()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
