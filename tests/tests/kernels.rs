//! Kernel and backend configuration: declared keys in the registry, the manifest and
//! `plugins show`; a blueprint's `kernels` list, checked with file:line:column; and what
//! steps see through `StepContext::kernel_for`, with and without a blueprint.

use std::path::PathBuf;

use brainsmith_core::blueprint::{Blueprint, Options, execute};
use brainsmith_core::ir::{Graph, Node};
use brainsmith_core::prelude::*;
use brainsmith_core::{Registry, StepContext};
use brainsmith_tests::{cli as brainsmith, model};

/// Clamps to a signed range of `width` bits: a kernel that cannot be built without being
/// told its width.
#[kernel(op_types = ["Clip"], domain = "test.ops", config)]
#[derive(Config)]
struct Clamp {
    /// Bits of the clamped range.
    width: u32,
}

/// The node attributes of a clamp.
#[derive(NodeAttrs)]
struct ClampAttrs {
    /// Bits the node needs, when it says.
    bits: Option<u32>,
}

impl Kernel for Clamp {
    type Attrs = ClampAttrs;

    fn check(&self, node: &KernelNode<'_, ClampAttrs>) -> Result<(), PluginError> {
        match node.attrs.bits {
            Some(bits) if bits > self.width => {
                Err(node.error(format!("needs {bits} bits; the unit has {}", self.width)))
            }
            _ => Ok(()),
        }
    }

    fn infer(&self, node: &KernelNode<'_, ClampAttrs>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(vec![TensorInfo {
            shape: node.input_shape(0)?,
            datatype: QuantType::Int(self.width),
        }])
    }
}

/// The RTL of [`Clamp`].
#[backend(kernel = Clamp, language = rtl)]
#[derive(Default)]
struct ClampRtl;

impl Backend for ClampRtl {
    type Kernel = Clamp;
    type Attrs = ();

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        Ok(Generated {
            sources: Vec::new(),
            params: Vec::new(),
            interface: Interface {
                top: node.name().to_owned(),
                ports: Vec::new(),
                clock: None,
                reset: None,
            },
        })
    }
}

fn registry() -> &'static Registry {
    Registry::global().unwrap()
}

fn blueprint(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/blueprints")
        .join(name)
}

fn table(text: &str) -> toml::Table {
    text.parse().unwrap()
}

#[test]
fn kernels_and_backends_declare_and_read_their_keys() {
    let kernel = registry().kernel("acme:Thresholding").unwrap();
    let keys: Vec<(&str, &str)> = kernel
        .config_fields()
        .iter()
        .map(|f| (f.name, f.ty))
        .collect();
    assert_eq!(keys, [("max_steps", "usize")]);
    let hls = registry().backend("ThresholdingHls").unwrap();
    assert_eq!(hls.config_fields()[0].name, "ii");
    assert_eq!(hls.config_fields()[0].default, Some("1"));
    let rtl = registry().backend("ThresholdingRtl").unwrap();
    assert!(rtl.config_fields().is_empty());

    let err = kernel
        .configure(&table("max_step = 3"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with(
            "configuration of kernel 'acme:Thresholding': unknown key 'max_step'; did you mean 'max_steps'?"
        ),
        "{err}"
    );
    let err = hls
        .configure(&table("ii = \"two\""))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("configuration of backend 'acme:ThresholdingHls': "),
        "{err}"
    );
    assert!(err.contains("'ii'"), "{err}");
    let err = rtl.configure(&table("ii = 2")).err().unwrap().to_string();
    assert!(err.contains("unknown key 'ii'"), "{err}");

    // A required key: configure says so; the default constructor would panic.
    let clamp = registry().kernel("Clamp").unwrap();
    let err = clamp
        .configure(&toml::Table::new())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("'width'"), "{err}");
    assert!(clamp.configure(&table("width = 8")).is_ok());
}

#[test]
fn plugins_show_and_the_manifest_list_kernel_and_backend_keys() {
    let (code, out, err) = brainsmith(&["plugins", "show", "acme:Thresholding"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("max_steps"), "{out}");
    let (code, out, err) = brainsmith(&["plugins", "show", "ThresholdingHls"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ii"), "{out}");
    let manifest = brainsmith_core::manifest::Manifest::from_registry(registry(), None);
    let entry = manifest
        .plugins
        .iter()
        .find(|p| p.qualified_name == "acme:ThresholdingHls")
        .unwrap();
    assert_eq!(entry.config[0].name, "ii");
}

#[test]
fn a_blueprint_configures_the_kernels_steps_use() {
    let plan = Blueprint::check_file(&blueprint("hardware.toml"), registry())
        .unwrap_or_else(|e| panic!("{e}"));
    let kernels = plan.kernels.as_ref().unwrap();
    assert_eq!(kernels.len(), 1);
    assert_eq!(kernels[0].kernel.qualified_name(), "acme:Thresholding");
    let backends: Vec<&str> = kernels[0]
        .backends
        .iter()
        .map(|b| b.backend.name())
        .collect();
    assert_eq!(backends, ["ThresholdingHls"], "only the listed backends");

    let mut m = model("finn_tfc_w1a1_multithreshold.onnx");
    let dir = std::env::temp_dir().join(format!("kernels-run-{}", std::process::id()));
    let options = Options {
        output_dir: Some(&dir),
        ..Options::default()
    };
    execute(&mut m, &plan, options).unwrap_or_else(|e| panic!("{e}"));
    let hls = std::fs::read_to_string(dir.join("MultiThreshold_0/MultiThreshold_0.hpp")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(hls.contains("#pragma HLS pipeline II=2"), "{hls}");

    // Without the blueprint the backend takes its default.
    let mut ctx = StepContext::new(registry()).with_output_dir(&dir);
    registry()
        .step("generate_hardware")
        .unwrap()
        .run(&mut m, &mut ctx)
        .unwrap();
    let hls = std::fs::read_to_string(dir.join("MultiThreshold_0/MultiThreshold_0.hpp")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(hls.contains("#pragma HLS pipeline II=1"), "{hls}");
}

#[test]
fn a_kernel_configuration_reaches_its_check() {
    let dir = std::env::temp_dir().join(format!("kernels-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("build.toml");
    // The FINN MLP's thresholding nodes have one step each; a unit of 0 refuses them.
    std::fs::write(
        &path,
        "steps = [{ stage = \"kernel_mapping\" }, \"generate_hardware\"]\n\
         kernels = [{ kernel = \"acme:Thresholding\", config = { max_steps = 0 } }]\n\
         [stages]\nkernel_mapping = [\"acme:InferThresholding\"]\n",
    )
    .unwrap();
    let input = brainsmith_tests::models_dir().join("finn_tfc_w1a1_multithreshold.onnx");
    let output = dir.join("out.onnx");
    let generated = dir.join("hw");
    let build = || {
        brainsmith(&[
            "transform",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
            "--blueprint",
            path.to_str().unwrap(),
            "--output-dir",
            generated.to_str().unwrap(),
        ])
    };
    let (code, _, stderr) = build();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("kernel 'acme:Thresholding': node 'MultiThreshold_0' (Thresholding): 1 thresholds per channel")
            && stderr.contains("`max_steps`"),
        "{stderr}"
    );
    assert!(!output.exists());

    // The same build with the unit large enough writes the sources.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("max_steps = 0", "max_steps = 1"),
    )
    .unwrap();
    let (code, _, stderr) = build();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        generated
            .join("MultiThreshold_3/MultiThreshold_3.hpp")
            .exists()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_kernel_mistake_is_reported_at_once_with_its_place() {
    let dir = blueprint("");
    let err = Blueprint::check_file(&blueprint("kernel_mistakes.toml"), registry())
        .err()
        .expect("a bad blueprint")
        .to_string()
        .replace(&dir.display().to_string(), "");
    insta::assert_snapshot!("kernel_mistakes", err);
}

#[test]
fn steps_see_the_blueprints_kernels_or_every_registered_one() {
    let clip = Node::new("Clip", ["x"], ["y"])
        .with_name("clip")
        .with_domain("test.ops");
    let threshold = Node::new("Thresholding", ["x", "t"], ["y"])
        .with_name("t")
        .with_domain(acme_plugins::DOMAIN);
    let relu = Node::new("Relu", ["x"], ["y"]);

    // No blueprint: every registered kernel with its defaults; one that needs keys is an
    // error that says where to give them.
    let ctx = StepContext::new(registry());
    let chosen = ctx.kernel_for(&threshold).unwrap().unwrap();
    let backends: Vec<&str> = chosen.backends.iter().map(|b| b.backend.name()).collect();
    assert_eq!(backends, ["ThresholdingHls", "ThresholdingRtl"]);
    assert!(ctx.kernel_for(&relu).unwrap().is_none());
    let err = ctx.kernel_for(&clip).err().unwrap().to_string();
    assert!(err.contains("'width'"), "{err}");
    assert!(err.contains("{ kernel = \""), "{err}");

    // A blueprint's list: only its kernels, configured.
    let dir = std::env::temp_dir().join(format!("kernels-ctx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("build.toml");
    std::fs::write(
        &path,
        "steps = []\nkernels = [{ kernel = \"Clamp\", config = { width = 8 } }]\n",
    )
    .unwrap();
    let plan = Blueprint::check_file(&path, registry()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).unwrap();
    let ctx = StepContext::new(registry()).with_kernels(plan.kernels.as_deref().unwrap());
    let chosen = ctx.kernel_for(&clip).unwrap().unwrap();
    assert_eq!(chosen.kernel.name(), "Clamp");
    let wide = clip.clone().with_attribute("bits", AttributeValue::Int(12));
    let err = chosen.instance.check(&wide, &Graph::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'clip' (Clip): needs 12 bits; the unit has 8"
    );
    let wrong = clip
        .clone()
        .with_attribute("bits", AttributeValue::Float(1.5));
    let err = chosen
        .instance
        .check(&wrong, &Graph::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 'clip' (Clip): attribute 'bits': expected INT, found FLOAT 1.5"
    );
    assert_eq!(chosen.backend(None).unwrap().backend.name(), "ClampRtl");
    assert!(ctx.kernel_for(&threshold).unwrap().is_none());
}
