//! The `cleanup` step.

use brainsmith_core::prelude::*;

use crate::transforms::{
    GiveReadableTensorNames, GiveUniqueNodeNames, RemoveIdentityOps, RemoveUnusedTensors, SortGraph,
};

/// Normalises a freshly exported model: removes exact identities and unused tensors,
/// sorts the graph, and gives nodes and tensors unique, readable names.
///
/// Applies, in this order: `RemoveIdentityOps`, `RemoveUnusedTensors`, `SortGraph`,
/// `GiveUniqueNodeNames`, `GiveReadableTensorNames`.
#[step(tags = ["cleanup"], version = "1.0.0")]
pub fn cleanup(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    ctx.apply_type::<RemoveIdentityOps>(model)?;
    ctx.apply_type::<RemoveUnusedTensors>(model)?;
    ctx.apply_type::<SortGraph>(model)?;
    ctx.apply_type::<GiveUniqueNodeNames>(model)?;
    ctx.apply_type::<GiveReadableTensorNames>(model)?;
    Ok(())
}
