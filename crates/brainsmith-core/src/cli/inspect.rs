//! `inspect MODEL`: every node of a model as the linked kernels see it: op type, kernel,
//! backend, typed attributes, streams, datatypes, cycles and resource estimates, with
//! every attribute problem of every node.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::table::Table;
use crate::attrs::show_value;
use crate::hardware::resolve;
use crate::ir::{Graph, Model, Node};
use crate::kernel::{Resources, Stream, Target};
use crate::registry::Registry;
use crate::suggest::shorten;

/// Arguments of `inspect`.
#[derive(Args)]
pub(super) struct InspectArgs {
    /// The model (ONNX or QONNX).
    model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The FPGA part resource estimates are for.
    #[arg(long, default_value = "xc7z020clg400-1")]
    part: String,
    /// The clock period in nanoseconds.
    #[arg(long, default_value_t = 10.0)]
    clock_ns: f64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One node as `inspect` reports it.
#[derive(Serialize)]
struct NodeReport {
    /// Position in the graph.
    index: usize,
    name: String,
    op_type: String,
    domain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<String>,
    /// Declared attributes with their values (absent ones with their default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<AttrReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    streams: Vec<StreamReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    /// Why the kernel could not answer (attribute problems, an unimplementable node).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    /// Why the node's backend would refuse to generate it as it is (its capability
    /// check); a remark, not a problem of the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend_refuses: Option<String>,
}

#[derive(Serialize)]
struct AttrReport {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct StreamReport {
    #[serde(flatten)]
    stream: Stream,
    width: u64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    part: String,
    clock_ns: f64,
    nodes: Vec<NodeReport>,
    kernel_nodes: usize,
    nodes_with_problems: usize,
    total_resources: Resources,
    /// The largest cycle count: the throughput bound of a dataflow pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_cycles: Option<u64>,
}

pub(super) fn run(
    registry: &Registry,
    args: InspectArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let model = Model::load(&args.model).map_err(|e| e.to_string())?;
    let target = Target {
        part: args.part.clone(),
        clock_ns: args.clock_ns,
    };
    if !(target.clock_ns.is_finite() && target.clock_ns > 0.0) {
        return Err(format!(
            "--clock-ns {} is not a clock period; give a positive number of nanoseconds",
            args.clock_ns
        ));
    }
    let nodes: Vec<NodeReport> = model
        .graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| inspect_node(registry, i, n, &model.graph, &target))
        .collect();
    let kernel_nodes = nodes.iter().filter(|n| n.kernel.is_some()).count();
    let with_problems = nodes.iter().filter(|n| !n.problems.is_empty()).count();
    let report = Report {
        model: args.model.display().to_string(),
        part: target.part.clone(),
        clock_ns: target.clock_ns,
        total_resources: nodes
            .iter()
            .filter_map(|n| n.resources)
            .fold(Resources::default(), |a, b| a + b),
        max_cycles: nodes.iter().filter_map(|n| n.cycles).max(),
        nodes,
        kernel_nodes,
        nodes_with_problems: with_problems,
    };
    let text = match args.format {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            t.push('\n');
            t
        }
        Format::Table => render(&report),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    if with_problems > 0 {
        let _ = writeln!(
            err,
            "{with_problems} node(s) have problems (listed above under each node)"
        );
        return Err(format!(
            "{} of {} kernel node(s) cannot be fully inspected",
            with_problems, kernel_nodes
        ));
    }
    Ok(())
}

fn inspect_node(
    registry: &Registry,
    index: usize,
    node: &Node,
    graph: &Graph,
    target: &Target,
) -> NodeReport {
    let mut report = NodeReport {
        index,
        name: node.name.clone(),
        op_type: node.op_type.clone(),
        domain: node.domain.clone(),
        kernel: None,
        backend: None,
        attributes: Vec::new(),
        streams: Vec::new(),
        cycles: None,
        resources: None,
        problems: Vec::new(),
        backend_refuses: None,
    };
    let found = match resolve(registry, node) {
        Ok(Some(found)) => found,
        Ok(None) => return report,
        Err(e) => {
            report.problems.push(e);
            return report;
        }
    };
    report.kernel = Some(found.kernel.qualified_name().to_owned());
    report.backend = found.backend.map(|b| b.qualified_name().to_owned());
    if let Some(why) = found.missing_backend() {
        report.problems.push(why);
    }
    let mut schema: Vec<_> = found.kernel.attrs().to_vec();
    if let Some(b) = found.backend {
        schema.extend_from_slice(b.attrs());
    }
    report.attributes = schema
        .iter()
        .map(|a| {
            let value = match (node.attribute(a.name), a.default) {
                (Some(v), _) => show_value(v),
                (None, Some(d)) => format!("{} (default)", show_value(&d())),
                (None, None) => "(absent)".to_owned(),
            };
            AttrReport {
                name: a.name.to_owned(),
                value: shorten(&value, 80).into_owned(),
            }
        })
        .collect();
    let kernel = match found.kernel.with_defaults() {
        Ok(k) => k,
        Err(e) => {
            report.problems.push(format!(
                "{e}; inspect uses every kernel's default configuration"
            ));
            return report;
        }
    };
    if let Err(e) = kernel.check_attrs(node) {
        report
            .problems
            .extend(e.problems.iter().map(ToString::to_string));
        return report;
    }
    if let Err(e) = kernel.check(node, graph) {
        report.problems.push(e.to_string());
    }
    match kernel.streams(node, graph) {
        Ok(streams) => {
            report.streams = streams
                .into_iter()
                .map(|s| StreamReport {
                    width: s.width(),
                    stream: s,
                })
                .collect();
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    if let Some(backend) = found.backend
        && report.problems.is_empty()
    {
        match backend.with_defaults() {
            Ok(b) => {
                if let Err(e) = b.supports(kernel.as_ref(), node, graph) {
                    report.backend_refuses = Some(e.message().to_owned());
                }
            }
            Err(e) => report.backend_refuses = Some(e.to_string()),
        }
    }
    // A specialised node's backend may refine the kernel's estimate for its own design.
    let refined = found
        .backend
        .and_then(|b| b.with_defaults().ok())
        .and_then(|b| b.cycles(kernel.as_ref(), node, graph).ok().flatten());
    report.cycles = refined.or_else(|| kernel.cycles(node, graph).ok().flatten());
    report.resources = kernel.resources(node, graph, target).ok().flatten();
    report
}

fn render(report: &Report) -> String {
    let mut table = Table::new(&[
        "NODE", "OP TYPE", "KERNEL", "BACKEND", "CYCLES", "LUT", "BRAM18", "URAM", "DSP",
    ])
    .right_align(&[4, 5, 6, 7, 8]);
    let num = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for n in &report.nodes {
        let r = n.resources;
        table.row(vec![
            label(n),
            if n.domain.is_empty() {
                n.op_type.clone()
            } else {
                format!("{}:{}", n.domain, n.op_type)
            },
            n.kernel.clone().unwrap_or_else(|| "-".into()),
            n.backend.clone().unwrap_or_else(|| "-".into()),
            num(n.cycles),
            num(r.map(|r| r.lut)),
            num(r.map(|r| r.bram18)),
            num(r.map(|r| r.uram)),
            num(r.map(|r| r.dsp)),
        ]);
    }
    let mut text = table.render();
    let total = report.total_resources;
    text.push_str(&format!(
        "\n{} node(s), {} on kernels; estimates for {} at {} ns: LUT {}, BRAM18 {}, URAM {}, DSP {}",
        report.nodes.len(),
        report.kernel_nodes,
        report.part,
        report.clock_ns,
        total.lut,
        total.bram18,
        total.uram,
        total.dsp
    ));
    if let Some(max) = report.max_cycles {
        text.push_str(&format!(
            "; slowest node {max} cycles/frame ({:.0} frames/s)",
            1e9 / (max as f64 * report.clock_ns)
        ));
    }
    text.push('\n');
    for n in report.nodes.iter().filter(|n| n.kernel.is_some()) {
        text.push_str(&format!("\n{}\n", label(n)));
        if !n.attributes.is_empty() {
            let attrs: Vec<String> = n
                .attributes
                .iter()
                .map(|a| format!("{}={}", a.name, a.value))
                .collect();
            text.push_str(&format!("  attributes: {}\n", attrs.join(", ")));
        }
        for s in &n.streams {
            text.push_str(&format!(
                "  {:<6} #{} {:?} folded {:?} {} ({} bits)\n",
                format!("{:?}", s.stream.direction).to_lowercase(),
                s.stream.index,
                s.stream.normal_shape,
                s.stream.folded_shape,
                s.stream.datatype,
                s.width
            ));
        }
        for p in &n.problems {
            text.push_str(&format!("  problem: {p}\n"));
        }
        if let Some(why) = &n.backend_refuses {
            text.push_str(&format!("  note: its backend refuses it as it is: {why}\n"));
        }
    }
    text
}

/// A node as the listing names it: its name, shortened, or `#i` when it has none.
fn label(n: &NodeReport) -> String {
    if n.name.is_empty() {
        format!("#{}", n.index)
    } else {
        shorten(&n.name, 40).into_owned()
    }
}
