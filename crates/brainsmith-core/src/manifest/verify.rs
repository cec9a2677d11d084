//! [`Registry::verify`]: a binary's plugins against a manifest used as an allowlist.

use std::collections::BTreeSet;
use std::fmt;

use super::Manifest;
use crate::registry::Registry;

/// The differences between a binary's registry and a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// `kind qualified_name` of plugins the manifest lists but the binary lacks.
    pub missing: Vec<String>,
    /// `kind qualified_name` of plugins the binary links but the manifest does not list.
    pub unexpected: Vec<String>,
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
        f.write_str(
            "\nlink the missing plugin crates (`use the_crate as _;`), or regenerate the manifest \
             if the change is intended",
        )
    }
}

impl std::error::Error for VerifyError {}

impl Registry {
    /// Checks that this registry holds exactly the plugins `manifest` lists, by kind and
    /// qualified name.
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
        if missing.is_empty() && unexpected.is_empty() {
            Ok(())
        } else {
            Err(VerifyError {
                missing,
                unexpected,
            })
        }
    }
}
