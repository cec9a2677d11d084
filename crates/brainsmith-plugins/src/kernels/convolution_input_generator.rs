//! [`ConvolutionInputGenerator`]: FINN's sliding window generator.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use super::RamStyle;
use crate::ops::window::Window;

/// A sliding window generator, FINN's `ConvolutionInputGenerator`: streams an NHWC
/// feature map `[1, H, W, C]` in and every output pixel's window out,
/// `[1, OH, OW, k_h * k_w * C]`, channels innermost and kernel positions row-major (the
/// order of QONNX's `Im2Col`, which it replaces in front of an MVAU). `SIMD` channels
/// travel per word.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{ConvolutionInputGenerator, ConvolutionInputGeneratorAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // 3x3 windows over a 4x4 image of 2 channels: 2x2 windows of 18 values.
/// let node = finn("ConvolutionInputGenerator", ["x"], ["y"]).ints("ConvKernelDim", &[3, 3])
///     .int("IFMChannels", 2).ints("IFMDim", &[4, 4]).ints("OFMDim", &[2, 2])
///     .text("inputDataType", "UINT4").text("outputDataType", "UINT4");
/// let attrs = ConvolutionInputGeneratorAttrs::read(&node).unwrap();
/// assert_eq!((attrs.simd, attrs.stride.clone()), (1, vec![1, 1]));
/// let (k, g): (&dyn DynKernel, _) = (&ConvolutionInputGenerator, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 2, 2, 18]);
/// assert!(k.cycles(&node, &g).unwrap().unwrap() >= 2 * 2 * 18);
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "ConvolutionInputGenerator",
    op_types = ["ConvolutionInputGenerator"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "convolution", "window"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct ConvolutionInputGenerator;

/// The node attributes of a sliding window generator (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = window_rules)]
pub struct ConvolutionInputGeneratorAttrs {
    /// `[k_h, k_w]`.
    #[attr(name = "ConvKernelDim")]
    pub kernel: Vec<u64>,
    /// Channels `C`.
    #[attr(name = "IFMChannels")]
    pub channels: u64,
    /// The input's `[H, W]`, padding included.
    #[attr(name = "IFMDim")]
    pub ifm: Vec<u64>,
    /// The output's `[OH, OW]`.
    #[attr(name = "OFMDim")]
    pub ofm: Vec<u64>,
    /// Channels per stream word; divides `IFMChannels`.
    #[attr(name = "SIMD", default = 1)]
    pub simd: u64,
    /// `[s_h, s_w]`.
    #[attr(name = "Stride", default = vec![1, 1])]
    pub stride: Vec<u64>,
    /// `[d_h, d_w]`.
    #[attr(name = "Dilation", default = vec![1, 1])]
    pub dilation: Vec<u64>,
    /// Datatype of the input.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the output: the input's.
    #[attr(name = "outputDataType")]
    pub output: QuantType,
    /// 1: a depthwise convolution follows (its hardware order groups channels first).
    #[attr(name = "depthwise", default = false)]
    pub depthwise: bool,
    /// The memory the line buffer is built from.
    #[attr(name = "ram_style", default = RamStyle::Distributed)]
    pub ram_style: RamStyle,
    /// 1: a whole window per cycle.
    #[attr(name = "parallel_window", default = false)]
    pub parallel_window: bool,
    /// 1: a one-dimensional window (`H` or `W` is 1).
    #[attr(name = "is1D", default = false)]
    pub is_1d: bool,
    /// 1: dimensions set at run time.
    #[attr(name = "dynamic_mode", default = false)]
    pub dynamic_mode: bool,
}

fn window_rules(a: &ConvolutionInputGeneratorAttrs, c: &mut AttrCheck) {
    for (name, list) in [
        ("ConvKernelDim", &a.kernel),
        ("IFMDim", &a.ifm),
        ("OFMDim", &a.ofm),
        ("Stride", &a.stride),
        ("Dilation", &a.dilation),
    ] {
        if list.len() != 2 || list.contains(&0) {
            c.fail(
                name,
                format!("{list:?} is not two positive values ([height, width])"),
            );
        }
    }
    c.at_least("IFMChannels", a.channels, 1);
    c.divides("SIMD", a.simd, "IFMChannels", a.channels);
    if a.input != a.output {
        c.fail(
            "outputDataType",
            format!(
                "a window copies its input: outputDataType {} differs from inputDataType {}",
                a.output, a.input
            ),
        );
    }
    if a.dynamic_mode {
        c.fail(
            "dynamic_mode",
            "dimensions set at run time are not supported; set it to 0",
        );
    }
    if let Some(window) = a.window()
        && let (Ok(out), [h, w]) = (window.out_dims(a.input_dims()), a.ifm.as_slice())
    {
        let expected = [out[0] as u64, out[1] as u64];
        if a.ofm != expected {
            c.fail(
                "OFMDim",
                format!(
                    "{:?} does not follow from IFMDim [{h}, {w}], the kernel, stride and \
                     dilation, which give {expected:?}",
                    a.ofm
                ),
            );
        }
    } else if let Some(window) = a.window()
        && let Err(e) = window.out_dims(a.input_dims())
    {
        c.fail("ConvKernelDim", e);
    }
}

impl ConvolutionInputGeneratorAttrs {
    /// The window, when every list has two values.
    pub(crate) fn window(&self) -> Option<Window> {
        let two = |v: &[u64]| match v {
            &[a, b] if a > 0 && b > 0 => Some([a as usize, b as usize]),
            _ => None,
        };
        Some(Window {
            kernel: two(&self.kernel)?,
            stride: two(&self.stride)?,
            dilation: two(&self.dilation)?,
            pads: [0; 4],
        })
    }

    fn input_dims(&self) -> [usize; 2] {
        match self.ifm.as_slice() {
            &[h, w] => [h as usize, w as usize],
            _ => [0, 0],
        }
    }

    /// `k_h * k_w`.
    pub fn window_size(&self) -> u64 {
        self.kernel.iter().product()
    }

    /// Stream words per channel group: `IFMChannels / SIMD`.
    pub fn folds(&self) -> u64 {
        self.channels / self.simd
    }

    /// The dimensions with the one-element axis first when the window is 1-D (FINN
    /// normalises a `[H, 1]` window to `[1, H]`): `(ifm, ofm, kernel, stride, dilation)`.
    fn normalized(&self) -> [[u64; 2]; 5] {
        let two = |v: &[u64]| [v[0], v[1]];
        let mut all = [
            two(&self.ifm),
            two(&self.ofm),
            two(&self.kernel),
            two(&self.stride),
            two(&self.dilation),
        ];
        if all[0][1] == 1 {
            all.iter_mut().for_each(|d| d.reverse());
        }
        all
    }

    fn one_dimensional(&self) -> bool {
        self.is_1d || self.ifm.contains(&1)
    }
}

impl Kernel for ConvolutionInputGenerator {
    type Attrs = ConvolutionInputGeneratorAttrs;

    /// `[N, OH, OW, k_h * k_w * C]` from the input's `[N, H, W, C]`, which must match
    /// `IFMDim` and `IFMChannels`.
    fn infer(
        &self,
        node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let batch = super::nhwc_batch(
            node,
            [a.ifm[0], a.ifm[1]],
            a.channels,
            "IFMDim, IFMChannels",
            1,
        )?;
        Ok(vec![TensorInfo {
            shape: vec![
                batch,
                a.ofm[0] as i64,
                a.ofm[1] as i64,
                (a.window_size() * a.channels) as i64,
            ],
            datatype: a.output,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let (h, w, c) = (a.ifm[0] as i64, a.ifm[1] as i64, a.channels as i64);
        let (oh, ow) = (a.ofm[0] as i64, a.ofm[1] as i64);
        let (k, simd, cf) = (a.window_size() as i64, a.simd as i64, a.folds() as i64);
        let folded_out = if a.parallel_window {
            vec![1, oh, ow, cf, k * simd]
        } else {
            vec![1, oh, ow, k * cf, simd]
        };
        Ok(vec![
            Stream {
                direction: Direction::In,
                index: 0,
                normal_shape: vec![1, h, w, c],
                folded_shape: vec![1, h, w, cf, simd],
                datatype: a.input,
            },
            Stream {
                direction: Direction::Out,
                index: 0,
                normal_shape: vec![1, oh, ow, k * c],
                folded_shape: folded_out,
                datatype: a.output,
            },
        ])
    }

    fn folding(&self, node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "SIMD",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's for its HLS generators: 2-D, `W * k_h * d_h * CF + OH * max(OW * k_w * k_h
    /// * CF, s_w * W * CF)` with `CF = C / SIMD`; 1-D, `1 + OW * k_w * CF`.
    fn cycles(&self, node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>) -> Option<u64> {
        let a = &node.attrs;
        let cf = a.folds();
        let [ifm, ofm, k, s, d] = a.normalized();
        if a.one_dimensional() {
            return Some(1 + ofm[1] * k[1] * cf);
        }
        let write = ofm[1] * k[1] * k[0] * cf;
        let read = s[1] * ifm[1] * cf;
        Some(ifm[1] * k[0] * d[0] * cf + ofm[0] * write.max(read))
    }

    /// FINN's estimates for its HLS generators: the line buffer in BRAM18 (`block`,
    /// `auto`), LUT RAM (`distributed`) or URAM (`ultra`), plus 300 LUTs of logic.
    fn resources(
        &self,
        node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        let a = &node.attrs;
        let bits = u64::from(a.input.bitwidth());
        let width = a.simd * bits;
        let [ifm, _, k, s, _] = a.normalized();
        let one_d = a.one_dimensional();
        let depth = if one_d {
            (k[1] - 1) * a.folds()
        } else {
            ifm[0] * a.folds()
        };
        let ram_width = match depth {
            0..=512 => 36,
            513..=1024 => 18,
            1025..=2048 => 9,
            2049..=4096 => 4,
            4097..=8192 => 2,
            _ => 1,
        };
        let lines = k[0] + s[0];
        let (mut bram18, mut lutram, mut uram) = (0, 0, 0);
        match a.ram_style {
            RamStyle::Block | RamStyle::Auto => {
                let width_mul = width.div_ceil(ram_width);
                bram18 = if one_d {
                    width_mul * depth.div_ceil(18432)
                } else {
                    lines * width_mul
                };
            }
            RamStyle::Distributed => {
                lutram = if one_d {
                    (bits * (k[1] - 1) * a.channels).div_ceil(64)
                } else {
                    lines * width * depth.div_ceil(64)
                };
            }
            RamStyle::Ultra => {
                uram = if one_d {
                    width.div_ceil(72) * depth.div_ceil(4096)
                } else {
                    lines * width.div_ceil(64) * depth.div_ceil(4096)
                };
            }
        }
        Some(Resources {
            lut: 300 + lutram,
            bram18,
            uram,
            dsp: 0,
        })
    }

    /// `Im2Col` without padding, frame by frame.
    fn execute(
        &self,
        node: &KernelNode<'_, ConvolutionInputGeneratorAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let window = a
            .window()
            .ok_or_else(|| node.error("the window's attributes are not two values each"))?;
        let [h, w] = a.input_dims();
        let c = a.channels as usize;
        let x = inputs[0].to_f64()?;
        let frame = h * w * c;
        if frame == 0 || x.len() % frame != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not whole frames of {h} x {w} x {c}",
                x.len()
            )));
        }
        let n = x.len() / frame;
        let index = window.gather([n, h, w, c]).map_err(|e| node.error(e))?;
        let out: Vec<f32> = index
            .iter()
            .map(|i| i.map_or(0.0, |i| x[i] as f32))
            .collect();
        let dims = [
            n as i64,
            a.ofm[0] as i64,
            a.ofm[1] as i64,
            (a.window_size() * a.channels) as i64,
        ];
        Ok(vec![Tensor::from_f32(&node.node().outputs[0], &dims, &out)])
    }
}
