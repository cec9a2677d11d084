//! [`SortCommutativeInputsInitializerLast`]

use rustc_hash::FxHashSet;

use brainsmith_core::prelude::*;

/// Puts the initializer operands of commutative ops (`Add`, `Mul`, `And`, `Or`, `Xor`,
/// `Sum`) after the computed ones, keeping the order within each group: the rewrites that
/// follow look for a constant in the last place only.
///
/// As qonnx 1.0 does, only initializers count as constant (a `Constant` node's output
/// does not: `FoldConstants` turns those into initializers).
///
/// ```
/// use brainsmith_plugins::SortCommutativeInputsInitializerLast;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// let mut m = Sketch::new().input("x", &[2]).constant("c", &[2], &[1.0, 2.0])
///     .op("Mul", ["c", "x"], ["y"]).output("y").build();
/// assert!(apply(&SortCommutativeInputsInitializerLast, &mut m));
/// assert_eq!(m.graph.nodes[0].inputs, ["x", "c"]);
/// ```
#[transform(stage = cleanup, tags = ["canonicalize"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct SortCommutativeInputsInitializerLast;

/// The op types whose operands commute.
const COMMUTATIVE: &[&str] = &["Add", "Mul", "And", "Or", "Xor", "Sum"];

impl Transform for SortCommutativeInputsInitializerLast {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let initializers: FxHashSet<&str> = graph.initializers.iter().map(|t| t.name()).collect();
        let mut changed = false;
        for node in &mut graph.nodes {
            if !(node.is_onnx() && COMMUTATIVE.contains(&node.op_type.as_str())) {
                continue;
            }
            let is_constant = |name: &String| initializers.contains(name.as_str());
            // Sorted already when no initializer comes before a computed operand.
            if node
                .inputs
                .windows(2)
                .all(|w| !is_constant(&w[0]) || is_constant(&w[1]))
            {
                continue;
            }
            // A stable sort: computed operands first, each group in its order.
            node.inputs.sort_by_key(|i| is_constant(i));
            changed = true;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{Node, Tensor};

    use super::*;

    #[test]
    fn initializers_move_last_in_order_and_others_stay() {
        let mut m = Model::default();
        for name in ["c1", "c2"] {
            m.graph
                .initializers
                .push(Tensor::from_f32(name, &[], &[2.0]));
        }
        *m.graph.nodes = vec![
            Node::new("Mul", ["c1", "x"], ["a"]),
            Node::new("Sum", ["c2", "x", "c1", "a"], ["b"]),
            Node::new("Sub", ["c1", "b"], ["c"]),
            Node::new("Add", ["c", "c1"], ["d"]),
        ];
        let mut ctx = TransformContext::default();
        assert!(
            SortCommutativeInputsInitializerLast
                .apply(&mut m, &mut ctx)
                .unwrap()
        );
        let inputs: Vec<Vec<&str>> = m
            .graph
            .nodes
            .iter()
            .map(|n| n.inputs.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            inputs,
            [
                vec!["x", "c1"],
                vec!["x", "a", "c2", "c1"],
                vec!["c1", "b"],
                vec!["c", "c1"]
            ]
        );
        assert!(
            !SortCommutativeInputsInitializerLast
                .apply(&mut m, &mut ctx)
                .unwrap()
        );
    }
}
