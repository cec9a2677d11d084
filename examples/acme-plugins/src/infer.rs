//! [`InferThresholding`]

use brainsmith_core::ir::{AttributeValue, Node, QuantType};
use brainsmith_core::prelude::*;

use crate::kernel::{DOMAIN, OP_TYPE, Thresholding};

/// Maps QONNX `MultiThreshold` nodes with constant, ascending thresholds onto the
/// [`Thresholding`] kernel. Nodes it cannot map are left alone, with a diagnostic.
#[transform(infers = Thresholding, tags = ["activation"], version = "0.3.0")]
#[derive(Debug, Default)]
pub struct InferThresholding;

impl Transform for InferThresholding {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut changed = false;
        for i in 0..model.graph.nodes.len() {
            let node = &model.graph.nodes[i];
            let is_multithreshold = node.op_type == "MultiThreshold"
                && matches!(
                    node.domain.as_str(),
                    "qonnx.custom_op.general" | "finn.custom_op.general"
                );
            if !is_multithreshold || node.inputs.len() != 2 {
                continue;
            }
            let Some(thresholds) = model.graph.constant(&node.inputs[1]) else {
                ctx.warn(
                    &node.name,
                    "thresholds are not constant; left as MultiThreshold",
                );
                continue;
            };
            let [rows, steps] = *thresholds.dims() else {
                ctx.warn(
                    &node.name,
                    format!("thresholds have shape {:?}, not 2-D", thresholds.dims()),
                );
                continue;
            };
            let input = match model.graph.datatype(&node.inputs[0]) {
                Some(Ok(dt)) => dt,
                Some(Err(e)) => return Err(PluginError::new(e)),
                None => QuantType::Float32,
            };
            let channels = model
                .graph
                .value_info_of(&node.inputs[0])
                .and_then(|v| v.static_shape())
                .and_then(|s| s.last().copied())
                .unwrap_or(rows);
            let output = node.attr_str("out_dtype").unwrap_or("FLOAT32").to_owned();
            let mut mapped = Node::new(OP_TYPE, node.inputs.clone(), node.outputs.clone())
                .with_name(node.name.clone())
                .with_domain(DOMAIN)
                .with_attribute("NumChannels", AttributeValue::Int(channels))
                .with_attribute("numSteps", AttributeValue::Int(steps))
                .with_attribute("inputDataType", AttributeValue::string(&input.to_string()))
                .with_attribute("outputDataType", AttributeValue::string(&output));
            for key in ["out_scale", "out_bias"] {
                if let Some(v) = node.attr_float(key) {
                    mapped.set_attribute(key, AttributeValue::Float(v));
                }
            }
            model.graph.nodes[i] = mapped;
            changed = true;
        }
        Ok(changed)
    }
}
