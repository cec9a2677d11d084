//! [`InsertFifos`]

use brainsmith_core::Registry;
use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::AttributeValue;
use brainsmith_core::kernel::{Direction, Stream};
use brainsmith_core::prelude::*;

use super::rewrite::FreshNames;
use crate::kernels::{FINN_DOMAIN, StreamingFifoAttrs};

/// Puts a FIFO (`StreamingFIFO`) on every stream between two hardware kernels, sized by a
/// rule: `depth` words (2 by default: with a registered handshake on each side, two words
/// let a producer and a consumer that both move one word per cycle run at full rate), and
/// on each stream out of a node with several output streams (a `DuplicateStreams` in front
/// of a residual branch), at least a whole frame of that stream's words: the branch that
/// reconverges first then never waits for the other to start, since no kernel holds back
/// more than a frame before it writes. Which kernels are hardware, and their streams' words,
/// come from the kernels' own hooks, so a third party's kernels are connected alike.
///
/// Values and order are unchanged, so the model computes what it did. A stream that
/// already has a FIFO at either end gets none, so running it twice adds nothing.
///
/// ```
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
/// use brainsmith_plugins::{InferChannelwiseOp, InsertFifos};
///
/// let mut m = Sketch::new().int_input("x", &[1, 4], "INT4").constant("q", &[4], &[-2.0; 4])
///     .op("Add", ["x", "q"], ["t"]).op("Mul", ["t", "q"], ["y"]).output("y").build();
/// assert!(apply(&InferChannelwiseOp, &mut m));
/// assert!(apply(&InsertFifos { depth: 8 }, &mut m));
/// assert_eq!(op_types(&m), ["ChannelwiseOp", "StreamingFIFO", "ChannelwiseOp"]);
/// assert_eq!(m.graph.nodes[1].attr_int("depth"), Some(8));
/// ```
#[transform(stage = dataflow_opt, tags = ["finn", "dataflow", "stream", "fifo"], version = "0.1.0", config)]
#[derive(Debug, Config)]
pub struct InsertFifos {
    /// Words of each FIFO (at least 1).
    #[config(default = 2, check = at_least_one)]
    pub depth: u64,
}

fn at_least_one(v: &u64) -> Result<(), String> {
    if *v >= 1 {
        Ok(())
    } else {
        Err("a FIFO holds at least one word".into())
    }
}

impl Default for InsertFifos {
    fn default() -> InsertFifos {
        InsertFifos { depth: 2 }
    }
}

/// The hardware kernel of `node` (mapped or specialised), its streams, and whether it is a
/// FIFO itself.
fn streams_of(registry: &Registry, model: &Model, node: &Node) -> Option<(Vec<Stream>, bool)> {
    let found = resolve(registry, node).ok()??;
    let fifo = found.kernel.name() == "StreamingFIFO";
    let kernel = found.kernel.with_defaults().ok()?;
    Some((kernel.streams(node, &model.graph).ok()?, fifo))
}

impl Transform for InsertFifos {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        at_least_one(&self.depth).map_err(PluginError::new)?;
        let registry = Registry::global().map_err(|e| PluginError::new(e.to_string()))?;
        let streams: Vec<Option<(Vec<Stream>, bool)>> = model
            .graph
            .nodes
            .iter()
            .map(|n| streams_of(registry, model, n))
            .collect();
        let producers = model.graph.producers();
        // (consumer, input slot, tensor, attributes)
        let mut inserts = Vec::new();
        for (c, consumer) in model.graph.nodes.iter().enumerate() {
            let Some((consumer_streams, false)) = &streams[c] else {
                continue;
            };
            for (slot, t) in consumer.inputs.iter().enumerate() {
                let Some(&p) = producers.get(t.as_str()) else {
                    continue;
                };
                let Some((producer_streams, false)) = &streams[p] else {
                    continue;
                };
                let producer = &model.graph.nodes[p];
                let Some(out_slot) = producer.outputs.iter().position(|o| o == t) else {
                    continue;
                };
                let from = producer_streams
                    .iter()
                    .find(|s| s.direction == Direction::Out && s.index == out_slot);
                let to = consumer_streams
                    .iter()
                    .find(|s| s.direction == Direction::In && s.index == slot);
                let (Some(from), Some(to)) = (from, to) else {
                    continue;
                };
                if from.width() != to.width() {
                    ctx.warn(
                        consumer.name.clone(),
                        format!(
                            "'{t}' is written {} bits a word by '{}' and read {} bits a word: \
                             it gets no FIFO (run InsertDwc first)",
                            from.width(),
                            producer.name,
                            to.width()
                        ),
                    );
                    continue;
                }
                let outs = producer_streams
                    .iter()
                    .filter(|s| s.direction == Direction::Out)
                    .count();
                let depth = if outs > 1 {
                    self.depth.max(to.transfers())
                } else {
                    self.depth
                };
                let attrs = StreamingFifoAttrs {
                    depth,
                    folded_shape: to.folded_shape.iter().map(|&d| d.max(1) as u64).collect(),
                    datatype: to.datatype,
                    ram_style: crate::kernels::RamStyle::Auto,
                };
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
            let buffered = names.fresh(format!("{t}_fifo"));
            let base = &graph.nodes[c].name;
            let name = names.fresh(format!(
                "{}_fifo{slot}",
                if base.is_empty() { &t } else { base }
            ));
            let mut node = Node::new("StreamingFIFO", [t.as_str()], [buffered.as_str()])
                .with_name(name)
                .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            graph.set_datatype(&buffered, attrs.datatype);
            graph.nodes[c].inputs[slot] = buffered;
            placed.push((c, node));
        }
        // Each FIFO goes right before its consumer (later positions first).
        placed.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
        for (c, node) in placed {
            graph.nodes.insert(c, node);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::execute;
    use brainsmith_core::ir::{ElemType, QuantType, Tensor, ValueInfo};

    /// `x -> Thresholding -> Thresholding -> y`, both PE 1 on 4 channels of INT4.
    fn chain() -> Model {
        let mut m = Model::default();
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1, 4]));
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[1, 4]));
        m.graph.set_datatype("x", QuantType::Int(4));
        for (i, (a, b)) in [("x", "m"), ("m", "y")].into_iter().enumerate() {
            let t = format!("t{i}");
            m.graph
                .initializers
                .push(Tensor::from_f32(&t, &[4, 1], &[0.0, 1.0, -1.0, 2.0]));
            let mut n = Node::new("Thresholding", [a, t.as_str()], [b])
                .with_name(format!("th{i}"))
                .with_domain(FINN_DOMAIN);
            n.set_attribute("NumChannels", AttributeValue::Int(4));
            n.set_attribute("PE", AttributeValue::Int(1));
            n.set_attribute("numSteps", AttributeValue::Int(1));
            n.set_attribute("inputDataType", AttributeValue::string("INT4"));
            n.set_attribute("weightDataType", AttributeValue::string("INT4"));
            n.set_attribute("outputDataType", AttributeValue::string("UINT1"));
            n.set_attribute("ActVal", AttributeValue::Int(0));
            m.graph.nodes.push(n);
            m.graph.set_datatype(b, QuantType::UInt(1));
        }
        // The second reads UINT1: make its input type say so.
        m.graph.nodes[1].set_attribute("inputDataType", AttributeValue::string("UINT1"));
        m.graph.nodes[1].set_attribute("weightDataType", AttributeValue::string("INT4"));
        m
    }

    #[test]
    fn a_fifo_joins_two_kernels_once_and_changes_nothing() {
        let before = chain();
        let mut m = before.clone();
        let mut ctx = TransformContext::default();
        assert!(InsertFifos::default().apply(&mut m, &mut ctx).unwrap());
        let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Thresholding", "StreamingFIFO", "Thresholding"]);
        let fifo = StreamingFifoAttrs::read(&m.graph.nodes[1]).unwrap();
        assert_eq!(
            (fifo.depth, fifo.folded_shape.as_slice()),
            (2, &[1, 4, 1][..])
        );
        assert!(!InsertFifos::default().apply(&mut m, &mut ctx).unwrap());
        let x = Tensor::from_f32("x", &[1, 4], &[-3.0, 1.0, 0.0, 7.0]);
        assert_eq!(
            execute(&m, std::slice::from_ref(&x)).unwrap()[0].to_f64(),
            execute(&before, &[x]).unwrap()[0].to_f64()
        );
        assert!(InsertFifos { depth: 0 }.apply(&mut m, &mut ctx).is_err());
    }
}
