//! [`AddStreams`]: FINN's elementwise sum of two streams.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

use super::integer_type;

/// The elementwise sum of two streams of the same shape and datatype, FINN's `AddStreams`
/// (what a residual connection's `Add` becomes): `PE` channels of each read per cycle,
/// their sums written in a type wide enough for every sum.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Resources, Target, ir::Graph, ir::QuantType, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{AddStreams, AddStreamsAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // A 4-bit and a 3-bit signed stream of 8 channels, 2 a cycle.
/// let node = finn("AddStreams", ["a", "b"], ["y"]).int("NumChannels", 8).int("PE", 2)
///     .text("inputDataType", "UINT4").text("input1DataType", "INT3");
/// let attrs = AddStreamsAttrs::read(&node).unwrap();
/// assert_eq!(attrs.output(), QuantType::Int(6), "-4..=19");
/// let (k, g): (&dyn DynKernel, _) = (&AddStreams, Graph::default());
/// assert_eq!(k.infer(&node, &g).unwrap()[0].shape, [1, 8]);
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(4));
/// assert_eq!(k.resources(&node, &g, &Target::default()).unwrap(), Some(Resources::default()));
/// ```
#[kernel(
    name = "AddStreams",
    op_types = ["AddStreams", "AddStreams_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "elementwise", "residual"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct AddStreams;

/// The node attributes of a stream sum (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = add_rules)]
pub struct AddStreamsAttrs {
    /// Channels: the length of both inputs' last axis.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels read per cycle from each input; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Datatype of the first input (of both, unless `input1DataType` says otherwise).
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the second input, when it differs from the first (brainsmith's
    /// extension: FINN's two inputs share one type, so a residual branch of another width
    /// could not be added).
    #[attr(name = "input1DataType")]
    pub input1: Option<QuantType>,
    /// The leading dimensions of the inputs.
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
}

fn add_rules(a: &AddStreamsAttrs, c: &mut AttrCheck) {
    c.at_least("NumChannels", a.channels, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    for (name, t) in [("inputDataType", a.input), ("input1DataType", a.second())] {
        if !t.is_integer() {
            c.fail(name, format!("{t} is not an integer type"));
        }
    }
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl AddStreamsAttrs {
    /// The second input's datatype.
    pub fn second(&self) -> QuantType {
        self.input1.unwrap_or(self.input)
    }

    /// The sums' datatype: the narrowest integer type holding every sum of two inputs
    /// (UINT4 + UINT4 in UINT5, BIPOLAR + BIPOLAR in INT3, INT6 + INT7 in INT7).
    pub fn output(&self) -> QuantType {
        let ((l0, h0), (l1, h1)) = (self.input.range(), self.second().range());
        integer_type(l0 + l1, h0 + h1)
    }

    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    fn shape(&self, last: &[u64]) -> Vec<i64> {
        self.vectors.iter().chain(last).map(|&d| d as i64).collect()
    }

    fn stream(&self, direction: Direction, index: usize, datatype: QuantType) -> Stream {
        Stream {
            direction,
            index,
            normal_shape: self.shape(&[self.channels]),
            folded_shape: self.shape(&[self.channels / self.pe, self.pe]),
            datatype,
        }
    }
}

impl Kernel for AddStreams {
    type Attrs = AddStreamsAttrs;

    /// The inputs' shape (channels last, both the same); from `numInputVectors` where it
    /// is not known.
    fn infer(
        &self,
        node: &KernelNode<'_, AddStreamsAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match (node.input_shape(0), node.input_shape(1)) {
            (Ok(x), Ok(y)) if x != y => {
                return Err(
                    node.error(format!("its inputs have different shapes, {x:?} and {y:?}"))
                );
            }
            (Ok(x), _) | (_, Ok(x)) => {
                if x.last() != Some(&(a.channels as i64)) {
                    return Err(node.error(format!(
                        "input shape {x:?} does not end in NumChannels ({})",
                        a.channels
                    )));
                }
                x
            }
            _ => a.shape(&[a.channels]),
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.output(),
        }])
    }

    fn streams(&self, node: &KernelNode<'_, AddStreamsAttrs>) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        Ok(vec![
            a.stream(Direction::In, 0, a.input),
            a.stream(Direction::In, 1, a.second()),
            a.stream(Direction::Out, 0, a.output()),
        ])
    }

    fn folding(&self, node: &KernelNode<'_, AddStreamsAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `frames * NumChannels / PE`.
    fn cycles(&self, node: &KernelNode<'_, AddStreamsAttrs>) -> Option<u64> {
        let a = &node.attrs;
        Some(a.frames() * (a.channels / a.pe))
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(&self, _: &KernelNode<'_, AddStreamsAttrs>, _: &Target) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, AddStreamsAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let (x, y) = (&inputs[0], &inputs[1]);
        if x.dims() != y.dims() {
            return Err(node.error(format!(
                "its inputs have different shapes, {:?} and {:?}",
                x.dims(),
                y.dims()
            )));
        }
        let sum: Vec<f32> = x
            .to_f64()?
            .iter()
            .zip(y.to_f64()?)
            .map(|(a, b)| (a + b) as f32)
            .collect();
        Ok(vec![Tensor::from_f32(
            &node.node().outputs[0],
            x.dims(),
            &sum,
        )])
    }
}
