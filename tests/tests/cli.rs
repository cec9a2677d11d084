//! The embedded command line over the standard and acme plugins, snapshot-tested.

use brainsmith_tests::cli as run;

/// Snapshot settings: source lines and columns are redacted, since they move with every
/// edit of the plugin crates (`registry.rs` checks them exactly).
macro_rules! snapshot {
    ($($arg:tt)*) => {
        insta::with_settings!({filters => vec![
            (r"\.rs:\d+:\d+", ".rs:[line]:[col]"),
            (r#""line": \d+"#, r#""line": "[line]""#),
            (r#""column": \d+"#, r#""column": "[col]""#),
            (r"(?m)^line = \d+", "line = [line]"),
            (r"(?m)^column = \d+", "column = [col]"),
        ]}, {
            insta::assert_snapshot!($($arg)*);
        })
    };
}

/// Runs a command that must succeed with nothing on stderr; returns stdout.
fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(
        (code, err.as_str()),
        (0, ""),
        "brainsmith {}",
        args.join(" ")
    );
    out
}

/// Runs a command that must fail with nothing on stdout; returns (code, stderr).
fn fails(args: &[&str]) -> (u8, String) {
    let (code, out, err) = run(args);
    assert_ne!(code, 0, "brainsmith {} succeeded", args.join(" "));
    assert_eq!(out, "", "a failing command printed data on stdout");
    (code, err)
}

#[test]
fn summary_table() {
    snapshot!(ok(&["plugins"]));
}

#[test]
fn verbose_listing() {
    snapshot!(ok(&["plugins", "--verbose"]));
}

#[test]
fn filters() {
    snapshot!("kind_kernel", ok(&["plugins", "--kind", "kernel", "-v"]));
    snapshot!("source_acme", ok(&["plugins", "--source", "acme"]));
    snapshot!(
        "stage_cleanup",
        ok(&["plugins", "--stage", "cleanup", "-v"])
    );
    snapshot!(
        "op_type",
        ok(&["plugins", "--op-type", "Thresholding", "-v"])
    );
    snapshot!("search", ok(&["plugins", "--search", "threshold", "-v"]));
}

#[test]
fn machine_readable_listing() {
    let json = ok(&[
        "plugins", "--kind", "backend", "--source", "acme", "--format", "json",
    ]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["plugin"].as_array().unwrap().len(), 2);
    snapshot!("backends_json", json);
    let toml = ok(&["plugins", "--kind", "step", "--format", "toml"]);
    assert!(brainsmith_core::manifest::Manifest::from_toml(&toml).is_ok());
    snapshot!("steps_toml", toml);
}

#[test]
fn show() {
    snapshot!("show_kernel", ok(&["plugins", "show", "acme:Thresholding"]));
    snapshot!(
        "show_backend",
        ok(&["plugins", "show", "acme:ThresholdingRtl"])
    );
    snapshot!(
        "show_transform_json",
        ok(&[
            "plugins",
            "show",
            "acme:InferThresholding",
            "--format",
            "json"
        ])
    );
    // A configured transform lists its keys, types, defaults and docs.
    let text = ok(&["plugins", "show", "RemoveIdentityOps"]);
    let config = &text[text.find("  config:").expect("a config section")..];
    snapshot!("show_config", config.split("\n\n").next().unwrap());
    let json = ok(&["plugins", "show", "RemoveIdentityOps", "--format", "json"]);
    assert!(json.contains("\"config\": ["), "{json}");
    assert!(json.contains("\"name\": \"tolerance\""), "{json}");
}

#[test]
fn unknown_names_and_bad_flags_fail_cleanly() {
    let (code, err) = fails(&["plugins", "show", "Thresholdng"]);
    assert_eq!(code, 1);
    snapshot!("show_unknown", err);
    let (code, err) = fails(&["plugins", "show", "Thresholding", "--kind", "transform"]);
    assert_eq!(code, 1);
    snapshot!("show_wrong_kind", err);
    let (code, err) = fails(&["plugins", "--source", "acm"]);
    assert_eq!(code, 1);
    snapshot!("unknown_source", err);
    let (code, err) = fails(&["plugins", "--stage", "clenup"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown stage 'clenup'; did you mean 'cleanup'?"),
        "{err}"
    );
    let (code, err) = fails(&["plugins", "--kind", "kernal"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean 'kernel'?"), "{err}");
    let (code, _) = fails(&["plugins", "--no-such-flag"]);
    assert_eq!(code, 2);
}

#[test]
fn manifest_and_verify() {
    let manifest = ok(&["manifest"]);
    let parsed = brainsmith_core::manifest::Manifest::from_toml(&manifest).unwrap();
    let registry = brainsmith_core::Registry::global().unwrap();
    assert_eq!(parsed.plugins.len(), registry.plugins().len());
    // The workspace manifest lists exactly the standard and acme plugins.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins.toml");
    let out = ok(&["verify", workspace.to_str().unwrap()]);
    assert!(out.starts_with("ok: the binary's"), "{out}");
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins.json");
    assert!(ok(&["verify", json.to_str().unwrap()]).starts_with("ok"));
}

#[test]
fn verify_reports_missing_and_unexpected_plugins() {
    let dir = std::env::temp_dir().join(format!("brainsmith-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("allow.toml");
    let text = ok(&["manifest"]).replace(
        "qualified_name = \"acme:ThresholdingRtl\"",
        "qualified_name = \"acme:ThresholdingVhdl\"",
    );
    std::fs::write(&path, text).unwrap();
    let (code, err) = fails(&["verify", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("missing from the binary: backend acme:ThresholdingVhdl"),
        "{err}"
    );
    assert!(
        err.contains("not in the manifest:     backend acme:ThresholdingRtl"),
        "{err}"
    );
    std::fs::write(
        &path,
        "format_version = 1\n[[plugin]]\nkind = \"transform\"\nnmae = \"x\"\n",
    )
    .unwrap();
    let (_, err) = fails(&["verify", path.to_str().unwrap()]);
    assert!(
        err.contains("invalid plugin manifest") && err.contains("nmae"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn apply_passes_a_configuration_in_parentheses() {
    let dir = std::env::temp_dir().join(format!("cli-apply-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("nearly.onnx");
    brainsmith_tests::nearly_identity().save(&model).unwrap();
    let output = dir.join("out.onnx");
    let nodes_after = |apply: &str| {
        let (model, output) = (model.to_str().unwrap(), output.to_str().unwrap());
        let (code, _, stderr) = run(&["transform", model, "-o", output, "--apply", apply]);
        assert_eq!(code, 0, "{stderr}");
        brainsmith_core::ir::Model::load(output)
            .unwrap()
            .graph
            .nodes
    };
    assert_eq!(nodes_after("RemoveIdentityOps,SortGraph").len(), 2);
    let nodes = nodes_after("RemoveIdentityOps(tolerance = 1e-5),SortGraph");
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].op_type, "Relu");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An identity-ish run keeps what the schema does not define: the unknown fields of the
/// model, graph, nodes, attributes and tensors, byte for byte.
#[test]
fn transform_keeps_unknown_fields() {
    use prost::Message;

    let dir = std::env::temp_dir().join(format!("cli-unknown-fields-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("vendor.onnx");
    let output = dir.join("out.onnx");
    let original = brainsmith_tests::nearly_identity().into_proto();
    let bytes = brainsmith_tests::craft::with_unknown_fields(&original);
    std::fs::write(&model, &bytes).unwrap();
    let (model, output) = (model.to_str().unwrap(), output.to_str().unwrap());
    let (code, _, stderr) = run(&["transform", model, "-o", output, "--apply", "SortGraph"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(output).unwrap() == bytes,
        "the output differs from the input"
    );
    // Replaced without an fsync, the same bytes arrive.
    std::fs::remove_file(output).unwrap();
    let args = ["transform", model, "-o", output, "--apply", "SortGraph"];
    let (code, _, stderr) = run(&[&args[..], &["--no-sync"]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        std::fs::read(output).unwrap() == bytes,
        "the --no-sync output differs from the input"
    );
    // And after a transform that changes the graph, every node left keeps its own.
    let (code, _, stderr) = run(&[
        "transform",
        model,
        "-o",
        output,
        "--apply",
        "RemoveIdentityOps",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let p =
        brainsmith_core::ir::proto::ModelProto::decode(&*std::fs::read(output).unwrap()).unwrap();
    let graph = p.graph.unwrap();
    assert!(p.unknown_fields.is_some() && graph.unknown_fields.is_some());
    assert!(graph.node.iter().all(|n| n.unknown_fields.is_some()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A name of a megabyte is quoted shortened, and costs no did-you-mean search.
#[test]
fn a_huge_name_is_quoted_shortened() {
    let name = "RemoveIdentityOps".repeat(1 << 16);
    let shown = format!("{}...({} bytes)", &name[..60], name.len());
    let (code, err) = fails(&["transform", "m.onnx", "-o", "o.onnx", "--apply", &name]);
    assert_eq!(code, 1);
    assert!(err.contains(&shown), "{}", &err[..err.len().min(500)]);
    assert!(err.len() < 1000, "{} bytes of message", err.len());

    let config = format!("SortGraph({name} = 1)");
    let (_, err) = fails(&["transform", "m.onnx", "-o", "o.onnx", "--apply", &config]);
    assert!(
        err.contains(&format!("unknown key '{shown}'")),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 1000, "{} bytes of message", err.len());

    let dir = std::env::temp_dir().join(format!("cli-huge-name-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blueprint = dir.join("huge.toml");
    std::fs::write(
        &blueprint,
        format!(
            "steps = [{{ stage = \"cleanup\" }}, \"{name}\"]\n[stages]\ncleanup = [\"{name}\"]\n"
        ),
    )
    .unwrap();
    let (_, err) = fails(&["blueprint", "check", blueprint.to_str().unwrap()]);
    assert_eq!(
        err.matches(&shown).count(),
        2,
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(err.len() < 1000, "{} bytes of message", err.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `plugins check` grades every plugin from its registration; `--strict` fails on a
/// shortfall; with a model, kernels' estimates and backends' generation are tried too.
#[test]
fn plugins_check_grades_and_certifies() {
    let text = ok(&["plugins", "check", "--source", "acme", "--format", "json"]);
    let grades: serde_json::Value = serde_json::from_str(&text).unwrap();
    let grades = grades.as_array().unwrap();
    assert!(!grades.is_empty());
    for g in grades {
        let checks: Vec<&str> = g["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .collect();
        assert!(
            checks.starts_with(&["docs", "example", "version", "tags"]),
            "{checks:?}"
        );
        assert_eq!(g["checks"].as_u64().unwrap() as usize, checks.len());
    }
    // acme's crate is certified (a plugin that falls short: tests/plugins_check.rs).
    let (code, out, err) = run(&["plugins", "check", "--strict", "--source", "acme"]);
    assert_eq!(code, 0, "{out}{err}");
    // On a model, each kernel with nodes in it is asked for its estimates.
    let model = brainsmith_tests::shared_model_path("finn_cybsec_mvau_hls.onnx");
    let text = ok(&[
        "plugins",
        "check",
        "--source",
        "brainsmith",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let grades: serde_json::Value = serde_json::from_str(&text).unwrap();
    let find = |plugin: &str, check: &str| {
        grades
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["plugin"] == plugin)
            .and_then(|g| {
                g["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["check"] == check)
                    .map(|f| f["passed"] == true)
            })
    };
    assert_eq!(find("brainsmith:MVAU", "estimates"), Some(true));
    assert_eq!(
        find("brainsmith:MVAU_hls", "generates what it accepts"),
        Some(true)
    );
    // A kernel with no node in the model is not asked.
    assert_eq!(find("brainsmith:LabelSelect", "estimates"), None);
    let (code, err) = fails(&["plugins", "check", "--source", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown source 'nope'"), "{err}");
}

/// A third party's manifest workflow with its own binary: `manifest --write FILE`, then
/// `--check FILE` passes, and after a change of contract (here: a priority and a
/// configuration default edited in the file) `--check` shows the lines and the command,
/// and `verify` names what changed, not only what is missing.
#[test]
fn manifest_write_check_and_verify_the_whole_contract() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugins.toml");
    let f = file.to_str().unwrap();
    let out = ok(&["manifest", "--write", f]);
    assert!(out.starts_with("wrote "), "{out}");
    assert!(ok(&["manifest", "--check", f]).starts_with("ok: "));
    assert!(ok(&["verify", f]).starts_with("ok: "));
    // The JSON form follows the extension.
    let json = dir.path().join("plugins.json");
    ok(&["manifest", "--write", json.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&json).unwrap().starts_with('{'));
    assert!(ok(&["verify", json.to_str().unwrap()]).starts_with("ok: "));

    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("priority = 10", "priority = 7", 1).replacen(
        "default = \"1000\"",
        "default = \"999\"",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&file, &edited).unwrap();
    let (code, err) = fails(&["manifest", "--check", f]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is stale") && err.contains("- priority = 7"),
        "{err}"
    );
    assert!(
        err.contains(&format!("update it with `brainsmith manifest --write {f}`")),
        "{err}"
    );
    let (_, err) = fails(&["verify", f]);
    assert!(
        err.contains("changed:") && err.contains("priority 7 in the manifest, 10 in the binary"),
        "{err}"
    );
    // A missing file says how to create it.
    let missing = dir.path().join("none.toml");
    let (_, err) = fails(&["manifest", "--check", missing.to_str().unwrap()]);
    assert!(
        err.contains("create it with `brainsmith manifest --write"),
        "{err}"
    );
}

/// Paths are the same on every machine: relative to `--root`, even a relative one.
#[test]
fn manifest_paths_are_relative_to_a_relative_root() {
    use brainsmith_core::manifest::normalize_file;
    let cwd = std::env::current_dir().unwrap();
    let file = cwd.join("src/lib.rs");
    assert_eq!(
        normalize_file(
            file.to_str().unwrap(),
            Some(std::path::Path::new(".")),
            "x",
            "1.0.0"
        ),
        "src/lib.rs"
    );
    // A path dependency outside the root: crate-relative.
    assert_eq!(
        normalize_file(
            "/home/someone/acme/plugins/src/kernels.rs",
            None,
            "acme-plugins",
            "0.3.0"
        ),
        "acme-plugins@0.3.0/src/kernels.rs"
    );
    // A crate from a registry: from its directory on.
    assert_eq!(
        normalize_file(
            "/root/.cargo/registry/src/index/acme-plugins-0.3.0/src/lib.rs",
            None,
            "acme-plugins",
            "0.3.0"
        ),
        "acme-plugins-0.3.0/src/lib.rs"
    );
}

/// `verify --workspace DIR` names a plugin crate of the workspace the binary does not
/// link, with the line that links it; a crate that depends on brainsmith-core without
/// declaring plugins, and the linked ones, are not named.
#[test]
fn verify_finds_the_workspaces_unlinked_plugin_crates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed = root.join("plugins.toml");
    let l = listed.to_str().unwrap();
    assert!(ok(&["verify", l, "--workspace", root.to_str().unwrap()]).starts_with("ok"));

    let dir = tempfile::tempdir().unwrap();
    let core = root.join("crates/brainsmith-core").canonicalize().unwrap();
    let write = |path: &str, text: String| {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"extra\", \"helpers\"]\nresolver = \"2\"\n".into(),
    );
    for (name, src) in [
        (
            "extra",
            "#[brainsmith_core::transform(stage = cleanup)]\nstruct X;\n",
        ),
        ("helpers", "pub fn helper() {}\n"),
    ] {
        write(
            &format!("{name}/Cargo.toml"),
            format!(
                "[package]\nname = \"{name}-plugins\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
                 [dependencies]\nbrainsmith-core = {{ path = \"{}\" }}\n",
                core.display()
            ),
        );
        write(&format!("{name}/src/lib.rs"), src.into());
    }
    let (code, err) = fails(&["verify", l, "--workspace", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not link: extra-plugins;") && err.contains("`use extra_plugins as _;`"),
        "{err}"
    );
    assert!(!err.contains("helpers-plugins"), "{err}");
}

/// The variables through which `with_disable` hands a command to the test binary it runs.
const CHILD_ARGS: &str = "BRAINSMITH_TEST_CLI_ARGS";
const CHILD_OUT: &str = "BRAINSMITH_TEST_CLI_OUT";

/// Runs `brainsmith ARGS` with `BRAINSMITH_DISABLE=disable`: in a fresh process (this test
/// binary, running `disabled_child`), since a process reads the variable once. Returns
/// (exit code, stdout, stderr).
fn with_disable(disable: &str, args: &[&str]) -> (u8, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["disabled_child", "--exact", "--test-threads=1"])
        .env("BRAINSMITH_DISABLE", disable)
        .env(CHILD_ARGS, args.join("\n"))
        .env(CHILD_OUT, &out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "the child test failed: {}",
        String::from_utf8_lossy(&status.stdout)
    );
    let text = std::fs::read_to_string(&out).expect("the child wrote its result");
    serde_json::from_str(&text).unwrap()
}

/// Not a test of its own: the command `with_disable` runs, when it runs one.
#[test]
fn disabled_child() {
    let Some(args) = std::env::var_os(CHILD_ARGS) else {
        return;
    };
    let args = args.into_string().unwrap();
    let args: Vec<&str> = args.split('\n').collect();
    let result = run(&args);
    std::fs::write(
        std::env::var_os(CHILD_OUT).unwrap(),
        serde_json::to_string(&result).unwrap(),
    )
    .unwrap();
}

/// `BRAINSMITH_DISABLE` switches plugins off for the process: listings show them, marked
/// disabled, and say by what; lookups say they are disabled; the manifest is unchanged.
#[test]
fn brainsmith_disable_lists_plugins_as_disabled_and_lookups_refuse_them() {
    let disable = "acme:*, brainsmith:FoldConstants";
    let ok_with = |args: &[&str]| {
        let (code, out, err) = with_disable(disable, args);
        assert_eq!(
            (code, err.as_str()),
            (0, ""),
            "brainsmith {}",
            args.join(" ")
        );
        out
    };
    snapshot!("disabled_summary", ok_with(&["plugins"]));
    snapshot!(
        "disabled_verbose",
        ok_with(&["plugins", "--verbose", "--source", "acme"])
    );
    let json = ok_with(&["plugins", "--format", "json", "--search", "FoldConstants"]);
    assert!(
        json.contains("\"disabled\": \"by 'brainsmith:FoldConstants' (BRAINSMITH_DISABLE)\""),
        "{json}"
    );
    let shown = ok_with(&["plugins", "show", "acme:ThresholdingRtl"]);
    assert!(
        shown.contains("  disabled:    by 'acme:*' (BRAINSMITH_DISABLE)\n"),
        "{shown}"
    );
    let (_, shown, _) = with_disable("acme:Thresholding", &["plugins", "show", "ThresholdingRtl"]);
    assert!(
        shown.contains(
            "  disabled:    with its kernel 'acme:Thresholding', by 'acme:Thresholding' \
             (BRAINSMITH_DISABLE)\n"
        ),
        "{shown}"
    );
    // The manifest describes what is linked, whatever the process disables.
    assert_eq!(ok_with(&["manifest"]), ok(&["manifest"]));
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins.toml");
    assert!(ok_with(&["verify", workspace.to_str().unwrap()]).starts_with("ok"));

    // Naming a disabled plugin is an error saying so.
    let blueprint = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/blueprints/hardware.toml");
    let (code, out, err) = with_disable(
        disable,
        &["blueprint", "check", blueprint.to_str().unwrap()],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains(
            "hardware.toml:4:5: kernel 'acme:Thresholding' is disabled by 'acme:*' \
             (BRAINSMITH_DISABLE); drop the pattern to use it, or name another kernel"
        ),
        "{err}"
    );
    let (code, _, err) = with_disable(disable, &["plugins", "show", "--kind", "step", "Nope"]);
    assert_eq!(code, 1, "{err}");
    // Unset, or empty, it disables nothing.
    assert_eq!(with_disable("", &["plugins"]).1, ok(&["plugins"]));
}

/// A bad `BRAINSMITH_DISABLE` is a load error of every command, listing each bad entry with
/// the fix or the closest name; never a panic.
#[test]
fn a_bad_brainsmith_disable_fails_every_command_with_the_fix() {
    let (code, out, err) = with_disable("acme:Thresholdng, FoldConstants,,zzz:*", &["plugins"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    let fix = "write `source:Name` (one plugin by qualified name) or `source:*` (every \
               plugin of a source); `plugins --verbose` lists the qualified names";
    assert_eq!(
        err,
        format!(
            "error: BRAINSMITH_DISABLE cannot apply; fix or unset it (4 problems):\n  \
             - BRAINSMITH_DISABLE: 'acme:Thresholdng' matches no linked plugin; did you mean \
             'acme:Thresholding'? (`plugins --source acme` lists that source's plugins)\n  \
             - BRAINSMITH_DISABLE: 'FoldConstants' names no source; {fix}\n  \
             - BRAINSMITH_DISABLE: an empty pattern; {fix}\n  \
             - BRAINSMITH_DISABLE: no linked plugin has source 'zzz' (sources: acme, brainsmith)\n"
        )
    );
    // Every command: the manifest too.
    let (code, _, err) = with_disable("brainsmith:", &["manifest"]);
    assert_eq!(code, 1);
    assert!(err.contains("'brainsmith:' has an empty name"), "{err}");
}
