//! [`ThresholdingRtl`]: SystemVerilog for the thresholding layer.

use std::fmt::Write as _;

use brainsmith_core::attrs::AttrEnum as _;
use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use super::rtl::{self, Bits};
use crate::kernels::{MemMode, Thresholding};

/// Most thresholds per channel the RTL backend builds: it compares them all at once, a
/// comparator each per lane.
pub const THRESHOLDING_RTL_MAX_STEPS: u64 = 1023;

/// The thresholding layer as one SystemVerilog module of our own (Verilator's subset): an
/// AXI-Stream of packed input words (`PE` lanes, lane 0 in the least significant bits) in,
/// one of packed output words out, one word per cycle through a two-stage pipeline.
/// Lane `p` of word `nf` is channel `nf * PE + p`; the first stage registers the word and
/// reads its channels' thresholds from a table (`<top>_params.svh`, one entry of
/// `PE x numSteps` thresholds per word), the second compares every threshold at once and
/// registers `ActVal` plus the count reached, modulo the output's width (a bipolar output
/// is the bit `count`). Refuses thresholds that are not `internal_embedded` or that can be
/// written at run time, types other than integers of at most 32 bits, and more than
/// [`THRESHOLDING_RTL_MAX_STEPS`] thresholds per channel.
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend};
/// use brainsmith_plugins::{InferThresholding, backends::ThresholdingRtl, kernels::Thresholding};
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, ports, qonnx};
///
/// // Three thresholds on UINT8, per tensor: a UINT2 output, one value a word.
/// let mt = qonnx("MultiThreshold", ["x", "t"], ["y"]).text("out_dtype", "UINT2");
/// let mut m = Sketch::new().int_input("x", &[1, 3], "UINT8").constant("t", &[1, 3], &[10.0, 100.0, 200.0])
///     .node(mt).output("y").build();
/// assert!(apply(&InferThresholding, &mut m));
/// let rtl: &dyn DynBackend = &ThresholdingRtl;
/// assert_eq!(m.graph.nodes[0].attr_str("mem_mode"), Some("internal_embedded"));
/// let out = rtl.generate(&Thresholding, &m.graph.nodes[0], &m.graph, &BuildContext::default());
/// assert_eq!(ports(&out.unwrap()), [("in0", 8), ("out0", 2)]);
/// ```
#[backend(kernel = Thresholding, language = rtl, name = "Thresholding_rtl", priority = 5, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct ThresholdingRtl;

impl Backend for ThresholdingRtl {
    type Kernel = Thresholding;
    type Attrs = ();

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let a = node.attrs_of_kernel();
        if a.mem_mode != MemMode::Embedded {
            return Err(node.error(format!(
                "the RTL backend builds its thresholds into the module; mem_mode is '{}', set \
                 it to 'internal_embedded'",
                a.mem_mode.as_str()
            )));
        }
        if a.runtime_writeable {
            return Err(node.error(
                "the RTL backend's thresholds are constants, not writable at run time; set \
                 runtime_writeable_weights to 0 or use the HLS backend",
            ));
        }
        for (what, dt) in [("input", a.input), ("output", a.output)] {
            if !dt.is_integer() || dt.bitwidth() > 32 {
                return Err(node.error(format!(
                    "the {what} type {dt} is not an integer type of at most 32 bits"
                )));
            }
        }
        if a.steps > THRESHOLDING_RTL_MAX_STEPS {
            return Err(node.error(format!(
                "the RTL backend compares every threshold at once; numSteps is {}, more than \
                 {THRESHOLDING_RTL_MAX_STEPS}; use the HLS backend",
                a.steps
            )));
        }
        Ok(())
    }

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        let a = node.attrs_of_kernel();
        let top = identifier(node.name());
        let rows = node.kernel.thresholds(node)?;
        let (ib, ob) = (a.input.bitwidth(), a.output.bitwidth());
        let (in_w, out_w) = (a.pe * u64::from(ib), a.pe * u64::from(ob));
        let depth = a.depth();
        // Thresholds beyond the input's values are reached always or never: clamped to
        // `lo ..= hi + 1` they compare the same, in a width that holds the input.
        let (lo, hi) = rtl::int_range(a.input);
        let cw = rtl::signed_bits(lo, hi + 1);
        let row_w = a.pe * a.steps * u64::from(cw);

        let entries: Vec<Bits> = (0..depth)
            .map(|nf| {
                let mut word = Bits::default();
                for p in 0..a.pe {
                    for &t in Thresholding::row(&rows, (nf * a.pe + p) as usize) {
                        let t = (t as i128).clamp(lo, hi + 1);
                        word.push(t as u64, cw);
                    }
                }
                word
            })
            .collect();
        let mut params = String::new();
        let _ = writeln!(
            params,
            "// {top}: thresholds (generated by brainsmith), one entry per input word: lane p's\n\
             // {} thresholds of {cw} bits at p * {}, ascending, lowest first.",
            a.steps,
            a.steps * u64::from(cw)
        );
        rtl::rom(&mut params, "THRESHOLDS", row_w, &entries);

        let mut s = String::new();
        rtl::module_header(
            &mut s,
            &top,
            &format!(
                "Thresholding of {} channels, PE {}, {} steps, {} -> {}",
                a.channels, a.pe, a.steps, a.input, a.output
            ),
            in_w,
            out_w,
        );
        let _ = writeln!(s, "    `include \"{top}_params.svh\"\n");
        let _ = writeln!(
            s,
            "    // The pipeline moves when the output register is empty or being taken."
        );
        s.push_str("    logic en;\n    assign en = !out0_tvalid || out0_tready;\n");
        s.push_str("    assign in0_tready = en;\n\n");
        s.push_str("    // Stage 1: the input word and its channels' thresholds.\n");
        let fold_w = rtl::index_bits(depth);
        let index = if depth > 1 {
            let _ = writeln!(
                s,
                "    logic [{}:0] fold; // the word's place in its vector",
                fold_w - 1
            );
            "fold"
        } else {
            "0"
        };
        let _ = writeln!(
            s,
            "    logic v1;\n    logic [{}:0] x1;\n    logic [{}:0] t1;",
            in_w - 1,
            row_w - 1
        );
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) begin\n            v1 <= 1'b0;\n");
        if depth > 1 {
            s.push_str("            fold <= '0;\n");
        }
        s.push_str("        end else if (en) begin\n            v1 <= in0_tvalid;\n");
        if depth > 1 {
            let _ = writeln!(
                s,
                "            if (in0_tvalid) fold <= fold == {} ? '0 : fold + {};",
                rtl::literal(i128::from(depth - 1), fold_w),
                rtl::literal(1, fold_w)
            );
        }
        s.push_str("        end\n");
        s.push_str("        if (en && in0_tvalid) begin\n");
        let _ = writeln!(
            s,
            "            x1 <= in0_tdata;\n            t1 <= THRESHOLDS[{index}];"
        );
        s.push_str("        end\n    end\n\n");

        let bias = if a.output == QuantType::Bipolar {
            // Bipolar travels as one bit: +1 is 1, -1 is 0, so the count itself.
            0
        } else {
            a.act_val
        };
        let _ = writeln!(
            s,
            "    // Stage 2: per lane, {bias} (ActVal) plus the count of thresholds reached,\n\
             \x20   // modulo 2^{ob}."
        );
        let _ = writeln!(s, "    logic [{}:0] y;", out_w - 1);
        s.push_str("    always_comb begin\n");
        let _ = writeln!(s, "        for (int p = 0; p < {}; p++) begin", a.pe);
        let lane = format!("y[p * {ob} +: {ob}]");
        let _ = writeln!(
            s,
            "            {lane} = {};",
            rtl::literal(i128::from(bias), ob)
        );
        let _ = writeln!(s, "            for (int t = 0; t < {}; t++)", a.steps);
        let x = rtl::decode(a.input, &format!("x1[p * {ib} +: {ib}]"), cw);
        let _ = writeln!(
            s,
            "                {lane} = {lane} + {ob}'({x} >= $signed(t1[(p * {} + t) * {cw} +: {cw}]));",
            a.steps
        );
        s.push_str("        end\n    end\n");
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) out0_tvalid <= 1'b0;\n");
        s.push_str("        else if (en) out0_tvalid <= v1;\n");
        s.push_str("        if (en && v1) out0_tdata <= y;\n    end\nendmodule\n");

        Ok(rtl::streaming(top, s, Some(params), in_w, out_w))
    }
}
