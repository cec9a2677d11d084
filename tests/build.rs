//! Sets `cfg(oracle)` when the qonnx oracle can run (its venv exists, or CI requires it),
//! so that the tests that only compare with it are reported as ignored, with the reason,
//! where it is missing, rather than as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(oracle)");
    for var in ["BRAINSMITH_ORACLE_PYTHON", "BRAINSMITH_REQUIRE_ORACLE"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    let python = std::env::var_os("BRAINSMITH_ORACLE_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/oracle-venv/bin/python".into());
    if std::env::var_os("BRAINSMITH_REQUIRE_ORACLE").is_some() || python.is_file() {
        println!("cargo::rustc-cfg=oracle");
    }
}
