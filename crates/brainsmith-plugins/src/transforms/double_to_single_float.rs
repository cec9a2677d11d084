//! [`DoubleToSingleFloat`]

use brainsmith_core::ir::{AttributeValue, ElemType, Tensor, ValueType};
use brainsmith_core::prelude::*;

use crate::eval::Array;

/// Makes a model that computes in `DOUBLE` compute in `FLOAT`: every double initializer
/// and tensor attribute (a `Constant`'s value, a `TreeEnsemble`'s splits and weights)
/// becomes float, and so does every recorded double type (graph inputs, outputs,
/// `value_info`), every `Cast` or `ConstantOfShape` to double, and every
/// `RandomNormal`/`RandomUniform` style `dtype` of double.
///
/// qonnx 1.0 converts the initializers only, so a double input or a `Cast` to double
/// left in the graph then meets a float operand and the model stops running; here the
/// whole model changes together. Values round to the nearest float. A model with a
/// `BitCast` is refused (an error naming the node, the model unchanged): it reinterprets
/// bits, and no float model computes what it computes on doubles.
///
/// ```
/// use brainsmith_plugins::DoubleToSingleFloat;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply};
/// use brainsmith_core::ir::{ElemType, Node};
///
/// // A cast to double (ONNX type 11) becomes a cast to float (type 1).
/// let cast = Node::new("Cast", ["x"], ["y"]).int("to", ElemType::Double as i64);
/// let mut m = Sketch::new().input("x", &[3]).node(cast).output("y").unshaped();
/// assert!(apply(&DoubleToSingleFloat, &mut m));
/// assert_eq!(m.graph.nodes[0].attr_int("to"), Some(ElemType::Float as i64));
/// ```
#[transform(stage = cleanup, tags = ["precision", "canonicalize"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct DoubleToSingleFloat;

const DOUBLE: i32 = ElemType::Double as i32;
const FLOAT: i32 = ElemType::Float as i32;

/// `t` rounded to float when it is a double tensor.
fn single(t: &Tensor) -> Result<Option<Tensor>, PluginError> {
    if t.elem_type() != ElemType::Double {
        return Ok(None);
    }
    let values = t.to_f64().map_err(PluginError::new)?;
    let dims = t.dims().iter().map(|&d| d.max(0) as usize).collect();
    let single = Array::floats(ElemType::Float, dims, values)
        .to_tensor(t.name())
        .map_err(PluginError::new)?;
    Ok(Some(single))
}

impl Transform for DoubleToSingleFloat {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        if let Some(node) = model.graph.nodes.iter().find(|n| n.op_type == "BitCast") {
            // Refused only when there is something double to convert.
            if !to_single(&mut model.graph.clone())? {
                return Ok(false);
            }
            return Err(PluginError::new(format!(
                "node '{}' (BitCast) reinterprets the bits of its input, so no FLOAT model \
                 computes what this model computes on DOUBLEs; the model is left in DOUBLE",
                brainsmith_core::suggest::shorten(&node.name, 80)
            )));
        }
        to_single(&mut model.graph)
    }
}

/// Converts every double in `graph` to float; whether there was one.
fn to_single(graph: &mut Graph) -> Result<bool, PluginError> {
    let mut changed = false;
    for t in &mut graph.initializers {
        if let Some(s) = single(t)? {
            *t = s;
            changed = true;
        }
    }
    for v in graph
        .inputs
        .iter_mut()
        .chain(graph.outputs.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        if let Some(ValueType::Tensor(t)) = &mut v.ty
            && t.elem_type == DOUBLE
        {
            t.elem_type = FLOAT;
            changed = true;
        }
    }
    let standard = |n: &Node| n.is_onnx() || n.domain == "ai.onnx.ml";
    for node in graph.nodes.iter_mut().filter(|n| standard(n)) {
        for attr in &mut node.attributes {
            match (&mut attr.value, attr.name.as_str()) {
                (AttributeValue::Tensor(t), _) => {
                    if let Some(s) = single(t)? {
                        *t = s;
                        changed = true;
                    }
                }
                (AttributeValue::Int(to), "to" | "dtype") if *to == i64::from(DOUBLE) => {
                    *to = i64::from(FLOAT);
                    changed = true;
                }
                _ => {}
            }
        }
    }
    Ok(changed)
}
