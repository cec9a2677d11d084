//! The fuzzer's binary (`cargo xtask fuzz` builds it in release mode and runs it); the
//! fuzzer itself is `brainsmith_tests::fuzz`.

fn main() -> std::process::ExitCode {
    brainsmith_tests::fuzz::main()
}
