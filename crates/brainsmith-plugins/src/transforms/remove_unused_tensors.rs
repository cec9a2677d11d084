//! [`RemoveUnusedTensors`]

use rustc_hash::FxHashSet;

use brainsmith_core::ir::{AttributeValue, Graph};
use brainsmith_core::prelude::*;

/// Drops what no node uses: initializers no node reads (and, in old-style files, their
/// entries among the graph inputs), `Constant` nodes whose value no node reads,
/// `value_info` of tensors that no longer exist, and datatype annotations of tensors
/// that no longer exist. Subgraphs that read an outer
/// tensor count as users. Real graph inputs and all graph outputs are kept.
///
/// ```
/// use brainsmith_plugins::RemoveUnusedTensors;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// let mut m = Sketch::new().input("x", &[2]).constant("old_weights", &[2], &[1.0, 2.0])
///     .op("Relu", ["x"], ["y"]).output("y").build();
/// assert!(apply(&RemoveUnusedTensors, &mut m));
/// assert!(m.graph.initializers.is_empty());
/// ```
#[transform(stage = cleanup, tags = ["simplify"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct RemoveUnusedTensors;

fn reads(graph: &Graph, used: &mut FxHashSet<String>) {
    for node in &graph.nodes {
        used.extend(node.inputs.iter().filter(|i| !i.is_empty()).cloned());
        for attribute in &node.attributes {
            match &attribute.value {
                AttributeValue::Graph(g) => reads(g, used),
                AttributeValue::Graphs(gs) => gs.iter().for_each(|g| reads(g, used)),
                _ => {}
            }
        }
    }
}

impl Transform for RemoveUnusedTensors {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let mut used = FxHashSet::default();
        reads(graph, &mut used);
        used.extend(graph.outputs.iter().map(|v| v.name.clone()));

        let before = (
            graph.nodes.len(),
            graph.initializers.len(),
            graph.inputs.len(),
            graph.value_info.len(),
            graph.quantization_annotations.len(),
        );
        let dropped: FxHashSet<String> = graph
            .initializers
            .iter()
            .filter(|t| !used.contains(t.name()))
            .map(|t| t.name().to_owned())
            .collect();
        graph.initializers.retain(|t| !dropped.contains(t.name()));
        graph.nodes.retain(|n| {
            !(n.op_type == "Constant" && n.is_onnx() && n.outputs.iter().all(|o| !used.contains(o)))
        });
        graph.inputs.retain(|v| !dropped.contains(&v.name));

        let mut exists = used;
        exists.extend(graph.nodes.iter().flat_map(|n| n.outputs.iter().cloned()));
        exists.extend(graph.inputs.iter().map(|v| v.name.clone()));
        exists.extend(graph.initializers.iter().map(|t| t.name().to_owned()));
        graph.value_info.retain(|v| exists.contains(&v.name));
        graph
            .quantization_annotations
            .retain(|a| a.tensor_name.as_ref().is_some_and(|n| exists.contains(n)));

        let after = (
            graph.nodes.len(),
            graph.initializers.len(),
            graph.inputs.len(),
            graph.value_info.len(),
            graph.quantization_annotations.len(),
        );
        Ok(before != after)
    }
}
