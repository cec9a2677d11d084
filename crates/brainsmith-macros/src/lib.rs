//! Attribute macros of brainsmith-rs. Use them through `brainsmith-core`, which re-exports
//! them and owns everything the generated code refers to; see its documentation for the
//! keys each attribute takes.
//!
//! This file only dispatches: `attr.rs` parses the attribute's keys, `ast.rs` reads the
//! annotated item, `valid.rs` checks what needs several of them at once, and `expand.rs`
//! writes the item back with its registration record.

mod ast;
mod attr;
mod config;
mod ctxt;
mod expand;
mod node_attrs;
mod suggest;
mod symbol;
mod valid;

use proc_macro::TokenStream;

/// Registers a graph transform. See `brainsmith_core::transform`.
#[proc_macro_attribute]
pub fn transform(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Transform, args.into(), item.into()).into()
}

/// Makes a struct's named fields configuration keys. See `brainsmith_core::Config`.
#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(item: TokenStream) -> TokenStream {
    config::derive(item.into()).into()
}

/// Makes a struct's named fields a node's typed attributes. See
/// `brainsmith_core::attrs`.
#[proc_macro_derive(NodeAttrs, attributes(attr, node_attrs))]
pub fn derive_node_attrs(item: TokenStream) -> TokenStream {
    node_attrs::derive(item.into()).into()
}

/// Makes an enum of unit variants a string node attribute with a closed set of values.
/// See `brainsmith_core::attrs`.
#[proc_macro_derive(AttrEnum, attributes(attr))]
pub fn derive_attr_enum(item: TokenStream) -> TokenStream {
    node_attrs::derive_enum(item.into()).into()
}

/// Registers a hardware kernel. See `brainsmith_core::kernel`.
#[proc_macro_attribute]
pub fn kernel(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Kernel, args.into(), item.into()).into()
}

/// Registers a code-generation backend of a kernel. See `brainsmith_core::backend`.
#[proc_macro_attribute]
pub fn backend(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Backend, args.into(), item.into()).into()
}

/// Registers a build-pipeline step. See `brainsmith_core::step`.
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Step, args.into(), item.into()).into()
}
