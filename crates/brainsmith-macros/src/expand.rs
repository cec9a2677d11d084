//! Writes the item back unchanged, followed by its registration record.
//!
//! Everything generated is named by absolute path through `::brainsmith_core::__private`,
//! so the user's crate needs no other dependency and no name in scope (`Result`, `Ok`,
//! `Option`) can capture the generated code.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::ast;
use crate::attr::{self, Kind};
use crate::ctxt::Ctxt;
use crate::valid::{self, Details, Plugin};

/// Entry point of all four attributes.
pub(crate) fn plugin(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::default();
    let attrs = attr::parse(&cx, kind, args);
    let input = match ast::parse(&cx, kind, item.clone()) {
        Ok(input) => input,
        Err(error) => {
            // Not an item at all: report and give the tokens back untouched.
            let mut errors = error.to_compile_error();
            if let Err(more) = cx.check() {
                errors.extend(more.to_compile_error());
            }
            return quote!(#item #errors);
        }
    };
    let plugin = if input.applicable {
        valid::check(&cx, kind, attrs, &input)
    } else {
        None
    };
    // The user's tokens go back exactly as written: re-tokenizing the parsed item would
    // walk every function body again for nothing.
    let item = &item;
    match (cx.check(), plugin) {
        (Ok(()), Some(plugin)) => {
            let record = record(&plugin, kind);
            quote! {
                #item
                #record
            }
        }
        (result, _) => {
            let errors = result.err().map(|e| e.to_compile_error());
            let fallback = fallback(kind, &input);
            quote! {
                #item
                #errors
                #fallback
            }
        }
    }
}

/// After an error, a kernel still implements `RegisteredKernel`, so that the backends and
/// transforms naming it do not add errors of their own. Its record is a placeholder that
/// is never linked into a registry.
fn fallback(kind: Kind, input: &ast::Input) -> Option<TokenStream> {
    if kind != Kind::Kernel || !matches!(input.item, syn::Item::Struct(_)) {
        return None;
    }
    let ident = &input.ident;
    Some(quote! {
        impl ::brainsmith_core::Registered for #ident {
            const RECORD: &'static ::brainsmith_core::__private::PluginRecord =
                &::brainsmith_core::__private::UNREGISTERED;
        }
        impl ::brainsmith_core::__private::RegisteredKernel for #ident {}
    })
}

/// The record's strings as the fields of `__private::plugin_record!`, which lays them
/// out (one `concat!`ed string, end offsets computed at compile time). The parts only the
/// compiler knows (crate, module, file) are its own macros.
fn string_fields(plugin: &Plugin) -> TokenStream {
    let (op_types, domain): (&[String], &str) = match &plugin.details {
        Details::Kernel {
            op_types, domain, ..
        } => (op_types, domain),
        Details::Transform { consumes, .. } => (consumes, ""),
        _ => (&[], ""),
    };
    let name = &plugin.name;
    let type_name = plugin.ident.to_string();
    let version = plugin.version.clone().unwrap_or_default();
    let author = plugin.author.clone().unwrap_or_default();
    let tags = &plugin.tags;
    let (summary, docs) = (&plugin.summary, &plugin.docs);
    quote! {
        crate_name: ::core::env!("CARGO_PKG_NAME"),
        name: #name,
        crate_version: ::core::env!("CARGO_PKG_VERSION"),
        module_path: ::core::module_path!(),
        file: ::core::file!(),
        type_name: #type_name,
        version: #version,
        author: #author,
        tags: [#(#tags),*],
        domain: #domain,
        op_types: [#(#op_types),*],
        summary: #summary,
        docs: #docs,
    }
}

/// The hidden static holding the record: named after the kind and the identifier, so a
/// struct and a function of one name (two namespaces) get two names.
fn record_ident(kind: Kind, ident: &syn::Ident) -> syn::Ident {
    let ident = syn::ext::IdentExt::unraw(ident);
    format_ident!("__BRAINSMITH_{}_{}", kind.attr().to_uppercase(), ident)
}

fn record(plugin: &Plugin, kind: Kind) -> TokenStream {
    let private = quote!(::brainsmith_core::__private);
    let span = plugin.ident.span();
    let strings = string_fields(plugin);
    let line = quote_spanned!(span=> ::core::line!());
    let column = quote_spanned!(span=> ::core::column!());
    let record = record_ident(kind, &plugin.ident);
    let (details, extra) = details(plugin, &record);
    // `PLUGINS!` is the `macro_rules!` linkme generates beside the slice's declaration in
    // brainsmith-core: given an item, it adds the slice's link-section attributes for the
    // target. Calling it directly, rather than `#[distributed_slice(PLUGINS)]`, spares every
    // plugin a second proc-macro invocation and a type-check function; the element type
    // needs no check, since the static is declared `PluginRecord` right here. brainsmith-core
    // pins linkme to the exact version whose macro protocol this follows.
    quote! {
        #private::PLUGINS! {
        #![linkme_macro = #private::PLUGINS]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #record: #private::PluginRecord = #private::plugin_record! {
            #strings
            line: #line,
            column: #column,
            details: #details,
        };
        }
        #extra
    }
}

fn details(plugin: &Plugin, record: &syn::Ident) -> (TokenStream, TokenStream) {
    let private = quote!(::brainsmith_core::__private);
    let ident = &plugin.ident;
    let span = ident.span();
    match &plugin.details {
        Details::Transform {
            stage,
            infers,
            config,
            ..
        } => {
            let stage = syn::Ident::new(stage, Span::call_site());
            let infers = match infers {
                Some(path) => {
                    let record = kernel_record(path);
                    quote!(::core::option::Option::Some(#record))
                }
                None => quote!(::core::option::Option::None),
            };
            let (new, fields) = constructor(ident, *config, Kind::Transform);
            let schema = match config {
                Some(_) => schema(&fields, &quote!(&[])),
                // Nothing to point to: no expression for the compiler to evaluate.
                None => quote!(::core::option::Option::None),
            };
            let details = quote! {
                #private::Details::Transform(#private::TransformRecord {
                    stage: ::brainsmith_core::Stage::#stage,
                    infers: #infers,
                    new: #new,
                    schema: #schema,
                })
            };
            (details, registered(ident, record))
        }
        Details::Kernel { config, .. } => {
            let (new, fields) = constructor(ident, *config, Kind::Kernel);
            let attrs = quote_spanned!(span=> #private::kernel_attrs::<#ident>());
            let schema = schema(&fields, &attrs);
            let details = quote! {
                #private::Details::Kernel(#private::KernelRecord {
                    new: #new,
                    schema: #schema,
                })
            };
            let mut extra = registered(ident, record);
            extra.extend(quote!(impl #private::RegisteredKernel for #ident {}));
            (details, extra)
        }
        Details::Backend {
            kernel,
            language,
            priority,
            config,
        } => {
            let language = syn::Ident::new(language, Span::call_site());
            let kernel_span = syn::spanned::Spanned::span(kernel);
            let same_kernel = quote_spanned! {kernel_span=>
                const _: () = #private::backend_kernel_is::<#ident, #kernel>();
            };
            let kernel = kernel_record(kernel);
            let (new, fields) = constructor(ident, *config, Kind::Backend);
            let attrs = quote_spanned!(span=> #private::backend_attrs::<#ident>());
            let schema = schema(&fields, &attrs);
            let details = quote! {
                #private::Details::Backend(#private::BackendRecord {
                    kernel: #kernel,
                    language: ::brainsmith_core::Language::#language,
                    priority: #priority,
                    new: #new,
                    schema: #schema,
                })
            };
            let mut extra = registered(ident, record);
            extra.extend(same_kernel);
            (details, extra)
        }
        Details::Step { config } => {
            let details = match config {
                Some(ty) => {
                    let ty_span = syn::spanned::Spanned::span(ty);
                    let read = quote_spanned!(ty_span=> #private::step_config::<#ty>(config)?);
                    let check = quote_spanned!(ty_span=> #private::check_step_config::<#ty>);
                    let fields =
                        quote_spanned!(ty_span=> <#ty as ::brainsmith_core::Config>::FIELDS);
                    let schema = schema(&fields, &quote!(&[]));
                    let call =
                        quote_spanned!(span=> #private::step_result(#ident(model, ctx, &config)));
                    quote! {
                        #private::Details::Step(#private::StepRecord {
                            run: |model, ctx, config| {
                                let config = #read;
                                #call
                            },
                            check: #check,
                            schema: #schema,
                        })
                    }
                }
                None => {
                    let call = quote_spanned!(span=> #private::step_result(#ident(model, ctx)));
                    quote! {
                        #private::Details::Step(#private::StepRecord {
                            run: |model, ctx, config| {
                                #private::check_no_config(config).map_err(
                                    #private::config_problems_error,
                                )?;
                                #call
                            },
                            check: #private::check_no_config,
                            schema: ::core::option::Option::None,
                        })
                    }
                }
            };
            (details, TokenStream::new())
        }
    }
}

/// A record's `schema`: `None` when the plugin has neither configuration keys nor node
/// attributes (no relocation before `main`), else a reference to them, a temporary the
/// static's initializer extends to `'static`. Each expression is written once per
/// branch of one item, so a type error in it is reported once.
fn schema(config: &TokenStream, attrs: &TokenStream) -> TokenStream {
    let private = quote!(::brainsmith_core::__private);
    quote! {
        if #private::Schema::holds_nothing(#config, #attrs) {
            ::core::option::Option::None
        } else {
            ::core::option::Option::Some(&#private::Schema {
                config: #config,
                attrs: #attrs,
            })
        }
    }
}

/// The constructor of a struct plugin of `kind` and its configuration keys: a configured
/// one (`config` flag) is built from its configuration, any other from `Default`, and
/// rejects every key. The bounds are spanned so a missing impl is reported on the type or
/// the flag.
fn constructor(ident: &syn::Ident, config: Option<Span>, kind: Kind) -> (TokenStream, TokenStream) {
    let private = quote!(::brainsmith_core::__private);
    match config {
        Some(flag) => {
            let new = format_ident!("new_configured_{}", kind.attr(), span = flag);
            (
                quote_spanned!(flag=> #private::#new::<#ident>),
                quote_spanned!(flag=> <#ident as ::brainsmith_core::Config>::FIELDS),
            )
        }
        None => {
            let new = format_ident!("new_{}", kind.attr(), span = ident.span());
            (
                quote_spanned!(ident.span()=> #private::#new::<#ident>),
                quote!(&[]),
            )
        }
    }
}

/// The record of the kernel at `path`, spanned on the path so that a type that is not a
/// kernel is reported where the user named it.
fn kernel_record(path: &syn::Path) -> TokenStream {
    let span = syn::spanned::Spanned::span(path);
    quote_spanned!(span=> ::brainsmith_core::__private::kernel_record::<#path>())
}

/// `impl Registered`, linking a struct plugin's type to its record.
fn registered(ident: &syn::Ident, record: &syn::Ident) -> TokenStream {
    quote! {
        impl ::brainsmith_core::Registered for #ident {
            const RECORD: &'static ::brainsmith_core::__private::PluginRecord = &#record;
        }
    }
}
