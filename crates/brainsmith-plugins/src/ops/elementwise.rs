//! Elementwise ops: the unary ops and normalisations that keep their input's shape, the
//! broadcasting arithmetic and comparisons, `Where`, `Clip` and the casts.

use super::Domain::Onnx;
use super::{Entry, What};
use crate::eval::{
    Array, Run, Values, broadcast_dims, broadcast_index, count, elem_of, is_float, take,
};
use crate::shapes::{
    BOOL, Ctx, FLOAT, INT64, STRING, UINT8, attr_int, axis, broadcast, elem, show, typed,
};
use brainsmith_core::ir::{Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: SAME_AS_INPUT,
        what: What::Shape(same_as_input),
    },
    Entry {
        domain: Onnx,
        ops: BROADCAST,
        what: What::Shape(broadcast_op),
    },
    Entry {
        domain: Onnx,
        ops: COMPARISON,
        what: What::Shape(comparison),
    },
    Entry {
        domain: Onnx,
        ops: &["Where"],
        what: What::Shape(where_op),
    },
    Entry {
        domain: Onnx,
        ops: &["Cast", "BitCast"],
        what: What::Shape(cast),
    },
    Entry {
        domain: Onnx,
        ops: &["CastLike"],
        what: What::Shape(cast_like),
    },
    Entry {
        domain: Onnx,
        ops: PREDICATES,
        what: What::Shape(predicate),
    },
    Entry {
        domain: Onnx,
        ops: &["RMSNormalization"],
        what: What::Shape(rms_normalization),
    },
    Entry {
        domain: Onnx,
        ops: &["QuantizeLinear"],
        what: What::Shape(quantize_linear),
    },
    Entry {
        domain: Onnx,
        ops: &["DequantizeLinear"],
        what: What::Shape(dequantize_linear),
    },
    Entry {
        domain: Onnx,
        ops: &["DynamicQuantizeLinear"],
        what: What::Shape(dynamic_quantize_linear),
    },
    Entry {
        domain: Onnx,
        ops: &["StringNormalizer"],
        what: What::Shape(string_normalizer),
    },
    Entry {
        domain: Onnx,
        ops: &["StringSplit"],
        what: What::Shape(string_split),
    },
    Entry {
        domain: Onnx,
        ops: &["Cast"],
        what: What::Eval(cast_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["CastLike"],
        what: What::Eval(cast_like_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &[
            "Neg",
            "Abs",
            "Sqrt",
            "Reciprocal",
            "Exp",
            "Log",
            "Relu",
            "Sigmoid",
            "Tanh",
            "Floor",
            "Ceil",
            "Round",
            "RotaryEmbedding",
            "Sign",
            "Not",
            "PRelu",
            "Sin",
            "Cos",
        ],
        what: What::Eval(unary, 1),
    },
    Entry {
        domain: Onnx,
        ops: &[
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Pow",
            "Mod",
            "Max",
            "Min",
            "Sum",
            "Equal",
            "Less",
            "LessOrEqual",
            "Greater",
            "GreaterOrEqual",
            "And",
            "Or",
            "Xor",
        ],
        what: What::Eval(binary, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Where"],
        what: What::Eval(where_op_values, 3),
    },
    Entry {
        domain: Onnx,
        ops: &["Clip"],
        what: What::Eval(clip, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["BatchNormalization"],
        what: What::Eval(batch_norm_values, 5),
    },
];

/// Inference-mode `BatchNormalization` over axis 1: `x * a + b` with
/// `a = scale / sqrt(var + epsilon)` and `b = bias - a * mean` computed in `f64` and
/// rounded to the input's type, then one rounded `Mul` and one rounded `Add`: exactly
/// what `BatchNormToAffine` turns it into, so that rewrite changes no bit (onnxruntime
/// agrees up to the rounding of `a` and `b`).
fn batch_norm_values(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    if node.attr_int("training_mode").unwrap_or(0) != 0
        || node.outputs.iter().skip(1).any(|o| !o.is_empty())
    {
        return Err("only inference mode (one output, training_mode 0) is computed".into());
    }
    let data = x[0];
    if !is_float(data.elem) {
        return Err(format!("its input is {:?}, not floating point", data.elem));
    }
    let &[_, c, ..] = data.dims.as_slice() else {
        return Err(format!(
            "its input of shape {:?} has no channel axis",
            data.dims
        ));
    };
    let params: Vec<Vec<f64>> = x[1..5].iter().map(|a| a.as_f64()).collect();
    if let Some(p) = params.iter().find(|p| p.len() != c) {
        return Err(format!(
            "a parameter holds {} values for {c} channels",
            p.len()
        ));
    }
    let epsilon = f64::from(node.attr_float("epsilon").unwrap_or(1e-5));
    let (scale, bias, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    let a: Vec<f64> = (0..c)
        .map(|k| scale[k] / (var[k] + epsilon).sqrt())
        .collect();
    let b: Vec<f64> = (0..c).map(|k| bias[k] - a[k] * mean[k]).collect();
    let a = Array::floats(data.elem, vec![c], a).as_f64();
    let b = Array::floats(data.elem, vec![c], b).as_f64();
    let inner: usize = data.dims[2..].iter().product();
    let v = data.as_f64();
    let mul: Vec<f64> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| x * a[(i / inner) % c])
        .collect();
    let mul = Array::floats(data.elem, data.dims.clone(), mul).as_f64();
    let out: Vec<f64> = mul
        .iter()
        .enumerate()
        .map(|(i, &m)| m + b[(i / inner) % c])
        .collect();
    Ok(vec![Array::floats(data.elem, data.dims.clone(), out)])
}

fn cast_like_values(_: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    Ok(vec![x[0].cast(x[1].elem)?])
}

/// Ops whose first output has the first input's type and shape.
const SAME_AS_INPUT: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "BitwiseNot",
    "BatchNormalization",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "CumProd",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "GroupNormalization",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LRN",
    "MeanVarianceNormalization",
    "Mish",
    "Neg",
    "Not",
    "PRelu",
    "Reciprocal",
    "Relu",
    "Round",
    "RotaryEmbedding",
    "Selu",
    "Shrink",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Swish",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Trilu",
    "LayerNormalization",
    "CumSum",
];

/// Broadcasting ops whose output has the first input's element type.
const BROADCAST: &[&str] = &[
    "Add",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Div",
    "Max",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Pow",
    "StringConcat",
    "Sub",
    "Sum",
];

/// Ops whose output has the first input's shape, as booleans.
const PREDICATES: &[&str] = &["IsInf", "IsNaN", "RegexFullMatch"];

/// Broadcasting ops with a boolean output.
const COMPARISON: &[&str] = &[
    "And",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Or",
    "Xor",
];

fn same_as_input(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let mut outs = vec![x.clone()];
    match cx.node.op_type.as_str() {
        // The mask is boolean from opset 10; before, it had the input's type.
        "Dropout" => outs.push(TensorType {
            elem_type: if cx.opset >= 10 { BOOL } else { x.elem_type },
            shape: x.shape.clone(),
        }),
        "LayerNormalization" => {
            // Mean and InvStdDev: the input's shape with the normalised axes set to 1.
            let dims = cx.shape(0)?;
            let a = axis(attr_int(cx, "axis", -1), dims.len(), "axis")?;
            let reduced: Vec<Dim> = dims
                .iter()
                .enumerate()
                .map(|(i, d)| if i >= a { Dim::Value(1) } else { d.clone() })
                .collect();
            let stash = attr_int(cx, "stash_type", 1) as i32;
            outs.push(typed(stash, reduced.clone()));
            outs.push(typed(stash, reduced));
        }
        "BatchNormalization" => {
            // Training-mode running statistics, shaped like the scale.
            if let Ok(scale) = cx.input(1) {
                outs.push(scale.clone());
                outs.push(scale.clone());
            }
        }
        _ => {}
    }
    Ok(outs)
}

fn broadcast_op(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let first = cx.input(0)?;
    let mut dims = cx.shape(0)?.to_vec();
    for i in 1..cx.node.inputs.len() {
        dims = broadcast(&dims, cx.shape(i)?)?;
    }
    Ok(vec![typed(elem(first), dims)])
}

fn comparison(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = broadcast(cx.shape(0)?, cx.shape(1)?)?;
    Ok(vec![typed(BOOL, dims)])
}

fn where_op(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(1)?;
    let dims = broadcast(&broadcast(cx.shape(0)?, cx.shape(1)?)?, cx.shape(2)?)?;
    Ok(vec![typed(elem(x), dims)])
}

fn cast(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let to = cx.node.attr_int("to").ok_or("it has no `to` attribute")?;
    Ok(vec![TensorType {
        elem_type: to as i32,
        shape: cx.input(0)?.shape.clone(),
    }])
}

fn cast_like(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![TensorType {
        elem_type: elem(cx.input(1)?),
        shape: cx.input(0)?.shape.clone(),
    }])
}

fn predicate(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![TensorType {
        elem_type: BOOL,
        shape: cx.input(0)?.shape.clone(),
    }])
}

/// `RMSNormalization`: the input's shape, in the scale's element type.
fn rms_normalization(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let elem_type = cx.input(1).map_or(x.elem_type, elem);
    Ok(vec![TensorType {
        elem_type,
        shape: x.shape.clone(),
    }])
}

/// The `output_dtype` attribute, when set (0 means unset).
fn output_dtype(cx: &Ctx<'_>) -> Option<i32> {
    cx.node
        .attr_int("output_dtype")
        .filter(|&t| t != 0)
        .and_then(|t| i32::try_from(t).ok())
}

/// `QuantizeLinear`: the input's shape, in `output_dtype`, else the zero point's type,
/// else `uint8`.
fn quantize_linear(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let elem_type = match output_dtype(cx) {
        Some(t) => t,
        None if cx.has_input(2) => elem(cx.input(2)?),
        None => UINT8,
    };
    Ok(vec![TensorType {
        elem_type,
        shape: x.shape.clone(),
    }])
}

/// `DequantizeLinear`: the input's shape, in `output_dtype`, else the scale's type (float
/// before opset 19).
fn dequantize_linear(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let elem_type = match output_dtype(cx) {
        Some(t) => t,
        None if cx.opset >= 19 => elem(cx.input(1)?),
        None => FLOAT,
    };
    Ok(vec![TensorType {
        elem_type,
        shape: x.shape.clone(),
    }])
}

/// `DynamicQuantizeLinear`: `uint8` values of the input's shape, a scalar float scale and
/// a scalar `uint8` zero point.
fn dynamic_quantize_linear(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    Ok(vec![
        TensorType {
            elem_type: UINT8,
            shape: x.shape.clone(),
        },
        typed(FLOAT, vec![]),
        typed(UINT8, vec![]),
    ])
}

/// `StringNormalizer`: `[C]` or `[1, C]` strings, as many or fewer (stop words removed).
fn string_normalizer(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let shape = match cx.shape_if_known(0)? {
        Some([_]) => Some(vec![Dim::Unknown]),
        Some([one, _]) => Some(vec![one.clone(), Dim::Unknown]),
        Some(dims) => return Err(format!("input {} is neither [C] nor [1, C]", show(dims))),
        None => None,
    };
    Ok(vec![TensorType {
        elem_type: STRING,
        shape,
    }])
}

/// `StringSplit`: the substrings, one more axis of run-time length, and their counts,
/// of the input's shape.
fn string_split(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let substrings = x.shape.as_ref().map(|dims| {
        let mut d = dims.clone();
        d.push(Dim::Unknown);
        d
    });
    Ok(vec![
        TensorType {
            elem_type: STRING,
            shape: substrings,
        },
        TensorType {
            elem_type: INT64,
            shape: x.shape.clone(),
        },
    ])
}

fn cast_values(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let to = node.attr_int("to").ok_or("it has no `to` attribute")?;
    Ok(vec![x[0].cast(elem_of(to)?)?])
}

fn unary(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let op = node.op_type.as_str();
    Ok(vec![match &a.values {
        Values::Int(v) => {
            let f: fn(i64) -> i64 = match op {
                "Neg" => |x| x.wrapping_neg(),
                "Abs" => |x| x.wrapping_abs(),
                "Relu" => |x| x.max(0),
                "Sign" => i64::signum,
                "Not" => |x| i64::from(x == 0),
                "Floor" | "Ceil" | "Round" => |x| x,
                _ => return Err(format!("{op} of integers is not defined")),
            };
            Array::ints(a.elem, a.dims.clone(), v.iter().map(|&x| f(x)).collect())
        }
        Values::Float(v) => {
            let f: fn(f64) -> f64 = match op {
                "Neg" => |x| -x,
                "Abs" => f64::abs,
                "Sqrt" => f64::sqrt,
                "Reciprocal" => |x| 1.0 / x,
                "Exp" => f64::exp,
                "Log" => f64::ln,
                "Relu" => |x| if x > 0.0 { x } else { 0.0 },
                "Sigmoid" => |x| 1.0 / (1.0 + (-x).exp()),
                "Tanh" => f64::tanh,
                "Floor" => f64::floor,
                "Ceil" => f64::ceil,
                "Round" => f64::round_ties_even,
                "Sign" => |x| if x == 0.0 { 0.0 } else { x.signum() },
                "Sin" => f64::sin,
                "Cos" => f64::cos,
                _ => return Err(format!("{op} of floats is not defined")),
            };
            Array::floats(a.elem, a.dims.clone(), v.iter().map(|&x| f(x)).collect())
        }
    }])
}

/// Applies `f` elementwise with broadcasting.
fn zip_broadcast<T: Copy, U>(
    a: &[T],
    a_dims: &[usize],
    b: &[T],
    b_dims: &[usize],
    f: impl Fn(T, T) -> Result<U, String>,
) -> Result<(Vec<usize>, Vec<U>), String> {
    let out = broadcast_dims(a_dims, b_dims)?;
    let ia = broadcast_index(a_dims, &out);
    let ib = broadcast_index(b_dims, &out);
    let values = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| f(a[i], b[j]))
        .collect::<Result<Vec<U>, String>>()?;
    Ok((out, values))
}

fn binary(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let op = node.op_type.as_str();
    if x.is_empty() {
        return Err("it has no inputs".into());
    }
    let mut acc = x[0].clone();
    for b in &x[1..] {
        count(&broadcast_dims(&acc.dims, &b.dims)?, run)?;
        acc = binary2(node, op, &acc, b)?;
    }
    Ok(vec![acc])
}

fn binary2(node: &Node, op: &str, a: &Array, b: &Array) -> Result<Array, String> {
    let comparison = matches!(
        op,
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor"
    );
    if is_float(a.elem) || is_float(b.elem) {
        let (fa, fb) = (a.as_f64(), b.as_f64());
        if comparison {
            let f: fn(f64, f64) -> bool = match op {
                "Equal" => |x, y| x == y,
                "Less" => |x, y| x < y,
                "LessOrEqual" => |x, y| x <= y,
                "Greater" => |x, y| x > y,
                "GreaterOrEqual" => |x, y| x >= y,
                _ => return Err(format!("{op} of floats is not defined")),
            };
            let (dims, v) =
                zip_broadcast(&fa, &a.dims, &fb, &b.dims, |x, y| Ok(i64::from(f(x, y))))?;
            return Ok(Array::ints(ElemType::Bool, dims, v));
        }
        let fmod = node.attr_int("fmod").unwrap_or(0);
        let f: fn(f64, f64) -> f64 = match op {
            "Add" | "Sum" => |x, y| x + y,
            "Sub" => |x, y| x - y,
            "Mul" => |x, y| x * y,
            "Div" => |x, y| x / y,
            "Pow" => f64::powf,
            "Max" => f64::max,
            "Min" => f64::min,
            "Mod" if fmod == 1 => |x, y| x % y,
            "Mod" => return Err("Mod of floats needs fmod = 1".into()),
            _ => return Err(format!("{op} is not defined here")),
        };
        // Pow keeps the base's type; the others need equal types, and ONNX forbids mixing.
        let elem = if is_float(a.elem) { a.elem } else { b.elem };
        let (dims, v) = zip_broadcast(&fa, &a.dims, &fb, &b.dims, |x, y| Ok(f(x, y)))?;
        if op == "Pow" && !is_float(a.elem) {
            return Array::floats(ElemType::Double, dims, v).cast(a.elem);
        }
        return Ok(Array::floats(elem, dims, v));
    }
    let (ia, ib) = (a.as_i64()?, b.as_i64()?);
    let fmod = node.attr_int("fmod").unwrap_or(0);
    let f: fn(i64, i64) -> Result<i64, String> = match op {
        "Add" | "Sum" => |x, y| Ok(x.wrapping_add(y)),
        "Sub" => |x, y| Ok(x.wrapping_sub(y)),
        "Mul" => |x, y| Ok(x.wrapping_mul(y)),
        "Div" => |x, y| {
            x.checked_div(y)
                .ok_or_else(|| "integer division by zero".to_owned())
        },
        "Pow" => |x, y| {
            Ok(if y < 0 {
                0
            } else {
                x.wrapping_pow(y.min(u32::MAX.into()) as u32)
            })
        },
        "Max" => |x, y| Ok(x.max(y)),
        "Min" => |x, y| Ok(x.min(y)),
        "Mod" if fmod == 1 => |x, y| x.checked_rem(y).ok_or_else(|| "modulo by zero".to_owned()),
        // The sign of the divisor, as Python's %.
        "Mod" => |x, y| {
            let r = x
                .checked_rem(y)
                .ok_or_else(|| "modulo by zero".to_owned())?;
            Ok(if r != 0 && ((r < 0) != (y < 0)) {
                r + y
            } else {
                r
            })
        },
        "Equal" => |x, y| Ok(i64::from(x == y)),
        "Less" => |x, y| Ok(i64::from(x < y)),
        "LessOrEqual" => |x, y| Ok(i64::from(x <= y)),
        "Greater" => |x, y| Ok(i64::from(x > y)),
        "GreaterOrEqual" => |x, y| Ok(i64::from(x >= y)),
        "And" => |x, y| Ok(i64::from(x != 0 && y != 0)),
        "Or" => |x, y| Ok(i64::from(x != 0 || y != 0)),
        "Xor" => |x, y| Ok(i64::from((x != 0) != (y != 0))),
        _ => return Err(format!("{op} is not defined here")),
    };
    let (dims, v) = zip_broadcast(&ia, &a.dims, &ib, &b.dims, f)?;
    let elem = if comparison { ElemType::Bool } else { a.elem };
    Ok(Array::ints(elem, dims, v))
}

fn where_op_values(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    if x.len() != 3 {
        return Err("Where needs three inputs".into());
    }
    let (c, a, b) = (x[0], x[1], x[2]);
    let out = broadcast_dims(&broadcast_dims(&c.dims, &a.dims)?, &b.dims)?;
    count(&out, run)?;
    let (ic, ia, ib) = (
        broadcast_index(&c.dims, &out),
        broadcast_index(&a.dims, &out),
        broadcast_index(&b.dims, &out),
    );
    // Both branches side by side; each output element picks from one half.
    let values = match (&a.values, &b.values) {
        (Values::Float(va), Values::Float(vb)) if a.elem == b.elem => {
            Values::Float([&va[..], vb].concat())
        }
        (Values::Int(va), Values::Int(vb)) if a.elem == b.elem => {
            Values::Int([&va[..], vb].concat())
        }
        _ => return Err("Where's branches differ in element type".into()),
    };
    let both = Array {
        elem: a.elem,
        dims: vec![a.len() + b.len()],
        values,
    };
    let cond = c.as_i64()?;
    let picks: Vec<usize> = (0..ic.len())
        .map(|k| {
            if cond[ic[k]] != 0 {
                ia[k]
            } else {
                a.len() + ib[k]
            }
        })
        .collect();
    Ok(vec![take(&both, out, &picks)])
}

fn clip(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let (lo, hi) = if run.opset < 11 {
        (
            node.attr_float("min").map_or(f64::NEG_INFINITY, f64::from),
            node.attr_float("max").map_or(f64::INFINITY, f64::from),
        )
    } else {
        (
            x.get(1).map_or(f64::NEG_INFINITY, |m| {
                m.as_f64().first().copied().unwrap_or(f64::NEG_INFINITY)
            }),
            x.get(2).map_or(f64::INFINITY, |m| {
                m.as_f64().first().copied().unwrap_or(f64::INFINITY)
            }),
        )
    };
    let v: Vec<f64> = a.as_f64().iter().map(|&v| v.max(lo).min(hi)).collect();
    Ok(vec![
        Array::floats(ElemType::Double, a.dims.clone(), v).cast(a.elem)?,
    ])
}
