//! [`StreamingMaxPool`]: FINN's max pooling on a stream.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use crate::ops::window::pooled_length;

/// Max pooling with the stride equal to the window, FINN's `StreamingMaxPool`: an NHWC
/// feature map `[1, H, W, C]` in, the largest value of each `k_h x k_w` window out,
/// `[1, OH, OW, C]`. A 2-D pool moves all `C` channels per word, a 1-D one (`H` and `k_h`
/// 1) `PE` of them; `CeilMode` keeps a last partial window.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{StreamingMaxPool, StreamingMaxPoolAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // 2x2 windows over a 4x4 image of 3 channels.
/// let node = finn("StreamingMaxPool", ["x"], ["y"]).ints("ImgDim", &[4, 4]).ints("PoolDim", &[2, 2])
///     .int("NumChannels", 3).text("dataType", "UINT4");
/// let attrs = StreamingMaxPoolAttrs::read(&node).unwrap();
/// assert!(!attrs.ceil);
/// let (k, g): (&dyn DynKernel, _) = (&StreamingMaxPool, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 2, 2, 3]);
/// assert!(k.cycles(&node, &g).unwrap().unwrap() >= 16);
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "StreamingMaxPool",
    op_types = ["StreamingMaxPool", "StreamingMaxPool_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "pooling"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct StreamingMaxPool;

/// The node attributes of a streaming max pool (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = pool_rules)]
pub struct StreamingMaxPoolAttrs {
    /// The input's `[H, W]`.
    #[attr(name = "ImgDim")]
    pub image: Vec<u64>,
    /// The window `[k_h, k_w]`, also the stride.
    #[attr(name = "PoolDim")]
    pub pool: Vec<u64>,
    /// Channels `C`.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels per word of a 1-D pool; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// 1: a last window that runs past the input is kept.
    #[attr(name = "CeilMode", default = false)]
    pub ceil: bool,
    /// Datatype of the input and the output.
    #[attr(name = "dataType")]
    pub datatype: QuantType,
}

fn pool_rules(a: &StreamingMaxPoolAttrs, c: &mut AttrCheck) {
    for (name, list) in [("ImgDim", &a.image), ("PoolDim", &a.pool)] {
        if list.len() != 2 || list.contains(&0) {
            c.fail(
                name,
                format!("{list:?} is not two positive values ([height, width])"),
            );
        }
    }
    c.at_least("NumChannels", a.channels, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    if a.image.len() == 2 && a.pool.len() == 2 {
        for i in 0..2 {
            if a.pool[i] > a.image[i] {
                c.fail(
                    "PoolDim",
                    format!("a {:?} window does not fit into {:?}", a.pool, a.image),
                );
                break;
            }
        }
    }
    if !a.datatype.is_integer() {
        c.fail("dataType", format!("{} is not an integer type", a.datatype));
    }
}

impl StreamingMaxPoolAttrs {
    /// `[OH, OW]`.
    pub fn output_dims(&self) -> [u64; 2] {
        [0, 1].map(|i| {
            let (n, k) = (self.image[i] as usize, self.pool[i] as usize);
            pooled_length(n, [0, 0], k, k, self.ceil).unwrap_or(0) as u64
        })
    }

    /// Whether the pool is one-dimensional (`H` and `k_h` are 1, or `W` and `k_w`).
    pub fn is_1d(&self) -> bool {
        (self.image[0] == 1 && self.pool[0] == 1) || (self.image[1] == 1 && self.pool[1] == 1)
    }

    /// Channels per word: `PE` in 1-D, all of them in 2-D (FINN's streams).
    pub fn lanes(&self) -> u64 {
        if self.is_1d() { self.pe } else { self.channels }
    }
}

impl Kernel for StreamingMaxPool {
    type Attrs = StreamingMaxPoolAttrs;

    fn infer(
        &self,
        node: &KernelNode<'_, StreamingMaxPoolAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let [oh, ow] = a.output_dims();
        let batch = super::nhwc_batch(
            node,
            [a.image[0], a.image[1]],
            a.channels,
            "ImgDim, NumChannels",
            1,
        )?;
        Ok(vec![TensorInfo {
            shape: vec![batch, oh as i64, ow as i64, a.channels as i64],
            datatype: a.datatype,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, StreamingMaxPoolAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let [oh, ow] = a.output_dims();
        let (h, w, c) = (a.image[0] as i64, a.image[1] as i64, a.channels as i64);
        let lanes = a.lanes() as i64;
        let stream = |direction, y: i64, x: i64| Stream {
            direction,
            index: 0,
            normal_shape: vec![1, y, x, c],
            folded_shape: vec![1, y, x, c / lanes, lanes],
            datatype: a.datatype,
        };
        Ok(vec![
            stream(Direction::In, h, w),
            stream(Direction::Out, oh as i64, ow as i64),
        ])
    }

    fn folding(&self, node: &KernelNode<'_, StreamingMaxPoolAttrs>) -> Vec<FoldingKnob> {
        let a = &node.attrs;
        if !a.is_1d() {
            return Vec::new();
        }
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=a.channels)
                .filter(|d| a.channels.is_multiple_of(*d))
                .collect(),
        }]
    }

    /// FINN's: 1-D, `OW * C / PE * (k_w + 1)`; 2-D, `W^2 * (1 + 1 / k_w^2)`, truncated
    /// (FINN's own estimate, which assumes a square image).
    fn cycles(&self, node: &KernelNode<'_, StreamingMaxPoolAttrs>) -> Option<u64> {
        let a = &node.attrs;
        let (mut image, mut pool) = ([a.image[0], a.image[1]], [a.pool[0], a.pool[1]]);
        if image[1] == 1 && pool[1] == 1 {
            image.reverse();
            pool.reverse();
        }
        if a.is_1d() {
            let ow = pooled_length(
                image[1] as usize,
                [0, 0],
                pool[1] as usize,
                pool[1] as usize,
                a.ceil,
            )
            .unwrap_or(0) as u64;
            Some(ow * (a.channels / a.pe) * (pool[1] + 1))
        } else {
            let w = image[1] as f64;
            let k = pool[1] as f64;
            Some((w * w * (1.0 + 1.0 / (k * k))) as u64)
        }
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(
        &self,
        _: &KernelNode<'_, StreamingMaxPoolAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, StreamingMaxPoolAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let [h, w] = [a.image[0] as usize, a.image[1] as usize];
        let [kh, kw] = [a.pool[0] as usize, a.pool[1] as usize];
        let [oh, ow] = a.output_dims().map(|d| d as usize);
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
        let mut out = Vec::with_capacity(n * oh * ow * c);
        for b in 0..n {
            for y in 0..oh {
                for xo in 0..ow {
                    for ch in 0..c {
                        let mut best = f64::NEG_INFINITY;
                        for r in y * kh..((y + 1) * kh).min(h) {
                            for q in xo * kw..((xo + 1) * kw).min(w) {
                                best = best.max(x[((b * h + r) * w + q) * c + ch]);
                            }
                        }
                        out.push(best as f32);
                    }
                }
            }
        }
        let dims = [n as i64, oh as i64, ow as i64, c as i64];
        Ok(vec![Tensor::from_f32(&node.node().outputs[0], &dims, &out)])
    }
}
