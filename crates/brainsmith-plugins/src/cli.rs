//! The `brainsmith` binary's command line: brainsmith-core's commands, and the standard
//! library's `compile` and `simulate` ([`crate::compile`]).
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     brainsmith_plugins::cli::app().main()
//! }
//! ```

use std::path::PathBuf;

use brainsmith_core::Language;
use brainsmith_core::cli::clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use brainsmith_core::cli::{App, Io};

use crate::compile::{self, npy};

/// The `brainsmith` command line.
pub fn app() -> App {
    App::new("brainsmith", env!("CARGO_PKG_VERSION"))
        .about(
            "A dataflow compiler for quantized neural networks: compile a QONNX model into a \
             stitched, simulated FPGA accelerator, and inspect the plugins that do it",
        )
        .command(
            deferred("compile", COMPILE_ABOUT, compile_args),
            run_compile,
        )
        .command(
            deferred("simulate", SIMULATE_ABOUT, simulate_args),
            run_simulate,
        )
        .command(deferred("dse", DSE_ABOUT, dse_args), run_dse)
        .command(deferred("new", NEW_ABOUT, new_args), run_new)
}

/// A command whose arguments `args` adds only when it runs or its help shows, so that
/// every other command does not pay to build them; the listing needs only its about.
fn deferred(name: &'static str, about: &'static str, args: fn(Command) -> Command) -> Command {
    Command::new(name).about(about).defer(args)
}

const NEW_ABOUT: &str = "Write a new workspace (a plugin crate with a kernel, its HLS backend, a \
    transform and a step, documented and tested, and a compiler binary linking it), or add \
    one plugin to a crate";
const COMPILE_ABOUT: &str = "Compile a QONNX model into a stitched dataflow accelerator, \
    co-simulated against the model, with a report and a picture";
const DSE_ABOUT: &str = "Explore folding targets and backend preferences: every design point \
    estimated, the Pareto front marked (dse.txt, dse.json), the fastest point on it compiled";
const SIMULATE_ABOUT: &str = "Run a compiled design on frames from a .npy file: the host model \
    in the executor, the accelerator in co-simulation";

fn new_args(command: Command) -> Command {
    let crate_arg = || {
        Arg::new("crate")
            .long("crate")
            .value_name("DIR")
            .default_value(".")
            .value_parser(value_parser!(PathBuf))
            .help("The plugin crate (the directory of its Cargo.toml)")
    };
    let name = |what: &'static str| Arg::new("name").required(true).help(what);
    command
        .args_conflicts_with_subcommands(true)
        .subcommand_negates_reqs(true)
        .arg(
            Arg::new("path")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The new workspace's directory (absent or empty; `./kernel` for one named like a subcommand)"),
        )
        .arg(
            Arg::new("name")
                .long("name")
                .help("The compiler's name, and its plugins' source (default: the path's last component)"),
        )
        .arg(
            Arg::new("core-path")
                .long("core-path")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Take brainsmith-core from a checkout of brainsmith-rs (default: crates.io)"),
        )
        .arg(
            Arg::new("standard-plugins")
                .long("standard-plugins")
                .action(ArgAction::SetTrue)
                .help("Also link the standard plugins (FINN's kernels, transforms and flow)"),
        )
        .subcommand(
            Command::new("kernel")
                .about("Add a kernel with typed node attributes (an elementwise max(x, 0) to start from)")
                .arg(name("The kernel's type name (UpperCamelCase)"))
                .arg(Arg::new("op-type").long("op-type").help("Its op type (default: its name)"))
                .arg(crate_arg()),
        )
        .subcommand(
            Command::new("backend")
                .about("Add an HLS backend of a kernel that `new kernel` wrote")
                .arg(name("The backend's type name (UpperCamelCase)"))
                .arg(
                    Arg::new("kernel")
                        .long("kernel")
                        .required(true)
                        .help("The kernel it generates code for (a kernel of the crate)"),
                )
                .arg(crate_arg()),
        )
        .subcommand(
            Command::new("transform")
                .about("Add a transform: a cleanup rewrite, or with --infers a kernel's mapping")
                .arg(name("The transform's type name (UpperCamelCase)"))
                .arg(
                    Arg::new("infers")
                        .long("infers")
                        .value_name("KERNEL")
                        .help("Map ONNX Relu nodes onto this kernel of the crate (one `new kernel` wrote)"),
                )
                .arg(crate_arg()),
        )
        .subcommand(
            Command::new("step")
                .about("Add a build step")
                .arg(name("The step's function name (snake_case)"))
                .arg(crate_arg()),
        )
}

fn run_new(args: &ArgMatches, io: &mut Io<'_>) -> Result<(), String> {
    use crate::scaffold::{self, Core, PluginTemplate, WorkspaceOptions};
    let text = |args: &ArgMatches, k: &str| args.get_one::<String>(k).cloned();
    let w = |e: std::io::Error| e.to_string();
    if let Some((kind, sub)) = args.subcommand() {
        let name = text(sub, "name").unwrap_or_default();
        let template = match kind {
            "kernel" => PluginTemplate::Kernel {
                name,
                op_type: text(sub, "op-type"),
            },
            "backend" => PluginTemplate::Backend {
                name,
                kernel: text(sub, "kernel").unwrap_or_default(),
            },
            "transform" => PluginTemplate::Transform {
                name,
                infers: text(sub, "infers"),
            },
            _ => PluginTemplate::Step { name },
        };
        let dir = sub.get_one::<PathBuf>("crate").cloned().unwrap_or_default();
        let added = scaffold::add_plugin(&dir, &template).map_err(|e| e.to_string())?;
        writeln!(
            io.out,
            "added {kind} {} in {} (declared in {})\nnext: cargo test --manifest-path {}",
            added.qualified_name,
            added.file.display(),
            added.lib.display(),
            dir.join("Cargo.toml").display()
        )
        .map_err(w)?;
        return Ok(());
    }
    let path = args.get_one::<PathBuf>("path").cloned().unwrap_or_default();
    let core = match args.get_one::<PathBuf>("core-path") {
        Some(dir) => Core::Path(dir.clone()),
        None => Core::Version(
            env!("CARGO_PKG_VERSION")
                .rsplit_once('.')
                .map_or(env!("CARGO_PKG_VERSION"), |(major_minor, _)| major_minor)
                .to_owned(),
        ),
    };
    let mut options = WorkspaceOptions::new(&path, core);
    options.name = text(args, "name");
    options.standard_plugins = args.get_flag("standard-plugins");
    let written = scaffold::new_workspace(&options).map_err(|e| e.to_string())?;
    writeln!(
        io.out,
        "wrote {} ({} files): a plugin crate and a compiler binary linking it\n\
         next: cd {} && cargo test && cargo run -- plugins --verbose",
        path.display(),
        written.len(),
        path.display()
    )
    .map_err(w)
}

fn compile_args(command: Command) -> Command {
    common_args(command)
    .arg(
        Arg::new("target-cycles")
            .long("target-cycles")
            .value_name("N")
            .value_parser(value_parser!(u64))
            .conflicts_with("target-fps")
            .help("Cycles per frame the slowest node may take (the folding target)"),
    )
    .arg(
        Arg::new("target-fps")
            .long("target-fps")
            .value_name("N")
            .value_parser(value_parser!(f64))
            .help("Frames per second to reach at the clock"),
    )
    .arg(
        Arg::new("prefer")
            .long("prefer")
            .value_parser(["hls", "rtl"])
            .help("Put every kernel's HLS or RTL backends first (a backend that refuses a node falls back to the next)"),
    )
}

fn dse_args(command: Command) -> Command {
    common_args(command)
    .arg(
        Arg::new("targets")
            .long("targets")
            .value_name("LIST")
            .value_delimiter(',')
            .value_parser(value_parser!(u64))
            .help("Folding targets in cycles per frame (default: the blueprint's [explore] target_cycles, else 250 to 50000)"),
    )
    .arg(
        Arg::new("prefer")
            .long("prefer")
            .value_name("LIST")
            .value_delimiter(',')
            .value_parser(["hls", "rtl", "blueprint"])
            .help("Backend preferences to try (`blueprint`: the blueprint's own order; default: the blueprint's [explore] prefer, else hls,rtl)"),
    )
}

fn common_args(command: Command) -> Command {
    command
        .arg(
            Arg::new("model")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("The QONNX (or FINN-ONNX) model"),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .required(true)
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("The output directory, written only when the compile succeeds"),
        )
        .arg(
            Arg::new("blueprint")
                .long("blueprint")
                .value_parser(value_parser!(PathBuf))
                .help("The blueprint to run (default: FINN's flow, shipped with the binary)"),
        )
        .arg(
            Arg::new("part")
                .long("part")
                .default_value("xc7z020clg400-1")
                .help("The FPGA part whose resources the design must fit"),
        )
        .arg(
            Arg::new("clock-ns")
                .long("clock-ns")
                .default_value("10")
                .value_parser(value_parser!(f64))
                .help("The clock period in nanoseconds"),
        )
        .arg(
            Arg::new("frames")
                .long("frames")
                .default_value("20")
                .value_parser(value_parser!(usize))
                .help("Seeded frames simulated and checked against the model (0: none)"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Replace the output directory if it exists"),
        )
}

fn options(args: &ArgMatches) -> compile::Options {
    let path = |k: &str| args.get_one::<PathBuf>(k).cloned();
    let mut options = compile::Options::new(
        path("model").unwrap_or_default(),
        path("output").unwrap_or_default(),
    );
    options.blueprint = path("blueprint");
    if let Some(part) = args.get_one::<String>("part") {
        options.part.clone_from(part);
    }
    options.clock_ns = args.get_one::<f64>("clock-ns").copied().unwrap_or(10.0);
    options.check_frames = args.get_one::<usize>("frames").copied().unwrap_or(20);
    options.force = args.get_flag("force");
    options
}

use compile::dse::language;

fn run_compile(args: &ArgMatches, io: &mut Io<'_>) -> Result<(), String> {
    let mut options = options(args);
    options.target_cycles = args.get_one::<u64>("target-cycles").copied();
    options.target_fps = args.get_one::<f64>("target-fps").copied();
    options.prefer = args.get_one::<String>("prefer").and_then(|p| language(p));
    let colour = io.colour;
    let err = &mut *io.err;
    let mut progress = |what: &str| {
        if colour {
            let _ = write!(err, "\r\x1b[2K{what}");
        }
    };
    let result = compile::compile(io.registry, &options, &mut progress);
    if colour {
        let _ = write!(io.err, "\r\x1b[2K");
    }
    let compiled = result?;
    for w in &compiled.warnings {
        let _ = writeln!(io.err, "warning: {w}");
    }
    let text = compiled.report.to_text();
    write!(io.out, "{text}").map_err(|e| e.to_string())?;
    let total: f64 = ["blueprint", "partition_and_generate", "write"]
        .iter()
        .filter_map(|k| compiled.report.seconds.get(*k))
        .sum();
    writeln!(
        io.out,
        "wrote {} ({:.1} ms to compile; report.txt, report.json, dataflow.svg)",
        compiled.dir.display(),
        total * 1e3
    )
    .map_err(|e| e.to_string())
}

fn simulate_args(command: Command) -> Command {
    command
        .arg(
            Arg::new("dir")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("A directory `brainsmith compile` wrote"),
        )
        .arg(
            Arg::new("input")
                .long("input")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .help("Input frames (.npy): the model's input shape, or frames stacked on a leading axis"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_parser(value_parser!(PathBuf))
                .help("Where to write the outputs (.npy), stacked the same way"),
        )
}

fn run_simulate(args: &ArgMatches, io: &mut Io<'_>) -> Result<(), String> {
    let dir = args.get_one::<PathBuf>("dir").cloned().unwrap_or_default();
    let input = args
        .get_one::<PathBuf>("input")
        .cloned()
        .unwrap_or_default();
    let output = args.get_one::<PathBuf>("output").cloned();
    if let Some(out) = &output {
        brainsmith_core::fsutil::output_target(out)
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    let array = npy::read(&input)?;
    let (result, dtype, summary) = compile::simulate(io.registry, &dir, &array)?;
    if let Some(out) = &output {
        brainsmith_core::fsutil::write_atomic(out, &npy::encode(&result, dtype))
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    let out = &mut *io.out;
    let w = |e: std::io::Error| e.to_string();
    writeln!(
        out,
        "simulated {} frame(s) in {:.3} s",
        summary.frames, summary.seconds
    )
    .map_err(w)?;
    for (node, measured, estimate) in &summary.rtl {
        writeln!(
            out,
            "  {node}: {measured} cycles per frame measured in RTL simulation, {} estimated",
            estimate.map_or_else(|| "none".to_owned(), |e| e.to_string())
        )
        .map_err(w)?;
    }
    if summary.rtl.is_empty() {
        writeln!(
            out,
            "  no RTL node: cycles are not measured (HLS C++ simulation is untimed); the design \
             is estimated at {} cycles per frame",
            summary
                .estimated_cycles
                .map_or_else(|| "unknown".to_owned(), |c| c.to_string())
        )
        .map_err(w)?;
    }
    if output.is_none() {
        let shown: Vec<String> = result
            .values
            .iter()
            .take(20)
            .map(|v| v.to_string())
            .collect();
        writeln!(
            out,
            "output {:?}: {}{}",
            result.shape,
            shown.join(" "),
            if result.values.len() > 20 { " ..." } else { "" }
        )
        .map_err(w)?;
    }
    Ok(())
}

fn run_dse(args: &ArgMatches, io: &mut Io<'_>) -> Result<(), String> {
    let options = options(args);
    let targets: Vec<u64> = args
        .get_many::<u64>("targets")
        .map(|v| v.copied().collect())
        .unwrap_or_default();
    let prefers: Vec<Option<Language>> = args
        .get_many::<String>("prefer")
        .into_iter()
        .flatten()
        .map(|p| language(p))
        .collect();
    let colour = io.colour;
    let err = &mut *io.err;
    let mut progress = |what: &str| {
        if colour {
            let _ = write!(err, "\r\x1b[2K{what}");
        }
    };
    let result = compile::dse::explore(io.registry, &options, &targets, &prefers, &mut progress);
    if colour {
        let _ = write!(io.err, "\r\x1b[2K");
    }
    let explored = result?;
    for w in &explored.compiled.warnings {
        let _ = writeln!(io.err, "warning: {w}");
    }
    let w = |e: std::io::Error| e.to_string();
    write!(io.out, "{}", compile::dse::table(&explored.points)).map_err(w)?;
    writeln!(io.out).map_err(w)?;
    write!(io.out, "{}", explored.compiled.report.to_text()).map_err(w)?;
    writeln!(
        io.out,
        "wrote {} (dse.txt, dse.json, report.txt, report.json, dataflow.svg)",
        explored.compiled.dir.display()
    )
    .map_err(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands are deferred, so clap checks only the one that runs: this builds and
    /// checks each, and that its deferred arguments arrive.
    #[test]
    fn every_command_passes_claps_checks() {
        for (command, arg) in [
            (
                deferred("compile", COMPILE_ABOUT, compile_args),
                "target-fps",
            ),
            (deferred("simulate", SIMULATE_ABOUT, simulate_args), "dir"),
            (deferred("dse", DSE_ABOUT, dse_args), "targets"),
            (deferred("new", NEW_ABOUT, new_args), "core-path"),
        ] {
            let mut built = command.clone();
            built.build();
            assert!(
                built.get_arguments().any(|a| a.get_id() == arg),
                "{}",
                command.get_name()
            );
            command.debug_assert();
        }
    }
}
