//! Model files written byte by byte: fields the vendored schema does not define (as a newer
//! ONNX or a vendor extension writes them) and strings that are not UTF-8, which no encoder
//! of ours produces. Shared with the `tests` crate (`brainsmith_tests::craft`).

#![allow(
    unreachable_pub,
    reason = "public for the tests crate, which includes this file too"
)]

use brainsmith_core::ir::proto;
use prost::Message;

/// The field numbers given to unknown fields: none is in the schema, in any message.
pub const UNKNOWN: [u32; 4] = [1000, 1001, 1002, 1003];

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(number: u32, wire_type: u8, out: &mut Vec<u8>) {
    varint(u64::from(number << 3 | u32::from(wire_type)), out);
}

/// A length-delimited field.
pub fn field(number: u32, value: &[u8], out: &mut Vec<u8>) {
    key(number, 2, out);
    varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// Four unknown fields, one of each wire type (varint, length-delimited, fixed 32 and 64
/// bits), the first of which tells `salt` apart.
pub fn unknown_fields(salt: u64, out: &mut Vec<u8>) {
    key(UNKNOWN[0], 0, out);
    varint(salt, out);
    field(UNKNOWN[1], b"\x08\x01vendor payload", out);
    key(UNKNOWN[2], 5, out);
    out.extend_from_slice(&[1, 2, 3, 4]);
    key(UNKNOWN[3], 1, out);
    out.extend_from_slice(&[9; 8]);
}

/// `model` encoded with [`unknown_fields`] after the known fields of the model, its graph,
/// every node, attribute, initializer and graph input, and tensor attribute. The bytes
/// are what protobuf's reference encoder writes for such a model: known fields in number
/// order, unknown fields after them.
pub fn with_unknown_fields(model: &proto::ModelProto) -> Vec<u8> {
    let mut p = model.clone();
    let graph = p.graph.take().expect("a model has a graph");
    // Fields 1-6 before the graph (7), the rest after.
    let after = proto::ModelProto {
        opset_import: std::mem::take(&mut p.opset_import),
        metadata_props: std::mem::take(&mut p.metadata_props),
        training_info: std::mem::take(&mut p.training_info),
        functions: std::mem::take(&mut p.functions),
        configuration: std::mem::take(&mut p.configuration),
        ..Default::default()
    };
    let mut out = p.encode_to_vec();
    field(7, &graph_bytes(&graph), &mut out);
    after.encode(&mut out).unwrap();
    unknown_fields(7, &mut out);
    out
}

fn graph_bytes(g: &proto::GraphProto) -> Vec<u8> {
    let mut rest = g.clone();
    let nodes = std::mem::take(&mut rest.node);
    let initializers = std::mem::take(&mut rest.initializer);
    let inputs = std::mem::take(&mut rest.input);
    let name = rest.name.take();
    let doc_string = rest.doc_string.take();
    let mut out = Vec::new();
    for n in &nodes {
        field(1, &node_bytes(n), &mut out);
    }
    proto::GraphProto {
        name,
        ..Default::default()
    }
    .encode(&mut out)
    .unwrap();
    for t in &initializers {
        field(5, &tensor_bytes(t), &mut out);
    }
    proto::GraphProto {
        doc_string,
        ..Default::default()
    }
    .encode(&mut out)
    .unwrap();
    for v in &inputs {
        let mut value = v.encode_to_vec();
        unknown_fields(11, &mut value);
        field(11, &value, &mut out);
    }
    rest.encode(&mut out).unwrap();
    unknown_fields(2, &mut out);
    out
}

fn node_bytes(n: &proto::NodeProto) -> Vec<u8> {
    let mut rest = n.clone();
    let head = proto::NodeProto {
        input: std::mem::take(&mut rest.input),
        output: std::mem::take(&mut rest.output),
        name: rest.name.take(),
        op_type: rest.op_type.take(),
        ..Default::default()
    };
    let attributes = std::mem::take(&mut rest.attribute);
    let mut out = head.encode_to_vec();
    for a in &attributes {
        field(5, &attribute_bytes(a), &mut out);
    }
    rest.encode(&mut out).unwrap();
    unknown_fields(3, &mut out);
    out
}

fn attribute_bytes(a: &proto::AttributeProto) -> Vec<u8> {
    let mut rest = a.clone();
    let head = proto::AttributeProto {
        name: rest.name.take(),
        f: rest.f.take(),
        i: rest.i.take(),
        s: rest.s.take(),
        ..Default::default()
    };
    let tensor = rest.t.take();
    let mut out = head.encode_to_vec();
    if let Some(t) = &tensor {
        field(5, &tensor_bytes(t), &mut out);
    }
    rest.encode(&mut out).unwrap();
    unknown_fields(5, &mut out);
    out
}

fn tensor_bytes(t: &proto::TensorProto) -> Vec<u8> {
    let mut out = t.encode_to_vec();
    unknown_fields(4, &mut out);
    out
}

/// A one-node model (`Relu`) whose node name, node doc string and graph name hold `bad`,
/// bytes that need not be UTF-8.
pub fn with_strings(bad: &[u8]) -> Vec<u8> {
    let mut node = proto::NodeProto {
        input: vec!["x".into()],
        output: vec!["y".into()],
        ..Default::default()
    }
    .encode_to_vec();
    field(3, bad, &mut node);
    field(4, b"Relu", &mut node);
    field(6, bad, &mut node);
    let mut graph = Vec::new();
    field(1, &node, &mut graph);
    field(2, bad, &mut graph);
    let mut model = proto::ModelProto {
        ir_version: Some(8),
        ..Default::default()
    }
    .encode_to_vec();
    field(7, &graph, &mut model);
    model
}
