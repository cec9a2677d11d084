//! The accelerator as the stitcher, the report and the picture see it: each node with its
//! kernel, backend, folding, streams, estimates and generated sources, and the streams
//! between nodes.

use brainsmith_core::backend::unique_identifiers;
use brainsmith_core::hardware::KernelChoice;
use brainsmith_core::ir::{Model, Node};
use brainsmith_core::kernel::{Direction, Resources, Stream, Target};
use brainsmith_core::{BuildContext, Generated, Language, PluginError};

/// One node of the accelerator.
#[derive(Debug)]
pub struct DesignNode {
    /// The node's name in the model.
    pub name: String,
    /// Its name in generated code and its sources' directory under `nodes/`.
    pub ident: String,
    /// The kernel's qualified name.
    pub kernel: String,
    /// The kernel's short name (`MVAU`).
    pub kernel_short: String,
    /// The backend's qualified name.
    pub backend: String,
    /// The backend's short name (`MVAU_hls`).
    pub backend_short: String,
    /// HLS or RTL.
    pub language: Language,
    /// Why the backend was chosen (`specialize_layers`'s record), if recorded.
    pub reason: Option<String>,
    /// The folding knobs and their values (`SIMD = 98`).
    pub folding: Vec<(String, i64)>,
    /// The kernel's streams.
    pub streams: Vec<Stream>,
    /// Estimated cycles per frame (the backend's, else the kernel's).
    pub cycles: Option<u64>,
    /// Estimated resources.
    pub resources: Option<Resources>,
    /// What its backend generated.
    pub generated: Generated,
    /// Its input tensors (data streams and constants, as the node reads them).
    pub inputs: Vec<String>,
    /// Its output tensors.
    pub outputs: Vec<String>,
    /// The FIFO depth, for a `StreamingFIFO`.
    pub fifo_depth: Option<u64>,
}

impl DesignNode {
    /// The stream of `direction` at slot `index`.
    pub fn stream(&self, direction: Direction, index: usize) -> Option<&Stream> {
        self.streams
            .iter()
            .find(|s| s.direction == direction && s.index == index)
    }

    /// Whether this node is a FIFO (a stream's depth in the C++ top).
    pub fn is_fifo(&self) -> bool {
        self.fifo_depth.is_some()
    }

    /// Whether this node is a width converter.
    pub fn is_width_converter(&self) -> bool {
        self.kernel_short == "StreamingDataWidthConverter"
    }
}

/// The accelerator's nodes in dependency order.
#[derive(Debug)]
pub struct Design {
    /// The nodes, in the accelerator model's (dependency) order.
    pub nodes: Vec<DesignNode>,
    /// The accelerator's input stream tensor.
    pub input: String,
    /// Its output stream tensor.
    pub output: String,
    /// The device and clock.
    pub target: Target,
}

impl Design {
    /// Reads every node of `accelerator` (the partition's model) with the build's kernels
    /// (`kernel_for`: the blueprint's configured choice for a node) and generates it.
    pub fn of<'r>(
        accelerator: &Model,
        kernel_for: &dyn Fn(&Node) -> Result<Option<KernelChoice<'r>>, PluginError>,
        target: &Target,
    ) -> Result<Design, String> {
        let graph = &accelerator.graph;
        let idents = unique_identifiers(graph.nodes.iter().map(|n| n.name.as_str()));
        let build = BuildContext {
            target: target.clone(),
            output_dir: None,
        };
        let registry = brainsmith_core::Registry::global().map_err(|e| e.to_string())?;
        let mut nodes = Vec::new();
        for (node, ident) in graph.nodes.iter().zip(idents) {
            let label = format!("node '{}' ({})", node.name, node.op_type);
            let choice = kernel_for(node)
                .map_err(|e| format!("{label}: {e}"))?
                .ok_or_else(|| format!("{label}: the build has no kernel for it"))?;
            let found = brainsmith_core::hardware::resolve(registry, node)
                .map_err(|e| format!("{label}: {e}"))?
                .and_then(|f| f.backend)
                .ok_or_else(|| format!("{label}: no backend is recorded on it"))?;
            let backend = choice
                .backends
                .iter()
                .find(|b| b.backend.qualified_name() == found.qualified_name())
                .ok_or_else(|| {
                    format!(
                        "{label}: its backend {} is not one the build uses",
                        found.qualified_name()
                    )
                })?;
            let kernel = choice.instance.as_ref();
            let streams = kernel
                .streams(node, graph)
                .map_err(|e| format!("{label}: {e}"))?;
            let folding = kernel
                .folding(node, graph)
                .map(|knobs| {
                    knobs
                        .iter()
                        .filter_map(|k| node.attr_int(k.attr).map(|v| (k.attr.to_owned(), v)))
                        .collect()
                })
                .unwrap_or_default();
            let cycles = backend
                .instance
                .cycles(kernel, node, graph)
                .ok()
                .flatten()
                .or_else(|| kernel.cycles(node, graph).ok().flatten());
            let resources = kernel.resources(node, graph, target).ok().flatten();
            let generated = backend
                .instance
                .generate(kernel, node, graph, &build)
                .map_err(|e| format!("{label}: {e}"))?;
            let fifo_depth = (choice.kernel.name() == "StreamingFIFO")
                .then(|| node.attr_int("depth").map(|d| d.max(1) as u64))
                .flatten();
            nodes.push(DesignNode {
                name: node.name.clone(),
                ident,
                kernel: choice.kernel.qualified_name().to_owned(),
                kernel_short: choice.kernel.name().to_owned(),
                backend: found.qualified_name().to_owned(),
                backend_short: found.name().to_owned(),
                language: found.language(),
                reason: node
                    .attr_str(crate::steps::CHOICE_ATTR)
                    .map(ToOwned::to_owned),
                folding,
                streams,
                cycles,
                resources,
                generated,
                inputs: node.inputs.clone(),
                outputs: node.outputs.clone(),
                fifo_depth,
            });
        }
        Ok(Design {
            nodes,
            input: graph.inputs[0].name.clone(),
            output: graph.outputs[0].name.clone(),
            target: target.clone(),
        })
    }

    /// The slowest node: the design's cycles per frame in steady state.
    pub fn bottleneck(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].cycles.is_some())
            .max_by_key(|&i| (self.nodes[i].cycles, std::cmp::Reverse(i)))
    }

    /// Every node's resources added up.
    pub fn total_resources(&self) -> Resources {
        self.nodes
            .iter()
            .filter_map(|n| n.resources)
            .fold(Resources::default(), |a, b| a + b)
    }

    /// The node writing `tensor`, and the slot.
    pub fn producer(&self, tensor: &str) -> Option<(usize, usize)> {
        self.nodes.iter().enumerate().find_map(|(i, n)| {
            n.outputs
                .iter()
                .position(|o| o == tensor)
                .map(|slot| (i, slot))
        })
    }

    /// Whether every node is RTL.
    pub fn all_rtl(&self) -> bool {
        self.nodes.iter().all(|n| n.language == Language::Rtl)
    }
}
