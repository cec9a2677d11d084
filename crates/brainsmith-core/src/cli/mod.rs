//! The command-line front end that any compiler binary embeds:
//!
//! ```no_run
//! use my_plugins as _; // link the plugin crates the compiler ships
//! # mod my_plugins {}
//!
//! fn main() -> std::process::ExitCode {
//!     brainsmith_core::cli::main()
//! }
//! ```
//!
//! Commands: `plugins` (summary table; `--kind`, `--source`, `--stage`, `--op-type`,
//! `--search`, `--verbose`, `--format table|json|toml`), `plugins show NAME`, `manifest`
//! (this binary's plugin manifest), `verify MANIFEST` (this binary's plugins against an
//! allowlist) and `transform MODEL -o OUT --apply A,B` (registered transforms on a model,
//! written atomically, with a summary table or `--format json`) and `inspect MODEL` (every
//! node with its kernel, backend, typed attributes, streams, cycles and resources). Data goes to stdout, messages to stderr; exit code 0 on success, 1 on an
//! error, 2 on bad usage.

mod apply;
mod inspect;
mod plugins;
mod table;
mod transform;

use crate::blueprint::Blueprint;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::manifest::Manifest;
use crate::registry::Registry;

/// Runs the command line with the process's arguments, stdout and stderr. Help and usage
/// errors are coloured only where clap's `ColorChoice::Auto` would colour them: on a
/// terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` forces colour).
pub fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let colour = |choice| choice != anstream::ColorChoice::Never;
    let colour = Colour {
        out: colour(anstream::AutoStream::choice(&stdout)),
        err: colour(anstream::AutoStream::choice(&stderr)),
    };
    run_in(
        std::env::args_os(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        colour,
    )
}

/// Runs the command line with explicit arguments (the first is the program name) and
/// output streams; returns the exit code. Nothing is coloured: the streams may be
/// anything.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_in(args, out, err, Colour::default())
}

/// Whether help and usage errors are coloured on each stream.
#[derive(Clone, Copy, Default)]
struct Colour {
    out: bool,
    err: bool,
}

fn run_in<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, colour: Colour) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let styled = e.render();
            let text = if (e.use_stderr() && colour.err) || (!e.use_stderr() && colour.out) {
                styled.ansi().to_string()
            } else {
                styled.to_string()
            };
            let _ = if e.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return ExitCode::from(code);
        }
    };
    let registry = match Registry::global() {
        Ok(registry) => registry,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Plugins(args) => plugins::run(registry, args, out),
        Command::Transform(args) => transform::run(registry, args, out, err),
        Command::Inspect(args) => inspect::run(registry, args, out, err),
        Command::Blueprint {
            action: BlueprintAction::Check { file },
        } => Blueprint::check_file(&file, registry)
            .map(|plan| plan.items.len())
            .map_err(|e| e.to_string())
            .and_then(|items| {
                writeln!(
                    out,
                    "ok: {} is valid ({items} steps, every name and configuration resolved)",
                    file.display()
                )
                .map_err(|e| e.to_string())
            }),
        Command::Manifest { format, root } => {
            let manifest = Manifest::from_registry(registry, root.as_deref());
            let text = match format {
                DataFormat::Toml => manifest.to_toml(),
                DataFormat::Json => manifest.to_json(),
            };
            write!(out, "{text}").map_err(|e| e.to_string())
        }
        Command::Verify { manifest } => Manifest::load(&manifest)
            .map_err(|e| e.to_string())
            .and_then(|m| registry.verify(&m).map_err(|e| e.to_string()))
            .and_then(|()| {
                writeln!(
                    out,
                    "ok: the binary's {} plugins match {}",
                    registry.plugins().len(),
                    manifest.display()
                )
                .map_err(|e| e.to_string())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(err, "error: {message}");
            ExitCode::from(1)
        }
    }
}

#[derive(Parser)]
#[command(
    about = "Inspect the plugins linked into this dataflow compiler and run its transforms",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered plugins (a summary table by source and kind).
    Plugins(plugins::PluginsArgs),
    /// Print this binary's plugin manifest.
    Manifest {
        /// Output format.
        #[arg(long, value_enum, default_value_t = DataFormat::Toml)]
        format: DataFormat,
        /// Record source files relative to this directory.
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Apply registered transforms to a model and write the result atomically.
    Transform(transform::TransformArgs),
    /// List a model's nodes as the linked kernels see them: kernel, backend, attributes,
    /// streams, cycles and resource estimates, with every attribute problem.
    Inspect(inspect::InspectArgs),
    /// Work with blueprints, the model-independent recipes of builds.
    Blueprint {
        #[command(subcommand)]
        action: BlueprintAction,
    },
    /// Check that this binary links exactly the plugins a manifest lists.
    Verify {
        /// The manifest (TOML, or JSON when it ends in .json).
        manifest: PathBuf,
    },
}

/// What to do with a blueprint.
#[derive(Subcommand)]
enum BlueprintAction {
    /// Validate every name and configuration against this binary's registry, reporting
    /// every problem at once with its file:line:column.
    Check {
        /// The blueprint (TOML).
        file: PathBuf,
    },
}

/// Machine-readable formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum DataFormat {
    Toml,
    Json,
}
