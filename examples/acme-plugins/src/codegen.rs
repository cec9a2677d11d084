//! The HLS and RTL backends of [`Thresholding`], and the [`generate_hardware`] step.

use std::fmt::Write as _;

use brainsmith_core::ir::{Graph, Node, QuantType};
use brainsmith_core::prelude::*;

use crate::kernel::{Thresholding, ThresholdingParams};

/// Bits of the output count: enough for `steps` (0..=steps).
fn count_bits(steps: usize) -> u32 {
    usize::BITS - steps.leading_zeros()
}

/// The C identifier of a node name.
fn ident(node: &Node) -> String {
    node.name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
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

/// Generates an HLS C++ header: the threshold table and a streaming function that counts,
/// per element, the thresholds reached and applies the output scale and bias.
#[backend(kernel = Thresholding, language = hls, priority = 10, version = "0.3.0", config)]
#[derive(Debug, Config)]
pub struct ThresholdingHls {
    /// The initiation interval of the streaming loop: cycles between two inputs.
    #[config(default = 1)]
    pub ii: u32,
}

impl Backend for ThresholdingHls {
    fn generate(&self, node: &Node, graph: &Graph) -> Result<Vec<GeneratedFile>, PluginError> {
        if self.ii == 0 {
            return Err(PluginError::new(
                "backend configuration `ii` is 0; the initiation interval is at least 1 cycle",
            ));
        }
        let p = ThresholdingParams::read(node, graph)?;
        let name = ident(node);
        let in_t = hls_type(p.input);
        let out_t = hls_type(p.output);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {name}: Thresholding, {} channel(s), {} step(s)",
            p.channels, p.steps
        );
        let _ = writeln!(
            s,
            "#pragma once\n#include <ap_int.h>\n#include <hls_stream.h>\n"
        );
        let _ = writeln!(
            s,
            "static const {in_t} {name}_thresholds[{}][{}] = {{",
            p.thresholds.len(),
            p.steps
        );
        for row in &p.thresholds {
            let values: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            let _ = writeln!(s, "    {{{}}},", values.join(", "));
        }
        let _ = writeln!(s, "}};\n");
        let _ = writeln!(
            s,
            "void {name}(hls::stream<{in_t}> &in, hls::stream<{out_t}> &out, unsigned n) {{"
        );
        let _ = writeln!(s, "    for (unsigned i = 0; i < n; i++) {{");
        let _ = writeln!(s, "#pragma HLS pipeline II={}", self.ii);
        let _ = writeln!(s, "        const {in_t} x = in.read();");
        let row = if p.thresholds.len() == 1 {
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
            "        out.write(({out_t})({} * count{bias}));",
            p.scale
        );
        let _ = writeln!(s, "    }}\n}}");
        Ok(vec![GeneratedFile {
            path: format!("{name}.hpp"),
            contents: s,
        }])
    }
}

/// Generates a SystemVerilog module: a comparator per threshold and an adder tree
/// counting the thresholds each input reaches. Integer input types, thresholds shared by
/// all channels, and an unscaled, unbiased output (the count itself) only.
#[backend(kernel = Thresholding, language = rtl, priority = 5, version = "0.3.0")]
#[derive(Debug, Default)]
pub struct ThresholdingRtl;

impl Backend for ThresholdingRtl {
    fn generate(&self, node: &Node, graph: &Graph) -> Result<Vec<GeneratedFile>, PluginError> {
        let p = ThresholdingParams::read(node, graph)?;
        if !p.input.is_integer() {
            return Err(PluginError::new(format!(
                "node '{}': the RTL backend needs an integer input type, found {}; use the HLS backend",
                node.name, p.input
            )));
        }
        if p.thresholds.len() != 1 {
            return Err(PluginError::new(format!(
                "node '{}': the RTL backend supports thresholds shared by all channels only",
                node.name
            )));
        }
        if p.scale != 1.0 || p.bias != 0.0 {
            return Err(PluginError::new(format!(
                "node '{}': the RTL backend outputs the threshold count, but the node scales it by {} and adds {}; use the HLS backend",
                node.name, p.scale, p.bias
            )));
        }
        let name = ident(node);
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
        for (t, v) in p.thresholds[0].iter().enumerate() {
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
        Ok(vec![GeneratedFile {
            path: format!("{name}.sv"),
            contents: s,
        }])
    }
}

/// Generates code for every node that a kernel of the build implements (the blueprint's
/// `kernels`, or every registered one), with the kernel's first backend, into
/// `<output_dir>/<node>/` (checked, not written, when the build has no output directory).
#[step(tags = ["codegen"], version = "0.3.0")]
pub fn generate_hardware(model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
    for node in &model.graph.nodes {
        let Some(choice) = ctx.kernel_for(node)? else {
            continue;
        };
        let prefix = format!("node '{}' ({})", node.name, choice.kernel.qualified_name());
        choice
            .instance
            .check(node, &model.graph)
            .map_err(|e| e.context(&prefix))?;
        let backend = choice.backend(None).ok_or_else(|| {
            PluginError::new(format!("{prefix}: the build has no backend for the kernel"))
        })?;
        let files = backend
            .instance
            .generate(node, &model.graph)
            .map_err(|e| e.context(&prefix))?;
        if let Some(dir) = ctx.output_dir() {
            let dir = dir.join(ident(node));
            std::fs::create_dir_all(&dir)?;
            for file in files {
                std::fs::write(dir.join(&file.path), file.contents)?;
            }
        }
    }
    Ok(())
}
