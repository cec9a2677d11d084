//! [`ConvertDivToMul`]

use brainsmith_core::prelude::*;

use super::rewrite::convert_constant_operand;
use crate::eval::{Array, Values};

/// Turns `x / c` with a floating-point constant `c` into `x * (1/c)`, the form kernel
/// mapping and the streamlining transforms look for.
///
/// Integer division is left alone: `1/c` has no integer form (qonnx 1.0 converts it
/// anyway and multiplies by zero). A constant that other nodes also read is copied
/// rather than changed, so they keep seeing `c`.
///
/// ```
/// use brainsmith_plugins::ConvertDivToMul;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types, values};
///
/// let mut m = Sketch::new().input("x", &[2]).constant("c", &[2], &[2.0, 4.0])
///     .op("Div", ["x", "c"], ["y"]).output("y").build();
/// assert!(apply(&ConvertDivToMul, &mut m));
/// assert_eq!(op_types(&m), ["Mul"]);
/// assert_eq!(values(&m, &m.graph.nodes[0].inputs[1]), [0.5, 0.25]);
/// ```
#[transform(stage = topology_opt, tags = ["arithmetic", "canonicalize"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct ConvertDivToMul;

impl Transform for ConvertDivToMul {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(convert_constant_operand(
            &mut model.graph,
            "Div",
            "Mul",
            |c| match &c.values {
                Values::Float(v) => Some(Array::floats(
                    c.elem,
                    c.dims.clone(),
                    v.iter().map(|x| 1.0 / x).collect(),
                )),
                Values::Int(_) => None,
            },
        ))
    }
}
