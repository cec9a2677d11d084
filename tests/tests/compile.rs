//! `brainsmith compile` and `brainsmith simulate` end to end: FINN's networks from their
//! Brevitas exports to stitched, co-simulated accelerators whose outputs equal the
//! model's on seeded frames; the report, the picture as Chromium draws it, `.npy` in and
//! out; and every way a compile can be refused without leaving a directory that looks
//! complete.
//!
//! Each design's simulation is built once: `compile` builds and checks it, `simulate`
//! reuses the build in the directory.

use std::path::{Path, PathBuf};

use brainsmith_core::Registry;
use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::Model;
use brainsmith_plugins::compile::{npy, partition::PARTITION_OP, seeded_frames};
use brainsmith_plugins::exec::execute;
use brainsmith_tests::{brainsmith, models_dir};

fn shared_path(name: &str) -> PathBuf {
    brainsmith_tests::shared_model_path(name)
}

/// Compiles `model` into `dir` with `extra` arguments; returns stdout (panics with stderr).
fn compile(model: &Path, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "compile",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = brainsmith(&args);
    assert_eq!(code, 0, "brainsmith {}:\n{err}", args.join(" "));
    out
}

/// Everything `compile` promises to write is there, the host model calls the accelerator
/// once, and every accelerator node is a hardware node with a backend.
fn check_directory(dir: &Path) -> serde_json::Value {
    for f in [
        "host.onnx",
        "accelerator.onnx",
        "stitched/accelerator.sv",
        "stitched/accelerator.hpp",
        "report.json",
        "report.txt",
        "dataflow.svg",
        "nodes/folding_config.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} is missing");
    }
    let registry = Registry::global().unwrap();
    let host = Model::load(dir.join("host.onnx")).unwrap();
    let calls: Vec<_> = host
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == PARTITION_OP)
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].attr_str("model"), Some("accelerator.onnx"));
    let accelerator = Model::load(dir.join("accelerator.onnx")).unwrap();
    for n in accelerator.graph.nodes.iter() {
        let found = resolve(registry, n).unwrap().unwrap();
        assert!(found.backend.is_some(), "{} has no backend", n.name);
        assert!(
            dir.join("nodes")
                .join(brainsmith_core::backend::identifier(&n.name))
                .is_dir(),
            "{} has no sources",
            n.name
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["nodes"].as_array().unwrap().len(),
        accelerator.graph.nodes.len()
    );
    report
}

/// `simulate` on `frames` seeded frames stacked in a `.npy` gives, in its output `.npy`,
/// what the original model computes on each.
fn simulate_matches_the_model(dir: &Path, original: &Model, frames: usize) -> String {
    let inputs = seeded_frames(original, frames).unwrap();
    let frame_shape: Vec<usize> = inputs[0].dims().iter().map(|&d| d as usize).collect();
    let mut values = Vec::new();
    for x in &inputs {
        values.extend(x.to_f64().unwrap());
    }
    let mut shape = vec![frames];
    shape.extend(&frame_shape);
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("x.npy"), tmp.path().join("y.npy"));
    std::fs::write(
        &input,
        npy::encode(&npy::Array { shape, values }, npy::Dtype::F32),
    )
    .unwrap();
    let (code, out, err) = brainsmith(&[
        "simulate",
        dir.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "simulate:\n{err}");
    let got = npy::read(&output).unwrap();
    let mut want = Vec::new();
    for x in &inputs {
        for y in execute(original, std::slice::from_ref(x)).unwrap() {
            want.extend(y.to_f64().unwrap());
        }
    }
    assert_eq!(got.shape[0], frames);
    // The .npy holds float32, as the model's output is.
    let want32: Vec<f64> = want.iter().map(|&v| f64::from(v as f32)).collect();
    assert_eq!(
        got.values, want32,
        "simulate's output differs from the model's"
    );
    out
}

#[test]
fn tfc_w1a1_compiles_simulates_and_reports() {
    let model = shared_path("brevitas_tfc_1w1a_seed1.onnx");
    let original = Model::load(&model).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tfc");
    let out = compile(&model, &dir, &["--target-cycles", "600"]);
    assert!(
        out.contains("checked: 20 seeded frames"),
        "compile checked no frames:\n{out}"
    );
    let report = check_directory(&dir);
    assert_eq!(report["frames_checked"], 20);
    assert_eq!(report["target_cycles"], 600);
    let cycles = report["cycles_per_frame"].as_u64().unwrap();
    assert!(cycles <= 600, "{cycles} cycles per frame");
    let fps = report["estimated_fps"].as_f64().unwrap();
    assert!((fps - 1e8 / cycles as f64).abs() < 1e-6);
    assert!(report["bottleneck"].is_string());
    // Every transform and step of the blueprint, timed.
    let steps = report["steps"].as_array().unwrap();
    assert!(steps.len() > 40, "{} steps", steps.len());
    assert!(steps.iter().all(|s| s["seconds"].as_f64().unwrap() >= 0.0));
    assert!(
        steps
            .iter()
            .any(|s| s["name"] == "step brainsmith:specialize_layers")
    );
    assert!(report["total_resources"]["lut"].as_u64().unwrap() > 0);
    // Every node's backend and why it was chosen.
    for n in report["nodes"].as_array().unwrap() {
        assert!(n["backend"].as_str().unwrap().starts_with("brainsmith:"));
        assert!(n["backend_reason"].is_string(), "{n}");
    }
    // The first quantizer and the final scaling stay in software, as FINN leaves them.
    let host: Vec<&str> = report["host_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[1].as_str().unwrap())
        .collect();
    assert_eq!(host, ["Reshape", "MultiThreshold", "Div"]);

    // simulate reuses compile's build of the co-simulation.
    let exe = dir.join("sim/build/accelerator");
    let built = std::fs::metadata(&exe).unwrap().modified().unwrap();
    let said = simulate_matches_the_model(&dir, &original, 3);
    assert!(said.contains("simulated 3 frame(s)"), "{said}");
    assert_eq!(std::fs::metadata(&exe).unwrap().modified().unwrap(), built);

    // The picture, as Chromium draws it: HLS nodes, host nodes, the bottleneck.
    if let Some(chromium) = brainsmith_tests::chromium::find("tfc_dataflow_svg") {
        use brainsmith_plugins::svg::{BOTTLENECK_RED, HLS_FILL, HOST_FILL, RTL_FILL};
        use brainsmith_tests::chromium::{count, screenshot_svg};
        let shot = screenshot_svg(&chromium, &dir.join("dataflow.svg"));
        let px = &shot.pixels;
        assert!(count(px, HLS_FILL) > 20_000, "too little HLS fill");
        assert!(count(px, HOST_FILL) > 10_000, "too little host grey");
        assert!(count(px, RTL_FILL) > 5_000, "the FIFOs (RTL) are not drawn");
        assert!(count(px, BOTTLENECK_RED) > 300, "no bottleneck mark");
    }

    // An existing directory is not replaced without --force, and is left as it was.
    let before = std::fs::read(dir.join("report.json")).unwrap();
    let (code, out, err) = brainsmith(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(dir.join("report.json")).unwrap(), before);
    // With --force it is replaced, whole.
    compile(&model, &dir, &["--force", "--frames", "0"]);
    let report = check_directory(&dir);
    assert_eq!(report["frames_checked"], 0);
    assert_eq!(report["target_cycles"], 1000);
    assert!(
        !dir.join("sim").exists(),
        "the old directory's files survived"
    );
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
    // A rate at the clock is a folding target: 200,000 frames/s at 10 ns, 500 cycles.
    compile(
        &model,
        &dir,
        &["--force", "--frames", "0", "--target-fps", "200000"],
    );
    let report = check_directory(&dir);
    assert_eq!(report["target_cycles"], 500);
    assert!(report["estimated_fps"].as_f64().unwrap() >= 200_000.0);
}

/// Hidden temporary directories a compile left beside its output.
fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn cnv_w1a1_compiles_and_simulates() {
    let model = shared_path("brevitas_cnv_1w1a_seed2.onnx");
    let original = Model::load(&model).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cnv");
    let out = compile(&model, &dir, &["--target-cycles", "20000"]);
    assert!(out.contains("checked: 20 seeded frames"), "{out}");
    let report = check_directory(&dir);
    assert!(report["cycles_per_frame"].as_u64().unwrap() <= 20_000);
    // Everything from the first window generator to the last classifier scaling is in
    // hardware; the input's transpose and quantizer, the flatten moved to the output and
    // the final division stay in software.
    let host: Vec<&str> = report["host_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[1].as_str().unwrap())
        .collect();
    assert_eq!(host, ["Transpose", "MultiThreshold", "Div", "Reshape"]);
    assert!(report["left_in_host"].as_array().unwrap().is_empty());
    simulate_matches_the_model(&dir, &original, 2);
}

/// The other widths and sizes of the family compile, checked on a few frames.
#[test]
fn other_widths_of_the_family_compile() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, target) in [
        ("brevitas_tfc_2w2a_seed3.onnx", "1000"),
        ("brevitas_tfc_1w2a_seed4.onnx", "1000"),
        ("brevitas_sfc_1w1a_seed5.onnx", "2000"),
    ] {
        let model = models_dir().join(name);
        let dir = tmp.path().join(name);
        let out = compile(&model, &dir, &["--target-cycles", target, "--frames", "4"]);
        assert!(out.contains("checked: 4 seeded frames"), "{name}:\n{out}");
        check_directory(&dir);
    }
}

/// Preferring RTL: the MVAUs, width converters and FIFOs are RTL, each co-simulated as
/// its Verilator model, with cycles measured within 15% of the estimate plus the
/// pipeline's fill; without the channelwise scaling (left in software), the design is
/// all RTL and its stitched top runs through Verilator alone at the estimated interval.
#[test]
fn rtl_designs_measure_their_cycles() {
    let model = shared_path("brevitas_tfc_1w1a_seed1.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mixed");
    compile(&model, &dir, &["--prefer", "rtl", "--frames", "4"]);
    let report = check_directory(&dir);
    let mut measured = 0;
    for n in report["nodes"].as_array().unwrap() {
        if let Some(m) = n["measured_cycles"].as_u64() {
            let estimate = n["cycles"].as_u64().unwrap();
            assert!(n["backend"].as_str().unwrap().ends_with("_rtl"));
            assert!(
                m as f64 <= estimate as f64 * 1.15 + 16.0 && m >= estimate,
                "{}: measured {m}, estimated {estimate}",
                n["name"]
            );
            measured += 1;
        }
    }
    assert!(measured >= 4, "only {measured} RTL nodes measured");
    assert!(
        report["stitched_rtl"].is_null(),
        "a mixed design has no RTL-only top"
    );

    let finn = brainsmith_plugins::blueprints::FINN;
    let without: String = finn
        .lines()
        .filter(|l| !l.contains("InferChannelwiseOp"))
        .map(|l| format!("{l}\n"))
        .collect();
    let blueprint = tmp.path().join("no_channelwise.toml");
    std::fs::write(&blueprint, without).unwrap();
    let dir = tmp.path().join("rtl");
    let out = compile(
        &model,
        &dir,
        &[
            "--prefer",
            "rtl",
            "--frames",
            "4",
            "--blueprint",
            blueprint.to_str().unwrap(),
        ],
    );
    let report = check_directory(&dir);
    let run = &report["stitched_rtl"];
    assert_eq!(run["frames"], 4, "{out}");
    let interval = run["interval_cycles"].as_f64().unwrap();
    let estimate = report["cycles_per_frame"].as_u64().unwrap() as f64;
    assert!(
        interval >= estimate && interval <= estimate * 1.15,
        "stitched top: {interval} cycles per frame, estimated {estimate}"
    );
    assert!(out.contains("stitched RTL top (Verilator)"), "{out}");
}

#[test]
fn bad_compiles_are_refused_and_leave_nothing() {
    let tfc = shared_path("brevitas_tfc_1w1a_seed1.onnx");
    let cnv = shared_path("brevitas_cnv_1w1a_seed2.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let d = dir.to_str().unwrap();
    let fails = |args: &[&str], says: &[&str]| {
        let (code, out, err) = brainsmith(args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert_eq!(out, "", "{args:?}");
        for s in says {
            assert!(err.contains(s), "{args:?}: no '{s}' in:\n{err}");
        }
        assert!(!dir.exists(), "{args:?} left {d}");
        assert_eq!(leftovers(tmp.path()), Vec::<String>::new(), "{args:?}");
    };
    // A design larger than the part: the numbers, and nothing written.
    fails(
        &["compile", cnv.to_str().unwrap(), "-o", d],
        &[
            "does not fit xc7z020clg400-1",
            "LUT",
            "of 53,200",
            "Nothing was written",
        ],
    );
    fails(
        &[
            "compile",
            tfc.to_str().unwrap(),
            "-o",
            d,
            "--part",
            "xc9z999",
        ],
        &["unknown part 'xc9z999'", "xczu3eg-sbva484-1-e (Ultra96)"],
    );
    fails(
        &[
            "compile",
            tfc.to_str().unwrap(),
            "-o",
            d,
            "--target-cycles",
            "10",
            "--target-fps",
            "5",
        ],
        &["cannot be used with"],
    );
    fails(
        &[
            "compile",
            tfc.to_str().unwrap(),
            "-o",
            d,
            "--target-fps",
            "1e12",
        ],
        &["less than one cycle per frame"],
    );
    fails(
        &["compile", tfc.to_str().unwrap(), "-o", d, "--clock-ns", "0"],
        &["--clock-ns 0 is not a clock period"],
    );
    fails(
        &["compile", "no/such/model.onnx", "-o", d],
        &["no/such/model.onnx"],
    );
    let blueprint = tmp.path().join("bad.toml");
    std::fs::write(&blueprint, "steps = [\"brainsmith:NoSuchStep\"]\n").unwrap();
    fails(
        &[
            "compile",
            tfc.to_str().unwrap(),
            "-o",
            d,
            "--blueprint",
            blueprint.to_str().unwrap(),
        ],
        &["bad.toml:1", "NoSuchStep"],
    );
    std::fs::remove_file(&blueprint).unwrap();
    // A blueprint that maps nothing onto hardware: nothing to build.
    let blueprint = tmp.path().join("cleanup_only.toml");
    std::fs::write(&blueprint, "steps = [\"brainsmith:cleanup\"]\n").unwrap();
    fails(
        &[
            "compile",
            tfc.to_str().unwrap(),
            "-o",
            d,
            "--blueprint",
            blueprint.to_str().unwrap(),
        ],
        &["no node has a hardware backend"],
    );
    std::fs::remove_file(&blueprint).unwrap();
    // An output that is a file is not replaced.
    std::fs::write(&dir, "keep me").unwrap();
    let (code, _, err) = brainsmith(&["compile", tfc.to_str().unwrap(), "-o", d, "--force"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "keep me");
    std::fs::remove_file(&dir).unwrap();

    // simulate: a directory compile did not write, a bad array.
    let (code, _, err) =
        brainsmith(&["simulate", tmp.path().to_str().unwrap(), "--input", "x.npy"]);
    assert_eq!(code, 1);
    assert!(err.contains("x.npy"), "{err}");
    let npy_file = tmp.path().join("x.npy");
    std::fs::write(
        &npy_file,
        npy::encode(
            &npy::Array {
                shape: vec![3],
                values: vec![0.0; 3],
            },
            npy::Dtype::F32,
        ),
    )
    .unwrap();
    let (code, _, err) = brainsmith(&[
        "simulate",
        tmp.path().to_str().unwrap(),
        "--input",
        npy_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("host.onnx") && err.contains("brainsmith compile"),
        "{err}"
    );
}

/// The model outputs `compile` checks the simulation against are qonnx's too: qonnx's
/// executor runs the exports on the same seeded frames bit for bit like ours.
#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn the_reference_outputs_are_qonnxs() {
    use brainsmith_tests::oracle::{Oracle, scratch_dir};
    let Some(oracle) = Oracle::find() else { return };
    let dir = scratch_dir("compile_reference");
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "brevitas_tfc_1w1a_seed1.onnx",
        "brevitas_cnv_1w1a_seed2.onnx",
    ] {
        let path = shared_path(name);
        let model = Model::load(&path).unwrap();
        for x in seeded_frames(&model, 3).unwrap() {
            let ours = execute(&model, std::slice::from_ref(&x)).unwrap();
            let theirs = oracle
                .execute(&path, &[x], &dir)
                .unwrap_or_else(|e| panic!("qonnx on {name}: {e}"));
            let bits = |t: &[brainsmith_core::ir::Tensor]| -> Vec<u64> {
                t.iter()
                    .flat_map(|t| t.to_f64().unwrap())
                    .map(f64::to_bits)
                    .collect()
            };
            assert_eq!(bits(&ours), bits(&theirs), "{name}");
        }
    }
}

/// `dse` tries the blueprint's `[explore]` branch points, marks the Pareto front, and
/// compiles the fastest point on it (checked by simulation like any compile).
#[test]
fn dse_explores_the_blueprints_branch_points() {
    let model = shared_path("brevitas_tfc_1w1a_seed1.onnx");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("finn.toml"),
        brainsmith_plugins::blueprints::FINN,
    )
    .unwrap();
    let blueprint = tmp.path().join("explore.toml");
    std::fs::write(
        &blueprint,
        "extends = \"finn.toml\"\n[explore]\ntarget_cycles = [20000, 500, 2000]\n\
         prefer = [\"hls\", \"blueprint\"]\n",
    )
    .unwrap();
    let dir = tmp.path().join("dse");
    let (code, out, err) = brainsmith(&[
        "dse",
        model.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
        "--blueprint",
        blueprint.to_str().unwrap(),
        "--frames",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let points: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dse.json")).unwrap()).unwrap();
    assert_eq!(points.len(), 6, "{out}");
    let targets: Vec<u64> = points
        .iter()
        .map(|p| p["target_cycles"].as_u64().unwrap())
        .collect();
    assert_eq!(targets, [20000, 500, 2000, 20000, 500, 2000]);
    let chosen: Vec<&serde_json::Value> = points.iter().filter(|p| p["chosen"] == true).collect();
    assert_eq!(chosen.len(), 1);
    let fastest = points
        .iter()
        .filter(|p| p["pareto"] == true)
        .map(|p| p["cycles_per_frame"].as_u64().unwrap())
        .min()
        .unwrap();
    assert_eq!(chosen[0]["cycles_per_frame"].as_u64().unwrap(), fastest);
    assert_eq!(chosen[0]["target_cycles"], 500);
    // The same estimates under the blueprint's own order are reported, not counted twice.
    assert!(points[3]["same_as"].is_number() && points[3]["pareto"] == false);
    assert!(out.contains(">*"), "{out}");
    let report = check_directory(&dir);
    assert_eq!(report["target_cycles"], 500);
    assert!(dir.join("dse.txt").is_file());

    // A branch point that is not one is a blueprint problem at its line.
    std::fs::write(
        &blueprint,
        "extends = \"finn.toml\"\n[explore]\ntarget_cycles = [0]\nprefer = [\"fpga\"]\n",
    )
    .unwrap();
    let (code, _, err) = brainsmith(&["blueprint", "check", blueprint.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("explore.toml:3:") && err.contains("at least 1, not 0"),
        "{err}"
    );
    assert!(
        err.contains("explore.toml:4:") && err.contains("not \"fpga\""),
        "{err}"
    );
}
