//! Linear algebra: `MatMul`, `MatMulInteger`, `Gemm` and `Attention`.

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
