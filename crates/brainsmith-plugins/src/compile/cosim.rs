//! Co-simulation of the whole accelerator in one executable: the C++ top
//! ([`super::stitch::cpp_top`]) with every HLS node as its C++ and every RTL node as its
//! Verilator-generated C++ model, wrapped as a function (`<node>_rtl`) that clocks the
//! model until it has written one frame and counts the cycles that took.
//!
//! The testbench reads the frames' input words from stdin, calls the top once per frame,
//! and writes the output words and, per RTL node and frame, the cycles it was clocked.
//! An RTL node that stops writing is stopped after a bounded number of cycles, naming the
//! node and the stream it waits on, so a deadlock ends with a message, not a hang.
//!
//! The executable is built once into `<dir>/build` and reused while its sources are
//! unchanged (a digest of them is kept beside it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_core::Language;
use brainsmith_core::kernel::Direction;

use super::design::Design;
use super::stitch::{Netlist, TOP};
use crate::sim::{HEADERS, SimError, WORD_IO, cxx};

/// A built co-simulation.
#[derive(Debug)]
pub struct Cosim {
    exe: PathBuf,
    in_width: u64,
    out_width: u64,
    rtl_nodes: Vec<String>,
}

/// What a run gave: the output words, and per RTL node the cycles of each frame.
#[derive(Debug, Default)]
pub struct CosimRun {
    /// Every output word (its 64-bit chunks), in order.
    pub words: Vec<Vec<u64>>,
    /// (node name, cycles of each frame) per RTL node other than FIFOs.
    pub rtl_cycles: Vec<(String, Vec<u64>)>,
}

/// The wrapper of one RTL node: `void <ident>_rtl(in0, out0)` clocks its Verilator model
/// until it has written `words_out` words.
fn rtl_wrapper(ident: &str, top: &str, wi: u64, wo: u64, words_out: u64, limit: u64) -> String {
    let model = format!("V{ident}");
    let (ci, co) = (wi.div_ceil(64), wo.div_ceil(64));
    let set_in = crate::rtlsim::port_copy("in0_tdata", wi, true);
    let get_out = crate::rtlsim::port_copy("out0_tdata", wo, false);
    format!(
        r#"
// {ident}: the RTL node '{top}' as one function per frame around its Verilator model.
#include "{model}.h"
static {model} *{ident}_model = nullptr;
static std::vector<unsigned long long> {ident}_cycles;
static void {ident}_tick({model} *top) {{
    top->ap_clk = 0; top->eval();
    top->ap_clk = 1; top->eval();
}}
void {ident}_rtl(hls::stream<ap_uint<{wi}>> &in0, hls::stream<ap_uint<{wo}>> &out0) {{
    {model} *top = {ident}_model;
    if (!top) {{
        top = {ident}_model = new {model};
        top->ap_rst_n = 0; top->in0_tvalid = 0; top->out0_tready = 0;
        for (int i = 0; i < 4; i++) {ident}_tick(top);
        top->ap_rst_n = 1;
    }}
    unsigned long long produced = 0, cycles = 0;
    bool have = false;
    ap_uint<{wi}> word;
    uint64_t c[{cmax}];
    while (produced < {words_out}ULL) {{
        if (cycles >= {limit}ULL) {{
            std::fprintf(stderr, "co-simulation: node '{ident}' stalled: after %llu cycles it has "
                         "written %llu of {words_out} words of a frame to out0, and %zu words wait "
                         "on in0\n", cycles, produced, in0.size() + (have ? 1 : 0));
            std::exit(5);
        }}
        if (!have && !in0.empty()) {{ word = in0.read(); have = true; }}
        top->in0_tvalid = have;
        for (int i = 0; i < {ci}; i++) {{
            const int hi = (i * 64 + 63 < {wi} - 1) ? i * 64 + 63 : {wi} - 1;
            c[i] = have ? (uint64_t)word.range(hi, i * 64) : 0;
        }}
        {set_in}
        top->out0_tready = 1;
        top->ap_clk = 0;
        top->eval();
        const bool in_fire = have && top->in0_tready;
        if (top->out0_tvalid) {{
            {get_out}
            ap_uint<{wo}> out = 0;
            for (int i = 0; i < {co}; i++) {{
                const int hi = (i * 64 + 63 < {wo} - 1) ? i * 64 + 63 : {wo} - 1;
                out.range(hi, i * 64) = c[i];
            }}
            out0.write(out);
            produced++;
        }}
        top->ap_clk = 1;
        top->eval();
        if (in_fire) have = false;
        cycles++;
    }}
    if (have) {{
        std::fprintf(stderr, "co-simulation: node '{ident}' wrote its frame before taking all of "
                     "its input\n");
        std::exit(5);
    }}
    {ident}_cycles.push_back(cycles);
}}
"#,
        cmax = ci.max(co),
    )
}

/// The testbench: frames of input words from stdin, the top once per frame, output
/// words and RTL cycles to stdout.
fn testbench(design: &Design, net: &Netlist, rtl: &[(String, String)]) -> String {
    let wi = net.wires[0].width;
    let wo = net
        .wires
        .iter()
        .find(|w| w.name == "out0")
        .map_or(wi, |w| w.width);
    let mut report = String::new();
    for (ident, _) in rtl {
        let _ = write!(
            report,
            "    std::printf(\"c {ident}\");\n    for (auto c : {ident}_cycles) std::printf(\" %llu\", c);\n    std::printf(\"\\n\");\n"
        );
    }
    let _ = design;
    format!(
        r#"// Runs the stitched accelerator on frames read from stdin (generated by brainsmith).
#include <cstdint>
#include <cstdio>
#include <vector>
#include <ap_int.h>
#include <hls_stream.h>
#include "verilated.h"
{wrappers}
#include "../stitched/{TOP}.hpp"

{WORD_IO}
int main() {{
    unsigned long long frames, in_words, out_words;
    if (std::scanf("%llu %llu %llu", &frames, &in_words, &out_words) != 3) return 2;
    hls::stream<ap_uint<{wi}>> in0("in0");
    hls::stream<ap_uint<{wo}>> out0("out0");
    for (unsigned long long f = 0; f < frames; f++) {{
        for (unsigned long long i = 0; i < in_words; i++) {{
            ap_uint<{wi}> w;
            if (!read_word(w)) return 2;
            in0.write(w);
        }}
        {TOP}(in0, out0);
        if (out0.size() != out_words || !in0.empty()) {{
            std::fprintf(stderr, "co-simulation: frame %llu: the accelerator wrote %zu of %llu "
                         "output words and left %zu input words unread\n", f, out0.size(),
                         out_words, in0.size());
            return 4;
        }}
        while (!out0.empty()) {{
            const ap_uint<{wo}> w = out0.read();
            std::printf("o");
            for (int c = 0; c * 64 < {wo}; c++) {{
                const int hi = (c * 64 + 63 < {wo} - 1) ? c * 64 + 63 : {wo} - 1;
                std::printf(" %llu", (unsigned long long)w.range(hi, c * 64));
            }}
            std::printf("\n");
        }}
    }}
{report}    return 0;
}}
"#,
        wrappers = rtl
            .iter()
            .map(|(_, w)| w.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// A digest of the texts (FNV-1a, 64 bits): whether a build is still current.
fn digest(parts: &[Vec<u8>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.iter().copied().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Builds the co-simulation of the design written under `root` (`root/nodes/<node>/`,
/// `root/stitched/`) into `root/sim/`, or reuses the build there when its sources are
/// unchanged.
pub fn build(root: &Path, design: &Design, net: &Netlist) -> Result<Cosim, SimError> {
    let dir = root.join("sim");
    let io = |e: std::io::Error| SimError(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir.join("include")).map_err(io)?;
    for (name, text) in HEADERS {
        std::fs::write(dir.join("include").join(name), text).map_err(io)?;
    }
    let mut rtl = Vec::new();
    let mut rtl_names = Vec::new();
    for (node, conn) in design.nodes.iter().zip(&net.connections) {
        if node.language != Language::Rtl || node.is_fifo() {
            continue;
        }
        let ins = conn
            .ports
            .iter()
            .filter(|(p, _)| p.starts_with("in"))
            .count();
        if ins != 1 || conn.ports.len() != 2 || conn.streamer.is_some() {
            return Err(SimError(format!(
                "node '{}' ({}): the co-simulation runs RTL nodes with one input and one output \
                 stream; this one has {} ports",
                node.name,
                node.backend_short,
                conn.ports.len()
            )));
        }
        let wi = net.wires[conn.ports[0].1].width;
        let wo = net.wires[conn.ports[1].1].width;
        let words_out = node.stream(Direction::Out, 0).map_or(1, |s| s.transfers());
        let words_in = node.stream(Direction::In, 0).map_or(1, |s| s.transfers());
        // Every word waits at most a few cycles in a node that keeps up; the bound leaves
        // room for ten times the estimate and a long pipeline.
        let limit = 100_000 + 10 * (node.cycles.unwrap_or(0) + words_in + words_out);
        rtl.push((
            node.ident.clone(),
            rtl_wrapper(
                &node.ident,
                &node.generated.interface.top,
                wi,
                wo,
                words_out,
                limit,
            ),
        ));
        rtl_names.push(node.name.clone());
    }
    let tb = testbench(design, net, &rtl);
    // Whether the build is current: a digest of everything it is made from, as on disk.
    let mut texts: Vec<Vec<u8>> = vec![tb.clone().into_bytes()];
    let mut files: Vec<PathBuf> = vec![root.join("stitched").join(format!("{TOP}.hpp"))];
    for node in &design.nodes {
        for f in node.generated.sources.iter().chain(&node.generated.params) {
            files.push(root.join("nodes").join(&node.ident).join(&f.path));
        }
    }
    for f in &files {
        texts.push(
            std::fs::read(f).map_err(|e| SimError(format!("cannot read {}: {e}", f.display())))?,
        );
    }
    let stamp = format!("{:016x}", digest(&texts));
    let build = dir.join("build");
    let exe = build.join(TOP);
    let stamp_file = build.join("digest");
    let made = |exe: PathBuf| Cosim {
        exe,
        in_width: net.wires[0].width,
        out_width: net
            .wires
            .iter()
            .find(|w| w.name == "out0")
            .map_or(0, |w| w.width),
        rtl_nodes: rtl_names.clone(),
    };
    if exe.is_file() && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
        return Ok(made(exe));
    }
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build).map_err(io)?;
    std::fs::write(dir.join("tb.cpp"), &tb).map_err(io)?;
    let cxx = cxx()?;
    // Each HLS node in a translation unit of its own.
    let mut units: Vec<(String, PathBuf)> = Vec::new();
    for node in &design.nodes {
        let sources = super::stitch::hls_sources(node);
        if sources.is_empty() {
            continue;
        }
        let unit = build.join(format!("n_{}.cpp", node.ident));
        let text: String = sources
            .iter()
            .map(|p| format!("#include \"../../nodes/{}/{p}\"\n", node.ident))
            .collect();
        std::fs::write(&unit, text).map_err(io)?;
        units.push((node.name.clone(), unit));
    }
    let include = dir.join("include");
    let compile_unit = |(name, unit): &(String, PathBuf)| -> Result<PathBuf, SimError> {
        let object = unit.with_extension("o");
        compile_object(
            &cxx,
            std::slice::from_ref(&include),
            unit,
            object,
            &format!("node '{name}'"),
        )
    };
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let mut objects: Vec<PathBuf> = Vec::new();
    for chunk in units.chunks(jobs.max(1)) {
        let done: Vec<Result<PathBuf, SimError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|u| scope.spawn(|| compile_unit(u)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(SimError("a compile thread failed".into())))
                })
                .collect()
        });
        for o in done {
            objects.push(o?);
        }
    }
    let mut includes: Vec<PathBuf> = Vec::new();
    let mut verilated_lib = None;
    if !rtl.is_empty() {
        let bin = crate::rtlsim::verilator()?;
        for node in design
            .nodes
            .iter()
            .filter(|n| n.language == Language::Rtl && !n.is_fifo())
        {
            let mdir = build.join(format!("obj_{}", node.ident));
            let node_dir = root.join("nodes").join(&node.ident);
            let svs: Vec<PathBuf> = node
                .generated
                .sources
                .iter()
                .filter(|f| f.path.ends_with(".sv") || f.path.ends_with(".v"))
                .map(|f| node_dir.join(&f.path))
                .collect();
            let out = Command::new(&bin)
                .args(["--cc", "--build", "-Wall", "--quiet-exit"])
                .args(["--x-assign", "unique", "--x-initial", "unique", "-j"])
                .arg(jobs.to_string())
                .args(["--top-module", &node.generated.interface.top])
                .args(["--prefix", &format!("V{}", node.ident)])
                .args(["-MAKEFLAGS", "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1"])
                .arg("-Mdir")
                .arg(&mdir)
                .arg(format!("-I{}", node_dir.display()))
                .args(&svs)
                .output()
                .map_err(|e| SimError(format!("cannot run {}: {e}", bin.display())))?;
            if !out.status.success() {
                return Err(SimError(format!(
                    "Verilator cannot build node '{}':\n{}{}",
                    node.name,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            objects.push(mdir.join(format!("V{}__ALL.a", node.ident)));
            includes.push(mdir.clone());
        }
        // Verilator's runtime, once for every model.
        let root_dir = verilator_root()?;
        let inc = root_dir.join("include");
        for runtime in ["verilated.cpp", "verilated_threads.cpp"] {
            objects.push(compile_object(
                &cxx,
                &[inc.clone(), inc.join("vltstd")],
                &inc.join(runtime),
                build.join(runtime).with_extension("o"),
                &format!("Verilator's runtime ({runtime})"),
            )?);
        }
        verilated_lib = Some(());
    }
    let mut command = Command::new(&cxx);
    command
        .args(["-std=c++17", "-O1", "-Wno-unknown-pragmas"])
        .arg("-DBRAINSMITH_NODE_PROTOTYPES")
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(&dir);
    if !rtl.is_empty() {
        let root_dir = verilator_root()?;
        command
            .arg("-I")
            .arg(root_dir.join("include"))
            .arg("-I")
            .arg(root_dir.join("include").join("vltstd"));
        for inc in &includes {
            command.arg("-I").arg(inc);
        }
    } else {
        // No Verilator model: an empty `verilated.h` keeps the testbench one text.
        std::fs::write(include.join("verilated.h"), "#pragma once\n").map_err(io)?;
    }
    command.arg(dir.join("tb.cpp"));
    command.args(&objects);
    if verilated_lib.is_some() {
        command.args(["-lpthread", "-latomic"]);
    }
    let out = command
        .arg("-o")
        .arg(&exe)
        .output()
        .map_err(|e| SimError(format!("cannot run the C++ compiler: {e}")))?;
    if !out.status.success() {
        return Err(SimError(format!(
            "the co-simulation of the stitched design does not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::write(&stamp_file, &stamp).map_err(io)?;
    Ok(made(exe))
}

/// Compiles `source` with `includes` into `object`; `what` names it in an error.
fn compile_object(
    cxx: &Path,
    includes: &[PathBuf],
    source: &Path,
    object: PathBuf,
    what: &str,
) -> Result<PathBuf, SimError> {
    let mut command = Command::new(cxx);
    command.args(["-std=c++17", "-O1", "-Wno-unknown-pragmas", "-c"]);
    for inc in includes {
        command.arg("-I").arg(inc);
    }
    let out = command
        .arg(source)
        .arg("-o")
        .arg(&object)
        .output()
        .map_err(|e| SimError(format!("cannot run the C++ compiler: {e}")))?;
    if !out.status.success() {
        return Err(SimError(format!(
            "the C++ of {what} does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(object)
}

/// `verilator --getenv VERILATOR_ROOT`.
fn verilator_root() -> Result<PathBuf, SimError> {
    let bin = crate::rtlsim::verilator()?;
    let out = Command::new(&bin)
        .args(["--getenv", "VERILATOR_ROOT"])
        .output()
        .map_err(|e| SimError(format!("cannot run {}: {e}", bin.display())))?;
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if root.is_empty() {
        return Err(SimError(
            "Verilator does not say where its headers are (VERILATOR_ROOT)".into(),
        ));
    }
    Ok(PathBuf::from(root))
}

impl Cosim {
    /// Runs `frames` frames of `in_words` input words each (all of them in `words`); each
    /// frame must give `out_words` words.
    pub fn run(
        &self,
        words: &[Vec<u64>],
        frames: usize,
        out_words: usize,
    ) -> Result<CosimRun, SimError> {
        if frames == 0 || !words.len().is_multiple_of(frames) {
            return Err(SimError(format!(
                "{} input words are not {frames} whole frames",
                words.len()
            )));
        }
        let ci = self.in_width.div_ceil(64) as usize;
        if let Some(w) = words.iter().find(|w| w.len() != ci) {
            return Err(SimError(format!(
                "an input word has {} 64-bit chunks; the input stream is {} bits",
                w.len(),
                self.in_width
            )));
        }
        let mut input = format!("{frames} {} {out_words}\n", words.len() / frames);
        crate::sim::push_words(&mut input, words);
        let out = crate::sim::run_fed(&self.exe, &input, "co-simulation")?;
        let co = self.out_width.div_ceil(64) as usize;
        let mut run = CosimRun::default();
        let bad = |line: &str| SimError(format!("bad line from the co-simulation: '{line}'"));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("o") => {
                    let word = fields
                        .map(str::parse)
                        .collect::<Result<Vec<u64>, _>>()
                        .map_err(|_| bad(line))?;
                    if word.len() != co {
                        return Err(bad(line));
                    }
                    run.words.push(word);
                }
                Some("c") => {
                    let ident = fields.next().ok_or_else(|| bad(line))?;
                    let cycles = fields
                        .map(str::parse)
                        .collect::<Result<Vec<u64>, _>>()
                        .map_err(|_| bad(line))?;
                    let k = run.rtl_cycles.len();
                    let name = self
                        .rtl_nodes
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| ident.to_owned());
                    run.rtl_cycles.push((name, cycles));
                }
                _ => return Err(bad(line)),
            }
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::design::DesignNode;
    use crate::compile::stitch;
    use brainsmith_core::backend::{Port, PortDirection, Protocol};
    use brainsmith_core::ir::QuantType;
    use brainsmith_core::kernel::{Stream, Target};
    use brainsmith_core::{Generated, GeneratedFile, Interface};

    /// An RTL node that takes every word and never writes one.
    const STUCK: &str = "module stuck (
  input  logic ap_clk,
  input  logic ap_rst_n,
  input  logic [7:0] in0_tdata,
  input  logic in0_tvalid,
  output logic in0_tready,
  output logic [7:0] out0_tdata,
  output logic out0_tvalid,
  input  logic out0_tready
);
  logic [7:0] last;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) last <= '0;
    else if (in0_tvalid) last <= in0_tdata ^ {7'b0, out0_tready};
  end
  assign in0_tready = 1'b1;
  assign out0_tdata = last;
  assign out0_tvalid = 1'b0;
endmodule
";

    fn port(name: &str, direction: PortDirection) -> Port {
        Port {
            name: name.into(),
            direction,
            width: 8,
            protocol: Protocol::AxiStream,
        }
    }

    fn stream(direction: Direction) -> Stream {
        Stream {
            direction,
            index: 0,
            normal_shape: vec![1, 4],
            folded_shape: vec![1, 4, 1],
            datatype: QuantType::UInt(8),
        }
    }

    /// A deadlock ends after a bounded number of cycles with the node and the stream it
    /// waits on, not with a hang.
    #[test]
    fn a_stalled_rtl_node_is_stopped_and_named() {
        if crate::rtlsim::verilator().is_err() {
            assert!(
                std::env::var_os("BRAINSMITH_SKIP_RTL").is_some(),
                "this test needs Verilator (apt-get install verilator)"
            );
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let generated = Generated {
            sources: vec![GeneratedFile {
                path: "stuck.sv".into(),
                contents: STUCK.into(),
            }],
            params: Vec::new(),
            interface: Interface {
                top: "stuck".into(),
                ports: vec![
                    port("in0", PortDirection::In),
                    port("out0", PortDirection::Out),
                ],
                clock: Some("ap_clk".into()),
                reset: Some("ap_rst_n".into()),
            },
        };
        let design = Design {
            nodes: vec![DesignNode {
                name: "stuck".into(),
                ident: "stuck".into(),
                kernel: "test:Stuck".into(),
                kernel_short: "Stuck".into(),
                backend: "test:Stuck_rtl".into(),
                backend_short: "Stuck_rtl".into(),
                language: Language::Rtl,
                reason: None,
                folding: Vec::new(),
                streams: vec![stream(Direction::In), stream(Direction::Out)],
                cycles: Some(4),
                resources: None,
                generated,
                inputs: vec!["x".into()],
                outputs: vec!["y".into()],
                fifo_depth: None,
            }],
            input: "x".into(),
            output: "y".into(),
            target: Target::default(),
        };
        let net = stitch::netlist(&design, &|_| false).unwrap();
        let node_dir = root.path().join("nodes/stuck");
        std::fs::create_dir_all(&node_dir).unwrap();
        std::fs::write(node_dir.join("stuck.sv"), STUCK).unwrap();
        let stitched = root.path().join("stitched");
        std::fs::create_dir_all(&stitched).unwrap();
        std::fs::write(
            stitched.join(format!("{TOP}.hpp")),
            stitch::cpp_top(&design, &net),
        )
        .unwrap();
        let sim = build(root.path(), &design, &net).unwrap();
        let words: Vec<Vec<u64>> = (1..=4).map(|v| vec![v]).collect();
        let e = sim.run(&words, 1, 4).unwrap_err().to_string();
        assert!(e.contains("node 'stuck' stalled"), "{e}");
        assert!(e.contains("0 of 4 words of a frame to out0"), "{e}");
    }
}
