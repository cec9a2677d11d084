//! Simulation of generated hardware: HLS C++ compiled with the system's C++ compiler
//! against the stand-in `ap_int.h` and `hls_stream.h` this crate ships (C++ simulation),
//! driven through packed stream words. A backend's own tests use it to hold the code it
//! generates to its kernel's `execute`, bit for bit (`brainsmith new` writes such a test).
//!
//! ```
//! use brainsmith_core::ir::QuantType;
//! use brainsmith_core::{Generated, GeneratedFile, Interface, sim};
//!
//! // What a backend might generate: max(x, 0) over 4 lanes of INT3 per 12-bit word.
//! let source = r#"
//! #include <ap_int.h>
//! #include <hls_stream.h>
//! void relu(hls::stream<ap_uint<12>> &in0, hls::stream<ap_uint<12>> &out0) {
//!     for (int i = 0; i < 2; i++) {
//!         const ap_uint<12> x = in0.read();
//!         ap_uint<12> y = 0;
//!         for (int l = 0; l < 4; l++) {
//!             const ap_int<3> v = x.range(3 * l + 2, 3 * l);
//!             y.range(3 * l + 2, 3 * l) = v < 0 ? ap_int<3>(0) : v;
//!         }
//!         out0.write(y);
//!     }
//! }
//! "#;
//! let generated = Generated {
//!     sources: vec![GeneratedFile { path: "relu.hpp".into(), contents: source.into() }],
//!     params: Vec::new(),
//!     interface: Interface {
//!         top: "relu".into(),
//!         ports: Vec::new(),
//!         clock: None,
//!         reset: None,
//!     },
//! };
//! let dir = std::env::temp_dir().join(format!("relu-sim-{}", std::process::id()));
//! let simulation = sim::compile_hls(&dir, &generated, 12, 12)?;
//! let x = [-4.0, -1.0, 0.0, 3.0, 2.0, -2.0, 1.0, -3.0];
//! let words = simulation.run(&sim::pack(&x, 4, QuantType::Int(3)), 2)?;
//! assert_eq!(sim::unpack(&words, 4, QuantType::Int(3)), [0.0, 0.0, 0.0, 3.0, 2.0, 0.0, 1.0, 0.0]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), sim::SimError>(())
//! ```
//!
//! Streams carry FINN's packing: lane 0 in the least significant bits of a word, each
//! lane a value's two's complement in its datatype's width (a bipolar value as one bit, 1
//! for +1). [`pack`] and [`unpack`] convert between values and words; a word wider than
//! 64 bits is its 64-bit chunks, least significant first.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Generated;
use crate::ir::QuantType;

/// The stand-in headers: `(file name, text)`.
pub const HEADERS: [(&str, &str); 2] = [
    ("ap_int.h", include_str!("../hls/include/ap_int.h")),
    ("hls_stream.h", include_str!("../hls/include/hls_stream.h")),
];

/// Why a simulation could not run or did not finish.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SimError(pub String);

/// The C++ compiler: `$CXX`, else `g++`. An error names the package that provides it.
pub fn cxx() -> Result<PathBuf, SimError> {
    let cxx = std::env::var_os("CXX").map_or_else(|| PathBuf::from("g++"), PathBuf::from);
    match Command::new(&cxx).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(cxx),
        _ => Err(SimError(format!(
            "C++ simulation needs a C++17 compiler, and `{}` cannot be run; install one \
             (Debian: apt-get install g++) or set CXX",
            cxx.display()
        ))),
    }
}

/// A compiled C++ simulation of one generated HLS node: its input streams fed from
/// words, its output streams read back.
#[derive(Debug)]
pub struct CppSim {
    exe: PathBuf,
    inputs: usize,
    outputs: usize,
}

/// Writes `generated` (sources and parameters), the stand-in headers and a testbench into
/// `dir`, and compiles them into one executable. `in_width` and `out_width` are the
/// stream widths of the top's `in0` and `out0`, its only streams.
pub fn compile_hls(
    dir: &Path,
    generated: &Generated,
    in_width: u64,
    out_width: u64,
) -> Result<CppSim, SimError> {
    compile_hls_streams(dir, generated, &[in_width], &[out_width])
}

/// [`compile_hls`] for a top with several streams: `in0, in1, ...` of `in_widths` and
/// `out0, out1, ...` of `out_widths`, the top's parameters in that order.
pub fn compile_hls_streams(
    dir: &Path,
    generated: &Generated,
    in_widths: &[u64],
    out_widths: &[u64],
) -> Result<CppSim, SimError> {
    let io = |e: std::io::Error| SimError(format!("{}: {e}", dir.display()));
    let include = dir.join("include");
    std::fs::create_dir_all(&include).map_err(io)?;
    for (name, text) in HEADERS {
        std::fs::write(include.join(name), text).map_err(io)?;
    }
    for f in generated.sources.iter().chain(&generated.params) {
        std::fs::write(dir.join(&f.path), &f.contents).map_err(io)?;
    }
    let top = &generated.interface.top;
    let source = generated
        .sources
        .first()
        .ok_or_else(|| SimError("the backend generated no source".into()))?;
    let tb = testbench(top, &source.path, in_widths, out_widths);
    std::fs::write(dir.join("tb.cpp"), tb).map_err(io)?;
    let exe = dir.join("sim");
    let out = Command::new(cxx()?)
        .args(["-std=c++17", "-O1", "-Wno-unknown-pragmas", "-I"])
        .arg(&include)
        .arg("-I")
        .arg(dir)
        .arg(dir.join("tb.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .map_err(|e| SimError(format!("cannot run the C++ compiler: {e}")))?;
    if !out.status.success() {
        return Err(SimError(format!(
            "the generated C++ of '{top}' does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(CppSim {
        exe,
        inputs: in_widths.len(),
        outputs: out_widths.len(),
    })
}

fn testbench(top: &str, header: &str, ins: &[u64], outs: &[u64]) -> String {
    let mut declare = String::new();
    let mut feed = String::new();
    let mut check = String::new();
    let mut args = Vec::new();
    for (i, w) in ins.iter().enumerate() {
        declare.push_str(&format!(
            "    hls::stream<ap_uint<{w}>> in{i}(\"in{i}\");\n"
        ));
        feed.push_str(&format!(
            "    for (unsigned long long i = 0; i < n_in[{i}]; i++) {{\n        \
             ap_uint<{w}> w;\n        if (!read_word(w)) return 2;\n        in{i}.write(w);\n    }}\n"
        ));
        check.push_str(&format!(
            "    if (!in{i}.empty()) {{\n        std::fprintf(stderr, \"C++ simulation: {top} \
             left %zu words of in{i} unread\\n\", in{i}.size());\n        return 4;\n    }}\n"
        ));
        args.push(format!("in{i}"));
    }
    for (o, w) in outs.iter().enumerate() {
        declare.push_str(&format!(
            "    hls::stream<ap_uint<{w}>> out{o}(\"out{o}\");\n"
        ));
        check.push_str(&format!(
            "    if (out{o}.size() != n_out[{o}]) {{\n        std::fprintf(stderr, \"C++ \
             simulation: {top} wrote %zu words to out{o}, expected %llu\\n\", out{o}.size(), \
             n_out[{o}]);\n        return 4;\n    }}\n"
        ));
        args.push(format!("out{o}"));
    }
    let mut drain = String::new();
    for o in 0..outs.len() {
        drain.push_str(&format!(
            "    std::printf(\"#{o}\\n\");\n    while (!out{o}.empty()) write_word(out{o}.read());\n"
        ));
    }
    let (ni, no) = (ins.len(), outs.len());
    format!(
        r#"// Drives '{top}' with words read from stdin; writes its output words to stdout.
#include <cstdio>
#include "{header}"

{WORD_IO}
int main() {{
{declare}    unsigned long long n_in[{ni} + 1], n_out[{no} + 1];
    for (int i = 0; i < {ni}; i++) if (std::scanf("%llu", &n_in[i]) != 1) return 2;
    for (int o = 0; o < {no}; o++) if (std::scanf("%llu", &n_out[o]) != 1) return 2;
{feed}    {top}({args});
{check}{drain}    return 0;
}}
"#,
        args = args.join(", ")
    )
}

impl CppSim {
    /// Runs the simulation on `words` (each a word's 64-bit chunks) and returns the
    /// `expected` output words it wrote; an error carries what the simulation said.
    pub fn run(&self, words: &[Vec<u64>], expected: usize) -> Result<Vec<Vec<u64>>, SimError> {
        let mut out = self.run_streams(&[words.to_vec()], &[expected])?;
        Ok(out.swap_remove(0))
    }

    /// Runs the simulation with the words of each input stream, in order, and returns the
    /// words each output stream wrote, `expected[o]` of output `o`.
    pub fn run_streams(
        &self,
        inputs: &[Vec<Vec<u64>>],
        expected: &[usize],
    ) -> Result<Vec<Vec<Vec<u64>>>, SimError> {
        if inputs.len() != self.inputs || expected.len() != self.outputs {
            return Err(SimError(format!(
                "the simulation has {} input and {} output streams, not {} and {}",
                self.inputs,
                self.outputs,
                inputs.len(),
                expected.len()
            )));
        }
        let mut input = String::new();
        for words in inputs {
            input.push_str(&format!("{} ", words.len()));
        }
        for n in expected {
            input.push_str(&format!("{n} "));
        }
        input.push('\n');
        for words in inputs {
            push_words(&mut input, words);
        }
        let out = run_fed(&self.exe, &input, "simulation")?;
        let mut streams: Vec<Vec<Vec<u64>>> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with('#') {
                streams.push(Vec::new());
                continue;
            }
            let word = line
                .split_whitespace()
                .map(|c| {
                    c.parse()
                        .map_err(|_| SimError(format!("bad output word '{line}'")))
                })
                .collect::<Result<Vec<u64>, SimError>>()?;
            streams
                .last_mut()
                .ok_or_else(|| SimError(format!("output word '{line}' before any stream")))?
                .push(word);
        }
        Ok(streams)
    }
}

/// The C++ side of the word protocol, for a testbench that includes `ap_int.h` and
/// `<cstdio>`: `read_word(w)` reads one `ap_uint<W>` as [`push_words`] writes it (its
/// 64-bit chunks, lowest first, in decimal; `false` at the end of the input), and
/// `write_word(w)` prints one the same way, on its own line.
pub const WORD_IO: &str = r#"template <int W>
static bool read_word(ap_uint<W> &w) {
    for (int c = 0; c * 64 < W; c++) {
        unsigned long long x;
        if (std::scanf("%llu", &x) != 1) return false;
        const int hi = (c * 64 + 63 < W - 1) ? c * 64 + 63 : W - 1;
        w.range(hi, c * 64) = x;
    }
    return true;
}

template <int W>
static void write_word(const ap_uint<W> &w) {
    for (int c = 0; c * 64 < W; c++) {
        const int hi = (c * 64 + 63 < W - 1) ? c * 64 + 63 : W - 1;
        std::printf("%llu ", (unsigned long long)w.range(hi, c * 64));
    }
    std::printf("\n");
}
"#;

/// Appends `words` to a simulation's input, one word (its 64-bit chunks) per line: the
/// text protocol of [`CppSim`]'s testbench, for other simulators to share.
pub fn push_words(input: &mut String, words: &[Vec<u64>]) {
    for w in words {
        for c in w {
            input.push_str(&c.to_string());
            input.push(' ');
        }
        input.push('\n');
    }
}

/// Runs the simulation `exe` with `input` on its stdin; its output, or an error with what
/// it said on stderr (`what`: "simulation", "RTL simulation").
pub fn run_fed(exe: &Path, input: &str, what: &str) -> Result<std::process::Output, SimError> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SimError(format!("cannot run {}: {e}", exe.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| SimError(format!("cannot feed the {what}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SimError(format!("the {what} did not finish: {e}")))?;
    if !out.status.success() {
        return Err(SimError(format!(
            "the {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// The bits of `value` as a lane of `datatype`: two's complement in its width, a bipolar
/// value as 1 for +1 and 0 for -1.
pub fn lane_bits(value: f64, datatype: QuantType) -> u64 {
    let bits = datatype.bitwidth();
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    match datatype {
        QuantType::Bipolar => u64::from(value > 0.0),
        _ => (value as i64 as u64) & mask,
    }
}

/// The value of a lane's bits in `datatype`.
pub fn lane_value(bits: u64, datatype: QuantType) -> f64 {
    let w = datatype.bitwidth();
    match datatype {
        QuantType::Bipolar => {
            if bits & 1 == 1 {
                1.0
            } else {
                -1.0
            }
        }
        QuantType::Int(_) | QuantType::Ternary if w < 64 && bits >> (w - 1) & 1 == 1 => {
            (bits as i64 - (1i64 << w)) as f64
        }
        _ => bits as f64,
    }
}

/// `values` packed `lanes` to a word, lane 0 in the least significant bits.
pub fn pack(values: &[f64], lanes: usize, datatype: QuantType) -> Vec<Vec<u64>> {
    let bits = datatype.bitwidth() as usize;
    let chunks = (lanes * bits).div_ceil(64);
    values
        .chunks(lanes)
        .map(|group| {
            let mut word = vec![0u64; chunks];
            for (lane, &v) in group.iter().enumerate() {
                let b = lane_bits(v, datatype);
                for bit in 0..bits {
                    if b >> bit & 1 == 1 {
                        let at = lane * bits + bit;
                        word[at / 64] |= 1 << (at % 64);
                    }
                }
            }
            word
        })
        .collect()
}

/// The values of `words`, `lanes` per word.
pub fn unpack(words: &[Vec<u64>], lanes: usize, datatype: QuantType) -> Vec<f64> {
    let bits = datatype.bitwidth() as usize;
    words
        .iter()
        .flat_map(|word| {
            (0..lanes).map(move |lane| {
                let mut b = 0u64;
                for bit in 0..bits {
                    let at = lane * bits + bit;
                    if word.get(at / 64).is_some_and(|w| w >> (at % 64) & 1 == 1) {
                        b |= 1 << bit;
                    }
                }
                lane_value(b, datatype)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_pack_lsb_first_and_round_trip() {
        let dt = QuantType::Int(3);
        let words = pack(&[1.0, -1.0, -4.0, 3.0], 2, dt);
        // Lane 0 = 1 (001), lane 1 = -1 (111): 0b111_001.
        assert_eq!(words, [vec![0b111_001], vec![0b011_100]]);
        assert_eq!(unpack(&words, 2, dt), [1.0, -1.0, -4.0, 3.0]);
        let wide = pack(&[1.0; 70], 70, QuantType::Bipolar);
        assert_eq!(wide[0], [u64::MAX, 0b11_1111]);
        assert_eq!(unpack(&wide, 70, QuantType::Bipolar), vec![1.0; 70]);
    }
}
