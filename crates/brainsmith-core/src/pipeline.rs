//! Runs registered transforms and steps on a model, one transactional application at a
//! time: the one executor, with one transaction, one report and one kind of diagnostics,
//! for both ([`run`], [`run_planned`], [`run_step`]).
//!
//! Every application works on the model in place after saving a snapshot of it (one per
//! run, its buffers reused, only the lists of the graph touched since the last save
//! written again; see `ir::snapshot`); when the transform returns an error or
//! panics, the snapshot is restored, so the model is exactly as it was before that
//! transform, and the error names the transform, its stage and where it is defined. Time,
//! node counts and diagnostics are recorded per application.
//!
//! ```
//! use brainsmith_core::ir::{Model, Node};
//! use brainsmith_core::pipeline;
//!
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let transforms = pipeline::resolve(registry, &[] as &[&str]).unwrap();
//! let mut model = Model::default();
//! model.graph.nodes.push(Node::new("Relu", ["x"], ["y"]));
//! let report = pipeline::run(&mut model, &transforms).unwrap();
//! assert_eq!((report.nodes_before, report.nodes_after), (1, 1));
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use crate::ir::{Model, Snapshot};
use crate::plugin::{Diagnostic, Stage, Transform, TransformContext};
use crate::registry::{LookupError, Registry, StepRef, TransformRef};
use crate::step::StepContext;

/// What one application of a transform (or a blueprint's step) did.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The transform's qualified name (`step <name>` for a step).
    pub transform: String,
    /// Its stage (`None` for a step).
    pub stage: Option<Stage>,
    /// Whether it reported a change.
    pub changed: bool,
    /// How many times it ran: 1, or more when repeated until it changes nothing.
    pub runs: usize,
    /// Node count after it.
    pub nodes_after: usize,
    /// Wall time of the application, in seconds, including the snapshot of the model that
    /// makes it transactional.
    pub seconds: f64,
    /// What it reported about nodes it could not handle fully.
    pub diagnostics: Vec<Diagnostic>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Node count before the first transform.
    pub nodes_before: usize,
    /// Node count after the last one.
    pub nodes_after: usize,
    /// One entry per application, in order.
    pub steps: Vec<Applied>,
}

impl Report {
    /// An empty report of a run about to start on `model`.
    pub fn starting(model: &Model) -> Report {
        Report {
            nodes_before: model.graph.nodes.len(),
            nodes_after: model.graph.nodes.len(),
            steps: Vec::new(),
        }
    }
}

/// A transform (or step) that failed; the model is as it was before it.
#[derive(Debug)]
pub struct Failure {
    /// The transform's qualified name (`step <name>` for a step).
    pub transform: String,
    /// Its stage (`None` for a step).
    pub stage: Option<Stage>,
    /// Where it is defined (`file:line:column`).
    pub location: String,
    /// Its error, or the panic's message.
    pub message: String,
    /// Whether it panicked rather than returned an error.
    pub panicked: bool,
    /// What the transforms before it did.
    pub report: Report,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stage {
            Some(stage) => write!(
                f,
                "transform {} (stage {stage}, defined at {})",
                self.transform, self.location
            )?,
            None => write!(f, "{} (defined at {})", self.transform, self.location)?,
        }
        write!(
            f,
            " {}: {}; the model is left as it was before it",
            if self.panicked { "panicked" } else { "failed" },
            self.message
        )
    }
}

impl std::error::Error for Failure {}

/// Looks up every name (short or qualified) and reports every unknown one at once.
pub fn resolve<'r, S: AsRef<str>>(
    registry: &'r Registry,
    names: &[S],
) -> Result<Vec<TransformRef<'r>>, Vec<LookupError>> {
    let mut found = Vec::with_capacity(names.len());
    let mut errors = Vec::new();
    for name in names {
        match registry.transform(name.as_ref().trim()) {
            Ok(t) => found.push(t),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// How many times a repeated transform may run before it counts as not converging.
pub const MAX_REPEAT: usize = 100;

/// A transform ready to run: its registry entry, its configured instance, and whether it
/// repeats until it changes nothing.
pub struct Planned<'r> {
    /// The registry entry (name, stage, location for reports).
    pub transform: TransformRef<'r>,
    /// The configured instance.
    pub instance: Box<dyn Transform>,
    /// Repeat until an application reports no change (at most [`MAX_REPEAT`] times).
    pub repeat: bool,
}

/// Applies `transforms` in order, each once with its default configuration,
/// transactionally. Stops at the first failure.
pub fn run(model: &mut Model, transforms: &[TransformRef<'_>]) -> Result<Report, Failure> {
    let mut report = Report::starting(model);
    // One snapshot serves the run: its buffers are reused from one save to the next, and
    // by the next run on this thread.
    let mut backup = Snapshot::reused();
    for t in transforms {
        let planned = catch_unwind(AssertUnwindSafe(|| t.instantiate()))
            .map_err(|payload| failure(t, panic_message(payload.as_ref()), true, report.clone()))?;
        let planned = Planned {
            transform: *t,
            instance: planned,
            repeat: false,
        };
        apply(model, &planned, &mut report, &mut backup)?;
    }
    backup.recycle();
    Ok(report)
}

/// Applies planned transforms in order, transactionally, into `report`. Stops at the
/// first failure; the model is then as it was before the failing transform (before its
/// first application, for a repeated one).
pub fn run_planned(
    model: &mut Model,
    transforms: &[Planned<'_>],
    report: &mut Report,
) -> Result<(), Failure> {
    // One snapshot serves the run: its buffers are reused from one save to the next, and
    // by the next run on this thread.
    let mut backup = Snapshot::reused();
    for planned in transforms {
        apply(model, planned, report, &mut backup)?;
    }
    backup.recycle();
    Ok(())
}

fn failure(t: &TransformRef<'_>, message: String, panicked: bool, report: Report) -> Failure {
    let plugin = t.plugin();
    Failure {
        transform: plugin.qualified_name().to_owned(),
        stage: Some(t.stage()),
        location: plugin.location().to_string(),
        message,
        panicked,
        report,
    }
}

fn apply(
    model: &mut Model,
    planned: &Planned<'_>,
    report: &mut Report,
    backup: &mut Snapshot,
) -> Result<(), Failure> {
    let t = &planned.transform;
    // The time of an application includes what makes it transactional.
    let start = Instant::now();
    backup.save(model);
    let mut ctx = TransformContext::default();
    let mut changed_any = false;
    let mut runs = 0;
    loop {
        runs += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| planned.instance.apply(model, &mut ctx)));
        let (message, panicked) = match outcome {
            Ok(Ok(changed)) => {
                changed_any |= changed;
                if !(planned.repeat && changed) {
                    break;
                }
                if runs < MAX_REPEAT {
                    continue;
                }
                (
                    format!("still changing the model after {MAX_REPEAT} applications"),
                    false,
                )
            }
            Ok(Err(e)) => (e.to_string(), false),
            Err(payload) => (panic_message(payload.as_ref()), true),
        };
        *model = backup.restore();
        return Err(failure(t, message, panicked, report.clone()));
    }
    report.nodes_after = model.graph.nodes.len();
    report.steps.push(Applied {
        transform: t.plugin().qualified_name().to_owned(),
        stage: Some(t.stage()),
        changed: changed_any,
        runs,
        nodes_after: report.nodes_after,
        seconds: start.elapsed().as_secs_f64(),
        diagnostics: ctx.diagnostics().to_vec(),
    });
    Ok(())
}

/// Runs `step` with `config` on `model` transactionally, into `report`: the model is saved
/// first and restored when the step returns an error or panics, and the failure names the
/// step and where it is defined. The step's remarks (`StepContext::warn`) are its
/// diagnostics in the report.
pub fn run_step(
    model: &mut Model,
    step: StepRef<'_>,
    config: &toml::Table,
    ctx: &mut StepContext<'_>,
    report: &mut Report,
) -> Result<(), Failure> {
    let start = Instant::now();
    let before = ctx.transform_context().diagnostics().len();
    match step_transaction(model, |m| step.run_unguarded(m, ctx, config)) {
        Ok(changed) => {
            report.nodes_after = model.graph.nodes.len();
            report.steps.push(Applied {
                transform: format!("step {}", step.qualified_name()),
                stage: None,
                changed,
                runs: 1,
                nodes_after: report.nodes_after,
                seconds: start.elapsed().as_secs_f64(),
                diagnostics: ctx.transform_context().diagnostics()[before..].to_vec(),
            });
            Ok(())
        }
        Err((message, panicked)) => Err(Failure {
            transform: format!("step {}", step.qualified_name()),
            stage: None,
            location: step.location().to_string(),
            message,
            panicked,
            report: report.clone(),
        }),
    }
}

/// Runs `f` on `model` with a snapshot taken first: on an error or a panic the model is
/// restored and the message returned with whether it panicked; on success, whether the
/// model changed.
pub(crate) fn step_transaction(
    model: &mut Model,
    f: impl FnOnce(&mut Model) -> Result<(), crate::PluginError>,
) -> Result<bool, (String, bool)> {
    let mut backup = Snapshot::reused();
    backup.save(model);
    let outcome = catch_unwind(AssertUnwindSafe(|| f(model)));
    let result = match outcome {
        Ok(Ok(())) => Ok(*model != backup.restore()),
        Ok(Err(e)) => Err((e.to_string(), false)),
        Err(payload) => Err((panic_message(payload.as_ref()), true)),
    };
    if result.is_err() {
        *model = backup.restore();
    }
    backup.recycle();
    result
}
