//! Every real model decodes into the IR and encodes back to the same bytes.

use std::path::PathBuf;

use brainsmith_core::ir::Model;

fn models() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/models exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    models
}

#[test]
fn real_models_round_trip_byte_for_byte() {
    let models = models();
    assert!(
        models.len() >= 20,
        "expected the test models, found {}",
        models.len()
    );
    for path in models {
        let bytes = std::fs::read(&path).unwrap();
        let model = Model::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = model.encode();
        assert!(
            again == bytes,
            "{} does not round-trip: {} bytes in, {} out",
            path.display(),
            bytes.len(),
            again.len()
        );
    }
}
