//! The cleanup recipe against the qonnx oracle on every real model: qonnx runs InferShapes,
//! FoldConstants, RemoveIdentityOps, GiveUniqueNodeNames, GiveReadableTensorNames and
//! SortGraph (each followed by its own cleanup); we run the same transforms, with
//! RemoveUnusedTensors for qonnx's cleanup. Op histograms must agree except where
//! documented, the graphs must be the same up to naming, and our result must compute the
//! original model's outputs.

use brainsmith_core::prelude::*;
use brainsmith_plugins::{
    FoldConstants, GiveReadableTensorNames, GiveUniqueNodeNames, InferShapes, RemoveIdentityOps,
    RemoveUnusedTensors, SortGraph,
};
use brainsmith_tests::oracle::{Known, Recipe, apply_all, check_recipe};

const KNOWN: &[Known] = &[
    Known {
        model: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        delta: &[("Cast", 2), ("Concat", 1), ("Shape", 1), ("Slice", 1)],
        reason: "FoldConstants: qonnx folds Shape of the symbolic batch dimension to 0 (see \
                 oracle_fold.rs); we keep the Shape subgraph",
    },
    Known {
        model: "qonnx_fp8_gemm.onnx",
        delta: &[("FloatQuant", 1)],
        reason: "FoldConstants: we keep FloatQuant on weights, as Quant (see oracle_fold.rs)",
    },
    Known {
        model: "brevitas_tfc_1w1a_seed1.onnx",
        delta: &[("Add", 1), ("Mul", 1), ("Sub", 1)],
        reason: "RemoveIdentityOps: the last TensorNorm's weight (1) and bias (0) are \
                 initializers also listed as graph inputs, which a caller may override; we \
                 keep `x - bias`, `x * weight` and `x + bias` until RemoveStaticGraphInputs \
                 makes them constants, qonnx removes them",
    },
    Known {
        model: "brevitas_sfc_1w1a_seed5.onnx",
        delta: &[("Add", 1), ("Mul", 1), ("Sub", 1)],
        reason: "RemoveIdentityOps: the last TensorNorm's weight (1) and bias (0) are \
                 initializers also listed as graph inputs, which a caller may override; we \
                 keep `x - bias`, `x * weight` and `x + bias` until RemoveStaticGraphInputs \
                 makes them constants, qonnx removes them",
    },
    Known {
        model: "brevitas_tfc_1w2a_seed4.onnx",
        delta: &[("Add", 1), ("Mul", 1), ("Sub", 1)],
        reason: "RemoveIdentityOps: the last TensorNorm's weight (1) and bias (0) are \
                 initializers also listed as graph inputs, which a caller may override; we \
                 keep `x - bias`, `x * weight` and `x + bias` until RemoveStaticGraphInputs \
                 makes them constants, qonnx removes them",
    },
    Known {
        model: "brevitas_tfc_2w2a_seed3.onnx",
        delta: &[("Add", 1), ("Mul", 1), ("Sub", 1)],
        reason: "RemoveIdentityOps: the last TensorNorm's weight (1) and bias (0) are \
                 initializers also listed as graph inputs, which a caller may override; we \
                 keep `x - bias`, `x * weight` and `x + bias` until RemoveStaticGraphInputs \
                 makes them constants, qonnx removes them",
    },
    Known {
        model: "node_test_layer_normalization_4d_axis_negative_1_expanded.onnx",
        delta: &[("Add", 1)],
        reason: "RemoveIdentityOps: qonnx takes |c| < 1e-5 for zero and deletes the \
                 normalisation's `+ epsilon` (1e-5 here), which changes the outputs; we remove \
                 only exact identities",
    },
];

fn ours(model: &mut Model) -> Vec<String> {
    apply_all(
        model,
        &[
            &InferShapes,
            &FoldConstants::default(),
            &RemoveIdentityOps::default(),
            &RemoveUnusedTensors,
            &SortGraph,
            &GiveUniqueNodeNames,
            &GiveReadableTensorNames,
        ],
    )
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn the_cleanup_recipe_matches_the_oracle_on_every_model() {
    check_recipe(&Recipe {
        name: "cleanup_recipe",
        oracle: "InferShapes,FoldConstants,RemoveIdentityOps,GiveUniqueNodeNames,GiveReadableTensorNames,SortGraph",
        ours,
        known: KNOWN,
        structural: true,
        tolerances: &[],
    });
}
