//! `cargo xtask`: the repository's automation, one binary with subcommands.
//!
//! Every generated file in the repository is written by a subcommand here, carries a
//! "generated, do not edit" header and has a `--check` mode that a test runs, so a
//! stale file fails `cargo test` with the command that fixes it.

// Link every plugin crate of the workspace; `manifest` reports one that is missing.
use acme_plugins as _;
use brainsmith_plugins as _;

mod bench;
mod bench_gen;
mod bench_hw;
mod bench_transforms;
mod codegen;
mod dist;
mod fuzz;
mod manifest;
mod tidy;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  codegen [--check]                      regenerate the ONNX bindings from the vendored onnx-ml.proto
  manifest [--check] [--format toml|json]  regenerate the plugin manifest (both formats by default)
  bench-gen N [N ...]                    write throwaway crates with N plugins (ours, linkme, inventory, Python)
  bench [--sizes 0,100,1000,10000] [--runs R]  measure them all and write BENCHMARKS.md
  bench-transforms [--runs R] [--chains 100,1000,10000,100000] [--oracle-chain-max N] [--python PATH]
                   [--light all|none|bvlc_alexnet,vgg19,...]
                                         the cleanup recipe, ours against the qonnx oracle, the transforms and
                                         the whole command (with the onnx package's light models); writes
                                         BENCHMARKS-transforms.md
  bench-hw [--runs R] [--finn-runs R] [--finn-python PATH]
                                         FINN's flow to hardware sources, ours against finn-plus; writes BENCHMARKS-hw.md
  dist [--profile NAME]                  the brainsmith binary as shipped: profile dist (fat LTO), static and
                                         position-dependent on Linux with glibc; target/dist/brainsmith
  fuzz [--target T]... [--seconds N | --iterations K] [--seed S]
                                         the mutation fuzzer (onnx, blueprint, apply, manifest, transforms);
                                         a crash is saved under target/fuzz/crashes and fails the run
  fuzz --target T --reproduce FILE       runs one saved input
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(util::mode(rest)),
        Some("manifest") => manifest::run(util::mode(rest), rest),
        Some("bench") => bench::run(rest),
        Some("bench-gen") => bench_gen::run(rest),
        Some("bench-transforms") => bench_transforms::run(rest),
        Some("bench-hw") => bench_hw::run(rest),
        Some("dist") => dist::run(rest),
        Some("fuzz") => fuzz::run(rest),
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

#[cfg(test)]
mod tests {
    use crate::util::Mode;

    #[test]
    fn onnx_bindings_are_fresh() {
        if let Err(e) = crate::codegen::run(Mode::Check) {
            panic!("{e}");
        }
    }

    #[test]
    fn plugin_manifest_is_fresh() {
        if let Err(e) = crate::manifest::run(Mode::Check, &[]) {
            panic!("{e}");
        }
    }
}
