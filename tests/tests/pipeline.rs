//! The pipeline applies transforms transactionally: a transform that fails or panics
//! after changing the model leaves it exactly as it was before that transform.

use brainsmith_core::prelude::*;
use brainsmith_core::{Registry, pipeline};
use brainsmith_tests::model;

/// Deletes half of every list of the graph, then fails (a test double). Lists the
/// transforms before it left alone were saved before those ran, so the restore reads them
/// from older saves.
#[transform(stage = cleanup, tags = ["test"], version = "1.0.0")]
#[derive(Default)]
pub struct HalfThenFail;

impl Transform for HalfThenFail {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let g = &mut model.graph;
        let half = [
            g.nodes.len(),
            g.initializers.len(),
            g.inputs.len(),
            g.outputs.len(),
            g.value_info.len(),
            g.quantization_annotations.len(),
        ]
        .map(|n| n / 2);
        g.nodes.truncate(half[0]);
        g.initializers.truncate(half[1]);
        g.inputs.truncate(half[2]);
        g.outputs.truncate(half[3]);
        g.value_info.truncate(half[4]);
        g.quantization_annotations.truncate(half[5]);
        Err(PluginError::new("gave up halfway"))
    }
}

/// Renames every node, then panics (a test double).
#[transform(stage = topology_opt, tags = ["test"], version = "1.0.0")]
#[derive(Default)]
pub struct RenameThenPanic;

impl Transform for RenameThenPanic {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        for node in &mut model.graph.nodes {
            node.name = "clobbered".into();
        }
        panic!("index out of bounds in a buggy plugin");
    }
}

#[test]
fn a_failing_or_panicking_transform_leaves_the_model_as_it_was() {
    let registry = Registry::global().unwrap();
    let original = model("qonnx_residual_block.onnx");
    for (name, stage, panicked) in [
        ("HalfThenFail", "cleanup", false),
        ("RenameThenPanic", "topology_opt", true),
    ] {
        let mut m = original.clone();
        let transforms = pipeline::resolve(registry, &["SortGraph", name]).unwrap();
        let failure = pipeline::run(&mut m, &transforms).unwrap_err();
        assert_eq!(m.encode(), original.encode(), "{name} left a changed model");
        assert_eq!(failure.panicked, panicked);
        assert_eq!(failure.report.steps.len(), 1, "SortGraph ran before {name}");
        let text = failure.to_string();
        assert!(
            text.starts_with(&format!("transform brainsmith-tests:{name} (stage {stage}, defined at tests/tests/pipeline.rs:")),
            "{text}"
        );
        assert!(
            text.ends_with("the model is left as it was before it"),
            "{text}"
        );
    }
}

/// The backup is one copy refreshed before every transform; a failure after transforms
/// that renamed, removed and reordered restores the model they left, on every model.
#[test]
fn a_failure_after_changes_restores_the_model_the_changes_left() {
    let registry = Registry::global().unwrap();
    let before = [
        "InferShapes",
        "GiveUniqueNodeNames",
        "GiveReadableTensorNames",
        "RemoveIdentityOps",
        "FoldConstants",
        "SortGraph",
    ];
    let mut with_failure = before.to_vec();
    with_failure.push("HalfThenFail");
    let good = pipeline::resolve(registry, &before).unwrap();
    let failing = pipeline::resolve(registry, &with_failure).unwrap();
    let mut changed = 0;
    for (name, original) in brainsmith_tests::all_models() {
        let mut expected = original.clone();
        pipeline::run(&mut expected, &good).unwrap_or_else(|e| panic!("{name}: {e}"));
        changed += usize::from(expected != original);
        let mut m = original.clone();
        let failure = pipeline::run(&mut m, &failing).unwrap_err();
        assert_eq!(failure.report.steps.len(), before.len(), "{name}");
        // `assert_eq!` would print two whole models.
        assert!(m == expected, "{name}: not the model the recipe left");
        assert!(
            m.encode() == expected.encode(),
            "{name}: encodes differently"
        );
    }
    assert!(
        changed >= 15,
        "only {changed} models changed: nothing much was restored"
    );
}

#[test]
fn unknown_names_are_reported_together() {
    let registry = Registry::global().unwrap();
    let errors = pipeline::resolve(registry, &["SortGrap", "InferShapes", "Nope"]).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].to_string().contains("did you mean 'SortGraph'"));
}

/// Drops one node per application while any is left (a test double for `repeat`).
#[transform(stage = cleanup, tags = ["test"], version = "1.0.0", config)]
#[derive(Config)]
pub struct DropOne {
    /// Keep changing the model forever, even when nothing is left.
    #[config(default = false)]
    pub forever: bool,
}

impl Transform for DropOne {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(model.graph.nodes.pop().is_some() || self.forever)
    }
}

#[test]
fn repeat_runs_to_a_fixed_point_and_a_transform_that_never_settles_fails() {
    let registry = Registry::global().unwrap();
    let drop = registry.transform("DropOne").unwrap();
    let original = model("qonnx_residual_block.onnx");
    let n = original.graph.nodes.len();
    let planned = |forever: bool| pipeline::Planned {
        transform: drop,
        instance: drop
            .configure(&format!("forever = {forever}").parse().unwrap())
            .unwrap(),
        repeat: true,
    };

    let mut m = original.clone();
    let mut report = pipeline::Report::default();
    pipeline::run_planned(&mut m, &[planned(false)], &mut report).unwrap();
    assert!(m.graph.nodes.is_empty());
    assert_eq!(
        report.steps[0].runs,
        n + 1,
        "one run per node, then one that changes nothing"
    );

    let mut m = original.clone();
    let failure = pipeline::run_planned(&mut m, &[planned(true)], &mut report).unwrap_err();
    assert!(
        failure.to_string().contains(&format!(
            "failed: still changing the model after {} applications; the model is left as it was",
            pipeline::MAX_REPEAT
        )),
        "{failure}"
    );
    assert_eq!(m, original);
}

/// Empties the graph, then fails or panics as its argument says (a test double).
#[step(tags = ["test"])]
fn empty_then_fail(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    let panics = model.doc_string == "panic";
    model.graph.nodes.clear();
    ctx.warn("", "about to fail");
    if panics {
        panic!("gave up after emptying the graph");
    }
    Err(PluginError::new("gave up after emptying the graph"))
}

#[test]
fn a_step_is_as_transactional_as_a_transform() {
    let registry = Registry::global().unwrap();
    let step = registry.step("empty_then_fail").unwrap();
    for how in ["error", "panic"] {
        let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
        m.doc_string = how.into();
        let before = m.clone();
        let mut ctx = StepContext::new(registry);
        let err = step.run(&mut m, &mut ctx).unwrap_err().to_string();
        assert!(m == before, "{how}: the model is restored");
        let verb = if how == "panic" { "panicked" } else { "failed" };
        assert!(
            err.starts_with("step 'brainsmith-tests:empty_then_fail' (tests/tests/pipeline.rs:")
                && err.contains(&format!("{verb}: gave up after emptying the graph")),
            "{err}"
        );
        // Through the executor: the same transaction, and a failure naming the step.
        let mut report = pipeline::Report::starting(&m);
        let failure = pipeline::run_step(&mut m, step, &toml::Table::new(), &mut ctx, &mut report)
            .unwrap_err();
        assert!(m == before && failure.panicked == (how == "panic"));
        assert_eq!(failure.transform, "step brainsmith-tests:empty_then_fail");
    }
}
