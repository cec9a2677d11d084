//! Checks what the strings may contain and what needs several keys at once, and resolves
//! defaults (the name from the identifier, the description from the doc comment).

use proc_macro2::Span;

use crate::ast::Input;
use crate::attr::{Attrs, Kind, Spanned};
use crate::ctxt::Ctxt;
use crate::symbol::*;

/// A plugin whose attribute passed every check, ready to expand.
pub(crate) struct Plugin {
    pub(crate) ident: syn::Ident,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) docs: String,
    pub(crate) version: Option<String>,
    pub(crate) author: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) details: Details,
}

/// What only one kind of plugin carries.
pub(crate) enum Details {
    Transform {
        stage: &'static str,
        infers: Option<syn::Path>,
        /// The op types it consumes (`consumes = [...]`).
        consumes: Vec<String>,
        /// The span of the `config` flag, when the struct is its own configuration.
        config: Option<Span>,
    },
    Kernel {
        op_types: Vec<String>,
        domain: String,
        /// The span of the `config` flag.
        config: Option<Span>,
    },
    Backend {
        kernel: syn::Path,
        language: &'static str,
        priority: i32,
        /// The span of the `config` flag.
        config: Option<Span>,
    },
    Step {
        /// The configuration type, from the function's third argument.
        config: Option<syn::Type>,
    },
}

/// Checks `attrs` against `input`; every problem goes to `cx`.
pub(crate) fn check(cx: &Ctxt, kind: Kind, attrs: Attrs, input: &Input) -> Option<Plugin> {
    let written = attrs.written.clone();
    let wrote = |key: &str| written.contains(&key);
    let ident_span = input.ident.span();
    let name = match &attrs.name {
        Some(name) => {
            check_identifier(cx, &name.value, name.span, "plugin name");
            name.value.clone()
        }
        None => {
            let name = syn::ext::IdentExt::unraw(&input.ident).to_string();
            check_identifier(
                cx,
                &name,
                ident_span,
                "plugin name (taken from the identifier)",
            );
            name
        }
    };

    let docs = input.doc_lines.join("\n").trim().to_owned();
    let (summary, docs) = match &attrs.description {
        Some(d) if d.value.trim().is_empty() => {
            cx.error_at(
                d.span,
                "`description` is empty: say in a sentence what the plugin does",
            );
            (String::new(), docs)
        }
        Some(d) => (d.value.trim().to_owned(), docs),
        None if docs.is_empty() => {
            cx.error_at(
                ident_span,
                format!(
                    "#[{}] `{name}` has no description: add a doc comment (`/// ...`) or `description = \"...\"`",
                    kind.attr()
                ),
            );
            (String::new(), docs)
        }
        None => (first_paragraph(&docs), docs),
    };

    let version = attrs.version.as_ref().map(|v| {
        if let Err(e) = semver::Version::parse(&v.value) {
            cx.error_at(
                v.span,
                format!(
                    "invalid semver version `{}`: {e}; write e.g. `version = \"1.2.0\"`",
                    v.value
                ),
            );
        }
        v.value.clone()
    });
    let author = attrs.author.as_ref().map(|a| {
        if a.value.trim().is_empty() {
            cx.error_at(
                a.span,
                "`author` is empty: name the author or leave the key out",
            );
        }
        a.value.clone()
    });
    let tags = attrs
        .tags
        .as_ref()
        .map(|t| check_tags(cx, t))
        .unwrap_or_default();

    let consumes = attrs
        .consumes
        .as_ref()
        .map(|c| check_op_types(cx, c, CONSUMES))
        .unwrap_or_default();
    let details = match kind {
        Kind::Transform => match (attrs.stage, attrs.infers) {
            (Some(stage), None) => Details::Transform {
                stage: stage.value,
                infers: None,
                consumes,
                config: attrs.config.or(input.derives_config),
            },
            (None, Some(infers)) => Details::Transform {
                stage: "KernelMapping",
                infers: Some(infers),
                consumes,
                config: attrs.config.or(input.derives_config),
            },
            (Some(stage), Some(_)) => {
                cx.error_at(
                    stage.span,
                    "`stage` and `infers` exclude each other: a transform that infers a kernel \
                     runs in the kernel_mapping stage; keep one of them",
                );
                return None;
            }
            (None, None) if wrote(STAGE) || wrote(INFERS) => return None,
            (None, None) => {
                cx.error_at(
                    ident_span,
                    format!(
                        "#[transform] `{name}` needs a stage (`stage = cleanup`; stages: {}) or the \
                         kernel it infers (`infers = path::to::Kernel`)",
                        STAGES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
                    ),
                );
                return None;
            }
        },
        Kind::Kernel => {
            let domain = attrs.domain.map(|d| {
                check_domain(cx, &d);
                d.value
            });
            match attrs.op_types {
                Some(op_types) => Details::Kernel {
                    op_types: check_op_types(cx, &op_types, OP_TYPES),
                    domain: domain.unwrap_or_default(),
                    config: attrs.config.or(input.derives_config),
                },
                None if wrote(OP_TYPES) => return None,
                None => {
                    cx.error_at(
                        ident_span,
                        format!("#[kernel] `{name}` needs the ONNX op types it implements: `op_types = [\"OpType\"]`"),
                    );
                    return None;
                }
            }
        }
        Kind::Backend => {
            let mut missing = Vec::new();
            if !wrote(KERNEL) {
                missing.push("the kernel it generates code for: `kernel = path::to::Kernel`");
            }
            if !wrote(LANGUAGE) {
                missing.push("its language: `language = hls` or `language = rtl`");
            }
            for what in &missing {
                cx.error_at(ident_span, format!("#[backend] `{name}` needs {what}"));
            }
            Details::Backend {
                kernel: attrs.kernel?,
                language: attrs.language?.value,
                priority: attrs.priority.map_or(0, |p| p.value),
                config: attrs.config.or(input.derives_config),
            }
        }
        Kind::Step => Details::Step {
            config: input.step_config.clone(),
        },
    };

    Some(Plugin {
        ident: input.ident.clone(),
        name,
        summary,
        docs,
        version,
        author,
        tags,
        details,
    })
}

/// Plugin names and op types: an ASCII letter, then letters, digits and `_`.
fn check_identifier(cx: &Ctxt, text: &str, span: Span, what: &str) {
    let mut chars = text.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        cx.error_at(
            span,
            format!(
                "invalid {what} `{text}`: it must start with an ASCII letter and hold only \
                 letters, digits and `_` (`:` separates a source from a name and is not allowed)"
            ),
        );
    }
}

fn check_tags(cx: &Ctxt, tags: &Spanned<Vec<Spanned<String>>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in &tags.value {
        let valid = !tag.value.is_empty()
            && tag
                .value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            cx.error_at(
                tag.span,
                format!(
                    "invalid tag `{}`: tags are lowercase words of `a-z`, `0-9`, `-` and `_`",
                    tag.value
                ),
            );
        } else if out.contains(&tag.value) {
            cx.error_at(tag.span, format!("duplicate tag `{}`", tag.value));
        } else {
            out.push(tag.value.clone());
        }
    }
    out
}

fn check_op_types(cx: &Ctxt, op_types: &Spanned<Vec<Spanned<String>>>, key: &str) -> Vec<String> {
    if op_types.value.is_empty() {
        cx.error_at(
            op_types.span,
            format!("`{key}` is empty: name at least one ONNX op type"),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for op in &op_types.value {
        check_identifier(cx, &op.value, op.span, "ONNX op type");
        if out.contains(&op.value) {
            cx.error_at(op.span, format!("duplicate op type `{}`", op.value));
        } else {
            out.push(op.value.clone());
        }
    }
    out
}

fn check_domain(cx: &Ctxt, domain: &Spanned<String>) {
    let valid = domain.value.split('.').all(|part| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) || domain.value.is_empty();
    if !valid {
        cx.error_at(
            domain.span,
            format!(
                "invalid ONNX domain `{}`: dot-separated words such as `finn.custom_op.fpgadataflow`, \
                 or \"\" for the default domain",
                domain.value
            ),
        );
    }
}

/// The first paragraph of a doc comment, joined into one line.
fn first_paragraph(docs: &str) -> String {
    docs.split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}
