//! [`Mvau`]: FINN's matrix-vector-activation unit.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

/// The domain of FINN's hardware layers before specialisation.
pub const FINN_DOMAIN: &str = "finn.custom_op.fpgadataflow";

/// A matrix-vector-activation unit, FINN's `MVAU`: each input vector of `MW` elements is
/// multiplied by a constant `MW x MH` weight matrix, and each of the `MH` sums is turned
/// into the output by thresholds (a quantized activation) or passed on as it is
/// (`noActivation`). `SIMD` input elements and `PE` outputs are processed per cycle.
///
/// Inputs: the activations (`numInputVectors` + `[MW]`), the weights `[MW, MH]`, and,
/// with an activation, the thresholds `[MH or 1, steps]`, ascending. In
/// `binaryXnorMode` inputs and weights are bipolar values encoded as bits (0 for -1,
/// given as 0/1 or as -1/+1) and each sum is the count of positions where they agree
/// (XNOR, popcount), as FINN's binarised layers compute.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{MemMode, Mvau, MvauAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // A 64x32 layer without activation, folded 8 x 4: 64/8 * 32/4 = 64 cycles a vector.
/// let node = finn("MVAU", ["x", "w"], ["y"]).int("MW", 64).int("MH", 32).int("SIMD", 8)
///     .int("PE", 4).text("inputDataType", "UINT4").text("weightDataType", "INT4")
///     .text("outputDataType", "INT32").int("noActivation", 1);
/// let attrs = MvauAttrs::read(&node).unwrap();
/// assert_eq!((attrs.mem_mode, attrs.weight_depth()), (MemMode::Decoupled, 64));
/// let (k, g): (&dyn DynKernel, _) = (&Mvau, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 32]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(64));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().unwrap().lut > 0);
/// ```
#[kernel(
    name = "MVAU",
    op_types = ["MVAU", "MatrixVectorActivation"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "matmul", "activation"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct Mvau;

/// Where an MVAU keeps its weights. Models written by FINN before 0.10 spell the first
/// two `const` and `decoupled`; they read as these and are written back in today's names.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMode {
    /// In the unit, as a constant.
    #[attr(name = "internal_embedded", alias = "const")]
    Embedded,
    /// In a memory beside the unit, streamed in.
    #[attr(name = "internal_decoupled", alias = "decoupled")]
    Decoupled,
    /// Streamed from outside the accelerator.
    #[attr(name = "external")]
    External,
}

/// The memory the weights are built from.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamStyle {
    /// The tool's choice.
    #[attr(name = "auto")]
    Auto,
    /// Block RAM.
    #[attr(name = "block")]
    Block,
    /// LUT RAM.
    #[attr(name = "distributed")]
    Distributed,
    /// UltraRAM.
    #[attr(name = "ultra")]
    Ultra,
}

/// The node attributes of an MVAU (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = folding_rules)]
pub struct MvauAttrs {
    /// Input vector length (rows of the weight matrix).
    #[attr(name = "MW")]
    pub mw: u64,
    /// Output vector length (columns of the weight matrix).
    #[attr(name = "MH")]
    pub mh: u64,
    /// Input elements consumed per cycle; divides `MW`.
    #[attr(name = "SIMD", default = 1)]
    pub simd: u64,
    /// Outputs produced in parallel; divides `MH`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Datatype of the activations.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the weights.
    #[attr(name = "weightDataType")]
    pub weights: QuantType,
    /// Datatype of the outputs.
    #[attr(name = "outputDataType")]
    pub output: QuantType,
    /// Datatype of the accumulator.
    #[attr(name = "accDataType", default = QuantType::Int(32))]
    pub acc: QuantType,
    /// Added to the threshold count of a non-bipolar output.
    #[attr(name = "ActVal", default = 0)]
    pub act_val: i64,
    /// 1: XNOR-popcount of binary-encoded bipolar inputs and weights.
    #[attr(name = "binaryXnorMode", default = false)]
    pub binary_xnor: bool,
    /// 1: no thresholds; the sums are the outputs.
    #[attr(name = "noActivation", default = false)]
    pub no_activation: bool,
    /// The leading dimensions of the input (`[1]`, or `[1, H, W]` after a sliding window).
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
    /// Where the weights live.
    #[attr(name = "mem_mode", default = MemMode::Decoupled)]
    pub mem_mode: MemMode,
    /// The memory the weights are built from.
    #[attr(name = "ram_style", default = RamStyle::Auto)]
    pub ram_style: RamStyle,
}

fn folding_rules(a: &MvauAttrs, c: &mut AttrCheck) {
    c.at_least("MW", a.mw, 1);
    c.at_least("MH", a.mh, 1);
    c.divides("SIMD", a.simd, "MW", a.mw);
    c.divides("PE", a.pe, "MH", a.mh);
    if a.binary_xnor && (a.input.bitwidth() != 1 || a.weights.bitwidth() != 1) {
        c.fail(
            "binaryXnorMode",
            format!(
                "XNOR-popcount needs 1-bit inputs and weights, not {} and {}",
                a.input, a.weights
            ),
        );
    }
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl MvauAttrs {
    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    /// Depth of the weight memory: `MW * MH / (PE * SIMD)` words.
    pub fn weight_depth(&self) -> u64 {
        self.mw * self.mh / (self.pe * self.simd)
    }

    /// Depth of the threshold memory: `MH / PE` (0 without an activation).
    pub fn threshold_depth(&self) -> u64 {
        if self.no_activation {
            0
        } else {
            self.mh / self.pe
        }
    }

    fn shape(&self, last: &[u64]) -> Vec<i64> {
        self.vectors.iter().chain(last).map(|&d| d as i64).collect()
    }
}

impl Mvau {
    /// The weights `[MW][MH]` of `node`, row-major, checked against `MW` and `MH`.
    pub fn weights(&self, node: &KernelNode<'_, MvauAttrs>) -> Result<Vec<f64>, PluginError> {
        let a = &node.attrs;
        let w = node.constant_input(1)?;
        if w.dims() != [a.mw as i64, a.mh as i64] {
            return Err(node.error(format!(
                "weights '{}' have shape {:?}; MW and MH say [{}, {}]",
                node.node().inputs[1],
                w.dims(),
                a.mw,
                a.mh
            )));
        }
        let values = w.to_f64()?;
        let (lo, hi) = a.weights.range();
        let fits = |v: f64| {
            if a.weights == QuantType::Bipolar {
                v == 1.0 || v == -1.0
            } else {
                v.fract() == 0.0 && (lo..=hi).contains(&v)
            }
        };
        if let Some(i) = values.iter().position(|v| !fits(*v)) {
            let mh = a.mh.max(1) as usize;
            return Err(node.error(format!(
                "weight [{}, {}] is {}, not a value of weightDataType {}",
                i / mh,
                i % mh,
                values[i],
                a.weights
            )));
        }
        Ok(values)
    }

    /// The smallest and largest sum any column can accumulate, over every input value:
    /// `0..=MW` in XNOR mode (a popcount), else the sums of each product's extremes.
    pub fn sum_range(a: &MvauAttrs, weights: &[f64]) -> (f64, f64) {
        if a.binary_xnor {
            return (0.0, a.mw as f64);
        }
        let (xl, xh) = a.input.range();
        let mh = a.mh as usize;
        (0..mh).fold((0.0f64, 0.0f64), |(lo, hi), col| {
            let (mut l, mut h) = (0.0, 0.0);
            for row in 0..a.mw as usize {
                let w = weights[row * mh + col];
                let (p, q) = (xl * w, xh * w);
                l += p.min(q);
                h += p.max(q);
            }
            (lo.min(l), hi.max(h))
        })
    }

    /// The threshold rows of `node` (`MH` rows, or one shared), ascending; `None` without
    /// an activation.
    pub fn thresholds(
        &self,
        node: &KernelNode<'_, MvauAttrs>,
    ) -> Result<Option<Vec<Vec<f64>>>, PluginError> {
        let a = &node.attrs;
        if a.no_activation {
            return Ok(None);
        }
        let t = node.constant_input(2)?;
        let rows_ok = matches!(t.dims(), [r, _] if *r == 1 || *r == a.mh as i64);
        let [_, steps] = t.dims() else {
            return Err(node.error(format!(
                "thresholds have shape {:?}; expected 2-D",
                t.dims()
            )));
        };
        if !rows_ok || *steps < 1 {
            return Err(node.error(format!(
                "thresholds have shape {:?}; expected [{} or 1, steps]",
                t.dims(),
                a.mh
            )));
        }
        let rows: Vec<Vec<f64>> = t
            .to_f64()?
            .chunks(*steps as usize)
            .map(<[f64]>::to_vec)
            .collect();
        if rows.iter().flatten().any(|t| t.is_nan()) {
            return Err(node.error("a threshold is NaN"));
        }
        if rows.iter().any(|r| r.windows(2).any(|w| w[0] > w[1])) {
            return Err(node.error("thresholds are not ascending"));
        }
        Ok(Some(rows))
    }
}

impl Kernel for Mvau {
    type Attrs = MvauAttrs;

    /// The weights and thresholds read and fit their types, and `accDataType` holds every
    /// sum (a backend accumulates in it, where `execute` is exact).
    fn check(&self, node: &KernelNode<'_, MvauAttrs>) -> Result<(), PluginError> {
        let a = &node.attrs;
        let w = self.weights(node)?;
        self.thresholds(node)?;
        let (lo, hi) = Self::sum_range(a, &w);
        let (alo, ahi) = a.acc.range();
        if lo < alo || hi > ahi {
            return Err(node.error(format!(
                "accDataType {} cannot hold every sum, {lo}..={hi}; widen it (InferMvau \
                 chooses the narrowest that does)",
                a.acc
            )));
        }
        Ok(())
    }

    /// The input's leading dimensions (the batch, a window's positions) and `MH`; from
    /// `numInputVectors` where the input's shape is not known.
    fn infer(&self, node: &KernelNode<'_, MvauAttrs>) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match node.input_shape(0) {
            Ok(mut shape) => {
                if shape.last() != Some(&(a.mw as i64)) {
                    return Err(node.error(format!(
                        "input shape {shape:?} does not end in MW ({})",
                        a.mw
                    )));
                }
                if let Some(last) = shape.last_mut() {
                    *last = a.mh as i64;
                }
                shape
            }
            Err(_) => a.shape(&[a.mh]),
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.output,
        }])
    }

    fn streams(&self, node: &KernelNode<'_, MvauAttrs>) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let mut streams = vec![
            Stream {
                direction: Direction::In,
                index: 0,
                normal_shape: a.shape(&[a.mw]),
                folded_shape: a.shape(&[a.mw / a.simd, a.simd]),
                datatype: a.input,
            },
            Stream {
                direction: Direction::Out,
                index: 0,
                normal_shape: a.shape(&[a.mh]),
                folded_shape: a.shape(&[a.mh / a.pe, a.pe]),
                datatype: a.output,
            },
        ];
        if a.mem_mode != MemMode::Embedded {
            streams.push(Stream {
                direction: Direction::Weight,
                index: 1,
                normal_shape: vec![a.mw as i64, a.mh as i64],
                folded_shape: vec![a.weight_depth() as i64, (a.pe * a.simd) as i64],
                datatype: a.weights,
            });
        }
        Ok(streams)
    }

    fn folding(&self, node: &KernelNode<'_, MvauAttrs>) -> Vec<FoldingKnob> {
        let divisors = |n: u64| (1..=n).filter(|d| n.is_multiple_of(*d)).collect();
        vec![
            FoldingKnob {
                attr: "SIMD",
                legal: divisors(node.attrs.mw),
            },
            FoldingKnob {
                attr: "PE",
                legal: divisors(node.attrs.mh),
            },
        ]
    }

    /// FINN's: `(MH / PE) * (MW / SIMD) * frames`.
    fn cycles(&self, node: &KernelNode<'_, MvauAttrs>) -> Option<u64> {
        let a = &node.attrs;
        Some((a.mh / a.pe) * (a.mw / a.simd) * a.frames())
    }

    /// FINN's estimates for LUT multipliers (the HLS backend's `resType` may choose DSPs):
    /// LUTs of the multipliers, the adder tree, the accumulator, the thresholds and their
    /// comparators per PE, plus a fixed part and the weights when they sit in LUTs; BRAM18
    /// and URAM from the weight memory's width and depth and its style.
    fn resources(&self, node: &KernelNode<'_, MvauAttrs>, _: &Target) -> Option<Resources> {
        let a = &node.attrs;
        let (p, q) = (a.pe, a.simd);
        let (w, x) = (
            u64::from(a.weights.bitwidth()),
            u64::from(a.input.bitwidth()),
        );
        let depth = a.weight_depth();
        let mult = q * (2 * (w + x).div_ceil(6) - 1) * (w + x);
        let adders = (w + x) * (2 * q - 1);
        let acc = u64::from(a.acc.bitwidth());
        let (thr, comp) = if a.no_activation {
            (0, 0)
        } else {
            let levels = (1u64 << a.output.bitwidth().min(32)) - 1;
            (
                levels * acc * a.threshold_depth().div_ceil(64),
                levels * acc,
            )
        };
        let weights_in_luts = (a.mem_mode == MemMode::Decoupled
            && a.ram_style == RamStyle::Distributed)
            || (a.mem_mode == MemMode::Embedded && depth <= 128);
        let weight_luts = if weights_in_luts {
            p * q * w * depth.div_ceil(64)
        } else {
            0
        };
        let lut =
            300 + (1.1 * (p * (mult + adders + acc + thr + comp)) as f64) as u64 + weight_luts;
        let width = q * w * p;
        let bram_free = (a.mem_mode == MemMode::Decoupled && a.ram_style != RamStyle::Block)
            || (a.mem_mode == MemMode::Embedded && depth <= 128)
            || a.mem_mode == MemMode::External;
        let bram18 = if bram_free {
            0
        } else if width == 1 {
            depth.div_ceil(16384)
        } else if width == 2 {
            depth.div_ceil(8192)
        } else if width <= 4 {
            depth.div_ceil(4096) * width.div_ceil(4)
        } else if width <= 9 {
            depth.div_ceil(2048) * width.div_ceil(9)
        } else if width <= 18 || depth > 512 {
            depth.div_ceil(1024) * width.div_ceil(18)
        } else {
            depth.div_ceil(512) * width.div_ceil(36)
        };
        let uram = if a.mem_mode == MemMode::Decoupled && a.ram_style == RamStyle::Ultra {
            width.div_ceil(72) * depth.div_ceil(4096)
        } else {
            0
        };
        Some(Resources {
            lut,
            bram18,
            uram,
            dsp: 0,
        })
    }

    fn execute(
        &self,
        node: &KernelNode<'_, MvauAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let (mw, mh) = (a.mw as usize, a.mh as usize);
        let x = inputs[0].to_f64()?;
        if x.len() % mw != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not a whole number of {mw}-vectors",
                x.len()
            )));
        }
        let w = self.weights(node)?;
        let thresholds = self.thresholds(node)?;
        let bit = |v: f64| v > 0.0;
        let mut out = Vec::with_capacity(x.len() / mw * mh);
        for vector in x.chunks(mw) {
            for col in 0..mh {
                let acc: f64 = if a.binary_xnor {
                    (0..mw)
                        .filter(|&r| bit(vector[r]) == bit(w[r * mh + col]))
                        .count() as f64
                } else {
                    (0..mw).map(|r| vector[r] * w[r * mh + col]).sum()
                };
                out.push(match &thresholds {
                    None => acc,
                    Some(rows) => {
                        let row = &rows[if rows.len() == 1 { 0 } else { col }];
                        let count = row.iter().filter(|&&t| acc >= t).count() as f64;
                        if a.output == QuantType::Bipolar {
                            2.0 * count - 1.0
                        } else {
                            count + a.act_val as f64
                        }
                    }
                });
            }
        }
        let mut dims = inputs[0].dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = mh as i64;
        }
        let out: Vec<f32> = out.iter().map(|&v| v as f32).collect();
        Ok(vec![Tensor::from_f32(&node.node().outputs[0], &dims, &out)])
    }
}
