//! [`ConvertSubToAdd`]

use brainsmith_core::prelude::*;

use super::rewrite::convert_constant_operand;
use crate::eval::{Array, Values};

/// Turns `x - c` with a constant `c` into `x + (-c)`, the form kernel mapping and the
/// streamlining transforms look for.
///
/// Exact for every element type: floating-point negation is exact, and integer `Sub` and
/// `Add` wrap, so adding the wrapped negation gives the same bits. A constant that other
/// nodes also read is copied rather than changed, so they keep seeing `c`.
///
/// ```
/// use brainsmith_plugins::ConvertSubToAdd;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types, values};
///
/// let mut m = Sketch::new().input("x", &[1, 2]).constant("c", &[2], &[1.0, -3.0])
///     .op("Sub", ["x", "c"], ["y"]).output("y").build();
/// assert!(apply(&ConvertSubToAdd, &mut m));
/// assert_eq!(op_types(&m), ["Add"]);
/// assert_eq!(values(&m, &m.graph.nodes[0].inputs[1]), [-1.0, 3.0]);
/// ```
#[transform(stage = topology_opt, tags = ["arithmetic", "canonicalize"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct ConvertSubToAdd;

impl Transform for ConvertSubToAdd {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(convert_constant_operand(
            &mut model.graph,
            "Sub",
            "Add",
            |c| match &c.values {
                Values::Float(v) => Some(Array::floats(
                    c.elem,
                    c.dims.clone(),
                    v.iter().map(|x| -x).collect(),
                )),
                Values::Int(v) => Some(Array::ints(
                    c.elem,
                    c.dims.clone(),
                    v.iter().map(|x| x.wrapping_neg()).collect(),
                )),
            },
        ))
    }
}
