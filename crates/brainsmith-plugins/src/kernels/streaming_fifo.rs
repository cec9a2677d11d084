//! [`StreamingFifo`]: FINN's stream buffer.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::Direction;
use brainsmith_core::prelude::*;

use super::RamStyle;

/// A first-in first-out buffer of `depth` words between two nodes, FINN's
/// `StreamingFIFO`: it absorbs the difference between when a producer writes and when a
/// consumer reads, so neither stalls the other. Words pass unchanged, in order.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{StreamingFifo, StreamingFifoAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // 32 words of 4 8-bit values: 32 bits wide, in shift-register LUTs.
/// let node = finn("StreamingFIFO", ["x"], ["y"]).int("depth", 32).ints("folded_shape", &[1, 8, 4])
///     .text("dataType", "INT8");
/// let attrs = StreamingFifoAttrs::read(&node).unwrap();
/// assert_eq!(attrs.depth, 32);
/// let (k, g): (&dyn DynKernel, _) = (&StreamingFifo, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 32]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(8));
/// assert_eq!(k.resources(&node, &g, &Target::default()).unwrap().unwrap().lut, 32);
/// ```
#[kernel(
    name = "StreamingFIFO",
    op_types = ["StreamingFIFO"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "dataflow", "stream"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct StreamingFifo;

/// The node attributes of a FIFO (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = fifo_rules)]
pub struct StreamingFifoAttrs {
    /// Words it holds.
    #[attr(name = "depth")]
    pub depth: u64,
    /// The folded shape of the stream: its last axis is the values per word.
    #[attr(name = "folded_shape")]
    pub folded_shape: Vec<u64>,
    /// Datatype of the values.
    #[attr(name = "dataType")]
    pub datatype: QuantType,
    /// The memory it is built from.
    #[attr(name = "ram_style", default = RamStyle::Auto)]
    pub ram_style: RamStyle,
}

fn fifo_rules(a: &StreamingFifoAttrs, c: &mut AttrCheck) {
    c.at_least("depth", a.depth, 1);
    if a.folded_shape.len() < 2 || a.folded_shape.contains(&0) {
        c.fail(
            "folded_shape",
            format!(
                "{:?} is not a folded shape (leading axes, then values per word)",
                a.folded_shape
            ),
        );
    }
}

impl StreamingFifoAttrs {
    /// Bits per word.
    pub fn width(&self) -> u64 {
        self.folded_shape.last().copied().unwrap_or(1) * u64::from(self.datatype.bitwidth())
    }

    /// The normal shape: the folded shape's last two axes merged.
    pub fn normal_shape(&self) -> Vec<i64> {
        let n = self.folded_shape.len();
        let mut shape: Vec<i64> = self.folded_shape[..n.saturating_sub(2)]
            .iter()
            .map(|&d| d as i64)
            .collect();
        if n >= 2 {
            shape.push((self.folded_shape[n - 2] * self.folded_shape[n - 1]) as i64);
        }
        shape
    }

    /// Words per frame.
    pub fn words(&self) -> u64 {
        let n = self.folded_shape.len();
        self.folded_shape[..n.saturating_sub(1)].iter().product()
    }
}

impl Kernel for StreamingFifo {
    type Attrs = StreamingFifoAttrs;

    fn infer(
        &self,
        node: &KernelNode<'_, StreamingFifoAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match node.input_shape(0) {
            Ok(x) if x.iter().product::<i64>() != a.normal_shape().iter().product::<i64>() => {
                return Err(node.error(format!(
                    "input shape {x:?} does not hold the values of folded_shape {:?}",
                    a.folded_shape
                )));
            }
            Ok(x) => x,
            Err(_) => a.normal_shape(),
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.datatype,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, StreamingFifoAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let folded: Vec<i64> = a.folded_shape.iter().map(|&d| d as i64).collect();
        let stream = |direction| Stream {
            direction,
            index: 0,
            normal_shape: a.normal_shape(),
            folded_shape: folded.clone(),
            datatype: a.datatype,
        };
        Ok(vec![stream(Direction::In), stream(Direction::Out)])
    }

    /// One word per cycle.
    fn cycles(&self, node: &KernelNode<'_, StreamingFifoAttrs>) -> Option<u64> {
        Some(node.attrs.words())
    }

    /// Ours (FINN's differ by tool): up to 64 words in shift-register LUTs (`width *
    /// ceil(depth / 32)`); deeper ones in BRAM18 (`ceil(width / 36) * ceil(depth / 512)`),
    /// in UltraRAM with `ram_style = "ultra"` (`ceil(width / 72) * ceil(depth / 4096)`),
    /// or in LUT RAM with `"distributed"` (`width * ceil(depth / 64)`).
    fn resources(
        &self,
        node: &KernelNode<'_, StreamingFifoAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        let a = &node.attrs;
        let (w, d) = (a.width(), a.depth);
        let mut r = Resources::default();
        match a.ram_style {
            _ if d <= 64 => r.lut = w * d.div_ceil(32),
            RamStyle::Distributed => r.lut = w * d.div_ceil(64),
            RamStyle::Ultra => r.uram = w.div_ceil(72) * d.div_ceil(4096),
            RamStyle::Auto | RamStyle::Block => r.bram18 = w.div_ceil(36) * d.div_ceil(512),
        }
        Some(r)
    }

    /// The values, unchanged.
    fn execute(
        &self,
        node: &KernelNode<'_, StreamingFifoAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let mut t = inputs[0].clone();
        t.set_name(node.node().outputs[0].clone());
        Ok(vec![t])
    }
}
