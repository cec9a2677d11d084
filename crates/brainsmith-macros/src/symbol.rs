//! The attribute keys and closed value sets, named once.

/// Keys every kind of plugin accepts.
pub(crate) const NAME: &str = "name";
pub(crate) const DESCRIPTION: &str = "description";
pub(crate) const VERSION: &str = "version";
pub(crate) const AUTHOR: &str = "author";
pub(crate) const TAGS: &str = "tags";

/// Transform keys.
pub(crate) const STAGE: &str = "stage";
pub(crate) const INFERS: &str = "infers";
pub(crate) const CONSUMES: &str = "consumes";
/// A flag (transforms, kernels, backends): the struct derives `Config` and its fields are
/// the plugin's configuration.
pub(crate) const CONFIG: &str = "config";

/// Kernel keys.
pub(crate) const OP_TYPES: &str = "op_types";
pub(crate) const DOMAIN: &str = "domain";

/// Backend keys.
pub(crate) const KERNEL: &str = "kernel";
pub(crate) const LANGUAGE: &str = "language";
pub(crate) const PRIORITY: &str = "priority";

/// Keys of the derives' helper attributes: `#[config(...)]` and `#[attr(...)]` on fields,
/// `#[node_attrs(...)]` on a struct, `#[attr(...)]` on an `AttrEnum` variant.
pub(crate) const DEFAULT: &str = "default";
pub(crate) const CHECK: &str = "check";
pub(crate) const ALIAS: &str = "alias";

// The derives' keys by helper attribute: what their documentation must list (the test
// in lib.rs); the parsers match the keys one by one.
#[cfg(test)]
pub(crate) const CONFIG_FIELD_KEYS: &[&str] = &[DEFAULT, CHECK];
#[cfg(test)]
pub(crate) const NODE_ATTRS_FIELD_KEYS: &[&str] = &[NAME, DEFAULT, CHECK];
#[cfg(test)]
pub(crate) const NODE_ATTRS_KEYS: &[&str] = &[CHECK];
#[cfg(test)]
pub(crate) const ATTR_ENUM_KEYS: &[&str] = &[NAME, ALIAS];

pub(crate) const COMMON_KEYS: &[&str] = &[NAME, DESCRIPTION, VERSION, AUTHOR, TAGS];

/// Transform stages, in pipeline order; the variant names of `brainsmith_core::Stage`.
pub(crate) const STAGES: &[(&str, &str)] = &[
    ("cleanup", "Cleanup"),
    ("topology_opt", "TopologyOpt"),
    ("kernel_mapping", "KernelMapping"),
    ("kernel_opt", "KernelOpt"),
    ("dataflow_opt", "DataflowOpt"),
    ("post_proc", "PostProc"),
];

/// Backend languages; the variant names of `brainsmith_core::Language`.
pub(crate) const LANGUAGES: &[(&str, &str)] = &[("hls", "Hls"), ("rtl", "Rtl")];
