//! Cross-crate tests of brainsmith-rs; the tests live in `tests/`. This library holds the
//! helpers they share, and runs the README's example as a doctest.

pub mod oracle;
pub mod structure;

use std::path::PathBuf;

use brainsmith_core::ir::Model;

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

/// Every real test model, sorted by file name.
pub fn all_models() -> Vec<(String, Model)> {
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .expect("testdata/models exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), model(&n))).collect()
}

/// Op type histogram of a graph, sorted.
pub fn histogram(model: &Model) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for node in &model.graph.nodes {
        *counts.entry(node.op_type.clone()).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}
