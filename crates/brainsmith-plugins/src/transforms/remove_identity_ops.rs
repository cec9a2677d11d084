//! [`RemoveIdentityOps`]

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::ir::{AttributeValue, Dim, Graph, Node, Tensor, ValueInfo};
use brainsmith_core::prelude::*;

/// Removes nodes that compute exactly their input: `Identity`, `x + 0`, `0 + x`, `x - 0`,
/// `x * 1`, `1 * x`, `x / 1`, a `Reshape` to the input's own shape and a `Transpose` with
/// the identity permutation.
///
/// Constants must be exactly 0 or 1 by default (an epsilon such as LayerNorm's 1e-5 is
/// never taken for zero), must not be graph inputs a caller could override, and must not
/// broadcast the input to a larger shape. When the removed node's output is a graph
/// output, the graph output keeps its name and the producer of the input is renamed
/// instead.
///
/// ```
/// use brainsmith_plugins::RemoveIdentityOps;
/// use brainsmith_plugins::sketch::{Sketch, apply, op_types};
///
/// // x + 0 and an Identity go; with a tolerance, so would x * 1.000001.
/// let mut m = Sketch::new().input("x", &[2]).constant("zero", &[], &[0.0])
///     .op("Add", ["x", "zero"], ["a"]).op("Identity", ["a"], ["b"]).op("Relu", ["b"], ["y"])
///     .output("y").build();
/// assert!(apply(&RemoveIdentityOps::default(), &mut m));
/// assert_eq!(op_types(&m), ["Relu"]);
/// assert_eq!(m.graph.nodes[0].inputs, ["x"]);
/// ```
#[transform(stage = cleanup, tags = ["identity", "simplify"], version = "1.0.0", config)]
#[derive(Debug, Config)]
pub struct RemoveIdentityOps {
    /// Largest distance of a constant from 0 (for `+`, `-`) or 1 (for `*`, `/`) still taken
    /// for it. 0 removes exact identities only; qonnx 1.0 uses 1e-5, which also deletes a
    /// LayerNorm's `+ epsilon` and changes the model's outputs.
    #[config(default = 0.0)]
    pub tolerance: f64,
}

/// The configuration's defaults (declared once, on the fields).
impl Default for RemoveIdentityOps {
    fn default() -> RemoveIdentityOps {
        RemoveIdentityOps::from_table(&Default::default()).expect("every key has a default")
    }
}

impl Transform for RemoveIdentityOps {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let graph = &mut model.graph;
        // Most graphs have no node of an identity's form; then there is nothing to index.
        if !graph.nodes.iter().any(identity_form) {
            return Ok(false);
        }
        let outputs: FxHashSet<&str> = graph.outputs.iter().map(|v| v.name.as_str()).collect();
        let fixed: FxHashSet<&str> = graph
            .inputs
            .iter()
            .map(|v| v.name.as_str())
            .chain(graph.initializers.iter().map(|t| t.name()))
            .collect();
        let mut alias: FxHashMap<String, String> = FxHashMap::default();
        let mut removed = vec![false; graph.nodes.len()];
        let index = Index::new(graph);
        for (i, node) in graph.nodes.iter().enumerate() {
            let Some(input) = pass_through(&index, node, self.tolerance) else {
                continue;
            };
            let [output] = node.outputs.as_slice() else {
                continue;
            };
            let source = resolve(&alias, input);
            if outputs.contains(output.as_str()) {
                // The graph output keeps its name: the source tensor takes it, which is
                // only possible when the source is produced by a node.
                if fixed.contains(source.as_str()) || outputs.contains(source.as_str()) {
                    continue;
                }
                for target in alias.values_mut().filter(|t| **t == source) {
                    target.clone_from(output);
                }
                alias.insert(source, output.clone());
            } else {
                alias.insert(output.clone(), source);
            }
            removed[i] = true;
        }
        if !removed.contains(&true) {
            return Ok(false);
        }
        let mut index = 0;
        graph.nodes.retain(|_| {
            index += 1;
            !removed[index - 1]
        });
        let map: FxHashMap<String, String> = alias
            .keys()
            .map(|k| (k.clone(), resolve(&alias, k)))
            .collect();
        graph.rename_tensors(&map);
        dedup_metadata(graph);
        Ok(true)
    }
}

/// The graph's constants and recorded types by name, built once: looking them up by
/// scanning the graph for every node would make the transform quadratic.
struct Index<'g> {
    constants: FxHashMap<&'g str, &'g Tensor>,
    infos: FxHashMap<&'g str, &'g ValueInfo>,
}

impl<'g> Index<'g> {
    fn new(graph: &'g Graph) -> Index<'g> {
        let inputs: FxHashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut constants: FxHashMap<&str, &Tensor> =
            FxHashMap::with_capacity_and_hasher(graph.initializers.len(), Default::default());
        for t in &graph.initializers {
            if !inputs.contains(t.name()) {
                constants.insert(t.name(), t);
            }
        }
        for node in &graph.nodes {
            if node.op_type == "Constant"
                && node.is_onnx()
                && let (Some(out), Some(AttributeValue::Tensor(t))) =
                    (node.outputs.first(), node.attribute("value"))
                && !inputs.contains(out.as_str())
            {
                constants.entry(out.as_str()).or_insert(t);
            }
        }
        let mut infos: FxHashMap<&str, &ValueInfo> = FxHashMap::with_capacity_and_hasher(
            graph.inputs.len() + graph.outputs.len() + graph.value_info.len(),
            Default::default(),
        );
        for v in graph
            .inputs
            .iter()
            .chain(&graph.outputs)
            .chain(&graph.value_info)
        {
            infos.entry(v.name.as_str()).or_insert(v);
        }
        Index { constants, infos }
    }

    /// As `Graph::constant`.
    fn constant(&self, name: &str) -> Option<&'g Tensor> {
        self.constants.get(name).copied()
    }

    /// As `Graph::value_info_of`.
    fn value_info_of(&self, name: &str) -> Option<&'g ValueInfo> {
        self.infos.get(name).copied()
    }
}

fn resolve(alias: &FxHashMap<String, String>, name: &str) -> String {
    let mut current = name;
    while let Some(next) = alias.get(current) {
        current = next;
    }
    current.to_owned()
}

/// After merging two tensors, keep one `value_info` and one annotation per name; a
/// `value_info` of a graph input or output (which carry their own) goes.
fn dedup_metadata(graph: &mut Graph) {
    let mut seen: FxHashSet<&str> = graph
        .inputs
        .iter()
        .chain(&graph.outputs)
        .map(|v| v.name.as_str())
        .collect();
    seen.reserve(graph.value_info.len());
    let keep: Vec<bool> = graph
        .value_info
        .iter()
        .map(|v| seen.insert(v.name.as_str()))
        .collect();
    if keep.contains(&false) {
        retain_marked(&mut graph.value_info, &keep);
    }
    let mut seen: FxHashSet<&str> = FxHashSet::with_capacity_and_hasher(
        graph.quantization_annotations.len(),
        Default::default(),
    );
    let keep: Vec<bool> = graph
        .quantization_annotations
        .iter()
        .map(|a| seen.insert(a.tensor_name.as_deref().unwrap_or_default()))
        .collect();
    if keep.contains(&false) {
        retain_marked(&mut graph.quantization_annotations, &keep);
    }
}

/// Keeps the items whose mark is set (the marks were computed while borrowing them).
/// Callers call it only when some mark is clear: borrowing a graph's list mutably marks
/// it changed for the pipeline's snapshot.
fn retain_marked<T>(items: &mut Vec<T>, keep: &[bool]) {
    let mut marks = keep.iter();
    items.retain(|_| marks.next().copied().unwrap_or(true));
}

/// Whether `node` has the op type and arity of one of the identities [`pass_through`]
/// recognises, before looking at its constants and shapes.
fn identity_form(node: &Node) -> bool {
    node.is_onnx()
        && node.outputs.len() == 1
        && matches!(
            (node.op_type.as_str(), node.inputs.len()),
            ("Identity" | "Transpose", 1) | ("Add" | "Sub" | "Mul" | "Div" | "Reshape", 2)
        )
}

/// The input `node` passes through unchanged, if it is an exact identity.
fn pass_through<'n>(graph: &Index<'_>, node: &'n Node, tolerance: f64) -> Option<&'n str> {
    let is_constant =
        |graph: &Index<'_>, name: &str, value: f64| is_constant(graph, name, value, tolerance);
    if !identity_form(node) {
        return None;
    }
    let inputs: Vec<&str> = node.inputs.iter().map(String::as_str).collect();
    match (node.op_type.as_str(), inputs.as_slice()) {
        ("Identity", [x]) => Some(x),
        ("Add", [a, b]) => {
            if is_constant(graph, b, 0.0) && broadcast_keeps_shape(graph, a, b) {
                Some(a)
            } else if is_constant(graph, a, 0.0) && broadcast_keeps_shape(graph, b, a) {
                Some(b)
            } else {
                None
            }
        }
        ("Sub", [a, b]) => {
            (is_constant(graph, b, 0.0) && broadcast_keeps_shape(graph, a, b)).then_some(*a)
        }
        ("Mul", [a, b]) => {
            if is_constant(graph, b, 1.0) && broadcast_keeps_shape(graph, a, b) {
                Some(a)
            } else if is_constant(graph, a, 1.0) && broadcast_keeps_shape(graph, b, a) {
                Some(b)
            } else {
                None
            }
        }
        ("Div", [a, b]) => {
            (is_constant(graph, b, 1.0) && broadcast_keeps_shape(graph, a, b)).then_some(*a)
        }
        ("Reshape", [x, shape]) => reshape_is_identity(graph, node, x, shape).then_some(*x),
        ("Transpose", [x]) => transpose_is_identity(graph, node, x).then_some(*x),
        _ => None,
    }
}

/// Whether `name` is a constant whose every element is exactly `value`.
fn is_constant(graph: &Index<'_>, name: &str, value: f64, tolerance: f64) -> bool {
    graph
        .constant(name)
        .and_then(|t| t.to_f64().ok())
        .is_some_and(|values| {
            !values.is_empty() && values.iter().all(|&v| (v - value).abs() <= tolerance)
        })
}

fn shape_of(graph: &Index<'_>, name: &str) -> Option<Vec<Dim>> {
    if let Some(t) = graph.constant(name) {
        return Some(t.dims().iter().map(|&d| Dim::Value(d)).collect());
    }
    graph.value_info_of(name)?.tensor_type()?.shape.clone()
}

/// Whether broadcasting `x` with constant `c` leaves `x`'s shape as it is.
fn broadcast_keeps_shape(graph: &Index<'_>, x: &str, c: &str) -> bool {
    let Some(c_dims) = graph.constant(c).map(|t| t.dims().to_vec()) else {
        return false;
    };
    if c_dims.is_empty() {
        return true; // a scalar never changes the shape
    }
    let Some(x_dims) = shape_of(graph, x) else {
        return false;
    };
    if c_dims.len() > x_dims.len() {
        return false;
    }
    c_dims
        .iter()
        .rev()
        .zip(x_dims.iter().rev())
        .all(|(&c, x)| c == 1 || *x == Dim::Value(c))
}

fn static_shape(graph: &Index<'_>, name: &str) -> Option<Vec<i64>> {
    shape_of(graph, name)?
        .into_iter()
        .map(|d| match d {
            Dim::Value(v) => Some(v),
            _ => None,
        })
        .collect()
}

fn reshape_is_identity(graph: &Index<'_>, node: &Node, x: &str, shape: &str) -> bool {
    let (Some(input), Some(target)) = (static_shape(graph, x), graph.constant(shape)) else {
        return false;
    };
    let Ok(target) = target.to_f64() else {
        return false;
    };
    let allow_zero = node.attr_int("allowzero").unwrap_or(0) != 0;
    // Absurd declared sizes whose count overflows are no identity to prove.
    let Some(known) = input.iter().try_fold(1i64, |n, &d| n.checked_mul(d)) else {
        return false;
    };
    let mut resolved: Vec<i64> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        let t = t as i64;
        match t {
            0 if !allow_zero => match input.get(i) {
                Some(&d) => resolved.push(d),
                None => return false,
            },
            -1 if infer.is_none() => {
                infer = Some(i);
                resolved.push(1);
            }
            t if t >= 0 => resolved.push(t),
            _ => return false,
        }
    }
    if let Some(i) = infer {
        let Some(rest) = resolved.iter().try_fold(1i64, |n, &d| n.checked_mul(d)) else {
            return false;
        };
        if rest == 0 || known % rest != 0 {
            return false;
        }
        resolved[i] = known / rest;
    }
    resolved == input
}

fn transpose_is_identity(graph: &Index<'_>, node: &Node, x: &str) -> bool {
    match node.attr_ints("perm") {
        Some(perm) => perm.iter().enumerate().all(|(i, &p)| p == i as i64),
        None => shape_of(graph, x).is_some_and(|s| s.len() <= 1),
    }
}
