//! The [`Thresholding`] kernel and the attributes its nodes carry.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

/// The op type of thresholding nodes.
pub const OP_TYPE: &str = "Thresholding";
/// The domain of thresholding nodes.
pub const DOMAIN: &str = "acme.fpgadataflow";

/// A streaming multi-threshold unit: each input element is compared against the
/// thresholds of its channel (the last axis), and the number of thresholds it reaches,
/// scaled and biased, is the output. `PE` channels are processed per cycle.
///
/// The second input is the constant threshold matrix (`NumChannels` or 1 rows,
/// `numSteps` columns, ascending).
///
/// ```
/// use acme_plugins::{DOMAIN, Thresholding, ThresholdingAttrs};
/// use brainsmith_core::ir::{AttributeValue as V, ElemType, Graph, Node, Tensor, ValueInfo};
/// use brainsmith_core::{NodeAttrs, Target, kernel::DynKernel};
///
/// // 4 channels of UINT4, 3 shared thresholds: a UINT2 count, 2 channels a cycle.
/// let node = Node::new("Thresholding", ["x", "t"], ["y"]).with_domain(DOMAIN)
///     .with_attribute("NumChannels", V::Int(4)).with_attribute("numSteps", V::Int(3))
///     .with_attribute("PE", V::Int(2)).with_attribute("inputDataType", V::string("UINT4"))
///     .with_attribute("outputDataType", V::string("UINT2"));
/// assert_eq!(ThresholdingAttrs::read(&node).unwrap().scale, 1.0, "the default");
/// let mut g = Graph::default();
/// g.inputs.push(ValueInfo::tensor("x", ElemType::Float, &[1, 4]));
/// g.initializers.push(Tensor::from_f32("t", &[1, 3], &[1.0, 5.0, 9.0]));
/// let kernel: &dyn DynKernel = &Thresholding { max_steps: 255 };
/// assert_eq!(kernel.infer(&node, &g).unwrap()[0].shape, [1, 4]);
/// assert_eq!(kernel.cycles(&node, &g).unwrap(), Some(2));
/// assert!(kernel.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(op_types = ["Thresholding"], domain = "acme.fpgadataflow", tags = ["activation", "quantization"], version = "0.4.0", author = "ACME FPGA team", config)]
#[derive(Debug, Config)]
pub struct Thresholding {
    /// The most thresholds per channel the unit is built for; a node with more is refused
    /// (the comparators grow with the count).
    #[config(default = 255)]
    pub max_steps: usize,
}

/// The attributes of a thresholding node (FINN's names).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = pe_divides_channels)]
pub struct ThresholdingAttrs {
    /// Channels of the input (its last axis).
    #[attr(name = "NumChannels", check = positive)]
    pub channels: usize,
    /// Thresholds per channel.
    #[attr(name = "numSteps", check = positive)]
    pub steps: usize,
    /// Channels processed per cycle; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: usize,
    /// Datatype of the input.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the output.
    #[attr(name = "outputDataType")]
    pub output: QuantType,
    /// Scale applied to the threshold count.
    #[attr(name = "out_scale", default = 1.0)]
    pub scale: f32,
    /// Bias added after scaling.
    #[attr(name = "out_bias", default = 0.0)]
    pub bias: f32,
}

fn positive(n: &usize) -> Result<(), String> {
    if *n == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(())
    }
}

fn pe_divides_channels(a: &ThresholdingAttrs, c: &mut AttrCheck) {
    c.divides("PE", a.pe as u64, "NumChannels", a.channels as u64);
}

impl Thresholding {
    /// The threshold rows of `node` (one row when all channels share them), read from its
    /// constant second input and checked: shape, ascending order.
    pub fn thresholds(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<Vec<f64>>, PluginError> {
        let a = &node.attrs;
        let tensor = node.constant_input(1)?;
        let values = tensor.to_f64()?;
        let rows = values.len() / a.steps;
        if values.len() != rows * a.steps || (rows != 1 && rows != a.channels) {
            return Err(node.error(format!(
                "thresholds '{}' have shape {:?}; expected [{} or 1, {}]",
                node.node().inputs[1],
                tensor.dims(),
                a.channels,
                a.steps
            )));
        }
        let rows: Vec<Vec<f64>> = values.chunks(a.steps).map(<[f64]>::to_vec).collect();
        if rows.iter().any(|row| row.windows(2).any(|w| w[0] > w[1])) {
            return Err(node.error(format!(
                "thresholds '{}' are not ascending",
                node.node().inputs[1]
            )));
        }
        Ok(rows)
    }
}

impl Kernel for Thresholding {
    type Attrs = ThresholdingAttrs;

    fn check(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Result<(), PluginError> {
        self.thresholds(node)?;
        if node.attrs.steps > self.max_steps {
            return Err(node.error(format!(
                "{} thresholds per channel; this build's Thresholding unit takes at most {} \
                 (kernel configuration `max_steps`)",
                node.attrs.steps, self.max_steps
            )));
        }
        Ok(())
    }

    fn infer(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let shape = node.input_shape(0)?;
        if shape.last() != Some(&(node.attrs.channels as i64)) {
            return Err(node.error(format!(
                "input shape {shape:?} does not end in NumChannels ({})",
                node.attrs.channels
            )));
        }
        Ok(vec![TensorInfo {
            shape,
            datatype: node.attrs.output,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let shape = self.infer(node)?.remove(0).shape;
        let mut folded = shape[..shape.len() - 1].to_vec();
        folded.extend([(a.channels / a.pe) as i64, a.pe as i64]);
        Ok([(Direction::In, a.input), (Direction::Out, a.output)]
            .into_iter()
            .map(|(direction, datatype)| Stream {
                direction,
                index: 0,
                normal_shape: shape.clone(),
                folded_shape: folded.clone(),
                datatype,
            })
            .collect())
    }

    fn folding(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels as u64;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// One cycle per folded transfer: elements / PE.
    fn cycles(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Option<u64> {
        let elements: i64 = node.input_shape(0).ok()?.iter().product();
        Some(elements as u64 / node.attrs.pe as u64)
    }

    /// A first-order model: a comparator of the input width per threshold and lane (one
    /// LUT per two bits), and the thresholds in LUT RAM up to 4 kbit, in BRAM18s beyond.
    fn resources(&self, node: &KernelNode<'_, ThresholdingAttrs>, _: &Target) -> Option<Resources> {
        let a = &node.attrs;
        let width = u64::from(a.input.bitwidth());
        let rows = self.thresholds(node).ok()?.len() as u64;
        let bits = rows * a.steps as u64 * width;
        let lut = a.pe as u64 * a.steps as u64 * width.div_ceil(2);
        let (lut, bram18) = if bits <= 4096 {
            (lut + bits.div_ceil(64), 0)
        } else {
            (lut, bits.div_ceil(18 * 1024))
        };
        Some(Resources {
            lut,
            bram18,
            ..Resources::default()
        })
    }

    /// `scale * count(x >= t) + bias` per element, thresholds of the element's channel,
    /// in f32 as the hardware's output type holds it.
    fn execute(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let rows = self.thresholds(node)?;
        let x = inputs[0].to_f64()?;
        let out: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let row = &rows[if rows.len() == 1 { 0 } else { i % a.channels }];
                let count = row.iter().filter(|&&t| v >= t).count() as f32;
                a.scale * count + a.bias
            })
            .collect();
        Ok(vec![Tensor::from_f32(
            &node.node().outputs[0],
            inputs[0].dims(),
            &out,
        )])
    }
}
