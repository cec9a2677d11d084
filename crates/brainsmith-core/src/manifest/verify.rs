//! [`Registry::verify`]: a binary's plugins against a manifest used as an allowlist.

use std::collections::BTreeSet;
use std::fmt;

use super::{AttrEntry, ConfigEntry, Manifest, PluginEntry};
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
    let mut out = Vec::new();
    let mut field = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} {a} in the manifest, {b} in the binary"));
        }
    };
    let show = |v: &dyn fmt::Debug| format!("{v:?}");
    field("stage", show(&listed.stage), show(&linked.stage));
    field("infers", show(&listed.infers), show(&linked.infers));
    field("op types", show(&listed.op_types), show(&linked.op_types));
    field("consumes", show(&listed.consumes), show(&linked.consumes));
    field("domain", show(&listed.domain), show(&linked.domain));
    field("kernel", show(&listed.kernel), show(&linked.kernel));
    field("language", show(&listed.language), show(&linked.language));
    field("priority", show(&listed.priority), show(&linked.priority));
    let config = |c: &[ConfigEntry]| -> Vec<String> {
        c.iter()
            .map(|e| {
                format!(
                    "{} ({}, required {}, default {:?})",
                    e.name, e.ty, e.required, e.default
                )
            })
            .collect()
    };
    let (a, b) = (config(&listed.config), config(&linked.config));
    for x in a.iter().filter(|x| !b.contains(x)) {
        out.push(format!("configuration key {x} is not the binary's"));
    }
    for x in b.iter().filter(|x| !a.contains(x)) {
        out.push(format!("configuration key {x} is not in the manifest"));
    }
    let attrs = |c: &[AttrEntry]| -> Vec<String> {
        c.iter()
            .map(|e| {
                format!(
                    "{} ({}, required {}, default {:?}, allowed {:?})",
                    e.name, e.ty, e.required, e.default, e.allowed
                )
            })
            .collect()
    };
    let (a, b) = (attrs(&listed.attributes), attrs(&linked.attributes));
    for x in a.iter().filter(|x| !b.contains(x)) {
        out.push(format!("node attribute {x} is not the binary's"));
    }
    for x in b.iter().filter(|x| !a.contains(x)) {
        out.push(format!("node attribute {x} is not in the manifest"));
    }
    out
}
