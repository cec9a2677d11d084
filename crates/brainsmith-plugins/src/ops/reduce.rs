//! Reductions: the `Reduce*` family, `ArgMax`/`ArgMin`, `TopK`, the losses
//! (`NegativeLogLikelihoodLoss`, `SoftmaxCrossEntropyLoss`), `NonMaxSuppression` and
//! `TfIdfVectorizer`.

use super::Domain::Onnx;
use super::movement::{axes_input, axes_of};
use super::{Entry, What};
use crate::eval::{Array, Run, Values, axis_in, count, strides};
use crate::shapes::{Ctx, FLOAT, INT64, attr_int, axis, elem, open, show, typed};
use brainsmith_core::ir::{Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: REDUCE,
        what: What::Shape(reduce),
    },
    Entry {
        domain: Onnx,
        ops: &["ArgMax", "ArgMin"],
        what: What::Shape(arg_reduce),
    },
    Entry {
        domain: Onnx,
        ops: &["TopK"],
        what: What::Shape(top_k),
    },
    Entry {
        domain: Onnx,
        ops: &["TopK"],
        what: What::Eval(top_k_values, 1),
    },
    Entry {
        domain: Onnx,
        ops: &["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"],
        what: What::Shape(loss),
    },
    Entry {
        domain: Onnx,
        ops: &["TfIdfVectorizer"],
        what: What::Shape(tf_idf_vectorizer),
    },
    Entry {
        domain: Onnx,
        ops: &["NonMaxSuppression"],
        what: What::Shape(non_max_suppression),
    },
    Entry {
        domain: Onnx,
        ops: &[
            "ReduceMean",
            "ReduceSum",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
        ],
        what: What::Eval(reduce_values, 1),
    },
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

fn reduce(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let since = if cx.node.op_type == "ReduceSum" {
        13
    } else {
        18
    };
    let keep = attr_int(cx, "keepdims", 1) != 0;
    let runtime_axes = cx.opset >= since && cx.has_input(1) && cx.const_ints(1)?.is_none();
    let Some(dims) = cx.shape_if_known(0)?.filter(|_| !runtime_axes) else {
        // Axes chosen at run time keep the rank when reduced axes are kept; the input's
        // rank unknown leaves the output's unknown.
        let rank = cx.shape_if_known(0)?.map(<[Dim]>::len).filter(|_| keep);
        return Ok(vec![open(elem(x), rank)]);
    };
    let axes = axes_of(cx, 1, since)?;
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
        Dim::Value(cx.node.attr_int("k").ok_or("it has no `k`")?)
    } else {
        // A `k` computed at run time leaves the axis's length open.
        match cx.const_ints(1)? {
            Some(k) => Dim::Value(*k.first().ok_or("k is empty")?),
            None => Dim::Unknown,
        }
    };
    let mut out = dims.to_vec();
    out[a] = k;
    Ok(vec![typed(elem(x), out.clone()), typed(INT64, out)])
}

/// `NegativeLogLikelihoodLoss` and `SoftmaxCrossEntropyLoss`: the loss per element of
/// the target (`[N, d1, ...]`) without reduction, else a scalar; the softmax loss's
/// optional log-probabilities have the scores' shape.
fn loss(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let scores = cx.input(0)?;
    let reduced = cx.node.attr_str("reduction").unwrap_or("mean") != "none";
    let loss = if reduced {
        typed(elem(scores), vec![])
    } else {
        TensorType {
            elem_type: elem(scores),
            shape: cx.input(1)?.shape.clone(),
        }
    };
    Ok(vec![loss, scores.clone()])
}

/// `TfIdfVectorizer`: the last axis (`[C]` or `[N, C]`) reduced to one count per n-gram,
/// as many as the largest of `ngram_indexes` plus one, as floats.
fn tf_idf_vectorizer(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let indexes = cx
        .node
        .attr_ints("ngram_indexes")
        .ok_or("it has no `ngram_indexes`")?;
    let width = match indexes.iter().max() {
        Some(&m) if (0..i64::MAX).contains(&m) => Dim::Value(m + 1),
        Some(&m) => return Err(format!("n-gram index {m} is out of range")),
        None => Dim::Value(0),
    };
    let out = match cx.shape(0)? {
        [_] => vec![width],
        [n, _] => vec![n.clone(), width],
        dims => return Err(format!("input {} is neither [C] nor [N, C]", show(dims))),
    };
    Ok(vec![typed(FLOAT, out)])
}

/// `NonMaxSuppression`: `[selected, 3]` indices, as many as the boxes kept at run time.
fn non_max_suppression(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![typed(INT64, vec![Dim::Unknown, Dim::Value(3)])])
}

fn reduce_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let op = node.op_type.as_str();
    let since = if op == "ReduceSum" { 13 } else { 18 };
    let keep = node.attr_int("keepdims").unwrap_or(1) != 0;
    let axes: Vec<usize> = match axes_input(node, &x[1..], run.opset, since)? {
        Some(ax) if !ax.is_empty() => ax
            .iter()
            .map(|&v| axis_in(v, a.dims.len()))
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

/// `TopK` on values: along `axis`, the `k` largest (or smallest) values and their
/// indices, in order (`sorted`), ties going to the lower index, as ONNX specifies. `k`
/// is the second input (opset 10) or the attribute.
fn top_k_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let a = x[0];
    let k = match x.get(1) {
        Some(k) => *k.as_i64()?.first().ok_or("k is empty")?,
        None => node.attr_int("k").ok_or("it has no `k`")?,
    };
    let ax = axis_in(node.attr_int("axis").unwrap_or(-1), a.dims.len())?;
    let n = a.dims[ax];
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| k <= n)
        .ok_or_else(|| format!("k = {k} is not within 0..={n}, the length of axis {ax}"))?;
    let largest = node.attr_int("largest").unwrap_or(1) != 0;
    let mut dims = a.dims.clone();
    dims[ax] = k;
    count(&dims, run)?;
    let inner: usize = a.dims[ax + 1..].iter().product();
    let outer: usize = a.dims[..ax].iter().product();
    let values = a.as_f64();
    let mut picked: Vec<usize> = Vec::with_capacity(outer * k * inner);
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| values[(o * n + j) * inner + i];
            order.clear();
            order.extend(0..n);
            // Stable: equal values keep the lower index first.
            order.sort_by(|&p, &q| {
                let (vp, vq) = (at(p), at(q));
                let by = vp.partial_cmp(&vq).unwrap_or(std::cmp::Ordering::Equal);
                if largest { by.reverse() } else { by }
            });
            picked.extend_from_slice(&order[..k]);
        }
    }
    // `picked` is in (outer, inner, k) order; the outputs are (outer, k, inner).
    let mut indices = vec![0usize; outer * k * inner];
    for o in 0..outer {
        for i in 0..inner {
            for r in 0..k {
                indices[(o * k + r) * inner + i] = picked[(o * inner + i) * k + r];
            }
        }
    }
    let source =
        |o: usize, r: usize, i: usize| (o * n + indices[(o * k + r) * inner + i]) * inner + i;
    let mut flat = Vec::with_capacity(indices.len());
    for o in 0..outer {
        for r in 0..k {
            for i in 0..inner {
                flat.push(source(o, r, i));
            }
        }
    }
    let values_out = match &a.values {
        Values::Float(v) => {
            Array::floats(a.elem, dims.clone(), flat.iter().map(|&f| v[f]).collect())
        }
        Values::Int(v) => Array::ints(a.elem, dims.clone(), flat.iter().map(|&f| v[f]).collect()),
    };
    let index_out = Array::ints(
        ElemType::Int64,
        dims,
        indices.iter().map(|&j| j as i64).collect(),
    );
    Ok(vec![values_out, index_out])
}
