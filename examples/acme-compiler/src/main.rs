//! An example compiler: the brainsmith command line with the standard plugins and acme's,
//! under its own name and version (`acme-compiler --version`).

use acme_plugins as _;
use brainsmith_plugins as _;

fn main() -> std::process::ExitCode {
    brainsmith_core::cli::app!().main()
}
