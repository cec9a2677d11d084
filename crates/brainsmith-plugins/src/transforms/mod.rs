//! Graph transforms, one per file, and what the rewriting ones share (`rewrite`).

mod batchnorm_to_affine;
mod convert_div_to_mul;
mod convert_sub_to_add;
mod expand_norms;
mod extract_bias_from_conv;
mod fold_constants;
mod gemm_to_matmul;
mod give_readable_tensor_names;
mod give_unique_node_names;
mod give_unique_parameter_tensors;
mod infer_datatypes;
pub(crate) mod infer_shapes;
mod remove_identity_ops;
mod remove_static_graph_inputs;
mod remove_unused_tensors;
mod rewrite;
mod sort_graph;

pub use batchnorm_to_affine::BatchNormToAffine;
pub use convert_div_to_mul::ConvertDivToMul;
pub use convert_sub_to_add::ConvertSubToAdd;
pub use expand_norms::ExpandNorms;
pub use extract_bias_from_conv::ExtractBiasFromConv;
pub use fold_constants::FoldConstants;
pub use gemm_to_matmul::GemmToMatMul;
pub use give_readable_tensor_names::GiveReadableTensorNames;
pub use give_unique_node_names::GiveUniqueNodeNames;
pub use give_unique_parameter_tensors::GiveUniqueParameterTensors;
pub use infer_datatypes::InferDataTypes;
pub use infer_shapes::InferShapes;
pub use remove_identity_ops::RemoveIdentityOps;
pub use remove_static_graph_inputs::RemoveStaticGraphInputs;
pub use remove_unused_tensors::RemoveUnusedTensors;
pub use sort_graph::SortGraph;
