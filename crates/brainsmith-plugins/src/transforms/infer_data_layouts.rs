//! [`InferDataLayouts`]

use rustc_hash::FxHashMap;

use brainsmith_core::ir::{Graph, Node};
use brainsmith_core::prelude::*;

use super::sort_graph::topological_order;

/// The annotation key.
const KEY: &str = "tensor_layout";

/// Annotates every node output with its data layout (`tensor_layout`: `['N', 'C', 'H',
/// 'W']`, `['N', 'H', 'W', 'C']`, `['N', 'C']`, ...), in one pass in dependency order, as
/// FINN's streamlining and channels-last conversion read them.
///
/// The rules are qonnx 1.0's. The first graph input, when not annotated, is taken for
/// `NCHW` at rank 4, `NWC` at rank 3 and `NC` at rank 2. A `Transpose` permutes its
/// input's layout, an `Unsqueeze` appends a dummy `x` axis and a `Squeeze` drops it. Any
/// other node's output of rank 2 is `NC`; otherwise it takes the layout of the node's
/// first input when that has one, and else is guessed channels-last by rank (`NHWC`,
/// `NWC`). A QONNX or FINN custom op takes its first input's layout only when the ranks
/// agree; `MultiThreshold` and `QuantAvgPool2d` read their `data_layout` attribute. An
/// output whose rank is unknown (run `InferShapes` first) or whose rule fails gets the
/// unknown layout `[]`.
///
/// ```
/// use brainsmith_plugins::InferDataLayouts;
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply};
/// use brainsmith_core::ir::Node;
///
/// let to_nhwc = Node::new("Transpose", ["x"], ["t"]).ints("perm", &[0, 2, 3, 1]);
/// let mut m = Sketch::new().input("x", &[1, 3, 4, 4]).node(to_nhwc).op("Relu", ["t"], ["y"])
///     .output("y").build();
/// assert!(apply(&InferDataLayouts, &mut m));
/// assert_eq!(m.graph.annotation("y", "tensor_layout"), Some("['N', 'H', 'W', 'C']"));
/// ```
#[transform(stage = cleanup, tags = ["layouts", "annotation", "finn"], version = "1.0.0")]
#[derive(Debug, Default)]
pub struct InferDataLayouts;

type Layout = Vec<String>;

fn layout(axes: &str) -> Layout {
    axes.chars().map(String::from).collect()
}

/// The layout written as qonnx writes it: Python's `str` of a list of strings.
fn written(layout: &[String]) -> String {
    let axes: Vec<String> = layout.iter().map(|a| format!("'{a}'")).collect();
    format!("[{}]", axes.join(", "))
}

/// A layout as written, or `None` when it does not parse.
fn parsed(text: &str) -> Option<Layout> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|axis| {
            let axis = axis.trim();
            let quoted = axis
                .strip_prefix('\'')
                .and_then(|a| a.strip_suffix('\''))
                .or_else(|| axis.strip_prefix('"').and_then(|a| a.strip_suffix('"')))?;
            Some(quoted.to_owned())
        })
        .collect()
}

/// The layout qonnx guesses for `rank` dimensions: channels last.
fn guessed(rank: usize) -> Layout {
    match rank {
        4 => layout("NHWC"),
        3 => layout("NWC"),
        2 => layout("NC"),
        _ => Vec::new(),
    }
}

/// Whether qonnx treats `node` as one of its custom ops (QONNX, Brevitas or FINN domains).
fn is_custom(node: &Node) -> bool {
    node.domain.starts_with("qonnx.custom_op")
        || node.domain.starts_with("finn.custom_op")
        || node.domain == "onnx.brevitas"
}

/// What the graph says about its tensors' ranks and layouts.
struct Facts {
    /// The rank of each tensor with a recorded type or an initializer; 0 for a recorded
    /// type without a shape, as qonnx reads it.
    ranks: FxHashMap<String, usize>,
    layouts: FxHashMap<String, Layout>,
}

impl Facts {
    fn new(graph: &Graph) -> Facts {
        let mut ranks = FxHashMap::default();
        for t in &graph.initializers {
            ranks.insert(t.name().to_owned(), t.dims().len());
        }
        for v in graph
            .value_info
            .iter()
            .chain(&graph.outputs)
            .chain(&graph.inputs)
        {
            let rank = v
                .tensor_type()
                .and_then(|t| t.shape.as_ref())
                .map_or(0, |s| s.len());
            ranks.insert(v.name.clone(), rank);
        }
        let mut layouts = FxHashMap::default();
        for (tensor, value) in graph.annotations(KEY) {
            if let Some(layout) = parsed(value) {
                layouts.entry(tensor.to_owned()).or_insert(layout);
            }
        }
        Facts { ranks, layouts }
    }

    /// The layout of `tensor` when it has a non-empty one (qonnx's truthiness).
    fn known(&self, tensor: &str) -> Option<&Layout> {
        self.layouts.get(tensor).filter(|l| !l.is_empty())
    }

    /// The layouts of `node`'s outputs; `None` where qonnx's rule fails (the output's
    /// layout becomes unknown).
    fn infer(&self, node: &Node) -> Option<Vec<Layout>> {
        let first = node.inputs.first().map(String::as_str);
        let input = first.and_then(|f| self.layouts.get(f));
        if !is_custom(node) {
            match node.op_type.as_str() {
                "Transpose" => {
                    let perm = node.attr_ints("perm")?;
                    let input = input?;
                    let out = perm
                        .iter()
                        .map(|&p| input.get(usize::try_from(p).ok()?).cloned())
                        .collect::<Option<Layout>>()?;
                    return Some(vec![out]);
                }
                "Unsqueeze" => {
                    let mut out = input?.clone();
                    out.push("x".into());
                    return Some(vec![out]);
                }
                "Squeeze" => {
                    let input = input?;
                    if input.last().map(String::as_str) != Some("x") {
                        return None;
                    }
                    return Some(vec![input[..input.len() - 1].to_vec()]);
                }
                _ => {}
            }
        }
        node.outputs
            .iter()
            .map(|o| {
                let rank = *self.ranks.get(o)?;
                self.for_rank(node, first, rank)
            })
            .collect()
    }

    /// `None` where qonnx's rule fails: the node has no input, or (a custom op) its first
    /// input's rank is unknown.
    fn for_rank(&self, node: &Node, first: Option<&str>, rank: usize) -> Option<Layout> {
        if rank == 2 {
            return Some(layout("NC"));
        }
        if is_custom(node) && matches!(node.op_type.as_str(), "MultiThreshold" | "QuantAvgPool2d") {
            return Some(match (node.attr_str("data_layout").unwrap_or(""), rank) {
                ("NHWC", 4) => layout("NHWC"),
                ("NCHW", 4) => layout("NCHW"),
                ("NWC", 3) => layout("NWC"),
                _ => Vec::new(),
            });
        }
        let first = first?;
        if !is_custom(node) {
            return Some(self.known(first).cloned().unwrap_or_else(|| guessed(rank)));
        }
        let first_rank = *self.ranks.get(first)?;
        Some(match self.known(first) {
            Some(l) if first_rank == rank => l.clone(),
            _ => guessed(rank),
        })
    }
}

impl Transform for InferDataLayouts {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let order = topological_order(&model.graph)?;
        let graph = &model.graph;
        let mut facts = Facts::new(graph);
        let mut changes: Vec<(String, Layout)> = Vec::new();
        if let Some(input) = graph.inputs.first()
            && !facts.layouts.contains_key(&input.name)
        {
            let rank = facts.ranks.get(&input.name).copied().unwrap_or(0);
            let assumed = match rank {
                4 => Some(layout("NCHW")),
                3 => Some(layout("NWC")),
                2 => Some(layout("NC")),
                _ => None,
            };
            match assumed {
                Some(l) => {
                    facts.layouts.insert(input.name.clone(), l.clone());
                    changes.push((input.name.clone(), l));
                }
                None => ctx.warn(
                    input.name.clone(),
                    format!(
                        "graph input '{}' has rank {rank}, for which no layout can be assumed; \
                         annotate its `tensor_layout` (qonnx stops here)",
                        input.name
                    ),
                ),
            }
        }
        for i in order {
            let node = &graph.nodes[i];
            let outputs: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
            let layouts = facts.infer(node).filter(|l| l.len() == node.outputs.len());
            for (k, output) in node.outputs.iter().enumerate() {
                if !outputs.contains(&output) {
                    continue;
                }
                let new = layouts.as_ref().map_or_else(Vec::new, |l| l[k].clone());
                if facts.layouts.get(output) != Some(&new) {
                    facts.layouts.insert(output.clone(), new.clone());
                    changes.push((output.clone(), new));
                }
            }
        }
        let changed = !changes.is_empty();
        model
            .graph
            .set_annotations(KEY, changes.into_iter().map(|(t, l)| (t, written(&l))));
        Ok(changed)
    }
}
