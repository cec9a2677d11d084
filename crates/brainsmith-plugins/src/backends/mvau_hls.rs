//! [`MvauHls`]: HLS C++ for the MVAU.

use std::fmt::Write as _;

use brainsmith_core::attrs::AttrEnum as _;
use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use crate::kernels::{MemMode, Mvau};

/// How the HLS backend builds the multipliers.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResType {
    /// The tool's choice.
    #[attr(name = "auto")]
    Auto,
    /// LUTs.
    #[attr(name = "lut")]
    Lut,
    /// DSP slices.
    #[attr(name = "dsp")]
    Dsp,
}

/// Node attributes only the HLS backend reads.
#[derive(Debug, NodeAttrs)]
pub struct MvauHlsAttrs {
    /// What the multipliers are built from (FINN's `resType`).
    #[attr(name = "resType", default = ResType::Auto)]
    pub res_type: ResType,
}

/// The MVAU as one HLS C++ function of our own: an AXI-Stream of packed input words
/// (`SIMD` lanes, lane 0 in the least significant bits) in, one of packed output words
/// (`PE` lanes) out. Each input vector is buffered once and reused for all `MH / PE`
/// output groups; per cycle, `PE x SIMD` products (or XNORs) are accumulated; the
/// thresholds (`MH / PE` per lane) or the accumulator itself make the outputs. The
/// thresholds are constants in a parameter header; so are the weights when they are
/// `internal_embedded`. With `internal_decoupled` weights the unit reads them from a
/// second stream, `in1`, one word of `PE x SIMD` weights per cycle (lane `p * SIMD + s`
/// is weight row `sf * SIMD + s`, column `nf * PE + p`), and the backend also generates
/// the streamer that feeds it, `<top>_memstream` in `<top>_memstream.hpp`: the weights
/// in its parameter header, streamed in that order once per input vector. `external`
/// weights (streamed from outside the accelerator) are refused.
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend};
/// use brainsmith_plugins::{InferMvau, backends::MvauHls, kernels::Mvau};
/// use brainsmith_plugins::sketch::{Sketch, apply, ports};
///
/// // A 2x2 layer of INT2 weights on UINT2 inputs, mapped; its weights go to a parameter file.
/// let mut m = Sketch::new().int_input("x", &[1, 2], "UINT2").constant("w", &[2, 2], &[1.0, -2.0, 0.0, 1.0])
///     .datatype("w", "INT2").op("MatMul", ["x", "w"], ["y"]).output("y").build();
/// assert!(apply(&InferMvau, &mut m));
/// let (hls, g): (&dyn DynBackend, _) = (&MvauHls, &m.graph);
/// hls.supports(&Mvau, &g.nodes[0], g).unwrap();
/// let out = hls.generate(&Mvau, &g.nodes[0], g, &BuildContext::default()).unwrap();
/// assert_eq!(ports(&out).len(), 2);
/// assert!(!out.params.is_empty());
/// ```
#[backend(kernel = Mvau, language = hls, name = "MVAU_hls", priority = 10, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct MvauHls;

impl Backend for MvauHls {
    type Kernel = Mvau;
    type Attrs = MvauHlsAttrs;

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let a = node.attrs_of_kernel();
        if a.mem_mode == MemMode::External {
            return Err(node.error(format!(
                "the HLS backend embeds its weights or streams them from a memory beside \
                 the unit; mem_mode is '{}', set it to 'internal_embedded' or \
                 'internal_decoupled'",
                a.mem_mode.as_str()
            )));
        }
        for (what, dt) in [
            ("input", a.input),
            ("weight", a.weights),
            ("accumulator", a.acc),
        ] {
            if !dt.is_integer() || dt.bitwidth() > 32 {
                return Err(node.error(format!(
                    "the {what} type {dt} is not an integer type of at most 32 bits"
                )));
            }
        }
        if !a.output.is_integer() || a.output.bitwidth() > 32 {
            return Err(node.error(format!(
                "the output type {} is not an integer type of at most 32 bits",
                a.output
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
        let weights = node.kernel.weights(node)?;
        let thresholds = node.kernel.thresholds(node)?;
        let (sf, nf) = (a.mw / a.simd, a.mh / a.pe);
        let (ib, wb, ob, accb) = (
            a.input.bitwidth(),
            a.weights.bitwidth(),
            a.output.bitwidth(),
            a.acc.bitwidth(),
        );
        let (in_w, out_w) = (a.simd * u64::from(ib), a.pe * u64::from(ob));
        let decoupled = a.mem_mode == MemMode::Decoupled;
        let lane_w = if a.binary_xnor { 1 } else { u64::from(wb) };
        let weight_w = a.pe * a.simd * lane_w;

        // Parameters: weights[PE][MW*MH/(PE*SIMD)][SIMD], thresholds[PE][MH/PE][steps].
        let mut params = String::new();
        let _ = writeln!(params, "// {top}: MVAU weights and thresholds (generated)");
        let _ = writeln!(params, "#pragma once\n#include <ap_int.h>\n");
        let wtype = if a.binary_xnor {
            "ap_uint<1>".to_owned()
        } else {
            format!("ap_int<{}>", wb.max(2))
        };
        let _ = writeln!(
            params,
            "static const {wtype} {top}_weights[{}][{}][{}] = {{",
            a.pe,
            sf * nf,
            a.simd
        );
        for p in 0..a.pe {
            params.push_str("  {");
            for m in 0..sf * nf {
                let (n, s0) = (m / sf, m % sf);
                let lanes: Vec<String> = (0..a.simd)
                    .map(|s| {
                        let row = s0 * a.simd + s;
                        let col = n * a.pe + p;
                        let v = weights[(row * a.mh + col) as usize];
                        if a.binary_xnor {
                            u8::from(v > 0.0).to_string()
                        } else {
                            (v as i64).to_string()
                        }
                    })
                    .collect();
                let _ = write!(params, "{{{}}},", lanes.join(","));
            }
            params.push_str("},\n");
        }
        params.push_str("};\n");
        if let Some(rows) = &thresholds {
            let steps = rows[0].len();
            let _ = writeln!(
                params,
                "static const long long {top}_thresholds[{}][{}][{steps}] = {{",
                a.pe, nf
            );
            for p in 0..a.pe {
                params.push_str("  {");
                for n in 0..nf {
                    let row = &rows[if rows.len() == 1 {
                        0
                    } else {
                        (n * a.pe + p) as usize
                    }];
                    // Integer accumulators reach a fractional threshold at its ceiling.
                    let t: Vec<String> =
                        row.iter().map(|v| (v.ceil() as i64).to_string()).collect();
                    let _ = write!(params, "{{{}}},", t.join(","));
                }
                params.push_str("},\n");
            }
            params.push_str("};\n");
        }

        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {top}: MVAU {}x{}, SIMD {}, PE {}, {} x {} -> {} (generated by brainsmith)",
            a.mw, a.mh, a.simd, a.pe, a.input, a.weights, a.output
        );
        super::includes(&mut s, &top, true);
        if decoupled {
            super::signature_streams(&mut s, &top, &[in_w, weight_w], &[out_w]);
        } else {
            super::signature(&mut s, &top, in_w, out_w);
        }
        let _ = writeln!(s, "  ap_uint<{in_w}> buf[{sf}];");
        let _ = writeln!(s, "  for (unsigned v = 0; v < {}; v++) {{", a.frames());
        let _ = writeln!(s, "    for (unsigned nf = 0; nf < {nf}; nf++) {{");
        let _ = writeln!(s, "      ap_int<{accb}> acc[{}];", a.pe);
        let _ = writeln!(
            s,
            "      for (unsigned p = 0; p < {}; p++) acc[p] = 0;",
            a.pe
        );
        let _ = writeln!(s, "      for (unsigned sf = 0; sf < {sf}; sf++) {{");
        let _ = writeln!(s, "#pragma HLS pipeline II=1");
        let _ = writeln!(s, "        if (nf == 0) buf[sf] = in0.read();");
        let _ = writeln!(s, "        const ap_uint<{in_w}> word = buf[sf];");
        if decoupled {
            let _ = writeln!(s, "        const ap_uint<{weight_w}> wword = in1.read();");
        }
        let _ = writeln!(s, "        for (unsigned p = 0; p < {}; p++) {{", a.pe);
        let _ = writeln!(s, "#pragma HLS unroll");
        let _ = writeln!(s, "          for (unsigned s = 0; s < {}; s++) {{", a.simd);
        let _ = writeln!(s, "#pragma HLS unroll");
        let _ = writeln!(
            s,
            "            const ap_uint<{ib}> raw = word.range(s * {ib} + {}, s * {ib});",
            ib - 1
        );
        if decoupled {
            let value = if a.binary_xnor {
                "(long long)wraw".to_owned()
            } else {
                super::lane_value(a.weights).replace("raw", "wraw")
            };
            let _ = writeln!(
                s,
                "            const ap_uint<{lane_w}> wraw = wword.range((p * {simd} + s) * {lane_w} + {}, (p * {simd} + s) * {lane_w});",
                lane_w - 1,
                simd = a.simd
            );
            let _ = writeln!(s, "            const long long w = {value};");
        } else {
            let _ = writeln!(
                s,
                "            const auto w = {top}_weights[p][nf * {sf} + sf][s];"
            );
        }
        let x = super::lane_value(a.input);
        if a.binary_xnor {
            let _ = writeln!(
                s,
                "            acc[p] += ((long long)raw == (long long)w) ? 1 : 0;"
            );
        } else {
            let _ = writeln!(s, "            const ap_int<{}> x = {x};", ib + 1);
            let _ = writeln!(s, "            acc[p] += (long long)x * (long long)w;");
        }
        let _ = writeln!(s, "          }}\n        }}\n      }}");
        let _ = writeln!(s, "      ap_uint<{out_w}> out = 0;");
        let _ = writeln!(s, "      for (unsigned p = 0; p < {}; p++) {{", a.pe);
        let _ = writeln!(s, "#pragma HLS unroll");
        match &thresholds {
            None => {
                let _ = writeln!(s, "        const long long y = acc[p];");
            }
            Some(rows) => {
                let _ = writeln!(s, "        long long count = 0;");
                let _ = writeln!(
                    s,
                    "        for (unsigned t = 0; t < {}; t++) {{",
                    rows[0].len()
                );
                let _ = writeln!(s, "#pragma HLS unroll");
                let _ = writeln!(
                    s,
                    "          count += ((long long)acc[p] >= {top}_thresholds[p][nf][t]) ? 1 : 0;"
                );
                let _ = writeln!(s, "        }}");
                if a.output == QuantType::Bipolar {
                    // Bipolar travels as one bit: +1 is 1, -1 is 0, so the count itself.
                    let _ = writeln!(s, "        const long long y = count;");
                } else {
                    let _ = writeln!(s, "        const long long y = count + ({});", a.act_val);
                }
            }
        }
        let _ = writeln!(
            s,
            "        out.range(p * {ob} + {}, p * {ob}) = (unsigned long long)y;",
            ob - 1
        );
        let _ = writeln!(s, "      }}\n      out0.write(out);\n    }}\n  }}\n}}");

        if !decoupled {
            return Ok(super::streaming(top, s, Some(params), in_w, out_w));
        }
        // The weight streamer: every word of the weights, in the unit's reading order, once
        // per input vector.
        let mut m = String::new();
        let _ = writeln!(
            m,
            "// {top}_memstream: the weights of {top}, {} per word (generated by brainsmith)",
            a.pe * a.simd
        );
        m.push_str("#pragma once\n#include <ap_int.h>\n#include <hls_stream.h>\n");
        let _ = writeln!(m, "#include \"{top}_params.hpp\"\n");
        let _ = writeln!(
            m,
            "void {top}_memstream(hls::stream<ap_uint<{weight_w}>> &out0) {{"
        );
        m.push_str("#pragma HLS INTERFACE axis port=out0\n");
        m.push_str("#pragma HLS INTERFACE ap_ctrl_none port=return\n");
        let _ = writeln!(m, "  for (unsigned v = 0; v < {}; v++) {{", a.frames());
        let _ = writeln!(m, "    for (unsigned i = 0; i < {}; i++) {{", sf * nf);
        let _ = writeln!(m, "#pragma HLS pipeline II=1");
        let _ = writeln!(m, "      ap_uint<{weight_w}> word = 0;");
        let _ = writeln!(m, "      for (unsigned p = 0; p < {}; p++)", a.pe);
        let _ = writeln!(m, "        for (unsigned s = 0; s < {}; s++)", a.simd);
        // A lane is the weight's two's complement; a bipolar weight is the bit `w > 0`.
        let bits = if a.weights == QuantType::Bipolar && !a.binary_xnor {
            format!("((long long){top}_weights[p][i][s] > 0 ? 1ULL : 0ULL)")
        } else {
            format!("(unsigned long long)(long long){top}_weights[p][i][s]")
        };
        let _ = writeln!(
            m,
            "          word.range((p * {simd} + s) * {lane_w} + {}, (p * {simd} + s) * {lane_w}) = {bits};",
            lane_w - 1,
            simd = a.simd
        );
        let _ = writeln!(m, "      out0.write(word);\n    }}\n  }}\n}}");
        let mut generated =
            super::streaming_many(top.clone(), s, Some(params), &[in_w, weight_w], &[out_w]);
        generated.sources.push(GeneratedFile {
            path: format!("{top}_memstream.hpp"),
            contents: m,
        });
        Ok(generated)
    }
}
