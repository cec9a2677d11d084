//! The HLS and RTL backends of [`Thresholding`], and the [`generate_hardware`] step.

use std::fmt::Write as _;

use brainsmith_core::backend::{Port, PortDirection, Protocol, identifier, unique_identifiers};
use brainsmith_core::hardware::specialize;
use brainsmith_core::prelude::*;

use crate::kernel::Thresholding;

/// Bits of the output count: enough for `steps` (0..=steps).
fn count_bits(steps: usize) -> u32 {
    usize::BITS - steps.leading_zeros()
}

fn hls_type(dt: QuantType) -> String {
    match dt {
        QuantType::Float32 => "float".into(),
        QuantType::Float16 => "half".into(),
        QuantType::Binary => "ap_uint<1>".into(),
        QuantType::Bipolar => "ap_int<2>".into(),
        QuantType::UInt(w) => format!("ap_uint<{w}>"),
        QuantType::Fixed(w, i) => format!("ap_fixed<{w}, {i}>"),
        other => format!("ap_int<{}>", other.bitwidth().max(2)),
    }
}

/// How the HLS backend stores the threshold table.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamStyle {
    /// Let the tool choose.
    #[attr(name = "auto")]
    Auto,
    /// LUT RAM.
    #[attr(name = "distributed")]
    Distributed,
    /// Block RAM.
    #[attr(name = "block")]
    Block,
}

/// Node attributes only the HLS backend reads.
#[derive(Debug, NodeAttrs)]
pub struct HlsAttrs {
    /// Where the threshold table lives.
    #[attr(name = "ram_style", default = RamStyle::Auto)]
    pub ram_style: RamStyle,
}

/// Generates an HLS C++ header: the threshold table in a parameter file and a streaming
/// function that counts, per element, the thresholds reached and applies the output
/// scale and bias.
///
/// ```
/// use acme_plugins::{DOMAIN, ThresholdingAttrs};
/// use brainsmith_core::ir::{Graph, Node, QuantType, Tensor};
/// use brainsmith_core::{BuildContext, NodeAttrs, Registry};
///
/// // Configured as a blueprint would (`ii = 2`), through the registry.
/// let registry = Registry::global().unwrap();
/// let hls = registry.backend("acme:ThresholdingHls").unwrap();
/// let backend = hls.configure(&"ii = 2".parse().unwrap()).unwrap();
/// let kernel = hls.kernel().with_defaults().unwrap();
/// let attrs = ThresholdingAttrs {
///     channels: 2, steps: 1, pe: 1, input: QuantType::Int(8), output: QuantType::UInt(1),
///     scale: 2.0, bias: -1.0,
/// };
/// let mut node = Node::new("Thresholding", ["x", "t"], ["y"]).with_domain(DOMAIN);
/// attrs.write(&mut node);
/// let mut g = Graph::default();
/// g.initializers.push(Tensor::from_f32("t", &[2, 1], &[0.0, 10.0]));
/// let out = backend.generate(kernel.as_ref(), &node, &g, &BuildContext::default()).unwrap();
/// assert!(out.sources[0].contents.contains("II=2"));
/// ```
#[backend(kernel = Thresholding, language = hls, priority = 10, version = "0.4.0", tags = ["activation", "hls"], config)]
#[derive(Debug, Config)]
pub struct ThresholdingHls {
    /// The initiation interval of the streaming loop: cycles between two inputs.
    #[config(default = 1, check = at_least_one)]
    pub ii: u32,
}

fn at_least_one(ii: &u32) -> Result<(), String> {
    if *ii == 0 {
        Err("the initiation interval is at least 1 cycle".into())
    } else {
        Ok(())
    }
}

impl Backend for ThresholdingHls {
    type Kernel = Thresholding;
    type Attrs = HlsAttrs;

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        let a = &node.attrs;
        let p = &node.node.attrs;
        let rows = node.kernel.thresholds(node)?;
        let name = identifier(node.name());
        let in_t = hls_type(p.input);
        let out_t = hls_type(p.output);

        let mut params = String::new();
        let _ = writeln!(
            params,
            "// {name}: thresholds, {} row(s) of {}",
            rows.len(),
            p.steps
        );
        let _ = writeln!(params, "#pragma once\n#include <ap_int.h>\n");
        let _ = writeln!(
            params,
            "static const {in_t} {name}_thresholds[{}][{}] = {{",
            rows.len(),
            p.steps
        );
        for row in &rows {
            let values: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            let _ = writeln!(params, "    {{{}}},", values.join(", "));
        }
        let _ = writeln!(params, "}};");

        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {name}: Thresholding, {} channel(s), {} step(s)",
            p.channels, p.steps
        );
        let _ = writeln!(
            s,
            "#pragma once\n#include <ap_int.h>\n#include <hls_stream.h>\n#include \"{name}_params.hpp\"\n"
        );
        let _ = writeln!(
            s,
            "void {name}(hls::stream<{in_t}> &in0, hls::stream<{out_t}> &out0, unsigned n) {{"
        );
        if a.ram_style != RamStyle::Auto {
            let _ = writeln!(
                s,
                "#pragma HLS bind_storage variable={name}_thresholds type=rom_2p impl={}",
                if a.ram_style == RamStyle::Block {
                    "bram"
                } else {
                    "lutram"
                }
            );
        }
        let _ = writeln!(s, "    for (unsigned i = 0; i < n; i++) {{");
        let _ = writeln!(s, "#pragma HLS pipeline II={}", self.ii);
        let _ = writeln!(s, "        const {in_t} x = in0.read();");
        let row = if rows.len() == 1 {
            "0".to_owned()
        } else {
            format!("i % {}", p.channels)
        };
        let _ = writeln!(s, "        ap_uint<{}> count = 0;", count_bits(p.steps));
        let _ = writeln!(s, "        for (unsigned t = 0; t < {}; t++) {{", p.steps);
        let _ = writeln!(s, "#pragma HLS unroll");
        let _ = writeln!(
            s,
            "            count += (x >= {name}_thresholds[{row}][t]);"
        );
        let _ = writeln!(s, "        }}");
        let bias = if p.bias < 0.0 {
            format!(" - {}", -p.bias)
        } else {
            format!(" + {}", p.bias)
        };
        let _ = writeln!(
            s,
            "        out0.write(({out_t})({} * count{bias}));",
            p.scale
        );
        let _ = writeln!(s, "    }}\n}}");
        let ports = [
            ("in0", PortDirection::In, p.input),
            ("out0", PortDirection::Out, p.output),
        ]
        .into_iter()
        .map(|(port, direction, dt)| Port {
            name: port.into(),
            direction,
            width: u64::from(dt.bitwidth()),
            protocol: Protocol::AxiStream,
        })
        .collect();
        Ok(Generated {
            sources: vec![GeneratedFile {
                path: format!("{name}.hpp"),
                contents: s,
            }],
            params: vec![GeneratedFile {
                path: format!("{name}_params.hpp"),
                contents: params,
            }],
            interface: Interface {
                top: name,
                ports,
                clock: Some("ap_clk".into()),
                reset: Some("ap_rst_n".into()),
            },
        })
    }
}

/// Generates a SystemVerilog module: a comparator per threshold and an adder tree
/// counting the thresholds each input reaches. Integer input types, thresholds shared by
/// all channels, and an unscaled, unbiased output (the count itself) only.
///
/// ```
/// use acme_plugins::{DOMAIN, Thresholding, ThresholdingRtl};
/// use brainsmith_core::backend::DynBackend;
/// use brainsmith_core::ir::{AttributeValue, Graph, Node, Tensor};
///
/// // Per-channel thresholds: the RTL module compares against one shared row only.
/// let attr = |name, v: &str| (name, v.parse::<i64>().map_or(AttributeValue::string(v), AttributeValue::Int));
/// let mut node = Node::new("Thresholding", ["x", "t"], ["y"]).with_domain(DOMAIN);
/// for (name, value) in [attr("NumChannels", "2"), attr("numSteps", "1"),
///     attr("inputDataType", "INT4"), attr("outputDataType", "UINT1")] {
///     node = node.with_attribute(name, value);
/// }
/// let mut g = Graph::default();
/// g.initializers.push(Tensor::from_f32("t", &[2, 1], &[0.0, 3.0]));
/// let (rtl, kernel): (&dyn DynBackend, _) = (&ThresholdingRtl, Thresholding { max_steps: 8 });
/// let refusal = rtl.supports(&kernel, &node, &g).unwrap_err();
/// assert!(refusal.to_string().contains("shared by all channels"), "{refusal}");
/// g.initializers[0] = Tensor::from_f32("t", &[1, 1], &[3.0]);
/// assert!(rtl.supports(&kernel, &node, &g).is_ok());
/// ```
#[backend(kernel = Thresholding, language = rtl, priority = 5, version = "0.4.0", tags = ["activation", "rtl"])]
#[derive(Debug, Default)]
pub struct ThresholdingRtl;

impl Backend for ThresholdingRtl {
    type Kernel = Thresholding;
    type Attrs = ();

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let p = &node.node.attrs;
        if !p.input.is_integer() {
            return Err(node.error(format!(
                "the RTL backend needs an integer input type, found {}; use the HLS backend",
                p.input
            )));
        }
        if node.kernel.thresholds(node)?.len() != 1 {
            return Err(
                node.error("the RTL backend supports thresholds shared by all channels only")
            );
        }
        if p.scale != 1.0 || p.bias != 0.0 {
            return Err(node.error(format!(
                "the RTL backend outputs the threshold count, but the node scales it by {} \
                 and adds {}; use the HLS backend",
                p.scale, p.bias
            )));
        }
        Ok(())
    }

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        let p = &node.node.attrs;
        let rows = node.kernel.thresholds(node)?;
        let name = identifier(node.name());
        let width = p.input.bitwidth();
        let signed = if p.input.range().0 < 0.0 {
            "signed "
        } else {
            ""
        };
        let bits = count_bits(p.steps);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {name}: Thresholding, {} step(s), input {}",
            p.steps, p.input
        );
        let _ = writeln!(s, "module {name} (");
        let _ = writeln!(
            s,
            "    input  logic clk,\n    input  logic {signed}[{}:0] x,\n    output logic [{}:0] count",
            width - 1,
            bits - 1
        );
        let _ = writeln!(s, ");");
        for (t, v) in rows[0].iter().enumerate() {
            let _ = writeln!(
                s,
                "    localparam logic {signed}[{}:0] T{t} = {};",
                width - 1,
                v.ceil() as i64
            );
        }
        let sum: Vec<String> = (0..p.steps)
            .map(|t| format!("{bits}'(x >= T{t})"))
            .collect();
        let _ = writeln!(
            s,
            "    always_ff @(posedge clk) count <= {};",
            sum.join(" + ")
        );
        let _ = writeln!(s, "endmodule");
        Ok(Generated {
            sources: vec![GeneratedFile {
                path: format!("{name}.sv"),
                contents: s,
            }],
            params: Vec::new(),
            interface: Interface {
                top: name,
                ports: vec![
                    Port {
                        name: "x".into(),
                        direction: PortDirection::In,
                        width: u64::from(width),
                        protocol: Protocol::Wire,
                    },
                    Port {
                        name: "count".into(),
                        direction: PortDirection::Out,
                        width: u64::from(bits),
                        protocol: Protocol::Wire,
                    },
                ],
                clock: Some("clk".into()),
                reset: None,
            },
        })
    }
}

/// Generates code for every node that a kernel of the build implements (the blueprint's
/// `kernels`, or every registered one) into `<output_dir>/<node>/`, with the first
/// backend in the build's order that supports the node; a backend that refuses is
/// reported in the run's diagnostics with its reason. The chosen backend is recorded on
/// the node (op type `Thresholding_hls` or `_rtl`). Without an output directory the code
/// is generated and checked, not written.
///
/// ```
/// use brainsmith_core::{Registry, blueprint::Blueprint};
///
/// // A blueprint: map the thresholds onto acme's kernel, then write each node's code with
/// // the first backend of the list that accepts it (RTL where it can, else HLS).
/// let blueprint = r#"
/// steps = [{ stage = "kernel_mapping" }, "generate_hardware"]
/// kernels = [{ kernel = "acme:Thresholding", backends = ["ThresholdingRtl", "ThresholdingHls"] }]
/// [stages]
/// kernel_mapping = ["acme:InferThresholding"]
/// "#;
/// let path = std::env::temp_dir().join(format!("acme-hw-{}.toml", std::process::id()));
/// std::fs::write(&path, blueprint).unwrap();
/// let plan = Blueprint::check_file(&path, Registry::global().unwrap()).unwrap();
/// assert_eq!(plan.items[1].label(), "step acme:generate_hardware");
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[step(tags = ["codegen"], version = "0.4.0")]
pub fn generate_hardware(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    let build = BuildContext {
        target: ctx.target().clone(),
        output_dir: ctx.output_dir().map(ToOwned::to_owned),
    };
    let names = unique_identifiers(model.graph.nodes.iter().map(|n| n.name.as_str()));
    for (i, dir_name) in names.iter().enumerate() {
        let node = &model.graph.nodes[i];
        let Some(choice) = ctx.kernel_for(node)? else {
            continue;
        };
        let prefix = format!("node '{}' ({})", node.name, choice.kernel.qualified_name());
        choice
            .instance
            .check(node, &model.graph)
            .map_err(|e| e.context(format!("kernel '{}'", choice.kernel.qualified_name())))?;
        let mut refusals = Vec::new();
        let mut chosen = None;
        for backend in &choice.backends {
            match backend
                .instance
                .supports(choice.instance.as_ref(), node, &model.graph)
            {
                Ok(()) => {
                    chosen = Some(backend);
                    break;
                }
                Err(e) => refusals.push((backend.backend.qualified_name().to_owned(), e)),
            }
        }
        let Some(backend) = chosen else {
            let reasons: Vec<String> = refusals
                .iter()
                .map(|(b, e)| format!("{b}: {}", e.message()))
                .collect();
            return Err(PluginError::new(format!(
                "{prefix}: no backend of the build supports it ({})",
                if reasons.is_empty() {
                    "the build has none".into()
                } else {
                    reasons.join("; ")
                }
            )));
        };
        for (refused, e) in &refusals {
            ctx.warn(
                node.name.clone(),
                format!(
                    "{refused} refused it: {}; fell back to {}",
                    e.message(),
                    backend.backend.qualified_name()
                ),
            );
        }
        let generated = backend
            .instance
            .generate(choice.instance.as_ref(), node, &model.graph, &build)
            .map_err(|e| e.context(&prefix))?;
        if let Some(dir) = ctx.output_dir() {
            let dir = dir.join(dir_name);
            std::fs::create_dir_all(&dir)?;
            for file in generated.sources.iter().chain(&generated.params) {
                std::fs::write(dir.join(&file.path), &file.contents)?;
            }
        }
        let backend = backend.backend;
        specialize(&mut model.graph.nodes[i], backend);
    }
    Ok(())
}
