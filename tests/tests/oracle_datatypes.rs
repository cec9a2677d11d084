//! InferDataTypes against the qonnx oracle on every real model: qonnx runs InferShapes and
//! InferDataTypes; we run RemoveStaticGraphInputs (qonnx reads initializers listed as
//! inputs as constants), InferShapes and InferDataTypes. Every node output must end with
//! the same QONNX datatype (its annotation, or the FLOAT32/FLOAT16 qonnx assumes without
//! one).

use std::collections::HashMap;

use brainsmith_core::ir::{ElemType, Model, QuantType};
use brainsmith_plugins::{InferDataTypes, InferShapes, RemoveStaticGraphInputs};
use brainsmith_tests::oracle::{apply_all, tensor_pairs};

/// Every node output's datatype as qonnx reads it.
fn datatypes(model: &Model) -> HashMap<String, QuantType> {
    let graph = &model.graph;
    let annotated = graph.datatypes();
    let mut elems: HashMap<&str, i32> = HashMap::new();
    for v in graph.value_info.iter().chain(&graph.outputs) {
        if let Some(t) = v.tensor_type() {
            elems.insert(&v.name, t.elem_type);
        }
    }
    graph
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().filter(|o| !o.is_empty()))
        .map(|o| {
            let datatype = annotated.get(o).copied().unwrap_or_else(|| {
                if elems.get(o.as_str()) == Some(&(ElemType::Float16 as i32)) {
                    QuantType::Float16
                } else {
                    QuantType::Float32
                }
            });
            (o.clone(), datatype)
        })
        .collect()
}

#[test]
fn infer_datatypes_matches_the_oracle_on_every_model() {
    let Some((pairs, compared)) = tensor_pairs(
        "infer_datatypes",
        "InferShapes,InferDataTypes",
        |m| {
            apply_all(
                m,
                &[&RemoveStaticGraphInputs, &InferShapes, &InferDataTypes],
            )
        },
        datatypes,
    ) else {
        return;
    };
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut mismatches = Vec::new();
    for p in &pairs {
        *seen.entry(p.ours.to_string()).or_default() += 1;
        if p.ours != p.theirs {
            mismatches.push(format!(
                "{}: '{}' is {} here, {} in qonnx",
                p.model, p.tensor, p.ours, p.theirs
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared >= 15, "only {compared} models compared");
    // The real models quantize with MultiThreshold (UINT, BIPOLAR) and with Quant and
    // FloatQuant (FLOAT<e,m,b>, and SCALEDINT written as FLOAT32).
    assert!(
        seen.len() >= 4,
        "too few distinct datatypes to mean much: {seen:?}"
    );
    eprintln!(
        "InferDataTypes: {} tensors of {compared} models agree with qonnx: {seen:?}",
        pairs.len()
    );
}
