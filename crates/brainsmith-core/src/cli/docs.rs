//! `docs -o DIR`: a static, searchable reference site of the linked plugins, in the spirit
//! of Clippy's lint list.
//!
//! `DIR/index.html` is one self-contained page (inline CSS and script, nothing fetched,
//! works from `file://`): the manifest is embedded as JSON in a
//! `<script type="application/json">` and rendered by the page's script, with a text
//! search, filters by kind, source, stage and tag, a count of what is shown, and each
//! plugin's docs, configuration, node attributes, cross-links and location. The state is
//! read from and kept in the URL (`index.html?q=thresh&kind=kernel`). `DIR/plugins.json`
//! is the manifest beside it.
//!
//! The site is built in a temporary directory beside `DIR` and renamed into place, so a
//! reader never sees half of one. An existing `DIR` that is not empty is refused unless
//! `--force`, and even then only when it holds an `index.html` (a catalogue written
//! before), so that a mistyped `-o` never wipes a source tree.
//!
//! The page's script builds every element with `textContent`: no text of a plugin is ever
//! parsed as HTML, and the embedded JSON has every `<` escaped ([`script_json`]), so a doc
//! comment cannot end the `<script>` that holds it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::manifest::Manifest;
use crate::registry::Registry;

/// `docs`.
#[derive(Args)]
pub(super) struct DocsArgs {
    /// The directory to write (`index.html` and `plugins.json`); created, with its
    /// parents, when missing.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Replace DIR when it is not empty (only a catalogue written before: it must hold
    /// an `index.html`).
    #[arg(long)]
    force: bool,
}

/// Writes the site of `registry`'s plugins for the binary `name`.
pub(super) fn run(
    registry: &Registry,
    name: &str,
    args: DocsArgs,
    out: &mut dyn Write,
) -> Result<(), String> {
    let manifest = Manifest::from_registry(registry, None);
    let dir = &args.output;
    check_destination(dir, args.force, name)?;
    let files = [
        ("index.html", render_page(name, &manifest)),
        ("plugins.json", manifest.to_json()),
    ];
    write_dir(dir, &files).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    writeln!(
        out,
        "wrote {} ({} plugins); open {}",
        dir.display(),
        manifest.plugins.len(),
        dir.join("index.html").display()
    )
    .map_err(|e| e.to_string())
}

/// Refuses a destination that is not a directory, a symlink, or a non-empty directory
/// without `force` (or with it, one that holds no `index.html`).
fn check_destination(dir: &Path, force: bool, name: &str) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symlink; name the directory itself",
            dir.display()
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "{} exists and is not a directory; name a new or empty directory",
            dir.display()
        ));
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .next()
        .is_none();
    if empty {
        return Ok(());
    }
    if !force {
        return Err(format!(
            "{} exists and is not empty; pass --force to replace it (`{name} docs -o {} \
             --force`), or name a new directory",
            dir.display(),
            dir.display()
        ));
    }
    if !dir.join("index.html").is_file() {
        return Err(format!(
            "{} is not empty and holds no index.html, so it is not a catalogue `docs` \
             wrote: --force replaces only those; remove it yourself or name a new directory",
            dir.display()
        ));
    }
    Ok(())
}

/// Writes `files` into a new directory beside `dir` and renames it to `dir`; an existing
/// `dir` is renamed aside first and removed once the new one is in place (restored if
/// that fails). On error nothing of the new site remains.
fn write_dir(dir: &Path, files: &[(&str, String)]) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let base = dir.file_name().map_or_else(
        || "site".to_owned(),
        |n| n.to_string_lossy().chars().take(100).collect(),
    );
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{base}."))
        .suffix(".tmp")
        .tempdir_in(parent)?;
    for (file, text) in files {
        let mut f = std::fs::File::create(tmp.path().join(file))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    // A temporary directory is owner-only; a site is for everyone to read.
    #[cfg(unix)]
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    if std::fs::symlink_metadata(dir).is_err() {
        // Nothing there: the new directory takes the name, and is no longer temporary.
        let tmp = tmp.keep();
        return std::fs::rename(&tmp, dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&tmp);
        });
    }
    // Move the old site aside, into a reserved empty directory (which rename replaces).
    let aside = tempfile::Builder::new()
        .prefix(&format!(".{base}."))
        .suffix(".old")
        .tempdir_in(parent)?;
    std::fs::rename(dir, aside.path())?;
    let tmp = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp, dir) {
        let _ = std::fs::rename(aside.path(), dir);
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Dropping `aside` removes the old site.
    drop(aside);
    Ok(())
}

/// `text` as JSON that is safe inside a `<script>` element: every `<`, `>` and `&` is a
/// `\u` escape (they only occur inside JSON strings, where the escape means the same), so
/// no `</script>` or `<!--` can appear; U+2028 and U+2029 are escaped too.
pub(super) fn script_json(json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            c => safe.push(c),
        }
    }
    safe
}

/// `text` safe as HTML text or a quoted attribute value.
fn html_escape(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => safe.push_str("&lt;"),
            '>' => safe.push_str("&gt;"),
            '&' => safe.push_str("&amp;"),
            '"' => safe.push_str("&quot;"),
            '\'' => safe.push_str("&#39;"),
            c => safe.push(c),
        }
    }
    safe
}

/// The whole `index.html` of `manifest` for the binary `name`.
pub(super) fn render_page(name: &str, manifest: &Manifest) -> String {
    let json = serde_json::to_string(manifest).expect("the manifest types always serialize");
    let title = html_escape(&format!("{name} plugins"));
    let (head, tail) = PAGE
        .split_once("{{DATA}}")
        .expect("the page has a place for the data");
    format!(
        "{}{}{}",
        head.replace("{{TITLE}}", &title),
        script_json(&json),
        tail.replace("{{TITLE}}", &title)
    )
}

/// The page: `{{TITLE}}` and `{{DATA}}` are filled in (around the data, so nothing in it
/// is read as a placeholder).
const PAGE: &str = include_str!("docs.html");
