//! [`AbsorbConsecutiveTransposes`]

use brainsmith_core::ir::{AttributeValue, Node};
use brainsmith_core::prelude::*;

/// Merges a `Transpose` that reads another `Transpose`: the pair is one permutation,
/// `q[i] = p1[p2[i]]`; when that is the identity both go and the readers of the second
/// read the first's input, otherwise the second transposes the first's input by `q`
/// directly. The first goes once nothing else reads it. This is what cancels the
/// NHWC/NCHW transposes kernel mapping puts around each channels-last kernel where two
/// kernels meet.
///
/// A pair whose second output is a graph output is merged but not removed (the output
/// keeps its name); transposes without a static `perm` are left alone.
///
/// ```
/// use brainsmith_plugins::AbsorbConsecutiveTransposes;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types};
/// use brainsmith_core::ir::Node;
///
/// // To channels-last and back: nothing is left of the pair.
/// let to_nhwc = Node::new("Transpose", ["x"], ["a"]).ints("perm", &[0, 2, 3, 1]);
/// let to_nchw = Node::new("Transpose", ["a"], ["b"]).ints("perm", &[0, 3, 1, 2]);
/// let mut m = Sketch::new().input("x", &[1, 2, 3, 3]).node(to_nhwc).node(to_nchw)
///     .op("Relu", ["b"], ["y"]).output("y").build();
/// assert!(apply(&AbsorbConsecutiveTransposes, &mut m));
/// assert_eq!(op_types(&m), ["Relu"]);
/// assert_eq!(m.graph.nodes[0].inputs, ["x"]);
/// ```
#[transform(stage = topology_opt, tags = ["transpose", "layout", "streamline"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct AbsorbConsecutiveTransposes;

impl Transform for AbsorbConsecutiveTransposes {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let mut changed = false;
        // Each round merges disjoint pairs; a chain of n needs about log n rounds, and
        // every merge moves a reader one transpose up an acyclic chain.
        while merge_round(model) {
            changed = true;
        }
        Ok(changed)
    }
}

/// The permutation of a default-domain `Transpose` with a `perm` attribute.
fn perm(node: &Node) -> Option<Vec<usize>> {
    if node.op_type != "Transpose" || !node.is_onnx() || node.inputs.len() != 1 {
        return None;
    }
    let p = node.attr_ints("perm")?;
    let n = p.len();
    let mut seen = vec![false; n];
    for &v in p {
        let v = usize::try_from(v).ok().filter(|&v| v < n)?;
        if std::mem::replace(&mut seen[v], true) {
            return None;
        }
    }
    Some(p.iter().map(|&v| v as usize).collect())
}

/// One pass: merges each `Transpose` whose input a `Transpose` writes; whether there was
/// one.
fn merge_round(model: &mut Model) -> bool {
    let graph = &model.graph;
    let producers = graph.producers();
    let mut merges: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    let mut taken = vec![false; graph.nodes.len()];
    for (second, node) in graph.nodes.iter().enumerate() {
        let Some(p2) = perm(node) else { continue };
        let Some(&first) = producers.get(node.inputs[0].as_str()) else {
            continue;
        };
        let Some(p1) = perm(&graph.nodes[first]) else {
            continue;
        };
        if p1.len() != p2.len() || taken[first] || taken[second] {
            continue;
        }
        taken[first] = true;
        taken[second] = true;
        merges.push((first, second, p2.iter().map(|&i| p1[i]).collect()));
    }
    if merges.is_empty() {
        return false;
    }
    let graph = &mut model.graph;
    let mut remove = vec![false; graph.nodes.len()];
    for (first, second, q) in merges {
        let source = graph.nodes[first].inputs[0].clone();
        let out = graph.nodes[second].outputs[0].clone();
        let identity = q.iter().enumerate().all(|(i, &v)| i == v);
        if identity && !graph.is_output(&out) {
            for node in graph.nodes.iter_mut() {
                for input in node.inputs.iter_mut().filter(|i| **i == out) {
                    input.clone_from(&source);
                }
            }
            remove[second] = true;
        } else {
            let node = &mut graph.nodes[second];
            node.inputs[0].clone_from(&source);
            node.set_attribute(
                "perm",
                AttributeValue::Ints(q.iter().map(|&v| v as i64).collect()),
            );
        }
        let mid = &graph.nodes[first].outputs[0];
        let still_read = graph.is_output(mid)
            || graph
                .nodes
                .iter()
                .enumerate()
                .any(|(i, n)| !remove[i] && i != first && n.inputs.contains(mid));
        if !still_read {
            remove[first] = true;
        }
    }
    let mut keep = remove.iter().map(|r| !r);
    graph.nodes.retain(|_| keep.next().unwrap_or(true));
    true
}
