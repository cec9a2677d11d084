//! What the transforms that replace nodes share: the graph's constants and how often each
//! tensor is read, fresh names, and writing a changed constant without changing what its
//! other readers see.
//!
//! A [`Rewriter`] indexes the graph once, so a pass over the nodes costs one lookup per
//! question rather than a scan of the graph. Node indices stay valid until
//! [`Rewriter::finish`] splices the replacements in.

use rustc_hash::{FxHashMap, FxHashSet};

use brainsmith_core::ir::{
    AttributeValue, ElemType, Graph, Model, Node, QuantType, Tensor, ValueInfo,
};

use brainsmith_core::suggest::shorten;
use brainsmith_core::{PluginError, TransformContext};

use crate::eval::Array;

/// Where a constant lives.
#[derive(Clone, Copy, Debug)]
enum Home {
    /// `graph.initializers[i]`.
    Initializer(usize),
    /// The `value` of the `Constant` node `graph.nodes[i]`.
    Node(usize),
}

/// The graph being rewritten, with what a rewrite needs to know about its tensors.
pub(crate) struct Rewriter<'g> {
    graph: &'g mut Graph,
    constants: FxHashMap<String, Home>,
    /// Node inputs, subgraph reads and graph outputs naming each tensor.
    reads: FxHashMap<String, usize>,
    producers: FxHashMap<String, usize>,
    /// Every tensor and node name in use.
    names: FxHashSet<String>,
    /// Node index -> what replaces it.
    replaced: FxHashMap<usize, Vec<Node>>,
}

impl<'g> Rewriter<'g> {
    /// Indexes `graph`.
    pub(crate) fn new(graph: &'g mut Graph) -> Rewriter<'g> {
        let inputs: FxHashSet<&str> = graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut constants = FxHashMap::default();
        for (i, t) in graph.initializers.iter().enumerate() {
            if !inputs.contains(t.name()) {
                constants.insert(t.name().to_owned(), Home::Initializer(i));
            }
        }
        let mut reads: FxHashMap<String, usize> = FxHashMap::default();
        let mut producers = FxHashMap::default();
        let mut names: FxHashSet<String> = FxHashSet::default();
        for (i, node) in graph.nodes.iter().enumerate() {
            if node.op_type == "Constant"
                && node.is_onnx()
                && matches!(node.attribute("value"), Some(AttributeValue::Tensor(_)))
                && let Some(out) = node.outputs.first()
                && !inputs.contains(out.as_str())
            {
                constants.entry(out.clone()).or_insert(Home::Node(i));
            }
            let mut read: Vec<&str> = Vec::new();
            node.reads(&mut read);
            for name in read {
                *reads.entry(name.to_owned()).or_default() += 1;
            }
            for out in node.outputs.iter().filter(|o| !o.is_empty()) {
                producers.insert(out.clone(), i);
                names.insert(out.clone());
            }
            names.insert(node.name.clone());
        }
        for v in &graph.outputs {
            *reads.entry(v.name.clone()).or_default() += 1;
        }
        names.extend(reads.keys().cloned());
        names.extend(graph.initializers.iter().map(|t| t.name().to_owned()));
        names.extend(
            graph
                .inputs
                .iter()
                .chain(&graph.value_info)
                .map(|v| v.name.clone()),
        );
        Rewriter {
            graph,
            constants,
            reads,
            producers,
            names,
            replaced: FxHashMap::default(),
        }
    }

    /// The graph (node indices are those before any replacement).
    pub(crate) fn graph(&self) -> &Graph {
        self.graph
    }

    /// The constant value of `name`, as [`Graph::constant`].
    pub(crate) fn constant(&self, name: &str) -> Option<&Tensor> {
        match *self.constants.get(name)? {
            Home::Initializer(i) => Some(&self.graph.initializers[i]),
            Home::Node(i) => match self.graph.nodes[i].attribute("value") {
                Some(AttributeValue::Tensor(t)) => Some(t),
                _ => None,
            },
        }
    }

    /// Why `name` is not a constant, for a diagnostic.
    pub(crate) fn not_constant(&self, name: &str) -> String {
        let graph = &self.graph;
        if graph.inputs.iter().any(|v| v.name == name)
            && graph.initializers.iter().any(|t| t.name() == name)
        {
            format!(
                "'{name}' is a graph input with a default value, which a caller may override; \
                 run RemoveStaticGraphInputs first if it is a weight"
            )
        } else {
            format!("'{name}' is not a constant")
        }
    }

    /// How many node inputs, subgraphs and graph outputs read `name`.
    pub(crate) fn reads(&self, name: &str) -> usize {
        self.reads.get(name).copied().unwrap_or(0)
    }

    /// The index of the node producing `name`.
    pub(crate) fn producer(&self, name: &str) -> Option<usize> {
        self.producers.get(name).copied()
    }

    /// The recorded type of `name`: a graph input, output or `value_info` entry.
    fn info(&self, name: &str) -> Option<&ValueInfo> {
        self.graph
            .inputs
            .iter()
            .chain(&self.graph.outputs)
            .chain(&self.graph.value_info)
            .find(|v| v.name == name)
    }

    /// The element type of `name`: of its constant, or as recorded.
    pub(crate) fn elem_type(&self, name: &str) -> Option<ElemType> {
        match self.constant(name) {
            Some(t) => Some(t.elem_type()),
            None => ElemType::try_from(self.info(name)?.tensor_type()?.elem_type).ok(),
        }
    }

    /// The static shape of `name`: of its constant, or as recorded.
    pub(crate) fn shape(&self, name: &str) -> Option<Vec<i64>> {
        match self.constant(name) {
            Some(t) => Some(t.dims().to_vec()),
            None => self.info(name)?.static_shape(),
        }
    }

    /// The rank of `name`, when its shape (or at least its rank) is known.
    pub(crate) fn rank(&self, name: &str) -> Option<usize> {
        match self.constant(name) {
            Some(t) => Some(t.dims().len()),
            None => Some(self.info(name)?.tensor_type()?.shape.as_ref()?.len()),
        }
    }

    /// A tensor or node name not used anywhere in the graph, `base` if it is free.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut k = 0;
        while self.names.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.names.insert(name.clone());
        name
    }

    /// A new initializer holding `value`, named after `base`; returns its name.
    pub(crate) fn add_constant(&mut self, base: &str, mut value: Tensor) -> String {
        let name = self.fresh(base);
        value.set_name(name.clone());
        self.constants.insert(
            name.clone(),
            Home::Initializer(self.graph.initializers.len()),
        );
        self.graph.initializers.push(value);
        name
    }

    /// Makes input `input` of node `node` read `value` instead of the constant it reads
    /// now. The constant changes in place when that input is its only reader; otherwise
    /// the node reads a new initializer and the other readers keep the old value.
    pub(crate) fn replace_constant(&mut self, node: usize, input: usize, value: Tensor) {
        let old = self.graph.nodes[node].inputs[input].clone();
        let only_reader = self.reads(&old) == 1 && !self.graph.is_output(&old);
        match self.constants.get(&old).copied() {
            Some(home) if only_reader => {
                let mut value = value;
                value.set_name(old.clone());
                match home {
                    Home::Initializer(i) => self.graph.initializers[i] = value,
                    Home::Node(i) => {
                        self.graph.nodes[i].set_attribute("value", AttributeValue::Tensor(value))
                    }
                }
                // A recorded type of the old value would now be wrong.
                self.graph.value_info.retain(|v| v.name != old);
            }
            _ => {
                let name = self.add_constant(&old, value);
                self.read(&name);
                self.unread(&old);
                self.graph.nodes[node].inputs[input] = name;
            }
        }
    }

    /// Drops the recorded type of `name`, which a rewrite made wrong.
    pub(crate) fn forget_type(&mut self, name: &str) {
        self.graph.value_info.retain(|v| v.name != name);
    }

    /// Notes one more reader of `name`.
    pub(crate) fn read(&mut self, name: &str) {
        *self.reads.entry(name.to_owned()).or_default() += 1;
    }

    /// Notes one reader fewer of `name`.
    pub(crate) fn unread(&mut self, name: &str) {
        if let Some(n) = self.reads.get_mut(name) {
            *n = n.saturating_sub(1);
        }
    }

    /// The graph, for changes that leave its nodes, constants and names alone
    /// (annotations).
    pub(crate) fn graph_mut(&mut self) -> &mut Graph {
        self.graph
    }

    /// Records the type of `info.name`, replacing what was recorded.
    pub(crate) fn record_type(&mut self, info: ValueInfo) {
        self.forget_type(&info.name);
        self.graph.value_info.push(info);
    }

    /// The QONNX datatype annotated on `tensor`, if it has one that parses.
    pub(crate) fn datatype(&self, tensor: &str) -> Option<QuantType> {
        self.graph.datatype(tensor).and_then(Result::ok)
    }

    /// Annotates `tensor` with a QONNX datatype.
    pub(crate) fn annotate(&mut self, tensor: &str, datatype: QuantType) {
        self.graph.set_datatype(tensor, datatype);
    }

    /// `n`, named `<name>_<suffix>` (made unique) after the node `original` it stands in
    /// for, when that one has a name; unnamed, like `original`, otherwise.
    pub(crate) fn named_after(&mut self, original: &Node, suffix: &str, n: Node) -> Node {
        if original.name.is_empty() {
            n
        } else {
            let name = self.fresh(&format!("{}_{suffix}", original.name));
            n.with_name(name)
        }
    }

    /// Node `node`, to change in place.
    pub(crate) fn node_mut(&mut self, node: usize) -> &mut Node {
        &mut self.graph.nodes[node]
    }

    /// Replaces node `node` by `nodes` (in order, in its place), which must read and write
    /// the tensors the rest of the graph expects.
    pub(crate) fn replace_node(&mut self, node: usize, nodes: Vec<Node>) {
        for n in &nodes {
            for input in n.inputs.iter().filter(|i| !i.is_empty()) {
                self.read(input);
            }
        }
        for input in self.graph.nodes[node].inputs.clone() {
            self.unread(&input);
        }
        self.replaced.insert(node, nodes);
    }

    /// Splices the replacements in; returns whether anything was replaced.
    pub(crate) fn finish(self) -> bool {
        if self.replaced.is_empty() {
            return false;
        }
        let mut replaced = self.replaced;
        let nodes = std::mem::take(&mut self.graph.nodes);
        for (i, node) in nodes.into_iter().enumerate() {
            match replaced.remove(&i) {
                Some(with) => self.graph.nodes.extend(with),
                None => self.graph.nodes.push(node),
            }
        }
        true
    }
}

/// Turns every standard `from` node whose second input is a constant into a `to` node
/// reading `convert(constant)` instead: `x - c` into `x + (-c)`, `x / c` into `x * (1/c)`.
/// `convert` returns `None` for a constant it cannot stand for; that node stays.
pub(crate) fn convert_constant_operand(
    graph: &mut Graph,
    from: &str,
    to: &str,
    convert: impl Fn(&Array) -> Option<Array>,
) -> bool {
    let mut rewriter = Rewriter::new(graph);
    let mut changed = false;
    for i in 0..rewriter.graph().nodes.len() {
        let node = &rewriter.graph().nodes[i];
        if node.op_type != from || !node.is_onnx() || node.inputs.len() != 2 {
            continue;
        }
        let Some(value) = rewriter
            .constant(&node.inputs[1])
            .and_then(|t| Array::from_tensor(t).ok())
            .and_then(|a| convert(&a))
            .and_then(|a| a.to_tensor("").ok())
        else {
            continue;
        };
        rewriter.replace_constant(i, 1, value);
        rewriter.node_mut(i).op_type = to.to_owned();
        changed = true;
    }
    rewriter.finish();
    changed
}

/// Offers every standard node `wanted` accepts to `rewrite`, which replaces it or says
/// why not; each refusal becomes a diagnostic on the node, `"<op type> `<name>` left as
/// it is: <why>"` (the name, shortened, where the node has one). Returns whether anything
/// was replaced.
pub(crate) fn rewrite_each(
    graph: &mut Graph,
    ctx: &mut TransformContext,
    wanted: impl Fn(&Node) -> bool,
    mut rewrite: impl FnMut(&mut Rewriter<'_>, usize) -> Result<(), String>,
) -> bool {
    let mut rewriter = Rewriter::new(graph);
    for i in 0..rewriter.graph().nodes.len() {
        let node = &rewriter.graph().nodes[i];
        if !node.is_onnx() || !wanted(node) {
            continue;
        }
        if let Err(why) = rewrite(&mut rewriter, i) {
            let node = &rewriter.graph().nodes[i];
            let named = if node.name.is_empty() {
                String::new()
            } else {
                format!(
                    " `{}`",
                    shorten(&node.name, brainsmith_core::suggest::QUOTED)
                )
            };
            ctx.warn(
                node.name.clone(),
                format!("{}{named} left as it is: {why}", node.op_type),
            );
        }
    }
    rewriter.finish()
}

/// The smallest float32 (not NaN) for which `reaches` holds, given that it holds for
/// every larger one; `None` when it holds for none. Bisection over the float32 values in
/// order, 32 steps.
pub(crate) fn first_reaching(reaches: impl Fn(f32) -> bool) -> Option<f32> {
    // Orders float32 bit patterns as the values they stand for.
    let key = |x: f32| -> i64 {
        let b = x.to_bits() as i32;
        if b < 0 {
            -(i64::from(b & 0x7fff_ffff))
        } else {
            i64::from(b)
        }
    };
    let value = |k: i64| -> f32 {
        if k < 0 {
            f32::from_bits(((-k) as u32) | 0x8000_0000)
        } else {
            f32::from_bits(k as u32)
        }
    };
    let (mut lo, mut hi) = (key(f32::NEG_INFINITY), key(f32::INFINITY));
    if !reaches(f32::INFINITY) {
        return None;
    }
    if reaches(f32::NEG_INFINITY) {
        return Some(f32::NEG_INFINITY);
    }
    // Invariant: reaches(value(hi)), !reaches(value(lo)).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(value(mid)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(value(hi))
}

/// Names not yet used in a graph (nodes, tensors, initializers, graph inputs), for the
/// transforms that add nodes without a [`Rewriter`].
pub(crate) struct FreshNames(FxHashSet<String>);

impl FreshNames {
    /// The names `graph` uses.
    pub(crate) fn of(graph: &Graph) -> FreshNames {
        FreshNames(
            graph
                .nodes
                .iter()
                .flat_map(|n| n.outputs.iter().cloned().chain([n.name.clone()]))
                .chain(graph.inputs.iter().map(|v| v.name.clone()))
                .chain(graph.initializers.iter().map(|t| t.name().to_owned()))
                .collect(),
        )
    }

    /// `base`, or `base_1`, `base_2`... whichever is free first; taken from then on.
    pub(crate) fn fresh(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut k = 1;
        while !self.0.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    /// A channels-last kernel between a `Transpose` from NCHW and one back, named after
    /// `name`: the kernel reads the first's output and writes the second's input, which
    /// are returned with the two transposes (reading `x`, writing `y`).
    pub(crate) fn around_nhwc(&mut self, name: &str, x: String, y: String) -> Around {
        let (kin, kout) = (
            self.fresh(format!("{name}_nhwc_in")),
            self.fresh(format!("{name}_nhwc_out")),
        );
        let before = Node::new("Transpose", [x], [kin.clone()])
            .with_name(self.fresh(format!("{name}_to_nhwc")))
            .with_attribute("perm", AttributeValue::Ints(vec![0, 2, 3, 1]));
        let after = Node::new("Transpose", [kout.clone()], [y])
            .with_name(self.fresh(format!("{name}_to_nchw")))
            .with_attribute("perm", AttributeValue::Ints(vec![0, 3, 1, 2]));
        Around {
            before,
            input: kin,
            output: kout,
            after,
        }
    }
}

/// What [`FreshNames::around_nhwc`] makes.
pub(crate) struct Around {
    /// NCHW to NHWC.
    pub(crate) before: Node,
    /// The kernel's input.
    pub(crate) input: String,
    /// The kernel's output.
    pub(crate) output: String,
    /// NHWC to NCHW.
    pub(crate) after: Node,
}

/// For a rewrite that writes ops in their opset-`needed` form (a `Pad` with its pads as
/// an input, an `Add` that broadcasts as numpy does) into a model whose default-domain
/// opset may be older: `Ok(None)` when it is not older, `Ok(Some(old))` when the model
/// can be raised to `needed` after the rewrite (every other node, `ignore` aside, means
/// the same at `needed`), else an error naming the node that stops it, so that nothing
/// is rewritten and no model of mixed forms is ever handed back.
pub(crate) fn opset_below(
    model: &Model,
    needed: i64,
    why: &str,
    ignore: impl Fn(&Node) -> bool,
) -> Result<Option<i64>, PluginError> {
    let Some(opset) = model.opset_version("").filter(|&v| v < needed) else {
        return Ok(None);
    };
    let fix = format!("convert the model to opset {needed} first (onnx.version_converter)");
    if opset < 6 {
        return Err(PluginError::new(format!(
            "the model imports opset {opset}, and {why} from opset {needed} on; models older \
             than opset 6 are not raised: {fix}"
        )));
    }
    match model
        .graph
        .nodes
        .iter()
        .find(|n| n.is_onnx() && !ignore(n) && !same_from_opset_6_to_11(n))
    {
        Some(node) => Err(PluginError::new(format!(
            "the model imports opset {opset}, and {why} from opset {needed} on; node '{}' \
             ({}) may mean something else at opset {needed}, so the opset cannot simply be \
             raised: {fix}",
            shorten(&node.name, 80),
            node.op_type
        ))),
        None => Ok(Some(opset)),
    }
}

/// Whether `node` (of the default domain) means at opsets 6 to 11 the same: its op's
/// versions in between only widened its types or allowed negative axes, and it carries
/// no attribute that a later version dropped.
fn same_from_opset_6_to_11(node: &Node) -> bool {
    const SAME: &[&str] = &[
        "Abs",
        "Acos",
        "Acosh",
        "Add",
        "And",
        "ArgMax",
        "ArgMin",
        "Asin",
        "Asinh",
        "Atan",
        "Atanh",
        "AveragePool",
        "Cast",
        "Ceil",
        "Concat",
        "Constant",
        "Conv",
        "ConvTranspose",
        "Cos",
        "Cosh",
        "DepthToSpace",
        "Div",
        "Elu",
        "Equal",
        "Erf",
        "Exp",
        "Expand",
        "Flatten",
        "Floor",
        "Gather",
        "Gemm",
        "GlobalAveragePool",
        "GlobalLpPool",
        "GlobalMaxPool",
        "Greater",
        "HardSigmoid",
        "Hardmax",
        "Identity",
        "InstanceNormalization",
        "LRN",
        "LeakyRelu",
        "Less",
        "Log",
        "LogSoftmax",
        "LpNormalization",
        "MatMul",
        "Max",
        "MaxPool",
        "Mean",
        "Min",
        "Mul",
        "Neg",
        "Not",
        "Or",
        "PRelu",
        "Pow",
        "Reciprocal",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceProd",
        "ReduceSum",
        "ReduceSumSquare",
        "Relu",
        "Reshape",
        "Selu",
        "Shape",
        "Sigmoid",
        "Sign",
        "Sin",
        "Sinh",
        "Size",
        "Softmax",
        "Softplus",
        "Softsign",
        "SpaceToDepth",
        "Split",
        "Sqrt",
        "Squeeze",
        "Sub",
        "Sum",
        "Tan",
        "Tanh",
        "Tile",
        "Transpose",
        "Unsqueeze",
        "Where",
        "Xor",
    ];
    const DROPPED: &[&str] = &["broadcast", "is_test", "spatial", "consumed_inputs"];
    let binary = matches!(
        node.op_type.as_str(),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "And" | "Or" | "Xor" | "Equal" | "Greater" | "Less"
    );
    SAME.contains(&node.op_type.as_str())
        && !node
            .attributes
            .iter()
            .any(|a| DROPPED.contains(&a.name.as_str()) || (binary && a.name == "axis"))
}
