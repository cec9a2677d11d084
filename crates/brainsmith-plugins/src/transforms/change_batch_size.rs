//! [`ChangeBatchSize`]

use brainsmith_core::ir::{Dim, ElemType, Tensor, ValueType};
use brainsmith_core::prelude::*;
use brainsmith_core::suggest::shorten;
use rustc_hash::FxHashSet;

use super::InferShapes;
use super::rewrite::Rewriter;

/// Sets the batch size of the whole model, and infers the shapes again.
///
/// The batch changes in the first dimension of the first graph input (initializers
/// listed as inputs do not count), of every other input whose first
/// dimension has the same symbolic name or that `inputs` lists, and of every graph output
/// whose first dimension was the old batch size; the first entry of every `Reshape` target
/// shape that is a constant starting with the old batch size. Then the intermediate
/// shapes, which held the old batch size, are inferred again, and so are output batch
/// dimensions that were symbolic. Where that inference fails at the new batch on a node
/// it could infer before (a `Reshape` whose target is an initializer listed as a graph
/// input, which a caller may override and so is not changed), the transform fails,
/// naming the node and what to run, and leaves the model as it was.
///
/// Where qonnx 1.0 goes wrong, this does not: qonnx changes only the first input (a
/// squeezenet that lists its weights as inputs gets a bias resized; an attention model's
/// keys and values keep the old batch), and it overwrites the first entry of every
/// constant `Reshape` target (a weight reshaped to `[256, 10]` becomes `[4, 10]`; a
/// `Reshape` to `[-1]` stops working). A target shape other nodes also read is copied, not
/// changed.
///
/// ```
/// use brainsmith_plugins::ChangeBatchSize;
/// use brainsmith_plugins::sketch::{Sketch, apply};
///
/// let mut m = Sketch::new().input("x", &[1, 3]).op("Relu", ["x"], ["y"]).output("y").build();
/// let four = ChangeBatchSize { batch_size: 4, inputs: None };
/// assert!(apply(&four, &mut m));
/// assert_eq!(m.graph.inputs[0].static_shape(), Some(vec![4, 3]));
/// assert_eq!(m.graph.outputs[0].static_shape(), Some(vec![4, 3]));
/// ```
/// In a blueprint: `topology_opt = [{ transform = "ChangeBatchSize", config = { batch_size = 4 } }]`.
#[transform(stage = topology_opt, tags = ["batch", "shapes"], version = "1.0.0", config)]
#[derive(Debug, Config)]
pub struct ChangeBatchSize {
    /// The new batch size (at least 1).
    #[config(check = at_least_one)]
    pub batch_size: i64,
    /// Other graph inputs whose first dimension is the batch (the first input's always is;
    /// inputs sharing its symbolic batch name are found without being listed).
    pub inputs: Option<Vec<String>>,
}

/// A batch holds at least one sample: checked with the configuration (so a blueprint
/// check reports it) and again when applied (a struct built in Rust skips the former).
fn at_least_one(batch: &i64) -> Result<(), String> {
    if *batch >= 1 {
        Ok(())
    } else {
        Err(format!("a batch holds at least 1 sample, not {batch}"))
    }
}

impl Transform for ChangeBatchSize {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        let new = self.batch_size;
        at_least_one(&new).map_err(|e| PluginError::new(format!("`batch_size`: {e}")))?;
        // What shape inference already could not tell before the change is not the
        // change's doing; anything else it cannot tell afterwards is, and fails it.
        let before = model.clone();
        let unsettled_before = unsettled(&mut before.clone());
        let graph = &mut model.graph;
        let initializers: FxHashSet<&str> = graph.initializers.iter().map(|t| t.name()).collect();
        let data: Vec<usize> = (0..graph.inputs.len())
            .filter(|&i| !initializers.contains(graph.inputs[i].name.as_str()))
            .collect();
        let first = data
            .first()
            .map(|&i| &graph.inputs[i])
            .ok_or_else(|| PluginError::new("the graph has no input to take the batch size of"))?;
        let old = batch_dim(&first.ty).ok_or_else(|| {
            PluginError::new(format!(
                "graph input '{}' has no known shape, so its batch dimension is unknown; \
                 declare its shape",
                first.name
            ))
        })?;
        let listed = self.inputs.as_deref().unwrap_or_default();
        if let Some(unknown) = listed
            .iter()
            .find(|name| !data.iter().any(|&i| graph.inputs[i].name == **name))
        {
            let names: Vec<&str> = data
                .iter()
                .map(|&i| graph.inputs[i].name.as_str())
                .collect();
            return Err(PluginError::new(format!(
                "configuration `inputs` names '{unknown}', which is not a graph input; the \
                 inputs are {}",
                names.join(", ")
            )));
        }
        drop(initializers);
        let mut changed = false;
        let mut set = |d0: &mut Dim, to: Dim| {
            if *d0 != to {
                *d0 = to;
                changed = true;
            }
        };
        for (k, &i) in data.iter().enumerate() {
            let v = &mut graph.inputs[i];
            let named = listed.contains(&v.name);
            if let Some(d0) = first_dim(&mut v.ty) {
                let same_symbol = matches!(&old, Dim::Param(_)) && *d0 == old;
                if k == 0 || named || same_symbol {
                    set(d0, Dim::Value(new));
                }
            }
        }
        // Outputs with a symbolic batch: inferred below from the new input shapes.
        let mut symbolic = Vec::new();
        for (k, v) in graph.outputs.iter_mut().enumerate() {
            if let Some(d0) = first_dim(&mut v.ty) {
                match d0 {
                    _ if *d0 == old => set(d0, Dim::Value(new)),
                    Dim::Param(_) => {
                        set(d0, Dim::Unknown);
                        symbolic.push(k);
                    }
                    _ => {}
                }
            }
        }
        if let Dim::Value(old) = old
            && old != new
        {
            let mut rewriter = Rewriter::new(graph);
            for i in 0..rewriter.graph().nodes.len() {
                let node = &rewriter.graph().nodes[i];
                if node.op_type != "Reshape" || !node.is_onnx() {
                    continue;
                }
                let Some(target) = node.inputs.get(1).and_then(|s| rewriter.constant(s)) else {
                    continue;
                };
                let Ok(mut dims) = target.to_i64() else {
                    continue;
                };
                if target.elem_type() != ElemType::Int64 || dims.first() != Some(&old) {
                    continue;
                }
                dims[0] = new;
                let value = Tensor::from_i64("", target.dims(), &dims);
                rewriter.replace_constant(i, 1, value);
                changed = true;
            }
            rewriter.finish();
        }
        if changed {
            // Every recorded intermediate shape may hold the old batch size, and so may an
            // output's other dimensions (a flatten's): inference tells them anew, and a
            // dimension it cannot tell keeps what was declared.
            graph.value_info.clear();
            let declared: Vec<Option<Vec<Dim>>> = graph
                .outputs
                .iter_mut()
                .map(|v| match &mut v.ty {
                    Some(ValueType::Tensor(t)) => t.shape.as_mut().map(|shape| {
                        let dims = shape.clone();
                        shape.iter_mut().for_each(|d| *d = Dim::Unknown);
                        dims
                    }),
                    _ => None,
                })
                .collect();
            let mut inferred = TransformContext::default();
            InferShapes.apply(model, &mut inferred)?;
            if let Some(d) = inferred
                .diagnostics()
                .iter()
                .find(|d| !unsettled_before.contains(&d.node))
            {
                let err = PluginError::new(format!(
                    "a batch of {new} breaks node '{}': {}{}",
                    shorten(&d.node, 80),
                    d.message,
                    overridable_target(model, &d.node)
                ));
                // Failed, the model is as it was (not only under the executor).
                *model = before;
                return Err(err);
            }
            for d in inferred.diagnostics() {
                ctx.warn(d.node.clone(), d.message.clone());
            }
            for (v, dims) in model.graph.outputs.iter_mut().zip(declared) {
                if let (Some(ValueType::Tensor(t)), Some(dims)) = (&mut v.ty, dims) {
                    match &mut t.shape {
                        Some(shape) if shape.len() == dims.len() => {
                            for (d, old) in shape.iter_mut().zip(dims) {
                                if *d == Dim::Unknown {
                                    *d = old;
                                }
                            }
                        }
                        shape => *shape = Some(dims),
                    }
                }
            }
            // What inference could not tell (a shape computed at run time) is taken for
            // the batch, as it was symbolic.
            for k in symbolic {
                if let Some(d0) = first_dim(&mut model.graph.outputs[k].ty)
                    && *d0 == Dim::Unknown
                {
                    *d0 = Dim::Value(new);
                }
            }
        }
        Ok(changed)
    }
}

/// The nodes shape inference reports a problem with.
fn unsettled(model: &mut Model) -> FxHashSet<String> {
    let mut ctx = TransformContext::default();
    let _ = InferShapes.apply(model, &mut ctx);
    ctx.diagnostics().iter().map(|d| d.node.clone()).collect()
}

/// Why a `Reshape` called `node` kept its target, when the target is an initializer that
/// is also a graph input (a caller may override it, so it is no constant to change).
fn overridable_target(model: &Model, node: &str) -> String {
    let graph = &model.graph;
    let target = graph
        .nodes
        .iter()
        .find(|n| n.name == node && n.op_type == "Reshape")
        .and_then(|n| n.inputs.get(1));
    match target {
        Some(t)
            if graph.inputs.iter().any(|i| i.name == *t)
                && graph.initializers.iter().any(|i| i.name() == t) =>
        {
            format!(
                "; its target shape '{}' is an initializer listed as a graph input, which a \
                 caller may override, so it was not changed: run RemoveStaticGraphInputs first",
                shorten(t, 80)
            )
        }
        _ => String::new(),
    }
}

/// The first dimension of a tensor type, when it has a shape of rank 1 or more.
fn batch_dim(ty: &Option<ValueType>) -> Option<Dim> {
    match ty {
        Some(ValueType::Tensor(t)) => t.shape.as_ref()?.first().cloned(),
        _ => None,
    }
}

fn first_dim(ty: &mut Option<ValueType>) -> Option<&mut Dim> {
    match ty {
        Some(ValueType::Tensor(t)) => t.shape.as_mut()?.first_mut(),
        _ => None,
    }
}
