//! The dataflow partition: which nodes become the accelerator, and the host model around
//! it.
//!
//! A node is hardware when a linked kernel implements it and a backend is recorded on it
//! (`specialize_layers` ran). The accelerator is one convex, connected set of hardware
//! nodes: convex, because a tensor that leaves the accelerator for a software node and
//! comes back would need a second trip through the host; a hardware node downstream of
//! such a detour, or in a smaller connected group, runs in software in the host model
//! (the executor runs every kernel bit for bit), and [`Partition::left_in_host`] says
//! which and why.

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::Registry;
use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::{AttributeValue, Graph, Model, Node, ValueInfo};

/// FINN's op type for the node that stands for an accelerator in the host model.
pub const PARTITION_OP: &str = "StreamingDataflowPartition";
/// Its domain.
pub const PARTITION_DOMAIN: &str = "finn.custom_op.fpgadataflow";

/// A model split into the accelerator and the host model that calls it.
#[derive(Debug)]
pub struct Partition {
    /// The host model: the software nodes, and one [`PARTITION_OP`] node (attribute
    /// `model`: the accelerator's file) where the accelerator's nodes were.
    pub host: Model,
    /// The accelerator: its nodes, the initializers they read, its one input and one output
    /// stream as graph input and output.
    pub accelerator: Model,
    /// Hardware nodes that stay in the host model, each with the reason.
    pub left_in_host: Vec<(String, String)>,
}

/// Splits `model` (after specialisation). `accelerator_file` is what the partition node's
/// `model` attribute names. An error says why there is no accelerator to build: no
/// hardware node, or an accelerator with more than one input or output stream.
pub fn partition(
    registry: &Registry,
    model: &Model,
    accelerator_file: &str,
) -> Result<Partition, String> {
    let graph = &model.graph;
    let n = graph.nodes.len();
    let hardware: Vec<bool> = graph
        .nodes
        .iter()
        .map(|node| matches!(resolve(registry, node), Ok(Some(found)) if found.backend.is_some()))
        .collect();
    if !hardware.iter().any(|&h| h) {
        return Err(
            "no node has a hardware backend: the blueprint must map nodes onto kernels and run \
             `specialize_layers` (FINN's blueprint does)"
                .to_owned(),
        );
    }
    let order = graph.topological_order();
    if let Some(problem) = order.problem(graph) {
        return Err(format!("the model's graph cannot be ordered: {problem}"));
    }
    let order = order.nodes;
    let producers = graph.producers();
    let readers = |i: usize| -> Vec<usize> {
        graph.nodes[i]
            .inputs
            .iter()
            .filter_map(|t| producers.get(t.as_str()).copied())
            .collect()
    };
    // `after_detour[i]`: some path from a hardware node reaches `i` through a software node.
    let mut after_detour = vec![false; n];
    // `below_hardware[i]`: `i` is a hardware node or reachable from one.
    let mut below_hardware = vec![false; n];
    for &i in &order {
        for p in readers(i) {
            below_hardware[i] |= below_hardware[p];
            after_detour[i] |= after_detour[p] || (below_hardware[p] && !hardware[p]);
        }
        below_hardware[i] |= hardware[i];
    }
    let mut left_in_host = Vec::new();
    let candidate: Vec<bool> = (0..n).map(|i| hardware[i] && !after_detour[i]).collect();
    for i in 0..n {
        if hardware[i] && after_detour[i] {
            left_in_host.push((
                graph.nodes[i].name.clone(),
                "it runs after a software node that itself runs after the accelerator; map \
                 that node onto a kernel (or move it out of the dataflow) to bring it in"
                    .to_owned(),
            ));
        }
    }
    // Connected groups of candidates (through the tensors between them); the largest wins.
    let mut group = vec![usize::MAX; n];
    let consumers = graph.consumers();
    let mut sizes = Vec::new();
    for start in 0..n {
        if !candidate[start] || group[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let mut stack = vec![start];
        group[start] = id;
        let mut size = 0;
        while let Some(i) = stack.pop() {
            size += 1;
            let node = &graph.nodes[i];
            let mut next: Vec<usize> = readers(i);
            for t in &node.outputs {
                if let Some(cs) = consumers.get(t.as_str()) {
                    next.extend(cs);
                }
            }
            for j in next {
                if candidate[j] && group[j] == usize::MAX {
                    group[j] = id;
                    stack.push(j);
                }
            }
        }
        sizes.push(size);
    }
    let biggest = (0..sizes.len())
        .max_by_key(|&g| (sizes[g], std::cmp::Reverse(g)))
        .unwrap_or(0);
    let inside: Vec<bool> = (0..n).map(|i| group[i] == biggest).collect();
    for i in 0..n {
        if candidate[i] && !inside[i] {
            left_in_host.push((
                graph.nodes[i].name.clone(),
                "it is not connected to the accelerator's largest group of hardware nodes"
                    .to_owned(),
            ));
        }
    }
    split(model, &inside, &order, accelerator_file).map(|(host, accelerator)| Partition {
        host,
        accelerator,
        left_in_host,
    })
}

/// The host and accelerator models for the nodes marked `inside`.
fn split(
    model: &Model,
    inside: &[bool],
    order: &[usize],
    accelerator_file: &str,
) -> Result<(Model, Model), String> {
    let graph = &model.graph;
    let constant = |t: &str| graph.initializer(t).is_some();
    let produced_inside: FxHashSet<&str> = graph
        .nodes
        .iter()
        .zip(inside)
        .filter(|(_, i)| **i)
        .flat_map(|(n, _)| n.outputs.iter().map(String::as_str))
        .collect();
    // Streams in: read inside, computed outside (or graph inputs), in first-read order.
    let mut ins: Vec<&str> = Vec::new();
    let mut params: Vec<&str> = Vec::new();
    for &i in order {
        if !inside[i] {
            continue;
        }
        for t in &graph.nodes[i].inputs {
            if t.is_empty() || produced_inside.contains(t.as_str()) {
                continue;
            }
            let list = if constant(t) { &mut params } else { &mut ins };
            if !list.contains(&t.as_str()) {
                list.push(t);
            }
        }
    }
    // Streams out: computed inside, read outside or graph outputs.
    let read_outside: FxHashSet<&str> = graph
        .nodes
        .iter()
        .zip(inside)
        .filter(|(_, i)| !**i)
        .flat_map(|(n, _)| n.inputs.iter().map(String::as_str))
        .chain(graph.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    let mut outs: Vec<&str> = Vec::new();
    for &i in order {
        if inside[i] {
            for t in &graph.nodes[i].outputs {
                if read_outside.contains(t.as_str()) && !outs.contains(&t.as_str()) {
                    outs.push(t);
                }
            }
        }
    }
    if ins.len() != 1 || outs.len() != 1 {
        return Err(format!(
            "the accelerator would have {} input stream(s) ({}) and {} output stream(s) ({}); \
             one of each is supported: map the nodes between them onto kernels, or keep a \
             branch in software",
            ins.len(),
            ins.join(", "),
            outs.len(),
            outs.join(", ")
        ));
    }
    let info = |t: &str| -> Result<ValueInfo, String> {
        graph
            .value_info_of(t)
            .filter(|v| v.static_shape().is_some())
            .cloned()
            .ok_or_else(|| format!("tensor '{t}' has no known static shape; run InferShapes"))
    };

    let mut accelerator = model.clone();
    accelerator.graph = Graph::default();
    let a = &mut accelerator.graph;
    a.name = "accelerator".to_owned();
    a.inputs.push(info(ins[0])?);
    a.outputs.push(info(outs[0])?);
    *a.nodes = order
        .iter()
        .filter(|&&i| inside[i])
        .map(|&i| graph.nodes[i].clone())
        .collect();
    *a.initializers = graph
        .initializers
        .iter()
        .filter(|t| params.contains(&t.name()))
        .cloned()
        .collect();
    let tensors: FxHashSet<&str> = a
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().chain(&n.outputs))
        .map(String::as_str)
        .collect();
    *a.value_info = graph
        .value_info
        .iter()
        .filter(|v| tensors.contains(v.name.as_str()) && v.name != ins[0] && v.name != outs[0])
        .cloned()
        .collect();
    let datatypes: Vec<_> = graph
        .datatypes()
        .into_iter()
        .filter(|(t, _)| tensors.contains(t.as_str()))
        .collect();
    a.set_datatypes(datatypes);

    let mut host = model.clone();
    let h = &mut host.graph;
    let first = order.iter().position(|&i| inside[i]).unwrap_or(0);
    let mut call = Node::new(PARTITION_OP, [ins[0]], [outs[0]])
        .with_name("accelerator")
        .with_domain(PARTITION_DOMAIN);
    call.set_attribute("model", AttributeValue::string(accelerator_file));
    let mut nodes: Vec<Node> = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        if k == first {
            nodes.push(call.clone());
        }
        if !inside[i] {
            nodes.push(graph.nodes[i].clone());
        }
    }
    *h.nodes = nodes;
    let still_read: FxHashSet<String> = h
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().cloned())
        .collect();
    h.initializers.retain(|t| still_read.contains(t.name()));
    let kept: FxHashMap<String, ()> = h
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().chain(&n.outputs).cloned())
        .chain(h.inputs.iter().map(|v| v.name.clone()))
        .chain(h.outputs.iter().map(|v| v.name.clone()))
        .map(|t| (t, ()))
        .collect();
    h.value_info.retain(|v| kept.contains_key(&v.name));
    if !host
        .opset_imports
        .iter()
        .any(|o| o.domain.as_deref() == Some(PARTITION_DOMAIN))
    {
        host.opset_imports
            .push(brainsmith_core::ir::proto::OperatorSetIdProto {
                domain: Some(PARTITION_DOMAIN.to_owned()),
                version: Some(1),
                ..Default::default()
            });
    }
    Ok((host, accelerator))
}
