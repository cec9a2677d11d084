//! [`InferAddStreams`]

use brainsmith_core::ir::{AttributeValue, Graph};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use crate::kernels::{AddStreams, AddStreamsAttrs, FINN_DOMAIN};

/// Maps an `Add` of two computed tensors (a residual connection) onto FINN's stream sum
/// (`AddStreams`): both inputs of one static shape and of integer datatypes (which may
/// differ: the second's goes into `input1DataType`). Addition is
/// elementwise, so the last axis is the kernel's channel axis whatever the layout; the
/// sum is written in a type wide enough for every sum. An `Add` with a constant operand
/// is `InferChannelwiseOp`'s.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed.
/// Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::InferAddStreams;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // A residual sum of two 4-bit streams.
/// let mut m = Sketch::new().int_input("a", &[1, 8], "UINT4").int_input("b", &[1, 8], "UINT4")
///     .op("Add", ["a", "b"], ["y"]).output("y").build();
/// assert!(apply(&InferAddStreams, &mut m));
/// assert_eq!(op_types(&m), ["AddStreams"]);
/// let add = &m.graph.nodes[0];
/// assert_eq!((add.attr_int("NumChannels"), add.attr_str("inputDataType")), (Some(8), Some("UINT4")));
/// ```
#[transform(infers = AddStreams, consumes = ["Add"], tags = ["finn", "residual"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferAddStreams;

impl Transform for InferAddStreams {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        for (i, node) in model.graph.nodes.iter().enumerate() {
            if node.op_type != "Add"
                || !node.is_onnx()
                || node.inputs.len() != 2
                || node.outputs.len() != 1
                || node
                    .inputs
                    .iter()
                    .any(|x| model.graph.constant(x).is_some())
            {
                continue;
            }
            match plan(&model.graph, i) {
                Ok(attrs) => mappings.push((i, attrs)),
                Err(why) => ctx.warn(node.name.clone(), format!("left as Add: {why}")),
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let graph = &mut model.graph;
        for (i, attrs) in mappings {
            let old = &graph.nodes[i];
            let out = old.outputs[0].clone();
            let mut node = Node::new("AddStreams", old.inputs.clone(), [out.clone()])
                .with_name(old.name.clone())
                .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            graph.set_datatype(&out, attrs.output());
            graph.nodes[i] = node;
        }
        if model.opset_version(FINN_DOMAIN).is_none() {
            model.set_opset_version(FINN_DOMAIN, 1);
        }
        Ok(true)
    }
}

fn plan(graph: &Graph, i: usize) -> Result<AddStreamsAttrs, String> {
    let node = &graph.nodes[i];
    let (x, y) = (&node.inputs[0], &node.inputs[1]);
    let shape = |t: &str| {
        Tensors::shape(graph, t)
            .ok_or_else(|| format!("the shape of its input '{t}' is unknown; run InferShapes"))
    };
    let (sx, sy) = (shape(x)?, shape(y)?);
    if sx != sy {
        return Err(format!(
            "its inputs have shapes {sx:?} and {sy:?}; the stream sum adds two streams of \
             one shape"
        ));
    }
    let datatype = |t: &str| match Tensors::datatype(graph, t) {
        Some(dt) if dt.is_integer() => Ok(dt),
        Some(dt) => Err(format!("its input '{t}' is {dt}, not an integer type")),
        None => Err(format!(
            "the datatype of its input '{t}' is unknown; run InferDataTypes"
        )),
    };
    let (dx, dy) = (datatype(x)?, datatype(y)?);
    let Some((&c, lead)) = sx.split_last() else {
        return Err("its inputs are scalars".into());
    };
    if c < 1 || lead.iter().any(|&d| d < 1) {
        return Err(format!("its input shape {sx:?} holds no values"));
    }
    Ok(AddStreamsAttrs {
        channels: c as u64,
        pe: 1,
        input: dx,
        input1: (dy != dx).then_some(dy),
        vectors: lead.iter().map(|&d| d as u64).collect(),
    })
}
