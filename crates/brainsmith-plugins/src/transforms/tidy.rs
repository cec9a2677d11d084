//! [`Tidy`]

use brainsmith_core::prelude::*;

use super::{RemoveStaticGraphInputs, RemoveUnusedNodes, RemoveUnusedTensors};

/// Makes a model's weights its own and drops what nothing uses, in one step: the graph
/// inputs that are also initializers stop being inputs ([`RemoveStaticGraphInputs`]), then
/// nodes that reach no output ([`RemoveUnusedNodes`]) and tensors no node reads
/// ([`RemoveUnusedTensors`]) go.
///
/// The cleanup recipe (`InferShapes, FoldConstants, RemoveIdentityOps,
/// GiveUniqueNodeNames, GiveReadableTensorNames, SortGraph`) keeps, on purpose, the
/// initializers listed among the graph inputs (IR 3 files, and exporters that write
/// weights that way) and the ones folding left unread that are such inputs: they are the
/// model's interface, which a caller may override, and removing them changes what the
/// model accepts. qonnx removes them after every transform; append `Tidy` to the recipe
/// for that result (on the light zoo's ResNet-50 it drops 240 initializers, on
/// DenseNet-121 840).
///
/// ```
/// use brainsmith_plugins::Tidy;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// // `w` is a weight listed as an input, as IR 3 files list them; `old` is read by nothing.
/// let mut m = Sketch::new().input("x", &[2]).input("w", &[2]).constant("w", &[2], &[1.0, 2.0])
///     .constant("old", &[1], &[3.0]).op("Mul", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&Tidy, &mut m));
/// let inputs: Vec<_> = m.graph.inputs.iter().map(|i| i.name.as_str()).collect();
/// assert_eq!(inputs, ["x"]);
/// let weights: Vec<_> = m.graph.initializers.iter().map(|t| t.name()).collect();
/// assert_eq!(weights, ["w"]);
/// ```
#[transform(stage = cleanup, tags = ["simplify", "inputs", "weights"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct Tidy;

impl Transform for Tidy {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let inputs = RemoveStaticGraphInputs.apply(model, ctx)?;
        let nodes = RemoveUnusedNodes.apply(model, ctx)?;
        let tensors = RemoveUnusedTensors.apply(model, ctx)?;
        Ok(inputs || nodes || tensors)
    }
}
