//! `plugins` and `plugins show`.

use std::collections::BTreeMap;
use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};

use super::table::Table;
use crate::manifest::{Manifest, PluginEntry};
use crate::plugin::{PluginKind, Stage};
use crate::registry::{LookupError, Plugin, PluginRef, Registry};
use crate::suggest;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct PluginsArgs {
    #[command(subcommand)]
    command: Option<PluginsCommand>,
    /// Only plugins of this kind (transform, kernel, backend, step).
    #[arg(long)]
    kind: Option<PluginKind>,
    /// Only plugins of this source (namespace or crate).
    #[arg(long)]
    source: Option<String>,
    /// Only transforms of this stage.
    #[arg(long)]
    stage: Option<Stage>,
    /// Only kernels implementing this ONNX op type.
    #[arg(long)]
    op_type: Option<String>,
    /// Only plugins whose name, description or tags contain every word of TEXT.
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// One line per plugin instead of the summary.
    #[arg(long, short)]
    verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum PluginsCommand {
    /// Grade every plugin: docs, an example, version, tags, documented configuration and
    /// attributes; with --model, estimates and generation. --strict fails on a shortfall.
    Check(super::check::CheckArgs),
    /// Everything about one plugin: metadata, docs, location, cross references.
    Show {
        /// Short (`Name`) or qualified (`source:Name`) name.
        name: String,
        /// Look only among plugins of this kind.
        #[arg(long)]
        kind: Option<PluginKind>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
    Toml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ShowFormat {
    Text,
    Json,
    Toml,
}

pub(super) fn run(
    registry: &Registry,
    args: PluginsArgs,
    out: &mut dyn Write,
    exit: super::Exit,
) -> Result<(), String> {
    match args.command {
        Some(PluginsCommand::Show { name, kind, format }) => {
            return show(registry, &name, kind, format, out);
        }
        Some(PluginsCommand::Check(check)) => return super::check::run(registry, check, out),
        None => {}
    }
    let selected = select(registry, &args)?;
    let text = match args.format {
        ListFormat::Json | ListFormat::Toml => {
            let manifest = Manifest::new(selected.iter().map(|p| entry(registry, p)).collect());
            let text = if args.format == ListFormat::Json {
                manifest.to_json()
            } else {
                manifest.to_toml()
            };
            if exit == super::Exit::Process {
                // Freeing an entry per plugin is work the exit does for nothing.
                std::mem::forget(manifest);
            }
            text
        }
        ListFormat::Table if args.verbose => verbose_table(registry, &selected),
        ListFormat::Table => summary_table(registry, &selected),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn select<'r>(registry: &'r Registry, args: &PluginsArgs) -> Result<Vec<&'r Plugin>, String> {
    if let Some(source) = &args.source
        && !registry.sources().contains(&source.as_str())
    {
        return Err(format!(
            "unknown source '{source}'{}\nsources: {}",
            suggest::did_you_mean(source, registry.sources().iter().copied()),
            registry.sources().join(", ")
        ));
    }
    let mut plugins: Vec<&Plugin> = match &args.search {
        Some(text) => registry.search(text),
        None => registry.plugins().iter().collect(),
    };
    plugins.retain(|p| {
        let typed = registry.typed(p);
        args.kind.is_none_or(|k| p.kind() == k)
            && args.source.as_deref().is_none_or(|s| p.source() == s)
            && args
                .stage
                .is_none_or(|s| typed.as_transform().is_some_and(|t| t.stage() == s))
            && args.op_type.as_deref().is_none_or(|op| match typed {
                PluginRef::Kernel(k) => {
                    k.op_types().any(|o| o == op) || k.mapped_from().contains(&op)
                }
                PluginRef::Transform(t) => t.consumes().any(|o| o == op),
                _ => false,
            })
    });
    Ok(plugins)
}

/// The listing's entry of `plugin`: the manifest's, with why `registry` disables it.
fn entry(registry: &Registry, plugin: &Plugin) -> PluginEntry {
    let mut entry = PluginEntry::new(registry.typed(plugin), None);
    entry.disabled = registry.why_disabled(plugin).map(|by| by.to_string());
    entry
}

/// Plugins per source and kind; a `DISABLED` column (of the total, how many are
/// disabled) only when some are, and then the patterns below.
fn summary_table(registry: &Registry, plugins: &[&Plugin]) -> String {
    let mut counts: BTreeMap<&str, ([usize; 4], usize)> = BTreeMap::new();
    for p in plugins {
        let (n, off) = counts.entry(p.source()).or_default();
        n[p.kind() as usize] += 1;
        *off += usize::from(registry.why_disabled(p).is_some());
    }
    let any_off = counts.values().any(|(_, off)| *off > 0);
    let mut header = vec!["SOURCE"];
    header.extend(PluginKind::ALL.iter().map(|k| k.plural()));
    header.push("total");
    if any_off {
        header.push("disabled");
    }
    let header: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header).right_align(&[1, 2, 3, 4, 5, 6]);
    let mut totals = [0usize; 4];
    let mut total_off = 0;
    for (source, (n, off)) in &counts {
        let mut row = vec![(*source).to_owned()];
        row.extend(n.iter().map(usize::to_string));
        row.push(n.iter().sum::<usize>().to_string());
        if any_off {
            row.push(off.to_string());
        }
        table.row(row);
        for (t, v) in totals.iter_mut().zip(n) {
            *t += v;
        }
        total_off += off;
    }
    let mut row = vec!["total".to_owned()];
    row.extend(totals.iter().map(usize::to_string));
    row.push(totals.iter().sum::<usize>().to_string());
    if any_off {
        row.push(total_off.to_string());
    }
    table.row(row);
    let mut text = table.render();
    if any_off {
        text.push_str(&disabled_note(registry));
    }
    text
}

/// The patterns the registry disables plugins by, one line each, after a blank line.
fn disabled_note(registry: &Registry) -> String {
    let mut note = String::from("\ndisabled by:\n");
    for (pattern, origin) in registry.disabled().patterns() {
        note.push_str(&format!(
            "  {} ({origin})\n",
            suggest::shorten(pattern, suggest::QUOTED)
        ));
    }
    note
}

fn details(plugin: PluginRef<'_>) -> String {
    match plugin {
        PluginRef::Transform(t) => match t.infers() {
            Some(k) => format!("infers={}", k.qualified_name()),
            None => format!("stage={}", t.stage()),
        },
        PluginRef::Kernel(k) => {
            let domain = if k.domain().is_empty() {
                String::new()
            } else {
                format!(" domain={}", k.domain())
            };
            format!(
                "op_types={}{domain}",
                k.op_types().collect::<Vec<_>>().join(",")
            )
        }
        PluginRef::Backend(b) => {
            format!(
                "kernel={} language={} priority={}",
                b.kernel().qualified_name(),
                b.language(),
                b.priority()
            )
        }
        PluginRef::Step(_) => String::new(),
    }
}

/// The first sentence of a summary, at most 72 characters.
fn brief(summary: &str) -> String {
    let sentence = summary
        .split_inclusive(". ")
        .next()
        .unwrap_or(summary)
        .trim_end();
    if sentence.chars().count() <= 72 {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(71).collect();
    format!("{}…", cut.trim_end())
}

/// One row per plugin; a disabled one's description is why it is disabled.
fn verbose_table(registry: &Registry, plugins: &[&Plugin]) -> String {
    let mut table = Table::new(&["KIND", "NAME", "DETAILS", "DESCRIPTION"]);
    let mut any_off = false;
    for p in plugins {
        let description = match registry.why_disabled(p) {
            Some(by) => {
                any_off = true;
                format!("DISABLED {by}")
            }
            None => brief(p.summary()),
        };
        table.row(vec![
            p.kind().to_string(),
            p.qualified_name().to_owned(),
            details(registry.typed(p)),
            description,
        ]);
    }
    let mut text = table.render();
    if any_off {
        text.push_str(&disabled_note(registry));
    }
    text
}

fn show(
    registry: &Registry,
    name: &str,
    kind: Option<PluginKind>,
    format: ShowFormat,
    out: &mut dyn Write,
) -> Result<(), String> {
    // A disabled plugin is shown too, saying so: `show` describes what is linked.
    let get = |kind: PluginKind| match registry.get(kind, name) {
        Err(LookupError::Disabled { qualified_name, .. }) => registry
            .plugins()
            .iter()
            .find(|p| p.kind() == kind && p.qualified_name() == qualified_name)
            .ok_or_else(|| format!("unknown {kind} '{qualified_name}'")),
        found => found.map_err(|e| e.to_string()),
    };
    let found: Vec<&Plugin> = match kind {
        Some(kind) => vec![get(kind)?],
        None => {
            let mut found = Vec::new();
            let mut ambiguous = None;
            for &kind in PluginKind::ALL {
                match registry.get(kind, name) {
                    Ok(p) => found.push(p),
                    Err(e @ LookupError::Ambiguous { .. }) => ambiguous = Some(e),
                    Err(LookupError::Disabled { .. }) => found.push(get(kind)?),
                    Err(_) => {}
                }
            }
            if let Some(e) = ambiguous.filter(|_| found.is_empty()) {
                return Err(e.to_string());
            }
            if found.is_empty() {
                let names = registry.plugins().iter().map(|p| p.name());
                let short = name.rsplit(':').next().unwrap_or(name);
                return Err(format!(
                    "unknown plugin '{name}'{}\nlist them with `plugins --verbose`",
                    suggest::did_you_mean(short, names)
                ));
            }
            found
        }
    };
    let entries: Vec<PluginEntry> = found.iter().map(|p| entry(registry, p)).collect();
    let text = match format {
        ShowFormat::Json => {
            let mut t = serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?;
            t.push('\n');
            t
        }
        ShowFormat::Toml => Manifest::new(entries).to_toml(),
        ShowFormat::Text => entries.iter().map(describe).collect::<Vec<_>>().join("\n"),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn describe(e: &PluginEntry) -> String {
    let mut lines = vec![format!("{} {}", e.kind, e.qualified_name)];
    if let Some(by) = &e.disabled {
        lines.push(format!("  {:<12} {by}", "disabled:"));
    }
    let mut field = |label: &str, value: String| {
        if !value.is_empty() {
            lines.push(format!("  {:<12} {value}", format!("{label}:")));
        }
    };
    field("summary", e.summary.clone());
    field("rust path", e.rust_path.clone());
    field("crate", format!("{} {}", e.crate_name, e.crate_version));
    field("location", format!("{}:{}:{}", e.file, e.line, e.column));
    field("version", e.version.clone().unwrap_or_default());
    field("author", e.author.clone().unwrap_or_default());
    field("tags", e.tags.join(", "));
    field("stage", e.stage.map(|s| s.to_string()).unwrap_or_default());
    field("infers", e.infers.clone().unwrap_or_default());
    field("op types", e.op_types.join(", "));
    field(
        if e.kind == PluginKind::Kernel {
            "mapped from"
        } else {
            "consumes"
        },
        e.consumes.join(", "),
    );
    if let Some(domain) = &e.domain {
        field(
            "domain",
            if domain.is_empty() {
                "(default ONNX domain)".to_owned()
            } else {
                domain.clone()
            },
        );
    }
    field("backends", e.backends.join(", "));
    field("inferred by", e.inferred_by.join(", "));
    field("kernel", e.kernel.clone().unwrap_or_default());
    field(
        "language",
        e.language.map(|l| l.to_string()).unwrap_or_default(),
    );
    field(
        "priority",
        e.priority.map(|p| p.to_string()).unwrap_or_default(),
    );
    if !e.config.is_empty() {
        lines.push("  config:".to_owned());
        for c in &e.config {
            let default = match &c.default {
                Some(d) => format!("default {d}"),
                None => "required".to_owned(),
            };
            lines.push(format!("    {} ({}, {default})", c.name, c.ty));
            for line in c.doc.lines() {
                lines.push(format!("        {line}").trim_end().to_owned());
            }
        }
    }
    if !e.attributes.is_empty() {
        lines.push("  node attributes:".to_owned());
        for a in &e.attributes {
            let default = match &a.default {
                Some(d) => format!("default {d}"),
                None if a.required => "required".to_owned(),
                None => "optional".to_owned(),
            };
            let allowed = if a.allowed.is_empty() {
                String::new()
            } else {
                format!(": {}", a.allowed.join(" | "))
            };
            lines.push(format!("    {} ({}{allowed}, {default})", a.name, a.ty));
            for line in a.doc.lines() {
                lines.push(format!("        {line}").trim_end().to_owned());
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    if !e.docs.is_empty() {
        text.push('\n');
        for line in e.docs.lines() {
            text.push_str(format!("    {line}").trim_end());
            text.push('\n');
        }
    }
    text
}
