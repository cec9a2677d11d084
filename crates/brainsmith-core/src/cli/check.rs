//! `plugins check`: every linked plugin graded against what a plugin should carry, the
//! certification of a plugin crate made a command.
//!
//! From the registration alone: documentation (a summary and at least
//! 80 characters), an example in it (a fenced code block), a version,
//! tags, every configuration key documented, every node attribute documented. With
//! `--model`, from the model's nodes each kernel implements: its estimates (cycles and
//! resources known for at least one node) and, per backend, that it generates every node
//! its capability check accepts. A check that does not apply
//! (no configuration, no model) is not counted. `--strict` fails when any plugin falls
//! short of any check that applies.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::table::Table;
use crate::ir::Model;
use crate::kernel::Target;
use crate::plugin::PluginKind;
use crate::registry::{Plugin, PluginRef, Registry};

/// The least a plugin's documentation holds, in characters.
const MIN_DOC_CHARS: usize = 80;

/// Arguments of `plugins check`.
#[derive(Args)]
pub(super) struct CheckArgs {
    /// Exit with 1 when any plugin falls short of any check.
    #[arg(long)]
    strict: bool,
    /// Only plugins of this source (namespace or crate).
    #[arg(long)]
    source: Option<String>,
    /// Only plugins of this kind.
    #[arg(long)]
    kind: Option<PluginKind>,
    /// A model whose nodes the kernels and backends are tried on (estimates, capability
    /// checks).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    format: CheckFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    Table,
    Json,
}

/// One check of one plugin.
#[derive(Serialize)]
struct Finding {
    check: &'static str,
    passed: bool,
    detail: String,
}

/// One plugin's grade.
#[derive(Serialize)]
struct Grade {
    plugin: String,
    kind: PluginKind,
    location: String,
    passed: usize,
    checks: usize,
    findings: Vec<Finding>,
}

pub(super) fn run(registry: &Registry, args: CheckArgs, out: &mut dyn Write) -> Result<(), String> {
    if let Some(source) = &args.source
        && !registry.sources().contains(&source.as_str())
    {
        return Err(format!(
            "unknown source '{}'; sources: {}",
            crate::suggest::shorten(source, 60),
            registry.sources().join(", ")
        ));
    }
    let model = match &args.model {
        Some(path) => Some(Model::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let grades: Vec<Grade> = registry
        .plugins()
        .iter()
        .filter(|p| args.kind.is_none_or(|k| p.kind() == k))
        .filter(|p| args.source.as_deref().is_none_or(|s| p.source() == s))
        .map(|p| grade(registry, p, model.as_ref()))
        .collect();
    let short = grades.iter().filter(|g| g.passed < g.checks).count();
    let text = match args.format {
        CheckFormat::Json => {
            let mut t = serde_json::to_string_pretty(&grades).map_err(|e| e.to_string())?;
            t.push('\n');
            t
        }
        CheckFormat::Table => {
            let mut t = Table::new(&["PLUGIN", "KIND", "GRADE", "MISSING"]);
            for g in &grades {
                let missing: Vec<String> = g
                    .findings
                    .iter()
                    .filter(|f| !f.passed)
                    .map(|f| format!("{}: {}", f.check, f.detail))
                    .collect();
                t.row(vec![
                    g.plugin.clone(),
                    g.kind.to_string(),
                    format!("{}/{}", g.passed, g.checks),
                    missing.join("; "),
                ]);
            }
            let mut text = t.render();
            text.push_str(&format!(
                "{} plugins checked; {} fall short of a check{}\n",
                grades.len(),
                short,
                if model.is_none() {
                    " (estimates and generation need --model)"
                } else {
                    ""
                }
            ));
            text
        }
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    if args.strict && short > 0 {
        return Err(format!(
            "--strict: {short} plugin(s) fall short; `plugins check` lists what each lacks"
        ));
    }
    Ok(())
}

fn grade(registry: &Registry, p: &Plugin, model: Option<&Model>) -> Grade {
    let mut findings = Vec::new();
    let mut check = |check: &'static str, passed: bool, detail: String| {
        findings.push(Finding {
            check,
            passed,
            detail,
        });
    };
    let docs = p.docs();
    let chars = docs.chars().count();
    check(
        "docs",
        !p.summary().is_empty() && chars >= MIN_DOC_CHARS,
        format!("{chars} characters of documentation; write at least {MIN_DOC_CHARS}"),
    );
    check(
        "example",
        docs.contains("```"),
        "no example in the documentation (a fenced code block)".into(),
    );
    check(
        "version",
        p.version().is_some(),
        "no version (`version = \"...\"`)".into(),
    );
    check(
        "tags",
        p.tags().next().is_some(),
        "no tags (`tags = [...]`)".into(),
    );
    let typed = registry.typed(p);
    let (config, attrs) = match typed {
        PluginRef::Transform(t) => (t.config_fields(), &[][..]),
        PluginRef::Kernel(k) => (k.config_fields(), k.attrs()),
        PluginRef::Backend(b) => (b.config_fields(), b.attrs()),
        PluginRef::Step(s) => (s.config_fields(), &[][..]),
    };
    if !config.is_empty() {
        let bare: Vec<&str> = config
            .iter()
            .filter(|f| f.doc.trim().is_empty())
            .map(|f| f.name)
            .collect();
        check(
            "config docs",
            bare.is_empty(),
            format!(
                "configuration keys without a doc comment: {}",
                bare.join(", ")
            ),
        );
    }
    if !attrs.is_empty() {
        let bare: Vec<&str> = attrs
            .iter()
            .filter(|a| a.doc.trim().is_empty())
            .map(|a| a.name)
            .collect();
        check(
            "attribute docs",
            bare.is_empty(),
            format!("node attributes without a doc comment: {}", bare.join(", ")),
        );
    }
    if let Some(model) = model {
        model_checks(registry, typed, model, &mut check);
    }
    let passed = findings.iter().filter(|f| f.passed).count();
    Grade {
        plugin: p.qualified_name().to_owned(),
        kind: p.kind(),
        location: p.location().to_string(),
        passed,
        checks: findings.len(),
        findings,
    }
}

/// Estimates (kernels) and capability checks (backends) on the model's nodes their kernel
/// implements; nothing when it has none.
fn model_checks(
    registry: &Registry,
    typed: PluginRef<'_>,
    model: &Model,
    check: &mut dyn FnMut(&'static str, bool, String),
) {
    let graph = &model.graph;
    let kernel = match typed {
        PluginRef::Kernel(k) => k,
        PluginRef::Backend(b) => b.kernel(),
        _ => return,
    };
    let nodes: Vec<_> = graph
        .nodes
        .iter()
        .filter(|n| {
            crate::hardware::resolve(registry, n)
                .ok()
                .flatten()
                .is_some_and(|f| f.kernel.qualified_name() == kernel.qualified_name())
        })
        .collect();
    if nodes.is_empty() {
        return;
    }
    let Ok(instance) = kernel.with_defaults() else {
        return;
    };
    match typed {
        PluginRef::Kernel(_) => {
            let target = Target::default();
            let estimated = nodes.iter().any(|n| {
                instance.cycles(n, graph).ok().flatten().is_some()
                    && instance
                        .resources(n, graph, &target)
                        .ok()
                        .flatten()
                        .is_some()
            });
            check(
                "estimates",
                estimated,
                format!(
                    "no cycles and resources for any of its {} node(s) in the model",
                    nodes.len()
                ),
            );
        }
        PluginRef::Backend(b) => {
            let Ok(backend) = b.with_defaults() else {
                return;
            };
            let build = crate::backend::BuildContext {
                target: Target::default(),
                output_dir: None,
            };
            let (mut accepted, mut failures) = (0, Vec::new());
            for n in &nodes {
                if backend.supports(instance.as_ref(), n, graph).is_ok() {
                    accepted += 1;
                    if let Err(e) = backend.generate(instance.as_ref(), n, graph, &build) {
                        failures.push(format!("'{}': {}", n.name, e.message()));
                    }
                }
            }
            check(
                "generates what it accepts",
                failures.is_empty(),
                format!(
                    "accepted {accepted} of its kernel's {} node(s) in the model, then failed to \
                     generate {}",
                    nodes.len(),
                    failures.join("; ")
                ),
            );
        }
        _ => {}
    }
}
