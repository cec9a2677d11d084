//! Reads the annotated item: which kind of item it is, its identifier and its doc comment.

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::attr::Kind;
use crate::ctxt::Ctxt;

/// The item under the attribute, kept whole so that it is emitted unchanged.
pub(crate) struct Input {
    pub(crate) item: syn::Item,
    pub(crate) ident: syn::Ident,
    /// The doc comment, one entry per `///` line, leading space stripped.
    pub(crate) doc_lines: Vec<String>,
    /// Whether the attribute can apply to this kind of item at all; when not, the item
    /// is not validated further (its name and docs would only echo the first error).
    pub(crate) applicable: bool,
    /// A step's configuration type: `T` of its third argument `config: &T`.
    pub(crate) step_config: Option<syn::Type>,
    /// Where the struct derives `Config` (`#[derive(Config)]` among its attributes): it is
    /// then its own configuration, with or without the `config` flag.
    pub(crate) derives_config: Option<proc_macro2::Span>,
}

/// Parses the item and checks that the attribute can apply to it.
///
/// Returns `None` only when the tokens are not an item at all; every other problem is
/// recorded in `cx` and the item is still returned, so that it can be emitted.
pub(crate) fn parse(cx: &Ctxt, kind: Kind, tokens: TokenStream) -> Result<Input, syn::Error> {
    let item: syn::Item = syn::parse2(tokens).map_err(|e| {
        let expected = if kind == Kind::Step {
            "a function"
        } else {
            "a struct"
        };
        syn::Error::new(
            e.span(),
            format!(
                "#[{}] applies to {expected}; this is not an item",
                kind.attr()
            ),
        )
    })?;
    let mut step_config = None;
    let (ident, attrs) = match (&item, kind) {
        (syn::Item::Struct(s), Kind::Transform | Kind::Kernel | Kind::Backend) => {
            if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
                cx.error_spanned_by(
                    &s.generics,
                    format!(
                        "#[{}] cannot register a generic struct: the registry holds one concrete \
                         type per plugin; register a non-generic struct (a newtype around the \
                         instantiation you need)",
                        kind.attr()
                    ),
                );
            }
            (s.ident.clone(), &s.attrs)
        }
        (syn::Item::Fn(f), Kind::Step) => {
            step_config = check_step_signature(cx, &f.sig);
            (f.sig.ident.clone(), &f.attrs)
        }
        (other, _) => {
            let expected = if kind == Kind::Step {
                "a function"
            } else {
                "a struct"
            };
            let (what, tokens) = describe(other);
            cx.error_spanned_by(
                tokens,
                format!("#[{}] applies to {expected}, not to {what}", kind.attr()),
            );
            let ident =
                syn::Ident::new("__brainsmith_invalid_item", proc_macro2::Span::call_site());
            return Ok(Input {
                item,
                ident,
                doc_lines: Vec::new(),
                applicable: false,
                step_config: None,
                derives_config: None,
            });
        }
    };
    let doc_lines = doc_lines(attrs);
    let derives_config = if kind == Kind::Step {
        None
    } else {
        derived_config(attrs)
    };
    Ok(Input {
        item,
        ident,
        doc_lines,
        applicable: true,
        step_config,
        derives_config,
    })
}

/// The span of `Config` in a `#[derive(..., Config, ...)]` among `attrs` (by its last
/// path segment, so `brainsmith_core::Config` counts too).
fn derived_config(attrs: &[syn::Attribute]) -> Option<proc_macro2::Span> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .find_map(|a| {
            let paths = a
                .parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                )
                .ok()?;
            paths
                .iter()
                .find(|p| p.segments.last().is_some_and(|s| s.ident == "Config"))
                .map(syn::spanned::Spanned::span)
        })
}

/// A step is a plain function; its argument and return types are checked by rustc
/// against `brainsmith_core::StepFn`-compatible code the expansion emits. A third
/// argument is its configuration, taken by shared reference; its type is returned.
fn check_step_signature(cx: &Ctxt, sig: &syn::Signature) -> Option<syn::Type> {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(&sig.generics, "#[step] cannot register a generic function");
    }
    if let Some(asyncness) = &sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            "#[step] cannot register an async function: steps run synchronously",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "#[step] cannot register an unsafe function");
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "#[step] cannot register a variadic function");
    }
    if let Some(syn::FnArg::Receiver(receiver)) = sig.inputs.first() {
        cx.error_spanned_by(
            receiver,
            "#[step] applies to a free function, not to a method",
        );
        return None;
    }
    if !(2..=3).contains(&sig.inputs.len()) {
        cx.error_spanned_by(
            &sig.inputs,
            format!(
                "#[step] functions take two arguments, or three with a configuration, found {}: \
                 `fn {}(model: &mut Model, ctx: &mut StepContext, config: &MyConfig) -> Result<(), E>`",
                sig.inputs.len(),
                sig.ident
            ),
        );
        return None;
    }
    let Some(syn::FnArg::Typed(third)) = sig.inputs.get(2) else {
        return None;
    };
    match &*third.ty {
        syn::Type::Reference(r) if r.mutability.is_none() && r.lifetime.is_none() => {
            Some((*r.elem).clone())
        }
        other => {
            cx.error_spanned_by(
                other,
                "the third argument of a #[step] function is its configuration, taken by \
                 shared reference to a `#[derive(Config)]` struct: `config: &MyConfig`",
            );
            None
        }
    }
}

fn describe(item: &syn::Item) -> (&'static str, TokenStream) {
    match item {
        syn::Item::Enum(e) => ("an enum", e.enum_token.to_token_stream()),
        syn::Item::Union(u) => ("a union", u.union_token.to_token_stream()),
        syn::Item::Struct(s) => ("a struct", s.struct_token.to_token_stream()),
        syn::Item::Fn(f) => ("a function", f.sig.fn_token.to_token_stream()),
        syn::Item::Trait(t) => ("a trait", t.trait_token.to_token_stream()),
        syn::Item::Impl(i) => ("an impl block", i.impl_token.to_token_stream()),
        syn::Item::Type(t) => ("a type alias", t.type_token.to_token_stream()),
        syn::Item::Const(c) => ("a const", c.const_token.to_token_stream()),
        syn::Item::Static(s) => ("a static", s.static_token.to_token_stream()),
        syn::Item::Mod(m) => ("a module", m.mod_token.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    }
}

fn doc_lines(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
        .flat_map(|text| {
            text.split('\n')
                .map(|l| l.trim_end_matches('\r').to_owned())
                .collect::<Vec<_>>()
        })
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect()
}
