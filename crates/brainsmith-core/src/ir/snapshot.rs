//! [`Snapshot`]: a model written flat into buffers kept from one save to the next, and
//! read back only when it must be restored.
//!
//! The pipeline saves the model before every transform so that a failed one can be
//! undone, and restores it almost never. A clone writes every name into a heap block of
//! its own, scattered over memory; a snapshot keeps one segment per list of the graph
//! (initializers, nodes, inputs, outputs, value_info, annotations) and appends the names
//! to its byte buffer and the lengths, counts and numbers to its word buffer, in order, so
//! that a save is sequential writes into buffers that already have room. A tensor's
//! values are shared, its name and dimensions written like the rest. What is rare
//! (subgraphs and other unusual attribute values, metadata entries or device
//! configurations on a node, metadata or non-tensor types on a value) is kept as a clone
//! beside the buffers, and what the model and graph hold besides their lists is cloned
//! into a kept header. Restoring reads everything back in the same order.
//!
//! The lists are [`TrackedVec`]s: a segment remembers the stamp it gave its list, and a
//! save skips every list still carrying it, untouched since (most transforms touch one or
//! two lists). Restoring reads every segment; each holds its list as last saved.
//!
//! The writer destructures every IR struct it reads without `..`, so a new field cannot
//! be forgotten: it fails to compile until the snapshot saves it.

use super::attribute::{Attribute, AttributeValue};
use super::graph::Graph;
use super::model::Model;
use super::node::Node;
use super::presence::Presence;
use super::proto;
use super::tensor::Tensor;
use super::tracked::{STAMP_BLOCK, TrackedVec, fresh_stamps};
use super::value::{Dim, TensorType, ValueInfo, ValueType};
use super::wire::UnknownFields;
use std::sync::Arc;

/// The length word of an absent optional string.
const ABSENT: u64 = u64::MAX;

/// A saved model (see the module docs).
#[derive(Default)]
pub(crate) struct Snapshot {
    initializers: Segment,
    nodes: Segment,
    inputs: Segment,
    outputs: Segment,
    value_info: Segment,
    quantization_annotations: Segment,
    /// The model and its graph without the graph's tracked lists.
    header: Model,
}

/// One tracked list of the graph, saved flat.
#[derive(Default)]
struct Segment {
    words: Vec<u64>,
    bytes: Vec<u8>,
    /// The shared part of every tensor (initializers, then tensor attributes), in order.
    tensors: Vec<Arc<proto::TensorProto>>,
    /// Nodes with something rare, whole, in order.
    nodes: Vec<Node>,
    /// Values with something rare, whole, in order.
    values: Vec<ValueInfo>,
    /// How many items the list had.
    len: usize,
    /// The stamp the list was given when this was written (0: never written).
    stamp: u64,
}

/// A segment's buffers larger than this many bytes are freed, not kept for the next run.
const KEEP_LIMIT: usize = 1 << 20;

thread_local! {
    /// The buffers the last run on this thread gave back (see [`Snapshot::recycle`]).
    static SPARE: std::cell::Cell<Option<Box<Snapshot>>> = const { std::cell::Cell::new(None) };
}

impl Snapshot {
    /// An empty snapshot, with the buffers the last run on this thread gave back when
    /// there are some: a run of a few transforms on a small model would otherwise spend
    /// much of its time allocating them.
    pub(crate) fn reused() -> Snapshot {
        SPARE
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .map_or_else(Snapshot::default, |b| *b)
    }

    /// Gives the buffers back for the next run on this thread: emptied (nothing of the
    /// model is kept, not even a shared tensor), and only those of moderate size.
    pub(crate) fn recycle(mut self) {
        for s in [
            &mut self.initializers,
            &mut self.nodes,
            &mut self.inputs,
            &mut self.outputs,
            &mut self.value_info,
            &mut self.quantization_annotations,
        ] {
            let big = s.words.capacity() * 8 > KEEP_LIMIT || s.bytes.capacity() > KEEP_LIMIT;
            let old = std::mem::take(s);
            if !big {
                (s.words, s.bytes) = (old.words, old.bytes);
                s.words.clear();
                s.bytes.clear();
            }
        }
        self.header = Model::default();
        let _ = SPARE.try_with(|spare| spare.set(Some(Box::new(self))));
    }

    /// Replaces what was saved by `model`, skipping each list of its graph that was not
    /// touched since this snapshot saved it (which it stamps; see `tracked.rs`).
    pub(crate) fn save(&mut self, model: &mut Model) {
        save_header(&mut self.header, model);
        let g = &mut model.graph;
        // Each list written takes its own stamp of the block.
        const _: () = assert!(STAMP_BLOCK >= 6);
        let stamps = fresh_stamps();
        self.initializers
            .save(&mut g.initializers, stamps, |s, t| s.tensor(t));
        self.nodes.save(&mut g.nodes, stamps + 1, Segment::node);
        self.inputs.save(&mut g.inputs, stamps + 2, Segment::value);
        self.outputs
            .save(&mut g.outputs, stamps + 3, Segment::value);
        self.value_info
            .save(&mut g.value_info, stamps + 4, Segment::value);
        self.quantization_annotations.save(
            &mut g.quantization_annotations,
            stamps + 5,
            Segment::annotation,
        );
    }

    /// The model as it was saved.
    pub(crate) fn restore(&self) -> Model {
        let mut model = self.header.clone();
        let Graph {
            name: _,
            nodes,
            initializers,
            sparse_initializers: _,
            doc_string: _,
            inputs,
            outputs,
            value_info,
            quantization_annotations,
            metadata_props: _,
            unknown: _,
            presence: _,
        } = &mut model.graph;
        *initializers = self.initializers.restore(Reader::tensor);
        *nodes = self.nodes.restore(Reader::node);
        *inputs = self.inputs.restore(Reader::value);
        *outputs = self.outputs.restore(Reader::value);
        *value_info = self.value_info.restore(Reader::value);
        *quantization_annotations = self.quantization_annotations.restore(Reader::annotation);
        model
    }
}

impl Segment {
    /// Writes `list` with `write` and stamps it `stamp`, unless it is the list this
    /// segment holds, untouched.
    fn save<T>(&mut self, list: &mut TrackedVec<T>, stamp: u64, write: impl Fn(&mut Segment, &T)) {
        if list.saved_as(self.stamp) {
            return;
        }
        self.words.clear();
        self.bytes.clear();
        self.tensors.clear();
        self.nodes.clear();
        self.values.clear();
        if self.words.capacity() == 0 {
            // A first save: room for a typical list, so the buffers rarely grow (and none
            // for an empty one).
            self.words.reserve(16 * list.len());
            self.bytes.reserve(64 * list.len());
        }
        self.len = list.len();
        for item in list.iter() {
            write(self, item);
        }
        list.stamp_saved(stamp);
        self.stamp = stamp;
    }

    /// The list as it was saved, read with `read`.
    fn restore<'s, T>(&'s self, read: impl Fn(&mut Reader<'s>) -> T) -> TrackedVec<T> {
        let mut r = Reader {
            words: self.words.iter(),
            bytes: &self.bytes,
            at: 0,
            tensors: self.tensors.iter(),
            nodes: self.nodes.iter(),
            values: self.values.iter(),
        };
        (0..self.len).map(|_| read(&mut r)).collect()
    }

    fn word(&mut self, w: u64) {
        self.words.push(w);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.words.push(b.len() as u64);
        self.bytes.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.word(ABSENT),
        }
    }

    /// A message's unknown fields, as an optional string of bytes.
    fn unknown(&mut self, u: &Option<UnknownFields>) {
        match u {
            Some(u) => self.bytes(u.as_bytes()),
            None => self.word(ABSENT),
        }
    }

    fn strs(&mut self, list: &[String]) {
        self.word(list.len() as u64);
        for s in list {
            self.str(s);
        }
    }

    fn node(&mut self, n: &Node) {
        let Node {
            name,
            op_type,
            domain,
            inputs,
            outputs,
            attributes,
            doc_string,
            metadata_props,
            overload,
            device_configurations,
            unknown,
            presence,
        } = n;
        let plain = metadata_props.is_empty()
            && overload.is_none()
            && device_configurations.is_empty()
            && attributes.iter().all(|a| {
                a.ref_attr_name.is_none()
                    && matches!(
                        a.value,
                        AttributeValue::Float(_)
                            | AttributeValue::Int(_)
                            | AttributeValue::String(_)
                            | AttributeValue::Tensor(_)
                            | AttributeValue::Floats(_)
                            | AttributeValue::Ints(_)
                            | AttributeValue::Strings(_)
                            | AttributeValue::Undefined
                    )
            });
        if kept_whole(&mut self.words, &mut self.nodes, n, !plain) {
            return;
        }
        self.str(name);
        self.str(op_type);
        self.str(domain);
        self.strs(inputs);
        self.strs(outputs);
        self.word(attributes.len() as u64);
        for a in attributes {
            let Attribute {
                name,
                value,
                doc_string,
                ref_attr_name: _,
                unknown,
                presence,
            } = a;
            self.str(name);
            self.str(doc_string);
            self.unknown(unknown);
            self.word(u64::from(presence.bits()));
            self.attribute_value(value);
        }
        self.str(doc_string);
        self.unknown(unknown);
        self.word(u64::from(presence.bits()));
    }

    /// Writes one of the values `node` lets through as plain.
    fn attribute_value(&mut self, v: &AttributeValue) {
        match v {
            AttributeValue::Float(f) => {
                self.word(0);
                self.word(u64::from(f.to_bits()));
            }
            AttributeValue::Int(i) => {
                self.word(1);
                self.word(*i as u64);
            }
            AttributeValue::String(s) => {
                self.word(2);
                self.bytes(s);
            }
            AttributeValue::Tensor(t) => {
                self.word(3);
                self.tensor(t);
            }
            AttributeValue::Floats(fs) => {
                self.word(4);
                self.word(fs.len() as u64);
                self.words.extend(fs.iter().map(|f| u64::from(f.to_bits())));
            }
            AttributeValue::Ints(is) => {
                self.word(5);
                self.word(is.len() as u64);
                self.words.extend(is.iter().map(|&i| i as u64));
            }
            AttributeValue::Strings(ss) => {
                self.word(6);
                self.word(ss.len() as u64);
                for s in ss {
                    self.bytes(s);
                }
            }
            _ => self.word(7),
        }
    }

    fn tensor(&mut self, t: &Tensor) {
        let Tensor { name, dims, data } = t;
        self.opt_str(name.as_deref());
        self.word(dims.len() as u64);
        self.words.extend(dims.iter().map(|&d| d as u64));
        self.tensors.push(Arc::clone(data));
    }

    fn annotation(&mut self, a: &proto::TensorAnnotation) {
        let proto::TensorAnnotation {
            tensor_name,
            quant_parameter_tensor_names,
            unknown_fields,
        } = a;
        self.opt_str(tensor_name.as_deref());
        self.unknown(unknown_fields);
        self.word(quant_parameter_tensor_names.len() as u64);
        for e in quant_parameter_tensor_names {
            let proto::StringStringEntryProto {
                key,
                value,
                unknown_fields,
            } = e;
            self.opt_str(key.as_deref());
            self.opt_str(value.as_deref());
            self.unknown(unknown_fields);
        }
    }

    fn value(&mut self, v: &ValueInfo) {
        let ValueInfo {
            name,
            ty,
            doc_string,
            metadata_props,
            unknown,
            presence,
        } = v;
        let rare = matches!(ty, Some(ValueType::Other(_))) || !metadata_props.is_empty();
        if kept_whole(&mut self.words, &mut self.values, v, rare) {
            return;
        }
        self.str(name);
        self.str(doc_string);
        self.unknown(unknown);
        self.word(u64::from(presence.bits()));
        let Some(ValueType::Tensor(t)) = ty else {
            self.word(0);
            return;
        };
        self.word(1);
        self.word(i64::from(t.elem_type) as u64);
        let Some(shape) = &t.shape else {
            self.word(ABSENT);
            return;
        };
        self.word(shape.len() as u64);
        for d in shape {
            match d {
                Dim::Value(v) => {
                    self.word(0);
                    self.word(*v as u64);
                }
                Dim::Param(p) => {
                    self.word(1);
                    self.str(p);
                }
                Dim::Unknown => self.word(2),
            }
        }
    }
}

/// Writes whether `item` is `rare`, and if so keeps it whole in `store` (the reader takes
/// it back from there); returns `rare`.
fn kept_whole<T: Clone>(words: &mut Vec<u64>, store: &mut Vec<T>, item: &T, rare: bool) -> bool {
    words.push(u64::from(rare));
    if rare {
        store.push(item.clone());
    }
    rare
}

/// Makes `header` the model without the lists the snapshot writes itself.
fn save_header(header: &mut Model, model: &Model) {
    let Model {
        ir_version,
        opset_imports,
        producer_name,
        producer_version,
        domain,
        model_version,
        doc_string,
        graph,
        metadata_props,
        training_info,
        functions,
        configuration,
        unknown,
        presence,
    } = model;
    header.ir_version = *ir_version;
    header.opset_imports.clone_from(opset_imports);
    header.producer_name.clone_from(producer_name);
    header.producer_version.clone_from(producer_version);
    header.domain.clone_from(domain);
    header.model_version = *model_version;
    header.doc_string.clone_from(doc_string);
    header.metadata_props.clone_from(metadata_props);
    header.training_info.clone_from(training_info);
    header.functions.clone_from(functions);
    header.configuration.clone_from(configuration);
    header.unknown.clone_from(unknown);
    header.presence = *presence;
    let Graph {
        name,
        nodes: _,
        initializers: _,
        sparse_initializers,
        doc_string,
        inputs: _,
        outputs: _,
        value_info: _,
        quantization_annotations: _,
        metadata_props,
        unknown,
        presence,
    } = graph;
    let h = &mut header.graph;
    h.name.clone_from(name);
    h.sparse_initializers.clone_from(sparse_initializers);
    h.doc_string.clone_from(doc_string);
    h.metadata_props.clone_from(metadata_props);
    h.unknown.clone_from(unknown);
    h.presence = *presence;
}

/// Reads a snapshot back in the order it was written.
struct Reader<'s> {
    words: std::slice::Iter<'s, u64>,
    bytes: &'s [u8],
    at: usize,
    tensors: std::slice::Iter<'s, Arc<proto::TensorProto>>,
    nodes: std::slice::Iter<'s, Node>,
    values: std::slice::Iter<'s, ValueInfo>,
}

impl Reader<'_> {
    fn word(&mut self) -> u64 {
        self.words.next().copied().unwrap_or_default()
    }

    fn bytes_of(&mut self, len: u64) -> Vec<u8> {
        let end = self.at + len as usize;
        let b = self.bytes.get(self.at..end).unwrap_or_default().to_vec();
        self.at = end;
        b
    }

    fn bytes(&mut self) -> Vec<u8> {
        let len = self.word();
        self.bytes_of(len)
    }

    fn string(&mut self) -> String {
        let b = self.bytes();
        // Written from `&str`, so always UTF-8.
        String::from_utf8(b).unwrap_or_default()
    }

    fn opt_string(&mut self) -> Option<String> {
        let len = self.word();
        (len != ABSENT).then(|| String::from_utf8(self.bytes_of(len)).unwrap_or_default())
    }

    fn strings(&mut self) -> Vec<String> {
        (0..self.word()).map(|_| self.string()).collect()
    }

    fn unknown(&mut self) -> Option<UnknownFields> {
        let len = self.word();
        (len != ABSENT).then(|| UnknownFields::from_bytes(self.bytes_of(len)))
    }

    fn presence(&mut self) -> Presence {
        Presence::from_bits(self.word() as u16)
    }

    fn node(&mut self) -> Node {
        if self.word() == 1 {
            return self.nodes.next().cloned().unwrap_or_default();
        }
        let name = self.string();
        let op_type = self.string();
        let domain = self.string();
        let inputs = self.strings();
        let outputs = self.strings();
        let attributes = (0..self.word())
            .map(|_| {
                let name = self.string();
                let doc_string = self.string();
                let unknown = self.unknown();
                let presence = self.presence();
                Attribute {
                    name,
                    value: self.attribute_value(),
                    doc_string,
                    ref_attr_name: None,
                    unknown,
                    presence,
                }
            })
            .collect();
        Node {
            name,
            op_type,
            domain,
            inputs,
            outputs,
            attributes,
            doc_string: self.string(),
            metadata_props: Vec::new(),
            overload: None,
            device_configurations: Vec::new(),
            unknown: self.unknown(),
            presence: self.presence(),
        }
    }

    fn attribute_value(&mut self) -> AttributeValue {
        match self.word() {
            0 => AttributeValue::Float(f32::from_bits(self.word() as u32)),
            1 => AttributeValue::Int(self.word() as i64),
            2 => AttributeValue::String(self.bytes()),
            3 => AttributeValue::Tensor(self.tensor()),
            4 => AttributeValue::Floats(
                (0..self.word())
                    .map(|_| f32::from_bits(self.word() as u32))
                    .collect(),
            ),
            5 => AttributeValue::Ints((0..self.word()).map(|_| self.word() as i64).collect()),
            6 => AttributeValue::Strings((0..self.word()).map(|_| self.bytes()).collect()),
            _ => AttributeValue::Undefined,
        }
    }

    fn tensor(&mut self) -> Tensor {
        Tensor {
            name: self.opt_string(),
            dims: (0..self.word()).map(|_| self.word() as i64).collect(),
            data: self.tensors.next().cloned().unwrap_or_default(),
        }
    }

    fn annotation(&mut self) -> proto::TensorAnnotation {
        let tensor_name = self.opt_string();
        let unknown_fields = self.unknown();
        proto::TensorAnnotation {
            tensor_name,
            quant_parameter_tensor_names: (0..self.word())
                .map(|_| proto::StringStringEntryProto {
                    key: self.opt_string(),
                    value: self.opt_string(),
                    unknown_fields: self.unknown(),
                })
                .collect(),
            unknown_fields,
        }
    }

    fn value(&mut self) -> ValueInfo {
        if self.word() == 1 {
            return self.values.next().cloned().unwrap_or_default();
        }
        let name = self.string();
        let doc_string = self.string();
        let unknown = self.unknown();
        let presence = self.presence();
        let ty = (self.word() == 1).then(|| {
            let elem_type = self.word() as i64 as i32;
            let len = self.word();
            let shape = (len != ABSENT).then(|| {
                (0..len)
                    .map(|_| match self.word() {
                        0 => Dim::Value(self.word() as i64),
                        1 => Dim::Param(self.string()),
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            ValueType::Tensor(TensorType { elem_type, shape })
        });
        ValueInfo {
            name,
            ty,
            doc_string,
            metadata_props: Vec::new(),
            unknown,
            presence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Snapshot;
    use crate::ir::{
        Attribute, AttributeValue as V, Dim, ElemType, Graph, Model, Node, QuantType, Tensor,
        TensorType, UnknownFields, ValueInfo, ValueType, proto,
    };

    /// A model with `nodes` nodes and, by `seed`, every kind of value the snapshot writes
    /// flat and every rare part it keeps whole.
    fn model(nodes: usize, seed: i64) -> Model {
        let mut m = Model {
            ir_version: seed,
            producer_name: format!("p{seed}"),
            ..Model::default()
        };
        m.opset_imports.push(proto::OperatorSetIdProto {
            domain: (seed % 2 == 0).then(String::new),
            version: Some(13 + seed),
            unknown_fields: None,
        });
        // Field 100, a varint: what a newer ONNX or a vendor might add.
        let unknown = || Some(UnknownFields::from_bytes(vec![0xa0, 0x06, seed as u8]));
        for i in 0..nodes {
            let value = match (i as i64 + seed) % 8 {
                0 => V::Ints(vec![seed, -1, i64::MIN]),
                1 => V::Float(-0.5 * seed as f32),
                2 => V::string(&"s".repeat(i + 1)),
                3 => V::Tensor(Tensor::from_i64("t", &[1], &[seed])),
                4 => V::Floats(vec![-0.0, f32::INFINITY, 1.5]),
                5 => V::Strings(vec![b"a".to_vec(), Vec::new()]),
                6 => V::Graph(Box::new(Graph {
                    name: "body".into(),
                    nodes: vec![Node::new("Identity", ["x"], ["y"])].into(),
                    ..Graph::default()
                })),
                _ => V::Undefined,
            };
            let input = format!("x{i}_{seed}");
            let output = format!("y{i}");
            let mut node = Node::new("Relu", [input.as_str(), ""], [output.as_str()])
                .with_attribute("a", value);
            if i % 5 == 4 {
                node.metadata_props.push(proto::StringStringEntryProto {
                    key: Some("k".into()),
                    value: None,
                    unknown_fields: None,
                });
            }
            if i % 3 == 1 {
                node.unknown = unknown();
                node.attributes[0].unknown = unknown();
            }
            node.attributes.push(Attribute::new("b", V::Int(i as i64)));
            m.graph.nodes.push(node);
            let mut info = ValueInfo::tensor(output.as_str(), ElemType::Float, &[seed, 2]);
            match i % 4 {
                0 => info.ty = None,
                1 => {
                    info.ty = Some(ValueType::Tensor(TensorType {
                        elem_type: -1,
                        shape: Some(vec![Dim::Param("N".into()), Dim::Unknown, Dim::Value(-3)]),
                    }))
                }
                2 => info.ty = Some(ValueType::Other(Default::default())),
                _ => info.unknown = unknown(),
            }
            m.graph.value_info.push(info);
            if (i as i64 + seed) % 2 == 0 {
                m.graph
                    .set_datatype(&output, QuantType::Int(i as u32 % 8 + 1));
            }
        }
        m.graph
            .inputs
            .push(ValueInfo::tensor("x", ElemType::Float, &[1]));
        m.graph
            .outputs
            .push(ValueInfo::tensor("y", ElemType::Float, &[]));
        m.graph
            .initializers
            .push(Tensor::from_f32("w", &[2], &[seed as f32, 1.0]));
        m.graph
            .quantization_annotations
            .push(proto::TensorAnnotation {
                tensor_name: None,
                quant_parameter_tensor_names: Vec::new(),
                unknown_fields: unknown(),
            });
        m.graph.unknown = unknown();
        m
    }

    /// One snapshot saved over and over (growing, shrinking, changing kinds) restores
    /// exactly the model last saved, and restores it as often as asked.
    #[test]
    fn restore_gives_back_exactly_the_model_last_saved() {
        let mut models: Vec<Model> = [(0, 0), (1, 1), (9, 2), (5, 3), (17, 4), (2, 5)]
            .into_iter()
            .map(|(n, seed)| model(n, seed))
            .collect();
        let mut snapshot = Snapshot::default();
        for a in 0..models.len() {
            for b in 0..models.len() {
                snapshot.save(&mut models[a]);
                // Saved again untouched when `a == b`: nothing is rewritten.
                snapshot.save(&mut models[b]);
                for _ in 0..2 {
                    let back = snapshot.restore();
                    assert!(back == models[b]);
                    assert_eq!(back.encode(), models[b].encode());
                }
            }
        }
    }

    /// A save rewrites the lists touched since the last one, and only those; whatever was
    /// done to the model in between, the restore is the model last saved.
    #[test]
    fn a_save_rewrites_exactly_the_touched_lists() {
        let stamps = |s: &Snapshot| {
            [
                &s.initializers,
                &s.nodes,
                &s.inputs,
                &s.outputs,
                &s.value_info,
                &s.quantization_annotations,
            ]
            .map(|g| g.stamp)
        };
        let edits: [fn(&mut Model, &mut Model); 7] = [
            |m, _| m.graph.nodes[0].name.push('!'),
            |m, _| m.graph.value_info.truncate(1),
            |m, _| {
                m.graph
                    .initializers
                    .iter_mut()
                    .for_each(|t| t.set_name("w2"))
            },
            |m, _| *m.graph.inputs = Vec::new(),
            |m, _| m.graph.set_datatype("y0", QuantType::Bipolar),
            // Lists moved in from another model, itself saved by this snapshot.
            |m, other| std::mem::swap(&mut m.graph.outputs, &mut other.graph.outputs),
            |m, other| std::mem::swap(&mut m.graph, &mut other.graph),
        ];
        for (i, edit) in edits.into_iter().enumerate() {
            let mut m = model(5, 1);
            let mut other = model(3, 2);
            let mut snapshot = Snapshot::default();
            snapshot.save(&mut other);
            snapshot.save(&mut m);
            let before = stamps(&snapshot);
            snapshot.save(&mut m);
            assert_eq!(
                stamps(&snapshot),
                before,
                "an untouched model is not rewritten"
            );
            edit(&mut m, &mut other);
            snapshot.save(&mut m);
            let after = stamps(&snapshot);
            let rewritten = (0..6).filter(|&k| after[k] != before[k]).count();
            assert_eq!(rewritten, if i == 6 { 6 } else { 1 }, "edit {i}");
            assert!(snapshot.restore() == m, "edit {i}");
            assert_eq!(snapshot.restore().encode(), m.encode(), "edit {i}");
        }
    }

    /// A snapshot given back holds nothing of the model: the next run on the thread gets
    /// its buffers, saves the same untouched model again in full, and restores it.
    #[test]
    fn a_recycled_snapshot_keeps_buffers_and_nothing_else() {
        let mut m = model(9, 3);
        let mut snapshot = Snapshot::reused();
        snapshot.save(&mut m);
        let tensor = std::sync::Arc::clone(&m.graph.initializers[0].data);
        let shared = std::sync::Arc::strong_count(&tensor);
        snapshot.recycle();
        assert!(
            std::sync::Arc::strong_count(&tensor) < shared,
            "a recycled snapshot still holds a weight"
        );
        let mut again = Snapshot::reused();
        assert!(
            again.nodes.words.capacity() > 0,
            "the buffers were not reused"
        );
        assert!(again.nodes.words.is_empty() && again.nodes.stamp == 0);
        again.save(&mut m);
        assert!(again.restore() == m);
        assert_eq!(again.restore().encode(), m.encode());
    }

    /// Models read from files keep the presence of their optional fields through a
    /// snapshot.
    #[test]
    fn a_decoded_model_survives_with_its_presence_bits() {
        let mut m = Model::decode(&model(9, 1).encode()).unwrap();
        let mut snapshot = Snapshot::default();
        snapshot.save(&mut m);
        assert!(snapshot.restore() == m);
        assert_eq!(snapshot.restore().encode(), m.encode());
    }
}
