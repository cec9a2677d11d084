//! `cargo xtask fuzz`: builds the fuzzer (`brainsmith_tests::fuzz`, the `fuzz` binary of
//! the tests crate) in release mode and runs it with the given arguments.
//!
//! The fuzzer lives in the tests crate rather than here so that xtask stays a debug
//! build with few dependencies while the targets run optimised; it is its own watchdog
//! (a child of itself), so a crash that kills the process is still saved.

use std::process::Command;

use crate::util::workspace_root;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let target_dir = crate::util::target_dir(&root);
    eprintln!("building the fuzzer (release)...");
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "brainsmith-tests",
            "--bin",
            "fuzz",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("cargo build --release -p brainsmith-tests --bin fuzz failed".into());
    }
    let mut args = args.to_vec();
    if !args.iter().any(|a| a == "--out") {
        args.extend([
            "--out".into(),
            target_dir.join("fuzz").display().to_string(),
        ]);
    }
    let status = Command::new(target_dir.join("release/fuzz"))
        .current_dir(&root)
        .args(&args)
        .status()
        .map_err(|e| format!("cannot run the fuzzer: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the fuzzer failed ({status})"))
    }
}
