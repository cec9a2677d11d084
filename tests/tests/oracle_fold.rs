//! FoldConstants against the qonnx oracle on every real model: qonnx runs InferShapes and
//! FoldConstants (each followed by its own cleanup); we run InferShapes, FoldConstants,
//! RemoveUnusedTensors and SortGraph. The op histograms must agree except for the
//! differences listed in `KNOWN`, each with its reason, and our result must compute the
//! same outputs as the original model on a seeded random input (the oracle's executor).

use brainsmith_core::ir::{ElemType, Tensor};
use brainsmith_core::prelude::*;
use brainsmith_plugins::{FoldConstants, InferShapes, RemoveUnusedTensors, SortGraph};
use brainsmith_tests::models_dir;
use brainsmith_tests::oracle::{Known, Oracle, Recipe, apply_all, check_recipe, scratch_dir};

const KNOWN: &[Known] = &[
    Known {
        model: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        delta: &[("Cast", 2), ("Concat", 1), ("Shape", 1), ("Slice", 1)],
        reason: "the input's batch dimension is symbolic; qonnx folds Shape of it to 0 anyway, \
                 which only works because the Reshape it feeds reads 0 as \"copy\"; we keep \
                 the Shape subgraph",
    },
    Known {
        model: "qonnx_fp8_gemm.onnx",
        delta: &[("FloatQuant", 1)],
        reason: "we keep FloatQuant on weights as qonnx keeps Quant: the minifloat format is \
                 what hardware mapping reads; qonnx 1.0.0's exclusion list predates FloatQuant",
    },
];

fn ours(model: &mut Model) -> Vec<String> {
    apply_all(
        model,
        &[
            &InferShapes,
            &FoldConstants::default(),
            &RemoveUnusedTensors,
            &SortGraph,
        ],
    )
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn fold_constants_matches_the_oracle_on_every_model() {
    check_recipe(&Recipe {
        name: "fold_constants",
        oracle: "InferShapes,FoldConstants",
        ours,
        known: KNOWN,
        structural: true,
        tolerances: &[],
    });
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn the_output_comparison_notices_a_changed_weight() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("changed_weight");
    std::fs::create_dir_all(&scratch).unwrap();
    let path = models_dir().join("qonnx_residual_block.onnx");
    let mut model = Model::load(&path).unwrap();
    let w = model
        .graph
        .initializers
        .iter_mut()
        .find(|t| t.elem_type() == ElemType::Float && t.len() > 1)
        .unwrap();
    let mut values: Vec<f32> = w.to_f64().unwrap().iter().map(|&v| v as f32).collect();
    values[0] += 1.0;
    *w = Tensor::from_f32(w.name(), w.dims(), &values);
    let changed = scratch.join("changed.onnx");
    model.save(&changed).unwrap();
    let same = oracle.compare_outputs(&path, &path).unwrap();
    assert!(
        !same.is_empty() && same.iter().all(|d| d.max_abs_diff == Ok(0.0)),
        "{same:?}"
    );
    let diffs = oracle.compare_outputs(&path, &changed).unwrap();
    assert!(
        diffs
            .iter()
            .any(|d| d.max_abs_diff.as_ref().is_ok_and(|&x| x > 1e-3)),
        "{diffs:?}"
    );
}
