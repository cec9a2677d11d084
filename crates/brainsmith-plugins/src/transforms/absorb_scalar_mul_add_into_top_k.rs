//! [`AbsorbScalarMulAddIntoTopK`]

use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;

/// Removes the per-tensor arithmetic in front of a `TopK` whose scores are not used: an
/// `Add`, a `Sub`, or a `Mul` or `Div` by a positive constant keeps the order of the
/// scores, so the indices do not change (FINN's absorption of a classifier's last scale
/// into its top-k). Unlike FINN, it checks that the order is kept strictly, as float32
/// computes it: the scores must be integers of a known type (at most 2^20 values), and
/// the arithmetic must give every two neighbouring integers of that type different
/// results; otherwise two scores could become equal and the tie go another way.
///
/// ```
/// use brainsmith_plugins::AbsorbScalarMulAddIntoTopK;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // Halving 4-bit scores keeps their order: the top 3 labels do not change.
/// let mut m = Sketch::new().int_input("x", &[1, 10], "UINT4")
///     .constant("half", &[], &[0.5]).ints("k", &[1], &[3])
///     .op("Mul", ["x", "half"], ["s"]).op("TopK", ["s", "k"], ["scores", "labels"])
///     .output("labels").build();
/// assert!(apply(&AbsorbScalarMulAddIntoTopK, &mut m));
/// assert_eq!(op_types(&m), ["TopK"]);
/// assert_eq!(m.graph.nodes[0].inputs[0], "x");
/// ```
#[transform(stage = topology_opt, consumes = ["Add", "Sub", "Mul", "Div"], tags = ["streamline", "topk"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct AbsorbScalarMulAddIntoTopK;

impl Transform for AbsorbScalarMulAddIntoTopK {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut r = Rewriter::new(&mut model.graph);
        for i in 0..r.graph().nodes.len() {
            let node = &r.graph().nodes[i];
            if node.op_type != "TopK" || !node.is_onnx() {
                continue;
            }
            let values = node.outputs.first().cloned().unwrap_or_default();
            if !values.is_empty() && (r.reads(&values) > 0 || r.graph().is_output(&values)) {
                continue;
            }
            if let Err(why) = absorb(&mut r, i) {
                let name = r.graph().nodes[i].name.clone();
                ctx.warn(name, format!("the arithmetic before it stays: {why}"));
            }
        }
        Ok(r.finish())
    }
}

type Step = (usize, fn(f32, f32) -> f32, f32);

fn absorb(r: &mut Rewriter<'_>, topk: usize) -> Result<(), String> {
    let mut current = r.graph().nodes[topk].inputs[0].clone();
    let mut steps: Vec<Step> = Vec::new();
    loop {
        if r.reads(&current) != 1 || r.graph().is_output(&current) {
            break;
        }
        let Some(p) = r.producer(&current) else { break };
        let pn = &r.graph().nodes[p];
        if !pn.is_onnx() || pn.inputs.len() != 2 {
            break;
        }
        let scalar = |name: &str| {
            r.constant(name)
                .and_then(|t| t.to_f64().ok())
                .filter(|v| v.len() == 1)
                .map(|v| v[0] as f32)
        };
        let (data, f, c): (String, fn(f32, f32) -> f32, f32) = match pn.op_type.as_str() {
            "Add" | "Mul" => {
                let (data, c) = match (scalar(&pn.inputs[1]), scalar(&pn.inputs[0])) {
                    (Some(c), _) => (pn.inputs[0].clone(), c),
                    (None, Some(c)) => (pn.inputs[1].clone(), c),
                    _ => break,
                };
                if pn.op_type == "Add" {
                    (data, |v, c| v + c, c)
                } else {
                    (data, |v, c| v * c, c)
                }
            }
            "Sub" => match scalar(&pn.inputs[1]) {
                Some(c) => (pn.inputs[0].clone(), |v, c| v - c, c),
                None => break,
            },
            "Div" => match scalar(&pn.inputs[1]) {
                Some(c) => (pn.inputs[0].clone(), |v, c| v / c, c),
                None => break,
            },
            _ => break,
        };
        if matches!(pn.op_type.as_str(), "Mul" | "Div") && !(c > 0.0 && c.is_finite()) {
            break;
        }
        if r.constant(&data).is_some() {
            break;
        }
        steps.push((p, f, c));
        current = data;
    }
    if steps.is_empty() {
        return Ok(());
    }
    let datatype = r
        .datatype(&current)
        .filter(|d| d.is_integer())
        .ok_or_else(|| {
            format!(
                "its scores '{current}' are not of a known integer type, so the order the \
                 arithmetic keeps cannot be checked (run InferDataTypes)"
            )
        })?;
    let (lo, hi) = datatype.range();
    if hi - lo > f64::from(1u32 << 20) {
        return Err(format!(
            "its scores' type {datatype} has too many values to check"
        ));
    }
    let f = |v: f32| steps.iter().rev().fold(v, |acc, (_, f, c)| f(acc, *c));
    let mut previous = f(lo as f32);
    let mut v = lo + 1.0;
    while v <= hi {
        let next = f(v as f32);
        if next <= previous {
            return Err(format!(
                "the arithmetic maps scores {} and {v} to {previous} and {next}: the order \
                 would change",
                v - 1.0
            ));
        }
        previous = next;
        v += 1.0;
    }
    let old = r.graph().nodes[topk].inputs[0].clone();
    r.unread(&old);
    r.read(&current);
    r.node_mut(topk).inputs[0] = current;
    for (node, _, _) in steps {
        r.replace_node(node, Vec::new());
    }
    Ok(())
}
