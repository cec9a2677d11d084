//! [`GiveReadableTensorNames`]

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::prelude::*;

use super::numbered::numbered;

/// Names every tensor after the node that produces or owns it: outputs become
/// `<node>_out<i>`, constant inputs `<node>_param<i>`, graph inputs `global_in`,
/// `global_in_1`, ... and graph outputs `global_out`, `global_out_1`, ....
///
/// Every use of a tensor is renamed, including a node that reads the same tensor twice
/// (`Mul(x, x)`), subgraphs that read it, `value_info` and datatype annotations. Needs
/// unique node names: run `GiveUniqueNodeNames` first. An initializer that old-style
/// files also list as a graph input keeps its `_param` name.
///
/// ```
/// use brainsmith_plugins::GiveReadableTensorNames;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// let mut m = Sketch::new().input("x", &[2]).constant("w", &[2], &[1.0, 2.0])
///     .op("Mul", ["x", "w"], ["t"]).op("Relu", ["t"], ["y"]).output("y").build();
/// assert!(apply(&GiveReadableTensorNames, &mut m));
/// assert_eq!(m.graph.nodes[0].inputs, ["global_in", "Mul_0_param0"]);
/// assert_eq!(m.graph.nodes[1].inputs, ["Mul_0_out0"]);
/// assert_eq!(m.graph.outputs[0].name, "global_out");
/// ```
#[transform(stage = cleanup, tags = ["naming"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct GiveReadableTensorNames;

impl Transform for GiveReadableTensorNames {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let mut seen_names =
            FxHashSet::with_capacity_and_hasher(graph.nodes.len(), Default::default());
        for node in &graph.nodes {
            if node.name.is_empty() || !seen_names.insert(node.name.as_str()) {
                return Err(PluginError::new(format!(
                    "node names must be unique and non-empty, but '{}' ({}) is not; run GiveUniqueNodeNames first",
                    node.name, node.op_type
                )));
            }
        }
        let initializers: FxHashSet<&str> = graph.initializers.iter().map(|t| t.name()).collect();
        let mut map: FxHashMap<String, String> = FxHashMap::with_capacity_and_hasher(
            2 * graph.nodes.len() + graph.inputs.len() + graph.outputs.len(),
            Default::default(),
        );
        for node in &graph.nodes {
            for (i, output) in node
                .outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| !o.is_empty())
            {
                map.insert(output.clone(), numbered(&node.name, "_out", i));
            }
            // Each parameter once, numbered in order of first use; a node has a handful of
            // inputs, so an earlier use is found by a scan.
            let mut k = 0;
            for (j, input) in node.inputs.iter().enumerate() {
                if initializers.contains(input.as_str()) && !node.inputs[..j].contains(input) {
                    map.insert(input.clone(), numbered(&node.name, "_param", k));
                    k += 1;
                }
            }
        }
        let real_inputs = graph
            .inputs
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()));
        for (i, input) in real_inputs.enumerate() {
            let name = if i == 0 {
                "global_in".to_owned()
            } else {
                numbered("global_in", "_", i)
            };
            map.insert(input.name.clone(), name);
        }
        for (i, output) in graph.outputs.iter().enumerate() {
            let name = if i == 0 {
                "global_out".to_owned()
            } else {
                numbered("global_out", "_", i)
            };
            map.insert(output.name.clone(), name);
        }
        map.retain(|from, to| from != to);
        let changed = !map.is_empty();
        graph.rename_tensors(&map);
        Ok(changed)
    }
}
