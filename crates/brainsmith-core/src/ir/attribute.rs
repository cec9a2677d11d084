//! [`Attribute`]: a node's named, typed parameter.

use super::graph::Graph;
use super::presence::Presence;
use super::proto;
use super::proto::attribute_proto::AttributeType;
use super::tensor::Tensor;
use super::wire::UnknownFields;

const NAME: u16 = 0;
const DOC_STRING: u16 = 1;
const TYPE: u16 = 2;
/// The singular value field (`f`, `i`, `s`, `t`, `g`, `sparse_tensor`, `tp`).
const VALUE: u16 = 3;
/// Read from a file (as opposed to built by a transform, which writes every field).
const FROM_FILE: u16 = 4;

/// A named attribute of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Its value.
    pub value: AttributeValue,
    /// Human-readable documentation.
    pub doc_string: String,
    pub(super) ref_attr_name: Option<String>,
    pub(super) unknown: Option<UnknownFields>,
    pub(super) presence: Presence,
}

/// Every kind of ONNX attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// `FLOAT`
    Float(f32),
    /// `INT`
    Int(i64),
    /// `STRING` (bytes; usually UTF-8)
    String(Vec<u8>),
    /// `TENSOR`
    Tensor(Tensor),
    /// `GRAPH` (a subgraph, e.g. an `If` branch)
    Graph(Box<Graph>),
    /// `SPARSE_TENSOR`
    SparseTensor(Box<proto::SparseTensorProto>),
    /// `TYPE_PROTO`
    Type(proto::TypeProto),
    /// `FLOATS`
    Floats(Vec<f32>),
    /// `INTS`
    Ints(Vec<i64>),
    /// `STRINGS`
    Strings(Vec<Vec<u8>>),
    /// `TENSORS`
    Tensors(Vec<Tensor>),
    /// `GRAPHS`
    Graphs(Vec<Graph>),
    /// `SPARSE_TENSORS`
    SparseTensors(Vec<proto::SparseTensorProto>),
    /// `TYPE_PROTOS`
    Types(Vec<proto::TypeProto>),
    /// No value: a reference to a function attribute (`ref_attr_name`) or an undefined type.
    Undefined,
}

impl AttributeValue {
    /// A `STRING` value from text.
    pub fn string(text: &str) -> AttributeValue {
        AttributeValue::String(text.as_bytes().to_vec())
    }

    fn attribute_type(&self) -> AttributeType {
        match self {
            AttributeValue::Float(_) => AttributeType::Float,
            AttributeValue::Int(_) => AttributeType::Int,
            AttributeValue::String(_) => AttributeType::String,
            AttributeValue::Tensor(_) => AttributeType::Tensor,
            AttributeValue::Graph(_) => AttributeType::Graph,
            AttributeValue::SparseTensor(_) => AttributeType::SparseTensor,
            AttributeValue::Type(_) => AttributeType::TypeProto,
            AttributeValue::Floats(_) => AttributeType::Floats,
            AttributeValue::Ints(_) => AttributeType::Ints,
            AttributeValue::Strings(_) => AttributeType::Strings,
            AttributeValue::Tensors(_) => AttributeType::Tensors,
            AttributeValue::Graphs(_) => AttributeType::Graphs,
            AttributeValue::SparseTensors(_) => AttributeType::SparseTensors,
            AttributeValue::Types(_) => AttributeType::TypeProtos,
            AttributeValue::Undefined => AttributeType::Undefined,
        }
    }
}

impl Attribute {
    /// A new attribute.
    pub fn new(name: &str, value: AttributeValue) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value,
            doc_string: String::new(),
            ref_attr_name: None,
            unknown: None,
            presence: Presence::default(),
        }
    }

    /// Converts from the protobuf message.
    pub fn from_proto(p: proto::AttributeProto) -> Attribute {
        let mut presence = Presence::default();
        presence.take(FROM_FILE, Some(()));
        let declared = presence.take(TYPE, p.r#type);
        let ty = match AttributeType::try_from(declared) {
            Ok(AttributeType::Undefined) | Err(_) => infer_type(&p),
            Ok(ty) => ty,
        };
        let name = presence.take(NAME, p.name);
        let doc_string = presence.take(DOC_STRING, p.doc_string);
        let value = match ty {
            AttributeType::Float => AttributeValue::Float(presence.take(VALUE, p.f)),
            AttributeType::Int => AttributeValue::Int(presence.take(VALUE, p.i)),
            AttributeType::String => AttributeValue::String(presence.take(VALUE, p.s)),
            AttributeType::Tensor => {
                AttributeValue::Tensor(Tensor::from_proto(presence.take(VALUE, p.t)))
            }
            AttributeType::Graph => {
                AttributeValue::Graph(Box::new(Graph::from_proto(presence.take(VALUE, p.g))))
            }
            AttributeType::SparseTensor => {
                AttributeValue::SparseTensor(Box::new(presence.take(VALUE, p.sparse_tensor)))
            }
            AttributeType::TypeProto => AttributeValue::Type(presence.take(VALUE, p.tp)),
            AttributeType::Floats => AttributeValue::Floats(p.floats),
            AttributeType::Ints => AttributeValue::Ints(p.ints),
            AttributeType::Strings => AttributeValue::Strings(p.strings),
            AttributeType::Tensors => {
                AttributeValue::Tensors(p.tensors.into_iter().map(Tensor::from_proto).collect())
            }
            AttributeType::Graphs => {
                AttributeValue::Graphs(p.graphs.into_iter().map(Graph::from_proto).collect())
            }
            AttributeType::SparseTensors => AttributeValue::SparseTensors(p.sparse_tensors),
            AttributeType::TypeProtos => AttributeValue::Types(p.type_protos),
            AttributeType::Undefined => AttributeValue::Undefined,
        };
        Attribute {
            name,
            value,
            doc_string,
            ref_attr_name: p.ref_attr_name,
            unknown: p.unknown_fields,
            presence,
        }
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::AttributeProto {
        let pr = self.presence;
        let ty = self.value.attribute_type();
        // A new attribute writes every field; one read from a file writes what it had
        // (and a value that no longer equals the default).
        let fresh = !pr.has(FROM_FILE);
        let mut p = proto::AttributeProto {
            name: pr.put(NAME, self.name),
            ref_attr_name: self.ref_attr_name,
            doc_string: pr.put(DOC_STRING, self.doc_string),
            r#type: (fresh || pr.has(TYPE)).then_some(ty as i32),
            unknown_fields: self.unknown,
            ..Default::default()
        };
        let keep = |is_default: bool| pr.has(VALUE) || fresh || !is_default;
        match self.value {
            AttributeValue::Float(v) => p.f = keep(v == 0.0).then_some(v),
            AttributeValue::Int(v) => p.i = keep(v == 0).then_some(v),
            AttributeValue::String(v) => p.s = keep(v.is_empty()).then_some(v),
            AttributeValue::Tensor(v) => p.t = Some(v.into_proto()),
            AttributeValue::Graph(v) => p.g = Some(v.into_proto()),
            AttributeValue::SparseTensor(v) => p.sparse_tensor = Some(*v),
            AttributeValue::Type(v) => p.tp = Some(v),
            AttributeValue::Floats(v) => p.floats = v,
            AttributeValue::Ints(v) => p.ints = v,
            AttributeValue::Strings(v) => p.strings = v,
            AttributeValue::Tensors(v) => {
                p.tensors = v.into_iter().map(Tensor::into_proto).collect()
            }
            AttributeValue::Graphs(v) => p.graphs = v.into_iter().map(Graph::into_proto).collect(),
            AttributeValue::SparseTensors(v) => p.sparse_tensors = v,
            AttributeValue::Types(v) => p.type_protos = v,
            AttributeValue::Undefined => {}
        }
        p
    }
}

/// IR version 1 files have no `type` field: the value field that is set decides.
fn infer_type(p: &proto::AttributeProto) -> AttributeType {
    if p.f.is_some() {
        AttributeType::Float
    } else if p.i.is_some() {
        AttributeType::Int
    } else if p.s.is_some() {
        AttributeType::String
    } else if p.t.is_some() {
        AttributeType::Tensor
    } else if p.g.is_some() {
        AttributeType::Graph
    } else if p.sparse_tensor.is_some() {
        AttributeType::SparseTensor
    } else if p.tp.is_some() {
        AttributeType::TypeProto
    } else if !p.floats.is_empty() {
        AttributeType::Floats
    } else if !p.ints.is_empty() {
        AttributeType::Ints
    } else if !p.strings.is_empty() {
        AttributeType::Strings
    } else if !p.tensors.is_empty() {
        AttributeType::Tensors
    } else if !p.graphs.is_empty() {
        AttributeType::Graphs
    } else if !p.sparse_tensors.is_empty() {
        AttributeType::SparseTensors
    } else if !p.type_protos.is_empty() {
        AttributeType::TypeProtos
    } else {
        AttributeType::Undefined
    }
}
