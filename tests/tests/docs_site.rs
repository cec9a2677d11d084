//! `brainsmith docs -o DIR`: the files it writes, the data embedded in the page (every
//! registered plugin, no way out of its `<script>`), refusing and replacing an existing
//! directory, and, in headless Chromium, that a search or a filter narrows the list.

use std::path::Path;

use brainsmith_core::manifest::{Manifest, PluginEntry};
use brainsmith_core::registry::Registry;
use brainsmith_tests::{chromium, cli};

/// The manifest of this test binary's plugins, as the command sees them.
fn manifest() -> Manifest {
    Manifest::from_registry(Registry::global().unwrap(), None)
}

/// Runs `docs -o dir` (with `extra` arguments); the exit code, stdout and stderr.
fn docs(dir: &Path, extra: &[&str]) -> (u8, String, String) {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["docs", "-o", dir];
    args.extend_from_slice(extra);
    cli(&args)
}

/// The text of the `<script type="application/json">` element of `page`.
fn embedded_json(page: &str) -> &str {
    let open = r#"<script type="application/json" id="plugin-data">"#;
    let start = page.find(open).expect("the page embeds its data") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    &page[start..end]
}

#[test]
fn writes_a_page_and_the_manifest_of_every_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    let (code, out, err) = docs(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    let expected = manifest();
    assert!(
        out.contains(&format!("({} plugins)", expected.plugins.len())),
        "{out}"
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["index.html", "plugins.json"],
        "nothing else is left"
    );

    let json = std::fs::read_to_string(dir.join("plugins.json")).unwrap();
    assert_eq!(Manifest::from_json(&json).unwrap(), expected);

    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<title>brainsmith plugins</title>"));
    // Self-contained: nothing is fetched.
    for external in ["<link", "src=", "http://", "https://", "@import"] {
        assert!(
            !page.contains(external),
            "the page refers to something outside it: {external}"
        );
    }
    let embedded: Manifest = serde_json::from_str(embedded_json(&page)).unwrap();
    assert_eq!(embedded, expected, "the page lists every registered plugin");
    let registry = Registry::global().unwrap();
    assert_eq!(embedded.plugins.len(), registry.plugins().len());
    for kind in ["transform", "kernel", "backend", "step"] {
        assert!(
            embedded.plugins.iter().any(|p| p.kind.to_string() == kind),
            "no {kind} in the catalogue"
        );
    }
}

#[test]
fn the_escaped_json_cannot_end_its_script() {
    let hostile = "</script><script>alert(1)</script><!-- </SCRIPT > & \u{2028} <b id=\"x\">";
    let json = serde_json::to_string(&hostile).unwrap();
    let safe = brainsmith_core::cli::__script_json(&json);
    for bad in ["<", ">", "&", "\u{2028}"] {
        assert!(!safe.contains(bad), "{bad:?} left in {safe}");
    }
    assert_eq!(
        serde_json::from_str::<String>(&safe).unwrap(),
        hostile,
        "the escapes mean the same text"
    );

    // And in a whole page: the data still ends where the page ends it, and reads back.
    let mut m = manifest();
    m.plugins[0].docs = hostile.to_owned();
    m.plugins[0].summary = hostile.to_owned();
    let page = brainsmith_core::cli::__docs_page("</title><b>", &m);
    assert_eq!(page.matches("</script>").count(), 2, "the page's own two");
    assert!(!page.contains("alert(1)</script>"));
    assert!(page.contains("<title>&lt;/title&gt;&lt;b&gt; plugins</title>"));
    let back: Manifest = serde_json::from_str(embedded_json(&page)).unwrap();
    assert_eq!(back, m);
}

#[test]
fn an_existing_directory_is_replaced_only_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");

    // An empty directory is fine.
    std::fs::create_dir(&dir).unwrap();
    let (code, _, err) = docs(&dir, &[]);
    assert_eq!(code, 0, "{err}");

    // A written site is refused, naming the path and the fix.
    let (code, _, err) = docs(&dir, &[]);
    assert_eq!(code, 1);
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("--force"), "{err}");

    // --force replaces it, stray files and all.
    std::fs::write(dir.join("stale.txt"), "old").unwrap();
    let (code, _, err) = docs(&dir, &["--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("stale.txt").exists());
    assert!(dir.join("index.html").is_file() && dir.join("plugins.json").is_file());

    // ...but never a directory that is not a catalogue.
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("main.rs"), "fn main() {}").unwrap();
    let (code, _, err) = docs(&src, &["--force"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a catalogue"), "{err}");
    assert!(src.join("main.rs").is_file(), "left alone");

    // Nor a file.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = docs(&file, &["--force"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a directory"), "{err}");

    // No temporary directory is left behind.
    let mut left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["file", "site", "src"]);
}

/// The `data-plugin` names of the plugin entries of a dumped DOM, each with whether it is
/// shown; and the count text.
fn entries(dom: &str) -> (Vec<(String, bool)>, String) {
    let mut found = Vec::new();
    for tag in dom.split("<details").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        let Some(start) = tag.find("data-plugin=\"") else {
            continue;
        };
        let start = start + "data-plugin=\"".len();
        let name = &tag[start..start + tag[start..].find('"').unwrap()];
        found.push((name.to_owned(), !tag.contains(" hidden")));
    }
    let start = dom.find("id=\"count\"").expect("the page has a count");
    let start = start + dom[start..].find('>').unwrap() + 1;
    let count = dom[start..start + dom[start..].find('<').unwrap()].to_owned();
    (found, count)
}

/// Which plugins a filter keeps.
type Keep<'a> = Box<dyn Fn(&PluginEntry) -> bool + 'a>;

/// What the page searches for a plugin, lower case.
fn haystack(p: &PluginEntry) -> String {
    [
        p.qualified_name.as_str(),
        &p.summary,
        &p.docs,
        &p.tags.join(" "),
    ]
    .join("\n")
    .to_lowercase()
}

#[test]
fn a_search_narrows_the_list_in_chromium() {
    let Some(chromium) = chromium::find("a_search_narrows_the_list_in_chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("site");
    let (code, _, err) = docs(&dir, &[]);
    assert_eq!(code, 0, "{err}");
    let m = manifest();
    let total = m.plugins.len();
    let page = format!("file://{}", dir.join("index.html").display());
    let shown = |url: &str| {
        let started = std::time::Instant::now();
        let dom = chromium::dump_dom(&chromium, url);
        eprintln!("chromium --dump-dom {url} took {:?}", started.elapsed());
        let (all, count) = entries(&dom);
        assert_eq!(all.len(), total, "every plugin has an entry");
        let visible: Vec<String> = all.into_iter().filter(|e| e.1).map(|e| e.0).collect();
        assert_eq!(count, format!("{} of {total} plugins", visible.len()));
        visible
    };
    let find = |name: &str| m.plugins.iter().find(|p| p.qualified_name == name).unwrap();

    let started = std::time::Instant::now();
    let dom = chromium::dump_dom(&chromium, &page);
    eprintln!("chromium --dump-dom {page} took {:?}", started.elapsed());
    let (all, count) = entries(&dom);
    assert_eq!(all.len(), total, "every plugin has an entry");
    assert!(all.iter().all(|e| e.1), "no query shows them all");
    assert_eq!(count, format!("{total} of {total} plugins"));
    // The tables show every row's name and type.
    let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let attr = m
        .plugins
        .iter()
        .flat_map(|p| &p.attributes)
        .find(|a| plain(&a.ty))
        .expect("a node attribute");
    let row = format!("<td><code>{}</code></td><td>{}</td>", attr.name, attr.ty);
    assert!(dom.contains(&row), "no row {row}");
    let config = m
        .plugins
        .iter()
        .flat_map(|p| &p.config)
        .find(|c| plain(&c.ty))
        .expect("a configuration key");
    let row = format!(
        "<td><code>{}</code></td><td>{}</td>",
        config.name, config.ty
    );
    assert!(dom.contains(&row), "no row {row}");
    // Cross-links lead to the backends' entries.
    let kernel = m
        .plugins
        .iter()
        .find(|p| !p.backends.is_empty())
        .expect("a kernel with backends");
    let (source, name) = kernel.backends[0].split_once(':').unwrap();
    let id = format!("backend-{source}-{name}");
    assert!(dom.contains(&format!("href=\"#{id}\"")), "no link to {id}");
    assert!(dom.contains(&format!("id=\"{id}\"")), "no entry {id}");

    let query = "Thresholding";
    let found = shown(&format!("{page}?q={query}"));
    assert!(!found.is_empty() && found.len() < total, "{found:?}");
    for name in &found {
        assert!(
            haystack(find(name)).contains(&query.to_lowercase()),
            "{name} does not match {query}"
        );
    }
    let expected = m
        .plugins
        .iter()
        .filter(|p| haystack(p).contains(&query.to_lowercase()))
        .count();
    assert_eq!(found.len(), expected, "every match is shown");

    let backends = shown(&format!("{page}?kind=backend"));
    assert!(!backends.is_empty() && backends.len() < total);
    for name in &backends {
        assert_eq!(find(name).kind.to_string(), "backend", "{name}");
    }
    assert_eq!(
        backends.len(),
        m.plugins
            .iter()
            .filter(|p| p.kind.to_string() == "backend")
            .count()
    );

    // Each other filter, alone: exactly the plugins it names.
    let stage = |p: &PluginEntry| p.stage.map(|s| serde_json::to_value(s).unwrap());
    let some_stage = m.plugins.iter().find_map(stage).unwrap();
    let some_stage = some_stage.as_str().unwrap().to_owned();
    let some_tag = m.plugins.iter().find_map(|p| p.tags.first()).unwrap();
    let filters: [(&str, &str, Keep<'_>); 3] = [
        ("source", "acme", Box::new(|p| p.source == "acme")),
        (
            "stage",
            &some_stage,
            Box::new(|p| stage(p).is_some_and(|s| s == some_stage.as_str())),
        ),
        ("tag", some_tag, Box::new(|p| p.tags.contains(some_tag))),
    ];
    for (key, value, keep) in filters {
        let visible = shown(&format!("{page}?{key}={value}"));
        let expected: Vec<_> = m
            .plugins
            .iter()
            .filter(|p| keep(p))
            .map(|p| p.qualified_name.clone())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < total,
            "{key}={value}"
        );
        assert_eq!(visible, expected, "{key}={value}");
    }

    // A hostile doc comment is shown as text: nothing of it becomes an element.
    let mut hostile = manifest();
    hostile.plugins[0].docs = "</script><b id=\"injected\">x</b> `<i id=\"injected2\">`".into();
    hostile.plugins[0].summary = hostile.plugins[0].docs.clone();
    let file = tmp.path().join("hostile.html");
    std::fs::write(&file, brainsmith_core::cli::__docs_page("t", &hostile)).unwrap();
    let dom = chromium::dump_dom(&chromium, &format!("file://{}", file.display()));
    assert!(!dom.contains("<b id=\"injected"), "{dom}");
    assert!(!dom.contains("<i id=\"injected2"), "{dom}");
    assert!(
        dom.contains("&lt;b id=\"injected\"&gt;x&lt;/b&gt;"),
        "shown as text"
    );
    assert!(
        dom.contains("<code>&lt;i id=\"injected2\"&gt;</code>"),
        "a `code` span"
    );
    assert!(
        dom.contains(&format!("{total} of {total} plugins")),
        "the script ran"
    );
}
