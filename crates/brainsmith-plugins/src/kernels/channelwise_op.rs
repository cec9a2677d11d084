//! [`ChannelwiseOp`]: FINN's per-channel add, multiply or compare against a parameter.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use super::ThresholdRam;

/// Each value combined with its channel's parameter, FINN's `ChannelwiseOp` (what a
/// per-channel integer `Add` or `Mul` becomes): `Func` is `add` (`x + p[c]`), `mul`
/// (`x * p[c]`), `cmp_le` (`p[c] <= x`, 1 or 0) or `cmp_ge` (`p[c] >= x`). `PE`
/// channels per cycle; the parameters sit in the unit.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{ChannelwiseOp, ChannelwiseOpAttrs, Func};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // x * p[c] on 4 channels of 5-bit values, with 3-bit parameters.
/// let node = finn("ChannelwiseOp", ["x", "p"], ["y"]).text("Func", "mul").int("NumChannels", 4)
///     .text("inputDataType", "UINT5").text("paramDataType", "INT3")
///     .text("outputDataType", "INT8").ints("numInputVectors", &[1, 3, 3]);
/// let attrs = ChannelwiseOpAttrs::read(&node).unwrap();
/// assert_eq!((attrs.func, attrs.pe), (Func::Mul, 1));
/// let (k, g): (&dyn DynKernel, _) = (&ChannelwiseOp, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 3, 3, 4]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(36));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "ChannelwiseOp",
    op_types = ["ChannelwiseOp", "ChannelwiseOp_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "elementwise", "affine"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct ChannelwiseOp;

/// What a `ChannelwiseOp` computes.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `p <= x`: 1 or 0.
    #[attr(name = "cmp_le")]
    CmpLe,
    /// `p >= x`: 1 or 0.
    #[attr(name = "cmp_ge")]
    CmpGe,
    /// `x + p`.
    #[attr(name = "add")]
    Add,
    /// `x * p`.
    #[attr(name = "mul")]
    Mul,
}

/// The node attributes of a channelwise operation (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = channelwise_rules)]
pub struct ChannelwiseOpAttrs {
    /// What is computed.
    #[attr(name = "Func", default = Func::CmpLe)]
    pub func: Func,
    /// Channels: the length of the input's last axis.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels per cycle; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// The memory the parameters are built from.
    #[attr(name = "ram_style", default = ThresholdRam::Distributed)]
    pub ram_style: ThresholdRam,
    /// Datatype of the input.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the parameters.
    #[attr(name = "paramDataType")]
    pub params: QuantType,
    /// Datatype of the output; holds every result.
    #[attr(name = "outputDataType")]
    pub output: QuantType,
    /// The leading dimensions of the input.
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
}

fn channelwise_rules(a: &ChannelwiseOpAttrs, c: &mut AttrCheck) {
    c.at_least("NumChannels", a.channels, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    for (name, t) in [("inputDataType", a.input), ("paramDataType", a.params)] {
        if !t.is_integer() {
            c.fail(name, format!("{t} is not an integer type"));
        }
    }
    if matches!(a.func, Func::CmpLe | Func::CmpGe) && a.output.range().1 < 1.0 {
        c.fail(
            "outputDataType",
            format!("{} cannot hold a comparison's 0 and 1", a.output),
        );
    }
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl ChannelwiseOpAttrs {
    /// The smallest and largest result over every input value and the parameters
    /// `pl..=ph`.
    pub fn result_range(&self, (pl, ph): (f64, f64)) -> (f64, f64) {
        let (xl, xh) = self.input.range();
        match self.func {
            Func::CmpLe | Func::CmpGe => (0.0, 1.0),
            Func::Add => (xl + pl, xh + ph),
            Func::Mul => {
                let p = [xl * pl, xl * ph, xh * pl, xh * ph];
                (
                    p.iter().copied().fold(f64::INFINITY, f64::min),
                    p.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            }
        }
    }

    /// The result for input `x` and parameter `p`.
    pub fn apply(&self, x: f64, p: f64) -> f64 {
        match self.func {
            Func::CmpLe => f64::from(u8::from(p <= x)),
            Func::CmpGe => f64::from(u8::from(p >= x)),
            Func::Add => x + p,
            Func::Mul => x * p,
        }
    }

    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    /// Depth of one lane's parameter memory: `NumChannels / PE`.
    pub fn depth(&self) -> u64 {
        self.channels / self.pe
    }

    fn stream(&self, direction: Direction, datatype: QuantType) -> Stream {
        let shape = |last: &[u64]| -> Vec<i64> {
            self.vectors.iter().chain(last).map(|&d| d as i64).collect()
        };
        Stream {
            direction,
            index: 0,
            normal_shape: shape(&[self.channels]),
            folded_shape: shape(&[self.channels / self.pe, self.pe]),
            datatype,
        }
    }
}

impl ChannelwiseOp {
    /// The `NumChannels` parameters of `node`, checked against `paramDataType`.
    pub fn parameters(
        &self,
        node: &KernelNode<'_, ChannelwiseOpAttrs>,
    ) -> Result<Vec<f64>, PluginError> {
        let a = &node.attrs;
        let t = node.constant_input(1)?;
        let values = t.to_f64()?;
        if values.len() as u64 != a.channels {
            return Err(node.error(format!(
                "parameters '{}' hold {} values for NumChannels {}",
                node.node().inputs[1],
                values.len(),
                a.channels
            )));
        }
        let (lo, hi) = a.params.range();
        if let Some(v) = values
            .iter()
            .find(|v| v.fract() != 0.0 || **v < lo || **v > hi)
        {
            return Err(node.error(format!(
                "parameter {v} is not a value of paramDataType {}",
                a.params
            )));
        }
        Ok(values)
    }
}

impl Kernel for ChannelwiseOp {
    type Attrs = ChannelwiseOpAttrs;

    /// The parameters read, and every result of them fits `outputDataType`.
    fn check(&self, node: &KernelNode<'_, ChannelwiseOpAttrs>) -> Result<(), PluginError> {
        let a = &node.attrs;
        let p = self.parameters(node)?;
        let span = p
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let (lo, hi) = a.result_range(span);
        let (olo, ohi) = a.output.range();
        if lo < olo || hi > ohi {
            return Err(node.error(format!(
                "outputDataType {} cannot hold every result, {lo}..={hi}; choose a wider type",
                a.output
            )));
        }
        Ok(())
    }

    /// The input's shape; from `numInputVectors` where it is not known.
    fn infer(
        &self,
        node: &KernelNode<'_, ChannelwiseOpAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match node.input_shape(0) {
            Ok(x) if x.last() != Some(&(a.channels as i64)) => {
                return Err(node.error(format!(
                    "input shape {x:?} does not end in NumChannels ({})",
                    a.channels
                )));
            }
            Ok(x) => x,
            Err(_) => a.stream(Direction::In, a.input).normal_shape,
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.output,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, ChannelwiseOpAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        Ok(vec![
            a.stream(Direction::In, a.input),
            a.stream(Direction::Out, a.output),
        ])
    }

    fn folding(&self, node: &KernelNode<'_, ChannelwiseOpAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `frames * NumChannels / PE`.
    fn cycles(&self, node: &KernelNode<'_, ChannelwiseOpAttrs>) -> Option<u64> {
        let a = &node.attrs;
        Some(a.frames() * a.depth())
    }

    /// FINN's (those of its HLS thresholding): `A * PE` LUTs of logic for `A`-bit inputs,
    /// plus the parameters in LUT RAM (`distributed`) or `ceil(A * PE / 16) *
    /// ceil(depth / 1024)` BRAM18 (`block`), when there is more than one per lane.
    fn resources(
        &self,
        node: &KernelNode<'_, ChannelwiseOpAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        let a = &node.attrs;
        let bits = u64::from(a.input.bitwidth());
        let depth = a.depth();
        let (mut lut, mut bram18) = (bits * a.pe, 0);
        if depth > 1 {
            match a.ram_style {
                ThresholdRam::Distributed => lut += a.pe * bits * depth.div_ceil(64),
                ThresholdRam::Block => bram18 = (bits * a.pe).div_ceil(16) * depth.div_ceil(1024),
            }
        }
        Some(Resources {
            lut,
            bram18,
            ..Resources::default()
        })
    }

    fn execute(
        &self,
        node: &KernelNode<'_, ChannelwiseOpAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let p = self.parameters(node)?;
        let x = inputs[0].to_f64()?;
        let c = a.channels as usize;
        if x.len() % c != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not whole vectors of {c} channels",
                x.len()
            )));
        }
        let out: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| a.apply(v, p[i % c]) as f32)
            .collect();
        Ok(vec![Tensor::from_f32(
            &node.node().outputs[0],
            inputs[0].dims(),
            &out,
        )])
    }
}
