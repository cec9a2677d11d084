//! [`InferLabelSelect`]

use brainsmith_core::ir::{AttributeValue, Graph};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::prelude::*;

use crate::kernels::{FINN_DOMAIN, LabelSelect, LabelSelectAttrs};

/// Maps a classifier's `TopK` onto FINN's label selection (`LabelSelect`): the indices
/// of the `K` largest scores along the last axis, largest first, when the scores
/// themselves are not used. Unlike FINN, it checks what `TopK` was asked (the last axis,
/// the largest, sorted) instead of assuming it.
///
/// A node it cannot map stays as it is, with a diagnostic saying which condition failed.
/// Run `InferShapes` and `InferDataTypes` first.
///
/// ```
/// use brainsmith_plugins::InferLabelSelect;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // The 3 best of 10 8-bit scores; only the labels are used.
/// let mut m = Sketch::new().int_input("x", &[1, 10], "UINT8").ints("k", &[1], &[3])
///     .op("TopK", ["x", "k"], ["best", "labels"]).output("labels").build();
/// assert!(apply(&InferLabelSelect, &mut m));
/// assert!(op_types(&m).contains(&"LabelSelect"));
/// ```
#[transform(infers = LabelSelect, consumes = ["TopK"], tags = ["finn", "topk"], version = "0.1.0")]
#[derive(Debug, Default)]
pub struct InferLabelSelect;

impl Transform for InferLabelSelect {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let mut mappings = Vec::new();
        {
            let graph = &model.graph;
            let consumers = graph.consumers();
            for (i, node) in graph.nodes.iter().enumerate() {
                if node.op_type != "TopK" || !node.is_onnx() {
                    continue;
                }
                match plan(graph, i, &consumers) {
                    Ok(attrs) => mappings.push((i, attrs)),
                    Err(why) => ctx.warn(node.name.clone(), format!("left as TopK: {why}")),
                }
            }
        }
        if mappings.is_empty() {
            return Ok(false);
        }
        let graph = &mut model.graph;
        for (i, attrs) in mappings {
            let old = &graph.nodes[i];
            let out = old.outputs[1].clone();
            let mut node = Node::new("LabelSelect", [old.inputs[0].clone()], [out.clone()])
                .with_name(old.name.clone())
                .with_domain(FINN_DOMAIN);
            attrs.write(&mut node);
            node.set_attribute("backend", AttributeValue::string("fpgadataflow"));
            graph.set_datatype(&out, attrs.output_type());
            graph.nodes[i] = node;
        }
        if model.opset_version(FINN_DOMAIN).is_none() {
            model.set_opset_version(FINN_DOMAIN, 1);
        }
        Ok(true)
    }
}

fn plan(
    graph: &Graph,
    i: usize,
    consumers: &rustc_hash::FxHashMap<&str, Vec<usize>>,
) -> Result<LabelSelectAttrs, String> {
    let node = &graph.nodes[i];
    let Some(x) = node.inputs.first().filter(|x| !x.is_empty()) else {
        return Err("it has no input".into());
    };
    let values = node.outputs.first().map(String::as_str).unwrap_or("");
    if !values.is_empty() && (consumers.contains_key(values) || graph.is_output(values)) {
        return Err(format!(
            "its scores output '{values}' is used; the label selection writes labels only"
        ));
    }
    let Some(labels_out) = node.outputs.get(1).filter(|o| !o.is_empty()) else {
        return Err("its indices output is not used".into());
    };
    let _ = labels_out;
    let dt = match Tensors::datatype(graph, x) {
        Some(dt) if dt.is_integer() => dt,
        Some(dt) => return Err(format!("its input '{x}' is {dt}, not an integer type")),
        None => {
            return Err(format!(
                "the datatype of its input '{x}' is unknown; run InferDataTypes"
            ));
        }
    };
    let shape = Tensors::shape(graph, x)
        .ok_or_else(|| format!("the shape of its input '{x}' is unknown; run InferShapes"))?;
    let Some((&labels, lead)) = shape.split_last() else {
        return Err(format!("its input '{x}' is a scalar"));
    };
    let axis = node.attr_int("axis").unwrap_or(-1);
    if axis != -1 && axis != shape.len() as i64 - 1 {
        return Err(format!("it selects along axis {axis}, not the last"));
    }
    if node.attr_int("largest").unwrap_or(1) == 0 {
        return Err("it selects the smallest scores, not the largest".into());
    }
    if node.attr_int("sorted").unwrap_or(1) == 0 {
        return Err("it does not sort its selection; the label selection does".into());
    }
    let k = match node.inputs.get(1).filter(|k| !k.is_empty()) {
        Some(name) => graph
            .constant(name)
            .and_then(|t| t.to_i64().ok())
            .and_then(|v| v.first().copied())
            .ok_or_else(|| format!("its k '{name}' is not a constant"))?,
        None => node.attr_int("k").ok_or("it has no k")?,
    };
    if k < 1 || k > labels {
        return Err(format!("k = {k} is not within 1..={labels}"));
    }
    if lead.contains(&0) || labels < 1 {
        return Err(format!("its input shape {shape:?} has an empty dimension"));
    }
    Ok(LabelSelectAttrs {
        labels: labels as u64,
        pe: 1,
        k: k as u64,
        input: dt,
        output: None,
        vectors: if lead.is_empty() {
            vec![1]
        } else {
            lead.iter().map(|&d| d as u64).collect()
        },
    })
}
