//! Cross-crate tests of brainsmith-rs; the tests live in `tests/`. This library holds the
//! helpers they share, and runs the README's example as a doctest.

pub mod chromium;
#[path = "../../crates/brainsmith-core/tests/craft/mod.rs"]
pub mod craft;
pub mod fuzz;
pub mod layers;
pub mod oracle;
pub mod structure;

use std::path::PathBuf;

use brainsmith_core::ir::{ElemType, Model, Node, Tensor, ValueInfo};

// Link the plugin crates, so the global registry of every test binary holds them.
use acme_plugins as _;
use brainsmith_plugins as _;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The directory of the real test models.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/models")
}

/// Loads a real test model by file name.
pub fn model(name: &str) -> Model {
    let path = models_dir().join(name);
    Model::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The file names of the real test models, sorted.
pub fn model_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .expect("testdata/models exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    names.sort();
    names
}

/// Every real test model, sorted by file name.
pub fn all_models() -> Vec<(String, Model)> {
    model_names()
        .into_iter()
        .map(|n| (n.clone(), model(&n)))
        .collect()
}

/// Runs the embedded command line (`brainsmith ARGS...`); returns (exit code, stdout,
/// stderr).
pub fn cli(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("brainsmith").chain(args.iter().copied());
    let code = brainsmith_core::cli::run(argv, &mut out, &mut err);
    (
        exit_code(code),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Runs the reference binary's command line (`brainsmith_plugins::cli::app()`: the core's
/// commands and `compile`, `simulate`, `dse`, `new`) in process; returns (exit code,
/// stdout, stderr).
pub fn brainsmith(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("brainsmith").chain(args.iter().copied());
    let code = brainsmith_plugins::cli::app().run(argv, &mut out, &mut err);
    (
        exit_code(code),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// The byte an `ExitCode` stands for (it has no accessor).
pub fn exit_code(code: std::process::ExitCode) -> u8 {
    (0..=u8::MAX)
        .find(|&n| std::process::ExitCode::from(n) == code)
        .expect("an exit code is a byte")
}

/// `y = Relu(x * 1.000001)`: the `Mul` is an identity only within a tolerance, so it
/// shows whether a configured `RemoveIdentityOps` got its configuration.
pub fn nearly_identity() -> Model {
    use brainsmith_core::ir::{ElemType, Node, Tensor, ValueInfo};

    let mut m = Model::default();
    m.graph
        .inputs
        .push(ValueInfo::tensor("x", ElemType::Float, &[2]));
    m.graph
        .outputs
        .push(ValueInfo::tensor("y", ElemType::Float, &[2]));
    m.graph
        .initializers
        .push(Tensor::from_f32("c", &[], &[1.000_001]));
    m.graph.nodes.push(Node::new("Mul", ["x", "c"], ["t"]));
    m.graph.nodes.push(Node::new("Relu", ["t"], ["y"]));
    m
}

/// Op type histogram of a graph, sorted.
pub fn histogram(model: &Model) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for node in &model.graph.nodes {
        *counts.entry(node.op_type.clone()).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

/// A float model of opset 13: graph input `x` and output `y` of the given shapes, these
/// initializers and nodes.
pub fn float_model(x: &[i64], y: &[i64], initializers: Vec<Tensor>, nodes: Vec<Node>) -> Model {
    let mut m = Model::default();
    m.ir_version = 8;
    m.set_opset_version("", 13);
    m.graph
        .inputs
        .push(ValueInfo::tensor("x", ElemType::Float, x));
    m.graph
        .outputs
        .push(ValueInfo::tensor("y", ElemType::Float, y));
    *m.graph.initializers = initializers;
    *m.graph.nodes = nodes;
    m
}

/// The dimensions and values of initializer `name`; panics naming it when there is none.
pub fn initializer(m: &Model, name: &str) -> (Vec<i64>, Vec<f64>) {
    let t = m
        .graph
        .initializers
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initializer '{name}'"));
    (t.dims().to_vec(), t.to_f64().unwrap())
}

/// A seeded generator for test inputs (a linear congruential generator: reproducible, no
/// dependency).
pub struct Lcg(pub u64);

impl Lcg {
    /// A whole number in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (lo + ((self.0 >> 33) % (hi - lo + 1) as u64) as i64) as f64
    }

    /// A value of `datatype` (an integer type or bipolar), uniformly over its range.
    pub fn value(&mut self, datatype: brainsmith_core::ir::QuantType) -> f64 {
        if datatype == brainsmith_core::ir::QuantType::Bipolar {
            if self.int(0, 1) == 0.0 { -1.0 } else { 1.0 }
        } else {
            let (lo, hi) = datatype.range();
            self.int(lo as i64, hi as i64)
        }
    }
}

/// The path of a model of `../shared/models` (`$BRAINSMITH_SHARED/models`).
pub fn shared_model_path(name: &str) -> PathBuf {
    let shared = std::env::var_os("BRAINSMITH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    shared.join("models").join(name)
}

/// Loads a model of `../shared/models` (beside the project root, in CI too) that is too
/// large to copy into the project's test data; its provenance is that folder's README.
pub fn shared_model(name: &str) -> Model {
    let path = shared_model_path(name);
    Model::load(&path).unwrap_or_else(|e| {
        panic!("{e} (the shared models sit beside the project root; set BRAINSMITH_SHARED to their parent)")
    })
}
