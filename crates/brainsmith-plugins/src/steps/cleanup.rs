//! The `cleanup` step.

use brainsmith_core::prelude::*;

use crate::transforms::{
    GiveReadableTensorNames, GiveUniqueNodeNames, RemoveIdentityOps, RemoveUnusedTensors, SortGraph,
};

/// The configuration of the [`cleanup`] step.
#[derive(Debug, Config)]
pub struct CleanupConfig {
    /// `RemoveIdentityOps`' tolerance: the largest distance of a constant from 0 or 1 still
    /// taken for it. 0 removes exact identities only.
    #[config(default = 0.0)]
    pub identity_tolerance: f64,
}

/// Normalises a freshly exported model: removes identities and unused tensors, sorts the
/// graph, and gives nodes and tensors unique, readable names.
///
/// Applies, in this order: `RemoveIdentityOps` (with `identity_tolerance`),
/// `RemoveUnusedTensors`, `SortGraph`, `GiveUniqueNodeNames`, `GiveReadableTensorNames`.
///
/// ```
/// use brainsmith_core::{Registry, StepContext};
/// use brainsmith_plugins::sketch::{Sketch, op_types};
///
/// // In a blueprint: steps = [{ step = "cleanup", config = { identity_tolerance = 1e-6 } }]
/// let registry = Registry::global().unwrap();
/// let mut m = Sketch::new().input("input.1", &[2]).constant("one", &[], &[1.000_000_1])
///     .op("Mul", ["input.1", "one"], ["t"]).op("Relu", ["t"], ["37"]).output("37").build();
/// let cleanup = registry.step("cleanup").unwrap();
/// let config = "identity_tolerance = 1e-6".parse().unwrap();
/// cleanup.run_configured(&mut m, &mut StepContext::new(registry), &config).unwrap();
/// assert_eq!(op_types(&m), ["Relu"]);
/// assert_eq!(m.graph.nodes[0].inputs, ["global_in"]);
/// assert_eq!(m.graph.outputs[0].name, "global_out");
/// ```
#[step(tags = ["cleanup"], version = "1.1.0")]
pub fn cleanup(
    model: &mut Model,
    ctx: &mut StepContext<'_>,
    config: &CleanupConfig,
) -> Result<(), PluginError> {
    let remove = RemoveIdentityOps {
        tolerance: config.identity_tolerance,
    };
    ctx.apply_with(&remove, model)?;
    ctx.apply_type::<RemoveUnusedTensors>(model)?;
    ctx.apply_type::<SortGraph>(model)?;
    ctx.apply_type::<GiveUniqueNodeNames>(model)?;
    ctx.apply_type::<GiveReadableTensorNames>(model)?;
    Ok(())
}
