//! [`MoveScalarMulPastMatMul`]

use brainsmith_core::ir::Node;
use brainsmith_core::prelude::*;

use super::rewrite::Rewriter;
use crate::eval::Array;

/// Moves a scalar `Mul` from the input of a `MatMul` or a bias-free `Conv` to its output:
/// `MatMul(x * c, W)` becomes `MatMul(x, W) * c`, so that the scale meets the thresholds
/// (or the next scale) after the product, where `AbsorbAffineIntoMultiThreshold` takes
/// it. This is how a quantized network's activation scales leave the integer datapath.
///
/// Only a scale that is a power of two (`±2^k`) moves: scaling by one commutes with every
/// rounding of the products, their sums and the cast to the element type, so the move is
/// exact bit for bit (for values within the element type's normal range). Another scale
/// would change the last bit of some outputs; that `Mul` stays, with a diagnostic. The
/// `Mul` must be the layer's only reader of its output.
///
/// ```
/// use brainsmith_plugins::MoveScalarMulPastMatMul;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // MatMul(x * 0.5, W) is MatMul(x, W) * 0.5, exactly: 0.5 is a power of two.
/// let mut m = Sketch::new().input("x", &[1, 2]).constant("half", &[], &[0.5])
///     .constant("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]).op("Mul", ["x", "half"], ["s"])
///     .op("MatMul", ["s", "w"], ["y"]).output("y").build();
/// assert!(apply(&MoveScalarMulPastMatMul, &mut m));
/// assert_eq!(op_types(&m), ["MatMul", "Mul"]);
/// ```
#[transform(stage = topology_opt, tags = ["arithmetic", "streamline"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct MoveScalarMulPastMatMul;

impl Transform for MoveScalarMulPastMatMul {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut changed = false;
        // A move takes a `Mul` one layer down; a chain of layers takes one pass per layer.
        for _ in 0..=model.graph.nodes.len() {
            if !pass(model, ctx) {
                break;
            }
            changed = true;
        }
        Ok(changed)
    }
}

/// The scale `c` of `mul` and the index of its other input, when one input is a constant
/// holding one value that cannot broadcast the other to more axes.
fn scale(rw: &Rewriter<'_>, mul: &Node) -> Option<(f64, usize)> {
    (0..2).find_map(|k| {
        let t = rw.constant(&mul.inputs[k])?;
        let rank = rw.rank(&mul.inputs[1 - k]).unwrap_or(1);
        if t.dims().len() > rank {
            return None;
        }
        let a = Array::from_tensor(t).ok()?;
        let v = a.as_f64();
        (v.len() == 1).then(|| (v[0], 1 - k))
    })
}

/// Whether `c` is `±2^k` with `2^k` a normal float32.
fn power_of_two(c: f64) -> bool {
    let m = c.abs();
    m.is_normal()
        && m.to_bits() & ((1u64 << 52) - 1) == 0
        && (f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&m)
}

fn pass(model: &mut Model, ctx: &mut TransformContext) -> bool {
    let mut rw = Rewriter::new(&mut model.graph);
    let mut moved = false;
    let mut taken = vec![false; rw.graph().nodes.len()];
    for i in 0..rw.graph().nodes.len() {
        let layer = &rw.graph().nodes[i];
        let linear = match layer.op_type.as_str() {
            "MatMul" => layer.inputs.len() == 2,
            "Conv" => match layer.inputs.len() {
                2 => true,
                3 => layer.inputs[2].is_empty(),
                _ => false,
            },
            _ => false,
        };
        if !layer.is_onnx() || !linear || layer.outputs.len() != 1 {
            continue;
        }
        let Some(m) = rw.producer(&layer.inputs[0]) else {
            continue;
        };
        let mul = &rw.graph().nodes[m];
        if mul.op_type != "Mul"
            || !mul.is_onnx()
            || mul.inputs.len() != 2
            || mul.outputs.len() != 1
            || taken[m]
        {
            continue;
        }
        let Some((c, x)) = scale(&rw, mul) else {
            continue;
        };
        if rw.reads(&mul.outputs[0]) != 1 || rw.graph().is_output(&mul.outputs[0]) {
            continue;
        }
        if !power_of_two(c) {
            let (name, op) = (mul.name.clone(), layer.op_type.clone());
            ctx.warn(
                name,
                format!(
                    "Mul by {c} stays before the {op}: only a power-of-two scale moves past \
                     it exactly; the thresholds after it cannot absorb this one"
                ),
            );
            continue;
        }
        let (mul, layer) = (mul.clone(), layer.clone());
        let product = rw.fresh(&format!("{}_unscaled", layer.outputs[0]));
        let mut new_layer = layer.clone();
        new_layer.inputs[0].clone_from(&mul.inputs[x]);
        new_layer.outputs[0].clone_from(&product);
        let mut new_mul = mul.clone();
        new_mul.inputs[x] = product;
        new_mul.outputs[0].clone_from(&layer.outputs[0]);
        rw.replace_node(m, Vec::new());
        rw.replace_node(i, vec![new_layer, new_mul]);
        rw.forget_type(&mul.outputs[0]);
        taken[m] = true;
        taken[i] = true;
        moved = true;
    }
    rw.finish();
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainsmith_core::ir::{ElemType, Tensor, ValueInfo};

    fn layer(op: &str, scale: f32) -> Model {
        let mut m = Model::default();
        m.set_opset_version("", 13);
        let conv = op == "Conv";
        let (x, w, y): (&[i64], &[i64], &[i64]) = if conv {
            (&[1, 2, 3, 3], &[2, 2, 2, 2], &[1, 2, 2, 2])
        } else {
            (&[1, 4], &[4, 3], &[1, 3])
        };
        *m.graph.inputs = vec![ValueInfo::tensor("x", ElemType::Float, x)];
        *m.graph.outputs = vec![ValueInfo::tensor("y", ElemType::Float, y)];
        let wlen: i64 = w.iter().product();
        let wv: Vec<f32> = (0..wlen).map(|i| (i % 5) as f32 * 0.37 - 0.6).collect();
        *m.graph.initializers = vec![
            Tensor::from_f32("c", &[], &[scale]),
            Tensor::from_f32("w", w, &wv),
        ];
        *m.graph.nodes = vec![
            Node::new("Mul", ["x", "c"], ["xs"]).with_name("scale"),
            Node::new(op, ["xs", "w"], ["y"]).with_name("layer"),
        ];
        m
    }

    fn ops(m: &Model) -> Vec<&str> {
        m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn a_power_of_two_moves_past_matmul_and_conv_bit_exact() {
        for (op, len, shape) in [("MatMul", 4, vec![1, 4]), ("Conv", 18, vec![1, 2, 3, 3])] {
            for scale in [0.0078125f32, -4.0] {
                let before = layer(op, scale);
                let mut after = before.clone();
                let mut ctx = TransformContext::default();
                assert!(MoveScalarMulPastMatMul.apply(&mut after, &mut ctx).unwrap());
                assert_eq!(ops(&after), [op, "Mul"]);
                for seed in 0..4u32 {
                    let v: Vec<f32> = (0..len)
                        .map(|i| ((i as u32 * 7 + seed * 13) % 11) as f32 * 0.731 - 3.3)
                        .collect();
                    let x = Tensor::from_f32("x", &shape, &v);
                    let run = |m: &Model| {
                        crate::exec::execute(m, std::slice::from_ref(&x)).unwrap()[0]
                            .to_f64()
                            .unwrap()
                    };
                    assert_eq!(run(&before), run(&after), "{op} by {scale}");
                }
            }
        }
    }

    #[test]
    fn a_scale_that_adds_axes_stays() {
        let mut m = layer("MatMul", 0.5);
        m.graph.initializers[0] = Tensor::from_f32("c", &[1, 1, 1], &[0.5]);
        assert!(
            !MoveScalarMulPastMatMul
                .apply(&mut m, &mut TransformContext::default())
                .unwrap()
        );
        assert_eq!(ops(&m), ["Mul", "MatMul"]);
    }

    #[test]
    fn another_scale_stays_and_says_why() {
        let mut m = layer("MatMul", 0.3);
        let mut ctx = TransformContext::default();
        assert!(!MoveScalarMulPastMatMul.apply(&mut m, &mut ctx).unwrap());
        assert_eq!(ops(&m), ["Mul", "MatMul"]);
        assert!(ctx.diagnostics()[0].message.contains("power-of-two"));
    }
}
