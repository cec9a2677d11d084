//! The plugin manifest: every plugin of a registry with all its metadata, as committed
//! TOML (or JSON for tools in other languages), [`Registry::verify`] against one, and
//! [`diff`], what changed from one manifest to another.
//!
//! The manifest is generated, never edited: `cargo xtask manifest` writes the workspace's,
//! `brainsmith manifest` prints any binary's. Output is deterministic: plugins in registry
//! order, file paths relative to the workspace (or `crate-version/...` for crates from a
//! registry), no timestamps.
//!
//! ```
//! use brainsmith_core::manifest::Manifest;
//! use brainsmith_core::Registry;
//!
//! let registry = Registry::global().unwrap();
//! let manifest = Manifest::from_registry(registry, None);
//! let text = manifest.to_toml();
//! assert_eq!(Manifest::from_toml(&text).unwrap(), manifest);
//! assert!(registry.verify(&manifest).is_ok());
//! ```

mod diff;
mod verify;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use diff::{Change, LOCATION, ManifestDiff, diff, entry_changes};
pub use verify::{VerifyError, unlinked_plugin_crates};

use crate::plugin::{Language, PluginKind, Stage};
use crate::registry::{PluginRef, Registry};

/// The manifest format's version; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Every plugin of a registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// "Generated, do not edit" for formats without comments (JSON); TOML files say it
    /// in a comment instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The plugins, sorted by (kind, source, name).
    #[serde(rename = "plugin", default)]
    pub plugins: Vec<PluginEntry>,
}

/// One plugin of a [`Manifest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// Transform, kernel, backend or step.
    pub kind: PluginKind,
    /// `source:name`.
    pub qualified_name: String,
    /// The short name.
    pub name: String,
    /// The namespace or crate it is registered under.
    pub source: String,
    /// One paragraph saying what it does.
    pub summary: String,
    /// The whole doc comment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub docs: String,
    /// The plugin's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The plugin's author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Search tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The defining crate.
    pub crate_name: String,
    /// The defining crate's version.
    pub crate_version: String,
    /// The Rust path of the struct or function.
    pub rust_path: String,
    /// The defining file, relative to the workspace.
    pub file: String,
    /// Line of the definition.
    pub line: u32,
    /// Column of the definition.
    pub column: u32,
    /// A transform's stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The kernel a transform infers (qualified name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infers: Option<String>,
    /// A kernel's ONNX op types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_types: Vec<String>,
    /// The op types a transform consumes; for a kernel, the op types its inference
    /// transforms map onto it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumes: Vec<String>,
    /// A kernel's ONNX domain (`""` is the default domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A kernel's backends, highest priority first (qualified names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// The transforms that infer a kernel (qualified names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inferred_by: Vec<String>,
    /// A backend's kernel (qualified name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// A backend's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// A backend's priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// The plugin's configuration keys, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigEntry>,
    /// The node attributes of a kernel's instances, or a backend's own.
    #[serde(rename = "attribute", default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttrEntry>,
    /// Why the listing's registry disables it ("by 'acme:*' (BRAINSMITH_DISABLE)"). Set
    /// by `plugins` listings only: a manifest describes what is linked, never this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
}

/// One node attribute of a kernel or backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttrEntry {
    /// The ONNX attribute name.
    pub name: String,
    /// Its form (`int`, `ints`, `float`, `string`, `datatype`, `choice`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether a node must carry it.
    pub required: bool,
    /// The value an absent attribute takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The legal values of a choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// Its documentation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

/// The manifest's view of declared node attributes.
pub fn attr_entries(specs: &[crate::attrs::AttrSpec]) -> Vec<AttrEntry> {
    specs
        .iter()
        .map(|a| AttrEntry {
            name: a.name.to_owned(),
            ty: a.ty.as_str().to_owned(),
            required: a.required,
            default: a.default_text(),
            allowed: a.allowed.iter().map(|s| (*s).to_owned()).collect(),
            doc: a.doc.to_owned(),
        })
        .collect()
}

/// One configuration key of a plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// The key.
    pub name: String,
    /// Its Rust type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether it must be given.
    pub required: bool,
    /// The default, as written in the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Its documentation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid plugin manifest '{path}': {message}")]
pub struct ManifestError {
    /// The file, or `<memory>`.
    pub path: String,
    /// What is wrong, with the line and key where the parser knows them.
    pub message: String,
}

/// A file path as the manifest records it: relative to `root` when under it (a relative
/// `root` is taken from the current directory); for a crate from a registry, from its
/// `name-version` directory on; for another crate outside the workspace (a path
/// dependency), `name@version/src/...`; `/` separators. No path of the machine that made
/// it is kept.
pub fn normalize_file(
    file: &str,
    root: Option<&Path>,
    crate_name: &str,
    crate_version: &str,
) -> String {
    let path = Path::new(file);
    if let Some(root) = root {
        // A relative root is taken from the current directory, as a shell would.
        let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
        let canonical = absolute.canonicalize().unwrap_or(absolute);
        for base in [root.to_owned(), canonical] {
            if let Ok(relative) = path.strip_prefix(&base) {
                return relative.to_string_lossy().replace('\\', "/");
            }
        }
    }
    if path.is_absolute() {
        let marker = format!("{crate_name}-{crate_version}");
        let text = file.replace('\\', "/");
        if let Some(at) = text.find(&format!("/{marker}/")) {
            return text[at + 1..].to_owned();
        }
        // A path dependency outside the workspace: `crate@version/src/...`, the same on
        // every machine.
        if let Some(at) = text.rfind("/src/") {
            return format!("{crate_name}@{crate_version}/{}", &text[at + 1..]);
        }
    }
    file.replace('\\', "/")
}

impl PluginEntry {
    /// The entry of one registered plugin: what is linked, whatever the registry
    /// disables (its backends and inferring transforms all listed, `disabled` unset).
    pub fn new(plugin: PluginRef<'_>, root: Option<&Path>) -> PluginEntry {
        let p = plugin.plugin();
        let location = p.location();
        let mut entry = PluginEntry {
            kind: p.kind(),
            qualified_name: p.qualified_name().to_owned(),
            name: p.name().to_owned(),
            source: p.source().to_owned(),
            summary: p.summary().to_owned(),
            docs: if p.docs() == p.summary() {
                String::new()
            } else {
                p.docs().to_owned()
            },
            version: p.version().map(str::to_owned),
            author: p.author().map(str::to_owned),
            tags: p.tags().map(str::to_owned).collect(),
            crate_name: p.crate_name().to_owned(),
            crate_version: p.crate_version().to_owned(),
            rust_path: p.rust_path(),
            file: normalize_file(location.file, root, p.crate_name(), p.crate_version()),
            line: location.line,
            column: location.column,
            stage: None,
            infers: None,
            op_types: Vec::new(),
            consumes: Vec::new(),
            domain: None,
            backends: Vec::new(),
            inferred_by: Vec::new(),
            kernel: None,
            language: None,
            priority: None,
            config: Vec::new(),
            attributes: Vec::new(),
            disabled: None,
        };
        match plugin {
            PluginRef::Transform(t) => {
                entry.stage = Some(t.stage());
                entry.infers = t.infers().map(|k| k.qualified_name().to_owned());
                entry.consumes = t.consumes().map(str::to_owned).collect();
                entry.config = config_entries(t.config_fields());
            }
            PluginRef::Kernel(k) => {
                entry.op_types = k.op_types().map(str::to_owned).collect();
                entry.domain = Some(k.domain().to_owned());
                entry.config = config_entries(k.config_fields());
                entry.consumes = k
                    .linked_mapped_from()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                entry.attributes = attr_entries(k.attrs());
                entry.backends = k
                    .linked_backends()
                    .map(|b| b.qualified_name().to_owned())
                    .collect();
                entry.inferred_by = k
                    .linked_inferred_by()
                    .map(|t| t.qualified_name().to_owned())
                    .collect();
            }
            PluginRef::Backend(b) => {
                entry.kernel = Some(b.kernel().qualified_name().to_owned());
                entry.language = Some(b.language());
                entry.priority = Some(b.priority());
                entry.config = config_entries(b.config_fields());
                entry.attributes = attr_entries(b.attrs());
            }
            PluginRef::Step(s) => entry.config = config_entries(s.config_fields()),
        }
        entry
    }
}

/// The manifest's view of declared configuration keys.
fn config_entries(fields: &[crate::config::ConfigField]) -> Vec<ConfigEntry> {
    fields
        .iter()
        .map(|f| ConfigEntry {
            name: f.name.to_owned(),
            ty: f.ty.to_owned(),
            required: f.is_required(),
            default: f.default.map(str::to_owned),
            doc: f.doc.to_owned(),
        })
        .collect()
}

impl Manifest {
    /// A manifest of the current format holding `plugins`.
    pub fn new(plugins: Vec<PluginEntry>) -> Manifest {
        Manifest {
            notice: None,
            format_version: FORMAT_VERSION,
            plugins,
        }
    }

    /// The manifest of every plugin in `registry`; file paths relative to `root`.
    pub fn from_registry(registry: &Registry, root: Option<&Path>) -> Manifest {
        Manifest::new(
            registry
                .plugins()
                .iter()
                .map(|p| PluginEntry::new(registry.typed(p), root))
                .collect(),
        )
    }

    /// TOML text, one `[[plugin]]` table per plugin.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the manifest types always serialize")
    }

    /// Pretty JSON text with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("the manifest types always serialize");
        text.push('\n');
        text
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError {
            path: "<memory>".into(),
            message: e.to_string(),
        })?;
        manifest.check_version()
    }

    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| ManifestError {
            path: "<memory>".into(),
            message: e.to_string(),
        })?;
        manifest.check_version()
    }

    /// Reads a manifest file: JSON when it ends in `.json`, TOML otherwise.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            Manifest::from_json(&text)
        } else {
            Manifest::from_toml(&text)
        };
        parsed.map_err(|e| ManifestError {
            path: shown,
            message: e.message,
        })
    }

    fn check_version(self) -> Result<Manifest, ManifestError> {
        if self.format_version != FORMAT_VERSION {
            return Err(ManifestError {
                path: "<memory>".into(),
                message: format!(
                    "format_version {} is not supported (this build reads version {FORMAT_VERSION}); regenerate the manifest",
                    self.format_version
                ),
            });
        }
        Ok(self)
    }
}
