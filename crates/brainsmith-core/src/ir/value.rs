//! [`ValueInfo`]: the declared type and shape of a named tensor.

use super::presence::Presence;
use super::proto;
use super::proto::tensor_shape_proto::{Dimension, dimension};
use super::proto::type_proto;
use super::tensor::ElemType;
use super::wire::UnknownFields;

const NAME: u16 = 0;
const DOC_STRING: u16 = 1;

/// The type and shape of a graph input, output or intermediate tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValueInfo {
    /// The tensor's name.
    pub name: String,
    /// Its type, when declared.
    pub ty: Option<ValueType>,
    /// Human-readable documentation.
    pub doc_string: String,
    /// Named metadata entries.
    pub metadata_props: Vec<proto::StringStringEntryProto>,
    pub(super) unknown: Option<UnknownFields>,
    pub(super) presence: Presence,
}

/// A value's type.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// A dense tensor, the common case.
    Tensor(TensorType),
    /// Sequences, maps, optionals, sparse tensors, or tensor types with denotations or
    /// fields the schema does not define: kept as read.
    Other(proto::TypeProto),
}

/// A dense tensor type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorType {
    /// The element type (an [`ElemType`] value).
    pub elem_type: i32,
    /// The shape, when known (even a rank-0 shape is `Some(vec![])`).
    pub shape: Option<Vec<Dim>>,
}

impl TensorType {
    /// The shape, if it is fully static.
    pub fn static_shape(&self) -> Option<Vec<i64>> {
        self.shape
            .as_ref()?
            .iter()
            .map(|d| match d {
                Dim::Value(v) => Some(*v),
                _ => None,
            })
            .collect()
    }
}

/// One dimension of a shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known size.
    Value(i64),
    /// A named symbolic size, such as `"batch"`.
    Param(String),
    /// Unknown.
    Unknown,
}

impl ValueInfo {
    /// A tensor value with a static shape.
    pub fn tensor(name: impl Into<String>, elem_type: ElemType, shape: &[i64]) -> ValueInfo {
        ValueInfo {
            name: name.into(),
            ty: Some(ValueType::Tensor(TensorType {
                elem_type: elem_type as i32,
                shape: Some(shape.iter().map(|&d| Dim::Value(d)).collect()),
            })),
            ..ValueInfo::default()
        }
    }

    /// The tensor type, if this is a dense tensor.
    pub fn tensor_type(&self) -> Option<&TensorType> {
        match &self.ty {
            Some(ValueType::Tensor(t)) => Some(t),
            _ => None,
        }
    }

    /// The shape, if it is fully static.
    pub fn static_shape(&self) -> Option<Vec<i64>> {
        self.tensor_type()?.static_shape()
    }

    /// Converts from the protobuf message.
    pub fn from_proto(p: proto::ValueInfoProto) -> ValueInfo {
        let mut presence = Presence::default();
        ValueInfo {
            name: presence.take(NAME, p.name),
            ty: p.r#type.map(ValueType::from_proto),
            doc_string: presence.take(DOC_STRING, p.doc_string),
            metadata_props: p.metadata_props,
            unknown: p.unknown_fields,
            presence,
        }
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::ValueInfoProto {
        let p = self.presence;
        proto::ValueInfoProto {
            name: p.put(NAME, self.name),
            r#type: self.ty.map(ValueType::into_proto),
            doc_string: p.put(DOC_STRING, self.doc_string),
            metadata_props: self.metadata_props,
            unknown_fields: self.unknown,
        }
    }
}

impl ValueType {
    /// Converts from the protobuf message; anything [`TensorType`] cannot hold exactly
    /// stays [`ValueType::Other`].
    pub fn from_proto(p: proto::TypeProto) -> ValueType {
        let plain = p.denotation.is_none()
            && p.unknown_fields.is_none()
            && match &p.value {
                Some(type_proto::Value::TensorType(t)) => {
                    t.elem_type.is_some()
                        && t.unknown_fields.is_none()
                        && t.shape.as_ref().is_none_or(|s| {
                            s.unknown_fields.is_none()
                                && s.dim
                                    .iter()
                                    .all(|d| d.denotation.is_none() && d.unknown_fields.is_none())
                        })
                }
                _ => false,
            };
        if !plain {
            return ValueType::Other(p);
        }
        let Some(type_proto::Value::TensorType(t)) = p.value else {
            unreachable!("checked above")
        };
        ValueType::Tensor(TensorType {
            elem_type: t.elem_type.unwrap_or_default(),
            shape: t.shape.map(|s| {
                s.dim
                    .into_iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) => Dim::Value(v),
                        Some(dimension::Value::DimParam(p)) => Dim::Param(p),
                        None => Dim::Unknown,
                    })
                    .collect()
            }),
        })
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::TypeProto {
        match self {
            ValueType::Other(p) => p,
            ValueType::Tensor(t) => proto::TypeProto {
                denotation: None,
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(t.elem_type),
                    shape: t.shape.map(|dims| proto::TensorShapeProto {
                        dim: dims
                            .into_iter()
                            .map(|d| Dimension {
                                denotation: None,
                                value: match d {
                                    Dim::Value(v) => Some(dimension::Value::DimValue(v)),
                                    Dim::Param(p) => Some(dimension::Value::DimParam(p)),
                                    Dim::Unknown => None,
                                },
                                unknown_fields: None,
                            })
                            .collect(),
                        unknown_fields: None,
                    }),
                    unknown_fields: None,
                })),
                unknown_fields: None,
            },
        }
    }
}
