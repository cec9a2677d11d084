//! The stitched design: one SystemVerilog top connecting every node through AXI-Stream,
//! and one C++ top chaining the nodes through `hls::stream`s.
//!
//! Every tensor between two nodes is one stream. A `StreamingFIFO` node is an instance of
//! its module in the SystemVerilog top; in the C++ top it is the depth of the stream it
//! buffers (`#pragma HLS STREAM depth`), as HLS tools build FIFOs. A node input that is a
//! constant streamed to the node (an MVAU's `internal_decoupled` weights) is fed by the
//! streamer its backend generated (`<node>_memstream`).
//!
//! The C++ top calls each node once per frame in dependency order: each node function
//! processes one frame, so C++ simulation runs the whole accelerator a frame at a time.
//! An RTL node other than a FIFO is called as `<node>_rtl(...)`, a function the
//! co-simulation harness defines around the node's Verilator model
//! ([`super::cosim`]).

use std::fmt::Write as _;

use brainsmith_core::Language;
use brainsmith_core::backend::{PortDirection, Protocol};
use brainsmith_core::kernel::Direction;
use rustc_hash::FxHashMap;

use super::design::Design;

/// The top's name, in both languages.
pub const TOP: &str = "accelerator";

/// A stream of the stitched design.
#[derive(Debug)]
pub struct Wire {
    /// Its name in the tops (`in0`, `out0`, `s3`).
    pub name: String,
    /// Bits per word.
    pub width: u64,
    /// Words it holds in the C++ top (a FIFO's depth; 2 otherwise).
    pub depth: u64,
}

/// How a node's ports connect.
#[derive(Debug)]
pub struct Connection {
    /// (port name, wire index) for every data port of the node's interface.
    pub ports: Vec<(String, usize)>,
    /// The weight streamer feeding a port, if any: (port, wire index).
    pub streamer: Option<(String, usize)>,
}

/// The design's streams and each node's connections.
#[derive(Debug)]
pub struct Netlist {
    /// Every stream; `in0` is the first, `out0` the last.
    pub wires: Vec<Wire>,
    /// Per node (in design order).
    pub connections: Vec<Connection>,
}

/// Connects the design's nodes by their tensors. An error names a node whose port has no
/// tensor, or a stream whose two ends disagree on its width.
pub fn netlist(design: &Design, constants: &dyn Fn(&str) -> bool) -> Result<Netlist, String> {
    let mut wires: Vec<Wire> = Vec::new();
    let mut by_tensor: FxHashMap<String, usize> = FxHashMap::default();
    let width_in = design
        .nodes
        .iter()
        .find_map(|n| {
            let slot = n.inputs.iter().position(|t| *t == design.input)?;
            n.stream(Direction::In, slot).map(|s| s.width())
        })
        .ok_or("no node reads the accelerator's input")?;
    wires.push(Wire {
        name: "in0".into(),
        width: width_in,
        depth: 2,
    });
    by_tensor.insert(design.input.clone(), 0);
    let mut connections = Vec::new();
    for node in &design.nodes {
        let label = format!("node '{}' ({})", node.name, node.backend_short);
        // A FIFO's output is the stream it buffers, made as deep as the FIFO.
        if let Some(depth) = node.fifo_depth {
            let (Some(input), Some(output)) = (node.inputs.first(), node.outputs.first()) else {
                return Err(format!("{label}: a FIFO has one input and one output"));
            };
            let &w = by_tensor.get(input).ok_or_else(|| {
                format!("{label}: its input '{input}' is written by no earlier node")
            })?;
            wires[w].depth = wires[w].depth.max(depth);
            by_tensor.insert(output.clone(), w);
            connections.push(Connection {
                ports: vec![("in0".into(), w), ("out0".into(), w)],
                streamer: None,
            });
            continue;
        }
        let mut ports = Vec::new();
        let mut streamer = None;
        for port in &node.generated.interface.ports {
            if port.protocol != Protocol::AxiStream {
                continue;
            }
            let (direction, slot) = match port.direction {
                PortDirection::In => (Direction::In, port_slot(&port.name, "in")),
                PortDirection::Out => (Direction::Out, port_slot(&port.name, "out")),
            };
            let slot = slot.ok_or_else(|| {
                format!(
                    "{label}: port '{}' is not named in<k> or out<k>, so no tensor is known for \
                     it",
                    port.name
                )
            })?;
            let tensors = if direction == Direction::In {
                &node.inputs
            } else {
                &node.outputs
            };
            let tensor = tensors.get(slot).ok_or_else(|| {
                format!("{label}: port '{}' has no tensor at slot {slot}", port.name)
            })?;
            if direction == Direction::In && constants(tensor) {
                let wire = wires.len();
                wires.push(Wire {
                    name: format!("{}_weights", node.ident),
                    width: port.width,
                    depth: 2,
                });
                streamer = Some((port.name.clone(), wire));
                ports.push((port.name.clone(), wire));
                continue;
            }
            let wire = match by_tensor.get(tensor) {
                Some(&w) => w,
                None if direction == Direction::Out => {
                    let w = wires.len();
                    wires.push(Wire {
                        name: format!("s{w}"),
                        width: port.width,
                        depth: 2,
                    });
                    by_tensor.insert(tensor.clone(), w);
                    w
                }
                None => {
                    return Err(format!(
                        "{label}: its input '{tensor}' is written by no earlier node"
                    ));
                }
            };
            if wires[wire].width != port.width {
                return Err(format!(
                    "{label}: port '{}' is {} bits wide, but stream '{tensor}' carries {} bits \
                     (a width converter is missing: run InsertDwc)",
                    port.name, port.width, wires[wire].width
                ));
            }
            ports.push((port.name.clone(), wire));
        }
        connections.push(Connection { ports, streamer });
    }
    let out = *by_tensor
        .get(&design.output)
        .ok_or("no node writes the accelerator's output")?;
    if out == 0 {
        return Err("the accelerator's output is its input: it computes nothing".into());
    }
    wires[out].name = "out0".into();
    Ok(Netlist { wires, connections })
}

/// The HLS sources of `node` that define its functions (its top, its weight streamer), as
/// paths in its directory; none for a FIFO or an RTL node.
pub fn hls_sources(node: &super::design::DesignNode) -> Vec<String> {
    if node.is_fifo() || node.language != Language::Hls {
        return Vec::new();
    }
    let mut paths: Vec<String> = node
        .generated
        .sources
        .first()
        .map(|f| f.path.clone())
        .into_iter()
        .collect();
    let memstream = format!("{}_memstream.hpp", node.ident);
    if node.generated.sources.iter().any(|f| f.path == memstream) {
        paths.push(memstream);
    }
    paths
}

fn port_slot(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// The C++ top: `void accelerator(in0, out0)`, every node called once per frame.
pub fn cpp_top(design: &Design, net: &Netlist) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// {TOP}: the accelerator's {} nodes chained through streams, one frame per call \
         (generated by brainsmith)",
        design.nodes.len()
    );
    s.push_str("#pragma once\n#include <ap_int.h>\n#include <hls_stream.h>\n");
    // With BRAINSMITH_NODE_PROTOTYPES only the nodes' declarations: a simulation compiles
    // each node on its own, in parallel and in less memory.
    s.push_str("#ifndef BRAINSMITH_NODE_PROTOTYPES\n");
    for node in &design.nodes {
        for path in hls_sources(node) {
            let _ = writeln!(s, "#include \"../nodes/{}/{path}\"", node.ident);
        }
    }
    s.push_str("#else\n");
    for (node, conn) in design.nodes.iter().zip(&net.connections) {
        if node.is_fifo() {
            continue;
        }
        let params: Vec<String> = conn
            .ports
            .iter()
            .map(|(_, w)| format!("hls::stream<ap_uint<{}>> &", net.wires[*w].width))
            .collect();
        let function = if node.language == Language::Hls {
            node.generated.interface.top.clone()
        } else {
            format!("{}_rtl", node.ident)
        };
        let _ = writeln!(s, "void {function}({});", params.join(", "));
        if let Some((_, w)) = conn.streamer {
            let _ = writeln!(
                s,
                "void {}_memstream(hls::stream<ap_uint<{}>> &);",
                node.ident, net.wires[w].width
            );
        }
    }
    s.push_str("#endif\n");
    let (first, last) = (&net.wires[0], net.wires.iter().find(|w| w.name == "out0"));
    let last_width = last.map_or(first.width, |w| w.width);
    let _ = writeln!(
        s,
        "\nvoid {TOP}(hls::stream<ap_uint<{}>> &in0, hls::stream<ap_uint<{last_width}>> &out0) {{",
        first.width
    );
    s.push_str("#pragma HLS INTERFACE axis port=in0\n#pragma HLS INTERFACE axis port=out0\n");
    s.push_str("#pragma HLS INTERFACE ap_ctrl_none port=return\n#pragma HLS DATAFLOW\n");
    for w in &net.wires {
        if w.name == "in0" || w.name == "out0" {
            continue;
        }
        let _ = writeln!(
            s,
            "  static hls::stream<ap_uint<{}>> {}(\"{}\");\n#pragma HLS STREAM variable={} depth={}",
            w.width, w.name, w.name, w.name, w.depth
        );
    }
    for (node, conn) in design.nodes.iter().zip(&net.connections) {
        if node.is_fifo() {
            continue;
        }
        if let Some((_, wire)) = conn.streamer {
            let _ = writeln!(s, "  {}_memstream({});", node.ident, net.wires[wire].name);
        }
        let args: Vec<&str> = conn
            .ports
            .iter()
            .map(|(_, w)| net.wires[*w].name.as_str())
            .collect();
        let function = if node.language == Language::Hls {
            node.generated.interface.top.clone()
        } else {
            format!("{}_rtl", node.ident)
        };
        let _ = writeln!(s, "  {function}({});", args.join(", "));
    }
    s.push_str("}\n");
    s
}

/// The SystemVerilog top: every node an instance of its module, connected by AXI-Stream
/// (`<port>_tdata`, `_tvalid`, `_tready`), all on one clock and active-low reset. Every
/// stream is a bundle `w<k>`; a FIFO reads its bundle and drives `<fifo>_q`, which the
/// stream's readers read instead.
pub fn sv_top(design: &Design, net: &Netlist) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// {TOP}: the accelerator's {} nodes connected through AXI-Stream (generated by \
         brainsmith)",
        design.nodes.len()
    );
    let out_wire = net.wires.iter().position(|w| w.name == "out0").unwrap_or(0);
    let (wi, wo) = (net.wires[0].width, net.wires[out_wire].width);
    let _ = writeln!(
        s,
        "module {TOP} (\n  input  logic ap_clk,\n  input  logic ap_rst_n,\n  \
         input  logic [{}:0] in0_tdata,\n  input  logic in0_tvalid,\n  output logic in0_tready,\n  \
         output logic [{}:0] out0_tdata,\n  output logic out0_tvalid,\n  input  logic out0_tready\n);",
        wi - 1,
        wo - 1
    );
    let bundle = |name: &str, width: u64| {
        format!(
            "  logic [{}:0] {name}_tdata;\n  logic {name}_tvalid;\n  logic {name}_tready;\n",
            width - 1
        )
    };
    // What the readers of each stream read: the stream, or the FIFO's output after it.
    let mut read: Vec<String> = (0..net.wires.len()).map(|w| format!("w{w}")).collect();
    for (w, wire) in net.wires.iter().enumerate() {
        s.push_str(&bundle(&format!("w{w}"), wire.width));
    }
    for (node, conn) in design.nodes.iter().zip(&net.connections) {
        if node.is_fifo()
            && let Some((_, w)) = conn.ports.first()
        {
            let q = format!("{}_q", node.ident);
            s.push_str(&bundle(&q, net.wires[*w].width));
            read[*w] = q;
        }
    }
    let _ = writeln!(
        s,
        "  assign w0_tdata = in0_tdata;\n  assign w0_tvalid = in0_tvalid;\n  \
         assign in0_tready = w0_tready;\n  assign out0_tdata = {o}_tdata;\n  \
         assign out0_tvalid = {o}_tvalid;\n  assign {o}_tready = out0_tready;",
        o = read[out_wire]
    );
    for (node, conn) in design.nodes.iter().zip(&net.connections) {
        let iface = &node.generated.interface;
        if let Some((_, w)) = &conn.streamer {
            let _ = writeln!(
                s,
                "\n  {m}_memstream {m}_memstream_i (\n    .ap_clk(ap_clk),\n    .ap_rst_n(ap_rst_n),\n    \
                 .out0_tdata(w{w}_tdata),\n    .out0_tvalid(w{w}_tvalid),\n    .out0_tready(w{w}_tready)\n  );",
                m = node.ident,
            );
        }
        let mut pins = Vec::new();
        if let Some(clk) = &iface.clock {
            pins.push(format!(".{clk}(ap_clk)"));
        }
        if let Some(rst) = &iface.reset {
            pins.push(format!(".{rst}(ap_rst_n)"));
        }
        for (port, w) in &conn.ports {
            let wire = match (node.is_fifo(), port.starts_with("in")) {
                (true, true) => format!("w{w}"),
                (true, false) => format!("{}_q", node.ident),
                (false, true) if Some((port.clone(), *w)) == conn.streamer => format!("w{w}"),
                (false, true) => read[*w].clone(),
                (false, false) => format!("w{w}"),
            };
            for sig in ["tdata", "tvalid", "tready"] {
                pins.push(format!(".{port}_{sig}({wire}_{sig})"));
            }
        }
        let _ = writeln!(
            s,
            "\n  {} {}_i (\n    {}\n  );",
            iface.top,
            node.ident,
            pins.join(",\n    ")
        );
    }
    s.push_str("endmodule\n");
    s
}
