//! [`StreamingDataWidthConverter`]: FINN's stream width converter.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::Direction;
use brainsmith_core::prelude::*;

/// Repacks a stream from words of `inWidth` bits into words of `outWidth` bits, FINN's
/// `StreamingDataWidthConverter` (what sits between a producer and a consumer folded
/// differently): the values and their order are unchanged, only how many travel per
/// word. Both widths are whole numbers of values and divide the bits of one vector
/// along the last axis; any ratio works, not only whole multiples.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{StreamingDataWidthConverter, StreamingDataWidthConverterAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // 16 4-bit values, from 2 a word (8 bits) to 8 a word (32 bits).
/// let node = finn("StreamingDataWidthConverter", ["x"], ["y"]).ints("shape", &[1, 16])
///     .int("inWidth", 8).int("outWidth", 32).text("dataType", "UINT4");
/// let attrs = StreamingDataWidthConverterAttrs::read(&node).unwrap();
/// assert_eq!(attrs.in_width * 4, attrs.out_width);
/// let (k, g): (&dyn DynKernel, _) = (&StreamingDataWidthConverter, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 16]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(8));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "StreamingDataWidthConverter",
    op_types = ["StreamingDataWidthConverter", "StreamingDataWidthConverter_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "dataflow", "stream"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct StreamingDataWidthConverter;

/// The node attributes of a width converter (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = width_rules)]
pub struct StreamingDataWidthConverterAttrs {
    /// The shape of the tensor streamed (the same in and out).
    #[attr(name = "shape")]
    pub shape: Vec<u64>,
    /// Bits per input word.
    #[attr(name = "inWidth")]
    pub in_width: u64,
    /// Bits per output word.
    #[attr(name = "outWidth")]
    pub out_width: u64,
    /// Datatype of the values.
    #[attr(name = "dataType")]
    pub datatype: QuantType,
}

fn width_rules(a: &StreamingDataWidthConverterAttrs, c: &mut AttrCheck) {
    let bits = u64::from(a.datatype.bitwidth());
    let last = a.shape.last().copied().unwrap_or(0);
    if a.shape.is_empty() || a.shape.contains(&0) {
        c.fail("shape", format!("{:?} holds no values", a.shape));
    }
    for (name, width) in [("inWidth", a.in_width), ("outWidth", a.out_width)] {
        if width == 0 || !width.is_multiple_of(bits) {
            c.fail(
                name,
                format!("{width} bits is not a whole number of {bits}-bit values"),
            );
        } else if last > 0 && !last.is_multiple_of(width / bits) {
            c.fail(
                name,
                format!(
                    "{} values per word do not divide the last axis ({last}); choose a width \
                     of a divisor of {last} values",
                    width / bits
                ),
            );
        }
    }
}

impl StreamingDataWidthConverterAttrs {
    /// Values per input and per output word.
    pub fn lanes(&self) -> (u64, u64) {
        let bits = u64::from(self.datatype.bitwidth()).max(1);
        (self.in_width / bits, self.out_width / bits)
    }

    /// Values per frame.
    pub fn values(&self) -> u64 {
        self.shape.iter().product()
    }

    fn stream(&self, direction: Direction, lanes: u64) -> Stream {
        let shape: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        let mut folded = shape.clone();
        if let Some(last) = folded.last_mut() {
            *last /= lanes.max(1) as i64;
        }
        folded.push(lanes as i64);
        Stream {
            direction,
            index: 0,
            normal_shape: shape,
            folded_shape: folded,
            datatype: self.datatype,
        }
    }
}

impl Kernel for StreamingDataWidthConverter {
    type Attrs = StreamingDataWidthConverterAttrs;

    /// `shape`, which the input must have where it is known.
    fn infer(
        &self,
        node: &KernelNode<'_, StreamingDataWidthConverterAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape: Vec<i64> = a.shape.iter().map(|&d| d as i64).collect();
        if let Ok(x) = node.input_shape(0)
            && x != shape
        {
            return Err(node.error(format!(
                "input shape {x:?} is not the converter's shape {shape:?}"
            )));
        }
        Ok(vec![TensorInfo {
            shape,
            datatype: a.datatype,
        }])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, StreamingDataWidthConverterAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let (li, lo) = a.lanes();
        Ok(vec![
            a.stream(Direction::In, li),
            a.stream(Direction::Out, lo),
        ])
    }

    /// One word in or out per cycle, whichever side has more words: `values / min(lanes)`
    /// (FINN estimates none).
    fn cycles(&self, node: &KernelNode<'_, StreamingDataWidthConverterAttrs>) -> Option<u64> {
        let a = &node.attrs;
        let (li, lo) = a.lanes();
        Some(a.values() / li.min(lo).max(1))
    }

    /// FINN's: the shift registers of a conversion through the widths' least common
    /// multiple, `ceil(log2)` of each ratio plus the widths set, in LUTs.
    fn resources(
        &self,
        node: &KernelNode<'_, StreamingDataWidthConverterAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        let a = &node.attrs;
        let (lo, hi) = (a.in_width.min(a.out_width), a.in_width.max(a.out_width));
        let gcd = |mut x: u64, mut y: u64| {
            while y != 0 {
                (x, y) = (y, x % y);
            }
            x
        };
        let lcm = lo / gcd(lo, hi).max(1) * hi;
        let steps = |from: u64, to: u64| {
            let r = from.max(to) as f64 / from.min(to).max(1) as f64;
            r.log2().ceil() as u64
        };
        let (mut count, mut set) = (0, 0);
        if a.in_width != lcm {
            count += steps(a.in_width, lcm);
            set += lcm;
        }
        if lcm != a.out_width {
            count += steps(lcm, a.out_width);
            set += a.out_width;
        }
        Some(Resources {
            lut: count + set,
            ..Resources::default()
        })
    }

    /// The values, unchanged.
    fn execute(
        &self,
        node: &KernelNode<'_, StreamingDataWidthConverterAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let mut t = inputs[0].clone();
        t.set_name(node.node().outputs[0].clone());
        Ok(vec![t])
    }
}
