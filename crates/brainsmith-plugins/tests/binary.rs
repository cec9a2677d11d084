//! The reference `brainsmith` binary links the standard plugins only: the workspace
//! manifest, which also lists acme's, is not its allowlist.

use std::process::Command;

#[test]
fn verify_names_what_the_binary_lacks() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .args(["verify", manifest])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("missing from the binary: kernel acme:Thresholding"),
        "{err}"
    );
    assert!(!err.contains("not in the manifest"), "{err}");
}

#[test]
fn plugins_lists_the_standard_library() {
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .arg("plugins")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The summary row counts what this test binary's own registry holds.
    use brainsmith_core::PluginKind;
    use brainsmith_plugins as _;
    let registry = brainsmith_core::Registry::global().unwrap();
    let count = |kind| registry.of_kind(kind).len();
    let (t, s) = (count(PluginKind::Transform), count(PluginKind::Step));
    let row = format!("brainsmith{:>12}{:>9}{:>10}{:>7}{:>7}", t, 0, 0, s, t + s);
    assert!(t >= 6, "{t} transforms");
    assert!(text.contains(&row), "no `{row}` in:\n{text}");
}
