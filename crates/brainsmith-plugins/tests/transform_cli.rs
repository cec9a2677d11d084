//! `brainsmith transform`: the result is written atomically, only on success, and every
//! kind of bad input is a clear error with a non-zero exit and no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brainsmith_core::ir::{ElemType, Model, Node, ValueInfo};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models")
}

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/cli-scratch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn brainsmith(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `brainsmith transform MODEL -o OUTPUT --apply APPLY [EXTRA...]`.
fn transform(model: &Path, output: &Path, apply: &str, extra: &[&str]) -> (Output, String, String) {
    let mut args = vec![
        "transform",
        model.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--apply",
        apply,
    ];
    args.extend_from_slice(extra);
    brainsmith(&args)
}

const RECIPE: &str = "InferShapes,FoldConstants,RemoveIdentityOps,GiveUniqueNodeNames,GiveReadableTensorNames,SortGraph";

#[test]
fn runs_the_cleanup_recipe_and_reports_it_as_json() {
    let dir = scratch("recipe");
    let model = models().join("light_squeezenet.onnx");
    let output = dir.join("out.onnx");
    let (out, stdout, stderr) = transform(&model, &output, RECIPE, &["--format", "json"]);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["transform"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = RECIPE
        .split(',')
        .map(|n| format!("brainsmith:{n}"))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(report["nodes_before"], 105);
    let after = report["nodes_after"].as_u64().unwrap();
    assert!(after < 105, "ConstantOfShape weights fold away: {after}");
    let written = Model::load(&output).unwrap();
    assert_eq!(written.graph.nodes.len() as u64, after);
    assert!(
        !written
            .graph
            .nodes
            .iter()
            .any(|n| n.op_type == "ConstantOfShape")
    );
}

#[test]
fn the_table_lists_every_transform_with_node_counts() {
    let dir = scratch("table");
    let output = dir.join("out.onnx");
    let model = models().join("qonnx_residual_block.onnx");
    let (out, stdout, stderr) = transform(&model, &output, "InferShapes, SortGraph", &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("transform"), "{stdout}");
    assert!(stdout.contains("brainsmith:InferShapes"), "{stdout}");
    assert!(stdout.contains("brainsmith:SortGraph"), "{stdout}");
    assert!(stdout.contains("total (transforms)"), "{stdout}");
}

#[test]
fn unknown_transforms_are_all_named_before_anything_runs() {
    let dir = scratch("unknown");
    let output = dir.join("out.onnx");
    std::fs::write(&output, b"previous result").unwrap();
    let model = models().join("qonnx_residual_block.onnx");
    let (out, stdout, stderr) =
        transform(&model, &output, "InferShape,SortGraph,FoldConstans", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("unknown transform 'InferShape'; did you mean 'InferShapes'?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown transform 'FoldConstans'; did you mean 'FoldConstants'?"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&output).unwrap(), b"previous result");
}

#[test]
fn a_truncated_model_is_an_error_naming_the_file() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(models().join("qonnx_residual_block.onnx")).unwrap();
    let model = dir.join("truncated.onnx");
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let output = dir.join("out.onnx");
    let (out, _, stderr) = transform(&model, &output, "SortGraph", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("truncated.onnx"), "{stderr}");
    assert!(!output.exists());
}

#[test]
fn a_failing_transform_leaves_no_output_and_names_itself() {
    let dir = scratch("cycle");
    // a -> b -> a: SortGraph refuses a cycle.
    let mut m = Model::default();
    m.graph
        .inputs
        .push(ValueInfo::tensor("x", ElemType::Float, &[1]));
    m.graph
        .outputs
        .push(ValueInfo::tensor("b", ElemType::Float, &[1]));
    m.graph
        .nodes
        .push(Node::new("Add", ["x", "b"], ["a"]).with_name("first"));
    m.graph
        .nodes
        .push(Node::new("Relu", ["a"], ["b"]).with_name("second"));
    let model = dir.join("cycle.onnx");
    m.save(&model).unwrap();
    let output = dir.join("out.onnx");
    std::fs::write(&output, b"previous result").unwrap();
    let (out, _, stderr) = transform(&model, &output, "InferShapes,SortGraph", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("transform brainsmith:SortGraph (stage cleanup, defined at crates/brainsmith-plugins/src/transforms/sort_graph.rs:"),
        "{stderr}"
    );
    assert!(stderr.contains("cycle"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(std::fs::read(&output).unwrap(), b"previous result");
}

#[test]
fn apply_reports_every_bad_configuration_before_reading_the_model() {
    let dir = scratch("apply-bad-config");
    let output = dir.join("out.onnx");
    // The model does not exist: the configurations are checked first.
    let model = dir.join("missing.onnx");
    let (out, _, stderr) = transform(
        &model,
        &output,
        "RemoveIdentityOps(tolerence = 1e-5),SortGraph(x = 1),RemoveIdentityOps(tolerance = \"a\"),SortGraph(k = )",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    for expected in [
        "configuration of transform 'brainsmith:RemoveIdentityOps': unknown key 'tolerence'; did you mean 'tolerance'?",
        "configuration of transform 'brainsmith:SortGraph': unknown key 'x' (it takes no configuration)",
        "key 'tolerance' must be f64",
        "the configuration of `SortGraph` is not a TOML inline table's contents",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("missing.onnx"), "{stderr}");
    assert!(!output.exists());
}

#[cfg(unix)]
#[test]
fn an_output_that_is_a_fifo_is_refused_before_the_model_is_read() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("fifo-output");
    let output = dir.join("out.onnx");
    let status = Command::new("mkfifo").arg(&output).status().unwrap();
    assert!(status.success());
    // The model does not exist: the output is checked first.
    let model = dir.join("missing.onnx");
    let (out, _, stderr) = transform(&model, &output, "SortGraph", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("out.onnx is a FIFO (named pipe), not a regular file"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing.onnx"), "{stderr}");
    let kind = std::fs::symlink_metadata(&output).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced");

    // A directory too, with a blueprint as well as with --apply.
    let blueprint = dir.join("missing.toml");
    let (out, _, stderr) = brainsmith(&[
        "transform",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--blueprint",
        blueprint.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("is a directory, not a regular file"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn an_output_that_is_a_symlink_replaces_its_target() {
    let dir = scratch("symlink-output");
    std::fs::write(dir.join("target.onnx"), b"previous result").unwrap();
    let link = dir.join("link.onnx");
    std::os::unix::fs::symlink("target.onnx", &link).unwrap();
    let model = models().join("qonnx_residual_block.onnx");
    let (out, _, stderr) = transform(&model, &link, "SortGraph", &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    Model::load(dir.join("target.onnx")).unwrap();
}

#[test]
fn a_configuration_that_closes_its_table_early_is_refused() {
    let dir = scratch("apply-early-close");
    let output = dir.join("out.onnx");
    let model = models().join("qonnx_residual_block.onnx");
    // `}` ended the table; the misspelled, negative setting after it was never read.
    let (out, _, stderr) = transform(
        &model,
        &output,
        "FoldConstants(}\nx = { max_elemnts = -1)",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains("the configuration of `FoldConstants` is not a TOML inline table's contents"),
        "{stderr}"
    );
    assert!(!output.exists());
}

/// Inputs from pipes still work: a model and a blueprint on standard input.
#[cfg(unix)]
#[test]
fn a_model_or_a_blueprint_can_come_from_a_pipe() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = scratch("pipe-input");
    let output = dir.join("out.onnx");
    let run = |args: &[&str], input: Vec<u8>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    };
    let model = std::fs::read(models().join("qonnx_residual_block.onnx")).unwrap();
    let out = run(
        &[
            "transform",
            "/dev/stdin",
            "-o",
            output.to_str().unwrap(),
            "--apply",
            "SortGraph",
        ],
        model,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Model::load(&output).unwrap();

    let blueprint = b"steps = [{ stage = \"cleanup\" }]\n[stages]\ncleanup = [\"SortGraph\"]\n";
    let out = run(&["blueprint", "check", "/dev/stdin"], blueprint.to_vec());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A device is refused, naming it.
    let (out, _, stderr) = transform(Path::new("/dev/zero"), &output, "SortGraph", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("'/dev/zero': it is a character device"),
        "{stderr}"
    );
}

/// A build of no steps takes no time, not `-0.000 ms` (`f64`'s sum of nothing is `-0.0`).
#[test]
fn an_empty_plan_takes_zero_time_not_minus_zero() {
    let dir = scratch("empty-plan");
    let blueprint = dir.join("empty.toml");
    std::fs::write(&blueprint, "steps = []\n").unwrap();
    let model = models().join("qonnx_residual_block.onnx");
    let output = dir.join("out.onnx");
    for format in ["table", "json"] {
        let (out, stdout, stderr) = brainsmith(&[
            "transform",
            model.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--blueprint",
            blueprint.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert!(out.status.success(), "{stderr}");
        if format == "json" {
            let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let seconds = json["transform_seconds"].as_f64().unwrap();
            assert!(seconds == 0.0 && seconds.is_sign_positive(), "{stdout}");
        } else {
            let total = stdout.lines().find(|l| l.starts_with("total")).unwrap();
            assert!(total.ends_with(" 0.000 ms"), "{stdout}");
        }
    }
}
