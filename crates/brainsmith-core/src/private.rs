//! Not public API: what the attribute macros' generated code names, by absolute path.
//!
//! API boundary: anything here may change in any release; user code never names it.

pub use linkme;
pub use std::string::String;
pub use std::vec::Vec;
pub use toml;

pub use crate::__plugin_record as plugin_record;
pub use crate::config::{check as config_check, field as config_field, unknown_keys};

pub use crate::record::{
    BackendRecord, Details, FIELDS, KernelRecord, LIST_SEPARATOR, NAMESPACES, NamespaceRecord,
    NewBackend, NewKernel, NewTransform, PLUGINS, PluginRecord, Schema, StepFn, StepRecord,
    TransformRecord, field, field_ends, name_hash,
};

use crate::backend::{Backend, DynBackend};
use crate::config::{Config, ConfigProblem};
use crate::error::PluginError;
use crate::kernel::{DynKernel, Kernel};
use crate::plugin::{Registered, Stage, Transform};

pub use crate::attrs::{__derive as attrs, AttrEnum, AttrSpec, AttrType, AttrValue, NodeAttrs};
pub use crate::ir::{AttributeValue, Node};

/// Implemented by `#[kernel]` for its struct: a backend's `kernel = Path` and a
/// transform's `infers = Path` must name such a type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered kernel",
    label = "this type has no #[kernel] attribute",
    note = "`kernel = ...` and `infers = ...` name a struct annotated with `#[brainsmith_core::kernel(...)]`"
)]
pub trait RegisteredKernel: Registered {}

/// The record of kernel `K`; the bound is where a path that is not a kernel is reported.
pub const fn kernel_record<K: RegisteredKernel>() -> &'static PluginRecord {
    K::RECORD
}

/// Stands in for a kernel whose attribute had errors, so that the compile errors the user
/// sees are the real ones and not their echoes. Never in the registry.
pub static UNREGISTERED: PluginRecord = PluginRecord {
    strings: "Unregistered",
    ends: field_ends([0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    name_hash: name_hash("Unregistered"),
    crate_hash: name_hash(""),
    line: 0,
    column: 0,
    details: Details::Transform(TransformRecord {
        stage: Stage::Cleanup,
        infers: None,
        new: unregistered,
        schema: None,
    }),
};

fn unregistered(_: &toml::Table) -> Result<Box<dyn Transform>, Vec<ConfigProblem>> {
    unreachable!("UNREGISTERED is never in a registry")
}

/// Constructs a transform that takes no configuration; the bounds are where a missing
/// impl is reported.
pub fn new_transform<T: Transform + Default>(
    table: &toml::Table,
) -> Result<Box<dyn Transform>, Vec<ConfigProblem>> {
    check_no_config(table)?;
    Ok(Box::new(T::default()))
}

/// Reads a step's configuration (a `#[step]` function's third argument).
pub fn step_config<T: Config>(table: &toml::Table) -> Result<T, PluginError> {
    T::from_table(table).map_err(config_problems_error)
}

/// A configuration rejected when a step runs (a blueprint check reports it earlier).
pub fn config_problems_error(problems: Vec<ConfigProblem>) -> PluginError {
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    PluginError::new(format!("configuration: {}", problems.join("; ")))
}

/// Checks a step's configuration without running it.
pub fn check_step_config<T: Config>(table: &toml::Table) -> Result<(), Vec<ConfigProblem>> {
    T::from_table(table).map(drop)
}

/// Checks the configuration of a plugin that takes none: every key is unknown.
pub fn check_no_config(table: &toml::Table) -> Result<(), Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    unknown_keys(table, &[], &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Constructs a transform from its configuration (`#[transform(config)]`).
pub fn new_configured_transform<T: Transform + Config>(
    table: &toml::Table,
) -> Result<Box<dyn Transform>, Vec<ConfigProblem>> {
    Ok(Box::new(T::from_table(table)?))
}

/// Constructs a kernel that takes no configuration; the bounds are where a missing impl
/// is reported.
pub fn new_kernel<T: Kernel + Default>(
    table: &toml::Table,
) -> Result<Box<dyn DynKernel>, Vec<ConfigProblem>> {
    check_no_config(table)?;
    Ok(Box::new(T::default()))
}

/// Constructs a kernel from its configuration (`#[kernel(config)]`).
pub fn new_configured_kernel<T: Kernel + Config>(
    table: &toml::Table,
) -> Result<Box<dyn DynKernel>, Vec<ConfigProblem>> {
    Ok(Box::new(T::from_table(table)?))
}

/// Constructs a backend that takes no configuration; the bounds are where a missing impl
/// is reported.
pub fn new_backend<T: Backend + Default>(
    table: &toml::Table,
) -> Result<Box<dyn DynBackend>, Vec<ConfigProblem>> {
    check_no_config(table)?;
    Ok(Box::new(T::default()))
}

/// Constructs a backend from its configuration (`#[backend(config)]`).
pub fn new_configured_backend<T: Backend + Config>(
    table: &toml::Table,
) -> Result<Box<dyn DynBackend>, Vec<ConfigProblem>> {
    Ok(Box::new(T::from_table(table)?))
}

/// The node attribute schema of kernel `K`; the bound is where a missing `Kernel` impl
/// is reported.
pub const fn kernel_attrs<K: Kernel>() -> &'static [AttrSpec] {
    <K::Attrs as NodeAttrs>::SCHEMA
}

/// The node attribute schema of backend `B`'s own attributes.
pub const fn backend_attrs<B: Backend>() -> &'static [AttrSpec] {
    <B::Attrs as NodeAttrs>::SCHEMA
}

/// Checks at compile time that backend `B`'s `Kernel` type is `K`, the kernel its
/// attribute names: a mismatch is a type error at the attribute's `kernel = ...`.
pub const fn backend_kernel_is<B: Backend<Kernel = K>, K: Kernel>() {}

/// Converts a step's own error type.
pub fn step_result<E: Into<PluginError>>(result: Result<(), E>) -> Result<(), PluginError> {
    result.map_err(Into::into)
}

/// Whether two byte strings are equal, in a `const` context.
const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Compile-time check of a `namespace!` argument, declared by the package `crate_name`.
pub const fn check_namespace(namespace: &str, crate_name: &str) {
    assert!(
        !eq(namespace.as_bytes(), b"brainsmith")
            || eq(crate_name.as_bytes(), b"brainsmith-plugins"),
        "brainsmith_core::namespace!: the namespace `brainsmith` is reserved for the standard \
         plugins (brainsmith-plugins); choose your own, e.g. your crate's name"
    );
    let bytes = namespace.as_bytes();
    assert!(
        !bytes.is_empty(),
        "brainsmith_core::namespace!: the namespace is empty"
    );
    assert!(
        bytes[0].is_ascii_lowercase(),
        "brainsmith_core::namespace!: a namespace starts with a lowercase ASCII letter"
    );
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        assert!(
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-',
            "brainsmith_core::namespace!: a namespace holds only `a-z`, `0-9`, `_` and `-`"
        );
        i += 1;
    }
}
