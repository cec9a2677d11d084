//! The QONNX dialect: the quantizers (`Quant`, `IntQuant`, `BipolarQuant`, `FloatQuant`,
//! `Trunc`), `MultiThreshold` and `Im2Col`, in domain `qonnx.custom_op.general` (or
//! `finn.custom_op.general` in older FINN models). Values are computed as qonnx's
//! executor does: in float32, so that a model runs bit for bit as it does there.

use super::Domain::Qonnx;
use super::{Entry, What};
use crate::eval::{Array, Run, Values, broadcast_dims, broadcast_index, count};
use crate::shapes::{Ctx, FLOAT, attr_ints, dim_value, fit, show, typed};
use brainsmith_core::ir::{Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Qonnx,
        ops: QUANT_LIKE,
        what: What::Shape(quant_like),
    },
    Entry {
        domain: Qonnx,
        ops: &["Im2Col"],
        what: What::Shape(im2col),
    },
    Entry {
        domain: Qonnx,
        ops: &["Quant", "IntQuant"],
        what: What::Eval(quant, 4),
    },
    Entry {
        domain: Qonnx,
        ops: &["BipolarQuant"],
        what: What::Eval(bipolar_quant, 2),
    },
    Entry {
        domain: Qonnx,
        ops: &["MultiThreshold"],
        what: What::Eval(multithreshold, 2),
    },
    Entry {
        domain: Qonnx,
        ops: &["Im2Col"],
        what: What::Eval(im2col_values, 1),
    },
];

/// `Im2Col` on values: each output pixel's window, channels innermost, kernel positions
/// row-major, `pad_value` where the window reaches into the padding.
fn im2col_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let &[n, h, w, c] = a.dims.as_slice() else {
        return Err(format!("its input of shape {:?} is not NHWC", a.dims));
    };
    let two = |name: &str, default: [usize; 2]| -> Result<[usize; 2], String> {
        match node.attr_ints(name) {
            None => Ok(default),
            Some(&[p, q]) if p > 0 && q > 0 => Ok([p as usize, q as usize]),
            Some(other) => Err(format!("`{name}` {other:?} is not two positive values")),
        }
    };
    let pads = match node.attr_ints("pad_amount") {
        None => [0; 4],
        Some(v) if v.len() == 4 && v.iter().all(|&p| p >= 0) => {
            [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize]
        }
        Some(other) => return Err(format!("`pad_amount` {other:?} is not four sizes")),
    };
    let window = super::window::Window {
        kernel: two("kernel_size", [0, 0]).and_then(|k| {
            if k.contains(&0) {
                Err("it has no `kernel_size`".to_owned())
            } else {
                Ok(k)
            }
        })?,
        stride: two("stride", [1, 1])?,
        dilation: two("dilations", [1, 1])?,
        pads,
    };
    let [oh, ow] = window.out_dims([h, w])?;
    let dims = vec![n, oh, ow, window.kernel[0] * window.kernel[1] * c];
    count(&dims, run)?;
    let pad = f64::from(node.attr_float("pad_value").unwrap_or(0.0));
    let index = window.gather([n, h, w, c])?;
    Ok(vec![match &a.values {
        Values::Float(v) => Array::floats(
            a.elem,
            dims,
            index.iter().map(|i| i.map_or(pad, |i| v[i])).collect(),
        ),
        Values::Int(v) => Array::ints(
            a.elem,
            dims,
            index
                .iter()
                .map(|i| i.map_or(pad as i64, |i| v[i]))
                .collect(),
        ),
    }])
}

/// QONNX and FINN custom ops (any domain) whose output is a float tensor shaped like the
/// first input.
const QUANT_LIKE: &[&str] = &[
    "Quant",
    "BipolarQuant",
    "FloatQuant",
    "Trunc",
    "MultiThreshold",
];

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

/// `Quant`: `(round(clamp(x / scale + zeropt)) - zeropt) * scale`, the clamp to the
/// integer range of `bitwidth` (signed or not, narrow or not), then the rounding mode
/// (`ROUND` or `HALF_EVEN`, `CEIL`, `FLOOR`, `UP` and `DOWN` (away from and toward zero),
/// `HALF_UP`, `HALF_DOWN`; any case), all in float32. A signed 1-bit `Quant` is bipolar
/// (`x / scale + zeropt >= 0` gives 1, else -1), as qonnx reads Brevitas' exports.
fn quant(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let [input, scale, zeropt, bits] = [x[0], x[1], x[2], x[3]];
    let width = scalar(bits, "bitwidth")?;
    if !((1.0..=64.0).contains(&width) && width.fract() == 0.0) {
        return Err(format!(
            "bitwidth {width} is not a whole number of bits from 1 to 64"
        ));
    }
    let signed = node.attr_int("signed").unwrap_or(1) != 0;
    let narrow = node.attr_int("narrow").unwrap_or(0) != 0;
    let mode = node
        .attr_str("rounding_mode")
        .unwrap_or("ROUND")
        .to_ascii_uppercase();
    let round: fn(f32) -> f32 = match mode.as_str() {
        "ROUND" | "HALF_EVEN" => f32::round_ties_even,
        "CEIL" => f32::ceil,
        "FLOOR" => f32::floor,
        "UP" => |x| sign(x) * x.abs().ceil(),
        "DOWN" => f32::trunc,
        "HALF_UP" => |x| sign(x) * (x.abs() + 0.5).floor(),
        "HALF_DOWN" => |x| sign(x) * (x.abs() - 0.5).ceil(),
        _ => {
            return Err(format!(
                "unknown rounding_mode '{mode}'; expected ROUND, HALF_EVEN, CEIL, FLOOR, UP, \
                 DOWN, HALF_UP or HALF_DOWN"
            ));
        }
    };
    let bipolar = width == 1.0 && signed;
    let (lo, hi) = int_range(width as u32, signed, narrow);
    let dims = broadcast_dims(&broadcast_dims(&input.dims, &scale.dims)?, &zeropt.dims)?;
    let n = count(&dims, run)?;
    let (xv, sv, zv) = (values(input), values(scale), values(zeropt));
    let (xi, si, zi) = (
        Reader::new(&input.dims, &dims),
        Reader::new(&scale.dims, &dims),
        Reader::new(&zeropt.dims, &dims),
    );
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (v, s, z) = (
            xv[xi.at(i)] as f32,
            sv[si.at(i)] as f32,
            zv[zi.at(i)] as f32,
        );
        let y = v / s + z;
        let q = if bipolar {
            if y >= 0.0 { 1.0 } else { -1.0 }
        } else {
            round(y.clamp(lo as f32, hi as f32))
        };
        out.push(f64::from((q - z) * s));
    }
    Ok(vec![Array::floats(ElemType::Float, dims, out)])
}

/// The values of `a` as `f64`, borrowed where they are stored so.
fn values(a: &Array) -> std::borrow::Cow<'_, [f64]> {
    match &a.values {
        Values::Float(v) => std::borrow::Cow::Borrowed(v),
        Values::Int(_) => std::borrow::Cow::Owned(a.as_f64()),
    }
}

/// Where element `i` of a broadcast result reads an operand: itself when the shapes are
/// equal, the one value of a single-value operand, else a precomputed map. The quantizers
/// fold weights of millions of values, almost always with one scale: no map is built then.
enum Reader {
    Same,
    One,
    Map(Vec<usize>),
}

impl Reader {
    fn new(dims: &[usize], out: &[usize]) -> Reader {
        if dims == out {
            Reader::Same
        } else if dims.iter().product::<usize>() == 1 {
            Reader::One
        } else {
            Reader::Map(broadcast_index(dims, out))
        }
    }

    fn at(&self, i: usize) -> usize {
        match self {
            Reader::Same => i,
            Reader::One => 0,
            Reader::Map(m) => m[i],
        }
    }
}

/// `BipolarQuant`: `+scale` where `x >= 0`, `-scale` elsewhere.
fn bipolar_quant(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (input, scale) = (x[0], x[1]);
    let dims = broadcast_dims(&input.dims, &scale.dims)?;
    let n = count(&dims, run)?;
    let (xv, sv) = (values(input), values(scale));
    let (xi, si) = (
        Reader::new(&input.dims, &dims),
        Reader::new(&scale.dims, &dims),
    );
    let out = (0..n)
        .map(|i| {
            let sign: f32 = if xv[xi.at(i)] as f32 >= 0.0 {
                1.0
            } else {
                -1.0
            };
            f64::from(sign * sv[si.at(i)] as f32)
        })
        .collect();
    Ok(vec![Array::floats(ElemType::Float, dims, out)])
}

/// `MultiThreshold`: per element, the number of its channel's thresholds it reaches,
/// times `out_scale`, plus `out_bias`. The channel axis is 1 (`NCHW`, `NC`...) or the
/// last (`NHWC`, `NWC`), by `data_layout`; one threshold row serves every channel.
fn multithreshold(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let (input, thresholds) = (x[0], x[1]);
    let [rows, steps] = thresholds.dims[..] else {
        return Err(format!(
            "thresholds have shape {:?}; expected [channels or 1, steps]",
            thresholds.dims
        ));
    };
    let layout = node.attr_str("data_layout").unwrap_or("NCHW");
    let rank = input.dims.len();
    if rank < 2 {
        return Err(format!("its input has rank {rank}; expected at least 2"));
    }
    let axis = if layout.ends_with('C') && layout.len() == rank {
        rank - 1
    } else {
        1
    };
    let channels = input.dims[axis];
    if rows != 1 && rows != channels {
        return Err(format!(
            "thresholds have {rows} rows for {channels} channels; expected {channels} or 1"
        ));
    }
    let inner: usize = input.dims[axis + 1..].iter().product();
    let t: Vec<f32> = thresholds.as_f64().iter().map(|&v| v as f32).collect();
    let scale = f64::from(node.attr_float("out_scale").unwrap_or(1.0));
    let bias = f64::from(node.attr_float("out_bias").unwrap_or(0.0));
    let out = input
        .as_f64()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = if rows == 1 {
                0
            } else {
                (i / inner.max(1)) % channels
            };
            let row = &t[c * steps..(c + 1) * steps];
            let reached = row.iter().filter(|&&t| v as f32 >= t).count();
            scale * reached as f64 + bias
        })
        .collect();
    Ok(vec![Array::floats(
        ElemType::Float,
        input.dims.clone(),
        out,
    )])
}

/// numpy's `sign`: 0 for zero.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The integer range of `width` bits: qonnx's `min_int` and `max_int`.
fn int_range(width: u32, signed: bool, narrow: bool) -> (f64, f64) {
    let w = i32::try_from(width).unwrap_or(64);
    if signed {
        let lo = -(2f64.powi(w - 1)) + if narrow { 1.0 } else { 0.0 };
        (lo, 2f64.powi(w - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(w) - 1.0 - if narrow { 1.0 } else { 0.0 })
    }
}

fn scalar(a: &Array, what: &str) -> Result<f64, String> {
    match a.as_f64().as_slice() {
        [v] => Ok(*v),
        other => Err(format!("{what} holds {} values; expected one", other.len())),
    }
}
