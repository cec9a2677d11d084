//! [`RemoveStaticGraphInputs`]

use rustc_hash::FxHashSet;

use brainsmith_core::prelude::*;

/// Removes the graph inputs that are also initializers, so that their values are
/// constants.
///
/// Files written with initializers listed among the inputs (ONNX IR before version 4, and
/// exporters that keep them there) make every weight an input a caller could override;
/// the transforms that read constants leave such tensors alone until this runs. Run it
/// first when the weights are the weights.
///
/// ```
/// use brainsmith_plugins::RemoveStaticGraphInputs;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// // `w` is listed as an input and has a value, as old exporters write weights.
/// let mut m = Sketch::new().input("x", &[2]).input("w", &[2]).constant("w", &[2], &[1.0, 2.0])
///     .op("Mul", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&RemoveStaticGraphInputs, &mut m));
/// let inputs: Vec<_> = m.graph.inputs.iter().map(|i| i.name.as_str()).collect();
/// assert_eq!(inputs, ["x"]);
/// ```
#[transform(stage = cleanup, tags = ["inputs", "weights", "simplify"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct RemoveStaticGraphInputs;

impl Transform for RemoveStaticGraphInputs {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        let initializers: FxHashSet<&str> = graph.initializers.iter().map(|t| t.name()).collect();
        let before = graph.inputs.len();
        graph
            .inputs
            .retain(|v| !initializers.contains(v.name.as_str()));
        Ok(graph.inputs.len() != before)
    }
}
