//! FINN's streamlining, checked by qonnx's own executor: TFC-w1a1 and CNV-w1a1 (with
//! FINN's UINT8 pixel input) before and after the FINN blueprint's `cleanup` and
//! `topology_opt` stages (QONNX to FINN form, streamlining, convolutions lowered) run in
//! qonnx bit for bit alike, and like our executor. What remains after them is ONNX and
//! QONNX's dialect (`MultiThreshold`, `Im2Col`), which qonnx runs.

use brainsmith_core::Registry;
use brainsmith_core::blueprint::{Blueprint, Options, execute};
use brainsmith_core::ir::{ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_tests::oracle::{Oracle, scratch_dir};
use brainsmith_tests::{Lcg, model, shared_model};

/// FINN's pre-processing: UINT8 pixels divided by 255.
fn with_uint8_input(mut m: Model) -> Model {
    let x = m.graph.inputs[0].name.clone();
    let shape = m.graph.inputs[0].static_shape().unwrap();
    m.graph.inputs[0] = ValueInfo::tensor("pixels", ElemType::Float, &shape);
    m.graph
        .initializers
        .push(Tensor::from_f32("pixel_scale", &[], &[255.0]));
    m.graph.nodes.insert(
        0,
        Node::new("Div", ["pixels", "pixel_scale"], [x.as_str()]).with_name("to_unit"),
    );
    m.graph.set_datatype("pixels", QuantType::UInt(8));
    m
}

fn check(name: &str, original: Model) {
    let Some(oracle) = Oracle::find() else { return };
    let registry = Registry::global().unwrap();
    let dir = scratch_dir(&format!("oracle_streamline_{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("finn.toml"), brainsmith_plugins::blueprints::FINN).unwrap();
    let streamline = dir.join("streamline.toml");
    std::fs::write(
        &streamline,
        "extends = \"finn.toml\"\nsteps = [{ stage = \"cleanup\" }, { stage = \"topology_opt\" }]\n\
         [stages]\nkernel_mapping = []\nkernel_opt = []\ndataflow_opt = []\n",
    )
    .unwrap();
    let plan = Blueprint::check_file(&streamline, registry).unwrap_or_else(|e| panic!("{e}"));
    let mut streamlined = original.clone();
    execute(
        &mut streamlined,
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
    let ops: Vec<&str> = streamlined
        .graph
        .nodes
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert!(
        !ops.contains(&"Quant") && !ops.contains(&"BipolarQuant"),
        "{ops:?}"
    );
    assert!(ops.contains(&"MultiThreshold"), "{ops:?}");
    let (before, after) = (dir.join("before.onnx"), dir.join("after.onnx"));
    // qonnx's executor wants every intermediate shape declared.
    let mut declared = original.clone();
    brainsmith_core::Transform::apply(
        &brainsmith_plugins::InferShapes,
        &mut declared,
        &mut brainsmith_core::TransformContext::default(),
    )
    .unwrap();
    declared.save(&before).unwrap();
    streamlined.save(&after).unwrap();
    let shape = original.graph.inputs[0].static_shape().unwrap();
    let len: i64 = shape.iter().product();
    let mut g = Lcg(99);
    for frame in 0..2 {
        let v: Vec<f32> = (0..len).map(|_| g.int(0, 255) as f32).collect();
        let x = Tensor::from_f32("pixels", &shape, &v);
        let bits = |t: &[Tensor]| -> Vec<u64> {
            t.iter()
                .flat_map(|t| t.to_f64().unwrap())
                .map(f64::to_bits)
                .collect()
        };
        let theirs_before = oracle
            .execute(&before, std::slice::from_ref(&x), &dir)
            .unwrap_or_else(|e| panic!("{name}: qonnx on the export: {e}"));
        let theirs_after = oracle
            .execute(&after, std::slice::from_ref(&x), &dir)
            .unwrap_or_else(|e| panic!("{name}: qonnx on the streamlined model: {e}"));
        let ours = brainsmith_plugins::exec::execute(&streamlined, std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bits(&theirs_after),
            bits(&theirs_before),
            "{name} frame {frame}: qonnx, streamlined against exported"
        );
        assert_eq!(
            bits(&ours),
            bits(&theirs_after),
            "{name} frame {frame}: ours against qonnx on the streamlined model"
        );
    }
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn tfc_streamlined_runs_in_qonnx_like_the_export() {
    check(
        "tfc",
        with_uint8_input(model("brevitas_tfc_1w1a_seed1.onnx")),
    );
}

#[test]
#[cfg_attr(
    not(oracle),
    ignore = "needs the qonnx oracle: see ../shared/oracle/README.md"
)]
fn cnv_streamlined_runs_in_qonnx_like_the_export() {
    check(
        "cnv",
        with_uint8_input(shared_model("brevitas_cnv_1w1a_seed2.onnx")),
    );
}
