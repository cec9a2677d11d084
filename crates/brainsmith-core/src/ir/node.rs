//! [`Node`]: one operator application.

use super::attribute::{Attribute, AttributeValue};
use super::presence::Presence;
use super::proto;
use super::wire::UnknownFields;

const NAME: u16 = 0;
const OP_TYPE: u16 = 1;
const DOMAIN: u16 = 2;
const DOC_STRING: u16 = 3;

/// The one spelling of an ONNX domain: `"ai.onnx"` and `""` both name the default domain,
/// and are `""` here; `"finn.custom_op.general"`, the name older FINN models give QONNX's
/// general custom ops, is `"qonnx.custom_op.general"` (qonnx reads it so too). Every
/// comparison of domains goes through it.
pub fn canonical_domain(domain: &str) -> &str {
    match domain {
        "ai.onnx" => "",
        "finn.custom_op.general" => "qonnx.custom_op.general",
        _ => domain,
    }
}

/// A node of a graph: an op type applied to named input tensors, producing named outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// The node's name (unique in a well-formed graph; may be empty).
    pub name: String,
    /// The operator, e.g. `"Conv"` or `"MultiThreshold"`.
    pub op_type: String,
    /// The operator's domain; `""` is the default ONNX domain.
    pub domain: String,
    /// Input tensor names; `""` marks an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names.
    pub outputs: Vec<String>,
    /// Attributes, in file order.
    pub attributes: Vec<Attribute>,
    /// Human-readable documentation.
    pub doc_string: String,
    /// Named metadata entries.
    pub metadata_props: Vec<proto::StringStringEntryProto>,
    pub(super) overload: Option<String>,
    pub(super) device_configurations: Vec<proto::NodeDeviceConfigurationProto>,
    pub(super) unknown: Option<UnknownFields>,
    pub(super) presence: Presence,
}

impl Node {
    /// A node of the default domain.
    pub fn new<I, O>(op_type: &str, inputs: I, outputs: O) -> Node
    where
        I: IntoIterator,
        I::Item: Into<String>,
        O: IntoIterator,
        O::Item: Into<String>,
    {
        Node {
            op_type: op_type.to_owned(),
            inputs: inputs.into_iter().map(Into::into).collect(),
            outputs: outputs.into_iter().map(Into::into).collect(),
            ..Node::default()
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Node {
        self.name = name.into();
        self
    }

    /// Sets the domain.
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<String>) -> Node {
        self.domain = domain.into();
        self
    }

    /// Adds (or replaces) an attribute.
    #[must_use]
    pub fn with_attribute(mut self, name: &str, value: AttributeValue) -> Node {
        self.set_attribute(name, value);
        self
    }

    /// Whether the node belongs to the default ONNX domain.
    pub fn is_onnx(&self) -> bool {
        canonical_domain(&self.domain).is_empty()
    }

    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// An `INT` attribute.
    pub fn attr_int(&self, name: &str) -> Option<i64> {
        match self.attribute(name)? {
            AttributeValue::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A `FLOAT` attribute.
    pub fn attr_float(&self, name: &str) -> Option<f32> {
        match self.attribute(name)? {
            AttributeValue::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// An `INTS` attribute.
    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        match self.attribute(name)? {
            AttributeValue::Ints(v) => Some(v),
            _ => None,
        }
    }

    /// A `STRING` attribute that is valid UTF-8.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        match self.attribute(name)? {
            AttributeValue::String(v) => std::str::from_utf8(v).ok(),
            _ => None,
        }
    }

    /// Sets attribute `name`, replacing an existing one in place.
    pub fn set_attribute(&mut self, name: &str, value: AttributeValue) {
        match self.attributes.iter_mut().find(|a| a.name == name) {
            Some(existing) => existing.value = value,
            None => self.attributes.push(Attribute::new(name, value)),
        }
    }

    /// Converts from the protobuf message.
    pub fn from_proto(p: proto::NodeProto) -> Node {
        let mut presence = Presence::default();
        Node {
            name: presence.take(NAME, p.name),
            op_type: presence.take(OP_TYPE, p.op_type),
            domain: presence.take(DOMAIN, p.domain),
            inputs: p.input,
            outputs: p.output,
            attributes: p.attribute.into_iter().map(Attribute::from_proto).collect(),
            doc_string: presence.take(DOC_STRING, p.doc_string),
            metadata_props: p.metadata_props,
            overload: p.overload,
            device_configurations: p.device_configurations,
            unknown: p.unknown_fields,
            presence,
        }
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::NodeProto {
        let p = self.presence;
        proto::NodeProto {
            input: self.inputs,
            output: self.outputs,
            name: p.put(NAME, self.name),
            op_type: p.put(OP_TYPE, self.op_type),
            domain: p.put(DOMAIN, self.domain),
            overload: self.overload,
            attribute: self
                .attributes
                .into_iter()
                .map(Attribute::into_proto)
                .collect(),
            doc_string: p.put(DOC_STRING, self.doc_string),
            metadata_props: self.metadata_props,
            device_configurations: self.device_configurations,
            unknown_fields: self.unknown,
        }
    }
}
