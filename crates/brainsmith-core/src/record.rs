//! The static records the attributes emit, one per plugin, and the distributed slices
//! that collect them at link time.
//!
//! Architecture invariant: records are plain `static` data (strings, slices, function
//! pointers). Nothing here runs before `main`; building the registry from the slices is
//! deferred to the first access.

use crate::attrs::AttrSpec;
use crate::backend::DynBackend;
use crate::config::{ConfigField, ConfigProblem};
use crate::error::PluginError;
use crate::ir::Model;
use crate::kernel::DynKernel;
use crate::plugin::{Language, Stage, Transform};
use crate::step::StepContext;

/// Every plugin the binary links, in link order.
#[linkme::distributed_slice]
pub static PLUGINS: [PluginRecord];

/// Every namespace declaration (`brainsmith_core::namespace!`) the binary links.
#[linkme::distributed_slice]
pub static NAMESPACES: [NamespaceRecord];

/// Separates the items of a list field (tags, op types).
pub const LIST_SEPARATOR: char = '\u{1e}';

/// How many string fields a record has.
pub const FIELDS: usize = 13;

/// The end offset of every field but the last in [`PluginRecord::strings`], from the
/// fields' lengths (the last ends where the string does): evaluated at compile time, so
/// reading a field is one slice. Offsets are `u32`: no doc comment a compiler accepts
/// comes near the limit.
pub const fn field_ends(lengths: [usize; FIELDS]) -> [u32; FIELDS - 1] {
    let mut ends = [0u32; FIELDS - 1];
    let mut end = 0usize;
    let mut i = 0;
    while i < FIELDS {
        end += lengths[i];
        assert!(
            end <= u32::MAX as usize,
            "a plugin's docs and metadata exceed 4 GiB"
        );
        if i < FIELDS - 1 {
            ends[i] = end as u32;
        }
        i += 1;
    }
    ends
}

/// The hash the registry indexes names by, computed at compile time for every record (so
/// building the registry reads no string) and at run time for a looked-up name.
pub const fn name_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let b = text.as_bytes();
    let mut h: u64 = 0;
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        i += 8;
    }
    let mut tail: u64 = 0;
    let mut shift = 0;
    while i < b.len() {
        tail |= (b[i] as u64) << shift;
        shift += 8;
        i += 1;
    }
    h = (h.rotate_left(5) ^ tail ^ ((b.len() as u64) << 56)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// The positions of the fields in [`PluginRecord::strings`].
pub mod field {
    /// `CARGO_PKG_NAME` of the defining crate.
    pub const CRATE_NAME: usize = 0;
    /// The registered name.
    pub const NAME: usize = 1;
    /// `CARGO_PKG_VERSION` of the defining crate.
    pub const CRATE_VERSION: usize = 2;
    /// `module_path!()` of the item.
    pub const MODULE_PATH: usize = 3;
    /// `file!()` of the item.
    pub const FILE: usize = 4;
    /// The Rust identifier.
    pub const TYPE_NAME: usize = 5;
    /// The plugin's semver version, or empty.
    pub const VERSION: usize = 6;
    /// The plugin's author, or empty.
    pub const AUTHOR: usize = 7;
    /// Tags, separated by `LIST_SEPARATOR`.
    pub const TAGS: usize = 8;
    /// A kernel's ONNX domain.
    pub const DOMAIN: usize = 9;
    /// A kernel's op types, or the op types a transform consumes, separated by
    /// `LIST_SEPARATOR`.
    pub const OP_TYPES: usize = 10;
    /// One paragraph.
    pub const SUMMARY: usize = 11;
    /// The whole doc comment.
    pub const DOCS: usize = 12;
}

/// Builds a [`PluginRecord`] from its fields by name: the one definition of the record's
/// layout, which the attributes' generated code, the tests and the benchmark generator all
/// expand. The strings are `concat!`ed in [`field`] order and their end offsets computed
/// from their lengths at compile time; lists (`tags`, `op_types`) are given as `[...]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_record {
    (
        crate_name: $crate_name:expr,
        name: $name:expr,
        crate_version: $crate_version:expr,
        module_path: $module_path:expr,
        file: $file:expr,
        type_name: $type_name:expr,
        version: $version:expr,
        author: $author:expr,
        tags: [$($tag:expr),* $(,)?],
        domain: $domain:expr,
        op_types: [$($op:expr),* $(,)?],
        summary: $summary:expr,
        docs: $docs:expr,
        line: $line:expr,
        column: $column:expr,
        details: $details:expr $(,)?
    ) => {
        $crate::__private::PluginRecord {
            strings: ::core::concat!(
                $crate_name, $name, $crate_version, $module_path, $file, $type_name, $version,
                $author, $($tag, "\u{1e}",)* $domain, $($op, "\u{1e}",)* $summary, $docs
            ),
            ends: $crate::__private::field_ends([
                $crate_name.len(),
                $name.len(),
                $crate_version.len(),
                $module_path.len(),
                $file.len(),
                $type_name.len(),
                $version.len(),
                $author.len(),
                0 $(+ $tag.len() + 1)*,
                $domain.len(),
                0 $(+ $op.len() + 1)*,
                $summary.len(),
                $docs.len(),
            ]),
            name_hash: $crate::__private::name_hash($name),
            crate_hash: $crate::__private::name_hash($crate_name),
            line: $line,
            column: $column,
            details: $details,
        }
    };
}

/// What one `#[transform]`, `#[kernel]`, `#[backend]` or `#[step]` registers.
///
/// Architecture invariant: a record holds as few pointers as possible. Every pointer in
/// static data is a relocation the dynamic loader applies before `main` in a
/// position-independent binary, so all of a plugin's strings are one string, built at
/// compile time with `concat!`, with the fields' end offsets beside it.
#[derive(Debug)]
pub struct PluginRecord {
    /// Every string of the plugin, in [`field`] order, concatenated.
    pub strings: &'static str,
    /// The end offset of each field but the last in `strings` ([`field_ends`]).
    pub ends: [u32; FIELDS - 1],
    /// [`name_hash`] of the registered name.
    pub name_hash: u64,
    /// [`name_hash`] of the defining crate's name.
    pub crate_hash: u64,
    /// Line of the item's identifier.
    pub line: u32,
    /// Column of the item's identifier.
    pub column: u32,
    /// What only this kind of plugin carries.
    pub details: Details,
}

impl PluginRecord {
    /// Field `index` of [`PluginRecord::strings`] (see [`field`]).
    pub fn field(&self, index: usize) -> &'static str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        let end = match self.ends.get(index) {
            Some(&end) => end as usize,
            None => self.strings.len(),
        };
        self.strings.get(start..end).unwrap_or("")
    }

    fn optional(&self, index: usize) -> Option<&'static str> {
        Some(self.field(index)).filter(|s| !s.is_empty())
    }

    fn list(&self, index: usize) -> impl Iterator<Item = &'static str> + Clone + use<> {
        self.field(index)
            .split(LIST_SEPARATOR)
            .filter(|s| !s.is_empty())
    }

    /// The registered name.
    pub fn name(&self) -> &'static str {
        self.field(field::NAME)
    }

    /// `CARGO_PKG_NAME` of the defining crate.
    pub fn crate_name(&self) -> &'static str {
        self.field(field::CRATE_NAME)
    }

    /// `CARGO_PKG_VERSION` of the defining crate.
    pub fn crate_version(&self) -> &'static str {
        self.field(field::CRATE_VERSION)
    }

    /// `module_path!()` of the item.
    pub fn module_path(&self) -> &'static str {
        self.field(field::MODULE_PATH)
    }

    /// `file!()` of the item.
    pub fn file(&self) -> &'static str {
        self.field(field::FILE)
    }

    /// The Rust identifier of the struct or function.
    pub fn type_name(&self) -> &'static str {
        self.field(field::TYPE_NAME)
    }

    /// The plugin's own version, if declared.
    pub fn version(&self) -> Option<&'static str> {
        self.optional(field::VERSION)
    }

    /// The plugin's author, if declared.
    pub fn author(&self) -> Option<&'static str> {
        self.optional(field::AUTHOR)
    }

    /// Lowercase search tags.
    pub fn tags(&self) -> impl Iterator<Item = &'static str> + Clone + use<> {
        self.list(field::TAGS)
    }

    /// A kernel's ONNX domain (`""` is the default domain).
    pub fn domain(&self) -> &'static str {
        self.field(field::DOMAIN)
    }

    /// A kernel's ONNX op types, or the op types a transform consumes.
    pub fn op_types(&self) -> impl Iterator<Item = &'static str> + Clone + use<> {
        self.list(field::OP_TYPES)
    }

    /// One paragraph saying what the plugin does.
    pub fn summary(&self) -> &'static str {
        self.field(field::SUMMARY)
    }

    /// The whole doc comment.
    pub fn docs(&self) -> &'static str {
        self.field(field::DOCS)
    }
}

/// What a plugin reads: its configuration keys and the node attributes of its instances.
/// Kept out of the record behind an `Option`: most plugins have neither, and a `None`
/// costs a record eight bytes and the loader no relocation, where two slices cost it
/// thirty-two bytes (`BENCHMARKS.md`).
#[derive(Debug)]
pub struct Schema {
    /// The configuration keys, in declaration order.
    pub config: &'static [ConfigField],
    /// The node attributes, in declaration order.
    pub attrs: &'static [AttrSpec],
}

impl Schema {
    /// Whether a schema of these parts would hold nothing: then a record stores `None`.
    pub const fn holds_nothing(config: &[ConfigField], attrs: &[AttrSpec]) -> bool {
        config.is_empty() && attrs.is_empty()
    }

    /// The configuration keys of an optional schema.
    pub fn config_of(schema: Option<&'static Schema>) -> &'static [ConfigField] {
        schema.map_or(&[], |s| s.config)
    }

    /// The node attributes of an optional schema.
    pub fn attrs_of(schema: Option<&'static Schema>) -> &'static [AttrSpec] {
        schema.map_or(&[], |s| s.attrs)
    }
}

/// The kind-specific part of a [`PluginRecord`].
#[derive(Debug)]
pub enum Details {
    /// A graph rewrite.
    Transform(TransformRecord),
    /// A hardware operator.
    Kernel(KernelRecord),
    /// A code generator of one kernel.
    Backend(BackendRecord),
    /// A build-pipeline stage.
    Step(StepRecord),
}

/// Transform-specific record fields.
#[derive(Debug)]
pub struct TransformRecord {
    /// The stage; `KernelMapping` for a transform that infers a kernel.
    pub stage: Stage,
    /// The kernel this transform maps nodes to, if it is a kernel-inference transform.
    pub infers: Option<&'static PluginRecord>,
    /// Constructs the transform from its configuration (an empty table: the defaults).
    pub new: NewTransform,
    /// Its configuration keys; `None` when it takes none.
    pub schema: Option<&'static Schema>,
}

/// Constructs a transform from its configuration.
pub type NewTransform = fn(&toml::Table) -> Result<Box<dyn Transform>, Vec<ConfigProblem>>;

/// Kernel-specific record fields (its op types and domain are among the strings).
#[derive(Debug)]
pub struct KernelRecord {
    /// Constructs the kernel from its configuration (an empty table: the defaults).
    pub new: NewKernel,
    /// Its configuration keys and the node attributes of its instances; `None` when it
    /// has neither.
    pub schema: Option<&'static Schema>,
}

/// Constructs a kernel from its configuration.
pub type NewKernel = fn(&toml::Table) -> Result<Box<dyn DynKernel>, Vec<ConfigProblem>>;

/// Constructs a backend from its configuration.
pub type NewBackend = fn(&toml::Table) -> Result<Box<dyn DynBackend>, Vec<ConfigProblem>>;

/// Backend-specific record fields.
#[derive(Debug)]
pub struct BackendRecord {
    /// The kernel's record: a type path in the attribute, so it always exists.
    pub kernel: &'static PluginRecord,
    /// HLS or RTL.
    pub language: Language,
    /// Higher wins when several backends of one kernel fit.
    pub priority: i32,
    /// Constructs the backend from its configuration (an empty table: the defaults).
    pub new: NewBackend,
    /// Its configuration keys and the node attributes only it reads; `None` when it has
    /// neither.
    pub schema: Option<&'static Schema>,
}

/// Signature of a step as stored in its record: the model, the context and the step's
/// configuration (an empty table: the defaults).
pub type StepFn = fn(&mut Model, &mut StepContext<'_>, &toml::Table) -> Result<(), PluginError>;

/// Step-specific record fields.
#[derive(Debug)]
pub struct StepRecord {
    /// Reads the configuration and runs the step.
    pub run: StepFn,
    /// Reads the configuration only: what a blueprint check does before anything runs.
    pub check: fn(&toml::Table) -> Result<(), Vec<ConfigProblem>>,
    /// Its configuration keys; `None` when it takes none.
    pub schema: Option<&'static Schema>,
}

/// A crate's declaration of the source name its plugins are registered under.
#[derive(Debug)]
pub struct NamespaceRecord {
    /// The source name.
    pub namespace: &'static str,
    /// `CARGO_PKG_NAME` of the declaring crate.
    pub crate_name: &'static str,
    /// Where the declaration is.
    pub file: &'static str,
    /// Line of the declaration.
    pub line: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_COMPILE_TIME: u64 = name_hash("GiveReadableTensorNames");

    #[test]
    fn name_hash_is_the_same_at_compile_and_run_time() {
        let name = String::from("GiveReadableTensorNames");
        assert_eq!(AT_COMPILE_TIME, name_hash(&name));
        let names = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "SortGraph",
            "SortGraph_",
            "Transform1234",
            "Transform1243",
        ];
        let mut hashes: Vec<u64> = names.iter().map(|n| name_hash(n)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), names.len(), "distinct names hash apart");
    }

    #[test]
    fn fields_are_slices_of_the_one_string() {
        static RECORD: PluginRecord = crate::__plugin_record! {
            crate_name: "my-crate",
            name: "Relu",
            crate_version: "1.0.0",
            module_path: "my_crate::k",
            file: "src/k.rs",
            type_name: "Relu",
            version: "",
            author: "",
            tags: ["act", "fast"],
            domain: "",
            op_types: ["Relu", "Clip"],
            summary: "Sum.",
            docs: "Sum.\n\nMore.",
            line: 1,
            column: 1,
            details: Details::Step(StepRecord {
                run: |_, _, _| Ok(()),
                check: |_| Ok(()),
                schema: None,
            }),
        };
        assert_eq!(
            (RECORD.crate_name(), RECORD.name(), RECORD.crate_version()),
            ("my-crate", "Relu", "1.0.0")
        );
        assert_eq!(
            (RECORD.module_path(), RECORD.file(), RECORD.type_name()),
            ("my_crate::k", "src/k.rs", "Relu")
        );
        assert_eq!((RECORD.version(), RECORD.author()), (None, None));
        assert_eq!(RECORD.tags().collect::<Vec<_>>(), ["act", "fast"]);
        assert_eq!(RECORD.op_types().collect::<Vec<_>>(), ["Relu", "Clip"]);
        assert_eq!((RECORD.summary(), RECORD.docs()), ("Sum.", "Sum.\n\nMore."));
    }
}
