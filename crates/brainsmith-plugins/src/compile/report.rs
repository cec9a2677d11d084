//! The compile report (`report.json`, `report.txt`), the part table it checks the design
//! against, and the picture's content.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use brainsmith_core::kernel::{Direction, Resources};

use super::design::Design;
use crate::svg::{PicNode, Picture, Role};

/// A device's resources.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Part {
    /// The part number.
    pub name: &'static str,
    /// The board it is best known on.
    pub board: &'static str,
    /// What it has.
    pub capacity: Resources,
}

const fn part(
    name: &'static str,
    board: &'static str,
    lut: u64,
    bram18: u64,
    uram: u64,
    dsp: u64,
) -> Part {
    Part {
        name,
        board,
        capacity: Resources {
            lut,
            bram18,
            uram,
            dsp,
        },
    }
}

/// The parts `--part` knows (FINN's boards), from the vendors' product tables.
pub const PARTS: &[Part] = &[
    part("xc7z020clg400-1", "PYNQ-Z1, PYNQ-Z2", 53_200, 280, 0, 220),
    part("xc7z010clg400-1", "Zybo Z7-10", 17_600, 120, 0, 80),
    part("xczu3eg-sbva484-1-e", "Ultra96", 70_560, 432, 0, 360),
    part("xck26-sfvc784-2LV-c", "KV260", 117_120, 288, 64, 1_248),
    part("xczu7ev-ffvc1156-2-e", "ZCU104", 230_400, 624, 96, 1_728),
    part("xczu9eg-ffvb1156-2-e", "ZCU102", 274_080, 1_824, 0, 2_520),
    part(
        "xcu250-figd2104-2L-e",
        "Alveo U250",
        1_728_000,
        5_376,
        1_280,
        12_288,
    ),
];

/// The part called `name`; an error lists the known ones.
pub fn find_part(name: &str) -> Result<&'static Part, String> {
    PARTS.iter().find(|p| p.name == name).ok_or_else(|| {
        format!(
            "unknown part '{}'; the parts known are: {}",
            brainsmith_core::suggest::shorten(name, 60),
            PARTS
                .iter()
                .map(|p| format!("{} ({})", p.name, p.board))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The resources of `used` beyond `part`'s, each as "LUT 61,204 of 53,200".
pub fn overuse(used: &Resources, part: &Part) -> Vec<String> {
    let c = &part.capacity;
    [
        ("LUT", used.lut, c.lut),
        ("BRAM18", used.bram18, c.bram18),
        ("URAM", used.uram, c.uram),
        ("DSP", used.dsp, c.dsp),
    ]
    .into_iter()
    .filter(|&(_, u, cap)| u > cap)
    .map(|(what, u, cap)| format!("{what} {} of {}", thousands(u), thousands(cap)))
    .collect()
}

/// One accelerator node in the report.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    /// Its name in the model.
    pub name: String,
    /// Its kernel (qualified).
    pub kernel: String,
    /// Its backend (qualified).
    pub backend: String,
    /// Why that backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_reason: Option<String>,
    /// Folding knobs and values.
    pub folding: BTreeMap<String, i64>,
    /// Bits per word of its first input and output streams.
    pub in_width: Option<u64>,
    /// ...
    pub out_width: Option<u64>,
    /// Estimated cycles per frame.
    pub cycles: Option<u64>,
    /// Measured cycles per frame in RTL simulation (the slowest frame), for RTL nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_cycles: Option<u64>,
    /// Estimated resources.
    pub resources: Option<Resources>,
    /// A FIFO's depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo_depth: Option<u64>,
}

/// What the stitched RTL top's simulation measured: frames streamed back to back, the
/// output always ready.
#[derive(Clone, Debug, Serialize)]
pub struct StitchedRun {
    /// Frames run.
    pub frames: usize,
    /// Cycles from the first frame's first input word to its last output word.
    pub first_frame_cycles: u64,
    /// Steady-state cycles per frame (between the last output words of the first and the
    /// last frame); `None` for one frame.
    pub interval_cycles: Option<f64>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The model compiled.
    pub model: String,
    /// The blueprint it ran.
    pub blueprint: String,
    /// The device.
    pub part: Part,
    /// The clock period.
    pub clock_ns: f64,
    /// The folding target in cycles per frame.
    pub target_cycles: Option<u64>,
    /// Accelerator nodes in dependency order.
    pub nodes: Vec<NodeRow>,
    /// Host (software) nodes: name and op type.
    pub host_nodes: Vec<(String, String)>,
    /// Hardware nodes left in the host, with the reason.
    pub left_in_host: Vec<(String, String)>,
    /// All resources.
    pub total_resources: Resources,
    /// Percent of the part's, per resource.
    pub utilisation_percent: BTreeMap<String, f64>,
    /// The slowest node.
    pub bottleneck: Option<String>,
    /// Its cycles per frame: the design's steady-state interval.
    pub cycles_per_frame: Option<u64>,
    /// Frames per second at the clock.
    pub estimated_fps: Option<f64>,
    /// Cycles from a frame's first input word to its last output word, estimated as the
    /// sum of the nodes' cycles (each waits for a whole frame of the one before it at
    /// worst).
    pub estimated_latency_cycles: u64,
    /// The slowest RTL node's measured cycles per frame, when RTL nodes were simulated.
    pub measured_cycles_per_frame: Option<u64>,
    /// Frames simulated and checked against the model.
    pub frames_checked: usize,
    /// The stitched RTL top's own simulation (an all-RTL design only).
    pub stitched_rtl: Option<StitchedRun>,
    /// Seconds per phase.
    pub seconds: BTreeMap<String, f64>,
    /// Every transform and step the blueprint ran, in order.
    pub steps: Vec<StepTime>,
}

/// One transform or step of the blueprint's run.
#[derive(Clone, Debug, Serialize)]
pub struct StepTime {
    /// Its qualified name (`step <name>` for a step).
    pub name: String,
    /// Whether it changed the model.
    pub changed: bool,
    /// Nodes after it.
    pub nodes: usize,
    /// Seconds it took.
    pub seconds: f64,
}

impl Report {
    /// The report of `design`; `measured` per node name (RTL nodes).
    pub fn new(
        design: &Design,
        part: &Part,
        measured: &BTreeMap<String, u64>,
        host_nodes: Vec<(String, String)>,
        left_in_host: Vec<(String, String)>,
    ) -> Report {
        let nodes: Vec<NodeRow> = design
            .nodes
            .iter()
            .map(|n| NodeRow {
                name: n.name.clone(),
                kernel: n.kernel.clone(),
                backend: n.backend.clone(),
                backend_reason: n.reason.clone(),
                folding: n.folding.iter().cloned().collect(),
                in_width: n.stream(Direction::In, 0).map(|s| s.width()),
                out_width: n.stream(Direction::Out, 0).map(|s| s.width()),
                cycles: n.cycles,
                measured_cycles: measured.get(&n.name).copied(),
                resources: n.resources,
                fifo_depth: n.fifo_depth,
            })
            .collect();
        let total = design.total_resources();
        let c = &part.capacity;
        let pct = |u: u64, cap: u64| {
            if cap == 0 {
                if u == 0 { 0.0 } else { f64::INFINITY }
            } else {
                (u as f64 * 1000.0 / cap as f64).round() / 10.0
            }
        };
        let utilisation_percent = [
            ("LUT", pct(total.lut, c.lut)),
            ("BRAM18", pct(total.bram18, c.bram18)),
            ("URAM", pct(total.uram, c.uram)),
            ("DSP", pct(total.dsp, c.dsp)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let bottleneck = design.bottleneck();
        let cycles = bottleneck.and_then(|b| design.nodes[b].cycles);
        Report {
            model: String::new(),
            blueprint: String::new(),
            part: *part,
            clock_ns: design.target.clock_ns,
            target_cycles: None,
            nodes,
            host_nodes,
            left_in_host,
            total_resources: total,
            utilisation_percent,
            bottleneck: bottleneck.map(|b| design.nodes[b].name.clone()),
            cycles_per_frame: cycles,
            estimated_fps: cycles.map(|c| 1e9 / (design.target.clock_ns * c as f64)),
            estimated_latency_cycles: design.nodes.iter().filter_map(|n| n.cycles).sum(),
            measured_cycles_per_frame: measured.values().copied().max(),
            frames_checked: 0,
            stitched_rtl: None,
            seconds: BTreeMap::new(),
            steps: Vec::new(),
        }
    }

    /// `report.json`.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// `report.txt`: the table per node, the totals and the verdict.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "brainsmith compile: {}\nblueprint {}; part {} ({}) at {} ns\n",
            self.model, self.blueprint, self.part.name, self.part.board, self.clock_ns
        );
        let header = [
            "NODE", "KERNEL", "BACKEND", "FOLDING", "IN", "OUT", "CYCLES", "MEASURED", "LUT",
            "BRAM18", "URAM", "DSP",
        ];
        let num = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), thousands);
        let rows: Vec<Vec<String>> = self
            .nodes
            .iter()
            .map(|n| {
                let r = n.resources;
                let mut folding: Vec<String> =
                    n.folding.iter().map(|(k, v)| format!("{k}={v}")).collect();
                if let Some(d) = n.fifo_depth {
                    folding.push(format!("depth={d}"));
                }
                let mark = if self.bottleneck.as_deref() == Some(&n.name) {
                    " *"
                } else {
                    ""
                };
                vec![
                    format!("{}{mark}", brainsmith_core::suggest::shorten(&n.name, 40)),
                    short(&n.kernel).to_owned(),
                    short(&n.backend).to_owned(),
                    folding.join(" "),
                    num(n.in_width),
                    num(n.out_width),
                    num(n.cycles),
                    num(n.measured_cycles),
                    num(r.map(|r| r.lut)),
                    num(r.map(|r| r.bram18)),
                    num(r.map(|r| r.uram)),
                    num(r.map(|r| r.dsp)),
                ]
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c >= 4 {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(cell);
                } else {
                    l.push_str(cell);
                    l.push_str(&" ".repeat(pad));
                }
                l.push_str("  ");
            }
            l.trim_end().to_owned()
        };
        let _ = writeln!(s, "{}", line(header.to_vec()));
        for r in &rows {
            let _ = writeln!(s, "{}", line(r.iter().map(String::as_str).collect()));
        }
        let t = &self.total_resources;
        let u = &self.utilisation_percent;
        let _ = writeln!(
            s,
            "\ntotal: LUT {} ({}%), BRAM18 {} ({}%), URAM {} ({}%), DSP {} ({}%)",
            thousands(t.lut),
            u["LUT"],
            thousands(t.bram18),
            u["BRAM18"],
            thousands(t.uram),
            u["URAM"],
            thousands(t.dsp),
            u["DSP"]
        );
        if let (Some(b), Some(c)) = (&self.bottleneck, self.cycles_per_frame) {
            let _ = writeln!(
                s,
                "bottleneck (*): {b}, {} cycles per frame: {:.0} frames/s at {} ns; latency about {} cycles",
                thousands(c),
                self.estimated_fps.unwrap_or(0.0),
                self.clock_ns,
                thousands(self.estimated_latency_cycles)
            );
        }
        match self.measured_cycles_per_frame {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "measured in RTL simulation: the slowest RTL node takes {} cycles per frame",
                    thousands(m)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "measured: no RTL node was simulated (HLS C++ simulation is untimed)"
                );
            }
        }
        if let Some(run) = &self.stitched_rtl {
            let _ = writeln!(
                s,
                "stitched RTL top (Verilator): {} frames back to back, {} cycles per frame in \
                 steady state, {} cycles for the first frame",
                run.frames,
                run.interval_cycles
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}")),
                thousands(run.first_frame_cycles)
            );
        }
        if !self.host_nodes.is_empty() {
            let names: Vec<String> = self
                .host_nodes
                .iter()
                .map(|(n, op)| format!("{} ({op})", brainsmith_core::suggest::shorten(n, 40)))
                .collect();
            let _ = writeln!(s, "host (software): {}", names.join(", "));
        }
        for (n, why) in &self.left_in_host {
            let _ = writeln!(s, "left in the host: {n}: {why}");
        }
        if self.frames_checked > 0 {
            let _ = writeln!(
                s,
                "checked: {} seeded frames, the simulated accelerator and host give the model's \
                 outputs bit for bit",
                self.frames_checked
            );
        }
        s
    }
}

/// The name after a `source:` prefix.
fn short(qualified: &str) -> &str {
    qualified.rsplit(':').next().unwrap_or(qualified)
}

/// `12,544`.
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The picture of the design: the host's first and last parts around the accelerator.
pub fn picture(
    design: &Design,
    title: &str,
    host_before: &[(String, String)],
    host_after: &[(String, String)],
) -> Picture {
    let bottleneck = design.bottleneck();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let host = |(name, op): &(String, String)| PicNode {
        name: name.clone(),
        kernel: op.clone(),
        backend: String::new(),
        folding: String::new(),
        cycles: None,
        bottleneck: false,
        role: Role::Host,
    };
    for h in host_before {
        if !nodes.is_empty() {
            edges.push((nodes.len() - 1, nodes.len(), String::new()));
        }
        nodes.push(host(h));
    }
    let offset = nodes.len();
    for (i, n) in design.nodes.iter().enumerate() {
        let mut folding: Vec<String> = n.folding.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if let Some(d) = n.fifo_depth {
            folding.push(format!("depth {d}"));
        }
        nodes.push(PicNode {
            name: n.name.clone(),
            kernel: n.kernel_short.clone(),
            backend: n.backend_short.clone(),
            folding: folding.join(", "),
            cycles: n.cycles,
            bottleneck: bottleneck == Some(i),
            role: if n.is_fifo() {
                Role::Fifo
            } else if n.is_width_converter() {
                Role::WidthConverter
            } else {
                Role::Compute
            },
        });
        for (slot, t) in n.inputs.iter().enumerate() {
            if let Some((p, _)) = design.producer(t) {
                let label = n
                    .stream(Direction::In, slot)
                    .map(|s| format!("{} b", s.width()))
                    .unwrap_or_default();
                edges.push((offset + p, offset + i, label));
            } else if *t == design.input && offset > 0 {
                edges.push((offset - 1, offset + i, String::new()));
            }
        }
    }
    let last_accel = design.producer(&design.output).map(|(p, _)| offset + p);
    for (k, h) in host_after.iter().enumerate() {
        let at = nodes.len();
        if k == 0 {
            if let Some(p) = last_accel {
                edges.push((p, at, String::new()));
            }
        } else {
            edges.push((at - 1, at, String::new()));
        }
        nodes.push(host(h));
    }
    Picture {
        title: title.to_owned(),
        nodes,
        edges,
    }
}
