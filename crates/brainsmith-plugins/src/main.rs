//! The reference `brainsmith` binary: the core command line over the standard plugins,
//! with the standard library's own commands (`compile`, `simulate`).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    brainsmith_plugins::cli::app().main()
}
