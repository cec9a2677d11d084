//! FINN's end-to-end networks, from the Brevitas export to FINN's kernels: every stage of
//! one flow (QONNX to FINN form, streamlining, lowering, kernel mapping, the classifier's
//! top-1) runs bit for bit like the stage before on seeded inputs, and at the end no
//! compute is left in software but what FINN leaves there too (the first `Reshape` or
//! `Transpose`; a final `Reshape` that only restores the output's declared shape). The
//! same flow maps TFC in other widths (w2a2, w1a2) and the wider SFC.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::kernel::{Direction, Target};
use brainsmith_core::{Config, Registry, Transform, TransformContext};
use brainsmith_plugins::exec::execute;
use brainsmith_plugins::folding::{self, FoldingConfig};
use brainsmith_plugins::{
    AbsorbAffineIntoMultiThreshold, AbsorbConsecutiveTransposes, AbsorbScalarMulAddIntoTopK,
    AbsorbTransposeIntoMultiThreshold, BatchNormToAffine, ConvertQuantActToMultiThreshold,
    ConvertSubToAdd, FoldConstants, FoldQuantWeights, GemmToMatMul, InferConvInpGen,
    InferDataTypes, InferLabelSelect, InferMvau, InferShapes, InferStreamingMaxPool,
    InferThresholding, InsertDwc, LowerConvsToMatMul, MoveFlattenPastKernels,
    MoveScalarMulPastMatMul, RemoveIdentityOps, RemoveStaticGraphInputs, RemoveUnusedNodes,
    RemoveUnusedTensors, SetFolding,
};
use brainsmith_tests::{Lcg, model, shared_model};

/// FINN's pre-processing: the network reads pixels as `UINT8` and divides them by 255.
fn with_uint8_input(mut m: Model) -> Model {
    let x = m.graph.inputs[0].name.clone();
    let shape = m.graph.inputs[0].static_shape().unwrap();
    let pixels = "pixels".to_owned();
    m.graph.inputs[0] = ValueInfo::tensor(pixels.as_str(), ElemType::Float, &shape);
    m.graph
        .initializers
        .push(Tensor::from_f32("pixel_scale", &[], &[255.0]));
    m.graph.nodes.insert(
        0,
        Node::new("Div", [pixels.as_str(), "pixel_scale"], [x.as_str()]).with_name("to_unit"),
    );
    m.graph.set_datatype(&pixels, QuantType::UInt(8));
    m
}

/// FINN's post-processing: the index of the largest score.
fn with_top_1(mut m: Model) -> Model {
    let scores = m.graph.outputs[0].name.clone();
    m.graph
        .initializers
        .push(Tensor::from_i64("one", &[1], &[1]));
    m.graph.nodes.push(
        Node::new(
            "TopK",
            [scores.as_str(), "one", ""].into_iter().take(2),
            ["", "label"],
        )
        .with_name("top1"),
    );
    m.graph.outputs[0] = ValueInfo::tensor("label", ElemType::Int64, &[1, 1]);
    m
}

/// Seeded pixel frames.
fn frames(m: &Model, n: usize) -> Vec<Tensor> {
    let shape = m.graph.inputs[0].static_shape().unwrap();
    let len: i64 = shape.iter().product();
    let mut g = Lcg(2024);
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..len).map(|_| g.int(0, 255) as f32).collect();
            Tensor::from_f32("pixels", &shape, &v)
        })
        .collect()
}

fn outputs(m: &Model, inputs: &[Tensor]) -> Vec<Vec<u64>> {
    inputs
        .iter()
        .map(|x| {
            execute(m, std::slice::from_ref(x))
                .unwrap_or_else(|e| panic!("{e}"))
                .iter()
                .flat_map(|t| t.to_f64().unwrap())
                .map(f64::to_bits)
                .collect()
        })
        .collect()
}

/// Applies `stage` and checks the model still computes what it did, bit for bit.
fn stage(m: &mut Model, inputs: &[Tensor], expected: &[Vec<u64>], stage: &[&dyn Transform]) {
    let mut ctx = TransformContext::default();
    for t in stage {
        t.apply(m, &mut ctx).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        outputs(m, inputs),
        expected,
        "after {:?}",
        ctx.diagnostics()
    );
}

fn compute_ops(m: &Model) -> Vec<String> {
    m.graph.nodes.iter().map(|n| n.op_type.clone()).collect()
}

/// FINN's flow from a Brevitas export to kernels, each stage checked bit for bit against
/// the network's logits (and, once the top-1 is added, its labels) on `frames` frames.
/// Returns the mapped model.
fn finn_flow(original: &Model, frames_checked: usize) -> Model {
    let inputs = frames(original, frames_checked);
    let logits = outputs(original, &inputs);
    let mut m = original.clone();
    // QONNX to FINN form: weights folded, Gemm to MatMul, batch norm to arithmetic, the
    // activation quantizers to thresholds. (No `ConvertDivToMul`: `x / c` and
    // `x * (1 / c)` differ in the last bit; the absorptions read `Div` as it is.)
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &RemoveStaticGraphInputs,
            &InferShapes,
            &FoldQuantWeights,
            &FoldConstants::default(),
            &GemmToMatMul,
            &FoldConstants::default(),
            &BatchNormToAffine,
            &ConvertSubToAdd,
            &RemoveIdentityOps::default(),
            &InferShapes,
            &ConvertQuantActToMultiThreshold,
        ],
    );
    assert!(
        !compute_ops(&m).iter().any(|op| op.ends_with("Quant")),
        "{:?}",
        compute_ops(&m)
    );
    // Streamlining: the arithmetic into the thresholds; power-of-two activation scales
    // past the products, into the thresholds after them.
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &InferShapes,
            &InferDataTypes,
            &AbsorbAffineIntoMultiThreshold,
            &MoveScalarMulPastMatMul,
            &InferShapes,
            &InferDataTypes,
            &AbsorbAffineIntoMultiThreshold,
            &RemoveUnusedTensors,
            &InferShapes,
            &InferDataTypes,
        ],
    );
    // Convolutions lowered to channels-last windows and products, the thresholds moved
    // into the channels-last dataflow.
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &LowerConvsToMatMul,
            &InferShapes,
            &AbsorbTransposeIntoMultiThreshold,
            &AbsorbConsecutiveTransposes,
            &InferShapes,
            &InferDataTypes,
        ],
    );
    // Kernel mapping.
    stage(
        &mut m,
        &inputs,
        &logits,
        &[
            &InferConvInpGen,
            &InferStreamingMaxPool,
            &AbsorbConsecutiveTransposes,
            &InferShapes,
            &InferDataTypes,
            &InferMvau,
            &InferThresholding,
            &InferShapes,
            &InferDataTypes,
            &RemoveUnusedTensors,
        ],
    );
    // The classifier's choice: the last arithmetic goes into the top-1, and the flatten
    // between the convolutions and the dense layers out to the output.
    let mut labelled = with_top_1(m);
    let expected = outputs(&with_top_1(original.clone()), &inputs);
    assert_eq!(outputs(&labelled, &inputs), expected);
    stage(
        &mut labelled,
        &inputs,
        &expected,
        &[
            &InferShapes,
            &InferDataTypes,
            &AbsorbScalarMulAddIntoTopK,
            &RemoveUnusedNodes,
            &InferShapes,
            &InferDataTypes,
            &InferLabelSelect,
            &MoveFlattenPastKernels,
            &InferShapes,
            &InferDataTypes,
            &RemoveUnusedTensors,
        ],
    );
    labelled
}

/// The MVAUs of `m`, as (XNOR mode, without activation) pairs.
fn units(m: &Model) -> Vec<(i64, i64)> {
    m.graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "MVAU")
        .map(|n| {
            (
                n.attr_int("binaryXnorMode").unwrap(),
                n.attr_int("noActivation").unwrap(),
            )
        })
        .collect()
}

#[test]
fn tfc_w1a1_maps_completely_onto_finns_kernels_bit_exact() {
    let original = with_uint8_input(model("brevitas_tfc_1w1a_seed1.onnx"));
    let mapped = finn_flow(&original, 8);
    assert_eq!(
        compute_ops(&mapped),
        [
            "Reshape",
            "Thresholding",
            "MVAU",
            "MVAU",
            "MVAU",
            "MVAU",
            "LabelSelect"
        ],
        "everything but the first Reshape in hardware"
    );
    // The first three units are XNOR-popcount with fused thresholds; the last has none.
    assert_eq!(units(&mapped), [(1, 0), (1, 0), (1, 0), (1, 1)]);
    folding_beats_finns(&mapped, &[60_000, 10_000, 1_000, 100, 10]);
    width_converters_join_differently_folded_kernels(&mapped, 100);
}

/// Folded for `target`, neighbours read and write words of different widths; after
/// `InsertDwc` every stream between two kernels has one width at both ends, and the
/// model computes what it did.
fn width_converters_join_differently_folded_kernels(mapped: &Model, target: u64) {
    let registry = Registry::global().unwrap();
    let mut m = mapped.clone();
    let table: toml::Table = toml::from_str(&format!("target_cycles = {target}")).unwrap();
    let mut ctx = TransformContext::default();
    SetFolding::from_table(&table)
        .unwrap()
        .apply(&mut m, &mut ctx)
        .unwrap();
    let folded = m.clone();
    assert!(
        InsertDwc.apply(&mut m, &mut ctx).unwrap(),
        "{:?}",
        ctx.diagnostics()
    );
    assert!(ctx.diagnostics().is_empty(), "{:?}", ctx.diagnostics());
    let converters = compute_ops(&m)
        .iter()
        .filter(|o| *o == "StreamingDataWidthConverter")
        .count();
    assert!(converters > 0);
    // Every kernel-to-kernel stream has one width at both ends.
    let width = |node: &Node, dir: Direction, slot: usize| {
        let kernel = brainsmith_core::hardware::resolve(registry, node)
            .unwrap()
            .unwrap()
            .kernel
            .instantiate();
        let streams = kernel.streams(node, &m.graph).unwrap();
        streams
            .iter()
            .find(|s| s.direction == dir && s.index == slot)
            .unwrap()
            .width()
    };
    let producers = m.graph.producers();
    for node in m
        .graph
        .nodes
        .iter()
        .filter(|n| n.domain.starts_with("finn"))
    {
        for (slot, t) in node.inputs.iter().enumerate() {
            if let Some(&p) = producers.get(t.as_str()) {
                let producer = &m.graph.nodes[p];
                if producer.domain.starts_with("finn") {
                    let out = producer.outputs.iter().position(|o| o == t).unwrap();
                    assert_eq!(
                        width(producer, Direction::Out, out),
                        width(node, Direction::In, slot),
                        "'{t}' from {} to {}",
                        producer.name,
                        node.name
                    );
                }
            }
        }
    }
    let inputs = frames(&folded, 2);
    assert_eq!(outputs(&m, &inputs), outputs(&folded, &inputs));
}

#[test]
fn cnv_w1a1_maps_completely_onto_finns_kernels_bit_exact() {
    let original = with_uint8_input(shared_model("brevitas_cnv_1w1a_seed2.onnx"));
    let mapped = finn_flow(&original, 2);
    let (swg, mvau, pool) = ("ConvolutionInputGenerator", "MVAU", "StreamingMaxPool");
    assert_eq!(
        compute_ops(&mapped),
        [
            "Transpose",
            "Thresholding",
            swg,
            mvau,
            swg,
            mvau,
            pool,
            swg,
            mvau,
            swg,
            mvau,
            pool,
            swg,
            mvau,
            swg,
            mvau,
            mvau,
            mvau,
            mvau,
            "LabelSelect",
            "Reshape",
        ],
        "everything but the input's channels-last transpose and the output's shape in \
         hardware"
    );
    // The first layer multiplies 8-bit pixels by bipolar weights; the others are
    // XNOR-popcount with fused thresholds, but the last, which has none.
    let mut expected = vec![(0, 0)];
    expected.extend([(1, 0); 7]);
    expected.push((1, 1));
    assert_eq!(units(&mapped), expected);
    let first = mapped
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "MVAU")
        .unwrap();
    assert_eq!(first.attr_str("inputDataType"), Some("INT8"));
    assert_eq!(first.attr_str("weightDataType"), Some("BIPOLAR"));
    folding_beats_finns(&mapped, &[1_000_000, 100_000, 10_000, 1_000]);
}

/// The bottleneck's cycles per frame and the summed cost of `m` as folded now.
fn measure(m: &Model) -> (u64, u64) {
    let registry = Registry::global().unwrap();
    let (foldables, skipped) = folding::foldables(registry, &m.graph, &Target::default());
    assert!(skipped.is_empty(), "{skipped:?}");
    let mut bottleneck = 0;
    let mut cost = 0;
    for f in &foldables {
        let node = &m.graph.nodes[f.index];
        let now = f
            .options
            .iter()
            .find(|c| {
                c.values
                    .iter()
                    .all(|&(a, v)| node.attr_int(a) == Some(v as i64))
            })
            .unwrap_or_else(|| panic!("node '{}' is folded illegally", node.name));
        bottleneck = bottleneck.max(now.cycles);
        cost += now.cost();
    }
    (bottleneck, cost)
}

/// At each target, our folding is at least as fast as FINN's `SetFolding` (on the same
/// estimates) and costs no more; both are reported. The folding then survives FINN's JSON
/// both ways.
fn folding_beats_finns(mapped: &Model, targets: &[u64]) {
    for &target in targets {
        let fold = |strategy: &str| {
            let mut m = mapped.clone();
            let table: toml::Table = toml::from_str(&format!(
                "target_cycles = {target}\nstrategy = \"{strategy}\""
            ))
            .unwrap();
            let t = SetFolding::from_table(&table).unwrap();
            t.apply(&mut m, &mut TransformContext::default()).unwrap();
            m
        };
        let (ours, finn) = (fold("cheapest"), fold("finn"));
        let ((oc, ol), (fc, fl)) = (measure(&ours), measure(&finn));
        eprintln!(
            "target {target:>9}: ours {oc:>9} cycles, {ol:>8} LUT eq. | FINN's SetFolding \
             {fc:>9} cycles, {fl:>8} LUT eq."
        );
        assert!(
            oc <= target.max(fc),
            "target {target}: ours {oc}, FINN {fc}"
        );
        assert!(
            ol <= fl || oc < fc,
            "target {target}: ours costs {ol} for {oc} cycles, FINN {fl} for {fc}"
        );
        // Through FINN's JSON and back onto the unfolded model.
        let registry = Registry::global().unwrap();
        let json = FoldingConfig::of_model(registry, &ours).to_json();
        let mut again = mapped.clone();
        FoldingConfig::parse(&json)
            .unwrap()
            .apply(registry, &mut again)
            .unwrap();
        assert_eq!(measure(&again), (oc, ol));
    }
}

#[test]
fn other_widths_and_sizes_of_the_mlp_map_completely_bit_exact() {
    // 2-bit weights and activations; 1-bit weights with 2-bit activations; the wider SFC.
    for (file, xnor) in [
        ("brevitas_tfc_2w2a_seed3.onnx", false),
        ("brevitas_tfc_1w2a_seed4.onnx", false),
        ("brevitas_sfc_1w1a_seed5.onnx", true),
    ] {
        let original = with_uint8_input(model(file));
        let mapped = finn_flow(&original, 4);
        assert_eq!(
            compute_ops(&mapped),
            [
                "Reshape",
                "Thresholding",
                "MVAU",
                "MVAU",
                "MVAU",
                "MVAU",
                "LabelSelect"
            ],
            "{file}: everything but the first Reshape in hardware"
        );
        let modes: Vec<i64> = units(&mapped).iter().map(|u| u.0).collect();
        assert_eq!(modes, [i64::from(xnor); 4], "{file}: XNOR mode");
        assert_eq!(
            units(&mapped)[3].1,
            1,
            "{file}: the last unit has no activation"
        );
    }
}

#[test]
fn the_finn_blueprint_builds_tfc_into_specialised_kernels_and_their_sources() {
    use brainsmith_core::blueprint::{Blueprint, Options, execute};
    let registry = Registry::global().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("finn.toml");
    std::fs::write(&path, brainsmith_plugins::blueprints::FINN).unwrap();
    let plan = Blueprint::check_file(&path, registry).unwrap_or_else(|e| panic!("{e}"));
    let original = with_top_1(with_uint8_input(model("brevitas_tfc_1w1a_seed1.onnx")));
    let mut m = original.clone();
    let out = dir.path().join("out");
    let report = execute(
        &mut m,
        &plan,
        Options {
            save_intermediate: None,
            output_dir: Some(&out),
            progress: None,
            target: None,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Every compute node is in hardware, specialised to HLS with its reason recorded; the
    // FIFOs between kernels to RTL, their only backend.
    let ops = compute_ops(&m);
    assert_eq!(ops[0], "Reshape", "{ops:?}");
    for node in m.graph.nodes.iter().skip(1) {
        let language = if node.op_type == "StreamingFIFO_rtl" {
            "rtl"
        } else {
            "hls"
        };
        assert!(node.op_type.ends_with(&format!("_{language}")), "{ops:?}");
        assert_eq!(
            node.domain,
            format!("finn.custom_op.fpgadataflow.{language}")
        );
        let why = node
            .attr_str(brainsmith_plugins::steps::CHOICE_ATTR)
            .unwrap();
        assert!(
            why.ends_with(&format!(
                "_{language}: the first backend of the build's order that implements it"
            )),
            "{why}"
        );
    }
    let fifos = ops.iter().filter(|o| *o == "StreamingFIFO_rtl").count();
    assert_eq!(
        fifos,
        (ops.len() - 1) / 2,
        "a FIFO between every two kernels: {ops:?}"
    );
    assert!(ops.iter().any(|o| o == "MVAU_hls"));
    // Folded for 1000 cycles per frame: every kernel within it.
    for node in m.graph.nodes.iter().skip(1) {
        let kernel = brainsmith_core::hardware::resolve(registry, node)
            .unwrap()
            .unwrap()
            .kernel
            .instantiate();
        let cycles = kernel.cycles(node, &m.graph).unwrap().unwrap();
        assert!(cycles <= 1000, "{}: {cycles}", node.name);
    }
    // One directory of sources per hardware node, and the folding in FINN's form.
    let written = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(written, m.graph.nodes.len() - 1 + 1);
    let folding = std::fs::read_to_string(out.join("folding_config.json")).unwrap();
    let folding = FoldingConfig::parse(&folding).unwrap();
    let mvau = m
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "MVAU_hls")
        .unwrap();
    assert_eq!(
        folding.nodes[&mvau.name]["PE"],
        serde_json::json!(mvau.attr_int("PE").unwrap())
    );
    // And it still computes what the export computed.
    let inputs = frames(&original, 2);
    assert_eq!(outputs(&m, &inputs), outputs(&original, &inputs));
    assert!(report.steps.len() > 40, "{}", report.steps.len());
}

#[test]
fn specialising_a_node_no_backend_implements_fails_with_every_refusal() {
    use brainsmith_core::blueprint::{Blueprint, Options, execute};
    let registry = Registry::global().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("specialise.toml");
    std::fs::write(&path, "steps = [\"brainsmith:specialize_layers\"]\n").unwrap();
    let plan = Blueprint::check_file(&path, registry).unwrap();
    // Weights streamed from outside the accelerator, which the HLS backend does not
    // generate.
    let mut m = model("finn_cybsec_mvau_hls.onnx");
    for node in m.graph.nodes.iter_mut() {
        node.set_attribute("mem_mode", AttributeValue::string("external"));
    }
    let before = m.clone();
    let err = execute(
        &mut m,
        &plan,
        Options {
            save_intermediate: None,
            output_dir: None,
            progress: None,
            target: None,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no backend of the build implements it"),
        "{err}"
    );
    assert!(err.contains("brainsmith:MVAU_hls refused"), "{err}");
    assert!(err.contains("mem_mode is 'external'"), "{err}");
    assert_eq!(m, before, "a failed step leaves the model as it was");
}

#[test]
fn a_refused_backend_preference_falls_back_with_a_warning_and_the_reason_on_the_node() {
    use brainsmith_core::blueprint::{Blueprint, Options, execute};
    let registry = Registry::global().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prefer_rtl.toml");
    // The build prefers RTL; FINN's cybsec model keeps its weights decoupled, which the
    // RTL MVAU refuses and the HLS one streams.
    std::fs::write(
        &path,
        "steps = [\"brainsmith:specialize_layers\"]\n\
         kernels = [{ kernel = \"brainsmith:MVAU\", backends = [\"MVAU_rtl\", \"MVAU_hls\"] }]\n",
    )
    .unwrap();
    let plan = Blueprint::check_file(&path, registry).unwrap_or_else(|e| panic!("{e}"));
    let mut m = model("finn_cybsec_mvau_hls.onnx");
    let report = execute(
        &mut m,
        &plan,
        Options {
            save_intermediate: None,
            output_dir: None,
            progress: None,
            target: None,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<&str> = report
        .steps
        .iter()
        .flat_map(|s| s.diagnostics.iter().map(|d| d.message.as_str()))
        .collect();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    for w in &warnings {
        assert!(w.starts_with("brainsmith:MVAU_rtl refused"), "{w}");
        assert!(w.ends_with("; fell back to brainsmith:MVAU_hls"), "{w}");
    }
    for node in m.graph.nodes.iter() {
        assert_eq!(node.op_type, "MVAU_hls");
        let why = node
            .attr_str(brainsmith_plugins::steps::CHOICE_ATTR)
            .unwrap();
        assert!(
            why.starts_with("brainsmith:MVAU_hls: after brainsmith:MVAU_rtl refused"),
            "{why}"
        );
        assert!(why.contains("internal_embedded"), "{why}");
    }
}
