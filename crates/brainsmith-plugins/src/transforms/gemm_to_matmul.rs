//! [`GemmToMatMul`]

use brainsmith_core::ir::{ElemType, Node, Tensor};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, rewrite_each};
use crate::eval::{Array, Values};

/// Replaces every `Gemm` (`alpha * A' * B' + beta * C`) by a `MatMul`, with a `Transpose`
/// where `transA` or `transB` is set, a `Mul` where `alpha` or `beta` is not 1, and an
/// `Add` of `C` when there is one.
///
/// A constant `B` or `C` that only this node reads is transposed or scaled in place
/// rather than through a new node. An optional `C` left out (opset 11 and later) needs no
/// `Add`.
///
/// ```
/// use brainsmith_plugins::GemmToMatMul;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// let mut m = Sketch::new().input("a", &[1, 3]).constant("b", &[3, 2], &[1.0; 6])
///     .constant("c", &[2], &[0.5, -0.5]).op("Gemm", ["a", "b", "c"], ["y"]).output("y").build();
/// assert!(apply(&GemmToMatMul, &mut m));
/// assert_eq!(op_types(&m), ["MatMul", "Add"]);
/// ```
#[transform(stage = topology_opt, tags = ["gemm", "matmul", "lowering"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct GemmToMatMul;

impl Transform for GemmToMatMul {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(rewrite_each(
            &mut model.graph,
            ctx,
            |n| n.op_type == "Gemm",
            lower,
        ))
    }
}

/// The constant `name` when node `i` is its only reader, as an array.
fn exclusive_constant(rewriter: &Rewriter<'_>, name: &str) -> Option<Array> {
    if rewriter.reads(name) != 1 || rewriter.graph().is_output(name) {
        return None;
    }
    Array::from_tensor(rewriter.constant(name)?).ok()
}

fn transposed(a: &Array) -> Option<Array> {
    let [rows, cols] = a.dims[..] else {
        return None;
    };
    let at = |k: usize| (k % rows) * cols + k / rows;
    let values = match &a.values {
        Values::Float(v) => Values::Float((0..v.len()).map(|k| v[at(k)]).collect()),
        Values::Int(v) => Values::Int((0..v.len()).map(|k| v[at(k)]).collect()),
    };
    Some(Array {
        elem: a.elem,
        dims: vec![cols, rows],
        values,
    })
}

fn scaled(a: &Array, factor: f64) -> Option<Array> {
    match &a.values {
        Values::Float(v) => Some(Array::floats(
            a.elem,
            a.dims.clone(),
            v.iter().map(|x| x * factor).collect(),
        )),
        Values::Int(_) => None,
    }
}

fn lower(rewriter: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let node = rewriter.graph().nodes[i].clone();
    let (a, b) = match node.inputs.as_slice() {
        [a, b] | [a, b, _] => (a.clone(), b.clone()),
        other => return Err(format!("it has {} inputs, expected 2 or 3", other.len())),
    };
    let c = node.inputs.get(2).filter(|c| !c.is_empty()).cloned();
    let alpha = f64::from(node.attr_float("alpha").unwrap_or(1.0));
    let beta = f64::from(node.attr_float("beta").unwrap_or(1.0));
    let (trans_a, trans_b) = (
        node.attr_int("transA").unwrap_or(0) != 0,
        node.attr_int("transB").unwrap_or(0) != 0,
    );
    let y = node.outputs[0].clone();
    let label = if node.name.is_empty() {
        y.clone()
    } else {
        node.name.clone()
    };
    let transpose = |rewriter: &mut Rewriter<'_>, x: &str, suffix: &str| {
        let out = rewriter.fresh(&format!("{x}_transposed"));
        // No `perm`: the default reverses the two axes.
        let n = Node::new("Transpose", [x.to_owned()], [out.clone()]);
        (rewriter.named_after(&node, suffix, n), out)
    };
    let elem = rewriter
        .constant(&b)
        .or_else(|| c.as_deref().and_then(|c| rewriter.constant(c)))
        .map_or(ElemType::Float, Tensor::elem_type);

    // Everything that can fail, before the graph changes.
    let new_b = trans_b
        .then(|| exclusive_constant(rewriter, &b).and_then(|v| transposed(&v)))
        .flatten()
        .map(|v| v.to_tensor(""))
        .transpose()?;
    let new_c = c
        .as_deref()
        .filter(|_| beta != 1.0)
        .and_then(|c| exclusive_constant(rewriter, c).and_then(|v| scaled(&v, beta)))
        .map(|v| v.to_tensor(""))
        .transpose()?;
    let alpha_k = (alpha != 1.0).then(|| scalar(elem, alpha)).transpose()?;
    let beta_k = (c.is_some() && beta != 1.0 && new_c.is_none())
        .then(|| scalar(elem, beta))
        .transpose()?;

    let mut nodes = Vec::new();
    let mut a_in = a.clone();
    if trans_a {
        let (n, out) = transpose(rewriter, &a, "transpose_a");
        nodes.push(n);
        a_in = out;
    }
    let mut b_in = b.clone();
    if trans_b && new_b.is_none() {
        let (n, out) = transpose(rewriter, &b, "transpose_b");
        nodes.push(n);
        b_in = out;
    }
    let product = if alpha_k.is_some() || c.is_some() {
        rewriter.fresh(&format!("{y}_matmul"))
    } else {
        y.clone()
    };
    nodes.push(rewriter.named_after(
        &node,
        "matmul",
        Node::new("MatMul", [a_in, b_in], [product.clone()]),
    ));
    let mut result = product;
    if let Some(k) = alpha_k {
        let k = rewriter.add_constant(&format!("{label}_alpha"), k);
        let out = if c.is_some() {
            rewriter.fresh(&format!("{y}_scaled"))
        } else {
            y.clone()
        };
        nodes.push(rewriter.named_after(
            &node,
            "alpha",
            Node::new("Mul", [result, k], [out.clone()]),
        ));
        result = out;
    }
    if let Some(c) = &c {
        let mut c_in = c.clone();
        if let Some(k) = beta_k {
            let k = rewriter.add_constant(&format!("{label}_beta"), k);
            let out = rewriter.fresh(&format!("{c}_scaled"));
            nodes.push(rewriter.named_after(
                &node,
                "beta",
                Node::new("Mul", [c.clone(), k], [out.clone()]),
            ));
            c_in = out;
        }
        nodes.push(rewriter.named_after(
            &node,
            "add",
            Node::new("Add", [result, c_in], [y.clone()]),
        ));
    }
    // Only this node reads them: they change in place, under their own names.
    if let Some(t) = new_b {
        rewriter.replace_constant(i, 1, t);
    }
    if let Some(t) = new_c {
        rewriter.replace_constant(i, 2, t);
    }
    rewriter.replace_node(i, nodes);
    Ok(())
}

fn scalar(elem: ElemType, value: f64) -> Result<Tensor, String> {
    Array::floats(elem, Vec::new(), vec![value])
        .to_tensor("")
        .map_err(|e| format!("alpha/beta: {e}"))
}
