//! `cargo xtask dist`: the `brainsmith` binary as it is shipped and benchmarked.
//!
//! On Linux with glibc it is linked statically and position-dependent
//! (`-C target-feature=+crt-static -C relocation-model=static`, given to the binary's own
//! crate only, through `cargo rustc`): no dynamic loader runs, no library is mapped, no
//! symbol is looked up and no relocation is applied when it starts. A short command is
//! mostly that start. Measured on `transform` of a one-node model with the cleanup recipe
//! (interleaved runs, medians): 1.78 ms dynamically linked, 1.25 ms static; with the
//! `dist` profile's fat LTO, 0.87 ms against 0.94 ms for the static release build, where
//! a static hello-world takes 0.52 ms. See BENCHMARKS-transforms.md for the whole command
//! on every model.
//!
//! The flags cannot live in `.cargo/config.toml`: there they would reach the workspace's
//! proc-macro crates, which a `crt-static` target cannot build, unless every build named
//! `--target` and moved its output. Elsewhere (macOS, musl, Windows) the binary is built
//! with the same profile and without those flags.
//!
//! mimalloc is compiled with `MI_NO_GETENV` (added to `CFLAGS` for this build alone): it
//! then takes its defaults rather than reading some forty `MIMALLOC_*` options from the
//! environment as it starts, a scan of every variable for each option that was 124,000
//! of the 1.08 million instructions of a small model's whole `transform` (callgrind). The
//! shipped binary's allocator is ours to tune, not its user's.
//!
//! It is built with the `dist` profile (release with fat LTO and one codegen unit) into
//! `target/dist/brainsmith`, checked to be what this says (an ELF executable with no
//! interpreter, where static is asked for), and run: `--version`, and `plugins`, which
//! must list every standard plugin the xtask itself links.

use crate::util::workspace_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether this host links the binary statically (the host is the target: `dist` does
/// not cross-compile).
const STATIC: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut profile = "dist".to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--profile" => {
                profile = args
                    .next()
                    .ok_or("--profile needs a value (dist, release, dev, ...)")?
                    .clone();
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` to `cargo xtask dist`; it takes \
                     `--profile NAME` (default dist)"
                ));
            }
        }
    }
    let bin = build(&workspace_root(), &profile)?;
    println!("{}", bin.display());
    Ok(())
}

/// Builds the binary with `profile` and checks it; returns its path
/// (`target/<profile>/brainsmith`, `target/debug` for `dev`, under `CARGO_TARGET_DIR` when
/// set).
pub(crate) fn build(root: &Path, profile: &str) -> Result<PathBuf, String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "rustc",
        "--quiet",
        "--profile",
        profile,
        "-p",
        "brainsmith-plugins",
        "--bin",
        "brainsmith",
    ]);
    let mut cflags = std::env::var("CFLAGS").unwrap_or_default();
    cflags.push_str(" -DMI_NO_GETENV");
    cmd.env("CFLAGS", cflags.trim_start());
    if STATIC {
        cmd.args([
            "--",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "relocation-model=static",
        ]);
    }
    let status = cmd
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the brainsmith binary (profile {profile}) failed"
        ));
    }
    // Cargo's output directories of the built-in profiles `dev`, `test` and `bench`.
    let dir = match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    };
    let out = crate::util::target_dir(root)
        .join(dir)
        .join(format!("brainsmith{}", std::env::consts::EXE_SUFFIX));
    if STATIC {
        let bytes = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        match elf_kind(&bytes) {
            Some(Elf::Static) => {}
            Some(kind) => {
                return Err(format!(
                    "{} is {kind:?}, not the static, position-dependent executable asked for",
                    out.display()
                ));
            }
            None => return Err(format!("{} is not a 64-bit ELF file", out.display())),
        }
    }
    let version = Command::new(&out)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", out.display()))?;
    if !version.status.success() || !version.stdout.starts_with(b"brainsmith ") {
        return Err(format!(
            "{} --version did not answer: {}",
            out.display(),
            String::from_utf8_lossy(&version.stderr)
        ));
    }
    // Every plugin of the standard library is registered: an optimisation or a linker
    // that dropped a record would show here, not in a user's listing.
    let listing = Command::new(&out)
        .args(["plugins", "--format", "json"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", out.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&listing.stdout).map_err(|e| {
        format!(
            "{} plugins --format json did not answer JSON ({e}): {}",
            out.display(),
            String::from_utf8_lossy(&listing.stderr)
        )
    })?;
    let listed: std::collections::BTreeSet<&str> = json["plugin"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["qualified_name"].as_str())
        .collect();
    let registry = brainsmith_core::Registry::global().map_err(|e| e.to_string())?;
    let missing: Vec<&str> = registry
        .plugins()
        .iter()
        .filter(|p| p.source() == "brainsmith")
        .map(|p| p.qualified_name())
        .filter(|name| !listed.contains(name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} does not register {} of the standard plugins: {}",
            out.display(),
            missing.len(),
            missing.join(", ")
        ));
    }
    Ok(out)
}

/// What an ELF file's headers say about how it starts.
#[derive(Debug, PartialEq, Eq)]
enum Elf {
    /// Position-dependent (`ET_EXEC`) with no program interpreter: the kernel jumps
    /// straight to it.
    Static,
    /// Position-independent (`ET_DYN`) with no interpreter: it relocates itself.
    StaticPie,
    /// It names a program interpreter (the dynamic loader).
    Dynamic,
    /// Neither an executable nor a shared object.
    Other,
}

/// Reads a little-endian 64-bit ELF header and its program headers.
fn elf_kind(bytes: &[u8]) -> Option<Elf> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let kind = u16_at(16)?;
    let phoff = usize::try_from(u64_at(32)?).ok()?;
    let phentsize = usize::from(u16_at(54)?);
    let phnum = usize::from(u16_at(56)?);
    const PT_INTERP: u32 = 3;
    let mut interpreter = false;
    for i in 0..phnum {
        if u32_at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP {
            interpreter = true;
        }
    }
    Some(match (kind, interpreter) {
        (_, true) => Elf::Dynamic,
        (2, false) => Elf::Static,
        (3, false) => Elf::StaticPie,
        _ => Elf::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::{Elf, elf_kind};

    /// A minimal ELF64 header of type `kind` with one program header of type `ptype`.
    fn elf(kind: u16, ptype: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&kind.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&ptype.to_le_bytes());
        b
    }

    #[test]
    fn elf_headers_are_classified() {
        assert_eq!(elf_kind(&elf(2, 1)), Some(Elf::Static));
        assert_eq!(elf_kind(&elf(3, 1)), Some(Elf::StaticPie));
        assert_eq!(elf_kind(&elf(3, 3)), Some(Elf::Dynamic));
        assert_eq!(elf_kind(&elf(2, 3)), Some(Elf::Dynamic));
        assert_eq!(elf_kind(&elf(1, 1)), Some(Elf::Other));
        assert_eq!(elf_kind(b"#!/bin/sh\n"), None);
        // Program headers that run past the end are not read.
        let mut short = elf(2, 3);
        short.truncate(66);
        assert_eq!(elf_kind(&short), None);
    }

    /// The test binary itself is a dynamically linked ELF on Linux with glibc.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn this_test_binary_is_read_as_dynamic() {
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(me).unwrap();
        assert_eq!(elf_kind(&bytes), Some(Elf::Dynamic));
    }
}
