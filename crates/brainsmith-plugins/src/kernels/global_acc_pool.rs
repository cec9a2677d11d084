//! [`GlobalAccPool`]: FINN's per-channel sum over an image.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use super::integer_type;

/// The sum of each channel over a whole image, FINN's `GlobalAccPool` (a global average
/// pool without its division, which stays a scalar `Mul` after it): `[N, H, W, C]` in,
/// `[N, 1, 1, C]` out, `PE` channels per cycle, the sums in a type wide enough for
/// `H * W` inputs.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, ir::QuantType, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{GlobalAccPool, GlobalAccPoolAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // Sums of 4 channels over a 7x7 image of 4-bit values: up to 735, 10 bits.
/// let node = finn("GlobalAccPool", ["x"], ["y"]).int("NumChannels", 4).int("PE", 2)
///     .text("inputDataType", "UINT4").ints("numInputVectors", &[1, 7, 7]);
/// let attrs = GlobalAccPoolAttrs::read(&node).unwrap();
/// assert_eq!(attrs.vectors, [1, 7, 7]);
/// let (k, g): (&dyn DynKernel, _) = (&GlobalAccPool, Graph::default());
/// let out = &k.infer(&node, &g).unwrap()[0];
/// assert_eq!((out.shape.clone(), out.datatype), (vec![1, 1, 1, 4], QuantType::UInt(10)));
/// assert!(k.cycles(&node, &g).unwrap().unwrap() >= 49 * 2);
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "GlobalAccPool",
    op_types = ["GlobalAccPool", "GlobalAccPool_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "pooling"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct GlobalAccPool;

/// The node attributes of a global sum pool (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = pool_rules)]
pub struct GlobalAccPoolAttrs {
    /// Channels: the length of the input's last axis.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels per cycle; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Datatype of the input.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// The input's leading dimensions `[N, H, W]`.
    #[attr(name = "numInputVectors", default = vec![1, 1, 1])]
    pub vectors: Vec<u64>,
}

fn pool_rules(a: &GlobalAccPoolAttrs, c: &mut AttrCheck) {
    c.at_least("NumChannels", a.channels, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    if !a.input.is_integer() {
        c.fail(
            "inputDataType",
            format!("{} is not an integer type", a.input),
        );
    }
    if a.vectors.len() != 3 || a.vectors.contains(&0) {
        c.fail(
            "numInputVectors",
            format!("{:?} is not [N, H, W] of positive sizes", a.vectors),
        );
    }
}

impl GlobalAccPoolAttrs {
    /// `[N, H, W]`, as the rules checked it.
    fn nhw(&self) -> [u64; 3] {
        match *self.vectors.as_slice() {
            [n, h, w] => [n, h, w],
            _ => [1, 1, 1],
        }
    }

    /// The sums' datatype: the narrowest integer type holding `H * W` inputs' sum.
    pub fn output(&self) -> QuantType {
        let [_, h, w] = self.nhw();
        let pixels = (h * w) as f64;
        let (lo, hi) = self.input.range();
        integer_type(pixels * lo, pixels * hi)
    }
}

impl Kernel for GlobalAccPool {
    type Attrs = GlobalAccPoolAttrs;

    /// `[N, 1, 1, C]`.
    fn infer(
        &self,
        node: &KernelNode<'_, GlobalAccPoolAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let [n, h, w] = a.nhw();
        let n = super::nhwc_batch(
            node,
            [h, w],
            a.channels,
            "numInputVectors, NumChannels",
            n as i64,
        )?;
        Ok(vec![TensorInfo {
            shape: vec![n, 1, 1, a.channels as i64],
            datatype: a.output(),
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, GlobalAccPoolAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let [n, h, w] = a.nhw();
        let (c, pe) = (a.channels as i64, a.pe as i64);
        let (n, h, w) = (n as i64, h as i64, w as i64);
        Ok(vec![
            Stream {
                direction: Direction::In,
                index: 0,
                normal_shape: vec![n, h, w, c],
                folded_shape: vec![n, h, w, c / pe, pe],
                datatype: a.input,
            },
            Stream {
                direction: Direction::Out,
                index: 0,
                normal_shape: vec![n, 1, 1, c],
                folded_shape: vec![n, 1, 1, c / pe, pe],
                datatype: a.output(),
            },
        ])
    }

    fn folding(&self, node: &KernelNode<'_, GlobalAccPoolAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `N * H * W * C / PE` to read, `C / PE` to write.
    fn cycles(&self, node: &KernelNode<'_, GlobalAccPoolAttrs>) -> Option<u64> {
        let a = &node.attrs;
        let [n, h, w] = a.nhw();
        let folds = a.channels / a.pe;
        Some(n * h * w * folds + folds)
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(&self, _: &KernelNode<'_, GlobalAccPoolAttrs>, _: &Target) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, GlobalAccPoolAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let c = a.channels as usize;
        let x = inputs[0].to_f64()?;
        let dims = inputs[0].dims();
        let [_, h, w] = a.nhw();
        let pixels = (h * w) as usize;
        if dims.len() != 4 || x.len() % (pixels * c) != 0 || dims[3] as usize != c {
            return Err(node.error(format!("input of shape {dims:?} is not [N, {h}, {w}, {c}]")));
        }
        let mut out = Vec::with_capacity(x.len() / pixels);
        for image in x.chunks(pixels * c) {
            for ch in 0..c {
                out.push((0..pixels).map(|p| image[p * c + ch]).sum::<f64>() as f32);
            }
        }
        let n = (x.len() / (pixels * c)) as i64;
        Ok(vec![Tensor::from_f32(
            &node.node().outputs[0],
            &[n, 1, 1, c as i64],
            &out,
        )])
    }
}
