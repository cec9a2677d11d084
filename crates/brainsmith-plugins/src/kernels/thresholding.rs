//! [`Thresholding`]: FINN's standalone multi-threshold activation.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use super::MemMode;

/// A quantized activation on its own, FINN's `Thresholding`: each input value `x` of
/// channel `c` (the last axis) becomes `ActVal + #{t in thresholds[c] : x >= t}`, the
/// count of its channel's thresholds it reaches; a bipolar output is `2 * count - 1`,
/// travelling as the bit `count`. `PE` channels are processed per cycle.
///
/// Inputs: the activations (`numInputVectors` + `[NumChannels]`) and the thresholds
/// `[NumChannels or 1, numSteps]` (one row shared by every channel), constant.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{Thresholding, ThresholdingAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // 3 thresholds a channel (a 2-bit output) on 8 channels of 4-bit inputs, 4 a cycle.
/// let node = finn("Thresholding", ["x", "t"], ["y"]).int("NumChannels", 8).int("PE", 4)
///     .int("numSteps", 3).text("inputDataType", "UINT4").text("weightDataType", "UINT4")
///     .text("outputDataType", "UINT2");
/// let attrs = ThresholdingAttrs::read(&node).unwrap();
/// assert_eq!((attrs.act_val, attrs.vectors.clone()), (0, vec![1]));
/// let (k, g): (&dyn DynKernel, _) = (&Thresholding, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 8]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(2));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "Thresholding",
    op_types = ["Thresholding", "Thresholding_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "activation"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct Thresholding;

/// The memory the thresholds are built from.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdRam {
    /// LUT RAM.
    #[attr(name = "distributed")]
    Distributed,
    /// Block RAM.
    #[attr(name = "block")]
    Block,
}

/// The node attributes of a thresholding layer (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = folding_rules)]
pub struct ThresholdingAttrs {
    /// Channels: the length of the input's last axis.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels processed per cycle; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Thresholds per channel.
    #[attr(name = "numSteps", default = 1)]
    pub steps: u64,
    /// Datatype of the activations.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype the thresholds are stored and compared in.
    #[attr(name = "weightDataType")]
    pub thresholds: QuantType,
    /// Datatype of the outputs.
    #[attr(name = "outputDataType")]
    pub output: QuantType,
    /// Added to the count (FINN's name for `MultiThreshold`'s `out_bias`).
    #[attr(name = "ActVal", default = 0)]
    pub act_val: i64,
    /// The leading dimensions of the input (`[1]`, `[1, H, W]`).
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
    /// Where the thresholds live: in the unit, or in a memory streaming them in.
    #[attr(name = "mem_mode", default = MemMode::Decoupled)]
    pub mem_mode: MemMode,
    /// The memory the thresholds are built from.
    #[attr(name = "ram_style", default = ThresholdRam::Distributed)]
    pub ram_style: ThresholdRam,
    /// 1: the thresholds can be rewritten at run time over AXI-Lite.
    #[attr(name = "runtime_writeable_weights", default = false)]
    pub runtime_writeable: bool,
}

fn folding_rules(a: &ThresholdingAttrs, c: &mut AttrCheck) {
    c.at_least("NumChannels", a.channels, 1);
    c.at_least("numSteps", a.steps, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    if a.mem_mode == MemMode::External {
        c.fail(
            "mem_mode",
            "thresholds live in the unit ('internal_embedded') or beside it \
             ('internal_decoupled'), never outside the accelerator",
        );
    }
    if !a.input.is_integer() {
        c.fail(
            "inputDataType",
            format!(
                "{} is not an integer type: thresholds compare integers",
                a.input
            ),
        );
    }
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl ThresholdingAttrs {
    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    /// Depth of the threshold memory of one lane: `NumChannels / PE`.
    pub fn depth(&self) -> u64 {
        self.channels / self.pe
    }

    fn shape(&self, last: &[u64]) -> Vec<i64> {
        self.vectors.iter().chain(last).map(|&d| d as i64).collect()
    }
}

impl Thresholding {
    /// The threshold rows of `node` (`NumChannels` rows, or one shared), each of
    /// `numSteps` values, checked against the attributes.
    pub fn thresholds(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<Vec<f64>>, PluginError> {
        let a = &node.attrs;
        let t = node.constant_input(1)?;
        let ok = matches!(t.dims(), [r, s] if (*r == 1 || *r == a.channels as i64) && *s == a.steps as i64);
        if !ok {
            return Err(node.error(format!(
                "thresholds '{}' have shape {:?}; NumChannels and numSteps say [{} or 1, {}]",
                node.node().inputs[1],
                t.dims(),
                a.channels,
                a.steps
            )));
        }
        let values = t.to_f64()?;
        let (lo, hi) = a.thresholds.range();
        if let Some(v) = values
            .iter()
            .find(|v| v.fract() != 0.0 || **v < lo || **v > hi)
        {
            return Err(node.error(format!(
                "threshold {v} is not a value of weightDataType {}",
                a.thresholds
            )));
        }
        Ok(values
            .chunks(a.steps as usize)
            .map(<[f64]>::to_vec)
            .collect())
    }

    /// The thresholds of channel `c`.
    pub fn row(rows: &[Vec<f64>], c: usize) -> &[f64] {
        &rows[if rows.len() == 1 { 0 } else { c }]
    }

    /// The output of one value against its channel's thresholds, as `execute` gives it.
    pub fn activate(a: &ThresholdingAttrs, x: f64, row: &[f64]) -> f64 {
        let count = row.iter().filter(|&&t| x >= t).count() as f64 + a.act_val as f64;
        if a.output == QuantType::Bipolar {
            2.0 * count - 1.0
        } else {
            count
        }
    }
}

impl Kernel for Thresholding {
    type Attrs = ThresholdingAttrs;

    fn check(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Result<(), PluginError> {
        self.thresholds(node)?;
        let a = &node.attrs;
        let (lo, hi) = a.output.range();
        let (min, max) = (a.act_val as f64, (a.act_val + a.steps as i64) as f64);
        let (min, max) = if a.output == QuantType::Bipolar {
            (2.0 * min - 1.0, 2.0 * max - 1.0)
        } else {
            (min, max)
        };
        if min < lo || max > hi {
            return Err(node.error(format!(
                "outputs span {min}..={max} (ActVal {} plus up to {} thresholds), beyond \
                 outputDataType {}",
                a.act_val, a.steps, a.output
            )));
        }
        Ok(())
    }

    /// The input's shape (the channels last); from `numInputVectors` where the input's
    /// shape is not known.
    fn infer(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match node.input_shape(0) {
            Ok(shape) if shape.last() != Some(&(a.channels as i64)) => {
                return Err(node.error(format!(
                    "input shape {shape:?} does not end in NumChannels ({})",
                    a.channels
                )));
            }
            Ok(shape) => shape,
            Err(_) => a.shape(&[a.channels]),
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.output,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let mut streams = vec![
            Stream {
                direction: Direction::In,
                index: 0,
                normal_shape: a.shape(&[a.channels]),
                folded_shape: a.shape(&[a.depth(), a.pe]),
                datatype: a.input,
            },
            Stream {
                direction: Direction::Out,
                index: 0,
                normal_shape: a.shape(&[a.channels]),
                folded_shape: a.shape(&[a.depth(), a.pe]),
                datatype: a.output,
            },
        ];
        if a.mem_mode == MemMode::Decoupled {
            streams.push(Stream {
                direction: Direction::Weight,
                index: 1,
                normal_shape: vec![a.channels as i64, a.steps as i64],
                folded_shape: vec![a.depth() as i64, (a.pe * a.steps) as i64],
                datatype: a.thresholds,
            });
        }
        Ok(streams)
    }

    fn folding(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `frames * NumChannels / PE`, one output word per cycle.
    fn cycles(&self, node: &KernelNode<'_, ThresholdingAttrs>) -> Option<u64> {
        Some(node.attrs.frames() * node.attrs.depth())
    }

    /// FINN's estimates for its HLS thresholding: one comparator of the input's width per
    /// lane, plus the thresholds in LUT RAM (`distributed`) or in BRAM18 (`block`) when a
    /// lane holds more than one channel's.
    fn resources(&self, node: &KernelNode<'_, ThresholdingAttrs>, _: &Target) -> Option<Resources> {
        let a = &node.attrs;
        let (bits, p, depth) = (u64::from(a.input.bitwidth()), a.pe, a.depth());
        let stored = depth > 1;
        let bram18 = if a.ram_style == ThresholdRam::Block && stored {
            (bits * p).div_ceil(16) * depth.div_ceil(1024)
        } else {
            0
        };
        let lutram = if a.ram_style == ThresholdRam::Distributed && stored {
            p * bits * depth.div_ceil(64)
        } else {
            0
        };
        Some(Resources {
            lut: bits * p + lutram,
            bram18,
            uram: 0,
            dsp: 0,
        })
    }

    fn execute(
        &self,
        node: &KernelNode<'_, ThresholdingAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let c = a.channels as usize;
        let x = inputs[0].to_f64()?;
        if x.len() % c != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not a whole number of {c}-channel vectors",
                x.len()
            )));
        }
        let rows = self.thresholds(node)?;
        let out: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| Self::activate(a, v, Self::row(&rows, i % c)) as f32)
            .collect();
        Ok(vec![Tensor::from_f32(
            &node.node().outputs[0],
            inputs[0].dims(),
            &out,
        )])
    }
}
