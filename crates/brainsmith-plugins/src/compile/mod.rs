//! `brainsmith compile` and `brainsmith simulate`: from a QONNX model to a stitched,
//! simulated dataflow accelerator with a report and a picture, in one directory.
//!
//! [`compile`] runs a blueprint (FINN's flow, [`crate::blueprints::FINN`], by default,
//! folded for the target), splits the result into the accelerator and the host model
//! around it ([`partition`]), generates every node, stitches them ([`stitch`]: one
//! SystemVerilog top, one C++ top), checks the design against the part's resources,
//! co-simulates it ([`cosim`]) with the host model on seeded frames against executing the
//! original model, and writes, into the output directory:
//!
//! | file | what |
//! |---|---|
//! | `host.onnx` | the model with the accelerator replaced by one `StreamingDataflowPartition` node |
//! | `accelerator.onnx` | the accelerator's nodes, one input and one output stream |
//! | `nodes/<node>/` | each node's generated sources and parameter files |
//! | `stitched/accelerator.sv`, `stitched/accelerator.hpp` | the tops |
//! | `sim/` | the co-simulation's testbench and build |
//! | `report.json`, `report.txt` | per node: kernel, backend and why, folding, streams, cycles, resources; totals, bottleneck, frames per second, measured cycles |
//! | `dataflow.svg` | the picture |
//!
//! The directory is built under a temporary name beside it and renamed only when
//! everything succeeded, so a failed compile leaves nothing that looks complete; an
//! existing directory is replaced only with `force`. [`simulate`] runs a compiled
//! directory on frames from a `.npy` file.

pub mod cosim;
pub mod design;
pub mod dse;
pub mod npy;
pub mod partition;
pub mod report;
pub mod stitch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use brainsmith_core::Language;
use brainsmith_core::blueprint::{
    BackendEntry, Blueprint, KernelEntry, Options as RunOptions, Position, execute,
};
use brainsmith_core::ir::{ElemType, Model, Node, QuantType, Tensor};
use brainsmith_core::kernel::{Direction, Target};
use brainsmith_core::{PluginError, Registry, StepContext};

use crate::exec::{execute as run_model, execute_with};
use crate::sim::{pack, unpack};
use design::Design;
use partition::{PARTITION_OP, Partition};
use report::{Report, find_part, overuse};

/// What to compile, and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The QONNX model.
    pub model: PathBuf,
    /// The output directory.
    pub output: PathBuf,
    /// The blueprint; FINN's flow when `None`.
    pub blueprint: Option<PathBuf>,
    /// Cycles per frame the slowest node may take (`SetFolding`'s `target_cycles`).
    pub target_cycles: Option<u64>,
    /// Frames per second to reach at the clock (converted to cycles per frame).
    pub target_fps: Option<f64>,
    /// The FPGA part.
    pub part: String,
    /// The clock period in nanoseconds.
    pub clock_ns: f64,
    /// Replace an existing output directory.
    pub force: bool,
    /// Seeded frames simulated and checked against the model (0: no check).
    pub check_frames: usize,
    /// Put this language's backends first for every kernel (the blueprint's `kernels`
    /// order otherwise; a backend that refuses a node still falls back to the next).
    pub prefer: Option<Language>,
}

impl Options {
    /// Compile `model` into `output` with FINN's flow, PYNQ-Z1's part at 100 MHz, and 20
    /// checked frames.
    pub fn new(model: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Options {
        Options {
            model: model.into(),
            output: output.into(),
            blueprint: None,
            target_cycles: None,
            target_fps: None,
            part: Target::default().part,
            clock_ns: Target::default().clock_ns,
            force: false,
            check_frames: 20,
            prefer: None,
        }
    }

    /// The folding target in cycles per frame, from `target_cycles` or `target_fps`.
    fn cycles_target(&self) -> Result<Option<u64>, String> {
        match (self.target_cycles, self.target_fps) {
            (Some(_), Some(_)) => Err("give --target-cycles or --target-fps, not both".to_owned()),
            (Some(0), None) => Err("--target-cycles 0: a frame takes at least 1 cycle".into()),
            (Some(c), None) => Ok(Some(c)),
            (None, Some(fps)) => {
                if !(fps.is_finite() && fps > 0.0) {
                    return Err(format!("--target-fps {fps} is not a positive rate"));
                }
                let cycles = (1e9 / (self.clock_ns * fps)).floor();
                if cycles < 1.0 {
                    return Err(format!(
                        "--target-fps {fps} at {} ns leaves less than one cycle per frame; \
                         lower the rate or shorten the clock period",
                        self.clock_ns
                    ));
                }
                Ok(Some(cycles as u64))
            }
            (None, None) => Ok(None),
        }
    }
}

/// What one phase is doing, for a progress display.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// A finished compile.
#[derive(Debug)]
pub struct Compiled {
    /// The report written.
    pub report: Report,
    /// The output directory.
    pub dir: PathBuf,
    /// Warnings of the build's transforms and steps, and nodes left in the host.
    pub warnings: Vec<String>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A model through the blueprint and partitioned, its accelerator generated in memory.
struct Prepared {
    original: Model,
    host: Model,
    accelerator: Model,
    design: Design,
    left_in_host: Vec<(String, String)>,
    warnings: Vec<String>,
    blueprint: Blueprint,
    target_cycles: Option<u64>,
    seconds: BTreeMap<String, f64>,
    steps: Vec<report::StepTime>,
}

/// Runs the blueprint (written into `scratch` when it is the built-in one; steps write
/// into `nodes_dir`) with the options' target and preference, partitions the result and
/// generates the accelerator's nodes.
fn prepare(
    registry: &'static Registry,
    options: &Options,
    scratch: &Path,
    nodes_dir: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Prepared, String> {
    let mut seconds = BTreeMap::new();
    if !(options.clock_ns.is_finite() && options.clock_ns > 0.0) {
        return Err(format!(
            "--clock-ns {} is not a clock period; give a positive number of nanoseconds",
            options.clock_ns
        ));
    }
    let target_cycles = options.cycles_target()?;
    let part = find_part(&options.part)?;
    let target = Target {
        part: part.name.to_owned(),
        clock_ns: options.clock_ns,
    };
    // The blueprint, with the folding target.
    progress("reading the blueprint");
    let bp_path = match &options.blueprint {
        Some(p) => p.clone(),
        None => {
            let p = scratch.join("blueprint.toml");
            std::fs::write(&p, crate::blueprints::FINN).map_err(err)?;
            p
        }
    };
    let mut blueprint = Blueprint::load(&bp_path).map_err(err)?;
    if let Some(cycles) = target_cycles {
        let mut found = false;
        for (_, entries) in blueprint.stages.values_mut() {
            for e in entries.iter_mut() {
                if e.name == "SetFolding" || e.name.ends_with(":SetFolding") {
                    e.config
                        .insert("target_cycles".into(), toml::Value::Integer(cycles as i64));
                    found = true;
                }
            }
        }
        if !found {
            return Err(format!(
                "{}: the blueprint has no SetFolding to take the folding target; add one to its \
                 kernel_opt stage or leave out --target-cycles/--target-fps",
                bp_path.display()
            ));
        }
    }
    if let Some(language) = options.prefer {
        let view = blueprint.registry(registry).map_err(err)?;
        prefer(&mut blueprint, view, language, &bp_path);
    }
    let mut plan = blueprint.check(registry).map_err(err)?;
    // The build's registry from here on: less the plugins the blueprint disables.
    let registry = plan.registry();
    // Compile generates and writes every accelerator node itself (and the folding
    // configuration), so the blueprint's own code generation would be done twice.
    plan.items.retain(|item| {
        !matches!(item, brainsmith_core::blueprint::PlanItem::Step(step, _)
            if step.qualified_name() == "brainsmith:hw_codegen")
    });

    progress("reading the model");
    let original = Model::load(&options.model).map_err(err)?;
    let mut model = original.clone();
    let t = Instant::now();
    let mut step_progress = |i: usize, n: usize, label: &str| {
        let width = 24;
        let done = (i * width).checked_div(n).unwrap_or(0);
        progress(&format!(
            "[{}{}] {}/{n} {label}",
            "#".repeat(done),
            ".".repeat(width - done),
            i + 1
        ));
    };
    let run = execute(
        &mut model,
        &plan,
        RunOptions {
            save_intermediate: None,
            output_dir: nodes_dir,
            progress: Some(&mut step_progress),
            target: Some(target.clone()),
            ..RunOptions::default()
        },
    )
    .map_err(err)?;
    seconds.insert("blueprint".to_owned(), t.elapsed().as_secs_f64());
    let steps: Vec<report::StepTime> = run
        .steps
        .iter()
        .map(|s| report::StepTime {
            name: s.transform.clone(),
            changed: s.changed,
            nodes: s.nodes_after,
            seconds: s.seconds,
        })
        .collect();
    let mut warnings: Vec<String> = run
        .steps
        .iter()
        .flat_map(|s| {
            s.diagnostics
                .iter()
                .map(move |d| format!("{}: {}", s.transform, d.message))
        })
        .collect();

    progress("partitioning");
    let t = Instant::now();
    let Partition {
        host,
        accelerator,
        left_in_host,
    } = partition::partition(registry, &model, "accelerator.onnx")?;
    for (n, why) in &left_in_host {
        warnings.push(format!("node '{n}' stays in the host model: {why}"));
    }
    let ctx = match &plan.kernels {
        Some(k) => StepContext::new(registry).with_kernels(k),
        None => StepContext::new(registry),
    };
    let kernel_for = |n: &Node| ctx.kernel_for(n);
    let design = Design::of(&accelerator, &kernel_for, &target)?;
    seconds.insert(
        "partition_and_generate".to_owned(),
        t.elapsed().as_secs_f64(),
    );
    Ok(Prepared {
        original,
        host,
        accelerator,
        design,
        left_in_host,
        warnings,
        blueprint,
        target_cycles,
        seconds,
        steps,
    })
}

/// Compiles as `options` say; see the module's documentation. An error says what failed
/// and leaves no output directory behind (an existing one is untouched).
pub fn compile(
    registry: &'static Registry,
    options: &Options,
    progress: Progress<'_>,
) -> Result<Compiled, String> {
    let started = Instant::now();
    let mut seconds = BTreeMap::new();
    if !(options.clock_ns.is_finite() && options.clock_ns > 0.0) {
        return Err(format!(
            "--clock-ns {} is not a clock period; give a positive number of nanoseconds",
            options.clock_ns
        ));
    }
    options.cycles_target()?;
    let part = find_part(&options.part)?;
    let out = &options.output;
    match std::fs::symlink_metadata(out) {
        Ok(meta) if !meta.is_dir() => {
            return Err(format!(
                "{} exists and is not a directory; name a directory to write",
                out.display()
            ));
        }
        Ok(_) if !options.force => {
            return Err(format!(
                "{} exists; pass --force to replace it (it is replaced only when the compile \
                 succeeds)",
                out.display()
            ));
        }
        _ => {}
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let name = out
        .file_name()
        .ok_or_else(|| format!("{} names no directory", out.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.compiling-"))
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    let root = tmp.path().to_owned();

    let Prepared {
        original,
        host,
        accelerator,
        design,
        left_in_host,
        warnings,
        blueprint,
        target_cycles,
        seconds: prepared_seconds,
        steps,
    } = prepare(
        registry,
        options,
        &root,
        Some(&root.join("nodes")),
        progress,
    )?;
    let nodes_dir = root.join("nodes");
    seconds.extend(prepared_seconds);
    let total = design.total_resources();
    let over = overuse(&total, part);
    if !over.is_empty() {
        return Err(format!(
            "the design does not fit {} ({}): {}; fold it slower (a larger --target-cycles) or \
             choose a larger part. Nothing was written.",
            part.name,
            part.board,
            over.join(", ")
        ));
    }
    let constants = |t: &str| accelerator.graph.initializer(t).is_some();
    let net = stitch::netlist(&design, &constants)?;

    progress("writing the design");
    let t = Instant::now();
    host.save(root.join("host.onnx")).map_err(err)?;
    accelerator
        .save(root.join("accelerator.onnx"))
        .map_err(err)?;
    for node in &design.nodes {
        let dir = nodes_dir.join(&node.ident);
        std::fs::create_dir_all(&dir).map_err(err)?;
        for f in node.generated.sources.iter().chain(&node.generated.params) {
            std::fs::write(dir.join(&f.path), &f.contents).map_err(err)?;
        }
    }
    let folding = crate::folding::FoldingConfig::of_model(registry, &accelerator);
    std::fs::create_dir_all(&nodes_dir).map_err(err)?;
    std::fs::write(nodes_dir.join("folding_config.json"), folding.to_json()).map_err(err)?;
    let stitched = root.join("stitched");
    std::fs::create_dir_all(&stitched).map_err(err)?;
    std::fs::write(
        stitched.join(format!("{}.sv", stitch::TOP)),
        stitch::sv_top(&design, &net),
    )
    .map_err(err)?;
    std::fs::write(
        stitched.join(format!("{}.hpp", stitch::TOP)),
        stitch::cpp_top(&design, &net),
    )
    .map_err(err)?;
    seconds.insert("write".to_owned(), t.elapsed().as_secs_f64());
    seconds.insert("compile".to_owned(), started.elapsed().as_secs_f64());

    let mut measured = BTreeMap::new();
    let mut stitched = None;
    if options.check_frames > 0 {
        progress("building the co-simulation");
        let t = Instant::now();
        let sim = cosim::build(&root, &design, &net).map_err(err)?;
        seconds.insert("simulation_build".to_owned(), t.elapsed().as_secs_f64());
        progress(&format!("simulating {} frames", options.check_frames));
        let t = Instant::now();
        let inputs = seeded_frames(&original, options.check_frames)?;
        let expected: Vec<Vec<Tensor>> = inputs
            .iter()
            .map(|x| run_model(&original, std::slice::from_ref(x)).map_err(err))
            .collect::<Result<_, _>>()?;
        let simulated = run_frames(&host, &accelerator, &design, &sim, &inputs)?;
        for (k, (got, want)) in simulated.outputs.iter().zip(&expected).enumerate() {
            compare(got, want).map_err(|e| {
                format!(
                    "frame {k} (seeded): the simulated design differs from the model: {e}. The \
                     design is not written."
                )
            })?;
        }
        for (name, cycles) in &simulated.rtl_cycles {
            if let Some(&worst) = cycles.iter().max() {
                measured.insert(name.clone(), worst);
            }
        }
        seconds.insert("simulation".to_owned(), t.elapsed().as_secs_f64());
        if design.all_rtl() {
            progress("simulating the stitched RTL top");
            let t = Instant::now();
            stitched = Some(stitched_rtl(&root, &design, &net, &simulated)?);
            seconds.insert(
                "stitched_rtl_simulation".to_owned(),
                t.elapsed().as_secs_f64(),
            );
        }
    }

    let host_nodes: Vec<(String, String)> = host
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type != PARTITION_OP)
        .map(|n| (n.name.clone(), n.op_type.clone()))
        .collect();
    let mut report = Report::new(&design, part, &measured, host_nodes, left_in_host);
    report.model = options.model.display().to_string();
    report.blueprint = match &options.blueprint {
        Some(p) => p.display().to_string(),
        None => "FINN (built in, blueprint.toml)".to_owned(),
    };
    report.target_cycles = target_cycles.or_else(|| set_folding_target(&blueprint));
    report.frames_checked = options.check_frames;
    report.stitched_rtl = stitched;
    report.steps = steps;
    report.seconds = seconds;
    std::fs::write(root.join("report.json"), report.to_json()).map_err(err)?;
    std::fs::write(root.join("report.txt"), report.to_text()).map_err(err)?;
    let (before, after) = host_sides(&host);
    let title = format!(
        "{}: {} nodes on {} at {} ns",
        options
            .model
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
        design.nodes.len(),
        part.name,
        options.clock_ns
    );
    let picture = report::picture(&design, &title, &before, &after);
    std::fs::write(root.join("dataflow.svg"), crate::svg::render(&picture)).map_err(err)?;

    // Only now does the directory appear under its name.
    let kept = tmp.keep();
    if out.exists() {
        let old = parent.join(format!(".{name}.replaced-{}", std::process::id()));
        std::fs::rename(out, &old)
            .map_err(|e| format!("cannot move {} aside: {e}", out.display()))?;
        if let Err(e) = std::fs::rename(&kept, out) {
            let _ = std::fs::rename(&old, out);
            let _ = std::fs::remove_dir_all(&kept);
            return Err(format!(
                "cannot rename the new design to {}: {e}",
                out.display()
            ));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else if let Err(e) = std::fs::rename(&kept, out) {
        let _ = std::fs::remove_dir_all(&kept);
        return Err(format!(
            "cannot rename the new design to {}: {e}",
            out.display()
        ));
    }
    Ok(Compiled {
        report,
        dir: out.clone(),
        warnings,
    })
}

/// Makes `language`'s backends come first for every kernel the blueprint uses (every
/// registered one when it lists none), keeping the order within each language.
fn prefer(blueprint: &mut Blueprint, registry: &Registry, language: Language, file: &Path) {
    let at = Position {
        file: file.to_owned(),
        line: 1,
        column: 1,
    };
    let entries = blueprint.kernels.get_or_insert_with(|| {
        registry
            .kernels()
            .map(|k| KernelEntry {
                name: k.qualified_name().to_owned(),
                config: toml::Table::new(),
                backends: None,
                at: at.clone(),
            })
            .collect()
    });
    for entry in entries.iter_mut() {
        let backends = entry.backends.get_or_insert_with(|| {
            registry
                .kernel(&entry.name)
                .map(|k| {
                    let mut all: Vec<_> = k.backends().collect();
                    all.sort_by_key(|b| std::cmp::Reverse(b.priority()));
                    all.into_iter()
                        .map(|b| BackendEntry {
                            name: b.qualified_name().to_owned(),
                            config: toml::Table::new(),
                            at: at.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        let is = |b: &BackendEntry| {
            registry
                .backend(&b.name)
                .is_ok_and(|r| r.language() == language)
        };
        backends.sort_by_key(|b| !is(b));
    }
}

/// Runs the stitched SystemVerilog top of an all-RTL design through Verilator alone, on
/// the frames `simulated` ran, back to back without stalls; its output must be the
/// co-simulation's, word for word. Returns what it measured.
fn stitched_rtl(
    root: &Path,
    design: &Design,
    net: &stitch::Netlist,
    simulated: &Simulated,
) -> Result<report::StitchedRun, String> {
    let mut sources = vec![brainsmith_core::GeneratedFile {
        path: format!("{}.sv", stitch::TOP),
        contents: stitch::sv_top(design, net),
    }];
    let mut params = Vec::new();
    for node in &design.nodes {
        for f in &node.generated.sources {
            if f.path.ends_with(".sv") || f.path.ends_with(".v") {
                sources.push(f.clone());
            } else {
                params.push(f.clone());
            }
        }
        params.extend(node.generated.params.iter().cloned());
    }
    let generated = brainsmith_core::Generated {
        sources,
        params,
        interface: brainsmith_core::Interface {
            top: stitch::TOP.to_owned(),
            ports: Vec::new(),
            clock: Some("ap_clk".into()),
            reset: Some("ap_rst_n".into()),
        },
    };
    let out_wire = net.wires.iter().position(|w| w.name == "out0").unwrap_or(0);
    let sim = crate::rtlsim::compile_rtl(
        &root.join("sim").join("stitched_rtl"),
        &generated,
        net.wires[0].width,
        net.wires[out_wire].width,
    )
    .map_err(err)?;
    let run = sim
        .run(
            &simulated.words_in,
            simulated.words_out.len(),
            crate::rtlsim::Stalls::NONE,
        )
        .map_err(err)?;
    if run.words != simulated.words_out {
        let k = run
            .words
            .iter()
            .zip(&simulated.words_out)
            .position(|(a, b)| a != b)
            .unwrap_or(run.words.len().min(simulated.words_out.len()));
        return Err(format!(
            "the stitched RTL top's output differs from the co-simulation's at word {k}"
        ));
    }
    let frames = simulated.outputs.len();
    let in_per_frame = simulated.words_in.len() / frames.max(1);
    let timing = run
        .frames(in_per_frame, simulated.out_per_frame)
        .unwrap_or_default();
    Ok(report::StitchedRun {
        frames,
        first_frame_cycles: timing.first().map_or(0, |f| f.cycles()),
        interval_cycles: run.interval(simulated.out_per_frame),
    })
}

/// The `target_cycles` of the blueprint's first `SetFolding`.
fn set_folding_target(blueprint: &Blueprint) -> Option<u64> {
    blueprint
        .stages
        .values()
        .flat_map(|(_, e)| e)
        .find(|e| e.name == "SetFolding" || e.name.ends_with(":SetFolding"))
        .map(|e| {
            e.config
                .get("target_cycles")
                .and_then(toml::Value::as_integer)
                .map_or(1000, |c| c.max(1) as u64)
        })
}

/// The host's nodes before and after the accelerator, as (name, op type).
type Side = Vec<(String, String)>;

fn host_sides(host: &Model) -> (Side, Side) {
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut seen = false;
    for n in host.graph.nodes.iter() {
        if n.op_type == PARTITION_OP {
            seen = true;
        } else if seen {
            after.push((n.name.clone(), n.op_type.clone()));
        } else {
            before.push((n.name.clone(), n.op_type.clone()));
        }
    }
    (before, after)
}

/// `n` seeded frames for the model's (one) input: whole numbers over the range of its
/// QONNX datatype when it has one, else pixels scaled to the unit range (`k / 255`), as a
/// network trained on images reads them.
pub fn seeded_frames(model: &Model, n: usize) -> Result<Vec<Tensor>, String> {
    let graph = &model.graph;
    let inputs: Vec<_> = graph
        .inputs
        .iter()
        .filter(|v| graph.initializer(&v.name).is_none())
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(format!(
            "the model has {} inputs; compile checks models with one",
            inputs.len()
        ));
    };
    let shape = input
        .static_shape()
        .ok_or_else(|| format!("input '{}' has no static shape", input.name))?;
    let len: i64 = shape.iter().product();
    let datatype = graph.datatype(&input.name).and_then(Result::ok);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |lo: i64, hi: i64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + ((state >> 33) % (hi - lo + 1) as u64) as i64
    };
    Ok((0..n)
        .map(|_| {
            let values: Vec<f32> = (0..len)
                .map(|_| match datatype {
                    Some(QuantType::Bipolar) => {
                        if next(0, 1) == 0 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                    Some(dt) if dt.is_integer() => {
                        let (lo, hi) = dt.range();
                        next(lo.max(-1e6) as i64, hi.min(1e6) as i64) as f32
                    }
                    _ => next(0, 255) as f32 / 255.0,
                })
                .collect();
            Tensor::from_f32(&input.name, &shape, &values)
        })
        .collect())
}

/// Outputs of the host model around the simulated accelerator, per frame, and the RTL
/// nodes' measured cycles.
pub struct Simulated {
    /// Per frame, the model's outputs.
    pub outputs: Vec<Vec<Tensor>>,
    /// Per RTL node, its cycles per frame.
    pub rtl_cycles: Vec<(String, Vec<u64>)>,
    /// The accelerator's input words, all frames.
    pub words_in: Vec<Vec<u64>>,
    /// Its output words, all frames.
    pub words_out: Vec<Vec<u64>>,
    /// Output words per frame.
    pub out_per_frame: usize,
}

/// Runs `inputs` (one tensor per frame) through the host model, its accelerator simulated
/// once for all frames.
pub fn run_frames(
    host: &Model,
    accelerator: &Model,
    design: &Design,
    sim: &cosim::Cosim,
    inputs: &[Tensor],
) -> Result<Simulated, String> {
    let first = design
        .nodes
        .iter()
        .find_map(|n| {
            let slot = n.inputs.iter().position(|t| *t == design.input)?;
            n.stream(Direction::In, slot).cloned()
        })
        .ok_or("no node reads the accelerator's input")?;
    let last = design
        .producer(&design.output)
        .and_then(|(p, slot)| design.nodes[p].stream(Direction::Out, slot).cloned())
        .ok_or("no node writes the accelerator's output")?;
    let lanes =
        |s: &brainsmith_core::Stream| s.folded_shape.last().copied().unwrap_or(1).max(1) as usize;
    // Pass 1: each frame's accelerator input, with the accelerator run in software.
    let mut accel_inputs: Vec<Tensor> = Vec::new();
    for x in inputs {
        execute_with(host, std::slice::from_ref(x), &mut |node, ins| {
            if node.op_type != PARTITION_OP {
                return None;
            }
            accel_inputs.push(ins[0].clone());
            Some(run_model(accelerator, &ins[..1]))
        })
        .map_err(err)?;
    }
    let mut words = Vec::new();
    for t in &accel_inputs {
        let values = t.to_f64().map_err(err)?;
        words.extend(pack(&values, lanes(&first), first.datatype));
    }
    let out_words = last.transfers() as usize;
    let run = sim
        .run(&words, accel_inputs.len(), out_words)
        .map_err(err)?;
    let values = unpack(&run.words, lanes(&last), last.datatype);
    let per_frame = last.normal_shape.iter().product::<i64>().max(0) as usize;
    if values.len() < per_frame * accel_inputs.len() {
        return Err(format!(
            "the co-simulation gave {} values for {} frames of {per_frame}",
            values.len(),
            accel_inputs.len()
        ));
    }
    // Pass 2: the host around the simulated accelerator.
    let out_elem = accelerator.graph.outputs[0]
        .tensor_type()
        .map_or(ElemType::Float as i32, |t| t.elem_type);
    let mut outputs = Vec::new();
    for (k, x) in inputs.iter().enumerate() {
        let chunk = &values[k * per_frame..(k + 1) * per_frame];
        let y = execute_with(host, std::slice::from_ref(x), &mut |node, _| {
            if node.op_type != PARTITION_OP {
                return None;
            }
            let name = node.outputs[0].clone();
            let t = if out_elem == ElemType::Int64 as i32 {
                let v: Vec<i64> = chunk.iter().map(|&v| v as i64).collect();
                Tensor::from_i64(&name, &last.normal_shape, &v)
            } else {
                let v: Vec<f32> = chunk.iter().map(|&v| v as f32).collect();
                Tensor::from_f32(&name, &last.normal_shape, &v)
            };
            Some(Ok(vec![t]))
        })
        .map_err(err)?;
        outputs.push(y);
    }
    Ok(Simulated {
        outputs,
        rtl_cycles: run.rtl_cycles,
        words_in: words,
        words_out: run.words,
        out_per_frame: out_words,
    })
}

/// Whether two frames' outputs are equal bit for bit (as `f64`); the first difference.
fn compare(got: &[Tensor], want: &[Tensor]) -> Result<(), String> {
    for (o, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f64().map_err(err)?, w.to_f64().map_err(err)?);
        if g.len() != w.len() {
            return Err(format!(
                "output {o} has {} values, not {}",
                g.len(),
                w.len()
            ));
        }
        if let Some(i) = (0..g.len()).find(|&i| g[i].to_bits() != w[i].to_bits()) {
            return Err(format!(
                "output {o}, value {i}: {} where the model computes {}",
                g[i], w[i]
            ));
        }
    }
    Ok(())
}

/// What [`simulate`] measured.
#[derive(Debug)]
pub struct SimulateSummary {
    /// Frames run.
    pub frames: usize,
    /// Per RTL node, the slowest frame's cycles, next to its estimate.
    pub rtl: Vec<(String, u64, Option<u64>)>,
    /// The design's estimated cycles per frame (its slowest node).
    pub estimated_cycles: Option<u64>,
    /// Seconds for the simulation (without building it).
    pub seconds: f64,
}

/// Runs the compiled design in `dir` on the frames of `input` (a `.npy` array: the model's
/// input shape, or frames of it stacked on a leading axis); returns the outputs stacked
/// the same way, and what was measured.
pub fn simulate(
    registry: &'static Registry,
    dir: &Path,
    input: &npy::Array,
) -> Result<(npy::Array, npy::Dtype, SimulateSummary), String> {
    let load = |f: &str| {
        Model::load(dir.join(f)).map_err(|e| {
            format!(
                "{}: {e}; is {} a directory `brainsmith compile` wrote?",
                dir.join(f).display(),
                dir.display()
            )
        })
    };
    let host = load("host.onnx")?;
    let accelerator = load("accelerator.onnx")?;
    let ctx = StepContext::new(registry);
    let kernel_for = |n: &Node| -> Result<_, PluginError> { ctx.kernel_for(n) };
    let target = Target::default();
    let design = Design::of(&accelerator, &kernel_for, &target)?;
    let constants = |t: &str| accelerator.graph.initializer(t).is_some();
    let net = stitch::netlist(&design, &constants)?;
    let sim = cosim::build(dir, &design, &net).map_err(err)?;
    let graph = &host.graph;
    let model_input = graph
        .inputs
        .iter()
        .find(|v| graph.initializer(&v.name).is_none())
        .ok_or("the host model has no input")?;
    let shape = model_input
        .static_shape()
        .ok_or("the host model's input has no static shape")?;
    let frame: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    let per_frame: usize = frame.iter().product();
    // One frame; frames stacked on a new leading axis; or frames along the batch axis.
    let stacked = input.shape.len() == frame.len() + 1 && input.shape[1..] == frame[..];
    let batched = frame.first() == Some(&1)
        && input.shape.len() == frame.len()
        && input.shape[1..] == frame[1..];
    let frames = if input.shape == frame {
        1
    } else if stacked || batched {
        input.shape[0]
    } else {
        return Err(format!(
            "the input array is {:?}; the model reads frames of {frame:?} (give one, or several \
             stacked on a leading axis)",
            input.shape
        ));
    };
    if frames == 0 || per_frame == 0 {
        return Err("the input array holds no frame".into());
    }
    let shape_i64: Vec<i64> = shape.clone();
    let inputs: Vec<Tensor> = input
        .values
        .chunks(per_frame)
        .map(|c| {
            let v: Vec<f32> = c.iter().map(|&v| v as f32).collect();
            Tensor::from_f32(&model_input.name, &shape_i64, &v)
        })
        .collect();
    let t = Instant::now();
    let simulated = run_frames(&host, &accelerator, &design, &sim, &inputs)?;
    let seconds = t.elapsed().as_secs_f64();
    let out_info = &host.graph.outputs[0];
    let out_shape: Vec<usize> = out_info
        .static_shape()
        .unwrap_or_default()
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let mut values = Vec::new();
    for y in &simulated.outputs {
        values.extend(y[0].to_f64().map_err(err)?);
    }
    let mut stacked = out_shape.clone();
    if stacked.first() == Some(&1) {
        stacked[0] = frames;
    } else {
        stacked.insert(0, frames);
    }
    let dtype = if out_info.tensor_type().map(|t| t.elem_type) == Some(ElemType::Int64 as i32) {
        npy::Dtype::I64
    } else {
        npy::Dtype::F32
    };
    let rtl = simulated
        .rtl_cycles
        .iter()
        .map(|(name, c)| {
            let estimate = design
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .and_then(|n| n.cycles);
            (name.clone(), c.iter().copied().max().unwrap_or(0), estimate)
        })
        .collect();
    Ok((
        npy::Array {
            shape: stacked,
            values,
        },
        dtype,
        SimulateSummary {
            frames,
            rtl,
            estimated_cycles: design.bottleneck().and_then(|b| design.nodes[b].cycles),
            seconds,
        },
    ))
}
