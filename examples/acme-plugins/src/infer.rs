//! [`InferThresholding`]

use brainsmith_core::prelude::*;

use crate::kernel::{DOMAIN, OP_TYPE, Thresholding, ThresholdingAttrs};

/// Maps QONNX `MultiThreshold` nodes with constant, ascending thresholds onto the
/// [`Thresholding`] kernel. Nodes it cannot map are left alone, with a diagnostic.
///
/// ```
/// use acme_plugins::{DOMAIN, InferThresholding};
/// use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, Tensor, ValueInfo};
/// use brainsmith_core::{Transform, TransformContext};
///
/// let mut m = Model::default();
/// m.graph.inputs.push(ValueInfo::tensor("x", ElemType::Float, &[1, 2]));
/// m.graph.set_datatype("x", "UINT4".parse().unwrap());
/// m.graph.initializers.push(Tensor::from_f32("t", &[1, 2], &[3.0, 8.0]));
/// m.graph.nodes.push(Node::new("MultiThreshold", ["x", "t"], ["y"])
///     .with_domain("qonnx.custom_op.general")
///     .with_attribute("out_dtype", AttributeValue::string("UINT2")));
/// assert!(InferThresholding.apply(&mut m, &mut TransformContext::default()).unwrap());
/// assert_eq!((m.graph.nodes[0].op_type.as_str(), m.graph.nodes[0].domain.as_str()), ("Thresholding", DOMAIN));
/// assert_eq!(m.graph.nodes[0].attr_int("numSteps"), Some(2));
/// ```
#[transform(infers = Thresholding, consumes = ["MultiThreshold"], tags = ["activation"], version = "0.4.0")]
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
            let output = match node.attr_str("out_dtype").unwrap_or("FLOAT32").parse() {
                Ok(dt) => dt,
                Err(e) => {
                    ctx.warn(
                        &node.name,
                        format!("attribute 'out_dtype': {e}; left as MultiThreshold"),
                    );
                    continue;
                }
            };
            let positive = |n: i64| usize::try_from(n).ok().filter(|&n| n > 0);
            let (Some(channels), Some(steps)) = (positive(channels), positive(steps)) else {
                ctx.warn(
                    &node.name,
                    "empty threshold dimensions; left as MultiThreshold",
                );
                continue;
            };
            let attrs = ThresholdingAttrs {
                channels,
                steps,
                pe: 1,
                input,
                output,
                scale: node.attr_float("out_scale").unwrap_or(1.0),
                bias: node.attr_float("out_bias").unwrap_or(0.0),
            };
            let mut mapped = Node::new(OP_TYPE, node.inputs.clone(), node.outputs.clone())
                .with_name(node.name.clone())
                .with_domain(DOMAIN);
            attrs.write(&mut mapped);
            model.graph.nodes[i] = mapped;
            changed = true;
        }
        Ok(changed)
    }
}
