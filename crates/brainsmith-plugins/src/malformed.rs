//! Malformed graphs for the no-panic sweeps of shape inference and of the transforms: one
//! node of any op type, in its domain, with odd inputs (constant, typed, untyped; empty,
//! scalar, large, and sizes whose products overflow `i64`) and every attribute a rule
//! reads set to odd values; one node whose inputs are all constants of chosen ranks
//! (weights of the wrong rank); and any of these with every node written twice (several
//! nodes writing one tensor).

use brainsmith_core::ir::{AttributeValue, ElemType, Graph, Model, Node, Tensor, ValueInfo};

use crate::ops::{Domain, ML_DOMAIN};

/// The input shapes [`malformed`] picks from; a constant of the last, absurdly large
/// one holds its dimensions instead (with the extremes of `i64`), as a shape input
/// would.
pub(crate) const SHAPES: [&[i64]; 5] = [&[], &[3], &[1, 2, 3, 4], &[0, 5], HUGE];

/// Dimensions whose products overflow `i64`.
pub(crate) const HUGE: &[i64] = &[1 << 40, 1 << 40, 3, 1 << 62];

/// A graph of one `op` node of `domain` with `arity` inputs (constant, typed or untyped,
/// mixed by `variant`, or `all_typed`) of shape `SHAPES[shape]`, or assorted shapes for
/// `None`, and every attribute name a rule reads, the `k`-th set to `value(k)`.
pub(crate) fn malformed(
    op: &str,
    domain: Domain,
    arity: usize,
    variant: usize,
    shape: Option<usize>,
    all_typed: bool,
    value: impl Fn(usize) -> AttributeValue,
) -> Graph {
    let mut g = Graph::default();
    let mut inputs = Vec::new();
    for i in 0..arity {
        let name = format!("i{i}");
        let shape = SHAPES[shape.unwrap_or(i + variant) % SHAPES.len()];
        let kind = if all_typed { 1 } else { (i + variant) % 3 };
        match kind {
            // A constant: shapes, axes, sizes are read from it.
            0 if shape == HUGE => {
                let values = [1 << 40, i64::MAX, i64::MIN, -(1 << 40)];
                g.initializers.push(Tensor::from_i64(&name, &[4], &values));
            }
            0 => {
                let n: i64 = shape.iter().product();
                let values: Vec<i64> = (0..n.max(0)).map(|k| [0, -1, 2][k as usize % 3]).collect();
                g.initializers.push(Tensor::from_i64(&name, shape, &values));
            }
            1 => g
                .inputs
                .push(ValueInfo::tensor(&name, ElemType::Float, shape)),
            _ => {
                let mut untyped = ValueInfo::default();
                untyped.name.clone_from(&name);
                g.inputs.push(untyped);
            }
        }
        inputs.push(name);
    }
    let mut node = Node::new(op, inputs.iter().map(String::as_str), ["o0", "o1"]).with_name("n");
    if domain != Domain::Onnx {
        node = node.with_domain(domain.name());
    }
    for (k, name) in ATTRIBUTE_NAMES.iter().enumerate() {
        node = node.with_attribute(name, value(k));
    }
    g.nodes.push(node);
    g
}

/// A graph of one `op` node of `domain` whose inputs are all constants (so that folding
/// and the rewrites that need constant weights reach it), input `i` of rank `ranks[i]`
/// with every dimension 2, one output (as the view and fill paths of folding want), and
/// every attribute name a rule reads, the `k`-th set to `value(k)`.
pub(crate) fn constants_of_rank(
    op: &str,
    domain: Domain,
    ranks: &[usize],
    value: impl Fn(usize) -> AttributeValue,
) -> Graph {
    let mut g = Graph::default();
    let mut inputs = Vec::new();
    for (i, &rank) in ranks.iter().enumerate() {
        let name = format!("i{i}");
        let dims = vec![2i64; rank];
        let values: Vec<i64> = (0..1usize << rank).map(|k| [1, -1, 2][k % 3]).collect();
        g.initializers.push(Tensor::from_i64(&name, &dims, &values));
        inputs.push(name);
    }
    let mut node = Node::new(op, inputs.iter().map(String::as_str), ["o0"]).with_name("n");
    if domain != Domain::Onnx {
        node = node.with_domain(domain.name());
    }
    for (k, name) in ATTRIBUTE_NAMES.iter().enumerate() {
        node = node.with_attribute(name, value(k));
    }
    g.nodes.push(node);
    g
}

/// The rank patterns [`constants_of_rank`] is swept with for `arity` inputs: every input
/// of one rank from 0 to 4, and each input alone of each such rank among 4-D ones.
pub(crate) fn rank_patterns(arity: usize) -> Vec<Vec<usize>> {
    let mut patterns: Vec<Vec<usize>> = (0..=4).map(|r| vec![r; arity]).collect();
    for i in 0..arity {
        for r in 0..4 {
            let mut p = vec![4; arity];
            p[i] = r;
            patterns.push(p);
        }
    }
    patterns.dedup();
    patterns
}

/// A model of `graph` importing the default domain at `opset`, and `ai.onnx.ml` (at
/// version 5, where `TreeEnsemble` arrived) when a node is of that domain.
pub(crate) fn model(graph: Graph, opset: i64) -> Model {
    let ml = graph.nodes.iter().any(|n| n.domain == ML_DOMAIN);
    let mut model = Model::default();
    model.graph = graph;
    model.set_opset_version("", opset);
    if ml {
        model.set_opset_version(ML_DOMAIN, 5);
    }
    model
}

/// `graph` with a second copy of each node, under another name: every tensor a node
/// writes is written by two nodes (malformed: a tensor has one producer in ONNX).
pub(crate) fn written_twice(mut graph: Graph) -> Graph {
    let copies: Vec<Node> = graph
        .nodes
        .iter()
        .map(|n| {
            let mut copy = n.clone();
            copy.name = format!("{}_again", n.name);
            copy
        })
        .collect();
    graph.nodes.extend(copies);
    graph
}

/// Every attribute name a rule reads.
pub(crate) const ATTRIBUTE_NAMES: &[&str] = &[
    "axis",
    "axes",
    "perm",
    "kernel_shape",
    "kernel_size",
    "strides",
    "stride",
    "pads",
    "pad_amount",
    "dilations",
    "blocksize",
    "group",
    "shape",
    "split",
    "num_outputs",
    "q_num_heads",
    "kv_num_heads",
    "keepdims",
    "to",
    "ceil_mode",
    "allowzero",
    "start",
    "end",
    "batch_dims",
    "repeats",
    "sizes",
    "scales",
    "MW",
    "MH",
    "SIMD",
    "PE",
    "out_dtype",
    "IFMDim",
    "OFMDim",
    "mode",
    "noop_with_empty_axes",
    "value",
    "largest",
    "k",
    "depth",
    "dtype",
    "seed",
    "auto_pad",
    "n_targets",
    "leaf_weights",
    "keys_tensor",
    "keys_strings",
    "keys_int64s",
    "keys_floats",
    "values_tensor",
    "values_strings",
    "values_int64s",
    "values_floats",
    "default_tensor",
];

/// The attribute values the sweeps set: zero, negative, large and `i64`'s extremes, as
/// integers and lists (empty, short, long), a string, an empty float list, and tensors
/// (one of a single float, one of 2-D int64 with no data that claims `[2^40, 2^40]`).
pub(crate) fn attribute_values() -> Vec<AttributeValue> {
    let scalars = [0, -1, 3, -100, 1 << 20, i64::MAX, i64::MIN, 1 << 40];
    let lists: [&[i64]; 10] = [
        &[],
        &[0],
        &[0, 0],
        &[-1, -1],
        &[0, 0, 0, 0],
        &[1 << 20, 2],
        &[5; 9],
        &[i64::MAX, 2],
        &[1 << 40, 1 << 40],
        &[i64::MIN, i64::MIN],
    ];
    scalars
        .iter()
        .map(|&v| AttributeValue::Int(v))
        .chain(lists.iter().map(|l| AttributeValue::Ints(l.to_vec())))
        .chain([
            AttributeValue::string("NOTSET"),
            AttributeValue::Floats(vec![]),
            AttributeValue::Tensor(Tensor::from_f32("", &[1], &[0.5])),
            AttributeValue::Tensor(Tensor::from_raw(
                "",
                ElemType::Int64,
                &[1 << 40, 1 << 40],
                Vec::new(),
            )),
        ])
        .collect()
}
