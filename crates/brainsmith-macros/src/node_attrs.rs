//! `#[derive(NodeAttrs)]` (a struct's named fields become a node's typed attributes) and
//! `#[derive(AttrEnum)]` (an enum of unit variants becomes a string attribute with a
//! closed set of values).
//!
//! Parse (fields, `#[attr(name, default, check)]`, `#[node_attrs(check)]`), validate
//! (named fields, no generics, unique attribute names; every error collected) and expand
//! (`impl NodeAttrs`: the schema, `read` reporting every problem, `write`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::config::{doc, is_option};
use crate::ctxt::Ctxt;
use crate::symbol::{ALIAS, CHECK, DEFAULT, NAME};

/// One field, parsed.
struct Field {
    ident: syn::Ident,
    /// The attribute name.
    name: String,
    /// The value type (`T` of an `Option<T>` field).
    ty: syn::Type,
    optional: bool,
    doc: String,
    default: Option<syn::Expr>,
    check: Option<syn::Expr>,
}

/// Entry point of `#[derive(NodeAttrs)]`.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let cx = Ctxt::default();
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let fields = parse(&cx, &item);
    let check = struct_check(&cx, &item.attrs);
    if let Err(e) = cx.check() {
        return e.to_compile_error();
    }
    expand(&item.ident, &fields, check.as_ref())
}

fn parse(cx: &Ctxt, item: &syn::DeriveInput) -> Vec<Field> {
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "#[derive(NodeAttrs)] does not support generics",
        );
    }
    let syn::Data::Struct(data) = &item.data else {
        cx.error_spanned_by(
            &item.ident,
            "#[derive(NodeAttrs)] needs a struct with named fields: each field is a node attribute",
        );
        return Vec::new();
    };
    let named = match &data.fields {
        syn::Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
        syn::Fields::Unit => Vec::new(),
        other => {
            cx.error_spanned_by(
                other,
                "#[derive(NodeAttrs)] needs named fields: each field is a node attribute",
            );
            return Vec::new();
        }
    };
    let mut fields: Vec<Field> = Vec::new();
    for f in named {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        let mut name = None;
        let mut default = None;
        let mut check = None;
        for attr in f.attrs.iter().filter(|a| a.path().is_ident("attr")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(NAME) {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    if !valid_name(&lit.value()) {
                        return Err(syn::Error::new(
                            lit.span(),
                            "an attribute name is ASCII letters, digits and `_`, not starting \
                             with a digit",
                        ));
                    }
                    name = Some(lit.value());
                    Ok(())
                } else if meta.path.is_ident(DEFAULT) {
                    default = Some(meta.value()?.parse()?);
                    Ok(())
                } else if meta.path.is_ident(CHECK) {
                    check = Some(meta.value()?.parse()?);
                    Ok(())
                } else {
                    Err(meta.error(
                        "unknown key in #[attr(...)]; the keys are `name = \"ONNXName\"`, \
                         `default = value` and `check = f` (a `fn(&T) -> Result<(), String>`)",
                    ))
                }
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        let optional = is_option(&f.ty);
        if optional && default.is_some() {
            cx.error_spanned_by(
                &f.ty,
                "an `Option` attribute is optional already (absent is `None`); drop \
                 `default` or the `Option`",
            );
        }
        let ty = if optional {
            option_inner(&f.ty).unwrap_or_else(|| f.ty.clone())
        } else {
            f.ty.clone()
        };
        let name = name.unwrap_or_else(|| {
            let text = ident.to_string();
            text.strip_prefix("r#").unwrap_or(&text).to_owned()
        });
        if let Some(first) = fields.iter().find(|other| other.name == name) {
            cx.error_spanned_by(
                &ident,
                format!(
                    "attribute name '{name}' is already taken by field `{}`",
                    first.ident
                ),
            );
        }
        fields.push(Field {
            doc: doc(&f.attrs),
            ident,
            name,
            ty,
            optional,
            default,
            check,
        });
    }
    fields
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn option_inner(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// `#[node_attrs(check = f)]` on the struct.
fn struct_check(cx: &Ctxt, attrs: &[syn::Attribute]) -> Option<syn::Expr> {
    let mut check = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("node_attrs")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(CHECK) {
                check = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown key in #[node_attrs(...)]; the key is `check = f`, a \
                     `fn(&Self, &mut AttrCheck)` for rules across attributes",
                ))
            }
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    check
}

fn expand(ident: &syn::Ident, fields: &[Field], check: Option<&syn::Expr>) -> TokenStream {
    let private = quote!(::brainsmith_core::__private);
    let specs = fields.iter().map(|f| {
        let (name, ty, doc) = (&f.name, &f.ty, &f.doc);
        let required = !f.optional && f.default.is_none();
        let default = match &f.default {
            Some(e) => quote_spanned!(e.span()=>
                ::core::option::Option::Some(|| #private::attrs::to_attr::<#ty>(#e))),
            None => quote!(::core::option::Option::None),
        };
        quote_spanned! {ty.span()=>
            #private::AttrSpec {
                name: #name,
                ty: <#ty as #private::AttrValue>::TYPE,
                doc: #doc,
                required: #required,
                default: #default,
                allowed: <#ty as #private::AttrValue>::ALLOWED,
            }
        }
    });
    let reads = fields.iter().enumerate().map(|(i, f)| {
        let (ident, ty) = (&f.ident, &f.ty);
        let check = match &f.check {
            Some(c) => quote_spanned!(c.span()=> ::core::option::Option::Some(#c)),
            None => quote!(::core::option::Option::None),
        };
        if f.optional {
            quote_spanned! {ty.span()=>
                let #ident = #private::attrs::optional::<#ty>(node, &Self::SCHEMA[#i], #check, &mut problems);
            }
        } else {
            let default = match &f.default {
                Some(e) => quote_spanned!(e.span()=> ::core::option::Option::Some(|| #e)),
                None => quote!(::core::option::Option::None),
            };
            quote_spanned! {ty.span()=>
                let #ident = #private::attrs::field::<#ty>(node, &Self::SCHEMA[#i], #default, #check, &mut problems);
            }
        }
    });
    let writes = fields.iter().map(|f| {
        let (ident, name) = (&f.ident, &f.name);
        if f.optional {
            quote! {
                if let ::core::option::Option::Some(value) = &self.#ident {
                    #private::attrs::set(node, #name, value);
                }
            }
        } else {
            quote!(#private::attrs::set(node, #name, &self.#ident);)
        }
    });
    let cross = check.map(|c| {
        quote_spanned! {c.span()=>
            #private::attrs::check::<Self>(&value, #c, &mut problems);
        }
    });
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| &f.ident).collect();
    quote! {
        impl #private::NodeAttrs for #ident {
            const SCHEMA: &'static [#private::AttrSpec] = &[#(#specs),*];

            fn read(
                node: &#private::Node,
            ) -> ::core::result::Result<Self, ::brainsmith_core::AttrError> {
                #[allow(unused_mut)]
                let mut problems = #private::Vec::new();
                #(#reads)*
                match (#(#idents,)*) {
                    (#(::core::option::Option::Some(#idents),)*) if problems.is_empty() => {
                        let value = Self { #(#idents),* };
                        #cross
                        if problems.is_empty() {
                            ::core::result::Result::Ok(value)
                        } else {
                            ::core::result::Result::Err(#private::attrs::error(node, problems))
                        }
                    }
                    _ => ::core::result::Result::Err(#private::attrs::error(node, problems)),
                }
            }

            fn write(&self, node: &mut #private::Node) {
                #(#writes)*
            }
        }
    }
}

/// Entry point of `#[derive(AttrEnum)]`.
pub(crate) fn derive_enum(input: TokenStream) -> TokenStream {
    let cx = Ctxt::default();
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let mut variants: Vec<(syn::Ident, String)> = Vec::new();
    // Older spellings a variant also reads as: (alias, variant index, its span).
    let mut aliases: Vec<(String, usize, syn::LitStr)> = Vec::new();
    match &item.data {
        syn::Data::Enum(data) if item.generics.params.is_empty() => {
            for v in &data.variants {
                if !matches!(v.fields, syn::Fields::Unit) {
                    cx.error_spanned_by(
                        &v.fields,
                        "#[derive(AttrEnum)] takes unit variants only: each is one string value",
                    );
                }
                let mut name = v.ident.to_string();
                for attr in v.attrs.iter().filter(|a| a.path().is_ident("attr")) {
                    let result = attr.parse_nested_meta(|meta| {
                        if meta.path.is_ident(NAME) {
                            let lit: syn::LitStr = meta.value()?.parse()?;
                            name = lit.value();
                            Ok(())
                        } else if meta.path.is_ident(ALIAS) {
                            let lit: syn::LitStr = meta.value()?.parse()?;
                            aliases.push((lit.value(), variants.len(), lit));
                            Ok(())
                        } else {
                            Err(meta.error(
                                "unknown key in #[attr(...)] on a variant; the keys are \
                                 `name = \"value\"` and `alias = \"older value\"`",
                            ))
                        }
                    });
                    if let Err(e) = result {
                        cx.syn_error(e);
                    }
                }
                if let Some((first, _)) = variants.iter().find(|(_, n)| *n == name) {
                    cx.error_spanned_by(
                        &v.ident,
                        format!("value '{name}' is already taken by variant `{first}`"),
                    );
                }
                variants.push((v.ident.clone(), name));
            }
            for (i, (alias, _, lit)) in aliases.iter().enumerate() {
                if let Some((variant, _)) = variants.iter().find(|(_, n)| n == alias) {
                    cx.error_spanned_by(
                        lit,
                        format!(
                            "alias '{alias}' is the value of variant `{variant}`; \
                             an alias is an older spelling that no variant writes"
                        ),
                    );
                } else if aliases[..i].iter().any(|(a, _, _)| a == alias) {
                    cx.error_spanned_by(lit, format!("alias '{alias}' is given twice"));
                }
            }
            if data.variants.is_empty() {
                cx.error_spanned_by(
                    &item.ident,
                    "#[derive(AttrEnum)] needs at least one variant",
                );
            }
        }
        syn::Data::Enum(_) => cx.error_spanned_by(
            &item.generics,
            "#[derive(AttrEnum)] does not support generics",
        ),
        _ => cx.error_spanned_by(
            &item.ident,
            "#[derive(AttrEnum)] needs an enum of unit variants",
        ),
    }
    if let Err(e) = cx.check() {
        return e.to_compile_error();
    }
    let ident = &item.ident;
    let private = quote!(::brainsmith_core::__private);
    let names: Vec<&String> = variants.iter().map(|(_, n)| n).collect();
    let vidents: Vec<&syn::Ident> = variants.iter().map(|(v, _)| v).collect();
    let indices = 0..variants.len();
    let alias_names = aliases.iter().map(|(a, _, _)| a);
    let alias_targets = aliases.iter().map(|(_, i, _)| i);
    quote! {
        impl #private::AttrEnum for #ident {
            fn as_str(&self) -> &'static str {
                match self {
                    #(#ident::#vidents => #names,)*
                }
            }
        }

        impl #private::AttrValue for #ident {
            const TYPE: #private::AttrType = #private::AttrType::Choice;
            const ALLOWED: &'static [&'static str] = &[#(#names),*];

            fn from_attr(
                value: &#private::AttributeValue,
            ) -> ::core::result::Result<Self, #private::String> {
                const ALIASES: &[(&str, usize)] = &[#((#alias_names, #alias_targets)),*];
                match #private::attrs::choice_index(value, Self::ALLOWED, ALIASES)? {
                    #(#indices => ::core::result::Result::Ok(#ident::#vidents),)*
                    _ => ::core::unreachable!(),
                }
            }

            fn to_attr(&self) -> #private::AttributeValue {
                #private::AttributeValue::string(#private::AttrEnum::as_str(self))
            }
        }
    }
}
