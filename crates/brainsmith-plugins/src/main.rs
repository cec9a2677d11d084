//! The reference `brainsmith` binary: the core command line over the standard plugins.

use brainsmith_plugins as _;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    brainsmith_core::cli::main()
}
