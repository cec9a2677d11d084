//! The hardware steps of FINN's flow: [`specialize_layers`] chooses each kernel node's
//! backend, [`hw_codegen`] writes what the chosen backends generate.

use brainsmith_core::BuildContext;
use brainsmith_core::backend::unique_identifiers;
use brainsmith_core::hardware::{BackendChoice, KernelChoice, resolve, specialize};
use brainsmith_core::ir::{AttributeValue, Graph};
use brainsmith_core::prelude::*;

/// The node attribute where [`specialize_layers`] records why it chose the node's
/// backend: `"MVAU_hls: the first backend of the build's order that implements it"`, or
/// the refusals it fell back past.
pub const CHOICE_ATTR: &str = "brainsmith_backend_choice";

/// Chooses a backend for every node a kernel of the build implements and records it on
/// the node in FINN's convention (`MVAU_hls` in `finn.custom_op.fpgadataflow.hls`), with
/// the reason in `brainsmith_backend_choice`: the first backend in the build's order (the
/// blueprint's `backends` list for the kernel, else by priority) whose capability check
/// accepts the node. A backend that refuses is named in a warning with its reason and
/// the backend fallen back to ("MVAU_rtl refused 'fc0': 8-bit weights; fell back to
/// MVAU_hls"). A node no backend accepts fails the step, every refusal listed; the
/// build's model is then left as it was.
///
/// ```
/// use brainsmith_core::{Registry, StepContext};
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, qonnx};
/// use brainsmith_plugins::steps::CHOICE_ATTR;
/// use brainsmith_plugins::InferThresholding;
///
/// // In a blueprint: steps = [..., "specialize_layers", "hw_codegen"]
/// let mt = qonnx("MultiThreshold", ["x", "t"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().int_input("x", &[1, 4], "UINT4").constant("t", &[1, 1], &[8.0])
///     .node(mt).output("y").build();
/// assert!(apply(&InferThresholding, &mut m));
/// let registry = Registry::global().unwrap();
/// let step = registry.step("specialize_layers").unwrap();
/// step.run(&mut m, &mut StepContext::new(registry)).unwrap();
/// let node = &m.graph.nodes[0];
/// assert_eq!((node.op_type.as_str(), node.domain.as_str()), ("Thresholding_hls", "finn.custom_op.fpgadataflow.hls"));
/// assert!(node.attr_str(CHOICE_ATTR).unwrap().contains("Thresholding_hls"), "and why");
/// ```
#[step(tags = ["finn", "specialise", "backend"], version = "0.1.0")]
pub fn specialize_layers(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    for i in 0..model.graph.nodes.len() {
        let node = &model.graph.nodes[i];
        let Some(choice) = ctx.kernel_for(node)? else {
            continue;
        };
        let label = format!("node '{}' ({})", node.name, choice.kernel.qualified_name());
        choice
            .instance
            .check(node, &model.graph)
            .map_err(|e| e.context(&label))?;
        let (chosen, refusals) = first_supporting(&choice, node, &model.graph);
        let Some(chosen) = chosen else {
            return Err(PluginError::new(format!(
                "{label}: no backend of the build implements it ({})",
                if refusals.is_empty() {
                    "the build lists none".to_owned()
                } else {
                    refusals.join("; ")
                }
            )));
        };
        let name = chosen.backend.qualified_name().to_owned();
        for refusal in &refusals {
            ctx.warn(node.name.clone(), format!("{refusal}; fell back to {name}"));
        }
        let reason = if refusals.is_empty() {
            format!("{name}: the first backend of the build's order that implements it")
        } else {
            format!("{name}: after {}", refusals.join("; "))
        };
        let backend = chosen.backend;
        let node = &mut model.graph.nodes[i];
        specialize(node, backend);
        node.set_attribute(CHOICE_ATTR, AttributeValue::string(&reason));
    }
    Ok(())
}

/// The first backend of `choice` that accepts `node`, and the refusals before it, each
/// `"<backend> refused '<node>': <why>"`.
fn first_supporting<'c, 'r>(
    choice: &'c KernelChoice<'r>,
    node: &Node,
    graph: &Graph,
) -> (Option<&'c BackendChoice<'r>>, Vec<String>) {
    let mut refusals = Vec::new();
    for backend in &choice.backends {
        match backend
            .instance
            .supports(choice.instance.as_ref(), node, graph)
        {
            Ok(()) => return (Some(backend), refusals),
            Err(e) => refusals.push(format!(
                "{} refused '{}': {}",
                backend.backend.qualified_name(),
                node.name,
                e.message()
            )),
        }
    }
    (None, refusals)
}

/// Generates every specialised node's sources with its recorded backend (configured as
/// the build says) into `<output dir>/<node>/`: sources and parameter files, named after
/// the node as a unique identifier, so a model's names never leave the directory or break
/// the generated code; beside them, `folding_config.json`, the design's folding in FINN's
/// form (which `ApplyFoldingConfig` reads back). A kernel node that is not specialised
/// fails the step (run `specialize_layers` first). Without an output directory everything
/// is generated and checked, and nothing is written.
///
/// ```
/// use brainsmith_core::{Registry, StepContext};
/// use brainsmith_plugins::sketch::{Sketch, apply};
/// use brainsmith_plugins::InferAddStreams;
///
/// // A residual sum mapped, specialised, then generated into a directory.
/// let mut m = Sketch::new().int_input("a", &[1, 4], "INT2").int_input("b", &[1, 4], "INT2")
///     .op("Add", ["a", "b"], ["y"]).output("y").build();
/// assert!(apply(&InferAddStreams, &mut m));
/// let registry = Registry::global().unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// for name in ["specialize_layers", "hw_codegen"] {
///     let mut ctx = StepContext::new(registry).with_output_dir(dir.path());
///     registry.step(name).unwrap().run(&mut m, &mut ctx).unwrap();
/// }
/// let node = &m.graph.nodes[0].name;
/// assert!(dir.path().join(node).read_dir().unwrap().next().is_some());
/// assert!(dir.path().join("folding_config.json").is_file());
/// ```
#[step(tags = ["finn", "codegen"], version = "0.1.0")]
pub fn hw_codegen(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    let build = BuildContext {
        target: ctx.target().clone(),
        output_dir: ctx.output_dir().map(ToOwned::to_owned),
    };
    let dirs = unique_identifiers(model.graph.nodes.iter().map(|n| n.name.as_str()));
    let registry = ctx.registry();
    let mut written = Vec::new();
    for (i, node) in model.graph.nodes.iter().enumerate() {
        let Some(choice) = ctx.kernel_for(node)? else {
            continue;
        };
        let label = format!("node '{}' ({})", node.name, choice.kernel.qualified_name());
        let found = resolve(registry, node)
            .map_err(PluginError::new)?
            .and_then(|f| f.backend)
            .ok_or_else(|| {
                PluginError::new(format!(
                    "{label}: no backend is recorded on it; run specialize_layers first"
                ))
            })?;
        let backend = choice
            .backends
            .iter()
            .find(|b| b.backend.qualified_name() == found.qualified_name())
            .ok_or_else(|| {
                PluginError::new(format!(
                    "{label}: its backend {} is not one the build uses",
                    found.qualified_name()
                ))
            })?;
        let generated = backend
            .instance
            .generate(choice.instance.as_ref(), node, &model.graph, &build)
            .map_err(|e| e.context(&label))?;
        written.push((dirs[i].clone(), generated));
    }
    if let Some(dir) = ctx.output_dir() {
        std::fs::create_dir_all(dir)?;
        let folding = crate::folding::FoldingConfig::of_model(registry, model);
        std::fs::write(dir.join("folding_config.json"), folding.to_json())?;
        for (name, generated) in written {
            let dir = dir.join(name);
            std::fs::create_dir_all(&dir)?;
            for file in generated.sources.iter().chain(&generated.params) {
                std::fs::write(dir.join(&file.path), &file.contents)?;
            }
        }
    }
    Ok(())
}
