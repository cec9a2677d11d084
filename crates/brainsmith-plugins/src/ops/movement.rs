//! Data movement: the views (`Identity`, `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`),
//! `Transpose`, `Concat`, `Split`, `Slice`, `Gather`, `Expand`, `Tile`, `Pad`,
//! `DepthToSpace`/`SpaceToDepth`, `Resize`, `CenterCropPad`, `Shape`/`Size`, the gathers
//! and scatters (`GatherElements`, `GatherND`, `Scatter*`, `TensorScatter`), and the ops
//! that select elements (`Compress`, `NonZero`, `Unique`, `ReverseSequence`).

use super::Domain::Onnx;
use super::{Entry, What};
use crate::eval::{
    Array, Run, Values, axis_in, broadcast_dims, broadcast_index, count, dims_from, is_float,
    strides, take, with_dims,
};
use crate::shapes::{
    Ctx, INT64, attr_floats, attr_int, attr_ints, axis, broadcast, dim_value, elem, fit, known,
    open, product, shape_window, show, typed, unknown_dims,
};
use brainsmith_core::ir::{Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &[
            "Scatter",
            "ScatterElements",
            "ScatterND",
            "TensorScatter",
            "ReverseSequence",
        ],
        what: What::Shape(same_as_data),
    },
    Entry {
        domain: Onnx,
        ops: &["GatherElements"],
        what: What::Shape(gather_elements),
    },
    Entry {
        domain: Onnx,
        ops: &["GatherND"],
        what: What::Shape(gather_nd),
    },
    Entry {
        domain: Onnx,
        ops: &["Compress"],
        what: What::Shape(compress),
    },
    Entry {
        domain: Onnx,
        ops: &["NonZero"],
        what: What::Shape(non_zero),
    },
    Entry {
        domain: Onnx,
        ops: &["Unique"],
        what: What::Shape(unique),
    },
    Entry {
        domain: Onnx,
        ops: &["CenterCropPad"],
        what: What::Shape(center_crop_pad),
    },
    Entry {
        domain: Onnx,
        ops: &["Shape"],
        what: What::Shape(shape),
    },
    Entry {
        domain: Onnx,
        ops: &["Size"],
        what: What::Shape(size),
    },
    Entry {
        domain: Onnx,
        ops: &["Reshape"],
        what: What::Shape(reshape),
    },
    Entry {
        domain: Onnx,
        ops: &["Flatten"],
        what: What::Shape(flatten),
    },
    Entry {
        domain: Onnx,
        ops: &["Squeeze"],
        what: What::Shape(squeeze),
    },
    Entry {
        domain: Onnx,
        ops: &["Unsqueeze"],
        what: What::Shape(unsqueeze),
    },
    Entry {
        domain: Onnx,
        ops: &["Transpose"],
        what: What::Shape(transpose),
    },
    Entry {
        domain: Onnx,
        ops: &["Concat"],
        what: What::Shape(concat),
    },
    Entry {
        domain: Onnx,
        ops: &["Split"],
        what: What::Shape(split),
    },
    Entry {
        domain: Onnx,
        ops: &["Slice"],
        what: What::Shape(slice),
    },
    Entry {
        domain: Onnx,
        ops: &["Gather"],
        what: What::Shape(gather),
    },
    Entry {
        domain: Onnx,
        ops: &["Expand"],
        what: What::Shape(expand),
    },
    Entry {
        domain: Onnx,
        ops: &["Tile"],
        what: What::Shape(tile),
    },
    Entry {
        domain: Onnx,
        ops: &["Pad"],
        what: What::Shape(pad),
    },
    Entry {
        domain: Onnx,
        ops: &["DepthToSpace", "SpaceToDepth"],
        what: What::Shape(depth_to_space),
    },
    Entry {
        domain: Onnx,
        ops: &["Resize", "Upsample"],
        what: What::Shape(resize),
    },
    Entry {
        domain: Onnx,
        ops: &["Identity"],
        what: What::View(|_, dims, _, _| Ok(dims.to_vec())),
    },
    Entry {
        domain: Onnx,
        ops: &["Reshape"],
        what: What::View(reshape_dims),
    },
    Entry {
        domain: Onnx,
        ops: &["Flatten"],
        what: What::View(flatten_dims),
    },
    Entry {
        domain: Onnx,
        ops: &["Squeeze"],
        what: What::View(squeeze_dims),
    },
    Entry {
        domain: Onnx,
        ops: &["Unsqueeze"],
        what: What::View(unsqueeze_dims),
    },
    Entry {
        domain: Onnx,
        ops: &["Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"],
        what: What::Eval(run_view, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Expand"],
        what: What::Eval(expand_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &["Transpose"],
        what: What::Eval(transpose_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Concat"],
        what: What::Eval(concat_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Slice"],
        what: What::Eval(slice_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["Gather"],
        what: What::Eval(gather_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &["Tile"],
        what: What::Eval(tile_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &["Size"],
        what: What::Eval(size_values, 1),
    },
];

fn size_values(_: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    Ok(vec![Array::ints(
        ElemType::Int64,
        vec![],
        vec![x[0].len() as i64],
    )])
}

fn shape(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let window = shape_window(cx.node, cx.shape(0)?.len());
    Ok(vec![known(INT64, &[window.len() as i64])])
}

fn size(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![known(INT64, &[])])
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
pub(super) fn axes_of(
    cx: &Ctx<'_>,
    i: usize,
    input_since: i64,
) -> Result<Option<Vec<i64>>, String> {
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
    if cx.opset >= 13 && cx.has_input(1) && cx.const_ints(1)?.is_none() {
        // Axes chosen at run time: the rank is open too.
        return Ok(vec![open(elem(x), None)]);
    }
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
    if cx.opset >= 13 && cx.has_input(1) && cx.const_ints(1)?.is_none() {
        // Axes chosen at run time: as many more dimensions as they are long, where and how
        // large unknown.
        let rank = match (cx.shape_if_known(0)?, cx.length(1)?) {
            (Some(dims), Some(n)) => Some(dims.len() + n),
            _ => None,
        };
        return Ok(vec![open(elem(x), rank)]);
    }
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

/// Whether one of inputs `from..=to` is given but computed at run time.
fn any_runtime(cx: &Ctx<'_>, from: usize, to: usize) -> Result<bool, String> {
    for i in from..=to {
        if cx.has_input(i) && cx.const_ints(i)?.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `dims` with the axes of constant input `axes_at` (all of them when it is absent, or
/// computed at run time) made unknown: what an op that changes the sizes of some axes by
/// amounts computed at run time gives.
fn open_axes(cx: &Ctx<'_>, dims: &[Dim], axes_at: usize) -> Result<Vec<Dim>, String> {
    let axes = if cx.has_input(axes_at) {
        cx.const_ints(axes_at)?
    } else {
        None
    };
    let Some(axes) = axes else {
        return Ok(vec![Dim::Unknown; dims.len()]);
    };
    let mut out = dims.to_vec();
    for a in axes {
        out[axis(a, dims.len(), "axis")?] = Dim::Unknown;
    }
    Ok(out)
}

fn slice(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    if cx.opset >= 10 && any_runtime(cx, 1, 4)? {
        let Some(dims) = cx.shape_if_known(0)? else {
            return Ok(vec![open(elem(x), None)]);
        };
        return Ok(vec![typed(elem(x), open_axes(cx, dims, 3)?)]);
    }
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
    let Some(repeats) = cx.const_ints(1)? else {
        // Repeats computed at run time: the rank stays, the sizes are open.
        return Ok(vec![open(elem(x), cx.shape_if_known(0)?.map(<[Dim]>::len))]);
    };
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
    let op_upsample = cx.node.op_type == "Upsample";
    let (scales_at, sizes_at) = if op_upsample || cx.opset < 11 {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![open(elem(x), None)]);
    };
    // Opset 18's `axes`: sizes and scales for those axes only.
    let axes: Vec<usize> = match attr_ints(cx, "axes").filter(|_| cx.opset >= 18) {
        Some(axes) => axes
            .iter()
            .map(|&a| axis(a, dims.len(), "axis"))
            .collect::<Result<_, _>>()?,
        None => (0..dims.len()).collect(),
    };
    let mut out = dims.to_vec();
    if sizes_at != usize::MAX && cx.has_input(sizes_at) {
        let Some(sizes) = cx.const_ints(sizes_at)? else {
            // Sizes computed at run time.
            for &a in &axes {
                out[a] = Dim::Unknown;
            }
            return Ok(vec![typed(elem(x), out)]);
        };
        if sizes.len() != axes.len() {
            return Err("sizes and the axes they size differ in length".into());
        }
        // `not_larger` and `not_smaller` scale every axis by one factor, the smallest
        // (largest) of the ratios asked for, each size then rounded.
        let policy = cx
            .node
            .attr_str("keep_aspect_ratio_policy")
            .unwrap_or("stretch");
        let ratios: Option<Vec<f64>> = axes
            .iter()
            .zip(&sizes)
            .map(|(&a, &size)| dim_value(&dims[a]).map(|v| size as f64 / v as f64))
            .collect();
        let scale = match (policy, ratios) {
            ("not_larger", Some(r)) => Some(r.iter().copied().fold(f64::INFINITY, f64::min)),
            ("not_smaller", Some(r)) => Some(r.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            _ => None,
        };
        for (&a, &size) in axes.iter().zip(&sizes) {
            out[a] = match (policy, scale, dim_value(&dims[a])) {
                ("stretch", ..) => Dim::Value(size),
                (_, Some(scale), Some(v)) => Dim::Value((scale * v as f64).round() as i64),
                _ => Dim::Unknown,
            };
        }
        return Ok(vec![typed(elem(x), out)]);
    }
    let from_attribute = op_upsample && cx.opset < 9;
    if !cx.has_input(scales_at) && !from_attribute {
        return Err("it has neither scales nor sizes".into());
    }
    let scales = match cx.const_floats(scales_at)? {
        Some(s) if !s.is_empty() => s,
        Some(_) | None if op_upsample && cx.opset < 9 => attr_floats(cx, "scales")?,
        Some(_) => return Err("its scales are empty and it has no sizes".into()),
        None => {
            // Scales computed at run time.
            for &a in &axes {
                out[a] = Dim::Unknown;
            }
            return Ok(vec![typed(elem(x), out)]);
        }
    };
    if scales.len() != axes.len() {
        return Err("scales and the axes they scale differ in length".into());
    }
    for (&a, s) in axes.iter().zip(&scales) {
        out[a] =
            dim_value(&dims[a]).map_or(Dim::Unknown, |v| Dim::Value((v as f64 * s).floor() as i64));
    }
    Ok(vec![typed(elem(x), out)])
}

fn split(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let outputs = cx.node.outputs.len() as i64;
    if outputs == 0 {
        return Err("it has no outputs".into());
    }
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![open(elem(x), None); outputs as usize]);
    };
    let a = axis(attr_int(cx, "axis", 0), dims.len(), "axis")?;
    let parts = if cx.opset >= 13 && cx.has_input(1) {
        let Some(parts) = cx.const_ints(1)? else {
            // Parts sized at run time.
            let mut d = dims.to_vec();
            d[a] = Dim::Unknown;
            return Ok(vec![typed(elem(x), d); outputs as usize]);
        };
        parts
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
    if cx.opset >= 11 && (any_runtime(cx, 1, 1)? || (cx.opset >= 18 && any_runtime(cx, 3, 3)?)) {
        let Some(dims) = cx.shape_if_known(0)? else {
            return Ok(vec![open(elem(x), None)]);
        };
        let axes_at = if cx.opset >= 18 { 3 } else { usize::MAX };
        return Ok(vec![typed(elem(x), open_axes(cx, dims, axes_at)?)]);
    }
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

/// The scatters and `ReverseSequence`: the data input's type.
fn same_as_data(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![cx.input(0)?.clone()])
}

/// `GatherElements`: the indices' shape, the data's element type.
fn gather_elements(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![TensorType {
        elem_type: elem(cx.input(0)?),
        shape: cx.input(1)?.shape.clone(),
    }])
}

/// `GatherND` with `batch_dims` b: `indices[:-1]` then `data[b + indices[-1]:]`.
fn gather_nd(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let data = cx.shape(0)?;
    let indices = cx.shape(1)?;
    let b = usize::try_from(attr_int(cx, "batch_dims", 0))
        .map_err(|_| "`batch_dims` is negative".to_owned())?;
    let Some((last, outer)) = indices.split_last() else {
        return Err("its indices are a scalar".into());
    };
    let elem_type = elem(cx.input(0)?);
    let Some(depth) = dim_value(last) else {
        return Ok(vec![open(elem_type, None)]);
    };
    let from = usize::try_from(depth)
        .ok()
        .and_then(|d| d.checked_add(b))
        .filter(|&f| f <= data.len() && b <= outer.len())
        .ok_or_else(|| {
            format!(
                "indices {} with batch_dims {b} do not index data {}",
                show(indices),
                show(data)
            )
        })?;
    let out = outer.iter().chain(&data[from..]).cloned().collect();
    Ok(vec![typed(elem_type, out)])
}

/// `Compress`: the selected elements' count is known only at run time.
fn compress(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let Some(a) = cx.node.attr_int("axis") else {
        return Ok(vec![typed(elem(x), vec![Dim::Unknown])]);
    };
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![open(elem(x), None)]);
    };
    let mut out = dims.to_vec();
    out[axis(a, dims.len(), "axis")?] = Dim::Unknown;
    Ok(vec![typed(elem(x), out)])
}

/// `NonZero`: `[rank, count]` indices, the count known only at run time.
fn non_zero(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let rank = match cx.shape_if_known(0)? {
        Some(dims) => Dim::Value(dims.len() as i64),
        None => Dim::Unknown,
    };
    Ok(vec![typed(INT64, vec![rank, Dim::Unknown])])
}

/// `Unique`: the unique values (flattened, or slices along `axis`) and three index lists,
/// all as long as the number of unique values or the input, known at run time.
fn unique(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let y = match cx.node.attr_int("axis") {
        None => typed(elem(x), vec![Dim::Unknown]),
        Some(a) => match cx.shape_if_known(0)? {
            Some(dims) => {
                let mut out = dims.to_vec();
                out[axis(a, dims.len(), "axis")?] = Dim::Unknown;
                typed(elem(x), out)
            }
            None => open(elem(x), None),
        },
    };
    let list = typed(INT64, vec![Dim::Unknown]);
    Ok(vec![y, list.clone(), list.clone(), list])
}

/// `CenterCropPad`: the input with the sizes of `axes` (all by default) set to the shape
/// input's values.
fn center_crop_pad(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![open(elem(x), None)]);
    };
    let axes: Vec<usize> = match attr_ints(cx, "axes") {
        Some(axes) => axes
            .iter()
            .map(|&a| axis(a, dims.len(), "axis"))
            .collect::<Result<_, _>>()?,
        None => (0..dims.len()).collect(),
    };
    let sizes = cx.const_ints(1)?;
    if let Some(sizes) = &sizes
        && sizes.len() != axes.len()
    {
        return Err(format!(
            "shape {sizes:?} does not match {} axes",
            axes.len()
        ));
    }
    let mut out = dims.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        out[a] = sizes.as_ref().map_or(Dim::Unknown, |s| Dim::Value(s[k]));
    }
    Ok(vec![typed(elem(x), out)])
}

/// Runs a view op on values: its output has the same values under new dimensions.
fn run_view(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let view = super::view(node).ok_or("not a view op")?;
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
pub(super) fn axes_input(
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
                .map(|&v| axis_in(v, dims.len()))
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
        .map(|&v| axis_in(v, rank))
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

fn expand_values(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let target = dims_from(&x[1].as_i64()?)?;
    let out = broadcast_dims(&a.dims, &target)?;
    count(&out, run)?;
    let idx = broadcast_index(&a.dims, &out);
    Ok(vec![take(a, out, &idx)])
}

fn tile_values(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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

fn transpose_values(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let r = a.dims.len();
    let perm: Vec<usize> = match node.attr_ints("perm") {
        Some(p) => p.iter().map(|&v| axis_in(v, r)).collect::<Result<_, _>>()?,
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

fn concat_values(node: &Node, x: &[&Array], _: &Run) -> Result<Vec<Array>, String> {
    let first = x.first().ok_or("it has no inputs")?;
    let ax = axis_in(
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

fn slice_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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
        let ax = axis_in(ax, r)?;
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

fn gather_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (a, indices) = (x[0], x[1]);
    let ax = axis_in(node.attr_int("axis").unwrap_or(0), a.dims.len())?;
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
