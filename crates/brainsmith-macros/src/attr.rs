//! Parses the attribute's `key = value` list into typed values.
//!
//! Only the *form* of each value is checked here (a string, a list of strings, a path, a
//! choice from a closed set, an integer); what the strings may contain is [`crate::valid`]'s
//! job. Unknown and duplicate keys are reported, and parsing goes on after every error so
//! that all of them reach the user at once.

use proc_macro2::{Span, TokenStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, Lit, Meta, Token};

use crate::ctxt::Ctxt;
use crate::suggest::closest;
use crate::symbol::*;

/// The four kinds of plugin, one per attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Transform,
    Kernel,
    Backend,
    Step,
}

impl Kind {
    /// The attribute's name, as the user writes it.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Transform => "transform",
            Kind::Kernel => "kernel",
            Kind::Backend => "backend",
            Kind::Step => "step",
        }
    }

    /// Every key the attribute accepts.
    pub(crate) fn keys(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            Kind::Transform => &[STAGE, INFERS, CONSUMES, CONFIG],
            Kind::Kernel => &[OP_TYPES, DOMAIN, CONFIG],
            Kind::Backend => &[KERNEL, LANGUAGE, PRIORITY, CONFIG],
            Kind::Step => &[],
        };
        COMMON_KEYS.iter().chain(own).copied().collect()
    }
}

/// A value with the span of the token it came from.
#[derive(Clone, Debug)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The attribute's keys, each at most once, in their parsed form.
#[derive(Default)]
pub(crate) struct Attrs {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<Spanned<String>>,
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) author: Option<Spanned<String>>,
    pub(crate) tags: Option<Spanned<Vec<Spanned<String>>>>,
    /// The variant name of `Stage`.
    pub(crate) stage: Option<Spanned<&'static str>>,
    pub(crate) infers: Option<syn::Path>,
    pub(crate) consumes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) op_types: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) domain: Option<Spanned<String>>,
    pub(crate) kernel: Option<syn::Path>,
    /// The variant name of `Language`.
    pub(crate) language: Option<Spanned<&'static str>>,
    pub(crate) priority: Option<Spanned<i32>>,
    /// `config`: the struct derives `Config`.
    pub(crate) config: Option<Span>,
    /// Keys that were written, valid or not: a key given with a bad value is reported
    /// once, for its value, and not again as missing.
    pub(crate) written: Vec<&'static str>,
}

/// Parses `args`, the tokens inside `#[kind(...)]`.
pub(crate) fn parse(cx: &Ctxt, kind: Kind, args: TokenStream) -> Attrs {
    let mut attrs = Attrs::default();
    let metas =
        match syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args) {
            Ok(metas) => metas,
            Err(error) => {
                cx.syn_error(error);
                return attrs;
            }
        };
    let keys = kind.keys();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let path = meta.path();
        let Some(ident) = path.get_ident() else {
            cx.error_spanned_by(
                path,
                format!("expected a key of #[{}], found a path", kind.attr()),
            );
            continue;
        };
        let key = ident.to_string();
        let Some(&key) = keys.iter().find(|k| **k == key) else {
            let hint = closest(&key, keys.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            cx.error_spanned_by(
                ident,
                format!(
                    "unknown key `{key}` in #[{}]{hint}\nvalid keys: {}",
                    kind.attr(),
                    keys.join(", ")
                ),
            );
            continue;
        };
        if seen.iter().any(|s| s == key) {
            cx.error_spanned_by(
                ident,
                format!("duplicate key `{key}` in #[{}]", kind.attr()),
            );
            continue;
        }
        seen.push(key.to_owned());
        attrs.written.push(key);
        if key == CONFIG {
            match meta {
                Meta::Path(_) => attrs.config = Some(ident.span()),
                other => cx.error_spanned_by(
                    other,
                    "`config` is a flag: write `config` alone, and `#[derive(Config)]` on the \
                     struct; its fields are the keys",
                ),
            }
            continue;
        }
        let value = match meta {
            Meta::NameValue(nv) => nv.value,
            Meta::Path(_) => {
                cx.error_spanned_by(
                    ident,
                    format!("key `{key}` needs a value: `{key} = {}`", example(key)),
                );
                continue;
            }
            Meta::List(list) => {
                cx.error_spanned_by(
                    list,
                    format!("write `{key} = {}`, not `{key}(...)`", example(key)),
                );
                continue;
            }
        };
        match key {
            NAME => attrs.name = string(cx, key, &value),
            DESCRIPTION => attrs.description = string(cx, key, &value),
            VERSION => attrs.version = string(cx, key, &value),
            AUTHOR => attrs.author = string(cx, key, &value),
            TAGS => attrs.tags = string_list(cx, key, &value),
            STAGE => attrs.stage = choice(cx, key, "stage", STAGES, &value),
            INFERS => attrs.infers = type_path(cx, key, &value),
            OP_TYPES => attrs.op_types = string_list(cx, key, &value),
            CONSUMES => attrs.consumes = string_list(cx, key, &value),
            DOMAIN => attrs.domain = string(cx, key, &value),
            KERNEL => attrs.kernel = type_path(cx, key, &value),
            LANGUAGE => attrs.language = choice(cx, key, "language", LANGUAGES, &value),
            PRIORITY => attrs.priority = integer(cx, key, &value),
            _ => unreachable!("every key of Kind::keys has a parser"),
        }
    }
    attrs
}

/// How a key's value is written, for messages.
fn example(key: &str) -> &'static str {
    match key {
        TAGS => "[\"tag\", ...]",
        OP_TYPES | CONSUMES => "[\"OpType\", ...]",
        STAGE => "cleanup",
        LANGUAGE => "hls",
        INFERS | KERNEL => "path::to::Kernel",
        PRIORITY => "0",
        _ => "\"...\"",
    }
}

fn string(cx: &Ctxt, key: &str, value: &Expr) -> Option<Spanned<String>> {
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(s), ..
    }) = value
    {
        return Some(Spanned {
            value: s.value(),
            span: s.span(),
        });
    }
    cx.error_spanned_by(
        value,
        format!("`{key}` takes a string literal: `{key} = \"...\"`"),
    );
    None
}

fn string_list(cx: &Ctxt, key: &str, value: &Expr) -> Option<Spanned<Vec<Spanned<String>>>> {
    let Expr::Array(array) = value else {
        cx.error_spanned_by(
            value,
            format!(
                "`{key}` takes a list of string literals: `{key} = {}`",
                example(key)
            ),
        );
        return None;
    };
    let mut items = Vec::new();
    let mut ok = true;
    for elem in &array.elems {
        match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                items.push(Spanned {
                    value: s.value(),
                    span: s.span(),
                });
            }
            other => {
                cx.error_spanned_by(other, format!("`{key}` takes string literals only"));
                ok = false;
            }
        }
    }
    ok.then(|| Spanned {
        value: items,
        span: array.span(),
    })
}

fn type_path(cx: &Ctxt, key: &str, value: &Expr) -> Option<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(_), ..
        }) => {
            cx.error_spanned_by(
                value,
                format!("`{key}` takes a type path, not a string: write `{key} = path::to::Kernel` without quotes"),
            );
            None
        }
        _ => {
            cx.error_spanned_by(
                value,
                format!("`{key}` takes a type path: `{key} = path::to::Kernel`"),
            );
            None
        }
    }
}

fn choice(
    cx: &Ctxt,
    key: &str,
    what: &str,
    options: &'static [(&'static str, &'static str)],
    value: &Expr,
) -> Option<Spanned<&'static str>> {
    let (text, span) = match value {
        Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            let ident = p.path.get_ident()?;
            (ident.to_string(), ident.span())
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => (s.value(), s.span()),
        _ => {
            cx.error_spanned_by(value, format!("`{key}` takes one of: {}", names(options)));
            return None;
        }
    };
    if let Some((_, variant)) = options.iter().find(|(name, _)| *name == text) {
        return Some(Spanned {
            value: variant,
            span,
        });
    }
    let hint = closest(&text, options.iter().map(|(name, _)| *name))
        .filter(|c| crate::suggest::is_close(&text, c))
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default();
    cx.error_at(
        span,
        format!("unknown {what} `{text}`{hint}\n{what}s: {}", names(options)),
    );
    None
}

fn names(options: &[(&str, &str)]) -> String {
    options
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn integer(cx: &Ctxt, key: &str, value: &Expr) -> Option<Spanned<i32>> {
    let parsed = match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i32>(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<i32>().map(|v| -v),
            _ => Err(syn::Error::new_spanned(value, "")),
        },
        _ => Err(syn::Error::new_spanned(value, "")),
    };
    match parsed {
        Ok(v) => Some(Spanned {
            value: v,
            span: value.span(),
        }),
        Err(_) => {
            cx.error_spanned_by(
                value,
                format!("`{key}` takes an integer literal (i32): `{key} = 10`"),
            );
            None
        }
    }
}
