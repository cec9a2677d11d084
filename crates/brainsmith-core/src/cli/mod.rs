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
//! node with its kernel, backend, typed attributes, streams, cycles and resources) and
//! `docs -o DIR` (a static, searchable HTML catalogue of the plugins, `--force` to replace
//! one). Data goes to stdout, messages to stderr; exit code 0 on success, 1 on an error, 2
//! on bad usage.

mod apply;
mod check;
mod docs;
mod inspect;
mod plugins;
mod table;
mod transform;

use crate::blueprint::Blueprint;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::manifest::Manifest;
use crate::registry::Registry;

/// Runs the command line with the process's arguments, stdout and stderr, as a binary
/// named after the program file with brainsmith-core's version. A compiler that wants its
/// own name, version, help text or commands runs an [`App`] instead ([`app!`]).
pub fn main() -> ExitCode {
    let name = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "brainsmith".to_owned());
    App::new(name, env!("CARGO_PKG_VERSION")).main()
}

/// Runs the command line with explicit arguments (the first is the program name) and
/// output streams; returns the exit code. Nothing is coloured: the streams may be
/// anything.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    App::new("brainsmith", env!("CARGO_PKG_VERSION")).run(args, out, err)
}

/// Reads an `--apply` list as `brainsmith transform` does, every name resolved and every
/// configuration read against `registry`; the number of transforms it plans, or its
/// message. The entry point of the `apply` fuzz target (`cargo xtask fuzz`), not API.
#[doc(hidden)]
pub fn __plan_apply(registry: &Registry, spec: &str) -> Result<usize, String> {
    apply::plan(registry, &[spec.to_owned()]).map(|planned| planned.len())
}

/// JSON made safe inside a `<script>` element, as `docs` embeds the manifest; for the
/// tests, not API.
#[doc(hidden)]
pub fn __script_json(json: &str) -> String {
    docs::script_json(json)
}

/// The `index.html` that `docs` writes for `manifest`; for the tests, not API.
#[doc(hidden)]
pub fn __docs_page(name: &str, manifest: &Manifest) -> String {
    docs::render_page(name, manifest)
}

/// An [`App`] named after the crate the macro is written in: its package name, version
/// and description (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`, `CARGO_PKG_DESCRIPTION`), so
/// `--version` prints the compiler's version, not brainsmith-core's.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     brainsmith_core::cli::app!().main()
/// }
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __cli_app {
    () => {
        $crate::cli::App::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .about(env!("CARGO_PKG_DESCRIPTION"))
    };
}
#[doc(inline)]
pub use crate::__cli_app as app;

/// The argument parser host commands are declared with (the version brainsmith-core
/// uses, so a host needs no dependency of its own).
pub use clap;

/// What a host command receives: the output streams, whether it may colour, and the
/// registry of the linked plugins.
pub struct Io<'a> {
    /// Data: tables, reports, machine-readable output.
    pub out: &'a mut dyn Write,
    /// Messages: progress, warnings, errors.
    pub err: &'a mut dyn Write,
    /// Whether the command may write ANSI escapes (colours, a progress bar) to `err`: it
    /// is a terminal and `NO_COLOR` is unset, or `--color always` was given; never under
    /// `--color never`.
    pub colour: bool,
    /// Every linked plugin.
    pub registry: &'static Registry,
}

/// What a host command runs: its parsed arguments and [`Io`]; an error is printed as
/// `error: <message>` and exits with 1.
pub type HostRun = Box<dyn Fn(&clap::ArgMatches, &mut Io<'_>) -> Result<(), String>>;

/// The command line of a compiler: brainsmith-core's commands (`plugins`, `manifest`,
/// `verify`, `transform`, `inspect`, `docs`, `blueprint`) under the compiler's own name,
/// version and help text, plus the compiler's own commands.
///
/// ```no_run
/// use brainsmith_core::cli::{App, clap};
///
/// fn main() -> std::process::ExitCode {
///     App::new("acme", "2.1.0")
///         .about("Acme's dataflow compiler")
///         .command(
///             clap::Command::new("hello")
///                 .about("Greets someone")
///                 .arg(clap::Arg::new("who")),
///             |args, io| {
///                 let who = args.get_one::<String>("who").map_or("world", String::as_str);
///                 writeln!(io.out, "hello, {who}").map_err(|e| e.to_string())
///             },
///         )
///         .main()
/// }
/// ```
pub struct App {
    name: String,
    version: String,
    about: Option<String>,
    commands: Vec<(clap::Command, HostRun)>,
}

impl App {
    /// A command line named `name` (in help and usage) at `version` (`--version`).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> App {
        App {
            name: name.into(),
            version: version.into(),
            about: None,
            commands: Vec::new(),
        }
    }

    /// The description at the top of `--help`. An empty text keeps the default.
    #[must_use]
    pub fn about(mut self, about: impl Into<String>) -> App {
        let about = about.into();
        if !about.trim().is_empty() {
            self.about = Some(about);
        }
        self
    }

    /// Adds a command of the host's own: `command` declares its name, help and arguments;
    /// `run` does it. A name that is one of brainsmith-core's commands (or another host
    /// command's) is refused when the command line runs, naming it.
    #[must_use]
    pub fn command(
        mut self,
        command: clap::Command,
        run: impl Fn(&clap::ArgMatches, &mut Io<'_>) -> Result<(), String> + 'static,
    ) -> App {
        self.commands.push((command, Box::new(run)));
        self
    }

    /// Runs with the process's arguments, stdout and stderr. Help, usage errors and
    /// [`Io::colour`] colour only a terminal, unless `NO_COLOR` is set or `--color never`
    /// is given (`--color always` forces colour; so does `CLICOLOR_FORCE`).
    pub fn main(&self) -> ExitCode {
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        let colour = |choice| choice != anstream::ColorChoice::Never;
        let colour = Colour {
            out: colour(anstream::AutoStream::choice(&stdout)),
            err: colour(anstream::AutoStream::choice(&stderr)),
        };
        self.run_in(
            std::env::args_os(),
            &mut stdout.lock(),
            &mut stderr.lock(),
            colour,
            Exit::Process,
        )
    }

    /// Runs with explicit arguments (the first is the program name) and output streams;
    /// returns the exit code. Nothing is coloured unless `--color always` is given.
    pub fn run<I, T>(&self, args: I, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        self.run_in(args, out, err, Colour::default(), Exit::Caller)
    }

    /// The whole clap command: brainsmith-core's commands and the host's.
    fn clap(&self) -> Result<clap::Command, String> {
        let mut command = Cli::command()
            .name(self.name.clone())
            .bin_name(self.name.clone())
            .version(self.version.clone());
        if let Some(about) = &self.about {
            command = command.about(about.clone());
        }
        for (host, _) in &self.commands {
            let name = host.get_name();
            if command.find_subcommand(name).is_some() {
                return Err(format!(
                    "this binary declares the command `{name}` twice (brainsmith-core has one \
                     of that name, or the binary added it twice); rename the binary's own"
                ));
            }
            command = command.subcommand(host.clone());
        }
        Ok(command)
    }

    fn run_in<I, T>(
        &self,
        args: I,
        out: &mut dyn Write,
        err: &mut dyn Write,
        mut colour: Colour,
        exit: Exit,
    ) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = match self.clap() {
            Ok(command) => command,
            Err(message) => {
                let _ = writeln!(err, "error: {message}");
                return ExitCode::from(1);
            }
        };
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        // `--color` decides before clap speaks, so that clap's own messages obey it.
        match colour_choice(&args) {
            Some(ColorWhen::Always) => {
                colour = Colour {
                    out: true,
                    err: true,
                }
            }
            Some(ColorWhen::Never) => colour = Colour::default(),
            Some(ColorWhen::Auto) | None => {}
        }
        let matches = match command.try_get_matches_from_mut(args) {
            Ok(matches) => matches,
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
        // A listing in a process that exits after it keeps the parser: freeing it would be
        // work for nothing. Any other command frees it first, so that its first
        // allocations reuse that memory rather than fresh pages (measured on the cold
        // transforms of small models).
        let listing = exit == Exit::Process
            && matches!(matches.subcommand_name(), Some("plugins" | "manifest"));
        if listing {
            std::mem::forget(command);
        } else {
            drop(command);
        }
        let registry = match Registry::global() {
            Ok(registry) => registry,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return ExitCode::from(1);
            }
        };
        let host = matches.subcommand().and_then(|(name, sub)| {
            self.commands
                .iter()
                .find(|(c, _)| c.get_name() == name)
                .map(|(_, run)| (run, sub))
        });
        let result = if let Some((run, sub)) = host {
            let mut io = Io {
                out,
                err,
                colour: colour.err,
                registry,
            };
            run(sub, &mut io)
        } else {
            match Cli::from_arg_matches(&matches) {
                Ok(cli) => run_builtin(registry, &self.name, cli.command, out, err, exit),
                Err(e) => Err(e.to_string()),
            }
        };
        if exit == Exit::Process {
            // The process ends next: freeing the parsed arguments is work for nothing.
            std::mem::forget(matches);
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                let _ = writeln!(err, "error: {message}");
                ExitCode::from(1)
            }
        }
    }
}

/// Who continues after [`App::run_in`] returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// The process, which exits: what the parser holds is not freed.
    Process,
    /// A caller, which may run again: everything is freed.
    Caller,
}

/// The value of the last valid `--color VALUE` (or `--color=VALUE`) before a `--`.
fn colour_choice(args: &[OsString]) -> Option<ColorWhen> {
    let mut choice = None;
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let value = if arg == "--color" {
            args.next().map(std::borrow::Cow::into_owned)
        } else {
            arg.strip_prefix("--color=").map(ToOwned::to_owned)
        };
        if let Some(value) = value {
            choice = ColorWhen::from_str(&value, true).ok().or(choice);
        }
    }
    choice
}

/// Whether help and usage errors are coloured on each stream.
#[derive(Clone, Copy, Default)]
struct Colour {
    out: bool,
    err: bool,
}

/// The first `limit` lines that differ between `old` and `new`, as `-`/`+` lines.
fn diff(old: &str, new: &str, limit: usize) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    let (mut i, mut j) = (0, 0);
    while (i < a.len() || j < b.len()) && shown < limit {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        // Resynchronise on the next line of `new` that `old` has ahead (an insertion), or
        // report the line as changed.
        match (i < a.len(), j < b.len()) {
            (true, true) => match a[i..].iter().take(50).position(|l| *l == b[j]) {
                Some(k) => {
                    for l in &a[i..i + k] {
                        out.push_str(&format!("  line {}: - {l}\n", i + 1));
                        shown += 1;
                        i += 1;
                    }
                }
                None => {
                    out.push_str(&format!(
                        "  line {}: - {}\n  line {}: + {}\n",
                        i + 1,
                        a[i],
                        j + 1,
                        b[j]
                    ));
                    shown += 1;
                    i += 1;
                    j += 1;
                }
            },
            (true, false) => {
                out.push_str(&format!("  line {}: - {}\n", i + 1, a[i]));
                shown += 1;
                i += 1;
            }
            _ => {
                out.push_str(&format!("  line {}: + {}\n", j + 1, b[j]));
                shown += 1;
                j += 1;
            }
        }
    }
    if shown == limit {
        out.push_str("  ...\n");
    }
    out
}

fn run_builtin(
    registry: &'static Registry,
    name: &str,
    command: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
    exit: Exit,
) -> Result<(), String> {
    match command {
        Command::Plugins(args) => plugins::run(registry, args, out, exit),
        Command::Transform(args) => transform::run(registry, args, out, err),
        Command::Inspect(args) => inspect::run(registry, args, out, err),
        Command::Docs(args) => docs::run(registry, name, args, out),
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
        Command::Manifest {
            format,
            root,
            write,
            check,
        } => {
            let manifest = Manifest::from_registry(registry, root.as_deref());
            let file = write.as_ref().or(check.as_ref());
            // A file's extension decides its format unless --format says otherwise.
            let format = format.unwrap_or(match file {
                Some(f) if f.extension().is_some_and(|e| e == "json") => DataFormat::Json,
                _ => DataFormat::Toml,
            });
            let text = match format {
                DataFormat::Toml => manifest.to_toml(),
                DataFormat::Json => manifest.to_json(),
            };
            let again = |f: &std::path::Path| {
                let mut command = format!("{name} manifest --write {}", f.display());
                if let Some(r) = &root {
                    command.push_str(&format!(" --root {}", r.display()));
                }
                command
            };
            if let Some(f) = write {
                crate::fsutil::write_atomic(&f, text.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", f.display()))?;
                writeln!(
                    out,
                    "wrote {} ({} plugins)",
                    f.display(),
                    manifest.plugins.len()
                )
                .map_err(|e| e.to_string())
            } else if let Some(f) = check {
                let on_disk =
                    crate::fsutil::read_input(&f, 64 << 20, "a manifest").map_err(|e| {
                        format!(
                            "cannot read {}: {e}; create it with `{}`",
                            f.display(),
                            again(&f)
                        )
                    })?;
                let on_disk = String::from_utf8_lossy(&on_disk);
                if on_disk == text {
                    writeln!(out, "ok: {} is up to date", f.display()).map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "{} is stale; the binary's plugins would write:\n{}update it with `{}`",
                        f.display(),
                        diff(&on_disk, &text, 20),
                        again(&f)
                    ))
                }
            } else {
                write!(out, "{text}").map_err(|e| e.to_string())
            }
        }
        Command::Verify {
            manifest,
            workspace,
        } => Manifest::load(&manifest)
            .map_err(|e| e.to_string())
            .and_then(|m| registry.verify(&m).map_err(|e| e.to_string()))
            .and_then(|()| match &workspace {
                None => Ok(()),
                Some(dir) => {
                    let unlinked = crate::manifest::unlinked_plugin_crates(registry, dir)?;
                    if unlinked.is_empty() {
                        Ok(())
                    } else {
                        Err(format!(
                            "plugin crates of the workspace {} that this binary does not link: \
                             {}; link each in the binary's main.rs ({})",
                            dir.display(),
                            unlinked
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            unlinked
                                .iter()
                                .map(|(_, l)| format!("`{l}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    }
                }
            })
            .and_then(|()| {
                writeln!(
                    out,
                    "ok: the binary's {} plugins match {}",
                    registry.plugins().len(),
                    manifest.display()
                )
                .map_err(|e| e.to_string())
            }),
    }
}

#[derive(Parser)]
#[command(
    about = "Inspect the plugins linked into this dataflow compiler and run its transforms",
    version
)]
struct Cli {
    /// When to colour help, errors and progress: `auto` (on a terminal, unless `NO_COLOR`
    /// is set), `always` or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

/// `--color`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

// `defer`: a subcommand's arguments are built only when it runs (or its help shows), so a
// command does not pay to build every other one's.
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// List the registered plugins (a summary table by source and kind).
    Plugins(plugins::PluginsArgs),
    /// Print this binary's plugin manifest.
    Manifest {
        /// Output format (default: the file's extension, else TOML).
        #[arg(long, value_enum)]
        format: Option<DataFormat>,
        /// Record source files relative to this directory (relative to the current one).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Write the manifest to FILE (atomically) instead of printing it.
        #[arg(long, value_name = "FILE", conflicts_with = "check")]
        write: Option<PathBuf>,
        /// Fail, showing the difference and the command that updates it, unless FILE is
        /// what this binary would write.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
    /// Apply registered transforms to a model and write the result atomically.
    Transform(transform::TransformArgs),
    /// List a model's nodes as the linked kernels see them: kernel, backend, attributes,
    /// streams, cycles and resource estimates, with every attribute problem.
    Inspect(inspect::InspectArgs),
    /// Write a static, searchable HTML catalogue of the plugins (`DIR/index.html`, with
    /// `DIR/plugins.json`).
    Docs(docs::DocsArgs),
    /// Work with blueprints, the model-independent recipes of builds.
    Blueprint {
        #[command(subcommand)]
        action: BlueprintAction,
    },
    /// Check that this binary links exactly the plugins a manifest lists, each with the
    /// contract listed (priorities, stages, configuration keys, node attributes).
    Verify {
        /// The manifest (TOML, or JSON when it ends in .json).
        manifest: PathBuf,
        /// Also fail for a plugin crate of this Cargo workspace that the binary does not
        /// link.
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

/// What to do with a blueprint.
#[derive(Subcommand)]
#[command(defer = true)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Subcommands are deferred (built when they run), so clap's own consistency checks
    /// would only see the one a test runs: this builds and checks every one of them.
    #[test]
    fn every_subcommand_passes_claps_checks() {
        let mut command = Cli::command();
        command.build();
        let mut names = Vec::new();
        let mut stack = vec![&command];
        while let Some(c) = stack.pop() {
            names.push(c.get_name().to_owned());
            stack.extend(c.get_subcommands());
        }
        assert!(names.iter().any(|n| n == "check"), "{names:?}");
        // Every deferred subcommand got its arguments.
        let transform = command.find_subcommand("transform").unwrap();
        assert!(transform.get_arguments().any(|a| a.get_id() == "no_sync"));
        Cli::command().debug_assert();
    }
}
