//! "The same graph up to naming": a structural signature of a model that ignores every
//! tensor and node name.
//!
//! A graph input stands for its position, an initializer for its element type and
//! dimensions (values are compared by running the models), a node output for its op type,
//! domain, attributes, the signatures of its inputs and its output index. Inputs of
//! commutative ops are taken as a multiset, since their order carries no meaning, and
//! FINN's old custom-op domain counts as QONNX's, which qonnx renames it to on load.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use brainsmith_core::ir::{AttributeValue, Model, Node};

/// Op types whose inputs commute.
const COMMUTATIVE: &[&str] = &[
    "Add", "Mul", "And", "Or", "Xor", "Sum", "Max", "Min", "Equal",
];

/// The structure of a model: how many nodes have each signature, and the signatures of
/// the graph outputs in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Structure {
    /// Node signature to (op type, count).
    pub nodes: BTreeMap<u64, (String, usize)>,
    /// The graph outputs' signatures.
    pub outputs: Vec<u64>,
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn attribute_hash(node: &Node) -> u64 {
    let mut attrs: Vec<(String, String)> = node
        .attributes
        .iter()
        .map(|a| {
            let v = match &a.value {
                AttributeValue::Float(f) => format!("f{}", f.to_bits()),
                AttributeValue::Int(i) => format!("i{i}"),
                AttributeValue::String(s) => format!("s{s:?}"),
                AttributeValue::Floats(v) => {
                    format!("F{:?}", v.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
                }
                AttributeValue::Ints(v) => format!("I{v:?}"),
                AttributeValue::Strings(v) => format!("S{v:?}"),
                AttributeValue::Tensor(t) => format!("T{:?}{:?}", t.elem_type(), t.dims()),
                other => format!("{other:?}").chars().take(64).collect(),
            };
            (a.name.clone(), v)
        })
        .collect();
    attrs.sort();
    hash_of(attrs)
}

/// The structural signature of `model`'s main graph.
pub fn structure(model: &Model) -> Structure {
    let g = &model.graph;
    let mut sig: HashMap<&str, u64> = HashMap::new();
    let inits: HashMap<&str, u64> = g
        .initializers
        .iter()
        .map(|t| (t.name(), hash_of(("init", t.elem_type() as i32, t.dims()))))
        .collect();
    let mut position = 0;
    for input in &g.inputs {
        if let Some(&h) = inits.get(input.name.as_str()) {
            sig.insert(&input.name, h);
        } else {
            sig.insert(&input.name, hash_of(("input", position)));
            position += 1;
        }
    }
    for (name, h) in &inits {
        sig.entry(name).or_insert(*h);
    }
    // Nodes in dependency order, whatever the file's order.
    let mut pending: Vec<&Node> = g.nodes.iter().collect();
    let mut nodes: BTreeMap<u64, (String, usize)> = BTreeMap::new();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|node| {
            let ready = node
                .inputs
                .iter()
                .all(|i| i.is_empty() || sig.contains_key(i.as_str()));
            if !ready {
                return true;
            }
            let mut inputs: Vec<u64> = node
                .inputs
                .iter()
                .map(|i| if i.is_empty() { 0 } else { sig[i.as_str()] })
                .collect();
            if COMMUTATIVE.contains(&node.op_type.as_str()) {
                inputs.sort_unstable();
            }
            let domain = match node.domain.as_str() {
                "finn.custom_op.general" => "qonnx.custom_op.general",
                d => d,
            };
            let base = hash_of((&node.op_type, domain, attribute_hash(node), inputs));
            let entry = nodes
                .entry(base)
                .or_insert_with(|| (node.op_type.clone(), 0));
            entry.1 += 1;
            for (k, output) in node.outputs.iter().enumerate() {
                if !output.is_empty() {
                    sig.insert(output, hash_of((base, k)));
                }
            }
            false
        });
        if pending.len() == before {
            // A cycle or a dangling input: sign the rest by op type alone.
            for node in pending.drain(..) {
                let h = hash_of(("unreachable", &node.op_type));
                nodes
                    .entry(h)
                    .or_insert_with(|| (node.op_type.clone(), 0))
                    .1 += 1;
            }
        }
    }
    let outputs = g
        .outputs
        .iter()
        .map(|o| sig.get(o.name.as_str()).copied().unwrap_or(0))
        .collect();
    Structure { nodes, outputs }
}

/// How two structures differ, as lines naming op types; empty when they are the same.
pub fn differences(ours: &Structure, theirs: &Structure) -> Vec<String> {
    let mut out = Vec::new();
    for (h, (op, n)) in &ours.nodes {
        let m = theirs.nodes.get(h).map_or(0, |e| e.1);
        if *n != m {
            out.push(format!("{op}: {n} node(s) of one shape here, {m} there"));
        }
    }
    for (h, (op, m)) in &theirs.nodes {
        if !ours.nodes.contains_key(h) {
            out.push(format!("{op}: 0 node(s) of one shape here, {m} there"));
        }
    }
    if ours.outputs != theirs.outputs && out.is_empty() {
        out.push("the graph outputs are computed differently".into());
    }
    out
}
