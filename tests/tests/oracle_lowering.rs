//! The lowering transforms against the qonnx oracle on every real model: ConvertSubToAdd,
//! ConvertDivToMul, BatchNormToAffine, GemmToMatMul, ExtractBiasFromConv and
//! GiveUniqueParameterTensors; ExpandNorms, which qonnx lacks, against the original outputs. qonnx runs
//! each (after InferShapes where it needs shapes) followed by its own cleanup; we run the
//! same, with RemoveStaticGraphInputs first (qonnx reads initializers listed as graph
//! inputs as constants) and RemoveUnusedTensors and SortGraph for its cleanup. Op
//! histograms must agree except where documented, graphs must be the same up to naming,
//! and our result must compute the original model's outputs.

use brainsmith_core::Transform;
use brainsmith_core::ir::Model;
use brainsmith_plugins::{
    BatchNormToAffine, ConvertDivToMul, ConvertSubToAdd, ExpandNorms, ExtractBiasFromConv,
    GemmToMatMul, GiveUniqueParameterTensors, InferShapes, RemoveStaticGraphInputs,
    RemoveUnusedTensors, SortGraph,
};
use brainsmith_tests::oracle::{Known, Oracle, Recipe, apply_all, check_recipe, scratch_dir};
use brainsmith_tests::{all_models, histogram, models_dir};

/// `transforms` between our stand-ins for what qonnx does around every transform.
fn around(model: &mut Model, transforms: &[&dyn Transform]) -> Vec<String> {
    let mut all: Vec<&dyn Transform> = vec![&RemoveStaticGraphInputs];
    all.extend_from_slice(transforms);
    all.extend([&RemoveUnusedTensors as &dyn Transform, &SortGraph]);
    apply_all(model, &all)
}

/// qonnx's lowering transforms read initializers only; ours read `Constant` nodes too.
const CONSTANT_NODES: &str = "the operand is the output of a Constant node, which qonnx 1.0 \
                              does not take for a constant (it reads initializers only)";

#[test]
fn convert_sub_to_add_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "convert_sub_to_add",
        oracle: "ConvertSubToAdd",
        ours: |m| around(m, &[&ConvertSubToAdd]),
        known: &[],
        structural: true,
    });
}

#[test]
fn convert_div_to_mul_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "convert_div_to_mul",
        oracle: "ConvertDivToMul",
        ours: |m| around(m, &[&ConvertDivToMul]),
        known: &[Known {
            model: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            delta: &[("Div", -18), ("Mul", 18)],
            reason: CONSTANT_NODES,
        }],
        structural: true,
    });
}

#[test]
fn batchnorm_to_affine_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "batchnorm_to_affine",
        oracle: "InferShapes,BatchNormToAffine",
        ours: |m| around(m, &[&InferShapes, &BatchNormToAffine]),
        known: &[],
        structural: true,
    });
}

#[test]
fn gemm_to_matmul_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "gemm_to_matmul",
        oracle: "GemmToMatMul",
        ours: |m| around(m, &[&GemmToMatMul]),
        known: &[],
        structural: true,
    });
}

#[test]
fn extract_bias_from_conv_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "extract_bias_from_conv",
        oracle: "InferShapes,ExtractBiasFromConv",
        ours: |m| around(m, &[&InferShapes, &ExtractBiasFromConv]),
        known: &[Known {
            model: "ch_ppocr_mobile_v2.0_cls_infer.onnx",
            delta: &[("Add", 18)],
            reason: CONSTANT_NODES,
        }],
        structural: true,
    });
}

#[test]
fn give_unique_parameter_tensors_matches_the_oracle() {
    check_recipe(&Recipe {
        name: "give_unique_parameter_tensors",
        oracle: "GiveUniqueParameterTensors",
        ours: |m| {
            let notes = around(m, &[&GiveUniqueParameterTensors]);
            // As many initializers as qonnx makes: one per read.
            let reads: usize = m
                .graph
                .nodes
                .iter()
                .flat_map(|n| &n.inputs)
                .filter(|i| m.graph.initializers.iter().any(|t| t.name() == i.as_str()))
                .count();
            assert_eq!(
                m.graph.initializers.len(),
                reads,
                "one initializer per read"
            );
            notes
        },
        known: &[],
        structural: true,
    });
}

/// qonnx has no ExpandNorms: on every real model with a LayerNormalization, the expanded
/// model must compute the original's outputs (onnxruntime, seeded random input).
#[test]
fn expand_norms_keeps_the_outputs_of_every_real_model() {
    let Some(oracle) = Oracle::find() else {
        return;
    };
    let scratch = scratch_dir("expand_norms");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut expanded = 0;
    for (name, mut model) in all_models() {
        let norms = histogram(&model)
            .iter()
            .find(|(op, _)| op == "LayerNormalization")
            .map_or(0, |(_, n)| *n);
        if norms == 0 {
            continue;
        }
        apply_all(&mut model, &[&InferShapes, &ExpandNorms]);
        let after = histogram(&model);
        let count = |op: &str| after.iter().find(|(o, _)| o == op).map_or(0, |(_, n)| *n);
        assert_eq!(count("LayerNormalization"), norms, "{name}");
        assert!(count("Mul") >= norms, "{name}: {after:?}");
        let path = scratch.join(&name);
        model.save(&path).unwrap();
        for d in oracle
            .compare_outputs(&models_dir().join(&name), &path)
            .unwrap()
        {
            let diff = d.max_abs_diff.unwrap();
            assert!(
                diff <= 1e-5 * d.max_abs.max(1.0),
                "{name}: {:?} differs by {diff}",
                d.names
            );
        }
        expanded += 1;
    }
    assert!(expanded >= 1, "no real model has a LayerNormalization");
}
