//! InferShapes against the qonnx oracle on every real model: every tensor the oracle
//! types, we type alike (element type, and every static dimension; symbolic dimensions
//! are compared only as "not static", since their names are generated).
//!
//! Compared: the tensors nodes produce. qonnx also copies every initializer's type into
//! `value_info`; we leave it on the initializer, where it already is.

use std::collections::BTreeMap;

use brainsmith_core::ir::Model;
use brainsmith_core::prelude::*;
use brainsmith_plugins::InferShapes;
use brainsmith_tests::oracle::{Oracle, Signature, scratch_dir, signature};
use brainsmith_tests::{all_models, models_dir};

/// The types recorded for tensors that nodes produce.
fn typed_tensors(model: &Model) -> BTreeMap<String, Signature> {
    let g = &model.graph;
    let produced: std::collections::HashSet<&str> = g
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(String::as_str))
        .collect();
    g.outputs
        .iter()
        .chain(&g.value_info)
        .filter(|v| produced.contains(v.name.as_str()))
        .filter_map(|v| Some((v.name.clone(), signature(v.tensor_type()?))))
        .collect()
}

/// Whether `ours` says everything `oracle` says and more: the same element type, and a
/// shape where the oracle has none, or the same rank with every static dimension equal.
fn refines(ours: &Signature, oracle: &Signature) -> bool {
    ours.0 == oracle.0
        && match (&ours.1, &oracle.1) {
            (_, None) => true,
            (Some(a), Some(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| y.is_none() || x == y)
            }
            (None, Some(_)) => false,
        }
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn infer_shapes_matches_the_oracle_on_every_model() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("infer_shapes");
    let mut report = Vec::new();
    let mut compared = 0;
    let mut refined = 0;
    for (name, mut ours) in all_models() {
        let expected = match oracle.run(&models_dir().join(&name), "InferShapes", false, &scratch) {
            Ok(run) => typed_tensors(&run.model),
            Err(why) => {
                eprintln!("{name}: the oracle cannot run InferShapes ({why}); not compared");
                continue;
            }
        };
        let mut ctx = TransformContext::default();
        InferShapes.apply(&mut ours, &mut ctx).unwrap();
        for d in ctx.diagnostics() {
            report.push(format!(
                "{name}: diagnostic where qonnx infers everything: {}",
                d.message
            ));
        }
        let actual = typed_tensors(&ours);
        for (tensor, want) in &expected {
            match actual.get(tensor) {
                None => report.push(format!("{name}: `{tensor}` untyped, oracle {want:?}")),
                Some(got) if got == want => {}
                Some(got) if refines(got, want) => {
                    eprintln!(
                        "{name}: `{tensor}` is {got:?}, more precise than the oracle's {want:?}"
                    );
                    refined += 1;
                }
                Some(got) => report.push(format!("{name}: `{tensor}` is {got:?}, oracle {want:?}")),
            }
        }
        compared += 1;
    }
    assert!(
        report.is_empty(),
        "{} differences:\n{}",
        report.len(),
        report.join("\n")
    );
    assert!(compared >= 15, "only {compared} models compared");
    eprintln!("{compared} models compared; {refined} tensors typed more precisely than by qonnx");
}
