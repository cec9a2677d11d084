//! The QONNX quantizers and `MultiThreshold` (domain `qonnx.custom_op.general`, or
//! `finn.custom_op.general` in older FINN models), computed as qonnx's executor does: in
//! float32, so that a model runs bit for bit as it does there.

use brainsmith_core::ir::{ElemType, Node};

use super::{Array, Run, broadcast_dims, broadcast_index, count};

/// `Quant`: `(round(clamp(x / scale + zeropt)) - zeropt) * scale`, the clamp to the
/// integer range of `bitwidth` (signed or not, narrow or not), then the rounding mode
/// (`ROUND` or `HALF_EVEN`, `CEIL`, `FLOOR`, `UP` and `DOWN` (away from and toward zero),
/// `HALF_UP`, `HALF_DOWN`; any case), all in float32. A signed 1-bit `Quant` is bipolar
/// (`x / scale + zeropt >= 0` gives 1, else -1), as qonnx reads Brevitas' exports.
pub(super) fn quant(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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
    let (xv, sv, zv) = (input.as_f64(), scale.as_f64(), zeropt.as_f64());
    let (xi, si, zi) = (
        broadcast_index(&input.dims, &dims),
        broadcast_index(&scale.dims, &dims),
        broadcast_index(&zeropt.dims, &dims),
    );
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (v, s, z) = (xv[xi[i]] as f32, sv[si[i]] as f32, zv[zi[i]] as f32);
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

/// `BipolarQuant`: `+scale` where `x >= 0`, `-scale` elsewhere.
pub(super) fn bipolar_quant(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (input, scale) = (x[0], x[1]);
    let dims = broadcast_dims(&input.dims, &scale.dims)?;
    let n = count(&dims, run)?;
    let (xv, sv) = (input.as_f64(), scale.as_f64());
    let (xi, si) = (
        broadcast_index(&input.dims, &dims),
        broadcast_index(&scale.dims, &dims),
    );
    let out = (0..n)
        .map(|i| {
            let sign: f32 = if xv[xi[i]] as f32 >= 0.0 { 1.0 } else { -1.0 };
            f64::from(sign * sv[si[i]] as f32)
        })
        .collect();
    Ok(vec![Array::floats(ElemType::Float, dims, out)])
}

/// `MultiThreshold`: per element, the number of its channel's thresholds it reaches,
/// times `out_scale`, plus `out_bias`. The channel axis is 1 (`NCHW`, `NC`...) or the
/// last (`NHWC`, `NWC`), by `data_layout`; one threshold row serves every channel.
pub(super) fn multithreshold(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
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
pub(crate) fn int_range(width: u32, signed: bool, narrow: bool) -> (f64, f64) {
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
