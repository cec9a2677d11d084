//! The `cleanup` step.

use brainsmith_core::prelude::*;

/// The cleanup transforms, in the order the step applies them.
pub const CLEANUP_ORDER: &[&str] = &[
    "brainsmith:RemoveIdentityOps",
    "brainsmith:RemoveUnusedTensors",
    "brainsmith:SortGraph",
    "brainsmith:GiveUniqueNodeNames",
    "brainsmith:GiveReadableTensorNames",
];

/// Normalises a freshly exported model: removes exact identities and unused tensors,
/// sorts the graph, and gives nodes and tensors unique, readable names.
///
/// Finds the transforms through the registry by qualified name, so it runs whatever the
/// binary links under those names.
#[step(tags = ["cleanup"], version = "1.0.0")]
pub fn cleanup(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    for name in CLEANUP_ORDER {
        ctx.apply(name, model)?;
    }
    Ok(())
}
