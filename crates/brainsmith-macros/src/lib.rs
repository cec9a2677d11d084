//! Attribute macros of brainsmith-rs. Use them through `brainsmith-core`, which re-exports
//! them and owns everything the generated code refers to. Each macro's documentation
//! (`docs/*.md`, shown on its page here and in brainsmith-core) lists every key it takes;
//! a test keeps the lists and `symbol.rs` in step.
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

#[doc = include_str!("docs/transform.md")]
#[doc = include_str!("docs/common.md")]
#[proc_macro_attribute]
pub fn transform(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Transform, args.into(), item.into()).into()
}

#[doc = include_str!("docs/config.md")]
#[proc_macro_derive(Config, attributes(config))]
pub fn derive_config(item: TokenStream) -> TokenStream {
    config::derive(item.into()).into()
}

#[doc = include_str!("docs/node_attrs.md")]
#[proc_macro_derive(NodeAttrs, attributes(attr, node_attrs))]
pub fn derive_node_attrs(item: TokenStream) -> TokenStream {
    node_attrs::derive(item.into()).into()
}

#[doc = include_str!("docs/attr_enum.md")]
#[proc_macro_derive(AttrEnum, attributes(attr))]
pub fn derive_attr_enum(item: TokenStream) -> TokenStream {
    node_attrs::derive_enum(item.into()).into()
}

#[doc = include_str!("docs/kernel.md")]
#[doc = include_str!("docs/common.md")]
#[proc_macro_attribute]
pub fn kernel(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Kernel, args.into(), item.into()).into()
}

#[doc = include_str!("docs/backend.md")]
#[doc = include_str!("docs/common.md")]
#[proc_macro_attribute]
pub fn backend(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Backend, args.into(), item.into()).into()
}

#[doc = include_str!("docs/step.md")]
#[doc = include_str!("docs/common.md")]
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::plugin(attr::Kind::Step, args.into(), item.into()).into()
}

#[cfg(test)]
mod tests {
    use crate::attr::Kind;
    use crate::symbol::{
        ATTR_ENUM_KEYS, CONFIG_FIELD_KEYS, NODE_ATTRS_FIELD_KEYS, NODE_ATTRS_KEYS,
    };

    /// Whether `doc` has a table row for `key`.
    fn lists(doc: &str, key: &str) -> bool {
        doc.contains(&format!("| `{key}` |"))
    }

    #[test]
    fn every_key_in_symbol_rs_is_documented_by_the_macro_that_takes_it() {
        let common = include_str!("docs/common.md");
        let plugins = [
            (Kind::Transform, include_str!("docs/transform.md")),
            (Kind::Kernel, include_str!("docs/kernel.md")),
            (Kind::Backend, include_str!("docs/backend.md")),
            (Kind::Step, include_str!("docs/step.md")),
        ];
        let mut missing = Vec::new();
        for (kind, doc) in plugins {
            let doc = format!("{doc}{common}");
            for key in kind.keys() {
                if !lists(&doc, key) {
                    missing.push(format!("#[{}] {key}", kind.attr()));
                }
            }
        }
        let derives = [
            ("Config", include_str!("docs/config.md"), CONFIG_FIELD_KEYS),
            (
                "NodeAttrs",
                include_str!("docs/node_attrs.md"),
                NODE_ATTRS_FIELD_KEYS,
            ),
            (
                "NodeAttrs",
                include_str!("docs/node_attrs.md"),
                NODE_ATTRS_KEYS,
            ),
            (
                "AttrEnum",
                include_str!("docs/attr_enum.md"),
                ATTR_ENUM_KEYS,
            ),
        ];
        for (derive, doc, keys) in derives {
            for key in keys {
                if !lists(doc, key) {
                    missing.push(format!("derive({derive}) {key}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys without a row in their macro's docs (src/docs/*.md): {missing:?}"
        );
    }
}
