//! Simulation of generated RTL: SystemVerilog compiled with Verilator into a C++ model,
//! clocked by a testbench that drives the top's AXI-Stream ports.
//!
//! The testbench feeds input words through `in0_tdata`/`in0_tvalid`/`in0_tready` and
//! drains `out0_tdata`/`out0_tvalid`/`out0_tready`, each side stalled at random from a
//! seed ([`Stalls`]): `in0_tvalid` is offered on a cycle with some probability (and, as
//! AXI-Stream requires, held with its word until taken), `out0_tready` is raised with
//! another. It checks the top's side of the protocol as it goes: an output word offered
//! and not taken is offered again, unchanged, on the next cycle; no word comes out after
//! the expected ones; every input word is taken. While `in0_tvalid` is low, `in0_tdata`
//! carries random bits, so a design that reads data without its valid is caught; Verilator
//! starts every register at random bits, so one that forgets a reset is too.
//!
//! Cycles are rising clock edges counted from the first one after reset (cycle 0). The
//! run reports the cycle of every input and output transfer ([`RtlRun`]); from them,
//! [`RtlRun::frames`] gives each frame's first input transfer and last output transfer,
//! and [`RtlRun::interval`] the steady-state cycles per frame of frames streamed back to
//! back; a kernel's `cycles` estimates the first (less the pipeline's latency) and bounds
//! the second.
//!
//! Words are packed as [`crate::sim`] packs them (FINN's packing, lane 0 in the least
//! significant bits; a word wider than 64 bits is its 64-bit chunks, least significant
//! first). Verilator holds a port of more than 64 bits as 32-bit words (`VlWide`); the
//! testbench converts.
//!
//! Verilator runs with `-Wall`: a generated source that does not lint cleanly does not
//! build. The C++ model is compiled without optimisation (`-O0`), since the designs
//! simulated are small and the compiler's time dominates.

use std::path::{Path, PathBuf};
use std::process::Command;

use brainsmith_core::Generated;

pub use crate::sim::SimError;

/// Verilator: `$VERILATOR`, else `verilator`. An error names the package that provides it.
pub fn verilator() -> Result<PathBuf, SimError> {
    let bin =
        std::env::var_os("VERILATOR").map_or_else(|| PathBuf::from("verilator"), PathBuf::from);
    match Command::new(&bin).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(bin),
        _ => Err(SimError(format!(
            "RTL simulation needs Verilator (5.0 or later), and `{}` cannot be run; install it \
             (Debian: apt-get install verilator) or set VERILATOR",
            bin.display()
        ))),
    }
}

/// How the testbench stalls the streams: each cycle, `in0_tvalid` rises (when a word is
/// left and none is already offered) with probability `valid_percent`%, and
/// `out0_tready` is high with probability `ready_percent`%, drawn from `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalls {
    /// The random sequence.
    pub seed: u64,
    /// Percent of cycles a new input word is offered on (1 to 100).
    pub valid_percent: u32,
    /// Percent of cycles the output is ready on (1 to 100).
    pub ready_percent: u32,
}

impl Stalls {
    /// No stalls: a word offered on every cycle, the output always ready. The run then
    /// measures the top's own throughput and latency.
    pub const NONE: Stalls = Stalls {
        seed: 1,
        valid_percent: 100,
        ready_percent: 100,
    };

    /// Random stalls on both sides, from `seed`: input offered on 60% of the cycles,
    /// output ready on 50%.
    pub fn random(seed: u64) -> Stalls {
        Stalls {
            seed,
            valid_percent: 60,
            ready_percent: 50,
        }
    }
}

/// A Verilator model of one generated RTL node, with its testbench, built.
#[derive(Debug)]
pub struct RtlSim {
    exe: PathBuf,
    in_width: u64,
    out_width: u64,
}

/// What one run of an [`RtlSim`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtlRun {
    /// The output words, in order (each its 64-bit chunks).
    pub words: Vec<Vec<u64>>,
    /// The cycle of each input word's transfer.
    pub in_cycles: Vec<u64>,
    /// The cycle of each output word's transfer.
    pub out_cycles: Vec<u64>,
}

/// One frame of a run: its first input transfer and last output transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTiming {
    /// The cycle its first input word was taken.
    pub first_in: u64,
    /// The cycle its last output word was taken.
    pub last_out: u64,
}

impl FrameTiming {
    /// Cycles from the first input transfer to the last output transfer, both included.
    pub fn cycles(&self) -> u64 {
        self.last_out.saturating_sub(self.first_in) + 1
    }
}

impl RtlRun {
    /// The timing of each frame, a frame being `in_per_frame` input and `out_per_frame`
    /// output words; `None` when the words are not whole frames.
    pub fn frames(&self, in_per_frame: usize, out_per_frame: usize) -> Option<Vec<FrameTiming>> {
        if in_per_frame == 0
            || out_per_frame == 0
            || !self.in_cycles.len().is_multiple_of(in_per_frame)
            || self.in_cycles.len() / in_per_frame != self.out_cycles.len() / out_per_frame
            || !self.out_cycles.len().is_multiple_of(out_per_frame)
        {
            return None;
        }
        Some(
            self.in_cycles
                .chunks(in_per_frame)
                .zip(self.out_cycles.chunks(out_per_frame))
                .map(|(i, o)| FrameTiming {
                    first_in: i[0],
                    last_out: o[o.len() - 1],
                })
                .collect(),
        )
    }

    /// Steady-state cycles per frame: between the last output transfers of the first and
    /// the last frame, divided by the frames between them. Meaningful for frames streamed
    /// back to back without stalls ([`Stalls::NONE`]); `None` for fewer than two frames.
    pub fn interval(&self, out_per_frame: usize) -> Option<f64> {
        if out_per_frame == 0 || !self.out_cycles.len().is_multiple_of(out_per_frame) {
            return None;
        }
        let frames = self.out_cycles.len() / out_per_frame;
        if frames < 2 {
            return None;
        }
        let first = self.out_cycles[out_per_frame - 1];
        let last = self.out_cycles[self.out_cycles.len() - 1];
        Some((last - first) as f64 / (frames - 1) as f64)
    }
}

/// Writes `generated` (sources and parameter files) and a testbench into `dir`, and builds
/// them with Verilator into one executable. `in_width` and `out_width` are the widths of
/// the top's `in0_tdata` and `out0_tdata`; its clock is `ap_clk`, its reset the active-low
/// `ap_rst_n`.
pub fn compile_rtl(
    dir: &Path,
    generated: &Generated,
    in_width: u64,
    out_width: u64,
) -> Result<RtlSim, SimError> {
    let io = |e: std::io::Error| SimError(format!("{}: {e}", dir.display()));
    if in_width == 0 || out_width == 0 {
        return Err(SimError(format!(
            "stream widths {in_width} and {out_width}: a stream carries at least one bit"
        )));
    }
    let bin = verilator()?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let dir = dir.canonicalize().map_err(io)?;
    for f in generated.sources.iter().chain(&generated.params) {
        std::fs::write(dir.join(&f.path), &f.contents).map_err(io)?;
    }
    let top = &generated.interface.top;
    let sources: Vec<PathBuf> = generated
        .sources
        .iter()
        .filter(|f| f.path.ends_with(".sv") || f.path.ends_with(".v"))
        .map(|f| dir.join(&f.path))
        .collect();
    if sources.is_empty() {
        return Err(SimError(format!(
            "the backend generated no SystemVerilog source for '{top}'"
        )));
    }
    std::fs::write(dir.join("tb.cpp"), testbench(in_width, out_width)).map_err(io)?;
    let exe = dir.join("sim");
    let out = Command::new(&bin)
        .args(["--cc", "--exe", "--build", "-Wall", "--quiet-exit"])
        .args(["--x-assign", "unique", "--x-initial", "unique"])
        .args(["--top-module", top, "--prefix", "Vtop", "-j", "1"])
        .args(["-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"])
        .arg("-Mdir")
        .arg(dir.join("obj_dir"))
        .arg(format!("-I{}", dir.display()))
        .args(&sources)
        .arg(dir.join("tb.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .map_err(|e| SimError(format!("cannot run {}: {e}", bin.display())))?;
    if !out.status.success() {
        return Err(SimError(format!(
            "Verilator cannot build the generated RTL of '{top}' (in {}):\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(RtlSim {
        exe,
        in_width,
        out_width,
    })
}

/// The C++ statements moving a port of `width` bits from (`to_port`) or to the 64-bit
/// chunks `c`.
pub(crate) fn port_copy(port: &str, width: u64, to_port: bool) -> String {
    if width <= 64 {
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        return if to_port {
            format!("top->{port} = c[0] & {mask}ULL;")
        } else {
            format!("c[0] = (uint64_t)top->{port};")
        };
    }
    let n32 = width.div_ceil(32);
    let last = width - 32 * (n32 - 1);
    let last_mask = if last == 32 {
        u64::from(u32::MAX)
    } else {
        (1u64 << last) - 1
    };
    if to_port {
        format!(
            "for (int i = 0; i < {n32}; i++) top->{port}[i] = (uint32_t)(c[i / 2] >> (32 * (i % 2)));\n    \
             top->{port}[{}] &= {last_mask}U;",
            n32 - 1
        )
    } else {
        format!(
            "for (int i = 0; i < {}; i++) c[i] = 0;\n    \
             for (int i = 0; i < {n32}; i++) c[i / 2] |= (uint64_t)top->{port}[i] << (32 * (i % 2));",
            width.div_ceil(64)
        )
    }
}

fn testbench(in_width: u64, out_width: u64) -> String {
    let (ci, co) = (in_width.div_ceil(64), out_width.div_ceil(64));
    let set_in = port_copy("in0_tdata", in_width, true);
    let get_out = port_copy("out0_tdata", out_width, false);
    format!(
        r#"// Drives the Verilated top through its AXI-Stream ports with words read from stdin,
// stalled at random; writes each transfer's cycle and the output words to stdout.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <vector>
#include "Vtop.h"
#include "verilated.h"

static uint64_t state;
static uint64_t next_random() {{
    // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}}
static bool chance(unsigned percent) {{ return next_random() % 100 < percent; }}

static void set_in(Vtop *top, const uint64_t *c) {{
    {set_in}
}}
static void get_out(Vtop *top, uint64_t *c) {{
    {get_out}
}}
static bool same(const uint64_t *a, const uint64_t *b) {{
    for (int i = 0; i < {co}; i++) if (a[i] != b[i]) return false;
    return true;
}}

int main(int argc, char **argv) {{
    uint64_t seed, n_in, n_out, max_cycles;
    unsigned valid_pct, ready_pct;
    if (std::scanf("%" SCNu64 " %u %u %" SCNu64 " %" SCNu64 " %" SCNu64, &seed, &valid_pct,
                   &ready_pct, &n_in, &n_out, &max_cycles) != 6) return 2;
    std::vector<uint64_t> words(n_in * {ci});
    for (auto &w : words) if (std::scanf("%" SCNu64, &w) != 1) return 2;
    state = seed;
    Verilated::randReset(2);
    Verilated::randSeed((int)(seed % 1000000) + 1);
    Verilated::commandArgs(argc, argv);
    Vtop *top = new Vtop;
    uint64_t garbage[{ci}], c[{co}], pending[{co}];
    top->ap_rst_n = 0;
    top->in0_tvalid = 0;
    top->out0_tready = 0;
    for (int i = 0; i < 4; i++) {{
        top->ap_clk = 0; top->eval();
        top->ap_clk = 1; top->eval();
    }}
    top->ap_rst_n = 1;
    uint64_t in_idx = 0, out_idx = 0, cycle = 0, quiet = 0;
    bool offered = false, was_pending = false;
    for (; cycle < max_cycles; cycle++) {{
        if (!offered && in_idx < n_in && chance(valid_pct)) offered = true;
        top->in0_tvalid = offered;
        if (offered) {{
            set_in(top, &words[in_idx * {ci}]);
        }} else {{
            for (int i = 0; i < {ci}; i++) garbage[i] = next_random();
            set_in(top, garbage);
        }}
        const bool ready = out_idx >= n_out || chance(ready_pct);
        top->out0_tready = ready;
        top->ap_clk = 0;
        top->eval();
        const bool in_fire = offered && top->in0_tready;
        const bool out_valid = top->out0_tvalid;
        if (was_pending) {{
            get_out(top, c);
            if (!out_valid || !same(c, pending)) {{
                std::fprintf(stderr, "RTL simulation: cycle %" PRIu64 ": out0 withdrew or changed "
                             "a word offered and not taken (AXI-Stream holds it until taken)\n", cycle);
                return 4;
            }}
        }}
        if (out_valid) {{
            get_out(top, c);
            if (ready) {{
                if (out_idx >= n_out) {{
                    std::fprintf(stderr, "RTL simulation: cycle %" PRIu64 ": out0 gave a word after "
                                 "the %" PRIu64 " expected\n", cycle, n_out);
                    return 4;
                }}
                std::printf("o %" PRIu64, cycle);
                for (int i = 0; i < {co}; i++) std::printf(" %" PRIu64, c[i]);
                std::printf("\n");
                out_idx++;
            }} else {{
                for (int i = 0; i < {co}; i++) pending[i] = c[i];
            }}
        }}
        was_pending = out_valid && !ready;
        top->ap_clk = 1;
        top->eval();
        if (in_fire) {{
            std::printf("i %" PRIu64 "\n", cycle);
            in_idx++;
            offered = false;
        }}
        // Done once every word is in and out, and the output stayed quiet a while after.
        if (in_idx == n_in && out_idx == n_out && ++quiet > 64) break;
    }}
    top->final();
    delete top;
    if (in_idx != n_in || out_idx != n_out) {{
        std::fprintf(stderr, "RTL simulation: after %" PRIu64 " cycles, in0 took %" PRIu64 " of %"
                     PRIu64 " words and out0 gave %" PRIu64 " of %" PRIu64 "\n", cycle, in_idx, n_in,
                     out_idx, n_out);
        return 4;
    }}
    return 0;
}}
"#
    )
}

impl RtlSim {
    /// Runs the model on `words` (each a word's 64-bit chunks), stalled as `stalls` says,
    /// until it has given `expected` output words (and none after them); an error says
    /// what the simulation saw.
    pub fn run(
        &self,
        words: &[Vec<u64>],
        expected: usize,
        stalls: Stalls,
    ) -> Result<RtlRun, SimError> {
        let (ci, co) = (
            self.in_width.div_ceil(64) as usize,
            self.out_width.div_ceil(64) as usize,
        );
        if let Some(w) = words.iter().find(|w| w.len() != ci) {
            return Err(SimError(format!(
                "an input word has {} 64-bit chunks; in0 is {} bits, {ci} chunks",
                w.len(),
                self.in_width
            )));
        }
        for pct in [stalls.valid_percent, stalls.ready_percent] {
            if !(1..=100).contains(&pct) {
                return Err(SimError(format!(
                    "stall percentages are 1 to 100, not {pct}"
                )));
            }
        }
        // Generous: every word waits for its stalls, plus a long pipeline.
        let slowest = u64::from(stalls.valid_percent.min(stalls.ready_percent));
        let max_cycles = 10_000 + (words.len() + expected) as u64 * 100 * 20 / slowest;
        let mut input = format!(
            "{} {} {} {} {expected} {max_cycles}\n",
            stalls.seed,
            stalls.valid_percent,
            stalls.ready_percent,
            words.len()
        );
        crate::sim::push_words(&mut input, words);
        let out = crate::sim::run_fed(&self.exe, &input, "RTL simulation")?;
        let mut run = RtlRun {
            words: Vec::with_capacity(expected),
            in_cycles: Vec::with_capacity(words.len()),
            out_cycles: Vec::with_capacity(expected),
        };
        let bad = |line: &str| SimError(format!("bad line from the simulation: '{line}'"));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut fields = line.split_whitespace();
            let kind = fields.next();
            let numbers = fields
                .map(str::parse)
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| bad(line))?;
            match (kind, numbers.split_first()) {
                (Some("i"), Some((&cycle, []))) => run.in_cycles.push(cycle),
                (Some("o"), Some((&cycle, chunks))) if chunks.len() == co => {
                    run.out_cycles.push(cycle);
                    run.words.push(chunks.to_vec());
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

    #[test]
    fn frames_and_interval_follow_the_transfer_cycles() {
        let run = RtlRun {
            words: vec![vec![0]; 4],
            in_cycles: vec![0, 1, 2, 3],
            out_cycles: vec![3, 4, 7, 8],
        };
        let frames = run.frames(2, 2).unwrap();
        assert_eq!(frames[0].cycles(), 5);
        assert_eq!(frames[1].cycles(), 7);
        assert_eq!(run.interval(2), Some(4.0));
        assert_eq!(run.frames(3, 2), None);
        assert_eq!(run.interval(4), None);
    }

    #[test]
    fn wide_ports_move_as_32_bit_words() {
        let set = port_copy("in0_tdata", 70, true);
        assert!(set.contains("i < 3"), "{set}");
        assert!(set.contains("[2] &= 63U"), "{set}");
        assert_eq!(
            port_copy("x", 64, true),
            "top->x = c[0] & 18446744073709551615ULL;"
        );
    }
}
