//! Building the compiler with cargo and asking it for its manifest: the only two ways this
//! tool learns anything about plugins.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use brainsmith_core::manifest::{FORMAT_VERSION, Manifest};
use serde_json::Value;

use crate::workspace::Workspace;

/// The result of one `cargo build`.
#[derive(Debug, Default)]
pub(crate) struct Build {
    /// The built executable, when the build succeeded.
    pub(crate) executable: Option<PathBuf>,
    /// Each error as rustc renders it (ANSI-coloured when asked for).
    pub(crate) errors: Vec<String>,
    /// How many warnings rustc gave.
    pub(crate) warnings: usize,
    /// Cargo's own messages (`error: failed to parse manifest ...`), progress lines
    /// removed: what explains a failure that rustc did not report.
    pub(crate) cargo_messages: String,
}

/// Builds `ws`'s binary; `Err` only when cargo cannot be run at all.
pub(crate) fn build(cargo: &Path, ws: &Workspace, colour: bool) -> Result<Build, String> {
    let format = if colour {
        "json-diagnostic-rendered-ansi"
    } else {
        "json"
    };
    let out = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&ws.manifest_path)
        .args(["--package", &ws.package, "--bin", &ws.bin])
        .arg(format!("--message-format={format}"))
        .args(["--color", if colour { "always" } else { "never" }])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{} build`: {e}", cargo.display()))?;
    let mut build = Build::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match message["reason"].as_str() {
            Some("compiler-message") => {
                let level = message["message"]["level"].as_str().unwrap_or_default();
                let rendered = message["message"]["rendered"].as_str().unwrap_or_default();
                if level.starts_with("error") {
                    build.errors.push(rendered.trim_end().to_owned());
                } else if level == "warning" {
                    build.warnings += 1;
                }
            }
            Some("compiler-artifact")
                if message["target"]["name"] == ws.bin.as_str()
                    && message["target"]["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin")) =>
            {
                build.executable = message["executable"].as_str().map(PathBuf::from);
            }
            _ => {}
        }
    }
    build.cargo_messages = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| {
            let l = strip_ansi(l);
            let word = l.split_whitespace().next().unwrap_or_default();
            // Progress: `Compiling x`, `Finished ...`, `Blocking waiting for file lock`.
            !matches!(
                word,
                "Compiling"
                    | "Checking"
                    | "Finished"
                    | "Blocking"
                    | "Locking"
                    | "Updating"
                    | "Downloading"
                    | "Downloaded"
                    | "Adding"
            ) && !l.trim().is_empty()
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !out.status.success() {
        build.executable = None;
    }
    Ok(build)
}

/// Runs `exe manifest --format json --root ROOT` and reads what it prints.
pub(crate) fn manifest(exe: &Path, ws: &Workspace) -> Result<Manifest, String> {
    let shown = format!("{} manifest --format json", ws.bin);
    let out = Command::new(exe)
        .args(["manifest", "--format", "json", "--root"])
        .arg(&ws.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` failed ({}): {}; the compiler must run brainsmith_core's command line \
             (`brainsmith_core::cli::app!().main()`) and load its registry",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Manifest::from_json(&text).map_err(|e| {
        format!(
            "`{shown}` printed no manifest this tool can read ({}); brainsmith-dev {} reads \
             format version {FORMAT_VERSION}: build both against the same brainsmith-core",
            e.message,
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
