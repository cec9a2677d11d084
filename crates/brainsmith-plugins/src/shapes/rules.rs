//! One shape rule per op type: the ONNX standard ops found in real models, and the QONNX
//! and FINN custom ops that keep their input's shape.

use std::sync::OnceLock;

use brainsmith_core::ir::{AttributeValue, Dim, TensorType};
use rustc_hash::FxHashMap;

use super::{BOOL, Ctx, FLOAT, INT64, axis, elem, known, shape_window, typed};

type Rule = fn(&Ctx<'_>) -> Result<Vec<TensorType>, String>;

/// Ops whose first output has the first input's type and shape.
const SAME_AS_INPUT: &[&str] = &[
    "Abs",
    "Acos",
    "Asin",
    "Atan",
    "BatchNormalization",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Cosh",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Hardmax",
    "Identity",
    "InstanceNormalization",
    "IsInf",
    "IsNaN",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LRN",
    "MeanVarianceNormalization",
    "Mish",
    "Neg",
    "Not",
    "Reciprocal",
    "Relu",
    "Round",
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
    "Tan",
    "Tanh",
    "ThresholdedRelu",
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
    "PRelu",
    "Sub",
    "Sum",
];

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

/// Reductions with `axes` and `keepdims`.
const REDUCE: &[&str] = &[
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
];

/// QONNX and FINN custom ops (any domain) whose output is a float tensor shaped like the
/// first input.
const QUANT_LIKE: &[&str] = &[
    "Quant",
    "BipolarQuant",
    "FloatQuant",
    "Trunc",
    "MultiThreshold",
];

fn rule(node: &brainsmith_core::ir::Node) -> Option<Rule> {
    let op = node.op_type.as_str();
    if !node.is_onnx() {
        return match op {
            _ if QUANT_LIKE.contains(&op) => Some(quant_like),
            "Im2Col" => Some(im2col),
            _ => None,
        };
    }
    onnx_rules().get(op).copied()
}

/// The rules of the default domain by op type, made once: matching an op type against
/// some hundred names cost a tenth of shape inference.
fn onnx_rules() -> &'static FxHashMap<&'static str, Rule> {
    static RULES: OnceLock<FxHashMap<&'static str, Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let groups: [(&[&str], Rule); 4] = [
            (SAME_AS_INPUT, same_as_input),
            (BROADCAST, broadcast_op),
            (COMPARISON, comparison),
            (REDUCE, reduce),
        ];
        let grouped = groups
            .into_iter()
            .flat_map(|(ops, rule)| ops.iter().map(move |&op| (op, rule)));
        NAMED.iter().copied().chain(grouped).collect()
    })
}

/// Op types of the default domain with a rule of their own.
const NAMED: &[(&str, Rule)] = &[
    ("ArgMax", arg_reduce),
    ("ArgMin", arg_reduce),
    ("Attention", attention),
    ("AveragePool", pool),
    ("MaxPool", pool),
    ("LpPool", pool),
    ("Cast", cast),
    ("CastLike", cast_like),
    ("Concat", concat),
    ("Constant", constant),
    ("ConstantOfShape", constant_of_shape),
    ("Conv", conv),
    ("DepthToSpace", depth_to_space),
    ("Expand", expand),
    ("Flatten", flatten),
    ("Gather", gather),
    ("Gemm", gemm),
    ("GlobalAveragePool", global_pool),
    ("GlobalMaxPool", global_pool),
    ("GlobalLpPool", global_pool),
    ("MatMul", matmul),
    ("MatMulInteger", matmul),
    ("Pad", pad),
    ("Range", range),
    ("Reshape", reshape),
    ("Resize", resize),
    ("Upsample", resize),
    ("Shape", shape),
    ("Size", size),
    ("Slice", slice),
    ("SpaceToDepth", depth_to_space),
    ("Split", split),
    ("Squeeze", squeeze),
    ("Tile", tile),
    ("TopK", top_k),
    ("Transpose", transpose),
    ("Unsqueeze", unsqueeze),
    ("Where", where_op),
];

/// Every op type with a rule: the default domain's, then the custom ones (any domain).
#[cfg(test)]
pub(crate) fn op_types() -> impl Iterator<Item = (&'static str, bool)> {
    const CUSTOM: &[&str] = &["Im2Col"];
    onnx_rules()
        .keys()
        .map(|&op| (op, true))
        .chain(QUANT_LIKE.iter().chain(CUSTOM).map(|&op| (op, false)))
}

/// Whether some rule covers `node`.
pub fn supports(node: &brainsmith_core::ir::Node) -> bool {
    rule(node).is_some()
}

pub(super) fn infer(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let rule = rule(cx.node).ok_or_else(|| "no shape rule for this op type".to_owned())?;
    rule(cx)
}

fn attr_int(cx: &Ctx<'_>, name: &str, default: i64) -> i64 {
    cx.node.attr_int(name).unwrap_or(default)
}

fn attr_ints<'a>(cx: &'a Ctx<'_>, name: &str) -> Option<&'a [i64]> {
    cx.node.attr_ints(name)
}

fn dim_value(d: &Dim) -> Option<i64> {
    match d {
        Dim::Value(v) => Some(*v),
        _ => None,
    }
}

fn static_dims(dims: &[Dim]) -> Option<Vec<i64>> {
    dims.iter().map(dim_value).collect()
}

/// The number of elements of a shape: `None` when a dimension is not static, an error
/// when the count leaves `i64` (absurd sizes must not wrap into a wrong dimension).
fn product(dims: &[Dim]) -> Result<Option<i64>, String> {
    let mut total = 1i64;
    for d in dims {
        let Some(v) = dim_value(d) else {
            return Ok(None);
        };
        total = total
            .checked_mul(v)
            .ok_or_else(|| format!("shape {} has more elements than 64 bits count", show(dims)))?;
    }
    Ok(Some(total))
}

/// A dimension computed in `i128` from `i64` operands (which cannot overflow there),
/// or an error when it does not fit back into `i64`.
fn fit(v: i128) -> Result<i64, String> {
    i64::try_from(v).map_err(|_| format!("a dimension would be {v}, beyond 64 bits"))
}

/// Multidirectional (numpy) broadcasting of two shapes.
fn broadcast(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|j| &a[j]);
        let db = (i + b.len()).checked_sub(rank).map(|j| &b[j]);
        out.push(match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) => match (x, y) {
                (Dim::Value(1), other) | (other, Dim::Value(1)) => other.clone(),
                (Dim::Value(p), Dim::Value(q)) if p == q => Dim::Value(*p),
                (Dim::Value(_), Dim::Value(_)) => {
                    return Err(format!(
                        "shapes {} and {} do not broadcast",
                        show(a),
                        show(b)
                    ));
                }
                (Dim::Value(v), _) | (_, Dim::Value(v)) => Dim::Value(*v),
                (Dim::Param(p), Dim::Param(q)) if p == q => Dim::Param(p.clone()),
                _ => Dim::Unknown,
            },
            (None, None) => Dim::Unknown,
        });
    }
    Ok(out)
}

/// `[1, 3, ?]` for messages.
pub fn show(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Value(v) => v.to_string(),
            Dim::Param(p) => p.clone(),
            Dim::Unknown => "?".to_owned(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

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

fn quant_like(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    Ok(vec![TensorType {
        elem_type: FLOAT,
        shape: x.shape.clone(),
    }])
}

/// QONNX's `Im2Col`: an NHWC input `[N, H, W, C]` becomes `[N, OH, OW, kh·kw·C]`, one row
/// per output pixel holding its window. The input's own shape counts (qonnx reads the
/// `input_shape` attribute and so always says batch 1); the attribute stands in for
/// dimensions the input does not know.
fn im2col(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let declared: Option<Vec<i64>> = cx.node.attr_str("input_shape").and_then(|s| {
        s.trim_matches(|c| c == '(' || c == ')' || c == '[' || c == ']')
            .split(',')
            .map(|d| d.trim().parse().ok())
            .collect()
    });
    let x: Vec<Dim> = match (cx.shape(0), &declared) {
        (Ok(dims), _) if dims.len() == 4 => dims
            .iter()
            .zip(
                declared
                    .iter()
                    .flatten()
                    .map(|&d| Dim::Value(d))
                    .chain(std::iter::repeat(Dim::Unknown)),
            )
            .map(|(d, fallback)| {
                if dim_value(d).is_some() {
                    d.clone()
                } else {
                    fallback
                }
            })
            .collect(),
        (Ok(dims), _) => return Err(format!("its input {} is not NHWC", show(dims))),
        (Err(_), Some(d)) if d.len() == 4 => d.iter().map(|&v| Dim::Value(v)).collect(),
        (Err(e), _) => return Err(e),
    };
    let two = |name: &str, default: [i64; 2]| -> Result<[i64; 2], String> {
        match attr_ints(cx, name) {
            None => Ok(default),
            Some(&[a, b]) => Ok([a, b]),
            Some(other) => Err(format!("`{name}` {other:?} is not two values")),
        }
    };
    let kernel = two("kernel_size", [0, 0])?;
    if kernel.contains(&0) {
        return Err("it has no `kernel_size`".into());
    }
    let stride = two("stride", [1, 1])?;
    if let Some(bad) = stride.iter().find(|&&s| s < 1) {
        return Err(format!("`stride` must be positive, not {bad}"));
    }
    let dilation = two("dilations", [1, 1])?;
    let pads = match attr_ints(cx, "pad_amount") {
        None => [0; 4],
        Some(&[t, l, b, r]) => [t, l, b, r],
        Some(other) => return Err(format!("`pad_amount` {other:?} is not four values")),
    };
    let mut out = vec![x[0].clone()];
    for i in 0..2 {
        out.push(match dim_value(&x[i + 1]) {
            Some(size) => {
                let w = |v: i64| i128::from(v);
                let v = fit((w(size) + w(pads[i]) + w(pads[i + 2])
                    - w(dilation[i]) * (w(kernel[i]) - 1)
                    - 1)
                    / w(stride[i])
                    + 1)?;
                if v < 1 {
                    return Err(format!(
                        "the window does not fit: spatial size {size}, kernel {}",
                        kernel[i]
                    ));
                }
                Dim::Value(v)
            }
            None => Dim::Unknown,
        });
    }
    out.push(match dim_value(&x[3]) {
        Some(c) => Dim::Value(fit(i128::from(kernel[0])
            * i128::from(kernel[1])
            * i128::from(c))?),
        None => Dim::Unknown,
    });
    let elem = cx.input(0).map_or(FLOAT, |t| t.elem_type);
    Ok(vec![typed(elem, out)])
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

fn shape(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let window = shape_window(cx.node, cx.shape(0)?.len());
    Ok(vec![known(INT64, &[window.len() as i64])])
}

fn size(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![known(INT64, &[])])
}

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

/// When a shape is computed at run time: a tensor of the rank given by the static length
/// of 1-D input `i`, every dimension unknown, or of unknown rank. Not a problem to report:
/// the model itself leaves the shape open.
fn unknown_dims(cx: &Ctx<'_>, elem_type: i32, i: usize) -> Result<TensorType, String> {
    Ok(TensorType {
        elem_type,
        shape: cx.length(i)?.map(|rank| vec![Dim::Unknown; rank]),
    })
}

fn reshape(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let target = match cx.opset {
        ..5 => attr_ints(cx, "shape")
            .ok_or("it has no `shape` attribute")?
            .to_vec(),
        _ => match cx.const_ints(1)? {
            Some(target) => target,
            None => return Ok(vec![unknown_dims(cx, elem(x), 1)?]),
        },
    };
    let dims = cx.shape(0)?;
    let allowzero = attr_int(cx, "allowzero", 0) != 0;
    let mut out: Vec<Dim> = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            0 if !allowzero => dims.get(i).cloned().ok_or_else(|| {
                format!(
                    "target dimension {i} is 0 (copy), but the input has rank {}",
                    dims.len()
                )
            })?,
            -1 => {
                if infer_at.replace(i).is_some() {
                    return Err("the target shape has more than one -1".into());
                }
                Dim::Unknown
            }
            t if t < -1 => return Err(format!("target dimension {i} is {t}")),
            t => Dim::Value(t),
        });
    }
    if let Some(i) = infer_at {
        let mut others = out.clone();
        others.remove(i);
        if let (Some(total), Some(rest)) = (product(dims)?, product(&others)?) {
            if rest == 0 || total % rest != 0 {
                return Err(format!(
                    "input of shape {} ({total} elements) cannot take target shape {target:?}",
                    show(dims)
                ));
            }
            out[i] = Dim::Value(total / rest);
        }
    } else if let (Some(total), Some(new)) = (product(dims)?, product(&out)?)
        && total != new
    {
        return Err(format!(
            "input of shape {} ({total} elements) cannot take target shape {target:?} ({new} elements)",
            show(dims)
        ));
    }
    Ok(vec![typed(elem(x), out)])
}

fn flatten(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let rank = dims.len();
    let a = attr_int(cx, "axis", 1);
    let a = if a < 0 { a + rank as i64 } else { a };
    if !(0..=rank as i64).contains(&a) {
        return Err(format!("axis {a} is out of range for rank {rank}"));
    }
    let (outer, inner) = dims.split_at(a as usize);
    let d = |p: Option<i64>| p.map_or(Dim::Unknown, Dim::Value);
    Ok(vec![typed(
        elem(x),
        vec![d(product(outer)?), d(product(inner)?)],
    )])
}

/// Axes from the attribute (older opsets) or from input `i`.
fn axes_of(cx: &Ctx<'_>, i: usize, input_since: i64) -> Result<Option<Vec<i64>>, String> {
    if cx.opset >= input_since {
        if cx.has_input(i) {
            return cx.required_ints(i, "axes").map(Some);
        }
        Ok(None)
    } else {
        Ok(attr_ints(cx, "axes").map(<[i64]>::to_vec))
    }
}

fn squeeze(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let out: Vec<Dim> = match axes_of(cx, 1, 13)? {
        Some(axes) => {
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| axis(a, dims.len(), "axis"))
                .collect::<Result<_, _>>()?;
            for &a in &axes {
                if matches!(dims[a], Dim::Value(v) if v != 1) {
                    return Err(format!(
                        "axis {a} has size {} and cannot be squeezed",
                        show(&dims[a..=a])
                    ));
                }
            }
            dims.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, d)| d.clone())
                .collect()
        }
        None => {
            if dims.iter().any(|d| !matches!(d, Dim::Value(_))) {
                return Err("it has no axes and the input shape is not static".into());
            }
            dims.iter()
                .filter(|d| **d != Dim::Value(1))
                .cloned()
                .collect()
        }
    };
    Ok(vec![typed(elem(x), out)])
}

fn unsqueeze(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let axes = axes_of(cx, 1, 13)?.ok_or("it has no axes")?;
    let rank = dims.len() + axes.len();
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank, "axis"))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    let mut rest = dims.iter();
    let out = (0..rank)
        .map(|i| {
            if axes.binary_search(&i).is_ok() {
                Dim::Value(1)
            } else {
                rest.next().cloned().unwrap_or(Dim::Unknown)
            }
        })
        .collect();
    Ok(vec![typed(elem(x), out)])
}

fn transpose(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let perm: Vec<i64> = match attr_ints(cx, "perm") {
        Some(p) => p.to_vec(),
        None => (0..dims.len() as i64).rev().collect(),
    };
    if perm.len() != dims.len() {
        return Err(format!("perm {perm:?} does not match rank {}", dims.len()));
    }
    let out = perm
        .iter()
        .map(|&p| axis(p, dims.len(), "perm entry").map(|a| dims[a].clone()))
        .collect::<Result<_, _>>()?;
    Ok(vec![typed(elem(x), out)])
}

fn concat(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let first = cx.input(0)?;
    let mut out = cx.shape(0)?.to_vec();
    let a = axis(
        cx.node
            .attr_int("axis")
            .ok_or("it has no `axis` attribute")?,
        out.len(),
        "axis",
    )?;
    for i in 1..cx.node.inputs.len() {
        let dims = cx.shape(i)?;
        if dims.len() != out.len() {
            return Err(format!(
                "input {i} has rank {}, input 0 has rank {}",
                dims.len(),
                out.len()
            ));
        }
        out[a] = match (&out[a], &dims[a]) {
            (Dim::Value(p), Dim::Value(q)) => Dim::Value(fit(i128::from(*p) + i128::from(*q))?),
            _ => Dim::Unknown,
        };
        for (j, d) in dims.iter().enumerate() {
            if j != a && matches!(out[j], Dim::Unknown) {
                out[j] = d.clone();
            }
        }
    }
    Ok(vec![typed(elem(first), out)])
}

fn slice(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        (
            attr_ints(cx, "starts")
                .ok_or("it has no `starts`")?
                .to_vec(),
            attr_ints(cx, "ends").ok_or("it has no `ends`")?.to_vec(),
            attr_ints(cx, "axes").map(<[i64]>::to_vec),
            None,
        )
    } else {
        (
            cx.required_ints(1, "starts")?,
            cx.required_ints(2, "ends")?,
            if cx.has_input(3) {
                Some(cx.required_ints(3, "axes")?)
            } else {
                None
            },
            if cx.has_input(4) {
                Some(cx.required_ints(4, "steps")?)
            } else {
                None
            },
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if ends.len() != starts.len() || axes.len() != starts.len() {
        return Err("starts, ends and axes differ in length".into());
    }
    let mut out = dims.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        let a = axis(a, dims.len(), "axis")?;
        let step = steps.as_ref().map_or(1, |s| s.get(k).copied().unwrap_or(1));
        if step == 0 {
            return Err("a step is 0".into());
        }
        let Dim::Value(n) = dims[a] else {
            out[a] = Dim::Unknown;
            continue;
        };
        let clamp = |v: i64, lo: i64, hi: i64| {
            let v = if v < 0 { v.saturating_add(n) } else { v };
            v.clamp(lo, hi)
        };
        // `n` is not negative (see `Ctx::shape`), so the clamps are well formed; the
        // count is taken in `i128`, where an extreme step cannot overflow.
        let forward = step > 0;
        let (lo, hi) = if forward { (0, n) } else { (-1, n - 1) };
        let (s, e) = (clamp(starts[k], lo, hi), clamp(ends[k], lo, hi));
        let (span, stride) = if forward {
            (i128::from(e) - i128::from(s), i128::from(step))
        } else {
            (i128::from(s) - i128::from(e), -i128::from(step))
        };
        let len = if span > 0 {
            (span + stride - 1) / stride
        } else {
            0
        };
        out[a] = Dim::Value(fit(len)?);
    }
    Ok(vec![typed(elem(x), out)])
}

fn gather(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let indices = cx.shape(1)?;
    let a = axis(attr_int(cx, "axis", 0), dims.len(), "axis")?;
    let out = dims[..a]
        .iter()
        .chain(indices)
        .chain(&dims[a + 1..])
        .cloned()
        .collect();
    Ok(vec![typed(elem(x), out)])
}

fn expand(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let target: Vec<Dim> = match cx.const_ints(1)? {
        Some(target) => target.iter().map(|&d| Dim::Value(d)).collect(),
        // Broadcasting against unknown sizes still keeps every input dimension above 1.
        None => match cx.length(1)? {
            Some(rank) => vec![Dim::Unknown; rank],
            None => return Ok(vec![unknown_dims(cx, elem(x), 1)?]),
        },
    };
    Ok(vec![typed(elem(x), broadcast(cx.shape(0)?, &target)?)])
}

fn tile(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let repeats = cx.required_ints(1, "repeats")?;
    let dims = cx.shape(0)?;
    if repeats.len() != dims.len() {
        return Err("repeats and the input rank differ".into());
    }
    let out = dims
        .iter()
        .zip(&repeats)
        .map(|(d, &r)| match dim_value(d) {
            Some(v) => fit(i128::from(v) * i128::from(r)).map(Dim::Value),
            None => Ok(Dim::Unknown),
        })
        .collect::<Result<_, _>>()?;
    Ok(vec![typed(elem(x), out)])
}

fn matmul(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let a = cx.shape(0)?;
    let b = cx.shape(1)?;
    if a.is_empty() || b.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let (mut a2, mut b2) = (a.to_vec(), b.to_vec());
    if a2.len() == 1 {
        a2.insert(0, Dim::Value(1));
    }
    if b2.len() == 1 {
        b2.push(Dim::Value(1));
    }
    let (m, ka) = (&a2[a2.len() - 2], &a2[a2.len() - 1]);
    let (kb, n) = (&b2[b2.len() - 2], &b2[b2.len() - 1]);
    if let (Dim::Value(p), Dim::Value(q)) = (ka, kb)
        && p != q
    {
        return Err(format!(
            "inner dimensions differ: {} times {}",
            show(a),
            show(b)
        ));
    }
    let mut out = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if a.len() > 1 {
        out.push(m.clone());
    }
    if b.len() > 1 {
        out.push(n.clone());
    }
    let elem_type = if cx.node.op_type == "MatMulInteger" {
        6
    } else {
        elem(cx.input(0)?)
    };
    Ok(vec![typed(elem_type, out)])
}

fn gemm(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let a = cx.shape(0)?;
    let b = cx.shape(1)?;
    if a.len() != 2 || b.len() != 2 {
        return Err(format!(
            "Gemm needs 2-D inputs, got {} and {}",
            show(a),
            show(b)
        ));
    }
    let m = if attr_int(cx, "transA", 0) != 0 {
        &a[1]
    } else {
        &a[0]
    };
    let n = if attr_int(cx, "transB", 0) != 0 {
        &b[0]
    } else {
        &b[1]
    };
    Ok(vec![typed(elem(cx.input(0)?), vec![m.clone(), n.clone()])])
}

/// Output spatial sizes of a convolution or pooling window.
fn windows(
    cx: &Ctx<'_>,
    spatial: &[Dim],
    kernel: &[i64],
    ceil_mode: bool,
) -> Result<Vec<Dim>, String> {
    let n = spatial.len();
    if kernel.len() != n {
        return Err(format!(
            "kernel {kernel:?} does not match {n} spatial dimensions"
        ));
    }
    // Read in place (no copies), after checking lengths and signs, so that indexing
    // cannot fail and no step divides by zero.
    let list = |name: &str, len: usize, positive: bool| -> Result<Option<&[i64]>, String> {
        let Some(values) = attr_ints(cx, name) else {
            return Ok(None);
        };
        if values.len() != len {
            return Err(format!(
                "`{name}` has {} values for {n} spatial dimensions",
                values.len()
            ));
        }
        if let Some(bad) = values.iter().find(|&&v| positive && v < 1) {
            return Err(format!("`{name}` must be positive, not {bad}"));
        }
        Ok(Some(values))
    };
    let strides = list("strides", n, true)?;
    let dilations = list("dilations", n, true)?;
    let pads = list("pads", 2 * n, false)?;
    let at = |values: Option<&[i64]>, i: usize, default: i64| values.map_or(default, |v| v[i]);
    let auto_pad = cx.node.attr_str("auto_pad").unwrap_or("NOTSET");
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Dim::Value(size) = spatial[i] else {
            out.push(Dim::Unknown);
            continue;
        };
        // In `i128`, where sums and products of a few `i64` cannot overflow.
        let w = |v: i64| i128::from(v);
        let (size, s, d) = (w(size), w(at(strides, i, 1)), w(at(dilations, i, 1)));
        let effective = (w(kernel[i]) - 1) * d + 1;
        let v = match auto_pad {
            "SAME_UPPER" | "SAME_LOWER" => (size + s - 1) / s,
            "VALID" => (size - effective) / s + 1,
            _ => {
                let (begin, end) = (w(at(pads, i, 0)), w(at(pads, i + n, 0)));
                let total = size + begin + end - effective;
                if ceil_mode {
                    let v = (total + s - 1) / s + 1;
                    // The last window must start inside the input or its left padding.
                    if (v - 1) * s >= size + begin {
                        v - 1
                    } else {
                        v
                    }
                } else {
                    total / s + 1
                }
            }
        };
        if v < 1 {
            return Err(format!(
                "the window does not fit: spatial size {size}, kernel {}",
                kernel[i]
            ));
        }
        out.push(Dim::Value(fit(v)?));
    }
    Ok(out)
}

fn conv(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let w = cx.shape(1)?;
    if x.len() < 3 || w.len() != x.len() {
        return Err(format!(
            "input {} and weight {} do not form a convolution",
            show(x),
            show(w)
        ));
    }
    let spatial = match attr_ints(cx, "kernel_shape") {
        Some(k) => windows(cx, &x[2..], k, false)?,
        None => {
            let k = static_dims(&w[2..]).ok_or("the kernel size is not static")?;
            windows(cx, &x[2..], &k, false)?
        }
    };
    let mut out = Vec::with_capacity(x.len());
    out.extend([x[0].clone(), w[0].clone()]);
    out.extend(spatial);
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

fn pool(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let kernel = attr_ints(cx, "kernel_shape").ok_or("it has no `kernel_shape`")?;
    if x.len() < 3 {
        return Err(format!("input {} has no spatial dimensions", show(x)));
    }
    let ceil = attr_int(cx, "ceil_mode", 0) != 0;
    let mut out = vec![x[0].clone(), x[1].clone()];
    out.extend(windows(cx, &x[2..], kernel, ceil)?);
    // The indices output of a MaxPool has the same shape, as integers.
    let indices = cx.node.op_type == "MaxPool" && cx.node.outputs.len() > 1;
    let indices = indices.then(|| typed(INT64, out.clone()));
    Ok([typed(elem(cx.input(0)?), out)]
        .into_iter()
        .chain(indices)
        .collect())
}

fn global_pool(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    if x.len() < 2 {
        return Err(format!("input {} has no channel dimension", show(x)));
    }
    let mut out = x[..2].to_vec();
    out.extend(std::iter::repeat_n(Dim::Value(1), x.len() - 2));
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

fn reduce(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let since = if cx.node.op_type == "ReduceSum" {
        13
    } else {
        18
    };
    let axes = axes_of(cx, 1, since)?;
    let keep = attr_int(cx, "keepdims", 1) != 0;
    let noop = attr_int(cx, "noop_with_empty_axes", 0) != 0;
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&a| axis(a, dims.len(), "axis"))
            .collect::<Result<_, _>>()?,
        _ if noop => return Ok(vec![x.clone()]),
        _ => (0..dims.len()).collect(),
    };
    let out = dims
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keep) {
            (true, true) => Some(Dim::Value(1)),
            (true, false) => None,
            (false, _) => Some(d.clone()),
        })
        .collect();
    Ok(vec![typed(elem(x), out)])
}

fn arg_reduce(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = cx.shape(0)?;
    let a = axis(attr_int(cx, "axis", 0), dims.len(), "axis")?;
    let keep = attr_int(cx, "keepdims", 1) != 0;
    let out = dims
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (i == a, keep) {
            (true, true) => Some(Dim::Value(1)),
            (true, false) => None,
            (false, _) => Some(d.clone()),
        })
        .collect();
    Ok(vec![typed(INT64, out)])
}

fn top_k(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let a = axis(attr_int(cx, "axis", -1), dims.len(), "axis")?;
    let k = if cx.opset < 10 {
        cx.node.attr_int("k").ok_or("it has no `k`")?
    } else {
        *cx.required_ints(1, "k")?.first().ok_or("k is empty")?
    };
    let mut out = dims.to_vec();
    out[a] = Dim::Value(k);
    Ok(vec![typed(elem(x), out.clone()), typed(INT64, out)])
}

/// `DepthToSpace` and `SpaceToDepth`: channels divided (or multiplied) by the block size
/// squared, height and width multiplied (or divided) by it.
fn depth_to_space(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = cx.shape(0)?;
    let b = cx
        .node
        .attr_int("blocksize")
        .ok_or("it has no `blocksize`")?;
    if b < 1 {
        return Err(format!("blocksize {b} is not positive"));
    }
    let [n, c, h, w] = dims else {
        return Err(format!("input {} is not 4-D", show(dims)));
    };
    let to_space = cx.node.op_type == "DepthToSpace";
    let scale = |d: &Dim, up: bool| -> Result<Dim, String> {
        Ok(match dim_value(d) {
            Some(v) if up => Dim::Value(fit(i128::from(v) * i128::from(b))?),
            Some(v) => Dim::Value(v / b),
            None => Dim::Unknown,
        })
    };
    let channels = |d: &Dim| scale(&scale(d, !to_space)?, !to_space);
    let out = vec![
        n.clone(),
        channels(c)?,
        scale(h, to_space)?,
        scale(w, to_space)?,
    ];
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

fn resize(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let op_upsample = cx.node.op_type == "Upsample";
    let (scales_at, sizes_at) = if op_upsample || cx.opset < 11 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    if sizes_at != usize::MAX && cx.has_input(sizes_at) {
        let sizes = cx.required_ints(sizes_at, "sizes")?;
        if sizes.len() != dims.len() {
            return Err("sizes and the input rank differ".into());
        }
        return Ok(vec![known(elem(x), &sizes)]);
    }
    let scales = match cx.const_floats(scales_at)? {
        Some(s) if !s.is_empty() => s,
        Some(_) | None if op_upsample && cx.opset < 9 => attr_floats(cx, "scales")?,
        _ => return Err("its scales are not a constant".into()),
    };
    if scales.len() != dims.len() {
        return Err("scales and the input rank differ".into());
    }
    let out = dims
        .iter()
        .zip(&scales)
        .map(|(d, s)| {
            dim_value(d).map_or(Dim::Unknown, |v| Dim::Value((v as f64 * s).floor() as i64))
        })
        .collect();
    Ok(vec![typed(elem(x), out)])
}

fn attr_floats(cx: &Ctx<'_>, name: &str) -> Result<Vec<f64>, String> {
    match cx.node.attribute(name) {
        Some(AttributeValue::Floats(v)) => Ok(v.iter().map(|&f| f64::from(f)).collect()),
        _ => Err(format!("it has no `{name}` attribute")),
    }
}

fn split(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let a = axis(attr_int(cx, "axis", 0), dims.len(), "axis")?;
    let outputs = cx.node.outputs.len() as i64;
    if outputs == 0 {
        return Err("it has no outputs".into());
    }
    let parts = if cx.opset >= 13 && cx.has_input(1) {
        cx.required_ints(1, "split")?
    } else if let Some(s) = attr_ints(cx, "split") {
        s.to_vec()
    } else {
        let Dim::Value(n) = dims[a] else {
            return Ok(vec![typed(elem(x), dims.to_vec()); outputs as usize]).map(
                |mut v: Vec<TensorType>| {
                    for t in &mut v {
                        if let Some(s) = &mut t.shape {
                            s[a] = Dim::Unknown;
                        }
                    }
                    v
                },
            );
        };
        // `n` is not negative (see `Ctx::shape`) and `outputs` is positive.
        let chunk = n / outputs + i64::from(n % outputs != 0);
        (0..outputs)
            .map(|i| chunk.min(n.saturating_sub(i.saturating_mul(chunk))).max(0))
            .collect()
    };
    Ok(parts
        .iter()
        .map(|&p| {
            let mut d = dims.to_vec();
            d[a] = Dim::Value(p);
            typed(elem(x), d)
        })
        .collect())
}

fn pad(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    let pads = if cx.opset < 11 {
        attr_ints(cx, "pads").ok_or("it has no `pads`")?.to_vec()
    } else {
        cx.required_ints(1, "pads")?
    };
    let axes: Vec<usize> = if cx.opset >= 18 && cx.has_input(3) {
        cx.required_ints(3, "axes")?
            .iter()
            .map(|&a| axis(a, dims.len(), "axis"))
            .collect::<Result<_, _>>()?
    } else {
        (0..dims.len()).collect()
    };
    let k = axes.len();
    if pads.len() != 2 * k {
        return Err(format!("pads {pads:?} do not match {k} axes"));
    }
    let mut out = dims.to_vec();
    for (j, &a) in axes.iter().enumerate() {
        let Some(v) = dim_value(&dims[a]) else {
            out[a] = Dim::Unknown;
            continue;
        };
        let padded = fit(i128::from(v) + i128::from(pads[j]) + i128::from(pads[j + k]))?;
        if padded < 0 {
            return Err(format!(
                "pads {pads:?} remove more than the {v} elements of axis {a}"
            ));
        }
        out[a] = Dim::Value(padded);
    }
    Ok(vec![typed(elem(x), out)])
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

/// ONNX `Attention` (opset 23): `Y` takes the query's layout with the value's head size.
fn attention(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let q = cx.shape(0)?;
    let v = cx.shape(2)?;
    let y = match (q.len(), v.len()) {
        (4, 4) => vec![q[0].clone(), q[1].clone(), q[2].clone(), v[3].clone()],
        (3, 3) => {
            let q_heads = cx
                .node
                .attr_int("q_num_heads")
                .ok_or("3-D inputs need `q_num_heads`")?;
            let kv_heads = cx
                .node
                .attr_int("kv_num_heads")
                .ok_or("3-D inputs need `kv_num_heads`")?;
            if q_heads < 1 || kv_heads < 1 {
                return Err(format!(
                    "head counts must be positive, not {q_heads} and {kv_heads}"
                ));
            }
            let hidden = match dim_value(&v[2]) {
                Some(h) => Dim::Value(fit(i128::from(h / kv_heads) * i128::from(q_heads))?),
                None => Dim::Unknown,
            };
            vec![q[0].clone(), q[1].clone(), hidden]
        }
        _ => {
            return Err(format!(
                "query {} and value {} are neither both 3-D nor both 4-D",
                show(q),
                show(v)
            ));
        }
    };
    Ok(vec![typed(elem(cx.input(0)?), y)])
}
