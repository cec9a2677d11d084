//! Blueprints: loading with `extends`, checking every name and configuration with
//! file:line:column, and running one on a real model, in process and through the CLI.

use std::path::{Path, PathBuf};

use brainsmith_core::Registry;
use brainsmith_core::blueprint::{Blueprint, Options, PlanItem, execute};
use brainsmith_tests::{cli as brainsmith, model, nearly_identity};

fn blueprint(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/blueprints")
        .join(name)
}

fn registry() -> &'static Registry {
    Registry::global().unwrap()
}

/// Problems with the fixture directory cut from the paths.
fn problems(name: &str) -> String {
    let dir = blueprint("");
    let err = Blueprint::check_file(&blueprint(name), registry())
        .err()
        .expect("a bad blueprint")
        .to_string();
    err.replace(&dir.display().to_string(), "")
}

#[test]
fn extends_replaces_steps_and_stage_lists_and_runs() {
    let plan = Blueprint::check_file(&blueprint("lowering.toml"), registry())
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<String> = plan.items.iter().map(PlanItem::label).collect();
    assert_eq!(
        labels,
        [
            "stage cleanup",
            "step brainsmith:cleanup",
            "stage topology_opt"
        ]
    );
    let PlanItem::Stage(_, topology) = &plan.items[2] else {
        panic!("a stage")
    };
    let names: Vec<&str> = topology.iter().map(|p| p.transform.name()).collect();
    assert_eq!(
        names,
        [
            "ConvertSubToAdd",
            "RemoveIdentityOps",
            "BatchNormToAffine",
            "InferDataTypes"
        ],
        "the child's list replaces the base's"
    );

    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    let dir = std::env::temp_dir().join(format!("blueprint-run-{}", std::process::id()));
    let mut seen = Vec::new();
    let mut progress = |i: usize, n: usize, label: &str| seen.push(format!("{i}/{n} {label}"));
    let report = execute(
        &mut m,
        &plan,
        Options {
            save_intermediate: Some(&dir),
            output_dir: None,
            progress: Some(&mut progress),
            target: None,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.len(), 3);
    let fold = report
        .steps
        .iter()
        .find(|s| s.transform == "brainsmith:FoldConstants")
        .unwrap();
    assert!(
        fold.runs >= 1 && (fold.runs == 1) != fold.changed,
        "{fold:?}"
    );
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert!(
        !ops.contains(&"Sub") && !ops.contains(&"BatchNormalization"),
        "{ops:?}"
    );
    let mut saved: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(
        saved,
        [
            "01_stage_cleanup.onnx",
            "02_step_brainsmith_cleanup.onnx",
            "03_stage_topology_opt.onnx"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_mistake_is_reported_at_once_with_its_place() {
    insta::assert_snapshot!("mistakes", problems("mistakes.toml"));
}

#[test]
fn cycles_missing_bases_and_bad_toml_are_problems_too() {
    let cycle = problems("cycle_a.toml");
    assert!(cycle.contains("`extends` makes a cycle: "), "{cycle}");
    assert!(cycle.contains("cycle_a.toml -> "), "{cycle}");
    let broken = problems("broken.toml");
    assert!(broken.starts_with("broken.toml:"), "{broken}");
    assert!(broken.contains(": not valid TOML: "), "{broken}");
    let missing = Blueprint::load(Path::new("no/such/blueprint.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("no/such/blueprint.toml:1:1: cannot read the blueprint"),
        "{missing}"
    );
}

#[test]
fn the_cli_checks_and_runs_blueprints() {
    let good = blueprint("lowering.toml");
    let (code, stdout, _) = brainsmith(&["blueprint", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ok: "), "{stdout}");

    let (code, _, stderr) = brainsmith(&[
        "blueprint",
        "check",
        blueprint("mistakes.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("mistakes.toml:5:5: unknown step 'cleanp'"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("blueprint-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = brainsmith_tests::models_dir().join("finn_tfc_w1a1_multithreshold.onnx");
    let output = dir.join("out.onnx");
    let (code, json, stderr) = brainsmith(&[
        "transform",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--blueprint",
        good.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(output.exists());
    assert!(
        json.contains("\"transform\": \"step brainsmith:cleanup\""),
        "{json}"
    );
    assert!(json.contains("\"runs\": "), "{json}");

    // A bad blueprint stops before the model is read: nothing is written.
    let never = dir.join("never.onnx");
    let (code, _, _) = brainsmith(&[
        "transform",
        input.to_str().unwrap(),
        "-o",
        never.to_str().unwrap(),
        "--blueprint",
        blueprint("mistakes.toml").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(!never.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn steps_take_a_checked_configuration() {
    let dir = std::env::temp_dir().join(format!("blueprint-step-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("build.toml");
    std::fs::write(
        &path,
        "steps = [{ step = \"cleanup\", config = { identity_tolerance = 1e-5 } }]\n",
    )
    .unwrap();
    let plan = Blueprint::check_file(&path, registry()).unwrap_or_else(|e| panic!("{e}"));
    let PlanItem::Step(step, config) = &plan.items[0] else {
        panic!("a step")
    };
    assert_eq!(step.name(), "cleanup");
    assert_eq!(config["identity_tolerance"].as_float(), Some(1e-5));
    let fields: Vec<&str> = step.config_fields().iter().map(|f| f.name).collect();
    assert_eq!(fields, ["identity_tolerance"]);

    // x * 1.000001: an identity within the configured tolerance only.
    let mut m = nearly_identity();
    let mut exact = m.clone();
    execute(&mut m, &plan, Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.graph.nodes.len(), 1, "{:?}", m.graph.nodes);

    // The default configuration keeps it; a step run in code takes the defaults too.
    let mut ctx = brainsmith_core::StepContext::new(registry());
    step.run(&mut exact, &mut ctx).unwrap();
    assert_eq!(exact.graph.nodes.len(), 2);
    let wrong = toml::Table::from_iter([("identity_tolerance".to_owned(), "x".into())]);
    let err = step
        .run_configured(&mut exact, &mut ctx, &wrong)
        .unwrap_err();
    assert!(err.to_string().contains("identity_tolerance"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Checking locates every entry; it used to count lines from the start of the text for
/// each, so 40,000 lines took half a minute. Not timed: it completes, and the places are
/// right at the far end.
#[test]
fn a_blueprint_of_forty_thousand_lines_is_checked() {
    let dir = std::env::temp_dir().join(format!("blueprint-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("large.toml");
    let mut text = String::from("steps = [{ stage = \"cleanup\" }]\n[stages]\ncleanup = [\n");
    for i in 0..40_000 {
        // Every thousandth entry is misspelled: its place is reported.
        text.push_str(if i % 1000 == 999 {
            "  \"SortGrph\",\n"
        } else {
            "  \"SortGraph\",\n"
        });
    }
    text.push_str("]\n");
    std::fs::write(&path, &text).unwrap();
    let err = Blueprint::check_file(&path, registry()).err().unwrap();
    assert_eq!(err.problems.len(), 40);
    let last = err.problems.last().unwrap();
    assert_eq!((last.at.line, last.at.column), (40_003, 3), "{last:?}");
    assert!(
        last.message.contains("unknown transform 'SortGrph'"),
        "{last:?}"
    );
    std::fs::write(&path, text.replace("SortGrph", "SortGraph")).unwrap();
    let plan = Blueprint::check_file(&path, registry()).unwrap();
    assert_eq!(plan.items.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A blueprint that extends an endless device is a problem at the device, not a read
/// until memory runs out.
#[cfg(unix)]
#[test]
fn extending_an_endless_device_is_a_problem() {
    let dir = std::env::temp_dir().join(format!("blueprint-endless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("build.toml");
    std::fs::write(&path, "extends = \"/dev/zero\"\nsteps = []\n").unwrap();
    let err = Blueprint::check_file(&path, registry()).err().unwrap();
    assert_eq!(
        err.to_string(),
        "/dev/zero:1:1: cannot read the blueprint: it is a character device; a blueprint is \
         read from a regular file or a pipe"
    );
    std::fs::write(&path, b"steps = [\"\xff\"]\n").unwrap();
    let err = Blueprint::check_file(&path, registry()).err().unwrap();
    assert!(
        err.to_string()
            .contains("cannot read the blueprint: it is not UTF-8 text (byte 11 is not)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A transform runs in its own stage or a later one: a kernel mapping listed under
/// `cleanup` is a problem at its line; a cleanup analysis in a later stage is not.
#[test]
fn a_transform_in_an_earlier_stage_than_its_own_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stages.toml");
    std::fs::write(
        &path,
        "steps = [{ stage = \"cleanup\" }, { stage = \"kernel_mapping\" }]\n\
         [stages]\n\
         cleanup = [\"InferShapes\", \"InferMvau\"]\n\
         kernel_mapping = [\"InferShapes\", \"brainsmith:InferThresholding\"]\n",
    )
    .unwrap();
    let e = Blueprint::check_file(&path, registry()).err().unwrap();
    assert_eq!(e.problems.len(), 1, "{e}");
    let p = &e.problems[0];
    assert_eq!((p.at.line, p.at.column), (3, 27), "{e}");
    assert!(
        p.message.contains(
            "'brainsmith:InferMvau' is a kernel_mapping transform and cannot run in 'cleanup', \
             an earlier stage; list it under 'kernel_mapping' or a later stage"
        ),
        "{e}"
    );
}

/// `disable` switches plugins off for the build, the base's and the file's both: names
/// resolve as if they were not linked (the short name `Thresholding`, acme's and ours,
/// is ours once acme's is off), an entry naming one is a problem saying which pattern
/// disabled it and where, and a pattern that cannot apply is a problem at its place.
#[test]
fn disable_switches_plugins_off_for_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.toml");
    let path = dir.path().join("build.toml");
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Blueprint::check_file(&path, registry())
    };
    std::fs::write(&base, "disable = [\"acme:*\"]\nsteps = []\n").unwrap();
    let plan = check("extends = \"base.toml\"\nkernels = [\"Thresholding\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let kernels = plan.kernels.as_ref().unwrap();
    assert_eq!(
        kernels[0].kernel.qualified_name(),
        "brainsmith:Thresholding"
    );
    let e = plan
        .registry()
        .transform("acme:InferThresholding")
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "transform 'acme:InferThresholding' is disabled by 'acme:*' ({}:1:12)",
            base.display()
        )),
        "{e}"
    );
    assert!(registry().transform("acme:InferThresholding").is_ok());
    // Without the base, `Thresholding` is ambiguous again.
    assert!(
        check("steps = []\nkernels = [\"Thresholding\"]\n")
            .err()
            .is_some_and(|e| e.to_string().contains("ambiguous"))
    );

    std::fs::write(&base, "disable = [\"acme:ThresholdingRtl\"]\nsteps = []\n").unwrap();
    let plan = check(
        "extends = \"base.toml\"\ndisable = [\"brainsmith:FoldConstants\"]\n\
         kernels = [\"acme:Thresholding\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kernels = plan.kernels.as_ref().unwrap();
    assert_eq!(
        format!("{:?}", kernels[0].backends),
        "[acme:ThresholdingHls]"
    );
    assert_eq!(
        plan.registry().disabled().patterns().count(),
        2,
        "the union"
    );

    let Err(e) = check(
        "extends = \"base.toml\"\n\
         disable = [\"acme:Thresholding\", \"acme:Thresholdng\", \"FoldConstants\", 7]\n\
         steps = [{ stage = \"kernel_mapping\" }]\n\
         kernels = [{ kernel = \"acme:Thresholding\", backends = [\"acme:ThresholdingHls\"] }]\n\
         [stages]\n\
         kernel_mapping = [\"acme:InferThresholding\"]\n",
    ) else {
        panic!("a bad blueprint")
    };
    let file = path.display().to_string();
    let text = e.to_string().replace(&file, "build.toml");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "build.toml:2:33: `disable`: 'acme:Thresholdng' matches no linked plugin; did you \
             mean 'acme:Thresholding'? (`plugins --source acme` lists that source's plugins)",
            "build.toml:2:53: `disable`: 'FoldConstants' names no source; write `source:Name` \
             (one plugin by qualified name) or `source:*` (every plugin of a source); \
             `plugins --verbose` lists the qualified names",
            "build.toml:2:70: `disable` is a list of plugin patterns: [\"source:Name\", \
             \"source:*\"]",
            "build.toml:4:12: kernel 'acme:Thresholding' is disabled by 'acme:Thresholding' \
             (build.toml:2:12); drop the pattern to use it, or name another kernel",
            "build.toml:6:19: transform 'acme:InferThresholding' is disabled with its kernel \
             'acme:Thresholding', by 'acme:Thresholding' (build.toml:2:12); drop the pattern \
             to use it, or name another transform",
        ]
    );
}
