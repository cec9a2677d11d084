//! [`Graph`]: nodes, their tensors, and the queries transforms need.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::attribute::AttributeValue;
use super::datatype::QuantType;
use super::node::Node;
use super::presence::Presence;
use super::proto;
use super::tensor::Tensor;
use super::tracked::TrackedVec;
use super::value::ValueInfo;
use super::wire::UnknownFields;

const NAME: u16 = 0;
const DOC_STRING: u16 = 1;

/// The key of a QONNX datatype in a `quantization_annotation` entry.
pub(crate) const FINN_DATATYPE: &str = "finn_datatype";

/// A computation graph.
///
/// Its lists of nodes, tensors and values are `Vec`s behind a [`TrackedVec`], which lets
/// the pipeline's transactional save skip what a transform did not touch. A plugin never
/// names it: `graph.nodes.push(n)`, `for n in &mut graph.nodes`, `*graph.nodes = vec` and
/// `std::mem::take(&mut *graph.nodes)` all work on the `Vec` itself, and the lists borrow
/// apart like any fields.
///
/// ```
/// use brainsmith_core::ir::{Graph, Node};
///
/// let mut graph = Graph::default();
/// *graph.nodes = vec![Node::new("Relu", ["x"], ["y"])];
/// let nodes: Vec<Node> = std::mem::take(&mut *graph.nodes);
/// for node in &mut graph.nodes {
///     node.name = "never".into(); // the list is empty now
/// }
/// assert_eq!((nodes.len(), graph.nodes.len()), (1, 0));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// The graph's name.
    pub name: String,
    /// Nodes (topologically sorted in a well-formed graph).
    pub nodes: TrackedVec<Node>,
    /// Constant tensors.
    pub initializers: TrackedVec<Tensor>,
    /// Sparse constant tensors, kept as read.
    pub sparse_initializers: Vec<proto::SparseTensorProto>,
    /// Human-readable documentation.
    pub doc_string: String,
    /// Graph inputs (in old IR versions, initializers are listed here too).
    pub inputs: TrackedVec<ValueInfo>,
    /// Graph outputs.
    pub outputs: TrackedVec<ValueInfo>,
    /// Types and shapes of intermediate tensors.
    pub value_info: TrackedVec<ValueInfo>,
    /// Per-tensor annotations; QONNX keeps datatypes here (see [`Graph::datatype`]).
    pub quantization_annotations: TrackedVec<proto::TensorAnnotation>,
    /// Named metadata entries.
    pub metadata_props: Vec<proto::StringStringEntryProto>,
    pub(super) unknown: Option<UnknownFields>,
    pub(super) presence: Presence,
}

impl Graph {
    /// The initializer called `name`.
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.iter().find(|t| t.name() == name)
    }

    /// The declared type of `name`: a graph input, output or `value_info` entry.
    pub fn value_info_of(&self, name: &str) -> Option<&ValueInfo> {
        self.inputs
            .iter()
            .chain(&self.outputs)
            .chain(&self.value_info)
            .find(|v| v.name == name)
    }

    /// Whether `name` is a graph output.
    pub fn is_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|v| v.name == name)
    }

    /// For every tensor produced by a node, the index of that node.
    pub fn producers(&self) -> FxHashMap<&str, usize> {
        let mut map = FxHashMap::default();
        for (i, node) in self.nodes.iter().enumerate() {
            for output in node.outputs.iter().filter(|o| !o.is_empty()) {
                map.insert(output.as_str(), i);
            }
        }
        map
    }

    /// For every tensor read by a node, the indices of those nodes (once per node).
    pub fn consumers(&self) -> FxHashMap<&str, Vec<usize>> {
        let mut map: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, node) in self.nodes.iter().enumerate() {
            for input in node.inputs.iter().filter(|o| !o.is_empty()) {
                let users = map.entry(input.as_str()).or_default();
                if users.last() != Some(&i) {
                    users.push(i);
                }
            }
        }
        map
    }

    /// Renames tensor `from` to `to` everywhere: every use in every node (a node that reads
    /// the same tensor twice gets both), subgraphs that read it from the outer scope, graph
    /// inputs and outputs, `value_info`, initializers and annotations.
    pub fn rename_tensor(&mut self, from: &str, to: &str) {
        if from != to {
            self.rename_tensors(&FxHashMap::from_iter([(from.to_owned(), to.to_owned())]));
        }
    }

    /// Renames many tensors at once, in one pass over the graph (and its subgraphs): every
    /// name that is a key of `map` becomes its value. The renames are simultaneous, so
    /// `{a: b, b: a}` swaps two names.
    pub fn rename_tensors(&mut self, map: &FxHashMap<String, String>) {
        if map.is_empty() {
            return;
        }
        // Copy into the old buffer when it has room; a fresh one otherwise, which spares
        // the reallocation copying the old name.
        let put = |s: &mut String, new: &String| {
            if s.capacity() >= new.len() {
                s.clone_from(new);
            } else {
                *s = new.clone();
            }
        };
        let rename = |s: &mut String| {
            if let Some(new) = map.get(s.as_str()) {
                put(s, new);
            }
        };
        for node in &mut self.nodes {
            node.inputs.iter_mut().for_each(rename);
            node.outputs.iter_mut().for_each(rename);
            for attribute in &mut node.attributes {
                match &mut attribute.value {
                    AttributeValue::Graph(g) => g.rename_tensors(map),
                    AttributeValue::Graphs(gs) => gs.iter_mut().for_each(|g| g.rename_tensors(map)),
                    _ => {}
                }
            }
        }
        // By index, so that a list is written (and must be saved again) only where a name
        // in it changes.
        for list in [&mut self.inputs, &mut self.outputs, &mut self.value_info] {
            for i in 0..list.len() {
                if let Some(new) = map.get(list[i].name.as_str()) {
                    put(&mut list[i].name, new);
                }
            }
        }
        for i in 0..self.initializers.len() {
            if let Some(new) = map.get(self.initializers[i].name()) {
                self.initializers[i].set_name(new.clone());
            }
        }
        for annotation in &mut self.quantization_annotations {
            if let Some(name) = &mut annotation.tensor_name {
                rename(name);
            }
        }
    }

    /// The constant value of tensor `name`: an initializer that is not also a graph input
    /// (which a caller could override), or the output of a `Constant` node with a `value`.
    pub fn constant(&self, name: &str) -> Option<&Tensor> {
        if self.inputs.iter().any(|i| i.name == name) {
            return None;
        }
        self.initializer(name).or_else(|| {
            self.nodes
                .iter()
                .find(|n| {
                    n.op_type == "Constant"
                        && n.is_onnx()
                        && n.outputs.first().is_some_and(|o| o == name)
                })
                .and_then(|n| match n.attribute("value") {
                    Some(AttributeValue::Tensor(t)) => Some(t),
                    _ => None,
                })
        })
    }

    /// The QONNX datatype annotated on `tensor` (`finn_datatype`), if any; an annotation that
    /// does not parse is an error naming the tensor.
    pub fn datatype(&self, tensor: &str) -> Option<Result<QuantType, String>> {
        let value = self
            .quantization_annotations
            .iter()
            .filter(|a| a.tensor_name.as_deref() == Some(tensor))
            .flat_map(|a| &a.quant_parameter_tensor_names)
            .find(|e| e.key.as_deref() == Some(FINN_DATATYPE))?
            .value
            .as_deref()
            .unwrap_or("");
        Some(value.parse().map_err(|e| format!("tensor '{tensor}': {e}")))
    }

    /// Annotates `tensor` with a QONNX datatype, replacing an earlier annotation.
    pub fn set_datatype(&mut self, tensor: &str, datatype: QuantType) {
        let entry = proto::StringStringEntryProto {
            key: Some(FINN_DATATYPE.to_owned()),
            value: Some(datatype.to_string()),
            unknown_fields: None,
        };
        let annotation = self
            .quantization_annotations
            .iter_mut()
            .find(|a| a.tensor_name.as_deref() == Some(tensor));
        match annotation {
            Some(a) => match a
                .quant_parameter_tensor_names
                .iter_mut()
                .find(|e| e.key.as_deref() == Some(FINN_DATATYPE))
            {
                Some(existing) => existing.value = entry.value,
                None => a.quant_parameter_tensor_names.push(entry),
            },
            None => self.quantization_annotations.push(proto::TensorAnnotation {
                tensor_name: Some(tensor.to_owned()),
                quant_parameter_tensor_names: vec![entry],
                unknown_fields: None,
            }),
        }
    }

    /// Every QONNX datatype annotation, by tensor name (annotations that do not parse are
    /// left out).
    pub fn datatypes(&self) -> FxHashMap<String, QuantType> {
        let mut all = FxHashMap::default();
        for (tensor, value) in self.annotations(FINN_DATATYPE) {
            if let Ok(datatype) = value.parse::<QuantType>() {
                all.entry(tensor.to_owned()).or_insert(datatype);
            }
        }
        all
    }

    /// Every tensor's value of quantization annotation `key`, in the order annotated (a
    /// tensor annotated twice comes twice; the first counts, as in [`Graph::annotation`]).
    pub fn annotations<'g>(&'g self, key: &'g str) -> impl Iterator<Item = (&'g str, &'g str)> {
        self.quantization_annotations.iter().filter_map(move |a| {
            let value = a
                .quant_parameter_tensor_names
                .iter()
                .find(|e| e.key.as_deref() == Some(key))?
                .value
                .as_deref()?;
            Some((a.tensor_name.as_deref()?, value))
        })
    }

    /// Annotates many tensors at once, as [`Graph::set_datatype`] does one, in time linear
    /// in the annotations there are.
    pub fn set_datatypes(&mut self, datatypes: impl IntoIterator<Item = (String, QuantType)>) {
        self.set_annotations(
            FINN_DATATYPE,
            datatypes.into_iter().map(|(t, d)| (t, d.to_string())),
        );
    }

    /// The value of quantization annotation `key` on `tensor` (`"tensor_layout"`,
    /// `"tensor_sparsity"`, ...), if it has one.
    pub fn annotation(&self, tensor: &str, key: &str) -> Option<&str> {
        self.quantization_annotations
            .iter()
            .filter(|a| a.tensor_name.as_deref() == Some(tensor))
            .flat_map(|a| &a.quant_parameter_tensor_names)
            .find(|e| e.key.as_deref() == Some(key))?
            .value
            .as_deref()
    }

    /// Sets quantization annotation `key` of many tensors, replacing earlier values of
    /// that key and keeping the tensors' other keys, in time linear in the annotations
    /// there are.
    ///
    /// ```
    /// use brainsmith_core::ir::{Graph, QuantType};
    ///
    /// let mut graph = Graph::default();
    /// graph.set_datatypes([("x".to_owned(), QuantType::Int(8))]);
    /// graph.set_annotations("tensor_layout", [("x".to_owned(), "['N', 'C']".to_owned())]);
    /// graph.set_annotations("tensor_layout", [("x".to_owned(), "['C', 'N']".to_owned())]);
    /// assert_eq!(graph.annotation("x", "tensor_layout"), Some("['C', 'N']"));
    /// assert_eq!(graph.annotation("x", "finn_datatype"), Some("INT8"));
    /// assert_eq!(graph.quantization_annotations.len(), 1);
    /// ```
    pub fn set_annotations(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = (String, String)>,
    ) {
        let mut at: FxHashMap<String, usize> = FxHashMap::default();
        for (i, a) in self.quantization_annotations.iter().enumerate() {
            if let Some(tensor) = &a.tensor_name {
                at.entry(tensor.clone()).or_insert(i);
            }
        }
        for (tensor, value) in values {
            let entry = proto::StringStringEntryProto {
                key: Some(key.to_owned()),
                value: Some(value),
                unknown_fields: None,
            };
            match at.get(&tensor) {
                Some(&i) => {
                    let entries =
                        &mut self.quantization_annotations[i].quant_parameter_tensor_names;
                    match entries.iter_mut().find(|e| e.key.as_deref() == Some(key)) {
                        Some(existing) => existing.value = entry.value,
                        None => entries.push(entry),
                    }
                }
                None => {
                    at.insert(tensor.clone(), self.quantization_annotations.len());
                    self.quantization_annotations.push(proto::TensorAnnotation {
                        tensor_name: Some(tensor),
                        quant_parameter_tensor_names: vec![entry],
                        unknown_fields: None,
                    });
                }
            }
        }
    }

    /// Converts from the protobuf message.
    pub fn from_proto(p: proto::GraphProto) -> Graph {
        let mut presence = Presence::default();
        Graph {
            name: presence.take(NAME, p.name),
            nodes: p.node.into_iter().map(Node::from_proto).collect(),
            initializers: p.initializer.into_iter().map(Tensor::from_proto).collect(),
            sparse_initializers: p.sparse_initializer,
            doc_string: presence.take(DOC_STRING, p.doc_string),
            inputs: p.input.into_iter().map(ValueInfo::from_proto).collect(),
            outputs: p.output.into_iter().map(ValueInfo::from_proto).collect(),
            value_info: p
                .value_info
                .into_iter()
                .map(ValueInfo::from_proto)
                .collect(),
            quantization_annotations: p.quantization_annotation.into(),
            metadata_props: p.metadata_props,
            unknown: p.unknown_fields,
            presence,
        }
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::GraphProto {
        let p = self.presence;
        proto::GraphProto {
            node: self.nodes.into_iter().map(Node::into_proto).collect(),
            name: p.put(NAME, self.name),
            initializer: self
                .initializers
                .into_iter()
                .map(Tensor::into_proto)
                .collect(),
            sparse_initializer: self.sparse_initializers,
            doc_string: p.put(DOC_STRING, self.doc_string),
            input: self.inputs.into_iter().map(ValueInfo::into_proto).collect(),
            output: self
                .outputs
                .into_iter()
                .map(ValueInfo::into_proto)
                .collect(),
            value_info: self
                .value_info
                .into_iter()
                .map(ValueInfo::into_proto)
                .collect(),
            quantization_annotation: self.quantization_annotations.into_vec(),
            metadata_props: self.metadata_props,
            unknown_fields: self.unknown,
        }
    }
}

/// The nodes of a graph in dependency order ([`Graph::topological_order`]), and those
/// that cannot be placed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// Indices of the nodes that can run, each after every node whose output it reads;
    /// among nodes ready at once the earliest in the graph goes first, so a graph already
    /// in order keeps its order.
    pub nodes: Vec<usize>,
    /// Indices, in graph order, of the nodes left out: each is on a cycle or reads
    /// (directly, or through a node left out) a tensor that no node, graph input or
    /// initializer provides.
    pub blocked: Vec<usize>,
}

impl Order {
    /// Why some nodes could not be placed, naming one of them and the tensor it waits for
    /// or the nodes of the cycle; `None` when every node is placed.
    pub fn problem(&self, graph: &Graph) -> Option<String> {
        if self.blocked.is_empty() {
            return None;
        }
        let provided: FxHashSet<&str> = graph
            .inputs
            .iter()
            .map(|v| v.name.as_str())
            .chain(graph.initializers.iter().map(Tensor::name))
            .chain(
                graph
                    .nodes
                    .iter()
                    .flat_map(|n| n.outputs.iter().map(String::as_str)),
            )
            .collect();
        let mut reads = Vec::new();
        for &i in &self.blocked {
            let node = &graph.nodes[i];
            reads.clear();
            node.reads(&mut reads);
            if let Some(missing) = reads.iter().find(|r| !provided.contains(*r)) {
                return Some(format!(
                    "node '{}' ({}) reads tensor '{missing}', which no node, graph input or \
                     initializer provides",
                    node.name, node.op_type
                ));
            }
        }
        let stuck: Vec<String> = self
            .blocked
            .iter()
            .take(10)
            .map(|&i| format!("'{}' ({})", graph.nodes[i].name, graph.nodes[i].op_type))
            .collect();
        Some(format!(
            "the graph has a cycle: {} node(s) wait on each other, among them {}",
            self.blocked.len(),
            stuck.join(", ")
        ))
    }
}

impl Graph {
    /// The nodes in dependency order: the one topological order of the project (Kahn's
    /// algorithm, ties broken by graph order). A node waits for the inputs it reads and
    /// for the outer-scope tensors its subgraphs (`If`, `Loop`, `Scan`) read; a tensor
    /// written by several nodes is ready when the first of them has run.
    ///
    /// ```
    /// use brainsmith_core::ir::{ElemType, Graph, Node, ValueInfo};
    ///
    /// let mut graph = Graph::default();
    /// graph.inputs.push(ValueInfo::tensor("x", ElemType::Float, &[4]));
    /// graph.nodes.push(Node::new("Relu", ["y"], ["z"]).with_name("second"));
    /// graph.nodes.push(Node::new("Neg", ["x"], ["y"]).with_name("first"));
    /// let order = graph.topological_order();
    /// assert_eq!(order.nodes, [1, 0]);
    /// assert!(order.problem(&graph).is_none());
    /// ```
    pub fn topological_order(&self) -> Order {
        let sources = || {
            self.inputs
                .iter()
                .map(|v| v.name.as_str())
                .chain(self.initializers.iter().map(Tensor::name))
        };
        let mut available: FxHashSet<&str> = FxHashSet::with_capacity_and_hasher(
            self.inputs.len() + self.initializers.len() + self.nodes.len(),
            Default::default(),
        );
        available.extend(sources());
        // ONNX requires nodes in dependency order, so the graph's own order is almost
        // always the answer; checking it costs one set lookup per read.
        let mut reads = Vec::new();
        let in_order = self.nodes.iter().all(|node| {
            let mut ready = node
                .inputs
                .iter()
                .all(|i| i.is_empty() || available.contains(i.as_str()));
            // Only a node with a subgraph reads more than its inputs.
            if ready && node.has_subgraphs() {
                reads.clear();
                node.subgraph_reads(&mut reads);
                ready = reads.iter().all(|r| available.contains(r));
            }
            available.extend(
                node.outputs
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(String::as_str),
            );
            ready
        });
        if in_order {
            return Order {
                nodes: (0..self.nodes.len()).collect(),
                blocked: Vec::new(),
            };
        }
        available.clear();
        available.extend(sources());
        let produced: FxHashSet<&str> = self
            .nodes
            .iter()
            .flat_map(|n| {
                n.outputs
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(String::as_str)
            })
            .collect();
        let mut waiting = vec![0usize; self.nodes.len()];
        let mut consumers: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, node) in self.nodes.iter().enumerate() {
            reads.clear();
            node.reads(&mut reads);
            for (k, read) in reads.iter().enumerate() {
                // A node reads a handful of tensors: a scan beats a set for a repeat.
                if available.contains(read) || reads[..k].contains(read) {
                    continue;
                }
                // A tensor nothing provides is never ready: the node stays blocked.
                waiting[i] += 1;
                if produced.contains(read) {
                    consumers.entry(read).or_default().push(i);
                }
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = waiting
            .iter()
            .enumerate()
            .filter(|(_, w)| **w == 0)
            .map(|(i, _)| Reverse(i))
            .collect();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        while let Some(Reverse(i)) = ready.pop() {
            nodes.push(i);
            for output in self.nodes[i].outputs.iter().filter(|n| !n.is_empty()) {
                if !available.insert(output.as_str()) {
                    continue;
                }
                for &c in consumers
                    .get(output.as_str())
                    .map_or(&[][..], Vec::as_slice)
                {
                    waiting[c] -= 1;
                    if waiting[c] == 0 {
                        ready.push(Reverse(c));
                    }
                }
            }
        }
        let blocked = (0..self.nodes.len()).filter(|&i| waiting[i] > 0).collect();
        Order { nodes, blocked }
    }

    /// The outer-scope tensors this graph reads, as a subgraph: names that none of its
    /// inputs, initializers or nodes provides.
    fn outer_reads<'g>(&'g self, out: &mut Vec<&'g str>) {
        let mut local: FxHashSet<&str> = self.inputs.iter().map(|v| v.name.as_str()).collect();
        local.extend(self.initializers.iter().map(Tensor::name));
        local.extend(
            self.nodes
                .iter()
                .flat_map(|n| n.outputs.iter().map(String::as_str)),
        );
        let mut inner = Vec::new();
        for node in &self.nodes {
            inner.clear();
            node.reads(&mut inner);
            out.extend(inner.iter().filter(|i| !local.contains(*i)));
        }
    }
}

impl Node {
    /// Appends every tensor this node reads: its given inputs, then the outer-scope
    /// tensors its subgraphs (`If`, `Loop`, `Scan`) read.
    pub fn reads<'n>(&'n self, out: &mut Vec<&'n str>) {
        out.extend(
            self.inputs
                .iter()
                .filter(|i| !i.is_empty())
                .map(String::as_str),
        );
        self.subgraph_reads(out);
    }

    /// Whether an attribute of this node is a graph (`If`, `Loop`, `Scan` bodies).
    pub fn has_subgraphs(&self) -> bool {
        self.attributes.iter().any(|a| {
            matches!(
                a.value,
                AttributeValue::Graph(_) | AttributeValue::Graphs(_)
            )
        })
    }

    /// Appends the outer-scope tensors the subgraphs of this node read.
    pub fn subgraph_reads<'n>(&'n self, out: &mut Vec<&'n str>) {
        for attribute in &self.attributes {
            match &attribute.value {
                AttributeValue::Graph(g) => g.outer_reads(out),
                AttributeValue::Graphs(gs) => gs.iter().for_each(|g| g.outer_reads(out)),
                _ => {}
            }
        }
    }
}
