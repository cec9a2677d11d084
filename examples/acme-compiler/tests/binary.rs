//! The example compiler binary shows acme's plugins in its CLI and its manifest.

use std::process::Command;

fn acme(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acme-compiler"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn lists_the_third_party_plugins() {
    let (ok, out, err) = acme(&["plugins", "--source", "acme", "--verbose"]);
    assert!(ok, "{err}");
    for name in [
        "acme:InferThresholding",
        "acme:Thresholding",
        "acme:ThresholdingHls",
        "acme:ThresholdingRtl",
        "acme:generate_hardware",
    ] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    assert_eq!(out.lines().count(), 6, "a header and five plugins:\n{out}");
}

#[test]
fn its_manifest_holds_acme_and_matches_the_workspace_allowlist() {
    let (ok, out, err) = acme(&["manifest", "--format", "json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"qualified_name\": \"acme:ThresholdingHls\""));
    assert!(out.contains("\"file\": \"examples/acme-plugins/src/codegen.rs\""));
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins.toml");
    let (ok, out, err) = acme(&["verify", workspace]);
    assert!(ok, "{err}");
    // The binary links every plugin of the workspace, so it holds every manifest entry.
    let entries = std::fs::read_to_string(workspace)
        .unwrap()
        .matches("[[plugin]]")
        .count();
    assert!(
        out.starts_with(&format!("ok: the binary's {entries} plugins match")),
        "{out}"
    );
}

#[test]
fn unknown_plugin_is_an_error_on_stderr_only() {
    let (ok, out, err) = acme(&["plugins", "show", "ThresholdingVhdl"]);
    assert!(!ok);
    assert_eq!(out, "");
    assert!(
        err.contains("unknown plugin 'ThresholdingVhdl'; did you mean 'ThresholdingHls'?"),
        "{err}"
    );
}
