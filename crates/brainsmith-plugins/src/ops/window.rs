//! Sliding windows: `Conv` and the pools, local and global.

use super::Domain::Onnx;
use super::Table;
use crate::shapes::{Ctx, INT64, attr_int, attr_ints, elem, fit, show, static_dims, typed};
use brainsmith_core::ir::{Dim, TensorType};

pub(super) fn register(t: &mut Table) {
    t.shape(Onnx, &["Conv"], conv);
    t.shape(Onnx, &["AveragePool", "MaxPool", "LpPool"], pool);
    t.shape(
        Onnx,
        &["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"],
        global_pool,
    );
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
