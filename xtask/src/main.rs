//! `cargo xtask`: the repository's automation, one binary with subcommands.
//!
//! Every generated file in the repository is written by a subcommand here, carries a
//! "generated, do not edit" header and has a `--check` mode that a test runs.

mod codegen;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [--check]

commands:
  codegen     regenerate the ONNX protobuf bindings from the vendored onnx-ml.proto
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(util::mode(&args[1..])),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
