//! Running a plan: stages through the pipeline, steps through the same transaction.

use std::path::Path;

use crate::ir::Model;
use crate::pipeline::{Failure, Report, run_planned};
use crate::step::StepContext;

use super::*;

/// Told before each item of a plan: its index, the item count and its label.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// How to run a plan.
#[derive(Default)]
pub struct Options<'a> {
    /// Write the model after every item of `steps` into this directory, as
    /// `NN_<name>.onnx`.
    pub save_intermediate: Option<&'a Path>,
    /// The build's output directory, handed to steps ([`StepContext::output_dir`]).
    pub output_dir: Option<&'a Path>,
    /// Told before each item.
    pub progress: Option<Progress<'a>>,
    /// The device and clock, handed to steps ([`StepContext::target`]); the default
    /// target when `None`.
    pub target: Option<crate::kernel::Target>,
    /// Whether the intermediate models are synced to the disk before each replaces its
    /// file.
    pub durability: crate::fsutil::Durability,
}

/// Why a plan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A transform or step failed; the model is as it was before it.
    #[error(transparent)]
    Failure(Failure),
    /// An intermediate model could not be written.
    #[error("{0}")]
    Save(String),
}

impl PlanItem<'_> {
    /// `step <name>` or `stage <name>`.
    pub fn label(&self) -> String {
        match self {
            PlanItem::Step(s, _) => format!("step {}", s.qualified_name()),
            PlanItem::Stage(stage, _) => format!("stage {stage}"),
        }
    }
}

/// Runs `plan` on `model`, every application transactional: on a failure the model is as
/// it was before the failing transform or step.
///
/// Steps get the plan's registry ([`Plan::registry`]): the one it was checked against,
/// less the plugins the blueprint disables.
pub fn execute(
    model: &mut Model,
    plan: &Plan<'_>,
    mut options: Options<'_>,
) -> Result<Report, ExecError> {
    let registry = plan.registry();
    let mut report = Report::starting(model);
    let count = plan.items.len();
    for (i, item) in plan.items.iter().enumerate() {
        let label = item.label();
        if let Some(progress) = options.progress.as_mut() {
            progress(i, count, &label);
        }
        match item {
            PlanItem::Stage(_, planned) => {
                run_planned(model, planned, &mut report).map_err(ExecError::Failure)?;
            }
            PlanItem::Step(step, config) => {
                let mut ctx = StepContext::new(registry);
                if let Some(dir) = options.output_dir {
                    ctx = ctx.with_output_dir(dir);
                }
                if let Some(kernels) = &plan.kernels {
                    ctx = ctx.with_kernels(kernels);
                }
                if let Some(target) = &options.target {
                    ctx = ctx.with_target(target.clone());
                }
                crate::pipeline::run_step(model, *step, config, &mut ctx, &mut report)
                    .map_err(ExecError::Failure)?;
            }
        }
        if let Some(dir) = options.save_intermediate {
            let name: String = label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = dir.join(format!("{:02}_{name}.onnx", i + 1));
            std::fs::create_dir_all(dir)
                .and_then(|()| {
                    model
                        .save_with(&path, options.durability)
                        .map_err(std::io::Error::other)
                })
                .map_err(|e| ExecError::Save(format!("cannot write {}: {e}", path.display())))?;
        }
    }
    Ok(report)
}
