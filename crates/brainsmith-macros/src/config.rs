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
            if meta.path.is_ident("default") {
                default = if meta.input.peek(syn::Token![=]) {
                    Fallback::Expr(meta.value()?.parse()?)
                } else {
                    Fallback::TypeDefault
                };
                Ok(())
            } else if meta.path.is_ident("check") {
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
                let text = quote!(#e).to_string();
                quote!(::core::option::Option::Some(#text))
            }
            Fallback::TypeDefault => quote!(::core::option::Option::Some("Default::default()")),
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
        let ident = &f.ident;
        let ty = &f.ty;
        let default = match &f.default {
            Fallback::None => quote!(::core::option::Option::None),
            Fallback::Expr(e) => quote_spanned!(e.span()=> ::core::option::Option::Some(|| #e)),
            Fallback::TypeDefault => quote_spanned!(ty.span()=>
                ::core::option::Option::Some(<#ty as ::core::default::Default>::default)),
            Fallback::Optional => quote!(::core::option::Option::Some(|| ::core::option::Option::None)),
        };
        quote_spanned! {ty.span()=>
            let #ident = #private::config_field::<#ty>(table, &Self::FIELDS[#i], #default, &mut problems);
        }
    });
    // Spanned at the check, so that a function of the wrong signature is reported there.
    let checks = fields.iter().enumerate().filter_map(|(i, f)| {
        let (ident, ty, check) = (&f.ident, &f.ty, f.check.as_ref()?);
        Some(quote_spanned! {check.span()=>
            #private::config_check::<#ty>(&#ident, &Self::FIELDS[#i], #check, &mut problems);
        })
    });
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| &f.ident).collect();
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
                match (#(#idents,)*) {
                    (#(::core::option::Option::Some(#idents),)*) if problems.is_empty() => {
                        ::core::result::Result::Ok(Self { #(#idents),* })
                    }
                    _ => ::core::result::Result::Err(problems),
                }
            }
        }
    }
}
