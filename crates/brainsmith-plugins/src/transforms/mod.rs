//! Graph transforms, one per file, and what the rewriting ones share (`rewrite`).

mod absorb_affine_into_multithreshold;
mod absorb_consecutive_transposes;
mod absorb_scalar_mul_add_into_top_k;
mod absorb_transpose_into_multithreshold;
mod batchnorm_to_affine;
mod change_batch_size;
mod convert_div_to_mul;
mod convert_quant_act_to_multithreshold;
mod convert_sub_to_add;
mod double_to_single_float;
mod expand_norms;
mod extract_bias_from_conv;
mod extract_quant_scale_zero_pt;
mod fold_constants;
mod fold_quant_weights;
mod fold_transpose_into_quant_init;
mod gemm_to_matmul;
mod give_readable_tensor_names;
mod give_unique_node_names;
mod give_unique_parameter_tensors;
mod infer_add_streams;
mod infer_channelwise_op;
mod infer_conv_inp_gen;
mod infer_data_layouts;
mod infer_datatypes;
mod infer_duplicate_streams;
mod infer_global_acc_pool;
mod infer_label_select;
mod infer_mvau;
pub(crate) mod infer_shapes;
mod infer_streaming_max_pool;
mod infer_thresholding;
mod insert_dwc;
mod insert_fifos;
mod lower_convs_to_matmul;
mod move_flatten_past_kernels;
mod move_pad_attribute_to_tensor;
mod move_scalar_mul_past_matmul;
mod numbered;
mod remove_identity_ops;
mod remove_static_graph_inputs;
mod remove_unused_nodes;
mod remove_unused_tensors;
mod rewrite;
mod set_folding;
mod sort_commutative_inputs;
pub(crate) mod sort_graph;
mod tidy;

pub use absorb_affine_into_multithreshold::AbsorbAffineIntoMultiThreshold;
pub use absorb_consecutive_transposes::AbsorbConsecutiveTransposes;
pub use absorb_scalar_mul_add_into_top_k::AbsorbScalarMulAddIntoTopK;
pub use absorb_transpose_into_multithreshold::AbsorbTransposeIntoMultiThreshold;
pub use batchnorm_to_affine::BatchNormToAffine;
pub use change_batch_size::ChangeBatchSize;
pub use convert_div_to_mul::ConvertDivToMul;
pub use convert_quant_act_to_multithreshold::ConvertQuantActToMultiThreshold;
pub use convert_sub_to_add::ConvertSubToAdd;
pub use double_to_single_float::DoubleToSingleFloat;
pub use expand_norms::ExpandNorms;
pub use extract_bias_from_conv::ExtractBiasFromConv;
pub use extract_quant_scale_zero_pt::ExtractQuantScaleZeroPt;
pub use fold_constants::FoldConstants;
pub use fold_quant_weights::FoldQuantWeights;
pub use fold_transpose_into_quant_init::FoldTransposeIntoQuantInit;
pub use gemm_to_matmul::GemmToMatMul;
pub use give_readable_tensor_names::GiveReadableTensorNames;
pub use give_unique_node_names::GiveUniqueNodeNames;
pub use give_unique_parameter_tensors::GiveUniqueParameterTensors;
pub use infer_add_streams::InferAddStreams;
pub use infer_channelwise_op::InferChannelwiseOp;
pub use infer_conv_inp_gen::InferConvInpGen;
pub use infer_data_layouts::InferDataLayouts;
pub use infer_datatypes::InferDataTypes;
pub use infer_duplicate_streams::InferDuplicateStreams;
pub use infer_global_acc_pool::InferGlobalAccPool;
pub use infer_label_select::InferLabelSelect;
pub use infer_mvau::InferMvau;
pub use infer_shapes::InferShapes;
pub use infer_streaming_max_pool::InferStreamingMaxPool;
pub use infer_thresholding::InferThresholding;
pub use insert_dwc::InsertDwc;
pub use insert_fifos::InsertFifos;
pub use lower_convs_to_matmul::LowerConvsToMatMul;
pub use move_flatten_past_kernels::MoveFlattenPastKernels;
pub use move_pad_attribute_to_tensor::MovePadAttributeToTensor;
pub use move_scalar_mul_past_matmul::MoveScalarMulPastMatMul;
pub use remove_identity_ops::RemoveIdentityOps;
pub use remove_static_graph_inputs::RemoveStaticGraphInputs;
pub use remove_unused_nodes::RemoveUnusedNodes;
pub use remove_unused_tensors::RemoveUnusedTensors;
pub use set_folding::{ApplyFoldingConfig, SetFolding};
pub use sort_commutative_inputs::SortCommutativeInputsInitializerLast;
pub use sort_graph::SortGraph;
pub use tidy::Tidy;

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use brainsmith_core::ir::{AttributeValue, ValueInfo};
    use brainsmith_core::{Registry, Transform, TransformContext};

    use crate::malformed::{
        attribute_values, constants_of_rank, malformed, model, rank_patterns, written_twice,
    };

    /// Configurations for the transforms that have required keys.
    const CONFIGS: &[(&str, &str)] = &[
        ("ChangeBatchSize", "batch_size = 2"),
        // A file that does not exist: the sweep wants no panic, not a folding.
        ("ApplyFoldingConfig", "path = \"/nonexistent/folding.json\""),
    ];

    /// Every registered transform, configured with `CONFIGS` where it needs one.
    fn transforms() -> Vec<(&'static str, Box<dyn Transform>)> {
        let registry = Registry::global().expect("linked plugins are consistent");
        let transforms: Vec<(&str, Box<dyn Transform>)> = registry
            .transforms()
            .map(|t| {
                let name = t.plugin().name();
                let config = CONFIGS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("", |(_, c)| c);
                let table: toml::Table = config.parse().expect("a valid table");
                let transform = t
                    .configure(&table)
                    .unwrap_or_else(|e| panic!("{e}: give {name} a configuration in CONFIGS"));
                (name, transform)
            })
            .collect();
        assert!(
            transforms.len() > 20,
            "only {} transforms",
            transforms.len()
        );
        transforms
    }

    /// Applies every transform to a model of `graph` (with `o0` as its output); says
    /// which panicked, as `case` describes the graph.
    fn sweep(
        transforms: &[(&str, Box<dyn Transform>)],
        graph: brainsmith_core::ir::Graph,
        case: impl Fn() -> String,
        cases: &mut usize,
        failures: &mut Vec<String>,
    ) {
        let mut graph = graph;
        let mut output = ValueInfo::default();
        output.name = "o0".into();
        graph.outputs.push(output);
        let model = model(graph, 13);
        for (name, transform) in transforms {
            *cases += 1;
            let mut m = model.clone();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                transform.apply(&mut m, &mut TransformContext::default())
            }));
            if outcome.is_err() {
                failures.push(format!("{name} on {}", case()));
            }
        }
    }

    /// No transform panics on a malformed node: every registered transform, applied to a
    /// graph of one node of each op type shape inference knows, with odd inputs (some of
    /// sizes whose products overflow `i64`) and odd attributes, changes the model or
    /// returns an error. (The pipeline would catch a panic and restore the model, but a
    /// panic on user input is a bug.)
    #[test]
    fn no_transform_panics_on_malformed_nodes() {
        let transforms = transforms();
        let values = attribute_values();
        let (mut cases, mut failures) = (0, Vec::new());
        for (op, domain) in crate::shapes::op_types() {
            for arity in 0..=3 {
                for variant in [0, 5, 9, 13] {
                    for shape in [None, Some(2), Some(4)] {
                        for all_typed in [false, true] {
                            let graph =
                                malformed(op, domain, arity, variant, shape, all_typed, |k| {
                                    values[(variant + k) % values.len()].clone()
                                });
                            let case = || {
                                format!(
                                    "{op} with {arity} inputs, variant {variant}, \
                                     shape {shape:?}, all typed {all_typed}"
                                )
                            };
                            sweep(&transforms, graph, case, &mut cases, &mut failures);
                        }
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {cases} applications panicked, among them:\n{}",
            failures.len(),
            failures[..failures.len().min(20)].join("\n")
        );
    }

    /// No transform panics on constant inputs of the wrong rank (weights of rank 1 for a
    /// `Conv`, say), nor where several nodes write one tensor: every op type with inputs
    /// that are all constants, in the ranks of `rank_patterns`, once as it is and once
    /// with its node written twice. Attributes take a few of the odd values, their
    /// defaults (absent) among them.
    #[test]
    fn no_transform_panics_on_wrong_ranks_or_tensors_written_twice() {
        let transforms = transforms();
        let values = attribute_values();
        let (mut cases, mut failures) = (0, Vec::new());
        for (op, domain) in crate::shapes::op_types() {
            for arity in 0..=3 {
                for ranks in rank_patterns(arity) {
                    for (variant, twice) in [(None, false), (Some(0), false), (None, true)] {
                        let attribute = |k: usize| match variant {
                            Some(v) => values[(v + k) % values.len()].clone(),
                            // An attribute that is not a list of ints reads as absent to
                            // most rules, which then take the default.
                            None => AttributeValue::Floats(vec![]),
                        };
                        let mut graph = constants_of_rank(op, domain, &ranks, attribute);
                        if twice {
                            graph = written_twice(graph);
                        }
                        let case = || {
                            format!(
                                "{op} with constant inputs of ranks {ranks:?}, attributes \
                                 {variant:?}, written twice {twice}"
                            )
                        };
                        sweep(&transforms, graph, case, &mut cases, &mut failures);
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {cases} applications panicked, among them:\n{}",
            failures.len(),
            failures[..failures.len().min(20)].join("\n")
        );
    }
}
