//! [`GiveUniqueNodeNames`]

use rustc_hash::FxHashMap;

use brainsmith_core::prelude::*;

/// Names every node `<OpType>_<n>`, counting from 0 per op type in graph order.
///
/// The names are unique and stable for a given graph order; run [`SortGraph`] first for
/// names that do not depend on how the file listed its nodes.
///
/// [`SortGraph`]: crate::SortGraph
#[transform(stage = cleanup, tags = ["naming"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct GiveUniqueNodeNames;

impl Transform for GiveUniqueNodeNames {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let mut counts: FxHashMap<String, usize> = FxHashMap::default();
        let mut changed = false;
        for node in &mut model.graph.nodes {
            let count = counts.entry(node.op_type.clone()).or_default();
            let name = format!("{}_{count}", node.op_type);
            *count += 1;
            if node.name != name {
                node.name = name;
                changed = true;
            }
        }
        Ok(changed)
    }
}
