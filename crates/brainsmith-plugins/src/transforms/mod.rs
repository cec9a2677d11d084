//! Graph transforms, one per file.

mod fold_constants;
mod give_readable_tensor_names;
mod give_unique_node_names;
pub(crate) mod infer_shapes;
mod remove_identity_ops;
mod remove_unused_tensors;
mod sort_graph;

pub use fold_constants::FoldConstants;
pub use give_readable_tensor_names::GiveReadableTensorNames;
pub use give_unique_node_names::GiveUniqueNodeNames;
pub use infer_shapes::InferShapes;
pub use remove_identity_ops::RemoveIdentityOps;
pub use remove_unused_tensors::RemoveUnusedTensors;
pub use sort_graph::SortGraph;
