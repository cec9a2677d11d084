//! [`DuplicateStreams`]: FINN's fan-out of one stream into several.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

/// One stream copied into `NumOutputStreams` streams, FINN's `DuplicateStreams`: a
/// dataflow graph's tensor read by several nodes (a residual branch) needs a stream for
/// each. `PE` channels per cycle.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{DuplicateStreams, DuplicateStreamsAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// let node = finn("DuplicateStreams", ["x"], ["a", "b"]).int("NumChannels", 6).int("PE", 3)
///     .text("inputDataType", "INT8");
/// let attrs = DuplicateStreamsAttrs::read(&node).unwrap();
/// assert_eq!(attrs.copies, 2, "the default");
/// let (k, g): (&dyn DynKernel, _) = (&DuplicateStreams, Graph::default());
/// let outputs = k.infer(&node, &g).unwrap();
/// assert_eq!((outputs.len(), outputs[1].shape.clone()), (2, vec![1, 6]));
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(2));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "DuplicateStreams",
    op_types = ["DuplicateStreams", "DuplicateStreams_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "fanout", "residual"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct DuplicateStreams;

/// The node attributes of a stream fan-out (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = duplicate_rules)]
pub struct DuplicateStreamsAttrs {
    /// Channels: the length of the input's last axis.
    #[attr(name = "NumChannels")]
    pub channels: u64,
    /// Channels per cycle; divides `NumChannels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Copies written.
    #[attr(name = "NumOutputStreams", default = 2)]
    pub copies: u64,
    /// Datatype of the input and every copy.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// The leading dimensions of the input.
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
}

fn duplicate_rules(a: &DuplicateStreamsAttrs, c: &mut AttrCheck) {
    c.at_least("NumChannels", a.channels, 1);
    c.divides("PE", a.pe, "NumChannels", a.channels);
    c.at_least("NumOutputStreams", a.copies, 1);
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl DuplicateStreamsAttrs {
    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    fn stream(&self, direction: Direction, index: usize) -> Stream {
        let shape = |last: &[u64]| -> Vec<i64> {
            self.vectors.iter().chain(last).map(|&d| d as i64).collect()
        };
        Stream {
            direction,
            index,
            normal_shape: shape(&[self.channels]),
            folded_shape: shape(&[self.channels / self.pe, self.pe]),
            datatype: self.input,
        }
    }
}

impl Kernel for DuplicateStreams {
    type Attrs = DuplicateStreamsAttrs;

    fn check(&self, node: &KernelNode<'_, DuplicateStreamsAttrs>) -> Result<(), PluginError> {
        let outputs = node.node().outputs.len() as u64;
        if outputs != node.attrs.copies {
            return Err(node.error(format!(
                "it writes {outputs} outputs but NumOutputStreams is {}",
                node.attrs.copies
            )));
        }
        Ok(())
    }

    /// The input's shape and datatype, once per copy.
    fn infer(
        &self,
        node: &KernelNode<'_, DuplicateStreamsAttrs>,
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
            Err(_) => a.stream(Direction::In, 0).normal_shape,
        };
        let info = TensorInfo {
            shape,
            datatype: a.input,
        };
        Ok(vec![info; node.node().outputs.len()])
    }

    fn streams(
        &self,
        node: &KernelNode<'_, DuplicateStreamsAttrs>,
    ) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        let mut streams = vec![a.stream(Direction::In, 0)];
        streams.extend((0..a.copies as usize).map(|i| a.stream(Direction::Out, i)));
        Ok(streams)
    }

    fn folding(&self, node: &KernelNode<'_, DuplicateStreamsAttrs>) -> Vec<FoldingKnob> {
        let c = node.attrs.channels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=c).filter(|d| c.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's: `frames * NumChannels / PE`.
    fn cycles(&self, node: &KernelNode<'_, DuplicateStreamsAttrs>) -> Option<u64> {
        let a = &node.attrs;
        Some(a.frames() * (a.channels / a.pe))
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(
        &self,
        _: &KernelNode<'_, DuplicateStreamsAttrs>,
        _: &Target,
    ) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, DuplicateStreamsAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        Ok(node
            .node()
            .outputs
            .iter()
            .map(|name| {
                let mut t = inputs[0].clone();
                t.set_name(name.clone());
                t
            })
            .collect())
    }
}
