//! The `brainsmith-dev` binary; everything is in the library (`brainsmith_dev::main`).

fn main() -> std::process::ExitCode {
    brainsmith_dev::main()
}
