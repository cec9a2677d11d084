//! [`AbsorbAffineIntoMultiThreshold`]

use brainsmith_core::ir::{Tensor, canonical_domain};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, first_reaching};

/// Moves the elementwise arithmetic in front of a `MultiThreshold` into its thresholds:
/// a chain of `Add`, `Sub`, and `Mul` or `Div` by positive constants (per tensor, or per
/// channel on the threshold's channel axis), what batch normalisation and the
/// quantizers' scales become, is one increasing function `f` per channel, and
/// `f(x) >= t` holds exactly when `x >= t'` for the smallest float32 `t'` with
/// `f(t') >= t`. The chain goes; the thresholds become `t'`, found by bisection over the
/// float32 values with `f` computed as the graph computes it, so the result is exact,
/// rounding included (FINN's `(t - b) / a` is not, at the boundaries).
///
/// Shape-only ops in the chain (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`,
/// `Transpose`) stay where they are; per-tensor arithmetic before them moves through.
/// A link read by anything else ends the chain. Run `ConvertSubToAdd` and
/// `ConvertDivToMul` first or not: both forms are read.
///
/// ```
/// use brainsmith_plugins::AbsorbAffineIntoMultiThreshold;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx, values};
///
/// // (x * 2) >= [4, 6] is x >= [2, 3].
/// let mt = qonnx("MultiThreshold", ["s", "t"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().input("x", &[1, 2]).constant("two", &[], &[2.0])
///     .constant("t", &[2, 1], &[4.0, 6.0]).op("Mul", ["x", "two"], ["s"]).node(mt)
///     .output("y").build();
/// assert!(apply(&AbsorbAffineIntoMultiThreshold, &mut m));
/// assert_eq!(op_types(&m), ["MultiThreshold"]);
/// assert_eq!(values(&m, &m.graph.nodes[0].inputs[1]), [2.0, 3.0]);
/// ```
#[transform(stage = topology_opt, consumes = ["Add", "Sub", "Mul", "Div"], tags = ["streamline", "thresholds"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct AbsorbAffineIntoMultiThreshold;

impl Transform for AbsorbAffineIntoMultiThreshold {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut r = Rewriter::new(&mut model.graph);
        for i in 0..r.graph().nodes.len() {
            let node = &r.graph().nodes[i];
            if node.op_type != "MultiThreshold"
                || canonical_domain(&node.domain) != "qonnx.custom_op.general"
            {
                continue;
            }
            if let Err(why) = absorb(&mut r, i) {
                let name = r.graph().nodes[i].name.clone();
                ctx.warn(name, format!("thresholds kept as they are: {why}"));
            }
        }
        Ok(r.finish())
    }
}

/// One link of the chain: an arithmetic op by a constant, per tensor or per channel.
struct Link {
    node: usize,
    op: Op,
    /// One value, or one per channel.
    values: Vec<f32>,
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    fn apply(self, v: f32, c: f32) -> f32 {
        match self {
            Op::Add => v + c,
            Op::Sub => v - c,
            Op::Mul => v * c,
            Op::Div => v / c,
        }
    }
}

/// The constant operand of an arithmetic node that reads `input` and a constant: its
/// values, and whether they are per channel (`channels` of them along `axis` of a
/// `rank`-D tensor) rather than one.
fn operand(
    r: &Rewriter<'_>,
    name: &str,
    rank: usize,
    axis: usize,
    channels: usize,
) -> Option<Vec<f32>> {
    let t = r.constant(name)?;
    let values: Vec<f32> = t.to_f64().ok()?.iter().map(|&v| v as f32).collect();
    if values.len() == 1 {
        return Some(values);
    }
    let dims = t.dims();
    if dims.len() > rank || values.len() != channels {
        return None;
    }
    let offset = rank - dims.len();
    let along_axis = dims
        .iter()
        .enumerate()
        .all(|(i, &d)| d == 1 || i + offset == axis);
    along_axis.then_some(values)
}

fn absorb(r: &mut Rewriter<'_>, mt: usize) -> Result<(), String> {
    let node = r.graph().nodes[mt].clone();
    let [x, t] = node.inputs.as_slice() else {
        return Ok(());
    };
    let Some(thresholds) = r.constant(t).cloned() else {
        return Ok(());
    };
    let &[rows, steps] = thresholds.dims() else {
        return Err(format!("its thresholds have shape {:?}", thresholds.dims()));
    };
    let Some(shape) = r.shape(x) else {
        return Ok(());
    };
    let rank = shape.len();
    if rank < 2 {
        return Ok(());
    }
    let layout = node.attr_str("data_layout").unwrap_or("NCHW");
    let axis = if layout.ends_with('C') && layout.len() == rank {
        rank - 1
    } else {
        1
    };
    let channels = shape[axis].max(1) as usize;
    if rows != 1 && rows as usize != channels {
        return Err(format!("{rows} threshold rows for {channels} channels"));
    }
    // Walk up from the thresholds' input.
    let mut links: Vec<Link> = Vec::new();
    // (node, input slot) that reads the tensor the walk is at.
    let mut reader = (mt, 0usize);
    let mut rewire: Vec<((usize, usize), String)> = Vec::new();
    let mut through_shape_op = false;
    let mut current = x.clone();
    loop {
        if r.reads(&current) != 1 || r.graph().is_output(&current) {
            break;
        }
        let Some(p) = r.producer(&current) else { break };
        let pn = &r.graph().nodes[p];
        if !pn.is_onnx() {
            break;
        }
        let op = match pn.op_type.as_str() {
            "Add" => Some(Op::Add),
            "Sub" => Some(Op::Sub),
            "Mul" => Some(Op::Mul),
            "Div" => Some(Op::Div),
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" => None,
            _ => break,
        };
        let Some(op) = op else {
            // A shape-only op stays; what is above it must be per tensor.
            through_shape_op = true;
            reader = (p, 0);
            current = pn.inputs[0].clone();
            continue;
        };
        if pn.inputs.len() != 2 {
            break;
        }
        // The constant operand: either side of Add and Mul, the right of Sub and Div.
        let sides: &[usize] = match op {
            Op::Add | Op::Mul => &[1, 0],
            Op::Sub | Op::Div => &[1],
        };
        let found = sides.iter().find_map(|&c| {
            let data = &pn.inputs[1 - c];
            if r.constant(data).is_some() {
                return None;
            }
            operand(r, &pn.inputs[c], rank, axis, channels).map(|v| (c, v))
        });
        let Some((c, values)) = found else { break };
        if through_shape_op && values.len() != 1 {
            break;
        }
        if matches!(op, Op::Mul | Op::Div) && values.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
            break;
        }
        let data = pn.inputs[1 - c].clone();
        rewire.push((reader, data.clone()));
        links.push(Link {
            node: p,
            op,
            values,
        });
        current = data;
    }
    if links.is_empty() {
        return Ok(());
    }
    // f applies the links from the top of the chain down to the thresholds.
    let f = |v: f32, ch: usize| {
        links.iter().rev().fold(v, |acc, l| {
            let c = if l.values.len() == 1 {
                l.values[0]
            } else {
                l.values[ch]
            };
            l.op.apply(acc, c)
        })
    };
    let per_channel = rows != 1 || links.iter().any(|l| l.values.len() != 1);
    let out_rows = if per_channel { channels } else { 1 };
    let old = thresholds.to_f64().map_err(|e| e.to_string())?;
    let mut new = Vec::with_capacity(out_rows * steps as usize);
    for ch in 0..out_rows {
        let row = if rows == 1 { 0 } else { ch };
        for k in 0..steps as usize {
            let t = old[row * steps as usize + k] as f32;
            // Above every value f gives: never reached; the largest float32 stands in.
            new.push(first_reaching(|v| f(v, ch) >= t).unwrap_or(f32::INFINITY));
        }
    }
    // Rewire: each reader of a removed link's output reads the link's input instead.
    // The last rewire of a reader wins: the walk goes upward.
    let mut final_inputs: rustc_hash::FxHashMap<(usize, usize), String> = Default::default();
    for (slot, data) in rewire {
        final_inputs.insert(slot, data);
    }
    for ((n, slot), data) in final_inputs {
        let old = r.graph().nodes[n].inputs[slot].clone();
        r.unread(&old);
        r.read(&data);
        r.node_mut(n).inputs[slot] = data;
    }
    for l in &links {
        r.replace_node(l.node, Vec::new());
    }
    let value = Tensor::from_f32("", &[out_rows as i64, steps], &new);
    r.replace_constant(mt, 1, value);
    Ok(())
}
