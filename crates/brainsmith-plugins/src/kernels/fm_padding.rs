//! [`FmPadding`]: FINN's feature-map padding.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

/// Zero padding of a feature map, FINN's `FMPadding`: an NHWC frame `[1, H, W, C]` in,
/// `[1, H + top + bottom, W + left + right, C]` out, the border zeros (what a padded
/// convolution's window generator reads). `SIMD` channels per word.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{FmPadding, FmPaddingAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // A border of one pixel around a 3x3 image of 2 channels.
/// let node = finn("FMPadding", ["x"], ["y"]).ints("ImgDim", &[3, 3]).int("NumChannels", 2)
///     .text("inputDataType", "INT4");
/// let attrs = FmPaddingAttrs::read(&node).unwrap();
/// assert_eq!(attrs.padding, [1, 1, 1, 1], "the default");
/// let (k, g): (&dyn DynKernel, _) = (&FmPadding, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 5, 5, 2]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(50));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "FMPadding",
    op_types = ["FMPadding", "FMPadding_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "padding", "convolution"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct FmPadding;

/// The node attributes of a feature-map padding (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = padding_rules)]
pub struct FmPaddingAttrs {
    /// The input's `[H, W]`.
    #[attr(name = "ImgDim")]
    pub image: Vec<u64>,
    /// `[top, left, bottom, right]`.
    #[attr(name = "Padding", default = vec![1, 1, 1, 1])]
    pub padding: Vec<u64>,
    /// Channels `C`.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels per word; divides `NumChannels`.
    #[attr(name = "SIMD", default = 1)]
    pub simd: u64,
    /// Datatype of the input and the output.
    #[attr(name = "inputDataType")]
    pub datatype: QuantType,
    /// Frames (FINN's batch, a single integer here).
    #[attr(name = "numInputVectors", default = 1)]
    pub frames: u64,
}

fn padding_rules(a: &FmPaddingAttrs, c: &mut AttrCheck) {
    if a.image.len() != 2 || a.image.contains(&0) {
        c.fail(
            "ImgDim",
            format!("{:?} is not two positive values", a.image),
        );
    }
    if a.padding.len() != 4 {
        c.fail(
            "Padding",
            format!(
                "{:?} is not four values [top, left, bottom, right]",
                a.padding
            ),
        );
    }
    c.at_least("NumChannels", a.channels, 1);
    c.divides("SIMD", a.simd, "NumChannels", a.channels);
    c.at_least("numInputVectors", a.frames, 1);
    let (lo, hi) = a.datatype.range();
    if !a.datatype.is_integer() || lo > 0.0 || hi < 0.0 {
        c.fail(
            "inputDataType",
            format!("{} cannot hold the zero padding", a.datatype),
        );
    }
}

impl FmPaddingAttrs {
    /// The padded `[OH, OW]`.
    pub fn output_dims(&self) -> [u64; 2] {
        [
            self.image[0] + self.padding[0] + self.padding[2],
            self.image[1] + self.padding[1] + self.padding[3],
        ]
    }
}

impl Kernel for FmPadding {
    type Attrs = FmPaddingAttrs;

    fn infer(&self, node: &KernelNode<'_, FmPaddingAttrs>) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let [oh, ow] = a.output_dims();
        let batch = super::nhwc_batch(
            node,
            [a.image[0], a.image[1]],
            a.channels,
            "ImgDim, NumChannels",
            a.frames as i64,
        )?;
        Ok(vec![TensorInfo {
            shape: vec![batch, oh as i64, ow as i64, a.channels as i64],
            datatype: a.datatype,
        }])
    }

    fn streams(&self, node: &KernelNode<'_, FmPaddingAttrs>) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let [oh, ow] = a.output_dims();
        let (c, simd, n) = (a.channels as i64, a.simd as i64, a.frames as i64);
        let stream = |direction, h: u64, w: u64| Stream {
            direction,
            index: 0,
            normal_shape: vec![n, h as i64, w as i64, c],
            folded_shape: vec![n, h as i64, w as i64, c / simd, simd],
            datatype: a.datatype,
        };
        Ok(vec![
            stream(Direction::In, a.image[0], a.image[1]),
            stream(Direction::Out, oh, ow),
        ])
    }

    fn folding(&self, node: &KernelNode<'_, FmPaddingAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "SIMD",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `C / SIMD * frames * OH * OW`, one output word per cycle.
    fn cycles(&self, node: &KernelNode<'_, FmPaddingAttrs>) -> Option<u64> {
        let a = &node.attrs;
        let [oh, ow] = a.output_dims();
        Some(a.channels / a.simd * a.frames * oh * ow)
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(&self, _: &KernelNode<'_, FmPaddingAttrs>, _: &Target) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, FmPaddingAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let [h, w] = [a.image[0] as usize, a.image[1] as usize];
        let [oh, ow] = a.output_dims().map(|d| d as usize);
        let (top, left) = (a.padding[0] as usize, a.padding[1] as usize);
        let c = a.channels as usize;
        let x = inputs[0].to_f64()?;
        let frame = h * w * c;
        if x.len() % frame != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not whole frames of {h} x {w} x {c}",
                x.len()
            )));
        }
        let n = x.len() / frame;
        let mut out = vec![0f32; n * oh * ow * c];
        for b in 0..n {
            for y in 0..h {
                for q in 0..w {
                    let from = ((b * h + y) * w + q) * c;
                    let to = ((b * oh + y + top) * ow + q + left) * c;
                    for ch in 0..c {
                        out[to + ch] = x[from + ch] as f32;
                    }
                }
            }
        }
        let dims = [n as i64, oh as i64, ow as i64, c as i64];
        Ok(vec![Tensor::from_f32(&node.node().outputs[0], &dims, &out)])
    }
}
