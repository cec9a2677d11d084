//! Ops that make tensors: `Constant`, `ConstantOfShape`, `Range`, the ones shaped like
//! their input (`EyeLike`, `RandomUniformLike`, `RandomNormalLike`, `Bernoulli`),
//! `OneHot` and `ImageDecoder`.

use super::Domain::Onnx;
use super::{Entry, What};
use crate::eval::{Array, Run, Values, count, dims_from};
use crate::shapes::{Ctx, FLOAT, INT64, UINT8, elem, known, typed, unknown_dims};
use brainsmith_core::ir::{AttributeValue, Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &["Constant"],
        what: What::Shape(constant),
    },
    Entry {
        domain: Onnx,
        ops: &["ConstantOfShape"],
        what: What::Shape(constant_of_shape),
    },
    Entry {
        domain: Onnx,
        ops: &["Range"],
        what: What::Shape(range),
    },
    Entry {
        domain: Onnx,
        ops: &[
            "EyeLike",
            "RandomUniformLike",
            "RandomNormalLike",
            "Bernoulli",
        ],
        what: What::Shape(like),
    },
    Entry {
        domain: Onnx,
        ops: &["OneHot"],
        what: What::Shape(one_hot),
    },
    Entry {
        domain: Onnx,
        ops: &["ImageDecoder"],
        what: What::Shape(image_decoder),
    },
    Entry {
        domain: Onnx,
        ops: &["Constant"],
        what: What::Eval(constant_values, 0),
    },
    Entry {
        domain: Onnx,
        ops: &["ConstantOfShape"],
        what: What::Eval(constant_of_shape_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Range"],
        what: What::Eval(range_values, 3),
    },
];

fn constant(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let node = cx.node;
    let t = match node.attributes.first().map(|a| (&a.name[..], &a.value)) {
        Some((_, AttributeValue::Tensor(t))) => known(t.elem_type() as i32, t.dims()),
        Some(("value_float", _)) => known(FLOAT, &[]),
        Some(("value_floats", AttributeValue::Floats(v))) => known(FLOAT, &[v.len() as i64]),
        Some(("value_int", _)) => known(INT64, &[]),
        Some(("value_ints", AttributeValue::Ints(v))) => known(INT64, &[v.len() as i64]),
        Some(("value_string", _)) => known(8, &[]),
        Some(("value_strings", AttributeValue::Strings(v))) => known(8, &[v.len() as i64]),
        _ => return Err("it has no value attribute this rule reads".into()),
    };
    Ok(vec![t])
}

fn constant_of_shape(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let elem_type = match cx.node.attribute("value") {
        Some(AttributeValue::Tensor(t)) => t.elem_type() as i32,
        _ => FLOAT,
    };
    match cx.const_ints(0)? {
        Some(dims) => Ok(vec![known(elem_type, &dims)]),
        None => Ok(vec![unknown_dims(cx, elem_type, 0)?]),
    }
}

fn range(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let n = match (
        cx.const_floats(0)?,
        cx.const_floats(1)?,
        cx.const_floats(2)?,
    ) {
        (Some(s), Some(l), Some(d))
            if !s.is_empty() && !l.is_empty() && !d.is_empty() && d[0] != 0.0 =>
        {
            Dim::Value((((l[0] - s[0]) / d[0]).ceil() as i64).max(0))
        }
        _ => Dim::Unknown,
    };
    Ok(vec![typed(elem(x), vec![n])])
}

/// A tensor of the input's shape, in the `dtype` attribute's element type, else the
/// input's.
fn like(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let elem_type = cx
        .node
        .attr_int("dtype")
        .and_then(|t| i32::try_from(t).ok())
        .unwrap_or(x.elem_type);
    Ok(vec![TensorType {
        elem_type,
        shape: x.shape.clone(),
    }])
}

/// `OneHot`: the indices' shape with an axis of `depth` inserted at `axis`, in the
/// values' element type.
fn one_hot(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let values = cx.input(2)?;
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![TensorType {
            elem_type: elem(values),
            shape: None,
        }]);
    };
    let rank = dims.len() as i64 + 1;
    let a = cx.node.attr_int("axis").unwrap_or(-1);
    let at = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&at) {
        return Err(format!("axis {a} is out of range for rank {rank}"));
    }
    // The depth is a scalar (or one value), rounded down when a float.
    let depth = match cx.const_floats(1)?.as_deref() {
        Some([d]) if *d >= 1.0 => Dim::Value(d.floor() as i64),
        Some([d]) => return Err(format!("depth {d} is not positive")),
        _ => Dim::Unknown,
    };
    let mut out = dims.to_vec();
    out.insert(at as usize, depth);
    Ok(vec![typed(elem(values), out)])
}

/// `ImageDecoder`: `uint8` pixels `[H, W, C]`, their sizes those of the encoded image.
fn image_decoder(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![typed(UINT8, vec![Dim::Unknown; 3])])
}

fn constant_values(node: &Node, _: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let a = node.attributes.first().ok_or("it has no value attribute")?;
    let array = match (&a.name[..], &a.value) {
        (_, AttributeValue::Tensor(t)) => Array::from_tensor(t)?,
        ("value_float", AttributeValue::Float(f)) => {
            Array::floats(ElemType::Float, vec![], vec![f64::from(*f)])
        }
        ("value_floats", AttributeValue::Floats(v)) => Array::floats(
            ElemType::Float,
            vec![v.len()],
            v.iter().map(|&f| f64::from(f)).collect(),
        ),
        ("value_int", AttributeValue::Int(i)) => Array::ints(ElemType::Int64, vec![], vec![*i]),
        ("value_ints", AttributeValue::Ints(v)) => {
            Array::ints(ElemType::Int64, vec![v.len()], v.clone())
        }
        (name, _) => return Err(format!("its `{name}` attribute holds no numeric value")),
    };
    Ok(vec![array])
}

fn constant_of_shape_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let dims = dims_from(&x[0].as_i64()?)?;
    let n = count(&dims, run)?;
    let value = match node.attribute("value") {
        Some(AttributeValue::Tensor(t)) => Array::from_tensor(t)?,
        _ => Array::floats(ElemType::Float, vec![1], vec![0.0]),
    };
    Ok(vec![match value.values {
        Values::Float(v) => {
            Array::floats(value.elem, dims, vec![v.first().copied().unwrap_or(0.0); n])
        }
        Values::Int(v) => Array::ints(value.elem, dims, vec![v.first().copied().unwrap_or(0); n]),
    }])
}

fn range_values(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let scalar = |a: &Array| {
        a.as_f64()
            .first()
            .copied()
            .ok_or("an empty input".to_owned())
    };
    let (start, limit, delta) = (scalar(x[0])?, scalar(x[1])?, scalar(x[2])?);
    if delta == 0.0 {
        return Err("delta is 0".into());
    }
    // Saturates: an absurd count (or NaN, read as 0) meets the limit below.
    let n = count(&[(((limit - start) / delta).ceil().max(0.0)) as usize], run)?;
    let v: Vec<f64> = (0..n).map(|i| start + i as f64 * delta).collect();
    Ok(vec![
        Array::floats(ElemType::Double, vec![n], v).cast(x[0].elem)?,
    ])
}
