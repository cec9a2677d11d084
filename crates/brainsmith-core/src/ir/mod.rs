//! The model IR that plugins work on, and lossless ONNX protobuf I/O.
//!
//! [`Model`], [`Graph`], [`Node`], [`Attribute`] and [`ValueInfo`] are plain structs with
//! public fields; tensors keep their protobuf storage ([`Tensor`]) so that weights are
//! never copied or re-encoded unless a transform asks for their values. Rarely touched
//! parts of the format (functions, training info, sparse tensors, non-tensor types) are
//! kept as their [`proto`] types.
//!
//! Architecture invariant: `Model::decode(bytes)?.encode() == bytes` for every model that
//! protobuf's reference encoder wrote (fields in tag order). Presence of optional fields
//! is remembered, so an explicitly empty `domain: ""` survives the round trip.
//!
//! ```
//! use brainsmith_core::ir::{Model, Node};
//!
//! let mut model = Model::default();
//! model.graph.nodes.push(Node::new("Relu", ["x"], ["y"]));
//! let bytes = model.encode();
//! let back = Model::decode(&bytes).unwrap();
//! assert_eq!(back.graph.nodes[0].op_type, "Relu");
//! ```

#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all, rustdoc::all)]
pub mod proto;

mod attribute;
mod datatype;
mod graph;
mod io;
mod model;
mod node;
mod presence;
mod tensor;
mod value;

pub use attribute::{Attribute, AttributeValue};
pub use datatype::QuantType;
pub use graph::Graph;
pub use io::ModelError;
pub use model::Model;
pub use node::Node;
pub use tensor::{ElemType, Tensor, TensorError};
pub use value::{Dim, TensorType, ValueInfo, ValueType};
