//! [`GiveUniqueNodeNames`]

use rustc_hash::FxHashMap;

use brainsmith_core::prelude::*;

use super::numbered::write_numbered;

/// Names every node `<OpType>_<n>`, counting from 0 per op type in graph order.
///
/// The names are unique and stable for a given graph order; run [`SortGraph`] first for
/// names that do not depend on how the file listed its nodes.
///
/// [`SortGraph`]: crate::SortGraph
///
/// ```
/// use brainsmith_plugins::GiveUniqueNodeNames;
/// use brainsmith_plugins::sketch::{Sketch, apply};
/// use brainsmith_core::ir::Node;
///
/// let mut m = Sketch::new().input("x", &[2])
///     .node(Node::new("Relu", ["x"], ["a"]).with_name("first"))
///     .node(Node::new("Abs", ["a"], ["b"]))
///     .node(Node::new("Relu", ["b"], ["y"]).with_name("first")).output("y").build();
/// assert!(apply(&GiveUniqueNodeNames, &mut m));
/// let names: Vec<_> = m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
/// assert_eq!(names, ["Relu_0", "Abs_0", "Relu_1"]);
/// ```
#[transform(stage = cleanup, tags = ["naming"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct GiveUniqueNodeNames;

impl Transform for GiveUniqueNodeNames {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let nodes = &mut model.graph.nodes;
        let numbers: Vec<usize> = {
            let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
            nodes
                .iter()
                .map(|node| {
                    let count = counts.entry(node.op_type.as_str()).or_default();
                    *count += 1;
                    *count - 1
                })
                .collect()
        };
        let mut changed = false;
        let mut name = String::new();
        // By index, so that the nodes are written (and must be saved again) only where a
        // name changes.
        for (i, n) in numbers.into_iter().enumerate() {
            write_numbered(&mut name, &nodes[i].op_type, "_", n);
            if nodes[i].name != name {
                nodes[i].name.clone_from(&name);
                changed = true;
            }
        }
        Ok(changed)
    }
}
