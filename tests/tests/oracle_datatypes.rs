//! InferDataTypes against the qonnx oracle on every real model: qonnx runs InferShapes and
//! InferDataTypes; we run RemoveStaticGraphInputs (qonnx reads initializers listed as
//! inputs as constants), InferShapes and InferDataTypes. Every node output must end with
//! the same QONNX datatype (its annotation, or the FLOAT32/FLOAT16 qonnx assumes without
//! one).

use std::collections::HashMap;

use brainsmith_core::ir::{ElemType, Model, QuantType};
use brainsmith_plugins::{InferDataTypes, InferShapes, RemoveStaticGraphInputs};
use brainsmith_tests::models_dir;
use brainsmith_tests::oracle::{Oracle, apply_all, on_every_model, scratch_dir};

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
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("infer_datatypes");
    let results = on_every_model(|name| {
        let path = models_dir().join(name);
        let theirs = oracle.run(&path, "InferShapes,InferDataTypes", true, &scratch);
        let mut ours = Model::load(&path).unwrap();
        let notes = apply_all(
            &mut ours,
            &[&RemoveStaticGraphInputs, &InferShapes, &InferDataTypes],
        );
        (theirs, ours, notes)
    });
    let (mut compared, mut tensors, mut mismatches) = (0, 0, Vec::new());
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, (theirs, ours, notes)) in results {
        notes
            .iter()
            .for_each(|n| eprintln!("{name}: diagnostic: {n}"));
        let theirs = match theirs {
            Ok(run) => run.model,
            Err(why) => {
                eprintln!("{name}: the oracle cannot run InferDataTypes ({why}); not compared");
                continue;
            }
        };
        compared += 1;
        let (ours, theirs) = (datatypes(&ours), datatypes(&theirs));
        for (tensor, datatype) in &ours {
            let Some(expected) = theirs.get(tensor) else {
                continue;
            };
            tensors += 1;
            *seen.entry(datatype.to_string()).or_default() += 1;
            if datatype != expected {
                mismatches.push(format!(
                    "{name}: '{tensor}' is {datatype} here, {expected} in qonnx"
                ));
            }
        }
    }
    mismatches.sort();
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
    eprintln!("InferDataTypes: {tensors} tensors of {compared} models agree with qonnx: {seen:?}");
}
