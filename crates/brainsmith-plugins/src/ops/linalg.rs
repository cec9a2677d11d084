//! Linear algebra: `MatMul`, `MatMulInteger`, `QLinearMatMul`, `Gemm`, `Einsum`, `Det`,
//! `Attention` and the recurrent layers (`RNN`, `GRU`, `LSTM`).

use super::Domain::Onnx;
use super::{Entry, What};
use crate::eval::{Array, Run, Values, broadcast_dims, broadcast_index, count};
use crate::shapes::{Ctx, attr_int, broadcast, dim_value, elem, fit, show, typed};
use brainsmith_core::ir::{Dim, ElemType, Node, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &["MatMul", "MatMulInteger"],
        what: What::Shape(matmul),
    },
    Entry {
        domain: Onnx,
        ops: &["Gemm"],
        what: What::Shape(gemm),
    },
    Entry {
        domain: Onnx,
        ops: &["Attention"],
        what: What::Shape(attention),
    },
    Entry {
        domain: Onnx,
        ops: &["QLinearMatMul"],
        what: What::Shape(qlinear_matmul),
    },
    Entry {
        domain: Onnx,
        ops: &["Det"],
        what: What::Shape(det),
    },
    Entry {
        domain: Onnx,
        ops: &["RNN", "GRU", "LSTM"],
        what: What::Shape(recurrent),
    },
    Entry {
        domain: Onnx,
        ops: &["Einsum"],
        what: What::Shape(einsum),
    },
    Entry {
        domain: Onnx,
        ops: &["MatMul"],
        what: What::Eval(matmul_values, 2),
    },
    Entry {
        domain: Onnx,
        ops: &["Gemm"],
        what: What::Eval(gemm_values, 2),
    },
];

fn matmul(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let elem_type = if cx.node.op_type == "MatMulInteger" {
        6
    } else {
        elem(cx.input(0)?)
    };
    Ok(vec![typed(elem_type, matmul_dims(cx, 0, 1)?)])
}

/// `QLinearMatMul`: a matrix product of inputs 0 and 3, in the output zero point's type.
fn qlinear_matmul(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![typed(elem(cx.input(7)?), matmul_dims(cx, 0, 3)?)])
}

/// The dimensions of the matrix product of inputs `a_at` and `b_at`.
fn matmul_dims(cx: &Ctx<'_>, a_at: usize, b_at: usize) -> Result<Vec<Dim>, String> {
    let a = cx.shape(a_at)?;
    let b = cx.shape(b_at)?;
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
    Ok(out)
}

/// `Det`: one determinant per square matrix of the last two axes.
fn det(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let dims = cx.shape(0)?;
    if dims.len() < 2 {
        return Err(format!("input {} holds no matrix", show(dims)));
    }
    Ok(vec![typed(
        elem(cx.input(0)?),
        dims[..dims.len() - 2].to_vec(),
    )])
}

/// `RNN`, `GRU` and `LSTM`: `Y` `[seq, directions, batch, hidden]` and the last states
/// `[directions, batch, hidden]` (`[batch, seq, directions, hidden]` and
/// `[batch, directions, hidden]` with `layout` 1).
fn recurrent(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.shape(0)?;
    let [a, b, _] = x else {
        return Err(format!("input {} is not 3-D", show(x)));
    };
    let batchwise = attr_int(cx, "layout", 0) != 0;
    let (seq, batch) = if batchwise { (b, a) } else { (a, b) };
    let directions = Dim::Value(match cx.node.attr_str("direction") {
        Some("bidirectional") => 2,
        _ => 1,
    });
    let hidden = match cx.node.attr_int("hidden_size") {
        Some(h) => Dim::Value(h),
        None => match cx.shape(2)? {
            [_, _, h] => h.clone(),
            r => return Err(format!("recurrence weights {} are not 3-D", show(r))),
        },
    };
    let (y, state) = if batchwise {
        (
            vec![
                batch.clone(),
                seq.clone(),
                directions.clone(),
                hidden.clone(),
            ],
            vec![batch.clone(), directions, hidden],
        )
    } else {
        (
            vec![
                seq.clone(),
                directions.clone(),
                batch.clone(),
                hidden.clone(),
            ],
            vec![directions, batch.clone(), hidden],
        )
    };
    let elem_type = elem(cx.input(0)?);
    Ok(vec![
        typed(elem_type, y),
        typed(elem_type, state.clone()),
        typed(elem_type, state),
    ])
}

/// `Einsum`: each output label's dimension from the inputs, the broadcast ellipsis
/// dimensions where the output has `...`; without `->`, the ellipsis dimensions then the
/// labels used once, in alphabetical order.
fn einsum(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let equation: String = cx
        .node
        .attr_str("equation")
        .ok_or("it has no `equation`")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != cx.node.inputs.len() {
        return Err(format!(
            "equation `{equation}` has {} operands for {} inputs",
            terms.len(),
            cx.node.inputs.len()
        ));
    }
    let mut labels: Vec<(char, Dim, usize)> = Vec::new();
    let mut ellipsis: Option<Vec<Dim>> = None;
    for (i, term) in terms.iter().enumerate() {
        let dims = cx.shape(i)?;
        let (before, after) = term.split_once("...").unwrap_or((term, ""));
        let named: Vec<char> = before.chars().chain(after.chars()).collect();
        if let Some(c) = named.iter().find(|c| !c.is_ascii_alphabetic()) {
            return Err(format!("equation `{equation}` has label `{c}`"));
        }
        let has_ellipsis = term.contains("...");
        let extra = dims
            .len()
            .checked_sub(named.len())
            .filter(|&e| has_ellipsis || e == 0);
        let Some(extra) = extra else {
            return Err(format!(
                "operand `{term}` does not match input {i} of shape {}",
                show(dims)
            ));
        };
        let first = before.chars().count();
        if has_ellipsis {
            let part = &dims[first..first + extra];
            ellipsis = Some(match ellipsis {
                Some(e) => broadcast(&e, part)?,
                None => part.to_vec(),
            });
        }
        let named_dims = dims[..first].iter().chain(&dims[first + extra..]);
        for (c, d) in named.into_iter().zip(named_dims) {
            match labels.iter_mut().find(|(l, ..)| *l == c) {
                Some((_, known, count)) => {
                    *count += 1;
                    if matches!(d, Dim::Value(v) if *v != 1) || *known == Dim::Unknown {
                        *known = d.clone();
                    }
                }
                None => labels.push((c, d.clone(), 1)),
            }
        }
    }
    let ellipsis = ellipsis.unwrap_or_default();
    let dim_of = |c: char| {
        labels
            .iter()
            .find(|(l, ..)| *l == c)
            .map(|(_, d, _)| d.clone())
            .ok_or_else(|| format!("output label `{c}` is no input's"))
    };
    let out = match rhs {
        Some(rhs) => {
            let (before, after) = rhs.split_once("...").unwrap_or((rhs, ""));
            let mut out = before.chars().map(dim_of).collect::<Result<Vec<_>, _>>()?;
            if rhs.contains("...") {
                out.extend(ellipsis);
            }
            for c in after.chars() {
                out.push(dim_of(c)?);
            }
            out
        }
        None => {
            let mut once: Vec<&(char, Dim, usize)> =
                labels.iter().filter(|(.., n)| *n == 1).collect();
            once.sort_by_key(|(c, ..)| *c);
            ellipsis
                .into_iter()
                .chain(once.into_iter().map(|(_, d, _)| d.clone()))
                .collect()
        }
    };
    Ok(vec![typed(elem(cx.input(0)?), out)])
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
    // The caches and the scores, per head: `[B, kv_heads, total_seq, head_size]` with the
    // past sequence (when given) before the new one, `[B, q_heads, q_seq, total_seq]`.
    let k = per_head(cx.shape(1)?, cx.node.attr_int("kv_num_heads"))?;
    let v = per_head(v, cx.node.attr_int("kv_num_heads"))?;
    let q = per_head(q, cx.node.attr_int("q_num_heads"))?;
    let past = if cx.has_input(4) {
        match cx.shape(4)? {
            [_, _, past, _] => Some(past.clone()),
            dims => return Err(format!("past key {} is not 4-D", show(dims))),
        }
    } else {
        None
    };
    let total = match past {
        None => k[2].clone(),
        Some(p) => match (dim_value(&p), dim_value(&k[2])) {
            (Some(a), Some(b)) => Dim::Value(fit(i128::from(a) + i128::from(b))?),
            _ => Dim::Unknown,
        },
    };
    let present_key = vec![k[0].clone(), k[1].clone(), total.clone(), k[3].clone()];
    let present_value = vec![v[0].clone(), v[1].clone(), total.clone(), v[3].clone()];
    let scores = vec![q[0].clone(), q[1].clone(), q[2].clone(), total];
    let elem_type = elem(cx.input(0)?);
    Ok(vec![
        typed(elem_type, y),
        typed(elem_type, present_key),
        typed(elem(cx.input(2)?), present_value),
        typed(elem_type, scores),
    ])
}

/// An attention operand as `[B, heads, seq, head_size]`: 4-D as it is, 3-D
/// `[B, seq, heads·head_size]` split by the head count.
fn per_head(dims: &[Dim], heads: Option<i64>) -> Result<[Dim; 4], String> {
    match dims {
        [b, h, s, e] => Ok([b.clone(), h.clone(), s.clone(), e.clone()]),
        [b, s, hidden] => {
            let heads = heads
                .filter(|&h| h > 0)
                .ok_or("3-D inputs need positive head counts")?;
            let size = dim_value(hidden).map_or(Dim::Unknown, |v| Dim::Value(v / heads));
            Ok([b.clone(), Dim::Value(heads), s.clone(), size])
        }
        _ => Err(format!("operand {} is neither 3-D nor 4-D", show(dims))),
    }
}

fn matmul_values(_: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
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

/// A 2-D array transposed.
fn transposed(a: &Array) -> Result<Array, String> {
    let &[r, c] = a.dims.as_slice() else {
        return Err(format!("a Gemm operand of shape {:?} is not 2-D", a.dims));
    };
    let index = |i: usize| (i % r) * c + i / r;
    Ok(match &a.values {
        Values::Float(v) => Array::floats(
            a.elem,
            vec![c, r],
            (0..r * c).map(|i| v[index(i)]).collect(),
        ),
        Values::Int(v) => Array::ints(
            a.elem,
            vec![c, r],
            (0..r * c).map(|i| v[index(i)]).collect(),
        ),
    })
}

/// `Gemm`, `alpha * A' * B' + beta * C`, computed as `GemmToMatMul` rewrites it (a
/// `MatMul` of the transposed operands, a rounded `Mul` by `alpha` when it is not 1, a
/// rounded `Add` of `C`, itself scaled by `beta` when that is not 1), so the rewrite
/// changes no bit.
fn gemm_values(node: &Node, x: &[&Array], run: &Run) -> Result<Vec<Array>, String> {
    let (mut a, mut b) = (x[0].clone(), x[1].clone());
    if a.dims.len() != 2 || b.dims.len() != 2 {
        return Err(format!(
            "operands {:?} and {:?} are not 2-D",
            a.dims, b.dims
        ));
    }
    if node.attr_int("transA").unwrap_or(0) != 0 {
        a = transposed(&a)?;
    }
    if node.attr_int("transB").unwrap_or(0) != 0 {
        b = transposed(&b)?;
    }
    let mut p = matmul_values(node, &[&a, &b], run)?.remove(0);
    let alpha = f64::from(node.attr_float("alpha").unwrap_or(1.0));
    let beta = f64::from(node.attr_float("beta").unwrap_or(1.0));
    if alpha != 1.0 {
        p = Array::floats(
            p.elem,
            p.dims.clone(),
            p.as_f64().iter().map(|v| v * alpha).collect(),
        );
    }
    if let Some(c) = x.get(2) {
        let c: Vec<f64> = if beta != 1.0 {
            Array::floats(
                c.elem,
                c.dims.clone(),
                c.as_f64().iter().map(|v| v * beta).collect(),
            )
            .as_f64()
        } else {
            c.as_f64()
        };
        let dims = broadcast_dims(&p.dims, &x[2].dims)?;
        if dims != p.dims {
            return Err(format!(
                "C of shape {:?} does not broadcast to {:?}",
                x[2].dims, p.dims
            ));
        }
        let ci = broadcast_index(&x[2].dims, &dims);
        let pv = p.as_f64();
        p = Array::floats(
            p.elem,
            dims,
            pv.iter().zip(&ci).map(|(v, &i)| v + c[i]).collect(),
        );
    }
    Ok(vec![p])
}
