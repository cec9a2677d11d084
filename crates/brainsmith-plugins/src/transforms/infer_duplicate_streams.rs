//! [`InferDuplicateStreams`]

use brainsmith_core::ir::AttributeValue;
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;
use crate::kernels::{DuplicateStreams, DuplicateStreamsAttrs, FINN_DOMAIN};

/// Gives each reader of a kernel's output its own stream: where a tensor written by a
/// hardware kernel is read more than once (by kernels only), a `DuplicateStreams` after
/// the writer copies it, once per read, and each read takes its own copy. A stream has
/// one reader in hardware; this is the fan-out of a residual branch.
///
/// A tensor also read by a node left in software, or that is a graph output, stays as it
/// is, with a diagnostic. Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
/// use brainsmith_plugins::{InferAddStreams, InferChannelwiseOp, InferDuplicateStreams};
///
/// // `t` feeds both inputs of a stream sum: it is copied into two streams.
/// let mut m = Sketch::new().int_input("x", &[1, 4], "UINT4").constant("c", &[4], &[1.0; 4])
///     .op("Add", ["x", "c"], ["t"]).op("Add", ["t", "t"], ["y"]).output("y").build();
/// assert!(apply(&InferChannelwiseOp, &mut m) && apply(&InferAddStreams, &mut m));
/// assert!(apply(&InferDuplicateStreams, &mut m));
/// assert_eq!(op_types(&m), ["ChannelwiseOp", "DuplicateStreams", "AddStreams"]);
/// ```
#[transform(infers = DuplicateStreams, tags = ["finn", "residual", "fanout"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferDuplicateStreams;

fn is_kernel(node: &Node) -> bool {
    node.domain.starts_with(FINN_DOMAIN)
}

impl Transform for InferDuplicateStreams {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &model.graph;
        // (producer, tensor, [(reader, input slot)], attrs)
        let mut plans = Vec::new();
        for (p, producer) in graph.nodes.iter().enumerate() {
            if !is_kernel(producer) || producer.op_type.starts_with("DuplicateStreams") {
                continue;
            }
            for t in producer.outputs.iter().filter(|t| !t.is_empty()) {
                let reads: Vec<(usize, usize)> = graph
                    .nodes
                    .iter()
                    .enumerate()
                    .flat_map(|(r, n)| {
                        n.inputs
                            .iter()
                            .enumerate()
                            .filter(|(_, x)| *x == t)
                            .map(move |(slot, _)| (r, slot))
                    })
                    .collect();
                if reads.len() < 2 {
                    continue;
                }
                let why = if graph.is_output(t) {
                    Some(format!("'{t}' is also a graph output"))
                } else if let Some(&(r, _)) =
                    reads.iter().find(|(r, _)| !is_kernel(&graph.nodes[*r]))
                {
                    Some(format!(
                        "its reader '{}' ({}) is not a hardware kernel",
                        graph.nodes[r].name, graph.nodes[r].op_type
                    ))
                } else {
                    None
                };
                let shape = Tensors::shape(graph, t);
                let datatype = Tensors::datatype(graph, t);
                let problem = why.or_else(|| match (&shape, datatype) {
                    (None, _) => Some(format!("the shape of '{t}' is unknown; run InferShapes")),
                    (_, None) => Some(format!(
                        "the datatype of '{t}' is unknown; run InferDataTypes"
                    )),
                    (Some(s), _) if s.is_empty() || s.iter().any(|&d| d < 1) => {
                        Some(format!("'{t}' of shape {s:?} has no channel axis"))
                    }
                    _ => None,
                });
                if let Some(why) = problem {
                    ctx.warn(
                        producer.name.clone(),
                        format!(
                            "'{t}' stays read {} times without copies: {why}",
                            reads.len()
                        ),
                    );
                    continue;
                }
                let (Some(shape), Some(datatype)) = (shape, datatype) else {
                    continue;
                };
                let (&c, lead) = shape.split_last().expect("checked non-empty");
                let attrs = DuplicateStreamsAttrs {
                    channels: c as u64,
                    pe: 1,
                    copies: reads.len() as u64,
                    input: datatype,
                    vectors: lead.iter().map(|&d| d as u64).collect(),
                };
                plans.push((p, t.clone(), reads, attrs));
            }
        }
        if plans.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut inserts = Vec::new();
        for (p, t, reads, attrs) in plans {
            let copies: Vec<String> = (0..reads.len())
                .map(|k| names.fresh(format!("{t}_copy{k}")))
                .collect();
            for ((r, slot), copy) in reads.iter().zip(&copies) {
                graph.nodes[*r].inputs[*slot].clone_from(copy);
                graph.set_datatype(copy, attrs.input);
            }
            let base = &graph.nodes[p].name;
            let name = names.fresh(if base.is_empty() {
                format!("{t}_duplicate")
            } else {
                format!("{base}_duplicate")
            });
            let mut node = Node::new("DuplicateStreams", [t.clone()], copies)
                .with_name(name)
                .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            inserts.push((p + 1, node));
        }
        for (at, node) in inserts.into_iter().rev() {
            graph.nodes.insert(at, node);
        }
        Ok(true)
    }
}
