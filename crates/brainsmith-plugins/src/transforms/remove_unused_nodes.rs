//! [`RemoveUnusedNodes`]

use rustc_hash::FxHashSet;

use brainsmith_core::ir::Node;
use brainsmith_core::prelude::*;

/// Removes nodes that contribute to no graph output, directly or through other nodes:
/// dead code left behind by rewrites or by an exporter.
///
/// One backward pass from the graph outputs in dependency order, so a chain of dead
/// nodes goes at once. A tensor a subgraph (`If`, `Loop`, `Scan`) reads from the outer
/// scope keeps its producer alive when the subgraph's node is alive; qonnx 1.0 looks at
/// node inputs only and removes such a producer. Nodes on a cycle or reading a tensor
/// nothing provides are kept: `SortGraph` reports those.
///
/// ```
/// use brainsmith_plugins::RemoveUnusedNodes;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // Neg and Abs reach no output.
/// let mut m = Sketch::new().input("x", &[2]).op("Relu", ["x"], ["y"])
///     .op("Neg", ["x"], ["dead"]).op("Abs", ["dead"], ["dead2"]).output("y").build();
/// assert!(apply(&RemoveUnusedNodes, &mut m));
/// assert_eq!(op_types(&m), ["Relu"]);
/// ```
#[transform(stage = cleanup, tags = ["simplify"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct RemoveUnusedNodes;

/// Marks what a live `node` reads as live: its inputs, and the outer tensors its
/// subgraphs read.
fn keep<'g>(node: &'g Node, live: &mut FxHashSet<&'g str>, read_inside: &mut FxHashSet<&'g str>) {
    live.extend(node.inputs.iter().map(String::as_str));
    let mut outer = Vec::new();
    node.subgraph_reads(&mut outer);
    read_inside.extend(outer);
}

impl Transform for RemoveUnusedNodes {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let order = graph.topological_order().nodes;
        let mut alive = vec![false; graph.nodes.len()];
        // Nodes outside the order (cycles, dangling inputs) are kept, and so is what
        // they read.
        let mut ordered = vec![false; graph.nodes.len()];
        order.iter().for_each(|&i| ordered[i] = true);
        let mut live: FxHashSet<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
        // Outer tensors that the subgraphs of live nodes read.
        let mut read_inside: FxHashSet<&str> = FxHashSet::default();
        for (i, node) in graph.nodes.iter().enumerate() {
            if !ordered[i] {
                alive[i] = true;
                keep(node, &mut live, &mut read_inside);
            }
        }
        for &i in order.iter().rev() {
            let node = &graph.nodes[i];
            if node
                .outputs
                .iter()
                .any(|o| live.contains(o.as_str()) || read_inside.contains(o.as_str()))
            {
                alive[i] = true;
                keep(node, &mut live, &mut read_inside);
            }
        }
        if alive.iter().all(|&a| a) {
            return Ok(false);
        }
        let mut keep = alive.into_iter();
        graph.nodes.retain(|_| keep.next().unwrap_or(true));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{ElemType, Graph, Node, ValueInfo};

    use super::*;

    /// `nodes` between graph inputs `x`, `c` and graph output `y`.
    fn graph(nodes: Vec<Node>) -> Model {
        let mut m = Model::default();
        for input in ["x", "c"] {
            m.graph
                .inputs
                .push(ValueInfo::tensor(input, ElemType::Float, &[1]));
        }
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[1]));
        *m.graph.nodes = nodes;
        m
    }

    fn names(m: &Model) -> Vec<&str> {
        m.graph.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn removes_dead_chains_and_keeps_what_reaches_an_output() {
        let mut m = graph(vec![
            Node::new("Relu", ["x"], ["a"]).with_name("live"),
            Node::new("Neg", ["a"], ["d1"]).with_name("dead1"),
            Node::new("Abs", ["d1"], ["d2"]).with_name("dead2"),
            // Two outputs, one read: alive.
            Node::new("Split", ["a"], ["s0", "s1"]).with_name("split"),
            Node::new("Add", ["s0", "a"], ["y"]).with_name("out"),
        ]);
        assert!(
            RemoveUnusedNodes
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        assert_eq!(names(&m), ["live", "split", "out"]);
        assert!(
            !RemoveUnusedNodes
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
    }

    #[test]
    fn a_tensor_read_inside_a_subgraph_keeps_its_producer() {
        let mut branch = Graph::default();
        branch.nodes.push(Node::new("Identity", ["outer"], ["b"]));
        let mut m = graph(vec![
            Node::new("Relu", ["x"], ["outer"]).with_name("producer"),
            Node::new("If", ["c"], ["y"])
                .with_name("if")
                .with_attribute(
                    "then_branch",
                    AttributeValue::Graph(Box::new(branch.clone())),
                )
                .with_attribute("else_branch", AttributeValue::Graph(Box::new(branch))),
        ]);
        assert!(
            !RemoveUnusedNodes
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        assert_eq!(names(&m), ["producer", "if"]);
    }
}
