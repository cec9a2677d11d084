//! [`SortGraph`]

use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use brainsmith_core::ir::{AttributeValue, Graph, Node};
use brainsmith_core::prelude::*;

/// Sorts the nodes topologically, keeping the file's order wherever it is already valid
/// (a stable Kahn sort: among ready nodes, the earliest in the file goes first).
///
/// Fails on a cycle, naming the nodes on it, and on an input that no node, graph input or
/// initializer provides.
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
        subgraph_reads(node, &mut outer);
        if !reads_ready || !outer.iter().all(|i| available.contains(i.as_str())) {
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

/// Outer-scope tensors a subgraph reads (names no node of the subgraph produces).
fn outer_reads(graph: &Graph, out: &mut Vec<String>) {
    let mut local: FxHashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
    local.extend(graph.initializers.iter().map(|t| t.name()));
    local.extend(
        graph
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(String::as_str)),
    );
    for node in &graph.nodes {
        out.extend(
            node.inputs
                .iter()
                .filter(|i| !i.is_empty() && !local.contains(i.as_str()))
                .cloned(),
        );
        subgraph_reads(node, out);
    }
}

/// Appends the outer-scope tensors the subgraphs of `node` read.
pub(crate) fn subgraph_reads(node: &Node, out: &mut Vec<String>) {
    for attribute in &node.attributes {
        match &attribute.value {
            AttributeValue::Graph(g) => outer_reads(g, out),
            AttributeValue::Graphs(gs) => gs.iter().for_each(|g| outer_reads(g, out)),
            _ => {}
        }
    }
}

/// The node indices in a valid execution order.
pub(crate) fn topological_order(graph: &Graph) -> Result<Vec<usize>, PluginError> {
    let producers = graph.producers();
    let mut available: FxHashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
    available.extend(graph.initializers.iter().map(|t| t.name()));
    let mut pending = vec![0usize; graph.nodes.len()];
    let mut users: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for (i, node) in graph.nodes.iter().enumerate() {
        let mut reads: Vec<String> = node
            .inputs
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        subgraph_reads(node, &mut reads);
        reads.sort();
        reads.dedup();
        for input in &reads {
            match producers.get(input.as_str()) {
                Some(&p) => {
                    pending[i] += 1;
                    users.entry(p).or_default().push(i);
                }
                None if available.contains(input.as_str()) => {}
                None => {
                    return Err(PluginError::new(format!(
                        "node '{}' ({}) reads tensor '{input}', which no node, graph input or initializer provides",
                        node.name, node.op_type
                    )));
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..graph.nodes.len())
        .filter(|&i| pending[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(graph.nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &user in users.get(&i).map(Vec::as_slice).unwrap_or_default() {
            pending[user] -= 1;
            if pending[user] == 0 {
                ready.push(Reverse(user));
            }
        }
    }
    if order.len() < graph.nodes.len() {
        let stuck: Vec<String> = (0..graph.nodes.len())
            .filter(|&i| pending[i] > 0)
            .take(10)
            .map(|i| format!("'{}' ({})", graph.nodes[i].name, graph.nodes[i].op_type))
            .collect();
        return Err(PluginError::new(format!(
            "the graph has a cycle: {} node(s) wait on each other, among them {}",
            graph.nodes.len() - order.len(),
            stuck.join(", ")
        )));
    }
    Ok(order)
}
