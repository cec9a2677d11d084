//! `brainsmith new`: a generated workspace builds, is formatted and clippy-clean, passes
//! its own tests and doc examples, lists its plugins and passes `plugins check --strict`,
//! with one more plugin of every kind added to it; and every bad input is one clear
//! message with nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_tests::brainsmith;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn new_workspace(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let core = repo();
    let (code, out, err) = brainsmith(&[
        "new",
        path.to_str().unwrap(),
        "--core-path",
        core.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("wrote"), "{out}");
    path
}

/// Every file under `dir`, with its contents.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Runs cargo in `dir` with the scaffold's own target directory (shared between runs, so
/// brainsmith-core is built once) and the repository's lock file (the same dependency
/// versions as the repository, resolved offline).
fn cargo(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo().join("target/scaffold"))
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{text}",
        dir.display()
    );
    text
}

#[test]
fn a_generated_workspace_builds_passes_its_tests_and_lists_its_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let ws = new_workspace(dir.path(), "my-compiler");
    let plugins = ws.join("my-compiler-plugins");
    let krate = plugins.to_str().unwrap();
    for add in [
        &["kernel", "Clip8", "--op-type", "ClipEight"][..],
        &["backend", "Clip8Hls", "--kernel", "Clip8"],
        &["transform", "InferClip8", "--infers", "Clip8"],
        &["transform", "RemoveIdentities"],
        &["step", "write_summary"],
    ] {
        let mut args = vec!["new"];
        args.extend(add);
        args.extend(["--crate", krate]);
        let (code, out, err) = brainsmith(&args);
        assert_eq!(code, 0, "{add:?}: {out}{err}");
        assert!(out.contains("added"), "{out}");
    }
    std::fs::copy(repo().join("Cargo.lock"), ws.join("Cargo.lock")).unwrap();

    cargo(&ws, &["fmt", "--check"]);
    let tested = cargo(&ws, &["test", "--offline"]);
    for expected in [
        "streaming_relu::tests::estimates_and_executes_a_node ... ok",
        "clip8_hls::tests::generates_a_streaming_function_with_packed_ports ... ok",
        "clip8_hls::tests::simulates_as_the_kernel_executes ... ok",
        "streaming_relu_hls::tests::simulates_as_the_kernel_executes ... ok",
        "infer_clip8::tests::maps_an_integer_relu_and_its_attributes_read_back ... ok",
        "remove_identities::tests::removes_chains_and_keeps_a_graph_output ... ok",
        "write_summary::tests::counts_kernel_and_software_nodes ... ok",
        "links_every_plugin_crate_of_the_workspace ... ok",
        "its_plugins_pass_the_validator ... ok",
    ] {
        assert!(tested.contains(expected), "{expected} missing:\n{tested}");
    }
    let examples = tested.matches(") ... ok").count();
    assert_eq!(examples, 9, "every plugin's doc example runs:\n{tested}");
    cargo(
        &ws,
        &[
            "clippy",
            "--offline",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );

    let listed = cargo(
        &ws,
        &["run", "--offline", "-q", "--", "plugins", "--verbose"],
    );
    for name in [
        "my-compiler:StreamingRelu",
        "my-compiler:StreamingReluHls",
        "my-compiler:InferStreamingRelu",
        "my-compiler:report_kernels",
        "my-compiler:Clip8",
        "my-compiler:Clip8Hls",
        "my-compiler:InferClip8",
        "my-compiler:RemoveIdentities",
        "my-compiler:write_summary",
    ] {
        assert!(listed.contains(name), "{name} not listed:\n{listed}");
    }
    let checked = cargo(
        &ws,
        &[
            "run",
            "--offline",
            "-q",
            "--",
            "plugins",
            "check",
            "--strict",
        ],
    );
    assert!(
        checked.contains("9 plugins checked; 0 fall short"),
        "{checked}"
    );
}

#[test]
fn a_new_workspace_is_written_whole_and_named_from_its_path() {
    let dir = tempfile::tempdir().unwrap();
    // An empty directory may be the target.
    std::fs::create_dir(dir.path().join("acme_2")).unwrap();
    let ws = new_workspace(dir.path(), "acme_2");
    let files: Vec<String> = tree(&ws)
        .iter()
        .map(|(p, _)| p.strip_prefix(&ws).unwrap().display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            ".gitignore",
            "Cargo.toml",
            "README.md",
            "acme_2/Cargo.toml",
            "acme_2/src/main.rs",
            "acme_2/tests/cli.rs",
            "acme_2-plugins/Cargo.toml",
            "acme_2-plugins/src/infer_streaming_relu.rs",
            "acme_2-plugins/src/lib.rs",
            "acme_2-plugins/src/report_kernels.rs",
            "acme_2-plugins/src/streaming_relu.rs",
            "acme_2-plugins/src/streaming_relu_hls.rs",
        ]
    );
    let lib = std::fs::read_to_string(ws.join("acme_2-plugins/src/lib.rs")).unwrap();
    assert!(
        lib.contains("brainsmith_core::namespace!(\"acme_2\");"),
        "{lib}"
    );
    let kernel = std::fs::read_to_string(ws.join("acme_2-plugins/src/streaming_relu.rs")).unwrap();
    assert!(
        kernel.contains("domain = \"acme_2.fpgadataflow\""),
        "{kernel}"
    );
    let cargo = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let core = repo().join("crates/brainsmith-core");
    assert!(
        cargo.contains(&format!(
            "brainsmith-core = {{ path = \"{}\" }}",
            core.display()
        )),
        "{cargo}"
    );
    // Nothing but the workspace is left beside it.
    let beside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(beside.len(), 1);

    // From crates.io, with the standard plugins, under another name.
    let other = dir.path().join("x");
    let (code, out, err) = brainsmith(&[
        "new",
        other.to_str().unwrap(),
        "--name",
        "vision",
        "--standard-plugins",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let cargo = std::fs::read_to_string(other.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("brainsmith-core = \"0.1\""), "{cargo}");
    let compiler = std::fs::read_to_string(other.join("vision/Cargo.toml")).unwrap();
    assert!(
        compiler.contains("brainsmith-plugins = \"0.1\""),
        "{compiler}"
    );
    let main = std::fs::read_to_string(other.join("vision/src/main.rs")).unwrap();
    assert!(main.contains("use brainsmith_plugins as _;"), "{main}");
}

#[test]
fn bad_input_is_one_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = new_workspace(dir.path(), "tool");
    let krate = ws.join("tool-plugins");
    let k = krate.to_str().unwrap();
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let not_plugin = dir.path().join("plain");
    std::fs::create_dir_all(not_plugin.join("src")).unwrap();
    std::fs::write(
        not_plugin.join("Cargo.toml"),
        "[package]\nname = \"plain\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::write(not_plugin.join("src/lib.rs"), "//! Plain.\n").unwrap();
    let before = tree(dir.path());
    let p = |rel: &str| dir.path().join(rel).to_str().unwrap().to_owned();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![p("tool")], "exists and is not empty"),
        (vec![p("file")], "exists and is not a directory"),
        (vec![p("My Compiler")], "cannot name the compiler"),
        (vec![p("x"), "--name".into(), "fn".into()], "Rust keyword"),
        (vec![p("brainsmith")], "reserved"),
        (vec![p("missing/x")], "does not exist"),
        (
            vec![p("y"), "--core-path".into(), p("file")],
            "no brainsmith-core crate there",
        ),
        (
            vec![
                "kernel".into(),
                "bad_name".into(),
                "--crate".into(),
                k.into(),
            ],
            "UpperCamelCase",
        ),
        (
            vec!["step".into(), "Bad".into(), "--crate".into(), k.into()],
            "snake_case",
        ),
        (
            vec!["step".into(), "fn".into(), "--crate".into(), k.into()],
            "not a keyword",
        ),
        (
            vec![
                "kernel".into(),
                "StreamingRelu".into(),
                "--crate".into(),
                k.into(),
            ],
            "streaming_relu.rs:",
        ),
        (
            vec![
                "kernel".into(),
                "K".into(),
                "--op-type".into(),
                "a.b".into(),
                "--crate".into(),
                k.into(),
            ],
            "--op-type 'a.b'",
        ),
        (
            vec![
                "backend".into(),
                "B".into(),
                "--kernel".into(),
                "Nope".into(),
                "--crate".into(),
                k.into(),
            ],
            "its kernels: StreamingRelu",
        ),
        (
            vec![
                "transform".into(),
                "T".into(),
                "--infers".into(),
                "Nope".into(),
                "--crate".into(),
                k.into(),
            ],
            "no #[kernel] struct Nope",
        ),
        (
            vec!["kernel".into(), "K".into(), "--crate".into(), p("missing")],
            "Cargo.toml",
        ),
        (
            vec!["kernel".into(), "K".into(), "--crate".into(), p("tool")],
            "is not a package (a workspace of tool, tool-plugins)",
        ),
        (
            vec!["kernel".into(), "K".into(), "--crate".into(), p("plain")],
            "does not depend on brainsmith-core",
        ),
    ];
    for (args, expected) in cases {
        let mut argv = vec!["new"];
        argv.extend(args.iter().map(String::as_str));
        let (code, out, err) = brainsmith(&argv);
        assert_eq!(code, 1, "{argv:?}: {out}{err}");
        assert!(out.is_empty(), "{argv:?}: {out}");
        assert!(
            err.contains(expected),
            "{argv:?}: expected {expected:?} in {err}"
        );
        assert_eq!(err.lines().count(), 1, "{argv:?}: one message: {err}");
        assert!(tree(dir.path()) == before, "{argv:?} wrote something");
    }
}
