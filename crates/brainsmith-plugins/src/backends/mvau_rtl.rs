//! [`MvauRtl`]: SystemVerilog for the MVAU.

use std::fmt::Write as _;

use brainsmith_core::attrs::AttrEnum as _;
use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use super::rtl::{self, Bits};
use crate::kernels::{MemMode, Mvau, MvauAttrs};

/// Most thresholds per output the RTL backend builds: it compares them all at once, a
/// comparator each per lane.
pub const MVAU_RTL_MAX_STEPS: usize = 1023;

/// The MVAU as one SystemVerilog module of our own (Verilator's subset): an AXI-Stream of
/// packed input words (`SIMD` lanes, lane 0 in the least significant bits) in, one of
/// packed output words (`PE` lanes) out.
///
/// Each input vector's `MW / SIMD` words are taken once, kept, and reused for the other
/// `MH / PE - 1` groups of outputs; one word is issued per cycle, so a vector takes
/// `(MH / PE) * (MW / SIMD)` cycles, and the next vector's words are taken right after.
/// A three-stage pipeline follows: the word and its weights (`PE x SIMD` lanes of one
/// entry of a table in `<top>_params.svh`), then `PE` dot products of `SIMD` products (or
/// XNORs, counted, in `binaryXnorMode`), then the accumulation and the activation: `ActVal`
/// plus the count of the output's thresholds the sum reaches (a bipolar output is the bit
/// `count`), or the sum itself without an activation. Sums are exact: the accumulator is as
/// wide as the sums of this node's weights can need, whatever `accDataType` says.
///
/// Refuses weights that are not `internal_embedded`, types other than integers of at most
/// 32 bits, weights that are not values of `weightDataType`, a bipolar output with more
/// than one threshold, and more than [`MVAU_RTL_MAX_STEPS`] thresholds per output.
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend, ir::AttributeValue};
/// use brainsmith_plugins::{InferMvau, backends::MvauRtl, kernels::Mvau};
/// use brainsmith_plugins::sketch::{Sketch, apply, ports};
///
/// let mut m = Sketch::new().int_input("x", &[1, 3], "INT4").constant("w", &[3, 2], &[1.0; 6])
///     .datatype("w", "UINT1").op("MatMul", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&InferMvau, &mut m));
/// // Weights in a decoupled memory are refused: the module embeds them.
/// let rtl: &dyn DynBackend = &MvauRtl;
/// let mut decoupled = m.graph.nodes[0].clone();
/// decoupled.set_attribute("mem_mode", AttributeValue::string("internal_decoupled"));
/// assert!(rtl.supports(&Mvau, &decoupled, &m.graph).is_err());
/// let out = rtl.generate(&Mvau, &m.graph.nodes[0], &m.graph, &BuildContext::default()).unwrap();
/// assert_eq!(ports(&out).len(), 2);
/// assert_eq!(out.interface.clock.as_deref(), Some("ap_clk"));
/// ```
#[backend(kernel = Mvau, language = rtl, name = "MVAU_rtl", priority = 5, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct MvauRtl;

/// The exact range of the node's sums: per output, the extremes of each product over the
/// input's values, added up; the widest over all outputs.
fn sum_range(a: &MvauAttrs, weights: &[f64]) -> (i128, i128) {
    if a.binary_xnor {
        return (0, i128::from(a.mw));
    }
    let (xl, xh) = rtl::int_range(a.input);
    let (mut lo, mut hi) = (0i128, 0i128);
    for col in 0..a.mh as usize {
        let (mut l, mut h) = (0i128, 0i128);
        for row in 0..a.mw as usize {
            let w = weights[row * a.mh as usize + col] as i128;
            l += (xl * w).min(xh * w);
            h += (xl * w).max(xh * w);
        }
        lo = lo.min(l);
        hi = hi.max(h);
    }
    (lo, hi)
}

impl Backend for MvauRtl {
    type Kernel = Mvau;
    type Attrs = ();

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let a = node.attrs_of_kernel();
        if a.mem_mode != MemMode::Embedded {
            return Err(node.error(format!(
                "the RTL backend builds its weights into the module; mem_mode is '{}', set it \
                 to 'internal_embedded'",
                a.mem_mode.as_str()
            )));
        }
        for (what, dt) in [
            ("input", a.input),
            ("weight", a.weights),
            ("output", a.output),
        ] {
            if !dt.is_integer() || dt.bitwidth() > 32 {
                return Err(node.error(format!(
                    "the {what} type {dt} is not an integer type of at most 32 bits"
                )));
            }
        }
        if !a.binary_xnor {
            let (lo, hi) = a.weights.range();
            let weights = node.kernel.weights(node)?;
            let bad = weights.iter().position(|&w| {
                w.fract() != 0.0
                    || w < lo
                    || w > hi
                    || (a.weights == QuantType::Bipolar && w == 0.0)
            });
            if let Some(i) = bad {
                return Err(node.error(format!(
                    "weight [{}, {}] is {}, not a value of weightDataType {}",
                    i as u64 / a.mh,
                    i as u64 % a.mh,
                    weights[i],
                    a.weights
                )));
            }
        }
        if let Some(rows) = node.kernel.thresholds(node)? {
            let steps = rows[0].len();
            if rows.iter().flatten().any(|t| t.is_nan()) {
                return Err(node.error("a threshold is NaN, which no sum reaches"));
            }
            if a.output == QuantType::Bipolar && steps != 1 {
                return Err(node.error(format!(
                    "a bipolar output takes one threshold per output, not {steps}"
                )));
            }
            if steps > MVAU_RTL_MAX_STEPS {
                return Err(node.error(format!(
                    "the RTL backend compares every threshold at once; there are {steps} per \
                     output, more than {MVAU_RTL_MAX_STEPS}; use the HLS backend"
                )));
            }
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
        let weights = node.kernel.weights(node)?;
        let thresholds = node.kernel.thresholds(node)?;
        let (sf, nf) = (a.mw / a.simd, a.mh / a.pe);
        let (ib, ob) = (a.input.bitwidth(), a.output.bitwidth());
        let wb = if a.binary_xnor {
            1
        } else {
            a.weights.bitwidth()
        };
        let (in_w, out_w) = (a.simd * u64::from(ib), a.pe * u64::from(ob));
        // Thresholds beyond the sums are reached always or never: clamped to
        // `lo - 1 ..= hi + 1` they compare the same, in the accumulator's width.
        let (lo, hi) = sum_range(a, &weights);
        let ab = rtl::signed_bits(lo - 1, hi + 1);
        // Products are computed exactly in `pw` bits, then taken modulo 2^ab, as the sums
        // are: the final sum fits, so it is exact.
        let pw = ib + wb + 2;

        // Weights: entry nf * SF + sf holds lane p * SIMD + s = W[sf * SIMD + s][nf * PE + p].
        let w_entry = a.pe * a.simd * u64::from(wb);
        let entries: Vec<Bits> = (0..nf * sf)
            .map(|m| {
                let (n, s0) = (m / sf, m % sf);
                let mut word = Bits::default();
                for p in 0..a.pe {
                    for s in 0..a.simd {
                        let v = weights[((s0 * a.simd + s) * a.mh + n * a.pe + p) as usize];
                        let bits = if a.binary_xnor || a.weights == QuantType::Bipolar {
                            u64::from(v > 0.0)
                        } else {
                            v as i64 as u64
                        };
                        word.push(bits, wb);
                    }
                }
                word
            })
            .collect();
        let mut params = String::new();
        let _ = writeln!(
            params,
            "// {top}: MVAU parameters (generated by brainsmith).\n\
             // WEIGHTS[nf * {sf} + sf], lane p * {} + s: weight [sf * {} + s, nf * {} + p], {wb} bits.",
            a.simd, a.simd, a.pe
        );
        rtl::rom(&mut params, "WEIGHTS", w_entry, &entries);
        let steps = thresholds.as_ref().map_or(0, |rows| rows[0].len() as u64);
        let t_entry = a.pe * steps * u64::from(ab);
        if let Some(rows) = &thresholds {
            let entries: Vec<Bits> = (0..nf)
                .map(|n| {
                    let mut word = Bits::default();
                    for p in 0..a.pe {
                        let col = (n * a.pe + p) as usize;
                        for &t in &rows[if rows.len() == 1 { 0 } else { col }] {
                            // Integer sums reach a fractional threshold at its ceiling.
                            let t = t.ceil().clamp((lo - 1) as f64, (hi + 1) as f64) as i128;
                            word.push(t as u64, ab);
                        }
                    }
                    word
                })
                .collect();
            let _ = writeln!(
                params,
                "// THRESHOLDS[nf], lane p * {steps} + t: output nf * {} + p's threshold t, {ab} \
                 bits, ascending.",
                a.pe
            );
            rtl::rom(&mut params, "THRESHOLDS", t_entry, &entries);
        }

        let mut s = String::new();
        rtl::module_header(
            &mut s,
            &top,
            &format!(
                "MVAU {}x{}, SIMD {}, PE {}, {} x {} -> {}{}",
                a.mw,
                a.mh,
                a.simd,
                a.pe,
                a.input,
                a.weights,
                a.output,
                if a.binary_xnor { ", XNOR-popcount" } else { "" }
            ),
            in_w,
            out_w,
        );
        let _ = writeln!(s, "    `include \"{top}_params.svh\"\n");
        s.push_str("    // The pipeline moves when the output register is empty or being taken.\n");
        s.push_str("    logic en;\n    assign en = !out0_tvalid || out0_tready;\n\n");

        // Issue: one word per cycle, from in0 for the vector's first output group, from
        // the buffer for the others.
        let counter = |s: &mut String, name: &str, n: u64, what: &str| {
            if n > 1 {
                let _ = writeln!(
                    s,
                    "    logic [{}:0] {name}; // {what}",
                    rtl::index_bits(n) - 1
                );
            }
        };
        let is = |name: &str, n: u64, value: u64| {
            if n > 1 {
                format!(
                    "{name} == {}",
                    rtl::literal(i128::from(value), rtl::index_bits(n))
                )
            } else {
                "1'b1".to_owned()
            }
        };
        let step = |s: &mut String, indent: &str, name: &str, n: u64| {
            if n > 1 {
                let w = rtl::index_bits(n);
                let _ = writeln!(
                    s,
                    "{indent}{name} <= {name} == {} ? '0 : {name} + {};",
                    rtl::literal(i128::from(n - 1), w),
                    rtl::literal(1, w)
                );
            }
        };
        s.push_str("    // Issue: one input word per cycle, taken from in0 for a vector's first\n");
        s.push_str("    // group of outputs and from the buffer for the others.\n");
        counter(&mut s, "sf", sf, "the word's place in its vector");
        counter(&mut s, "nf", nf, "the group of outputs being computed");
        counter(&mut s, "addr", nf * sf, "the weights' entry");
        let first_group = is("nf", nf, 0);
        let (first_word, last_word) = (is("sf", sf, 0), is("sf", sf, sf - 1));
        s.push_str("    logic issue;\n");
        let _ = writeln!(s, "    logic [{}:0] word;", in_w - 1);
        if nf > 1 {
            let _ = writeln!(s, "    assign in0_tready = en && {first_group};");
            let _ = writeln!(
                s,
                "    assign issue = en && (!({first_group}) || in0_tvalid);"
            );
            let _ = writeln!(s, "    logic [{}:0] buffer [{sf}];", in_w - 1);
            let at = if sf > 1 { "sf" } else { "0" };
            let _ = writeln!(
                s,
                "    assign word = {first_group} ? in0_tdata : buffer[{at}];"
            );
        } else {
            s.push_str("    assign in0_tready = en;\n    assign issue = en && in0_tvalid;\n");
            s.push_str("    assign word = in0_tdata;\n");
        }

        // Stage 1.
        let activation = thresholds.is_some();
        s.push_str("\n    // Stage 1: the word and its weights.\n");
        let _ = writeln!(
            s,
            "    logic v1;\n    logic [{}:0] x1;\n    logic [{}:0] w1;",
            in_w - 1,
            w_entry - 1
        );
        if sf > 1 {
            s.push_str("    logic first1, last1;\n");
        }
        let nf_w = rtl::index_bits(nf);
        if activation && nf > 1 {
            let _ = writeln!(s, "    logic [{}:0] nf1;", nf_w - 1);
        }
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) begin\n            v1 <= 1'b0;\n");
        for (name, n) in [("sf", sf), ("nf", nf), ("addr", nf * sf)] {
            if n > 1 {
                let _ = writeln!(s, "            {name} <= '0;");
            }
        }
        s.push_str("        end else if (en) begin\n            v1 <= issue;\n");
        if sf > 1 || nf > 1 {
            s.push_str("            if (issue) begin\n");
            step(&mut s, "                ", "sf", sf);
            if nf > 1 {
                let _ = writeln!(s, "                if ({last_word}) begin");
                step(&mut s, "                    ", "nf", nf);
                s.push_str("                end\n");
            }
            step(&mut s, "                ", "addr", nf * sf);
            s.push_str("            end\n");
        }
        s.push_str("        end\n        if (issue) begin\n");
        if nf > 1 {
            let at = if sf > 1 { "sf" } else { "0" };
            let _ = writeln!(
                s,
                "            if ({first_group}) buffer[{at}] <= in0_tdata;"
            );
        }
        let addr = if nf * sf > 1 { "addr" } else { "0" };
        let _ = writeln!(
            s,
            "            x1 <= word;\n            w1 <= WEIGHTS[{addr}];"
        );
        if sf > 1 {
            let _ = writeln!(
                s,
                "            first1 <= {first_word};\n            last1 <= {last_word};"
            );
        }
        if activation && nf > 1 {
            s.push_str("            nf1 <= nf;\n");
        }
        s.push_str("        end\n    end\n\n");

        // Stage 2.
        let xnor = a.binary_xnor;
        let _ = writeln!(
            s,
            "    // Stage 2: per output lane, the sum of {} {}, modulo 2^{ab}.",
            a.simd,
            if xnor {
                "agreements (XNOR) of input and weight bits"
            } else {
                "products"
            }
        );
        let _ = writeln!(
            s,
            "    function automatic logic signed [{}:0] product(input logic [{}:0] x, input logic [{}:0] w);",
            ab - 1,
            ib - 1,
            wb - 1
        );
        if xnor {
            let _ = writeln!(s, "        return {ab}'(x == w);");
        } else {
            let _ = writeln!(s, "        logic signed [{}:0] xv, wv;", pw - 1);
            let _ = writeln!(s, "        xv = {};", rtl::decode(a.input, "x", pw));
            let _ = writeln!(s, "        wv = {};", rtl::decode(a.weights, "w", pw));
            let _ = writeln!(s, "        return {ab}'(xv * wv);");
        }
        s.push_str("    endfunction\n");
        let acc_t = format!("logic signed [{}:0]", ab - 1);
        let _ = writeln!(s, "    {acc_t} dot [{}];", a.pe);
        s.push_str("    always_comb begin\n");
        let _ = writeln!(s, "        for (int p = 0; p < {}; p++) begin", a.pe);
        s.push_str("            dot[p] = '0;\n");
        let _ = writeln!(s, "            for (int s = 0; s < {}; s++)", a.simd);
        let _ = writeln!(
            s,
            "                dot[p] = dot[p] + product(x1[s * {ib} +: {ib}], w1[(p * {} + s) * {wb} +: {wb}]);",
            a.simd
        );
        s.push_str("        end\n    end\n");
        let _ = writeln!(s, "    logic v2;\n    {acc_t} dot2 [{}];", a.pe);
        if sf > 1 {
            s.push_str("    logic first2, last2;\n");
        }
        if activation {
            let _ = writeln!(s, "    logic [{}:0] t2;", t_entry - 1);
        }
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) v2 <= 1'b0;\n        else if (en) v2 <= v1;\n");
        s.push_str("        if (en && v1) begin\n            dot2 <= dot;\n");
        if sf > 1 {
            s.push_str("            first2 <= first1;\n            last2 <= last1;\n");
        }
        if activation {
            let at = if nf > 1 { "nf1" } else { "0" };
            let _ = writeln!(s, "            t2 <= THRESHOLDS[{at}];");
        }
        s.push_str("        end\n    end\n\n");

        // Stage 3.
        let last2 = if sf > 1 { "last2" } else { "1'b1" };
        s.push_str(
            "    // Stage 3: the vector's sums accumulated over its words, then the outputs.\n",
        );
        let _ = writeln!(s, "    {acc_t} sum [{}];", a.pe);
        if sf > 1 {
            let _ = writeln!(s, "    {acc_t} acc [{}];", a.pe);
        }
        let _ = writeln!(s, "    logic [{}:0] y;", out_w - 1);
        s.push_str("    always_comb begin\n");
        let _ = writeln!(s, "        for (int p = 0; p < {}; p++) begin", a.pe);
        if sf > 1 {
            s.push_str("            sum[p] = first2 ? dot2[p] : acc[p] + dot2[p];\n");
        } else {
            s.push_str("            sum[p] = dot2[p];\n");
        }
        let lane = format!("y[p * {ob} +: {ob}]");
        match &thresholds {
            None => {
                let _ = writeln!(s, "            {lane} = {ob}'(sum[p]);");
            }
            Some(_) => {
                let bias = if a.output == QuantType::Bipolar {
                    // Bipolar travels as one bit: +1 is 1, -1 is 0, so the count itself.
                    0
                } else {
                    a.act_val
                };
                let _ = writeln!(
                    s,
                    "            // {bias} (ActVal) plus the count of thresholds reached, modulo 2^{ob}."
                );
                let _ = writeln!(
                    s,
                    "            {lane} = {};",
                    rtl::literal(i128::from(bias), ob)
                );
                let _ = writeln!(s, "            for (int t = 0; t < {steps}; t++)");
                let _ = writeln!(
                    s,
                    "                {lane} = {lane} + {ob}'(sum[p] >= $signed(t2[(p * {steps} + t) * {ab} +: {ab}]));"
                );
            }
        }
        s.push_str("        end\n    end\n");
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        let _ = writeln!(
            s,
            "        if (!ap_rst_n) out0_tvalid <= 1'b0;\n        else if (en) out0_tvalid <= v2 && {last2};"
        );
        if sf > 1 {
            s.push_str("        if (en && v2) acc <= sum;\n");
        }
        let _ = writeln!(s, "        if (en && v2 && {last2}) out0_tdata <= y;");
        s.push_str("    end\nendmodule\n");

        Ok(rtl::streaming(top, s, Some(params), in_w, out_w))
    }
}
