//! What `watch` shows of a registry: counts by kind and source, and what changed between
//! two manifests. Pure text; colour is added by [`Style`].

use std::collections::BTreeMap;
use std::fmt::Write;

use brainsmith_core::PluginKind;
use brainsmith_core::manifest::{LOCATION, Manifest, ManifestDiff, PluginEntry};

/// At most this many plugins are listed as added or removed; more are counted.
const LIST_LIMIT: usize = 40;
/// At most this many names are listed among the plugins that only moved.
const MOVED_LIMIT: usize = 6;

/// ANSI colour, or none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Whether to write escape sequences.
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Green.
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Bold red.
    pub fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Yellow.
    pub fn note(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Bold.
    pub fn strong(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// The plural of a kind, as the table's columns name it.
fn plural(kind: PluginKind) -> String {
    format!("{kind}s")
}

/// The registry's counts: one row per source, one column per kind, totals last.
///
/// ```
/// use brainsmith_core::manifest::Manifest;
/// use brainsmith_dev::report;
///
/// let manifest = Manifest::from_json(r#"{"format_version": 1, "plugin": [
///   {"kind": "transform", "qualified_name": "acme:Fold", "name": "Fold", "source": "acme",
///    "summary": "Folds.", "crate_name": "acme", "crate_version": "0.1.0",
///    "rust_path": "acme::Fold", "file": "src/lib.rs", "line": 3, "column": 1}
/// ]}"#).unwrap();
/// let table = report::counts(&manifest);
/// assert_eq!(table.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
///            ["acme", "1", "0", "0", "0", "1"]);
/// ```
pub fn counts(manifest: &Manifest) -> String {
    let mut rows: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut total = [0; 4];
    for p in &manifest.plugins {
        let column = PluginKind::ALL
            .iter()
            .position(|k| *k == p.kind)
            .unwrap_or(0);
        rows.entry(p.source.as_str()).or_default()[column] += 1;
        total[column] += 1;
    }
    let width = rows.keys().map(|s| s.len()).max().unwrap_or(0).max(6);
    let mut out = format!("{:width$}", "source");
    for kind in PluginKind::ALL {
        write!(out, "  {:>10}", plural(*kind)).unwrap();
    }
    out.push_str("       total\n");
    for (source, row) in rows.iter().chain([(&"all", &total)]) {
        write!(out, "{source:width$}").unwrap();
        for n in row {
            write!(out, "  {n:>10}").unwrap();
        }
        writeln!(out, "  {:>10}", row.iter().sum::<usize>()).unwrap();
    }
    out
}

/// One plugin as a list line names it: kind, qualified name, file and line.
fn plugin_line(entry: &PluginEntry) -> String {
    format!(
        "{:<9} {}  {}:{}",
        entry.kind.as_str(),
        entry.qualified_name,
        entry.file,
        entry.line
    )
}

/// What changed: `added`, `removed` and `changed` lines, each change of a changed plugin
/// named (a moved source location too, when something else changed); plugins whose only
/// change is their location are counted on one `moved` line. Empty when nothing changed.
///
/// ```
/// use brainsmith_core::manifest::{Manifest, diff};
/// use brainsmith_dev::report::{self, Style};
///
/// let before = Manifest::from_json(r#"{"format_version": 1, "plugin": [
///   {"kind": "backend", "qualified_name": "acme:MvuHls", "name": "MvuHls", "source": "acme",
///    "summary": "HLS.", "crate_name": "acme", "crate_version": "0.1.0",
///    "rust_path": "acme::MvuHls", "file": "src/lib.rs", "line": 3, "column": 1,
///    "priority": 10}
/// ]}"#).unwrap();
/// let mut after = before.clone();
/// after.plugins[0].priority = Some(12);
/// let text = report::changes(&diff(&before, &after), Style::default());
/// assert_eq!(text, "  changed  backend   acme:MvuHls: priority 10 -> 12\n");
/// ```
pub fn changes(diff: &ManifestDiff<'_>, style: Style) -> String {
    let mut out = String::new();
    for (word, list, paint) in [
        (
            "added  ",
            &diff.added,
            Style::good as fn(Style, &str) -> String,
        ),
        ("removed", &diff.removed, Style::bad),
    ] {
        for entry in list.iter().take(LIST_LIMIT) {
            writeln!(out, "  {}  {}", paint(style, word), plugin_line(entry)).unwrap();
        }
        if list.len() > LIST_LIMIT {
            writeln!(
                out,
                "  {}  ... and {} more",
                paint(style, word),
                list.len() - LIST_LIMIT
            )
            .unwrap();
        }
    }
    let mut moved = Vec::new();
    for (entry, what) in &diff.changed {
        if what.iter().all(|c| c.field() == LOCATION) {
            moved.push(entry.qualified_name.as_str());
            continue;
        }
        let head = format!(
            "  {}  {:<9} {}",
            style.note("changed"),
            entry.kind.as_str(),
            entry.qualified_name
        );
        match what.as_slice() {
            [one] => writeln!(out, "{head}: {}", one).unwrap(),
            many => {
                writeln!(out, "{head}:").unwrap();
                for c in many {
                    writeln!(out, "             {}", c).unwrap();
                }
            }
        }
    }
    if !moved.is_empty() {
        let mut names = moved[..moved.len().min(MOVED_LIMIT)].join(", ");
        if moved.len() > MOVED_LIMIT {
            write!(names, " and {} more", moved.len() - MOVED_LIMIT).unwrap();
        }
        writeln!(
            out,
            "  moved    {} plugin{} (source location only): {names}",
            moved.len(),
            if moved.len() == 1 { "" } else { "s" }
        )
        .unwrap();
    }
    out
}

/// `+3`, `-1` or `±0`: the change of a count.
pub fn delta(before: usize, after: usize) -> String {
    match after.cmp(&before) {
        std::cmp::Ordering::Greater => format!("+{}", after - before),
        std::cmp::Ordering::Less => format!("-{}", before - after),
        std::cmp::Ordering::Equal => "±0".to_owned(),
    }
}
