//! What changed between two manifests: plugins added, removed, and changed field by field.
//! [`Registry::verify`](crate::Registry::verify) reports the contract part of it; tools
//! that follow a registry over time (`brainsmith-dev watch`) show all of it.

use std::collections::BTreeMap;
use std::fmt;

use super::{AttrEntry, ConfigEntry, Manifest, PluginEntry};

/// One difference between two entries of the same plugin (same kind and qualified name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A field whose value differs, each value as text (`none` for an absent one, lists
    /// as `[a, b]`).
    Field {
        /// What the field is called in messages: `stage`, `priority`, `summary`, ...
        field: &'static str,
        /// The old entry's value.
        before: String,
        /// The new entry's value.
        after: String,
    },
    /// A configuration key or node attribute that only the old entry declares, or whose
    /// declaration (type, required, default, legal values) changed.
    Removed {
        /// `configuration key` or `node attribute`.
        field: &'static str,
        /// `name (type, required ..., default ...)`.
        item: String,
    },
    /// A configuration key or node attribute that only the new entry declares, or whose
    /// declaration changed.
    Added {
        /// `configuration key` or `node attribute`.
        field: &'static str,
        /// `name (type, required ..., default ...)`.
        item: String,
    },
}

/// The fields that are part of a plugin's contract, what a build that uses it relies on.
/// The others (documentation, version, author, tags, crate, Rust path, source location,
/// a kernel's backends and inferring transforms, which follow from other plugins) may
/// change without breaking anyone.
const CONTRACT: &[&str] = &[
    "stage",
    "infers",
    "op types",
    "consumes",
    "domain",
    "kernel",
    "language",
    "priority",
    CONFIG_KEY,
    NODE_ATTRIBUTE,
];

const CONFIG_KEY: &str = "configuration key";
const NODE_ATTRIBUTE: &str = "node attribute";

/// The field of a [`Change::Field`] that holds a source location, `file:line:column`.
pub const LOCATION: &str = "location";

impl Change {
    /// The name of the field that changed.
    pub fn field(&self) -> &'static str {
        match self {
            Change::Field { field, .. }
            | Change::Removed { field, .. }
            | Change::Added { field, .. } => field,
        }
    }

    /// Whether the change is to the plugin's contract (stage, what it infers and consumes,
    /// op types, domain, kernel, language, priority, configuration keys, node attributes),
    /// the part [`Registry::verify`](crate::Registry::verify) checks.
    pub fn is_contract(&self) -> bool {
        CONTRACT.contains(&self.field())
    }
}

impl fmt::Display for Change {
    /// `priority 10 -> 12`, `configuration key pe (u32, ...) removed`, `... added`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Field {
                field,
                before,
                after,
            } => write!(f, "{field} {before} -> {after}"),
            Change::Removed { field, item } => write!(f, "{field} {item} removed"),
            Change::Added { field, item } => write!(f, "{field} {item} added"),
        }
    }
}

/// What differs from `before` to `after`, two entries of one plugin, in a fixed order:
/// the contract fields first, then the summary, the rest of the docs, version, author,
/// tags, crate, Rust path, location, backends and inferring transforms.
pub fn entry_changes(before: &PluginEntry, after: &PluginEntry) -> Vec<Change> {
    let mut out = Vec::new();
    let mut field = |field: &'static str, a: String, b: String| {
        if a != b {
            out.push(Change::Field {
                field,
                before: a,
                after: b,
            });
        }
    };
    let opt = |v: Option<&dyn fmt::Display>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let list = |v: &[String]| format!("[{}]", v.join(", "));
    field("stage", opt(disp(&before.stage)), opt(disp(&after.stage)));
    field(
        "infers",
        opt(disp(&before.infers)),
        opt(disp(&after.infers)),
    );
    field("op types", list(&before.op_types), list(&after.op_types));
    field("consumes", list(&before.consumes), list(&after.consumes));
    field(
        "domain",
        opt(disp(&before.domain)),
        opt(disp(&after.domain)),
    );
    field(
        "kernel",
        opt(disp(&before.kernel)),
        opt(disp(&after.kernel)),
    );
    field(
        "language",
        opt(disp(&before.language)),
        opt(disp(&after.language)),
    );
    field(
        "priority",
        opt(disp(&before.priority)),
        opt(disp(&after.priority)),
    );
    let quoted = |s: &str| format!("{s:?}");
    field("summary", quoted(&before.summary), quoted(&after.summary));
    if before.docs != after.docs {
        // The whole text would flood a message; say that it changed.
        field("docs", "(text)".into(), "(other text)".into());
    }
    field(
        "version",
        opt(disp(&before.version)),
        opt(disp(&after.version)),
    );
    field(
        "author",
        opt(disp(&before.author)),
        opt(disp(&after.author)),
    );
    field("tags", list(&before.tags), list(&after.tags));
    field(
        "crate",
        format!("{} {}", before.crate_name, before.crate_version),
        format!("{} {}", after.crate_name, after.crate_version),
    );
    field(
        "rust path",
        before.rust_path.clone(),
        after.rust_path.clone(),
    );
    let location = |e: &PluginEntry| format!("{}:{}:{}", e.file, e.line, e.column);
    field(LOCATION, location(before), location(after));
    field("backends", list(&before.backends), list(&after.backends));
    field(
        "inferred by",
        list(&before.inferred_by),
        list(&after.inferred_by),
    );
    // Keys and attributes by declaration, so a changed one reads as removed and added.
    let config = |c: &[ConfigEntry]| -> Vec<String> {
        c.iter()
            .map(|e| {
                format!(
                    "{} ({}, required {}, default {})",
                    e.name,
                    e.ty,
                    e.required,
                    opt(disp(&e.default))
                )
            })
            .collect()
    };
    let attrs = |c: &[AttrEntry]| -> Vec<String> {
        c.iter()
            .map(|e| {
                let mut text = format!(
                    "{} ({}, required {}, default {}",
                    e.name,
                    e.ty,
                    e.required,
                    opt(disp(&e.default))
                );
                if !e.allowed.is_empty() {
                    text.push_str(&format!(", allowed {}", list(&e.allowed)));
                }
                text.push(')');
                text
            })
            .collect()
    };
    for (what, a, b) in [
        (CONFIG_KEY, config(&before.config), config(&after.config)),
        (
            NODE_ATTRIBUTE,
            attrs(&before.attributes),
            attrs(&after.attributes),
        ),
    ] {
        for x in a.iter().filter(|x| !b.contains(x)) {
            out.push(Change::Removed {
                field: what,
                item: x.clone(),
            });
        }
        for x in b.iter().filter(|x| !a.contains(x)) {
            out.push(Change::Added {
                field: what,
                item: x.clone(),
            });
        }
    }
    out
}

/// An optional value as something to display.
fn disp<T: fmt::Display>(v: &Option<T>) -> Option<&dyn fmt::Display> {
    v.as_ref().map(|v| v as &dyn fmt::Display)
}

/// The differences between two manifests, plugins keyed by kind and qualified name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManifestDiff<'a> {
    /// Plugins only `after` has, in its order.
    pub added: Vec<&'a PluginEntry>,
    /// Plugins only `before` has, in its order.
    pub removed: Vec<&'a PluginEntry>,
    /// Plugins both have that differ: the `after` entry and what changed, in `after`'s
    /// order.
    pub changed: Vec<(&'a PluginEntry, Vec<Change>)>,
}

impl ManifestDiff<'_> {
    /// Whether the manifests list the same plugins with the same fields.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changed from `before` to `after`.
///
/// ```
/// use brainsmith_core::manifest::{Change, Manifest, diff};
///
/// let before = Manifest::from_json(r#"{"format_version": 1, "plugin": [
///   {"kind": "backend", "qualified_name": "acme:MvuHls", "name": "MvuHls", "source": "acme",
///    "summary": "HLS.", "crate_name": "acme", "crate_version": "0.1.0",
///    "rust_path": "acme::MvuHls", "file": "src/lib.rs", "line": 3, "column": 1,
///    "priority": 10}
/// ]}"#).unwrap();
/// assert!(diff(&before, &before).is_empty());
/// let mut after = before.clone();
/// after.plugins[0].priority = Some(12);
/// let d = diff(&before, &after);
/// let change = Change::Field { field: "priority", before: "10".into(), after: "12".into() };
/// assert!(change.is_contract());
/// assert_eq!(d.changed, [(&after.plugins[0], vec![change])]);
/// let empty = Manifest::new(Vec::new());
/// assert_eq!(diff(&before, &empty).removed, [&before.plugins[0]]);
/// assert_eq!(diff(&empty, &before).added, [&before.plugins[0]]);
/// ```
pub fn diff<'a>(before: &'a Manifest, after: &'a Manifest) -> ManifestDiff<'a> {
    let key = |e: &PluginEntry| (e.kind, e.qualified_name.clone());
    let old: BTreeMap<_, &PluginEntry> = before.plugins.iter().map(|e| (key(e), e)).collect();
    let new: BTreeMap<_, &PluginEntry> = after.plugins.iter().map(|e| (key(e), e)).collect();
    let mut d = ManifestDiff::default();
    for entry in &after.plugins {
        match old.get(&key(entry)) {
            None => d.added.push(entry),
            Some(was) => {
                let changes = entry_changes(was, entry);
                if !changes.is_empty() {
                    d.changed.push((entry, changes));
                }
            }
        }
    }
    d.removed = before
        .plugins
        .iter()
        .filter(|e| !new.contains_key(&key(e)))
        .collect();
    d
}
