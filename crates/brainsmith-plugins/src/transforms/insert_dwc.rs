//! [`InsertDwc`]

use brainsmith_core::Registry;
use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::AttributeValue;
use brainsmith_core::kernel::{Direction, Stream};
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;
use crate::kernels::{FINN_DOMAIN, StreamingDataWidthConverterAttrs};

/// Puts a width converter (`StreamingDataWidthConverter`) on every stream between two
/// hardware kernels whose words differ: a producer folded to write `PE = 4` values per
/// word feeding a consumer that reads `SIMD = 8`. The streams' widths come from the
/// kernels' own `streams` hooks, so a third party's kernels are connected alike. Values
/// and order are unchanged, so the model computes what it did.
///
/// A stream whose two ends disagree on more than the width (the datatype, the number of
/// values) is left alone, with a diagnostic naming both nodes: that is a mapping error no
/// converter mends.
///
/// ```
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
/// use brainsmith_plugins::{InferChannelwiseOp, InsertDwc};
/// use brainsmith_core::ir::AttributeValue;
///
/// let mut m = Sketch::new().int_input("x", &[1, 8], "UINT4").constant("p", &[8], &[1.0; 8])
///     .op("Mul", ["x", "p"], ["t"]).op("Add", ["t", "p"], ["y"]).output("y").build();
/// assert!(apply(&InferChannelwiseOp, &mut m));
/// // The first writes 2 channels a word, the second reads 4.
/// m.graph.nodes[0].set_attribute("PE", AttributeValue::Int(2));
/// m.graph.nodes[1].set_attribute("PE", AttributeValue::Int(4));
/// assert!(apply(&InsertDwc, &mut m));
/// assert_eq!(op_types(&m), ["ChannelwiseOp", "StreamingDataWidthConverter", "ChannelwiseOp"]);
/// ```
#[transform(stage = dataflow_opt, tags = ["finn", "dataflow", "stream"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InsertDwc;

/// The stream `node` has in `direction` at slot `index`, as its kernel describes it.
fn stream_of(
    registry: &Registry,
    model: &Model,
    node: &Node,
    direction: Direction,
    index: usize,
) -> Option<Stream> {
    let found = resolve(registry, node).ok()??;
    let kernel = found.kernel.with_defaults().ok()?;
    let streams = kernel.streams(node, &model.graph).ok()?;
    streams
        .into_iter()
        .find(|s| s.direction == direction && s.index == index)
}

impl Transform for InsertDwc {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let registry = Registry::global().map_err(|e| PluginError::new(e.to_string()))?;
        let is_kernel = |n: &Node| n.domain.starts_with(FINN_DOMAIN);
        // (consumer, input slot, tensor, converter)
        let mut inserts = Vec::new();
        let producers = model.graph.producers();
        for (c, consumer) in model.graph.nodes.iter().enumerate() {
            if !is_kernel(consumer) || consumer.op_type.starts_with("StreamingDataWidthConverter") {
                continue;
            }
            for (slot, t) in consumer.inputs.iter().enumerate() {
                let Some(&p) = producers.get(t.as_str()) else {
                    continue;
                };
                let producer = &model.graph.nodes[p];
                if !is_kernel(producer) {
                    continue;
                }
                let Some(out_slot) = producer.outputs.iter().position(|o| o == t) else {
                    continue;
                };
                let (Some(from), Some(to)) = (
                    stream_of(registry, model, producer, Direction::Out, out_slot),
                    stream_of(registry, model, consumer, Direction::In, slot),
                ) else {
                    continue;
                };
                if from.width() == to.width() {
                    continue;
                }
                let values = |s: &Stream| s.normal_shape.iter().product::<i64>();
                if from.datatype != to.datatype || values(&from) != values(&to) {
                    ctx.warn(
                        consumer.name.clone(),
                        format!(
                            "'{t}' joins '{}' ({} values of {}) and '{}' ({} values of {}), \
                             which no width converter mends",
                            producer.name,
                            values(&from),
                            from.datatype,
                            consumer.name,
                            values(&to),
                            to.datatype
                        ),
                    );
                    continue;
                }
                let attrs = StreamingDataWidthConverterAttrs {
                    shape: to.normal_shape.iter().map(|&d| d as u64).collect(),
                    in_width: from.width(),
                    out_width: to.width(),
                    datatype: to.datatype,
                };
                if let Err(e) = registry
                    .kernel("StreamingDataWidthConverter")
                    .map_err(|e| e.to_string())
                    .and_then(|k| {
                        let mut n = Node::new("StreamingDataWidthConverter", [t.as_str()], ["y"])
                            .with_domain(FINN_DOMAIN);
                        attrs.write(&mut n);
                        k.instantiate().check_attrs(&n).map_err(|e| e.to_string())
                    })
                {
                    ctx.warn(
                        consumer.name.clone(),
                        format!("'{t}' gets no width converter: {e}"),
                    );
                    continue;
                }
                inserts.push((c, slot, t.clone(), attrs));
            }
        }
        if inserts.is_empty() {
            return Ok(false);
        }
        let mut names = FreshNames::of(&model.graph);
        let graph = &mut model.graph;
        let mut placed = Vec::new();
        for (c, slot, t, attrs) in inserts {
            let converted = names.fresh(format!("{t}_{}b", attrs.out_width));
            let base = &graph.nodes[c].name;
            let name = names.fresh(format!(
                "{}_dwc{slot}",
                if base.is_empty() { &t } else { base }
            ));
            let mut node = Node::new(
                "StreamingDataWidthConverter",
                [t.as_str()],
                [converted.as_str()],
            )
            .with_name(name)
            .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            graph.set_datatype(&converted, attrs.datatype);
            graph.nodes[c].inputs[slot] = converted;
            placed.push((c, node));
        }
        // Each converter goes right before its consumer (later positions first).
        placed.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
        for (c, node) in placed {
            graph.nodes.insert(c, node);
        }
        Ok(true)
    }
}
