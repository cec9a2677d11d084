//! The reference `brainsmith` binary: the core command line over the standard plugins.

use brainsmith_plugins as _;

fn main() -> std::process::ExitCode {
    brainsmith_core::cli::main()
}
