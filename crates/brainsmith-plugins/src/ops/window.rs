//! Sliding windows: `Conv` and its variants (transposed, integer, quantized, deformable),
//! the pools, local and global, `MaxUnpool`, `Col2Im`, the sampling ops (`RoiAlign`,
//! `GridSample`, `AffineGrid`), and the window arithmetic the sliding-window kernels share.

use super::Domain::Onnx;
use super::{Entry, What};
use crate::eval::{Array, Run, Values, count, round_float};
use crate::shapes::{
    Ctx, INT32, INT64, UINT8, attr_int, attr_ints, dim_value, elem, fit, known, open, show,
    static_dims, typed,
};
use brainsmith_core::ir::{Dim, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &["MaxPool"],
        what: What::Eval(max_pool_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Conv"],
        what: What::Shape(conv),
    },
    Entry {
        domain: Onnx,
        ops: &["Conv"],
        what: What::Eval(conv_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &["ConvInteger", "QLinearConv", "DeformConv"],
        what: What::Shape(conv_like),
    },
    Entry {
        domain: Onnx,
        ops: &["ConvTranspose"],
        what: What::Shape(conv_transpose),
    },
    Entry {
        domain: Onnx,
        ops: &["MaxUnpool"],
        what: What::Shape(max_unpool),
    },
    Entry {
        domain: Onnx,
        ops: &["Col2Im"],
        what: What::Shape(col2im),
    },
    Entry {
        domain: Onnx,
        ops: &["RoiAlign"],
        what: What::Shape(roi_align),
    },
    Entry {
        domain: Onnx,
        ops: &["GridSample"],
        what: What::Shape(grid_sample),
    },
    Entry {
        domain: Onnx,
        ops: &["AffineGrid"],
        what: What::Shape(affine_grid),
    },
    Entry {
        domain: Onnx,
        ops: &["GlobalAveragePool", "GlobalMaxPool"],
        what: What::Eval(global_pool_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["AveragePool", "MaxPool", "LpPool"],
        what: What::Shape(pool),
    },
    Entry {
        domain: Onnx,
        ops: &["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"],
        what: What::Shape(global_pool),
    },
];

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
    Ok(vec![typed(elem(cx.input(0)?), conv_dims(cx, 0, 1)?)])
}

/// The output dimensions of a convolution of input `x_at` with the weights at `w_at`:
/// `[N, M, spatial...]`.
fn conv_dims(cx: &Ctx<'_>, x_at: usize, w_at: usize) -> Result<Vec<Dim>, String> {
    let x = cx.shape(x_at)?;
    let w = cx.shape(w_at)?;
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
    Ok(out)
}

/// `ConvInteger` (`int32`), `QLinearConv` (the output zero point's type, else `uint8`) and
/// `DeformConv`: a convolution's shape.
fn conv_like(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let (w_at, elem_type) = match cx.node.op_type.as_str() {
        "ConvInteger" => (1, INT32),
        "QLinearConv" if cx.has_input(7) => (3, elem(cx.input(7)?)),
        "QLinearConv" => (3, UINT8),
        _ => (1, elem(cx.input(0)?)),
    };
    Ok(vec![typed(elem_type, conv_dims(cx, 0, w_at)?)])
}

/// A window attribute of one value per spatial axis (`len`), checked, or `default`.
fn per_axis(cx: &Ctx<'_>, name: &str, len: usize, default: i64) -> Result<Vec<i64>, String> {
    match attr_ints(cx, name) {
        None => Ok(vec![default; len]),
        Some(v) if v.len() == len => Ok(v.to_vec()),
        Some(v) => Err(format!(
            "`{name}` has {} values for {} spatial dimensions",
            v.len(),
            len / if name == "pads" { 2 } else { 1 }
        )),
    }
}

/// `ConvTranspose`: `[N, M·group, spatial...]` with the weights `[C, M, k...]`; each
/// spatial size is `output_shape`'s, else `stride·(in − 1) + output_padding +
/// (k − 1)·dilation + 1 − pads` (`in·stride` with `SAME_*` padding).
fn conv_transpose(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let w = cx.shape(1)?;
    if x.len() < 3 || w.len() != x.len() {
        return Err(format!(
            "input {} and weight {} do not form a transposed convolution",
            show(x),
            show(w)
        ));
    }
    let n = x.len() - 2;
    let group = attr_int(cx, "group", 1);
    if group < 1 {
        return Err(format!("`group` must be positive, not {group}"));
    }
    let channels = match dim_value(&w[1]) {
        Some(m) => Dim::Value(fit(i128::from(m) * i128::from(group))?),
        None => Dim::Unknown,
    };
    let mut out = vec![x[0].clone(), channels];
    if let Some(shape) = attr_ints(cx, "output_shape") {
        let spatial = match shape.len() {
            l if l == n => shape,
            l if l == n + 2 => &shape[2..],
            l => {
                return Err(format!(
                    "`output_shape` has {l} values for {n} spatial dimensions"
                ));
            }
        };
        out.extend(spatial.iter().map(|&d| Dim::Value(d)));
        return Ok(vec![typed(elem(cx.input(0)?), out)]);
    }
    let kernel: Vec<Option<i64>> = match attr_ints(cx, "kernel_shape") {
        Some(k) if k.len() == n => k.iter().map(|&v| Some(v)).collect(),
        Some(k) => {
            return Err(format!(
                "kernel {k:?} does not match {n} spatial dimensions"
            ));
        }
        None => w[2..].iter().map(dim_value).collect(),
    };
    let strides = per_axis(cx, "strides", n, 1)?;
    let dilations = per_axis(cx, "dilations", n, 1)?;
    let output_padding = per_axis(cx, "output_padding", n, 0)?;
    let pads = per_axis(cx, "pads", 2 * n, 0)?;
    if let Some(bad) = strides.iter().chain(&dilations).find(|&&v| v < 1) {
        return Err(format!("strides and dilations must be positive, not {bad}"));
    }
    let auto_pad = cx.node.attr_str("auto_pad").unwrap_or("NOTSET");
    for i in 0..n {
        let (Some(size), Some(k)) = (dim_value(&x[i + 2]), kernel[i]) else {
            out.push(Dim::Unknown);
            continue;
        };
        let w = |v: i64| i128::from(v);
        let v = match auto_pad {
            "SAME_UPPER" | "SAME_LOWER" => w(size) * w(strides[i]),
            _ => {
                let pads = if auto_pad == "VALID" {
                    0
                } else {
                    w(pads[i]) + w(pads[i + n])
                };
                w(strides[i]) * (w(size) - 1)
                    + w(output_padding[i])
                    + (w(k) - 1) * w(dilations[i])
                    + 1
                    - pads
            }
        };
        if v < 0 {
            return Err(format!("spatial axis {i} would have {v} elements"));
        }
        out.push(Dim::Value(fit(v)?));
    }
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

/// `MaxUnpool`: `output_shape` when it is a constant, else
/// `(in − 1)·stride + kernel − pads` per spatial axis.
fn max_unpool(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    if cx.has_input(2) {
        return Ok(vec![match cx.const_ints(2)? {
            Some(shape) => known(elem(x), &shape),
            None => open(elem(x), cx.length(2)?),
        }]);
    }
    let dims = cx.shape(0)?;
    if dims.len() < 3 {
        return Err(format!("input {} has no spatial dimensions", show(dims)));
    }
    let n = dims.len() - 2;
    let kernel = attr_ints(cx, "kernel_shape").ok_or("it has no `kernel_shape`")?;
    if kernel.len() != n {
        return Err(format!(
            "kernel {kernel:?} does not match {n} spatial dimensions"
        ));
    }
    let strides = per_axis(cx, "strides", n, 1)?;
    let pads = per_axis(cx, "pads", 2 * n, 0)?;
    let mut out = dims[..2].to_vec();
    for i in 0..n {
        out.push(match dim_value(&dims[i + 2]) {
            Some(size) => {
                let w = |v: i64| i128::from(v);
                let v = (w(size) - 1) * w(strides[i]) + w(kernel[i]) - w(pads[i]) - w(pads[i + n]);
                if v < 0 {
                    return Err(format!("spatial axis {i} would have {v} elements"));
                }
                Dim::Value(fit(v)?)
            }
            None => Dim::Unknown,
        });
    }
    Ok(vec![typed(elem(x), out)])
}

/// `Col2Im`: columns `[N, C·∏block, L]` become an image `[N, C, image_shape...]`.
fn col2im(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let dims = cx.shape(0)?;
    if dims.len() != 3 {
        return Err(format!("input {} is not [N, C·∏block, L]", show(dims)));
    }
    let image: Vec<Dim> = match cx.const_ints(1)? {
        Some(image) => image.iter().map(|&d| Dim::Value(d)).collect(),
        None => match cx.length(1)? {
            Some(rank) => vec![Dim::Unknown; rank],
            None => return Ok(vec![open(elem(x), None)]),
        },
    };
    let channels = match (dim_value(&dims[1]), cx.const_ints(2)?) {
        (Some(c), Some(block)) => {
            let mut size = 1i128;
            for &b in &block {
                size = size.saturating_mul(i128::from(b));
            }
            if size < 1 {
                return Err(format!("block shape {block:?} is not positive"));
            }
            Dim::Value(fit(i128::from(c) / size)?)
        }
        _ => Dim::Unknown,
    };
    let mut out = vec![dims[0].clone(), channels];
    out.extend(image);
    Ok(vec![typed(elem(x), out)])
}

/// `RoiAlign`: `[num_rois, C, output_height, output_width]`.
fn roi_align(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let rois = cx.shape(1)?;
    let (Some(c), Some(r)) = (x.get(1), rois.first()) else {
        return Err(format!(
            "input {} or rois {} is too small",
            show(x),
            show(rois)
        ));
    };
    let out = vec![
        r.clone(),
        c.clone(),
        Dim::Value(attr_int(cx, "output_height", 1)),
        Dim::Value(attr_int(cx, "output_width", 1)),
    ];
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

/// `GridSample`: `[N, C]` of the input, then the grid's spatial dimensions.
fn grid_sample(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let grid = cx.shape(1)?;
    if x.len() < 3 || grid.len() != x.len() {
        return Err(format!(
            "input {} and grid {} do not match",
            show(x),
            show(grid)
        ));
    }
    let mut out = x[..2].to_vec();
    out.extend_from_slice(&grid[1..grid.len() - 1]);
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

/// `AffineGrid`: for a size `[N, C, H, W]` a grid `[N, H, W, 2]`, for `[N, C, D, H, W]`
/// a grid `[N, D, H, W, 3]`.
fn affine_grid(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let theta = cx.input(0)?;
    let size: Vec<Dim> = match cx.const_ints(1)? {
        Some(size) => size.iter().map(|&d| Dim::Value(d)).collect(),
        None => match cx.length(1)? {
            Some(rank) => vec![Dim::Unknown; rank],
            None => return Ok(vec![open(elem(theta), None)]),
        },
    };
    let coordinates = match size.len() {
        4 => 2,
        5 => 3,
        n => return Err(format!("size has {n} values, neither 4 nor 5")),
    };
    let mut out = vec![size[0].clone()];
    out.extend_from_slice(&size[2..]);
    out.push(Dim::Value(coordinates));
    Ok(vec![typed(elem(theta), out)])
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

/// A 2-D sliding window over an NHWC tensor, as QONNX's `Im2Col` and FINN's sliding
/// window generator read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// `[k_h, k_w]`.
    pub(crate) kernel: [usize; 2],
    /// `[s_h, s_w]`.
    pub(crate) stride: [usize; 2],
    /// `[d_h, d_w]`.
    pub(crate) dilation: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub(crate) pads: [usize; 4],
}

impl Window {
    /// The output's spatial dimensions `[OH, OW]` for an input of `[H, W]`: ONNX's
    /// `(in + pads - d * (k - 1) - 1) / s + 1`; an error when the window does not fit.
    pub(crate) fn out_dims(&self, input: [usize; 2]) -> Result<[usize; 2], String> {
        let mut out = [0; 2];
        for i in 0..2 {
            let (k, s, d) = (self.kernel[i], self.stride[i], self.dilation[i]);
            if k == 0 || s == 0 || d == 0 {
                return Err("kernel, stride and dilation must be positive".into());
            }
            let padded = input[i] + self.pads[i] + self.pads[i + 2];
            let extent = d * (k - 1) + 1;
            if extent > padded {
                return Err(format!(
                    "a window of extent {extent} does not fit into {padded} (padded)"
                ));
            }
            out[i] = (padded - extent) / s + 1;
        }
        Ok(out)
    }

    /// For every output element, in order, the flat index of the input element it copies,
    /// or `None` for padding: `out[n, oh, ow, (kh * k_w + kw) * C + c]` is
    /// `x[n, oh * s_h + kh * d_h - top, ow * s_w + kw * d_w - left, c]`, channels innermost
    /// and kernel positions row-major.
    pub(crate) fn gather(&self, [n, h, w, c]: [usize; 4]) -> Result<Vec<Option<usize>>, String> {
        let [oh, ow] = self.out_dims([h, w])?;
        let [kh, kw] = self.kernel;
        let total = [n, oh, ow, kh, kw, c]
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or("the output would hold more than 2^64 values")?;
        let mut out = Vec::with_capacity(total);
        for b in 0..n {
            for y in 0..oh {
                for x in 0..ow {
                    for i in 0..kh {
                        for j in 0..kw {
                            let row = (y * self.stride[0] + i * self.dilation[0])
                                .checked_sub(self.pads[0])
                                .filter(|&r| r < h);
                            let col = (x * self.stride[1] + j * self.dilation[1])
                                .checked_sub(self.pads[1])
                                .filter(|&r| r < w);
                            for ch in 0..c {
                                out.push(match (row, col) {
                                    (Some(r), Some(q)) => Some(((b * h + r) * w + q) * c + ch),
                                    _ => None,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The output length of a pooling axis: ONNX's `floor` (or, in ceil mode, `ceil`) of
/// `(in + pads - extent) / stride + 1`, where in ceil mode a last window starting in the
/// end padding is dropped.
pub(crate) fn pooled_length(
    input: usize,
    [begin, end]: [usize; 2],
    extent: usize,
    stride: usize,
    ceil: bool,
) -> Result<usize, String> {
    let padded = input + begin + end;
    if extent > padded || stride == 0 {
        return Err(format!(
            "a window of extent {extent} does not fit into {padded} (padded)"
        ));
    }
    let span = padded - extent;
    let mut out = if ceil {
        span.div_ceil(stride) + 1
    } else {
        span / stride + 1
    };
    if ceil && (out - 1) * stride >= input + begin {
        out -= 1;
    }
    Ok(out)
}

/// `MaxPool` on values, for one or two spatial axes (`NCW`, `NCHW`): the largest value
/// of each window; padding never wins, and a window of ceil mode that runs past the end
/// takes the largest of what it covers. Only the values output.
fn max_pool_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
        return Err("its indices output is not computed here".into());
    }
    let a = x[0];
    let (n, c, h, w, spatial) = match *a.dims.as_slice() {
        [n, c, w] => (n, c, 1, w, 1),
        [n, c, h, w] => (n, c, h, w, 2),
        _ => {
            return Err(format!(
                "its input of shape {:?} is not NCW or NCHW",
                a.dims
            ));
        }
    };
    let list = |name: &str, default: usize, len: usize| -> Result<Vec<usize>, String> {
        match node.attr_ints(name) {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&d| d >= 0) => {
                Ok(v.iter().map(|&d| d as usize).collect())
            }
            Some(v) => Err(format!("`{name}` {v:?} is not {len} sizes")),
        }
    };
    let pad2 = |v: Vec<usize>| {
        if spatial == 1 {
            [0, v[0], 0, v[1]]
        } else {
            [v[0], v[1], v[2], v[3]]
        }
    };
    let one = |v: Vec<usize>| {
        if spatial == 1 {
            [1, v[0]]
        } else {
            [v[0], v[1]]
        }
    };
    let kernel = one(list("kernel_shape", 0, spatial)?);
    let stride = one(list("strides", 1, spatial)?);
    let dilation = one(list("dilations", 1, spatial)?);
    let pads = pad2(list("pads", 0, 2 * spatial)?);
    if kernel.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
        return Err("kernel, strides and dilations must be positive".into());
    }
    if node.attr_str("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err("`auto_pad` is not supported here; give `pads`".into());
    }
    let ceil = node.attr_int("ceil_mode").unwrap_or(0) != 0;
    let extent = |i: usize| dilation[i] * (kernel[i] - 1) + 1;
    let oh = pooled_length(h, [pads[0], pads[2]], extent(0), stride[0], ceil)?;
    let ow = pooled_length(w, [pads[1], pads[3]], extent(1), stride[1], ceil)?;
    let dims: Vec<usize> = if spatial == 1 {
        vec![n, c, ow]
    } else {
        vec![n, c, oh, ow]
    };
    count(&dims, run)?;
    let geometry = PoolGeometry {
        planes: n * c,
        input: [h, w],
        output: [oh, ow],
        kernel,
        stride,
        dilation,
        begin: [pads[0], pads[1]],
    };
    Ok(vec![match &a.values {
        Values::Float(v) => Array::floats(a.elem, dims, geometry.max(v, f64::NEG_INFINITY)),
        Values::Int(v) => Array::ints(a.elem, dims, geometry.max(v, i64::MIN)),
    }])
}

/// `Conv` on values, for one or two spatial axes (`NCW`, `NCHW`), grouped, strided,
/// dilated and padded (explicit `pads`). Each output sums its window in `f64` in the order
/// a lowering to `Im2Col` and `MatMul` sums it (kernel rows, kernel columns, then input
/// channels innermost), rounds the sum to the element type, and only then adds the bias,
/// as the lowered `MatMul` and `Add` do: lowering is bit-exact.
fn conv_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (a, k) = (x[0], x[1]);
    if !crate::eval::is_float(a.elem) {
        return Err(format!(
            "its input is {:?}; Conv takes floating-point tensors (ConvInteger takes integers)",
            a.elem
        ));
    }
    let (n, c, h, w, spatial) = match *a.dims.as_slice() {
        [n, c, w] => (n, c, 1, w, 1),
        [n, c, h, w] => (n, c, h, w, 2),
        _ => {
            return Err(format!(
                "its input of shape {:?} is not NCW or NCHW",
                a.dims
            ));
        }
    };
    let (m, cg, kh, kw) = match (spatial, k.dims.as_slice()) {
        (1, &[m, cg, kw]) => (m, cg, 1, kw),
        (2, &[m, cg, kh, kw]) => (m, cg, kh, kw),
        _ => {
            return Err(format!(
                "its weight of shape {:?} does not match an input of shape {:?}",
                k.dims, a.dims
            ));
        }
    };
    let group = match node.attr_int("group").unwrap_or(1) {
        g if g >= 1 => g as usize,
        g => return Err(format!("`group` must be positive, not {g}")),
    };
    if c % group != 0 || m % group != 0 || cg * group != c {
        return Err(format!(
            "{c} input channels and {m} output channels in {group} groups do not match a \
             weight of shape {:?} (its second axis must be channels / group)",
            k.dims
        ));
    }
    if let Some(shape) = node.attr_ints("kernel_shape")
        && shape
            .iter()
            .map(|&d| d as usize)
            .ne([kh, kw][2 - spatial..].iter().copied())
    {
        return Err(format!(
            "`kernel_shape` {shape:?} disagrees with the weight of shape {:?}",
            k.dims
        ));
    }
    if node.attr_str("auto_pad").is_some_and(|p| p != "NOTSET") {
        return Err("`auto_pad` is not supported here; give `pads`".into());
    }
    let list = |name: &str, default: usize, len: usize| -> Result<Vec<usize>, String> {
        match node.attr_ints(name) {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&d| d >= 0) => {
                Ok(v.iter().map(|&d| d as usize).collect())
            }
            Some(v) => Err(format!("`{name}` {v:?} is not {len} sizes")),
        }
    };
    let (stride, dilation, pads) = (
        list("strides", 1, spatial)?,
        list("dilations", 1, spatial)?,
        list("pads", 0, 2 * spatial)?,
    );
    let window = if spatial == 1 {
        Window {
            kernel: [1, kw],
            stride: [1, stride[0]],
            dilation: [1, dilation[0]],
            pads: [0, pads[0], 0, pads[1]],
        }
    } else {
        Window {
            kernel: [kh, kw],
            stride: [stride[0], stride[1]],
            dilation: [dilation[0], dilation[1]],
            pads: [pads[0], pads[1], pads[2], pads[3]],
        }
    };
    let [oh, ow] = window.out_dims([h, w])?;
    let dims: Vec<usize> = if spatial == 1 {
        vec![n, m, ow]
    } else {
        vec![n, m, oh, ow]
    };
    count(&dims, run)?;
    let bias = match x.get(2) {
        Some(b) if b.dims.iter().product::<usize>() == m => Some(b.as_f64()),
        Some(b) => {
            return Err(format!(
                "its bias of shape {:?} is not one value per output channel ({m})",
                b.dims
            ));
        }
        None => None,
    };
    let (xv, kv) = (a.as_f64(), k.as_f64());
    let per_group = m / group;
    let cell = |o: usize, t: usize, i: usize, len: usize| {
        (o * window.stride[i] + t * window.dilation[i])
            .checked_sub(window.pads[i])
            .filter(|&v| v < len)
    };
    let mut out = Vec::with_capacity(n * m * oh * ow);
    for b in 0..n {
        for oc in 0..m {
            let first = (oc / per_group) * cg;
            for y in 0..oh {
                for x0 in 0..ow {
                    let mut s = 0.0;
                    for i in 0..kh {
                        let Some(r) = cell(y, i, 0, h) else { continue };
                        for j in 0..kw {
                            let Some(q) = cell(x0, j, 1, w) else { continue };
                            for ic in 0..cg {
                                let xi = ((b * c + first + ic) * h + r) * w + q;
                                let ki = ((oc * cg + ic) * kh + i) * kw + j;
                                s += xv[xi] * kv[ki];
                            }
                        }
                    }
                    if let Some(bias) = &bias {
                        s = round_float(a.elem, s) + bias[oc];
                    }
                    out.push(s);
                }
            }
        }
    }
    Ok(vec![Array::floats(a.elem, dims, out)])
}

/// `GlobalAveragePool` and `GlobalMaxPool` on values: per sample and channel, the mean
/// (summed in `f64`, divided by the count, rounded once to the element type) or the
/// largest of all spatial positions.
fn global_pool_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    if a.dims.len() < 3 {
        return Err(format!(
            "its input of shape {:?} has no spatial axes",
            a.dims
        ));
    }
    let (n, c) = (a.dims[0], a.dims[1]);
    let plane: usize = a.dims[2..].iter().product();
    let mut dims = vec![n, c];
    dims.extend(std::iter::repeat_n(1, a.dims.len() - 2));
    count(&dims, run)?;
    let average = node.op_type == "GlobalAveragePool";
    if plane == 0 {
        return Err("its spatial axes hold no values".into());
    }
    Ok(vec![match &a.values {
        Values::Float(v) => Array::floats(
            a.elem,
            dims,
            v.chunks(plane)
                .map(|p| {
                    if average {
                        p.iter().sum::<f64>() / plane as f64
                    } else {
                        p.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    }
                })
                .collect(),
        ),
        Values::Int(v) if !average => Array::ints(
            a.elem,
            dims,
            v.chunks(plane)
                .map(|p| p.iter().copied().max().unwrap_or(i64::MIN))
                .collect(),
        ),
        Values::Int(_) => return Err("GlobalAveragePool takes floating-point tensors".into()),
    }])
}

/// Where the windows of a 2-D pooling sit.
struct PoolGeometry {
    planes: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    begin: [usize; 2],
}

impl PoolGeometry {
    /// The largest value of each window of each plane (`empty` for a window that covers
    /// only padding).
    fn max<T: Copy + PartialOrd>(&self, v: &[T], empty: T) -> Vec<T> {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let cell = |o: usize, k: usize, i: usize, len: usize| {
            (o * self.stride[i] + k * self.dilation[i])
                .checked_sub(self.begin[i])
                .filter(|&v| v < len)
        };
        let mut out = Vec::with_capacity(self.planes * oh * ow);
        for p in 0..self.planes {
            let plane = &v[p * h * w..(p + 1) * h * w];
            for y in 0..oh {
                for x in 0..ow {
                    let mut best: Option<T> = None;
                    for ky in 0..self.kernel[0] {
                        for kx in 0..self.kernel[1] {
                            if let (Some(r), Some(q)) = (cell(y, ky, 0, h), cell(x, kx, 1, w)) {
                                let value = plane[r * w + q];
                                if best.is_none_or(|b| value > b) {
                                    best = Some(value);
                                }
                            }
                        }
                    }
                    out.push(best.unwrap_or(empty));
                }
            }
        }
        out
    }
}
