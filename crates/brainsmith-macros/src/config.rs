//! `#[derive(Config)]`: a struct's named fields become configuration keys.
//!
//! Parse (the fields and their `#[config(...)]` attributes: `default`, `check`), validate
//! (named fields, no generics, known keys; every error collected) and expand (`impl
//! Config`: the key table and `from_table`, which reads every field with `serde`, runs the
//! checks and reports every problem).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::ctxt::Ctxt;
use crate::symbol::{CHECK, DEFAULT};

/// One field, parsed.
struct Field {
    ident: syn::Ident,
    ty: syn::Type,
    doc: String,
    default: Fallback,
    /// `#[config(check = f)]`: a `fn(&T) -> Result<(), String>` the value must pass.
    check: Option<syn::Expr>,
}

/// Where a field's value comes from when its key is absent.
enum Fallback {
    /// The key is required.
    None,
    /// `#[config(default = expr)]`.
    Expr(syn::Expr),
    /// `#[config(default)]`: the type's `Default`.
    TypeDefault,
    /// An `Option` field: `None`.
    Optional,
}

/// Entry point of the derive.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let cx = Ctxt::default();
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let fields = parse(&cx, &item);
    if let Err(e) = cx.check() {
        return e.to_compile_error();
    }
    expand(&item.ident, &fields)
}

fn parse(cx: &Ctxt, item: &syn::DeriveInput) -> Vec<Field> {
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "#[derive(Config)] does not support generics",
        );
    }
    let syn::Data::Struct(data) = &item.data else {
        cx.error_spanned_by(
            &item.ident,
            "#[derive(Config)] needs a struct with named fields: each field is a key",
        );
        return Vec::new();
    };
    let syn::Fields::Named(named) = &data.fields else {
        if !matches!(data.fields, syn::Fields::Unit) {
            cx.error_spanned_by(
                &data.fields,
                "#[derive(Config)] needs named fields: each field is a key",
            );
        }
        return Vec::new();
    };
    named
        .named
        .iter()
        .filter_map(|f| {
            let ident = f.ident.clone()?;
            let (default, check) = field_attrs(cx, f);
            Some(Field {
                doc: doc(&f.attrs),
                ty: f.ty.clone(),
                default,
                check,
                ident,
            })
        })
        .collect()
}

pub(crate) fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// The field's default and check, from its `#[config(...)]` attributes.
fn field_attrs(cx: &Ctxt, field: &syn::Field) -> (Fallback, Option<syn::Expr>) {
    let mut default = if is_option(&field.ty) {
        Fallback::Optional
    } else {
        Fallback::None
    };
    let mut check = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("config")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(DEFAULT) {
                default = if meta.input.peek(syn::Token![=]) {
                    Fallback::Expr(meta.value()?.parse()?)
                } else {
                    Fallback::TypeDefault
                };
                Ok(())
            } else if meta.path.is_ident(CHECK) {
                check = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown key in #[config(...)]; the keys are `default` (`default = value`, \
                     or `default` for the type's Default) and `check` (`check = f`, a \
                     `fn(&T) -> Result<(), String>`)",
                ))
            }
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    (default, check)
}

/// The doc comment, one space of indentation removed from each line.
pub(crate) fn doc(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).to_owned())
        .collect();
    lines.join("\n").trim().to_owned()
}

/// A type as a person writes it: `Option<Vec<String>>`, `HashMap<String, u32>`.
fn type_name(ty: &syn::Type) -> String {
    quote!(#ty).to_string().replace(' ', "").replace(',', ", ")
}

/// The generated code's name for field `i`'s value.
fn local(i: usize) -> syn::Ident {
    quote::format_ident!("__brainsmith_field_{}", i)
}

/// A default expression as the TOML value it makes, where that can be read off the
/// expression: literals, strings made from literals (`"lut".to_owned()`,
/// `String::from("lut")`), lists of those (`vec![1, 2]`, `[1, 2]`), negated numbers.
/// `None` for anything else (an enum variant, a function call), shown as written.
fn toml_text(e: &syn::Expr) -> Option<String> {
    match e {
        syn::Expr::Lit(l) => match &l.lit {
            syn::Lit::Int(i) => Some(i.base10_digits().to_owned()),
            syn::Lit::Float(f) => {
                let d = f.base10_digits();
                Some(if d.contains(['.', 'e', 'E']) {
                    d.to_owned()
                } else {
                    format!("{d}.0")
                })
            }
            syn::Lit::Bool(b) => Some(b.value.to_string()),
            syn::Lit::Str(s) => Some(toml_string(&s.value())),
            _ => None,
        },
        syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => toml_text(&u.expr)
            .filter(|t| !t.starts_with(['"', '[']))
            .map(|t| format!("-{t}")),
        syn::Expr::MethodCall(m)
            if m.args.is_empty()
                && ["to_owned", "to_string", "into"].contains(&m.method.to_string().as_str()) =>
        {
            toml_text(&m.receiver).filter(|t| t.starts_with('"'))
        }
        syn::Expr::Call(c) if c.args.len() == 1 => {
            let syn::Expr::Path(p) = &*c.func else {
                return None;
            };
            let path: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            (path.ends_with(&["String".to_owned(), "from".to_owned()]))
                .then(|| toml_text(&c.args[0]))
                .flatten()
                .filter(|t| t.starts_with('"'))
        }
        syn::Expr::Array(a) => list(a.elems.iter()),
        syn::Expr::Macro(m) if m.mac.path.is_ident("vec") => {
            let elems = m
                .mac
                .parse_body_with(
                    syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
                )
                .ok()?;
            list(elems.iter())
        }
        syn::Expr::Paren(p) => toml_text(&p.expr),
        syn::Expr::Group(g) => toml_text(&g.expr),
        _ => None,
    }
}

fn list<'a>(elems: impl Iterator<Item = &'a syn::Expr>) -> Option<String> {
    let items: Option<Vec<String>> = elems.map(toml_text).collect();
    Some(format!("[{}]", items?.join(", ")))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What `Default::default()` is for the types whose default is plain: numbers, `bool`,
/// `String`, `Vec`.
fn type_default_text(ty: &syn::Type) -> Option<String> {
    let syn::Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last()?.ident.to_string();
    Some(
        match last.as_str() {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64"
            | "i128" | "isize" => "0",
            "f32" | "f64" => "0.0",
            "bool" => "false",
            "String" => "\"\"",
            "Vec" => "[]",
            _ => return None,
        }
        .to_owned(),
    )
}

fn expand(ident: &syn::Ident, fields: &[Field]) -> TokenStream {
    let private = quote!(::brainsmith_core::__private);
    let entries = fields.iter().map(|f| {
        let name = f.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name);
        let ty = type_name(&f.ty);
        let doc = &f.doc;
        let default = match &f.default {
            Fallback::None => quote!(::core::option::Option::None),
            Fallback::Expr(e) => {
                let text = toml_text(e).unwrap_or_else(|| quote!(#e).to_string());
                quote!(::core::option::Option::Some(#text))
            }
            Fallback::TypeDefault => {
                let text = type_default_text(&f.ty).unwrap_or_else(|| "Default::default()".into());
                quote!(::core::option::Option::Some(#text))
            }
            Fallback::Optional => quote!(::core::option::Option::Some("none")),
        };
        quote! {
            ::brainsmith_core::ConfigField {
                name: #name,
                ty: #ty,
                doc: #doc,
                default: #default,
            }
        }
    });
    let reads = fields.iter().enumerate().map(|(i, f)| {
        let ty = &f.ty;
        let default = match &f.default {
            Fallback::None => quote!(::core::option::Option::None),
            Fallback::Expr(e) => quote_spanned!(e.span()=> ::core::option::Option::Some(|| #e)),
            Fallback::TypeDefault => quote_spanned!(ty.span()=>
                ::core::option::Option::Some(<#ty as ::core::default::Default>::default)),
            Fallback::Optional => quote!(::core::option::Option::Some(|| ::core::option::Option::None)),
        };
        let local = local(i);
        quote_spanned! {ty.span()=>
            let #local = #private::config_field::<#ty>(table, &Self::FIELDS[#i], #default, &mut problems);
        }
    });
    // Spanned at the check, so that a function of the wrong signature is reported there.
    // The values are bound to names no check function can have, so a check named like
    // its field is called, not shadowed.
    let checks = fields.iter().enumerate().filter_map(|(i, f)| {
        let (ty, check) = (&f.ty, f.check.as_ref()?);
        let local = local(i);
        Some(quote_spanned! {check.span()=>
            #private::config_check::<#ty>(&#local, &Self::FIELDS[#i], #check, &mut problems);
        })
    });
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| &f.ident).collect();
    let locals: Vec<syn::Ident> = (0..fields.len()).map(local).collect();
    quote! {
        impl ::brainsmith_core::Config for #ident {
            const FIELDS: &'static [::brainsmith_core::ConfigField] = &[#(#entries),*];

            fn from_table(
                table: &#private::toml::Table,
            ) -> ::core::result::Result<Self, #private::Vec<::brainsmith_core::ConfigProblem>> {
                let mut problems = #private::Vec::new();
                #private::unknown_keys(table, Self::FIELDS, &mut problems);
                #(#reads)*
                #(#checks)*
                match (#(#locals,)*) {
                    (#(::core::option::Option::Some(#locals),)*) if problems.is_empty() => {
                        ::core::result::Result::Ok(Self { #(#idents: #locals),* })
                    }
                    _ => ::core::result::Result::Err(problems),
                }
            }
        }
    }
}
