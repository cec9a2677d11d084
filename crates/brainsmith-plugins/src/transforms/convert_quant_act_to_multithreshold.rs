//! [`ConvertQuantActToMultiThreshold`]

use brainsmith_core::ir::{AttributeValue, Graph, Node, QuantType, Tensor, canonical_domain};
use brainsmith_core::prelude::*;

use super::rewrite::{Rewriter, first_reaching};

/// Turns every quantizer of activations (a `BipolarQuant` or an integer `Quant` whose
/// input is computed, not constant) into a `MultiThreshold` counting the levels its input
/// reaches, followed where needed by the `Add` of minus the zero point and the `Mul` by
/// the scale: the integer dataflow form FINN's kernels take, as FINN's QONNX conversion
/// does.
///
/// The thresholds are exact: for each level, the smallest float32 input the quantizer
/// (in float32, with its rounding mode, clamp and zero point) maps to that level or
/// higher, found by bisection over the float32 values. So the converted graph computes
/// what the quantizer computes for every input but NaN, ties and rounding included,
/// where FINN's closed-form thresholds differ at half-way points.
///
/// Scales must be positive and constant, per tensor or per channel (axis 1, or the last
/// axis); zero points constant and per tensor. A quantizer that does not qualify stays,
/// with a diagnostic. Weight quantizers (constant input) are `FoldConstants`' business.
///
/// ```
/// use brainsmith_plugins::ConvertQuantActToMultiThreshold;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, op_types, qonnx};
///
/// // A 2-bit unsigned quantizer with scale 0.5: three thresholds, then the scale.
/// let quant = qonnx("Quant", ["x", "s", "z", "b"], ["y"])
///     .int("signed", 0).int("narrow", 0).text("rounding_mode", "ROUND");
/// let mut m = Sketch::new().input("x", &[1, 4]).constant("s", &[], &[0.5])
///     .constant("z", &[], &[0.0]).constant("b", &[], &[2.0]).node(quant).output("y").build();
/// assert!(apply(&ConvertQuantActToMultiThreshold, &mut m));
/// assert_eq!(op_types(&m), ["MultiThreshold", "Mul"]);
/// ```
#[transform(stage = topology_opt, consumes = ["BipolarQuant", "Quant"], tags = ["qonnx", "quantization", "streamline"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct ConvertQuantActToMultiThreshold;

impl Transform for ConvertQuantActToMultiThreshold {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let changed = rewrite_each_custom(&mut model.graph, ctx);
        Ok(changed)
    }
}

const QONNX: &str = "qonnx.custom_op.general";

/// Offers every activation quantizer to [`convert`]; a refusal becomes a diagnostic.
fn rewrite_each_custom(graph: &mut Graph, ctx: &mut TransformContext) -> bool {
    let mut rewriter = Rewriter::new(graph);
    for i in 0..rewriter.graph().nodes.len() {
        let node = &rewriter.graph().nodes[i];
        let wanted = matches!(node.op_type.as_str(), "BipolarQuant" | "Quant")
            && canonical_domain(&node.domain) == QONNX;
        if !wanted || node.inputs.is_empty() || rewriter.constant(&node.inputs[0]).is_some() {
            continue;
        }
        if let Err(why) = convert(&mut rewriter, i) {
            let node = &rewriter.graph().nodes[i];
            ctx.warn(
                node.name.clone(),
                format!("{} left as it is: {why}", node.op_type),
            );
        }
    }
    rewriter.finish()
}

/// The per-channel values of constant `name` for an input of rank `rank`: one value, or
/// one per channel along a single axis; that axis.
fn per_channel(
    r: &Rewriter<'_>,
    name: &str,
    rank: usize,
) -> Result<(Vec<f32>, Option<usize>), String> {
    let t = r.constant(name).ok_or_else(|| r.not_constant(name))?;
    let values: Vec<f32> = t
        .to_f64()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|&v| v as f32)
        .collect();
    let dims = t.dims();
    if values.len() == 1 {
        return Ok((values, None));
    }
    if dims.len() > rank {
        return Err(format!(
            "'{name}' of shape {dims:?} has more axes than the input"
        ));
    }
    let offset = rank - dims.len();
    let wide: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|(_, d)| **d != 1)
        .map(|(i, _)| i + offset)
        .collect();
    match wide.as_slice() {
        [axis] => Ok((values, Some(*axis))),
        _ => Err(format!(
            "'{name}' of shape {dims:?} varies along more than one axis"
        )),
    }
}

fn convert(r: &mut Rewriter<'_>, i: usize) -> Result<(), String> {
    let node = r.graph().nodes[i].clone();
    let x = node.inputs[0].clone();
    let rank = r
        .rank(&x)
        .ok_or_else(|| format!("the rank of its input '{x}' is unknown; run InferShapes"))?;
    let bipolar_quant = node.op_type == "BipolarQuant";
    let [scale_name, zero_name, bits_name] = if bipolar_quant {
        let [_, s] = node.inputs.as_slice() else {
            return Err(format!("it has {} inputs, not 2", node.inputs.len()));
        };
        [s.clone(), String::new(), String::new()]
    } else {
        let [_, s, z, b] = node.inputs.as_slice() else {
            return Err(format!("it has {} inputs, not 4", node.inputs.len()));
        };
        [s.clone(), z.clone(), b.clone()]
    };
    let (scales, axis) = per_channel(r, &scale_name, rank)?;
    if let Some(bad) = scales.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
        return Err(format!("its scale {bad} is not positive and finite"));
    }
    let zero = if bipolar_quant {
        0.0
    } else {
        match per_channel(r, &zero_name, rank)? {
            (z, None) => z[0],
            _ => return Err("its zero point varies per channel".into()),
        }
    };
    let (bits, signed, narrow) = if bipolar_quant {
        (1, true, false)
    } else {
        let b = r
            .constant(&bits_name)
            .ok_or_else(|| r.not_constant(&bits_name))?
            .to_f64()
            .map_err(|e| e.to_string())?;
        let [b] = b.as_slice() else {
            return Err("its bit width is not one value".into());
        };
        if !(1.0..=16.0).contains(b) || b.fract() != 0.0 {
            return Err(format!(
                "its bit width {b} is not a whole number from 1 to 16 (more levels than \
                 thresholds make sense for)"
            ));
        }
        (
            *b as u32,
            node.attr_int("signed").unwrap_or(1) != 0,
            node.attr_int("narrow").unwrap_or(0) != 0,
        )
    };
    let bipolar = bits == 1 && signed;
    let mode = node
        .attr_str("rounding_mode")
        .unwrap_or("ROUND")
        .to_ascii_uppercase();
    let round: fn(f32) -> f32 = match mode.as_str() {
        "ROUND" | "HALF_EVEN" => f32::round_ties_even,
        "CEIL" => f32::ceil,
        "FLOOR" => f32::floor,
        "DOWN" => f32::trunc,
        "UP" => |x| if x < 0.0 { -(-x).ceil() } else { x.ceil() },
        "HALF_UP" => |x| {
            if x < 0.0 {
                -((-x) + 0.5).floor()
            } else {
                (x + 0.5).floor()
            }
        },
        "HALF_DOWN" => |x| {
            if x < 0.0 {
                -((-x) - 0.5).ceil()
            } else {
                (x - 0.5).ceil()
            }
        },
        other => return Err(format!("its rounding_mode '{other}' is unknown")),
    };
    let (lo, hi) = if bipolar {
        (-1i64, 1i64)
    } else if signed {
        let lo = -(1i64 << (bits - 1)) + i64::from(narrow);
        (lo, (1i64 << (bits - 1)) - 1)
    } else {
        (0, (1i64 << bits) - 1 - i64::from(narrow))
    };
    // The level the quantizer gives input `v` at scale `s`, as the evaluator computes it.
    let level = |v: f32, s: f32| -> f32 {
        if bipolar {
            if v >= 0.0 { 1.0 } else { -1.0 }
        } else {
            round((v / s + zero).clamp(lo as f32, hi as f32))
        }
    };
    let targets: Vec<i64> = if bipolar {
        vec![1]
    } else {
        ((lo + 1)..=hi).collect()
    };
    let mut thresholds: Vec<f32> = Vec::with_capacity(scales.len() * targets.len());
    for &s in &scales {
        for &m in &targets {
            let t = first_reaching(|v| level(v, s) >= m as f32)
                .ok_or_else(|| format!("level {m} is reached by no input"))?;
            thresholds.push(t);
        }
    }
    let rows = scales.len() as i64;
    let steps = targets.len() as i64;
    let out_type = if bipolar {
        QuantType::Bipolar
    } else if signed {
        QuantType::Int(bits)
    } else {
        QuantType::UInt(bits)
    };
    let layout = match axis {
        Some(a) if a == rank - 1 && rank >= 3 => Some(match rank {
            3 => "NWC",
            4 => "NHWC",
            _ => return Err(format!("per-channel scales on the last of {rank} axes")),
        }),
        Some(1) | None => None,
        Some(a) => {
            return Err(format!(
                "its scale varies along axis {a}; thresholds are per channel on axis 1 or \
                 the last"
            ));
        }
    };
    let base = if node.name.is_empty() {
        "quant"
    } else {
        node.name.as_str()
    };
    let t_name = r.add_constant(
        &format!("{base}_thresholds"),
        Tensor::from_f32("", &[rows, steps], &thresholds),
    );
    let y = node.outputs[0].clone();
    let count = r.fresh(&format!("{base}_levels"));
    let mut mt = Node::new("MultiThreshold", [x.clone(), t_name], [count.clone()])
        .with_domain(QONNX)
        .with_attribute("out_dtype", AttributeValue::string(&out_type.to_string()));
    if bipolar {
        mt.set_attribute("out_scale", AttributeValue::Float(2.0));
        mt.set_attribute("out_bias", AttributeValue::Float(-1.0));
    } else {
        mt.set_attribute("out_bias", AttributeValue::Float(lo as f32));
    }
    if let Some(layout) = layout {
        mt.set_attribute("data_layout", AttributeValue::string(layout));
    }
    let mt = r.named_after(&node, "thresholds", mt);
    let mut nodes = vec![mt];
    r.annotate(&count, out_type);
    // y = (q - zero) * scale, as the quantizer computes it; each step only when needed.
    let mut current = count;
    if zero != 0.0 && !bipolar {
        let z = r.add_constant(&format!("{base}_zero"), Tensor::from_f32("", &[], &[-zero]));
        let next = r.fresh(&format!("{base}_centred"));
        let add = Node::new("Add", [current, z], [next.clone()]);
        nodes.push(r.named_after(&node, "zero", add));
        current = next;
    }
    if scales.iter().any(|&s| s != 1.0) {
        let t = r
            .constant(&scale_name)
            .cloned()
            .ok_or("the scale vanished")?;
        let s = r.add_constant(&format!("{base}_scale"), t);
        let mul = Node::new("Mul", [current.clone(), s], [y.clone()]);
        nodes.push(r.named_after(&node, "scale", mul));
    } else if let Some(last) = nodes.last_mut() {
        // No scale: the last node writes the quantizer's output itself.
        last.outputs[0].clone_from(&y);
    }
    if nodes.len() == 1 {
        r.annotate(&y, out_type);
    }
    r.forget_type(&y);
    r.replace_node(i, nodes);
    Ok(())
}
