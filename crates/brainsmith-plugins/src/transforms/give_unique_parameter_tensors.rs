//! [`GiveUniqueParameterTensors`]

use rustc_hash::FxHashSet;

use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;

/// Gives every read of an initializer its own copy: the first reader keeps the original,
/// each later one (another node, or another input of the same node) reads a copy named
/// `<name>_<k>`, with the same datatype annotation. A transform that then changes one
/// node's parameter cannot change another node's by accident.
///
/// Initializers that are also graph inputs are left shared: a caller may override them,
/// and the override must reach every reader.
///
/// ```
/// use brainsmith_plugins::GiveUniqueParameterTensors;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// // Two nodes read `c`: the second gets a copy of its own.
/// let mut m = Sketch::new().input("x", &[2]).constant("c", &[2], &[3.0, 4.0])
///     .op("Add", ["x", "c"], ["t"]).op("Mul", ["t", "c"], ["y"]).output("y").build();
/// assert!(apply(&GiveUniqueParameterTensors, &mut m));
/// assert_eq!(m.graph.nodes[0].inputs[1], "c");
/// assert_ne!(m.graph.nodes[1].inputs[1], "c");
/// assert_eq!(m.graph.initializers.len(), 2);
/// ```
#[transform(stage = cleanup, tags = ["parameters", "weights"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct GiveUniqueParameterTensors;

impl Transform for GiveUniqueParameterTensors {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let initializers: FxHashSet<String> = graph
            .initializers
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        let mut copies = Vec::new();
        let mut rewriter = Rewriter::new(graph);
        let mut seen: FxHashSet<String> = FxHashSet::default();
        for i in 0..rewriter.graph().nodes.len() {
            for k in 0..rewriter.graph().nodes[i].inputs.len() {
                let name = &rewriter.graph().nodes[i].inputs[k];
                if !initializers.contains(name) || rewriter.constant(name).is_none() {
                    continue;
                }
                if seen.insert(name.clone()) {
                    continue;
                }
                let name = name.clone();
                let copy = rewriter
                    .constant(&name)
                    .expect("checked to be a constant")
                    .clone();
                let new = rewriter.add_constant(&name, copy);
                rewriter.read(&new);
                rewriter.unread(&name);
                rewriter.node_mut(i).inputs[k] = new.clone();
                copies.push((name, new));
            }
        }
        rewriter.finish();
        for (from, to) in &copies {
            if let Some(Ok(datatype)) = graph.datatype(from) {
                graph.set_datatype(to, datatype);
            }
        }
        Ok(!copies.is_empty())
    }
}
