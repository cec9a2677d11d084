//! [`LabelSelect`]: FINN's top-k label selection.

use brainsmith_core::attrs::AttrCheck;
use brainsmith_core::kernel::{Direction, FoldingKnob};
use brainsmith_core::prelude::*;

/// The labels of the `K` largest scores, FINN's `LabelSelect` (what a classifier's
/// `TopK` becomes): each input vector of `Labels` scores in, the indices of its `K`
/// largest out, largest first, a tie going to the lower index (as ONNX's `TopK`). `PE`
/// scores are read per cycle; one label is written per word.
///
/// ```
/// use brainsmith_core::{NodeAttrs, Target, ir::Graph, kernel::DynKernel};
/// use brainsmith_plugins::kernels::{LabelSelect, LabelSelectAttrs};
/// use brainsmith_plugins::sketch::{Attrs, finn};
///
/// // The 3 best of 10 scores, 2 scores a cycle.
/// let node = finn("LabelSelect", ["scores"], ["labels"]).int("Labels", 10).int("PE", 2)
///     .int("K", 3).text("inputDataType", "INT8");
/// let attrs = LabelSelectAttrs::read(&node).unwrap();
/// assert_eq!(attrs.output, None, "when not given, whole bytes for 10 labels: UINT8");
/// let (k, g): (&dyn DynKernel, _) = (&LabelSelect, Graph::default());
/// let out = &k.infer(&node, &g).unwrap()[0];
/// assert_eq!((out.shape.clone(), out.datatype.to_string()), (vec![1, 3], "UINT8".to_string()));
/// assert_eq!(k.cycles(&node, &g).unwrap(), Some(5));
/// assert!(k.resources(&node, &g, &Target::default()).unwrap().is_some());
/// ```
#[kernel(
    name = "LabelSelect",
    op_types = ["LabelSelect", "LabelSelect_Batch"],
    domain = "finn.custom_op.fpgadataflow",
    tags = ["finn", "topk", "classification"],
    version = "0.1.0"
)]
#[derive(Debug, Default)]
pub struct LabelSelect;

/// The node attributes of a label selection (FINN's names and encodings).
#[derive(Clone, Debug, PartialEq, NodeAttrs)]
#[node_attrs(check = label_rules)]
pub struct LabelSelectAttrs {
    /// Scores per vector `L`.
    #[attr(name = "Labels")]
    pub labels: u64,
    /// Scores read per cycle; divides `Labels`.
    #[attr(name = "PE", default = 1)]
    pub pe: u64,
    /// Labels selected per vector.
    #[attr(name = "K")]
    pub k: u64,
    /// Datatype of the scores.
    #[attr(name = "inputDataType")]
    pub input: QuantType,
    /// Datatype of the labels; by default FINN's: the narrowest unsigned type holding
    /// `Labels - 1`, widened to whole bytes.
    #[attr(name = "outputDataType")]
    pub output: Option<QuantType>,
    /// The leading dimensions of the input.
    #[attr(name = "numInputVectors", default = vec![1])]
    pub vectors: Vec<u64>,
}

fn label_rules(a: &LabelSelectAttrs, c: &mut AttrCheck) {
    c.at_least("Labels", a.labels, 1);
    c.divides("PE", a.pe, "Labels", a.labels);
    c.at_least("K", a.k, 1);
    if a.k > a.labels {
        c.fail(
            "K",
            format!("{} labels cannot be selected from {}", a.k, a.labels),
        );
    }
    if !a.input.is_integer() {
        c.fail(
            "inputDataType",
            format!("{} is not an integer type", a.input),
        );
    }
    if let Some(out) = a.output
        && (!out.is_integer() || out.range().1 < (a.labels.max(1) - 1) as f64)
    {
        c.fail(
            "outputDataType",
            format!("{out} cannot hold label {}", a.labels.max(1) - 1),
        );
    }
    if a.vectors.contains(&0) {
        c.fail("numInputVectors", "a dimension is 0");
    }
}

impl LabelSelectAttrs {
    /// The labels' datatype: `outputDataType`, else FINN's default.
    pub fn output_type(&self) -> QuantType {
        self.output.unwrap_or_else(|| {
            let top = self.labels.saturating_sub(1);
            if top <= 1 {
                QuantType::Binary
            } else {
                let bits = 64 - top.leading_zeros();
                QuantType::UInt(bits.div_ceil(8) * 8)
            }
        })
    }

    /// Frames of input vectors: the product of `numInputVectors`.
    pub fn frames(&self) -> u64 {
        self.vectors.iter().product()
    }

    fn shape(&self, last: &[u64]) -> Vec<i64> {
        self.vectors.iter().chain(last).map(|&d| d as i64).collect()
    }
}

impl Kernel for LabelSelect {
    type Attrs = LabelSelectAttrs;

    fn infer(
        &self,
        node: &KernelNode<'_, LabelSelectAttrs>,
    ) -> Result<Vec<TensorInfo>, PluginError> {
        let a = &node.attrs;
        let shape = match node.input_shape(0) {
            Ok(mut shape) if shape.last() == Some(&(a.labels as i64)) => {
                if let Some(last) = shape.last_mut() {
                    *last = a.k as i64;
                }
                shape
            }
            Ok(shape) => {
                return Err(node.error(format!(
                    "input shape {shape:?} does not end in Labels ({})",
                    a.labels
                )));
            }
            Err(_) => a.shape(&[a.k]),
        };
        Ok(vec![TensorInfo {
            shape,
            datatype: a.output_type(),
        }])
    }

    fn streams(&self, node: &KernelNode<'_, LabelSelectAttrs>) -> Result<Vec<Stream>, PluginError> {
        let a = &node.attrs;
        Ok(vec![
            Stream {
                direction: Direction::In,
                index: 0,
                normal_shape: a.shape(&[a.labels]),
                folded_shape: a.shape(&[a.labels / a.pe, a.pe]),
                datatype: a.input,
            },
            Stream {
                direction: Direction::Out,
                index: 0,
                normal_shape: a.shape(&[a.k]),
                folded_shape: a.shape(&[a.k, 1]),
                datatype: a.output_type(),
            },
        ])
    }

    fn folding(&self, node: &KernelNode<'_, LabelSelectAttrs>) -> Vec<FoldingKnob> {
        let l = node.attrs.labels;
        vec![FoldingKnob {
            attr: "PE",
            legal: (1..=l).filter(|d| l.is_multiple_of(*d)).collect(),
        }]
    }

    /// FINN's `Labels / PE`, per input vector.
    fn cycles(&self, node: &KernelNode<'_, LabelSelectAttrs>) -> Option<u64> {
        Some(node.attrs.frames() * (node.attrs.labels / node.attrs.pe))
    }

    /// FINN estimates nothing for it; neither do we.
    fn resources(&self, _: &KernelNode<'_, LabelSelectAttrs>, _: &Target) -> Option<Resources> {
        Some(Resources::default())
    }

    fn execute(
        &self,
        node: &KernelNode<'_, LabelSelectAttrs>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, PluginError> {
        let a = &node.attrs;
        let (l, k) = (a.labels as usize, a.k as usize);
        let x = inputs[0].to_f64()?;
        if x.len() % l != 0 {
            return Err(node.error(format!(
                "the input holds {} values, not whole vectors of {l} scores",
                x.len()
            )));
        }
        let mut out = Vec::with_capacity(x.len() / l * k);
        let mut order: Vec<usize> = Vec::with_capacity(l);
        for scores in x.chunks(l) {
            order.clear();
            order.extend(0..l);
            // Stable: equal scores keep the lower label first.
            order.sort_by(|&p, &q| scores[q].total_cmp(&scores[p]));
            out.extend(order[..k].iter().map(|&j| j as f32));
        }
        let mut dims = inputs[0].dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = k as i64;
        }
        Ok(vec![Tensor::from_f32(&node.node().outputs[0], &dims, &out)])
    }
}
