//! The [`Thresholding`] kernel and the parameters its nodes carry.

use brainsmith_core::ir::{Graph, Node, QuantType};
use brainsmith_core::prelude::*;

/// The op type of thresholding nodes.
pub const OP_TYPE: &str = "Thresholding";
/// The domain of thresholding nodes.
pub const DOMAIN: &str = "acme.fpgadataflow";

/// A streaming multi-threshold unit: each input element is compared against the
/// thresholds of its channel, and the number of thresholds it reaches, scaled and biased,
/// is the output.
///
/// Node attributes: `NumChannels`, `numSteps`, `inputDataType`, `outputDataType`,
/// `out_scale`, `out_bias`; the second input is the constant threshold matrix
/// (`NumChannels` or 1 rows, `numSteps` columns, ascending).
#[kernel(op_types = ["Thresholding"], domain = "acme.fpgadataflow", tags = ["activation", "quantization"], version = "0.3.0", author = "ACME FPGA team", config)]
#[derive(Debug, Config)]
pub struct Thresholding {
    /// The most thresholds per channel the unit is built for; a node with more is refused
    /// (the comparators grow with the count).
    #[config(default = 255)]
    pub max_steps: usize,
}

/// The parameters of one thresholding node, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdingParams {
    /// Channels of the input.
    pub channels: usize,
    /// Thresholds per channel.
    pub steps: usize,
    /// Input datatype.
    pub input: QuantType,
    /// Output datatype.
    pub output: QuantType,
    /// Output scale.
    pub scale: f32,
    /// Output bias.
    pub bias: f32,
    /// Threshold rows (1 row when all channels share them).
    pub thresholds: Vec<Vec<f64>>,
}

fn attr_type(node: &Node, key: &str) -> Result<QuantType, PluginError> {
    let text = node.attr_str(key).ok_or_else(|| {
        PluginError::new(format!(
            "node '{}' has no string attribute '{key}'",
            node.name
        ))
    })?;
    text.parse()
        .map_err(|e| PluginError::new(format!("node '{}', attribute '{key}': {e}", node.name)))
}

impl ThresholdingParams {
    /// Reads the parameters of `node`, failing with a message naming the node and the
    /// attribute at fault.
    pub fn read(node: &Node, graph: &Graph) -> Result<ThresholdingParams, PluginError> {
        let int = |key: &str| {
            node.attr_int(key)
                .filter(|v| *v > 0)
                .map(|v| v as usize)
                .ok_or_else(|| {
                    PluginError::new(format!(
                        "node '{}' needs a positive INT attribute '{key}'",
                        node.name
                    ))
                })
        };
        let channels = int("NumChannels")?;
        let steps = int("numSteps")?;
        let name = node.inputs.get(1).ok_or_else(|| {
            PluginError::new(format!("node '{}' has no threshold input", node.name))
        })?;
        let tensor = graph.constant(name).ok_or_else(|| {
            PluginError::new(format!(
                "node '{}': thresholds '{name}' are not a constant",
                node.name
            ))
        })?;
        let values = tensor.to_f64()?;
        let rows = values.len() / steps.max(1);
        if values.len() != rows * steps || (rows != 1 && rows != channels) {
            return Err(PluginError::new(format!(
                "node '{}': thresholds '{name}' have shape {:?}; expected [{channels} or 1, {steps}]",
                node.name,
                tensor.dims()
            )));
        }
        let thresholds: Vec<Vec<f64>> = values.chunks(steps).map(<[f64]>::to_vec).collect();
        if thresholds
            .iter()
            .any(|row| row.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(PluginError::new(format!(
                "node '{}': thresholds '{name}' are not ascending",
                node.name
            )));
        }
        Ok(ThresholdingParams {
            channels,
            steps,
            input: attr_type(node, "inputDataType")?,
            output: attr_type(node, "outputDataType")?,
            scale: node.attr_float("out_scale").unwrap_or(1.0),
            bias: node.attr_float("out_bias").unwrap_or(0.0),
            thresholds,
        })
    }
}

impl Kernel for Thresholding {
    fn check(&self, node: &Node, graph: &Graph) -> Result<(), PluginError> {
        let params = ThresholdingParams::read(node, graph)?;
        if params.steps > self.max_steps {
            return Err(PluginError::new(format!(
                "node '{}' has {} thresholds per channel; this build's Thresholding unit takes \
                 at most {} (kernel configuration `max_steps`)",
                node.name, params.steps, self.max_steps
            )));
        }
        Ok(())
    }
}
