//! One kernel per op type that constant subgraphs of real models use: creation, casts,
//! elementwise arithmetic and logic with broadcasting, and the data-movement ops that shape
//! computations are made of; the QONNX quantizers and `MultiThreshold` are in `qonnx.rs`.

use brainsmith_core::ir::{AttributeValue, ElemType, Node, canonical_domain};

use super::{Array, Run, Values, broadcast_dims, broadcast_index, count, is_float, strides};

type Kernel = fn(&Node, &[&Array], &Run) -> Result<Vec<Array>, String>;

/// The kernel of `node`'s op type and the number of inputs it needs at least (it indexes
/// those directly; `evaluate` checks the count first).
fn kernel(node: &Node) -> Option<(Kernel, usize)> {
    if !node.is_onnx() {
        if canonical_domain(&node.domain) != "qonnx.custom_op.general" {
            return None;
        }
        return Some(match node.op_type.as_str() {
            "Quant" | "IntQuant" => (super::qonnx::quant, 4),
            "BipolarQuant" => (super::qonnx::bipolar_quant, 2),
            "MultiThreshold" => (super::qonnx::multithreshold, 2),
            _ => return None,
        });
    }
    Some(match node.op_type.as_str() {
        "Constant" => (constant, 0),
        "ConstantOfShape" => (constant_of_shape, 1),
        "Cast" => (cast, 1),
        "CastLike" => (|_, x, _| Ok(vec![x[0].cast(x[1].elem)?]), 2),
        "Neg" | "Abs" | "Sqrt" | "Reciprocal" | "Exp" | "Log" | "Relu" | "Sigmoid" | "Tanh"
        | "Floor" | "Ceil" | "Round" | "Sign" | "Not" | "Sin" | "Cos" => (unary, 1),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Mod" | "Max" | "Min" | "Sum" | "Equal"
        | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            (binary, 1)
        }
        "Where" => (where_op, 3),
        "Clip" => (clip, 1),
        "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => (run_view, 1),
        "Expand" => (expand, 2),
        "Transpose" => (transpose, 1),
        "Concat" => (concat, 1),
        "Slice" => (slice, 1),
        "Gather" => (gather, 2),
        "MatMul" => (matmul, 2),
        "Range" => (range, 3),
        "Tile" => (tile, 2),
        "Size" => (
            |_, x, _| {
                Ok(vec![Array::ints(
                    ElemType::Int64,
                    vec![],
                    vec![x[0].len() as i64],
                )])
            },
            1,
        ),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" => (reduce, 1),
        _ => return None,
    })
}

/// Whether `node` can be evaluated here.
pub fn supports(node: &Node) -> bool {
    kernel(node).is_some()
}

/// Evaluates `node` on `inputs` (`None` for an omitted optional input), as `run` says:
/// for its opset of the default domain, and making no output of more than its
/// `max_elements`.
pub fn evaluate(node: &Node, inputs: &[Option<&Array>], run: &Run) -> Result<Vec<Array>, String> {
    let (kernel, needs) = kernel(node).ok_or("no constant-folding kernel for this op type")?;
    let given = given(inputs)?;
    if given.len() < needs {
        return Err(format!(
            "it has {} inputs, and {} needs at least {needs}",
            given.len(),
            node.op_type
        ));
    }
    kernel(node, &given, run)
}

/// The inputs a kernel reads: kernels index their required inputs directly and check
/// optional ones by length, so a trailing omitted input is dropped and an omitted one in
/// between is an error.
fn given<'a>(inputs: &[Option<&'a Array>]) -> Result<Vec<&'a Array>, String> {
    let mut given: Vec<&Array> = Vec::with_capacity(inputs.len());
    let mut gap = false;
    for input in inputs {
        match input {
            Some(_) if gap => {
                return Err("an optional input is omitted before a given one".into());
            }
            Some(a) => given.push(a),
            None => gap = true,
        }
    }
    Ok(given)
}

fn axis(a: i64, rank: usize) -> Result<usize, String> {
    crate::shapes::axis(a, rank, "axis")
}

fn dims_from(values: &[i64]) -> Result<Vec<usize>, String> {
    values
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
        .collect()
}

fn elem_of(code: i64) -> Result<ElemType, String> {
    ElemType::try_from(code as i32).map_err(|_| format!("unknown element type {code}"))
}

fn constant(node: &Node, _: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
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

fn constant_of_shape(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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

fn cast(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
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

fn where_op(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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

fn with_dims(a: &Array, dims: Vec<usize>) -> Result<Array, String> {
    if dims.iter().product::<usize>() != a.len() {
        return Err(format!("{} elements cannot take shape {dims:?}", a.len()));
    }
    Ok(Array {
        elem: a.elem,
        dims,
        values: a.values.clone(),
    })
}

/// The function giving a view op's output dimensions from its data input's dimensions
/// and its other inputs.
type ViewDims = fn(&Node, &[usize], &[&Array], i64) -> Result<Vec<usize>, String>;

/// The ops whose output holds their first input's values unchanged, in the same order,
/// under other dimensions.
fn view(node: &Node) -> Option<ViewDims> {
    if !node.is_onnx() {
        return None;
    }
    Some(match node.op_type.as_str() {
        "Identity" => |_, dims, _, _| Ok(dims.to_vec()),
        "Reshape" => reshape_dims,
        "Flatten" => flatten_dims,
        "Squeeze" => squeeze_dims,
        "Unsqueeze" => unsqueeze_dims,
        _ => return None,
    })
}

/// Whether `node` only gives its first input other dimensions (`Identity`, `Reshape`,
/// `Flatten`, `Squeeze`, `Unsqueeze`): its output holds the same values in the same
/// order.
pub fn is_view(node: &Node) -> bool {
    view(node).is_some()
}

/// For an op that only gives its first input other dimensions (`Identity`, `Reshape`,
/// `Flatten`, `Squeeze`, `Unsqueeze`), the output's dimensions, from the data input's
/// dimensions and the values of the other inputs (`None` for an omitted one); `None` for
/// any other op. A caller can then reuse the stored data instead of evaluating it.
pub fn view_dims(
    node: &Node,
    dims: &[usize],
    rest: &[Option<&Array>],
    opset: i64,
) -> Option<Result<Vec<usize>, String>> {
    let view = view(node)?;
    Some(given(rest).and_then(|rest| view(node, dims, &rest, opset)))
}

/// Runs a view op on values: its output has the same values under new dimensions.
fn run_view(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let view = view(node).ok_or("not a view op")?;
    let a = x[0];
    Ok(vec![with_dims(
        a,
        view(node, &a.dims, &x[1..], run.opset)?,
    )?])
}

fn reshape_dims(node: &Node, dims: &[usize], x: &[&Array], _: i64) -> Result<Vec<usize>, String> {
    let len: usize = dims.iter().product();
    let target = match x.first() {
        Some(s) => s.as_i64()?,
        None => node
            .attr_ints("shape")
            .ok_or("it has no target shape")?
            .to_vec(),
    };
    let allowzero = node.attr_int("allowzero").unwrap_or(0) != 0;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            0 if !allowzero => *dims
                .get(i)
                .ok_or("a 0 in the target shape has no input dimension to copy")?,
            -1 => {
                infer = Some(i);
                1
            }
            t => usize::try_from(t).map_err(|_| format!("target dimension {t}"))?,
        });
    }
    if let Some(i) = infer {
        let rest: usize = out.iter().product();
        if rest == 0 || !len.is_multiple_of(rest) {
            return Err(format!(
                "{len} elements cannot take target shape {target:?}"
            ));
        }
        out[i] = len / rest;
    }
    Ok(out)
}

fn flatten_dims(node: &Node, dims: &[usize], _: &[&Array], _: i64) -> Result<Vec<usize>, String> {
    let r = dims.len() as i64;
    let ax = node.attr_int("axis").unwrap_or(1);
    let ax = if ax < 0 { ax + r } else { ax };
    if !(0..=r).contains(&ax) {
        return Err(format!("axis {ax} is out of range"));
    }
    let len: usize = dims.iter().product();
    let outer: usize = dims[..ax as usize].iter().product();
    Ok(vec![outer, len / outer.max(1)])
}

/// The `axes` of an op: its second input from opset `since` on (`rest` is the inputs
/// after the data), its attribute before.
fn axes_input(
    node: &Node,
    rest: &[&Array],
    opset: i64,
    since: i64,
) -> Result<Option<Vec<i64>>, String> {
    if opset >= since {
        rest.first().map(|a| a.as_i64()).transpose()
    } else {
        Ok(node.attr_ints("axes").map(<[i64]>::to_vec))
    }
}

fn squeeze_dims(
    node: &Node,
    dims: &[usize],
    x: &[&Array],
    opset: i64,
) -> Result<Vec<usize>, String> {
    Ok(match axes_input(node, x, opset, 13)? {
        Some(axes) => {
            let axes: Vec<usize> = axes
                .iter()
                .map(|&v| axis(v, dims.len()))
                .collect::<Result<_, _>>()?;
            dims.iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        None => dims.iter().copied().filter(|&d| d != 1).collect(),
    })
}

fn unsqueeze_dims(
    node: &Node,
    dims: &[usize],
    x: &[&Array],
    opset: i64,
) -> Result<Vec<usize>, String> {
    let axes = axes_input(node, x, opset, 13)?.ok_or("it has no axes")?;
    let rank = dims.len() + axes.len();
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&v| axis(v, rank))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    let mut rest = dims.iter();
    Ok((0..rank)
        .map(|i| {
            if axes.binary_search(&i).is_ok() {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect())
}

/// Gathers `a`'s elements at the flat `indices` into an array of shape `dims`.
fn take(a: &Array, dims: Vec<usize>, indices: &[usize]) -> Array {
    match &a.values {
        Values::Float(v) => Array {
            elem: a.elem,
            dims,
            values: Values::Float(indices.iter().map(|&i| v[i]).collect()),
        },
        Values::Int(v) => Array {
            elem: a.elem,
            dims,
            values: Values::Int(indices.iter().map(|&i| v[i]).collect()),
        },
    }
}

fn expand(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let target = dims_from(&x[1].as_i64()?)?;
    let out = broadcast_dims(&a.dims, &target)?;
    count(&out, run)?;
    let idx = broadcast_index(&a.dims, &out);
    Ok(vec![take(a, out, &idx)])
}

fn tile(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let reps = dims_from(&x[1].as_i64()?)?;
    if reps.len() != a.dims.len() {
        return Err("repeats and the input rank differ".into());
    }
    let out: Vec<usize> = a
        .dims
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| d.saturating_mul(r))
        .collect();
    let (s_in, total) = (strides(&a.dims), count(&out, run)?);
    let s_out = strides(&out);
    let idx: Vec<usize> = (0..total)
        .map(|flat| {
            (0..out.len())
                .map(|d| ((flat / s_out[d]) % out[d] % a.dims[d].max(1)) * s_in[d])
                .sum()
        })
        .collect();
    Ok(vec![take(a, out, &idx)])
}

fn transpose(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let r = a.dims.len();
    let perm: Vec<usize> = match node.attr_ints("perm") {
        Some(p) => p.iter().map(|&v| axis(v, r)).collect::<Result<_, _>>()?,
        None => (0..r).rev().collect(),
    };
    if perm.len() != r {
        return Err("perm does not match the rank".into());
    }
    let out: Vec<usize> = perm.iter().map(|&p| a.dims[p]).collect();
    let s_in = strides(&a.dims);
    let s_out = strides(&out);
    let idx: Vec<usize> = (0..a.len())
        .map(|flat| {
            (0..r)
                .map(|d| ((flat / s_out[d]) % out[d]) * s_in[perm[d]])
                .sum()
        })
        .collect();
    Ok(vec![take(a, out, &idx)])
}

fn concat(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let first = x.first().ok_or("it has no inputs")?;
    let ax = axis(
        node.attr_int("axis").ok_or("it has no `axis`")?,
        first.dims.len(),
    )?;
    let mut out = first.dims.clone();
    out[ax] = x.iter().map(|a| a.dims.get(ax).copied().unwrap_or(0)).sum();
    let outer: usize = out[..ax].iter().product();
    let mut floats = Vec::new();
    let mut ints = Vec::new();
    for o in 0..outer {
        for a in x {
            if a.dims.len() != out.len() || a.elem != first.elem {
                return Err("inputs differ in rank or element type".into());
            }
            let chunk: usize = a.dims[ax..].iter().product();
            match &a.values {
                Values::Float(v) => floats.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
                Values::Int(v) => ints.extend_from_slice(&v[o * chunk..(o + 1) * chunk]),
            }
        }
    }
    let values = if is_float(first.elem) {
        Values::Float(floats)
    } else {
        Values::Int(ints)
    };
    Ok(vec![Array {
        elem: first.elem,
        dims: out,
        values,
    }])
}

fn slice(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let r = a.dims.len();
    let (starts, ends, axes, steps) = if run.opset < 10 {
        (
            node.attr_ints("starts")
                .ok_or("it has no `starts`")?
                .to_vec(),
            node.attr_ints("ends").ok_or("it has no `ends`")?.to_vec(),
            node.attr_ints("axes").map(<[i64]>::to_vec),
            None,
        )
    } else {
        (
            x.get(1).ok_or("it has no starts")?.as_i64()?,
            x.get(2).ok_or("it has no ends")?.as_i64()?,
            x.get(3).map(|a| a.as_i64()).transpose()?,
            x.get(4).map(|a| a.as_i64()).transpose()?,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if ends.len() != starts.len()
        || axes.len() != starts.len()
        || steps.as_ref().is_some_and(|s| s.len() != starts.len())
    {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    // Per axis: first index, step, count.
    let mut plan: Vec<(i64, i64, usize)> = a.dims.iter().map(|&d| (0, 1, d)).collect();
    for (k, &ax) in axes.iter().enumerate() {
        let ax = axis(ax, r)?;
        let n = a.dims[ax] as i64;
        let step = steps.as_ref().map_or(1, |s| s[k]);
        if step == 0 {
            return Err("a step is 0".into());
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        let (start, end) = if step > 0 {
            (norm(starts[k]).clamp(0, n), norm(ends[k]).clamp(0, n))
        } else {
            (
                norm(starts[k]).clamp(-1, n - 1),
                norm(ends[k]).clamp(-1, n - 1),
            )
        };
        // In `i128`, where an extreme step cannot overflow; the count is at most `n`.
        let (span, stride) = if step > 0 {
            (i128::from(end) - i128::from(start), i128::from(step))
        } else {
            (i128::from(start) - i128::from(end), -i128::from(step))
        };
        let count = if span > 0 {
            (span + stride - 1) / stride
        } else {
            0
        };
        plan[ax] = (start, step, count as usize);
    }
    let out: Vec<usize> = plan.iter().map(|p| p.2).collect();
    let s_in = strides(&a.dims);
    let s_out = strides(&out);
    let total: usize = out.iter().product();
    let idx: Vec<usize> = (0..total)
        .map(|flat| {
            (0..r)
                .map(|d| {
                    let i = ((flat / s_out[d]) % out[d]) as i64;
                    ((plan[d].0 + i * plan[d].1) as usize) * s_in[d]
                })
                .sum()
        })
        .collect();
    Ok(vec![take(a, out, &idx)])
}

fn gather(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (a, indices) = (x[0], x[1]);
    let ax = axis(node.attr_int("axis").unwrap_or(0), a.dims.len())?;
    let n = a.dims[ax] as i64;
    let ind: Vec<usize> = indices
        .as_i64()?
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            if (0..n).contains(&j) {
                Ok(j as usize)
            } else {
                Err(format!("index {i} is out of range for size {n}"))
            }
        })
        .collect::<Result<_, _>>()?;
    let dims: Vec<usize> = a.dims[..ax]
        .iter()
        .chain(&indices.dims)
        .chain(&a.dims[ax + 1..])
        .copied()
        .collect();
    let total = count(&dims, run)?;
    let outer: usize = a.dims[..ax].iter().product();
    let inner: usize = a.dims[ax + 1..].iter().product();
    let mut idx = Vec::with_capacity(total);
    for o in 0..outer {
        for &i in &ind {
            for k in 0..inner {
                idx.push((o * a.dims[ax] + i) * inner + k);
            }
        }
    }
    Ok(vec![take(a, dims, &idx)])
}

fn matmul(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (a, b) = (x[0], x[1]);
    let (mut ad, mut bd) = (a.dims.clone(), b.dims.clone());
    if ad.is_empty() || bd.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let (a_vec, b_vec) = (ad.len() == 1, bd.len() == 1);
    if a_vec {
        ad.insert(0, 1);
    }
    if b_vec {
        bd.push(1);
    }
    let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
    let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 {
        return Err(format!(
            "inner dimensions differ: {:?} times {:?}",
            a.dims, b.dims
        ));
    }
    let batch = broadcast_dims(&ad[..ad.len() - 2], &bd[..bd.len() - 2])?;
    count(&[count(&batch, run)?, m, n], run)?;
    let ia = broadcast_index(&ad[..ad.len() - 2], &batch);
    let ib = broadcast_index(&bd[..bd.len() - 2], &batch);
    let (fa, fb) = (a.as_f64(), b.as_f64());
    let mut out = Vec::with_capacity(ia.len() * m * n);
    for (&pa, &pb) in ia.iter().zip(&ib) {
        let (oa, ob) = (pa * m * k, pb * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for t in 0..k {
                    s += fa[oa + i * k + t] * fb[ob + t * n + j];
                }
                out.push(s);
            }
        }
    }
    let mut dims = batch;
    if !a_vec {
        dims.push(m);
    }
    if !b_vec {
        dims.push(n);
    }
    Ok(vec![
        Array::floats(ElemType::Double, dims, out).cast(a.elem)?,
    ])
}

fn range(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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

fn reduce(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let op = node.op_type.as_str();
    let since = if op == "ReduceSum" { 13 } else { 18 };
    let keep = node.attr_int("keepdims").unwrap_or(1) != 0;
    let axes: Vec<usize> = match axes_input(node, &x[1..], run.opset, since)? {
        Some(ax) if !ax.is_empty() => ax
            .iter()
            .map(|&v| axis(v, a.dims.len()))
            .collect::<Result<_, _>>()?,
        _ if node.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 => return Ok(vec![a.clone()]),
        _ => (0..a.dims.len()).collect(),
    };
    let kept: Vec<usize> = a
        .dims
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let s_in = strides(&a.dims);
    let s_kept = strides(&kept);
    let total: usize = kept.iter().product();
    let init = match op {
        "ReduceMax" => f64::NEG_INFINITY,
        "ReduceMin" => f64::INFINITY,
        "ReduceProd" => 1.0,
        _ => 0.0,
    };
    let mut acc = vec![init; total];
    let v = a.as_f64();
    for (flat, &value) in v.iter().enumerate() {
        let target: usize = (0..a.dims.len())
            .map(|d| {
                if axes.contains(&d) {
                    0
                } else {
                    (flat / s_in[d]) % a.dims[d] * s_kept[d]
                }
            })
            .sum();
        let slot = &mut acc[target];
        *slot = match op {
            "ReduceMax" => slot.max(value),
            "ReduceMin" => slot.min(value),
            "ReduceProd" => *slot * value,
            _ => *slot + value,
        };
    }
    if op == "ReduceMean" {
        let count: usize = axes.iter().map(|&d| a.dims[d]).product();
        acc.iter_mut().for_each(|s| *s /= count.max(1) as f64);
    }
    let dims = if keep {
        kept
    } else {
        a.dims
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    Ok(vec![
        Array::floats(ElemType::Double, dims, acc).cast(a.elem)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(dims: &[usize], v: &[i64]) -> Array {
        Array::ints(ElemType::Int64, dims.to_vec(), v.to_vec())
    }

    fn floats(dims: &[usize], v: &[f64]) -> Array {
        Array::floats(ElemType::Float, dims.to_vec(), v.to_vec())
    }

    fn run(node: Node, inputs: &[&Array]) -> Array {
        let inputs: Vec<Option<&Array>> = inputs.iter().map(|a| Some(*a)).collect();
        let run = Run {
            opset: 18,
            max_elements: usize::MAX,
        };
        evaluate(&node, &inputs, &run).unwrap().remove(0)
    }

    #[test]
    fn data_movement_matches_numpy() {
        let x = ints(&[2, 3], &[0, 1, 2, 3, 4, 5]);
        let t = run(Node::new("Transpose", ["x"], ["y"]), &[&x]);
        assert_eq!(
            (t.dims, t.values),
            (vec![3, 2], Values::Int(vec![0, 3, 1, 4, 2, 5]))
        );
        // x[:, ::-2]
        let s = run(
            Node::new("Slice", ["x", "s", "e", "a", "t"], ["y"]),
            &[
                &x,
                &ints(&[1], &[-1]),
                &ints(&[1], &[i64::MIN]),
                &ints(&[1], &[1]),
                &ints(&[1], &[-2]),
            ],
        );
        assert_eq!(
            (s.dims, s.values),
            (vec![2, 2], Values::Int(vec![2, 0, 5, 3]))
        );
        let g = run(
            Node::new("Gather", ["x", "i"], ["y"]).with_attribute("axis", AttributeValue::Int(1)),
            &[&x, &ints(&[2], &[-1, 0])],
        );
        assert_eq!(
            (g.dims, g.values),
            (vec![2, 2], Values::Int(vec![2, 0, 5, 3]))
        );
        let c = run(
            Node::new("Concat", ["x", "x"], ["y"]).with_attribute("axis", AttributeValue::Int(1)),
            &[&x, &x],
        );
        assert_eq!(c.dims, vec![2, 6]);
        assert_eq!(
            c.values,
            Values::Int(vec![0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        );
        let e = run(
            Node::new("Expand", ["x", "s"], ["y"]),
            &[&ints(&[2, 1], &[7, 8]), &ints(&[2], &[2, 2])],
        );
        assert_eq!(e.values, Values::Int(vec![7, 7, 8, 8]));
        let w = run(
            Node::new("Where", ["c", "a", "b"], ["y"]),
            &[
                &Array::ints(ElemType::Bool, vec![2, 1], vec![1, 0]),
                &ints(&[2], &[1, 2]),
                &ints(&[1], &[9]),
            ],
        );
        assert_eq!(
            (w.dims, w.values),
            (vec![2, 2], Values::Int(vec![1, 2, 9, 9]))
        );
        let tl = run(
            Node::new("Tile", ["x", "r"], ["y"]),
            &[&ints(&[1, 2], &[1, 2]), &ints(&[2], &[2, 2])],
        );
        assert_eq!(tl.values, Values::Int(vec![1, 2, 1, 2, 1, 2, 1, 2]));
    }

    #[test]
    fn arithmetic_follows_onnx_semantics() {
        let m = run(
            Node::new("Mod", ["a", "b"], ["y"]),
            &[&ints(&[2], &[-7, 7]), &ints(&[1], &[3])],
        );
        assert_eq!(m.values, Values::Int(vec![2, 1]));
        let d = run(
            Node::new("Div", ["a", "b"], ["y"]),
            &[&ints(&[2], &[-7, 7]), &ints(&[1], &[2])],
        );
        assert_eq!(d.values, Values::Int(vec![-3, 3]));
        let f = run(
            Node::new("Div", ["a", "b"], ["y"]),
            &[&floats(&[1], &[1.0]), &floats(&[1], &[3.0])],
        );
        assert_eq!(f.values, Values::Float(vec![f64::from(1.0f32 / 3.0f32)]));
        let mm = run(
            Node::new("MatMul", ["a", "b"], ["y"]),
            &[
                &floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
                &floats(&[2], &[1.0, 1.0]),
            ],
        );
        assert_eq!(
            (mm.dims, mm.values),
            (vec![2], Values::Float(vec![3.0, 7.0]))
        );
        let r = run(
            Node::new("ReduceMean", ["x", "a"], ["y"])
                .with_attribute("keepdims", AttributeValue::Int(0)),
            &[&floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]), &ints(&[1], &[-1])],
        );
        assert_eq!((r.dims, r.values), (vec![2], Values::Float(vec![1.5, 3.5])));
        let err = evaluate(
            &Node::new("Div", ["a", "b"], ["y"]),
            &[Some(&ints(&[1], &[1])), Some(&ints(&[1], &[0]))],
            &Run {
                opset: 17,
                max_elements: 16,
            },
        );
        assert_eq!(err.unwrap_err(), "integer division by zero");
    }

    /// Outputs larger than the limit are refused before anything is allocated: each of
    /// these would need far more memory than any machine has.
    #[test]
    fn absurd_outputs_are_refused() {
        let small = Run {
            opset: 18,
            max_elements: 1000,
        };
        let huge = ints(&[2], &[1 << 40, 1 << 40]);
        let wide = ints(&[3], &[1 << 20, 1 << 20, 1 << 10]);
        let column = floats(&[40, 1], &[0.5; 40]);
        let row = floats(&[1, 40], &[0.5; 40]);
        let point = floats(&[1], &[0.5]);
        let reps = ints(&[2], &[1, 1 << 40]);
        let (zero, far, one) = (ints(&[], &[0]), ints(&[], &[1 << 62]), ints(&[], &[1]));
        let indices = ints(&[40, 40], &[0; 1600]);
        let cases: Vec<(Node, Vec<&Array>, &str)> = vec![
            (
                Node::new("ConstantOfShape", ["s"], ["y"]),
                vec![&huge],
                "[1099511627776, 1099511627776] would hold more than 2^64 values",
            ),
            (
                Node::new("Expand", ["x", "s"], ["y"]),
                vec![&point, &wide],
                "[1048576, 1048576, 1024] would hold 1125899906842624 values",
            ),
            (
                Node::new("Tile", ["x", "r"], ["y"]),
                vec![&row, &reps],
                "[1, 43980465111040] would hold 43980465111040 values",
            ),
            (
                Node::new("Range", ["a", "b", "c"], ["y"]),
                vec![&zero, &far, &one],
                "[4611686018427387904] would hold 4611686018427387904 values",
            ),
            (
                Node::new("Add", ["a", "b"], ["y"]),
                vec![&column, &row],
                "[40, 40] would hold 1600 values",
            ),
            (
                Node::new("MatMul", ["a", "b"], ["y"]),
                vec![&column, &row],
                "[1, 40, 40] would hold 1600 values",
            ),
            (
                Node::new("Gather", ["a", "i"], ["y"]),
                vec![&column, &indices],
                "[40, 40, 1] would hold 1600 values",
            ),
        ];
        for (node, inputs, expected) in cases {
            let inputs: Vec<Option<&Array>> = inputs.into_iter().map(Some).collect();
            let err = evaluate(&node, &inputs, &small).unwrap_err();
            assert!(
                err.contains(expected) && err.contains("more than `max_elements` (1000)"),
                "{}: {err}",
                node.op_type
            );
        }
        // At the limit, the same kind of node evaluates.
        let fill = evaluate(
            &Node::new("ConstantOfShape", ["s"], ["y"]),
            &[Some(&ints(&[1], &[1000]))],
            &small,
        )
        .unwrap();
        assert_eq!(fill[0].len(), 1000);
    }

    /// No kernel panics, whatever its node holds: every op type with a kernel, given 0 to
    /// 5 inputs from a pool of odd arrays (empty, scalar, extreme and negative values,
    /// mismatched shapes) and attributes of empty, zero, negative and extreme values,
    /// returns values or an error, and never more values than the limit.
    #[test]
    fn no_kernel_panics_on_malformed_nodes() {
        let pool = [
            ints(&[], &[i64::MAX]),
            ints(&[], &[-1]),
            ints(&[4], &[1 << 40, i64::MIN, 0, 3]),
            ints(&[2], &[2, 3]),
            ints(&[1], &[-7]),
            ints(&[0, 5], &[]),
            floats(&[2, 3], &[1.0, -2.0, f64::NAN, 4.0, f64::INFINITY, 0.0]),
            floats(&[], &[f64::NAN]),
            floats(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]),
            Array::ints(ElemType::Bool, vec![2, 1], vec![1, 0]),
        ];
        let values = [
            AttributeValue::Int(0),
            AttributeValue::Int(-1),
            AttributeValue::Int(3),
            AttributeValue::Int(i64::MAX),
            AttributeValue::Int(i64::MIN),
            AttributeValue::Ints(vec![]),
            AttributeValue::Ints(vec![0, 0]),
            AttributeValue::Ints(vec![-1, i64::MAX]),
            AttributeValue::Ints(vec![1, 0, 2, 5]),
            AttributeValue::Float(f32::NAN),
            AttributeValue::Floats(vec![]),
            AttributeValue::Tensor(brainsmith_core::ir::Tensor::from_i64("v", &[2], &[1, 2])),
            AttributeValue::string("x"),
        ];
        const NAMES: &[&str] = &[
            "value",
            "value_int",
            "value_ints",
            "value_float",
            "value_floats",
            "to",
            "axis",
            "axes",
            "perm",
            "keepdims",
            "starts",
            "ends",
            "shape",
            "min",
            "max",
            "allowzero",
            "noop_with_empty_axes",
        ];
        let limit = Run {
            opset: 18,
            max_elements: 1 << 12,
        };
        let mut failures = Vec::new();
        let mut cases = 0;
        let ops: Vec<&str> = crate::shapes::op_types()
            .filter(|&(op, onnx)| onnx && supports(&Node::new(op, [""; 0], ["y"])))
            .map(|(op, _)| op)
            .collect();
        assert!(ops.len() > 40, "only {} op types have kernels", ops.len());
        for &op in &ops {
            for arity in 0..=5 {
                for variant in 0..2 * pool.len() * values.len() {
                    let inputs: Vec<Option<&Array>> = (0..arity)
                        .map(|i| {
                            Some(&pool[(variant + i * (1 + variant / pool.len())) % pool.len()])
                        })
                        .collect();
                    let mut node = Node::new(op, vec![""; arity], ["y"]);
                    for (k, name) in NAMES.iter().enumerate() {
                        // Half the variants leave attribute `k` out; the rest mix values.
                        if (variant / values.len() + k).is_multiple_of(2) {
                            node.set_attribute(name, values[(variant + k) % values.len()].clone());
                        }
                    }
                    for opset in [9, 13, 18] {
                        cases += 1;
                        let run = Run { opset, ..limit };
                        let outcome = std::panic::catch_unwind(|| evaluate(&node, &inputs, &run));
                        match outcome {
                            Err(_) => failures.push(format!(
                                "{op}, opset {opset}, inputs {inputs:?}, attributes {:?}",
                                node.attributes
                            )),
                            Ok(Ok(outputs)) => assert!(
                                outputs.iter().all(|o| o.len() <= limit.max_elements),
                                "{op} made an output over the limit"
                            ),
                            Ok(Err(_)) => {}
                        }
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {cases} cases panicked, among them:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }
}
