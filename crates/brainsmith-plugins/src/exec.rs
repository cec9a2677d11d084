//! Runs a model on input tensors: ONNX and QONNX nodes through the evaluators of
//! [`crate::eval`], every node a linked kernel implements (mapped or specialised) through
//! the kernel's bit-exact [`execute`](brainsmith_core::Kernel::execute). So a graph
//! after kernel mapping runs, and its outputs compare with the model it came from.
//!
//! ```
//! use brainsmith_core::ir::{ElemType, Model, Node, Tensor, ValueInfo};
//! use brainsmith_plugins::exec::execute;
//!
//! let mut m = Model::default();
//! m.graph.inputs.push(ValueInfo::tensor("x", ElemType::Float, &[1, 3]));
//! m.graph.outputs.push(ValueInfo::tensor("y", ElemType::Float, &[1, 3]));
//! m.graph.nodes.push(Node::new("Relu", ["x"], ["y"]).with_name("relu"));
//! let x = Tensor::from_f32("x", &[1, 3], &[-1.0, 0.5, 2.0]);
//! let y = execute(&m, &[x]).unwrap();
//! assert_eq!(y[0].to_f64().unwrap(), [0.0, 0.5, 2.0]);
//! ```

use rustc_hash::FxHashMap;

use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::{Model, Node, QuantType, Tensor};
use brainsmith_core::kernel::Tensors;
use brainsmith_core::{PluginError, Registry};

use crate::eval::{self, Array, Run};

/// The most values one computed tensor may hold: a bound on what a model's declared
/// sizes can make the executor allocate (2^28 values, 2 GiB of `f64`).
pub const MAX_ELEMENTS: usize = 1 << 28;

/// Runs `model` on `inputs`, one tensor per graph input that is not an initializer, in
/// order; returns one tensor per graph output. An error names the node that could not run
/// and why (no evaluator and no linked kernel executes it, a shape mismatch, ...).
pub fn execute(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>, PluginError> {
    execute_with(model, inputs, &mut |_, _| None)
}

/// What [`execute_with`] asks before running a node: its outputs, or `None` to run it as
/// [`execute`] would.
pub type NodeHook<'a> =
    &'a mut dyn FnMut(&Node, &[Tensor]) -> Option<Result<Vec<Tensor>, PluginError>>;

/// [`execute`], with `hook` asked first for each node, given the node and its input values
/// (an omitted input is left out): a host model's accelerator node runs in a simulator
/// this way.
pub fn execute_with(
    model: &Model,
    inputs: &[Tensor],
    hook: NodeHook<'_>,
) -> Result<Vec<Tensor>, PluginError> {
    let graph = &model.graph;
    let run = Run {
        opset: model.opset_version("").unwrap_or(13),
        max_elements: MAX_ELEMENTS,
    };
    let mut values: FxHashMap<&str, Tensor> = FxHashMap::default();
    for t in graph.initializers.iter() {
        values.insert(t.name(), t.clone());
    }
    let runtime: Vec<&str> = graph
        .inputs
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !values.contains_key(n))
        .collect();
    if runtime.len() != inputs.len() {
        return Err(PluginError::new(format!(
            "the model has {} input(s) ({}); {} tensor(s) were given",
            runtime.len(),
            runtime.join(", "),
            inputs.len()
        )));
    }
    for (name, t) in runtime.iter().zip(inputs) {
        let mut t = t.clone();
        t.set_name(*name);
        values.insert(name, t);
    }
    let registry = Registry::global().ok();
    let order = crate::transforms::sort_graph::topological_order(graph)?;
    for i in order {
        let node = &graph.nodes[i];
        let given: Vec<Tensor> = node
            .inputs
            .iter()
            .filter_map(|n| values.get(n.as_str()).cloned())
            .collect();
        let outputs = match hook(node, &given) {
            Some(outputs) => outputs?,
            None => run_node(node, &values, graph, registry, &run)?,
        };
        for (name, t) in node.outputs.iter().zip(outputs) {
            if !name.is_empty() {
                values.insert(name.as_str(), t);
            }
        }
    }
    graph
        .outputs
        .iter()
        .map(|o| {
            values.remove(o.name.as_str()).ok_or_else(|| {
                PluginError::new(format!("graph output '{}' is computed by no node", o.name))
            })
        })
        .collect()
}

/// What a kernel's `execute` sees of the tensors around its node: the values computed so
/// far (their shapes) and the graph's annotations.
struct Computed<'a> {
    values: &'a FxHashMap<&'a str, Tensor>,
    graph: &'a brainsmith_core::ir::Graph,
}

impl Tensors for Computed<'_> {
    fn shape(&self, name: &str) -> Option<Vec<i64>> {
        match self.values.get(name) {
            Some(t) => Some(t.dims().to_vec()),
            None => Tensors::shape(self.graph, name),
        }
    }

    fn datatype(&self, name: &str) -> Option<QuantType> {
        Tensors::datatype(self.graph, name)
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        self.graph.constant(name)
    }
}

/// The outputs of `node`; an error names the node (a kernel's, the kernel too).
fn run_node(
    node: &Node,
    values: &FxHashMap<&str, Tensor>,
    graph: &brainsmith_core::ir::Graph,
    registry: Option<&Registry>,
    run: &Run,
) -> Result<Vec<Tensor>, PluginError> {
    let at_node = |e: String| {
        PluginError::new(format!(
            "node '{}' ({}): {e}",
            brainsmith_core::suggest::shorten(&node.name, 80),
            node.op_type
        ))
    };
    let input = |name: &String| -> Result<Option<&Tensor>, String> {
        if name.is_empty() {
            return Ok(None);
        }
        values
            .get(name.as_str())
            .map(Some)
            .ok_or_else(|| format!("input '{name}' has no value"))
    };
    let found = registry
        .map(|r| resolve(r, node))
        .transpose()
        .map_err(at_node)?
        .flatten();
    if let Some(found) = found {
        let in_kernel =
            |e: PluginError| e.context(format!("kernel '{}'", found.kernel.qualified_name()));
        let kernel = found
            .kernel
            .with_defaults()
            .map_err(|e| at_node(e.to_string()))?;
        let tensors = node
            .inputs
            .iter()
            .map(|n| {
                input(n)?
                    .cloned()
                    .ok_or_else(|| "an input is omitted".to_owned())
            })
            .collect::<Result<Vec<Tensor>, String>>()
            .map_err(at_node)?;
        let view = Computed { values, graph };
        return kernel.execute(node, &view, &tensors).map_err(in_kernel);
    }
    if !eval::supports(node) {
        return Err(at_node(
            "no evaluator and no linked kernel executes this op type".into(),
        ));
    }
    (|| {
        let arrays = node
            .inputs
            .iter()
            .map(|n| input(n)?.map(Array::from_tensor).transpose())
            .collect::<Result<Vec<Option<Array>>, String>>()?;
        let refs: Vec<Option<&Array>> = arrays.iter().map(Option::as_ref).collect();
        let out = eval::evaluate(node, &refs, run)?;
        node.outputs
            .iter()
            .zip(out)
            .map(|(name, a)| a.to_tensor(name))
            .collect::<Result<Vec<Tensor>, String>>()
    })()
    .map_err(at_node)
}

/// Runs `a` and `b` on the same inputs and returns the largest absolute difference of
/// their outputs (they must have as many, of the same shapes): `0.0` when they agree bit
/// for bit.
pub fn max_abs_difference(a: &Model, b: &Model, inputs: &[Tensor]) -> Result<f64, PluginError> {
    let (ya, yb) = (execute(a, inputs)?, execute(b, inputs)?);
    if ya.len() != yb.len() {
        return Err(PluginError::new(format!(
            "the models have {} and {} outputs",
            ya.len(),
            yb.len()
        )));
    }
    let mut max = 0.0f64;
    for (ta, tb) in ya.iter().zip(&yb) {
        let (va, vb) = (ta.to_f64()?, tb.to_f64()?);
        if va.len() != vb.len() {
            return Err(PluginError::new(format!(
                "output '{}' has {} values in one model and {} in the other",
                ta.name(),
                va.len(),
                vb.len()
            )));
        }
        for (x, y) in va.iter().zip(&vb) {
            let d = if x == y { 0.0 } else { (x - y).abs() };
            max = max.max(if d.is_nan() { f64::INFINITY } else { d });
        }
    }
    Ok(max)
}
