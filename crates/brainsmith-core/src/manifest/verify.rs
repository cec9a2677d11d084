//! [`Registry::verify`]: a binary's plugins against a manifest used as an allowlist.

use std::collections::BTreeSet;
use std::fmt;

use super::diff::{Change, entry_changes};
use super::{Manifest, PluginEntry};
use crate::registry::Registry;

/// The differences between a binary's registry and a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// `kind qualified_name` of plugins the manifest lists but the binary lacks.
    pub missing: Vec<String>,
    /// `kind qualified_name` of plugins the binary links but the manifest does not list.
    pub unexpected: Vec<String>,
    /// Plugins in both whose contract differs: `kind qualified_name: what` (a priority, a
    /// stage, a configuration key, a node attribute, ...).
    pub changed: Vec<String>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the binary's plugins differ from the manifest")?;
        for m in &self.missing {
            write!(f, "\n  missing from the binary: {m}")?;
        }
        for u in &self.unexpected {
            write!(f, "\n  not in the manifest:     {u}")?;
        }
        for c in &self.changed {
            write!(f, "\n  changed:                 {c}")?;
        }
        f.write_str(
            "\nlink the missing plugin crates (`use the_crate as _;`), or regenerate the manifest \
             if the change is intended",
        )
    }
}

impl std::error::Error for VerifyError {}

impl Registry {
    /// Checks that this registry holds exactly the plugins `manifest` lists, by kind and
    /// qualified name, and that each one's contract is the one listed: its stage, what it
    /// infers and consumes, its op types and domain, its kernel, language and priority,
    /// its configuration keys (type, required, default) and node attributes (type,
    /// required, default, legal values). Documentation and source locations may differ.
    pub fn verify(&self, manifest: &Manifest) -> Result<(), VerifyError> {
        let linked: BTreeSet<String> = self
            .plugins()
            .iter()
            .map(|p| format!("{} {}", p.kind(), p.qualified_name()))
            .collect();
        let listed: BTreeSet<String> = manifest
            .plugins
            .iter()
            .map(|p| format!("{} {}", p.kind, p.qualified_name))
            .collect();
        let missing: Vec<String> = listed.difference(&linked).cloned().collect();
        let unexpected: Vec<String> = linked.difference(&listed).cloned().collect();
        let ours: std::collections::BTreeMap<String, PluginEntry> = self
            .plugins()
            .iter()
            .map(|p| {
                let e = PluginEntry::new(self.typed(p), None);
                (format!("{} {}", e.kind, e.qualified_name), e)
            })
            .collect();
        let mut changed = Vec::new();
        for listed in &manifest.plugins {
            let key = format!("{} {}", listed.kind, listed.qualified_name);
            if let Some(linked) = ours.get(&key) {
                for what in contract_differences(listed, linked) {
                    changed.push(format!("{key}: {what}"));
                }
            }
        }
        if missing.is_empty() && unexpected.is_empty() && changed.is_empty() {
            Ok(())
        } else {
            Err(VerifyError {
                missing,
                unexpected,
                changed,
            })
        }
    }
}

/// What differs between a listed and a linked entry's contract, each as "<what>: <listed>
/// in the manifest, <linked> in the binary".
fn contract_differences(listed: &PluginEntry, linked: &PluginEntry) -> Vec<String> {
    entry_changes(listed, linked)
        .into_iter()
        .filter(Change::is_contract)
        .map(|c| match c {
            Change::Field {
                field,
                before,
                after,
            } => format!("{field} {before} in the manifest, {after} in the binary"),
            Change::Removed { field, item } => format!("{field} {item} is not the binary's"),
            Change::Added { field, item } => format!("{field} {item} is not in the manifest"),
        })
        .collect()
}

/// The plugin crates of the Cargo workspace at `workspace` (a directory with a
/// `Cargo.toml`) that this registry has no plugin from: each a library that depends on
/// brainsmith-core and whose sources carry a plugin attribute (`#[kernel(...)]`,
/// `#[brainsmith_core::transform(...)]`, ...), as (package name, the line that links it).
pub fn unlinked_plugin_crates(
    registry: &Registry,
    workspace: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = workspace.join("Cargo.toml");
    let out = std::process::Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata on {} failed: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata gave no JSON: {e}"))?;
    let linked: BTreeSet<&str> = registry.plugins().iter().map(|p| p.crate_name()).collect();
    let mut unlinked = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let uses_core = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "brainsmith-core" && d["kind"].is_null());
        let lib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib" || k == "rlib"))
            });
        let Some(src) = lib.and_then(|t| t["src_path"].as_str()) else {
            continue;
        };
        if !uses_core || linked.contains(name) || name == "brainsmith-core" {
            continue;
        }
        let dir = std::path::Path::new(src)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        if declares_plugins(dir) {
            unlinked.push((
                name.to_owned(),
                format!("use {} as _;", name.replace('-', "_")),
            ));
        }
    }
    Ok(unlinked)
}

/// Whether a Rust source under `dir` (recursively) carries a plugin attribute.
fn declares_plugins(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            declares_plugins(&path)
        } else if path.extension().is_some_and(|x| x == "rs") {
            std::fs::read_to_string(&path).is_ok_and(|text| {
                // `#[kernel(`, `#[brainsmith_core::kernel(`, ...: the attribute's last
                // path segment.
                text.split("#[").skip(1).any(|rest| {
                    let path = rest.split(['(', ']']).next().unwrap_or_default().trim();
                    let last = path.rsplit("::").next().unwrap_or_default();
                    !path.contains(char::is_whitespace)
                        && matches!(last, "transform" | "kernel" | "backend" | "step")
                })
            })
        } else {
            false
        }
    })
}
