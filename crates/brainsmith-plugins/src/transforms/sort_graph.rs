//! [`SortGraph`]

use rustc_hash::FxHashSet;

use brainsmith_core::ir::{Graph, Node};
use brainsmith_core::prelude::*;

/// Sorts the nodes topologically, keeping the file's order wherever it is already valid
/// (a stable Kahn sort: among ready nodes, the earliest in the file goes first).
///
/// Fails on a cycle, naming the nodes on it, and on an input that no node, graph input or
/// initializer provides.
///
/// ```
/// use brainsmith_plugins::SortGraph;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // Relu reads what Abs writes, but is listed first.
/// let mut m = Sketch::new().input("x", &[2]).op("Relu", ["t"], ["y"]).op("Abs", ["x"], ["t"])
///     .output("y").unshaped();
/// assert!(apply(&SortGraph, &mut m));
/// assert_eq!(op_types(&m), ["Abs", "Relu"]);
/// ```
#[transform(stage = cleanup, tags = ["topology", "order"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct SortGraph;

impl Transform for SortGraph {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        if in_order(&model.graph) {
            return Ok(false);
        }
        let order = topological_order(&model.graph)?;
        if order.iter().enumerate().all(|(i, &j)| i == j) {
            return Ok(false);
        }
        let mut slots: Vec<Option<Node>> = std::mem::take(&mut model.graph.nodes)
            .into_iter()
            .map(Some)
            .collect();
        model.graph.nodes = order.into_iter().filter_map(|i| slots[i].take()).collect();
        Ok(true)
    }
}

/// Whether every node reads only what the graph inputs, the initializers and the nodes
/// before it provide, each tensor written once: then the stable sort would keep the order,
/// and one pass over the graph (no allocation per node) says so.
fn in_order(graph: &Graph) -> bool {
    let mut available: FxHashSet<&str> = FxHashSet::with_capacity_and_hasher(
        graph.inputs.len() + graph.initializers.len() + graph.nodes.len(),
        Default::default(),
    );
    available.extend(graph.inputs.iter().map(|v| v.name.as_str()));
    available.extend(graph.initializers.iter().map(|t| t.name()));
    let mut outer = Vec::new();
    for node in &graph.nodes {
        let reads_ready = node
            .inputs
            .iter()
            .all(|i| i.is_empty() || available.contains(i.as_str()));
        outer.clear();
        node.subgraph_reads(&mut outer);
        if !reads_ready || !outer.iter().all(|i| available.contains(i)) {
            return false;
        }
        for output in node.outputs.iter().filter(|o| !o.is_empty()) {
            if !available.insert(output.as_str()) {
                return false;
            }
        }
    }
    true
}

/// The node indices in a valid execution order; an error names a node that reads a
/// tensor nothing provides, or the nodes of a cycle.
pub(crate) fn topological_order(graph: &Graph) -> Result<Vec<usize>, PluginError> {
    let order = graph.topological_order();
    match order.problem(graph) {
        Some(problem) => Err(PluginError::new(problem)),
        None => Ok(order.nodes),
    }
}
