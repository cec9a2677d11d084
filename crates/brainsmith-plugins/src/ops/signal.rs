//! Signal processing: `DFT`, `STFT`, the windows (`HannWindow`, `HammingWindow`,
//! `BlackmanWindow`) and `MelWeightMatrix`. Shape rules only.

use super::Domain::Onnx;
use super::{Entry, What};
use crate::shapes::{Ctx, FLOAT, axis, dim_value, elem, fit, show, typed};
use brainsmith_core::ir::{Dim, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &["DFT"],
        what: What::Shape(dft),
    },
    Entry {
        domain: Onnx,
        ops: &["STFT"],
        what: What::Shape(stft),
    },
    Entry {
        domain: Onnx,
        ops: &["HannWindow", "HammingWindow", "BlackmanWindow"],
        what: What::Shape(window),
    },
    Entry {
        domain: Onnx,
        ops: &["MelWeightMatrix"],
        what: What::Shape(mel_weight_matrix),
    },
];

/// The `output_datatype` attribute, float by default.
fn output_datatype(cx: &Ctx<'_>) -> i32 {
    cx.node
        .attr_int("output_datatype")
        .and_then(|t| i32::try_from(t).ok())
        .unwrap_or(FLOAT)
}

/// The value of scalar input `i` when it is a constant.
fn scalar(cx: &Ctx<'_>, i: usize) -> Result<Option<i64>, String> {
    if !cx.has_input(i) {
        return Ok(None);
    }
    Ok(match cx.const_ints(i)?.as_deref() {
        Some([v]) => Some(*v),
        _ => None,
    })
}

/// `n / 2 + 1`, the bins of a one-sided transform of length `n`.
fn one_sided(n: &Dim) -> Dim {
    dim_value(n).map_or(Dim::Unknown, |n| Dim::Value(n / 2 + 1))
}

/// `DFT`: the transformed axis `dft_length` long (by default as long as it was, or
/// `2·(n − 1)` for an inverse one-sided transform), `n / 2 + 1` for a forward one-sided
/// one; the last axis 2 (complex), or 1 for an inverse one-sided transform (real).
fn dft(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = cx.shape(0)?;
    if dims.len() < 3 {
        return Err(format!(
            "input {} is not [batch, signal..., 1 or 2]",
            show(dims)
        ));
    }
    let rank = dims.len();
    let elem_type = elem(cx.input(0)?);
    let onesided = cx.node.attr_int("onesided").unwrap_or(0) != 0;
    let inverse = cx.node.attr_int("inverse").unwrap_or(0) != 0;
    let parts = Dim::Value(if onesided && inverse { 1 } else { 2 });
    let a = if cx.opset >= 20 {
        match scalar(cx, 2)? {
            Some(a) => a,
            None if cx.has_input(2) => {
                // The axis is chosen at run time: any signal axis may change, unless the
                // transform keeps every length.
                let mut out = dims.to_vec();
                if onesided || cx.has_input(1) {
                    out[1..rank - 1].fill(Dim::Unknown);
                }
                out[rank - 1] = parts;
                return Ok(vec![typed(elem_type, out)]);
            }
            None => -2,
        }
    } else {
        cx.node.attr_int("axis").unwrap_or(1)
    };
    let a = axis(a, rank, "axis")?;
    if a == 0 || a == rank - 1 {
        return Err(format!("axis {a} is not a signal axis of rank {rank}"));
    }
    let length = if cx.has_input(1) {
        scalar(cx, 1)?.map_or(Dim::Unknown, Dim::Value)
    } else if onesided && inverse {
        match dim_value(&dims[a]) {
            Some(n) => Dim::Value(fit(2 * (i128::from(n) - 1))?),
            None => Dim::Unknown,
        }
    } else {
        dims[a].clone()
    };
    let mut out = dims.to_vec();
    out[a] = if onesided && !inverse {
        one_sided(&length)
    } else {
        length
    };
    out[rank - 1] = parts;
    Ok(vec![typed(elem_type, out)])
}

/// `STFT`: `[batch, frames, bins, 2]`, `1 + (signal − frame) / step` frames of
/// `frame_length` (else the window's length) bins, halved plus one when `onesided`.
fn stft(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = cx.shape(0)?;
    let [batch, length, _] = dims else {
        return Err(format!(
            "signal {} is not [batch, length, 1 or 2]",
            show(dims)
        ));
    };
    let frame = match scalar(cx, 3)? {
        Some(f) => Dim::Value(f),
        None if cx.has_input(2) => match cx.shape(2)? {
            [n] => n.clone(),
            w => return Err(format!("window {} is not 1-D", show(w))),
        },
        None => Dim::Unknown,
    };
    let frames = match (dim_value(length), dim_value(&frame), scalar(cx, 1)?) {
        (Some(n), Some(f), Some(step)) if step > 0 && f <= n => {
            Dim::Value(fit((i128::from(n) - i128::from(f)) / i128::from(step) + 1)?)
        }
        (Some(n), Some(f), Some(step)) => {
            return Err(format!(
                "frames of {f} in steps of {step} do not fit a signal of {n}"
            ));
        }
        _ => Dim::Unknown,
    };
    let bins = if cx.node.attr_int("onesided").unwrap_or(1) != 0 {
        one_sided(&frame)
    } else {
        frame
    };
    let out = vec![batch.clone(), frames, bins, Dim::Value(2)];
    Ok(vec![typed(elem(cx.input(0)?), out)])
}

/// The windows: `[size]`.
fn window(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let size = scalar(cx, 0)?.map_or(Dim::Unknown, Dim::Value);
    Ok(vec![typed(output_datatype(cx), vec![size])])
}

/// `MelWeightMatrix`: `[dft_length / 2 + 1, num_mel_bins]`.
fn mel_weight_matrix(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let bins = scalar(cx, 0)?.map_or(Dim::Unknown, Dim::Value);
    let length = scalar(cx, 1)?.map_or(Dim::Unknown, Dim::Value);
    Ok(vec![typed(
        output_datatype(cx),
        vec![one_sided(&length), bins],
    )])
}
