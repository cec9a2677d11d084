//! Every real model decodes into the IR and encodes back to the same bytes.

use std::path::PathBuf;

use brainsmith_core::ir::{Model, proto};
use prost::Message;

mod craft;

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

/// `Model::save` encodes straight into its file: every real model, loaded and saved,
/// is the same file, byte for byte, and so is each with unknown fields everywhere.
#[test]
fn real_models_round_trip_byte_for_byte_through_a_file() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/roundtrip-scratch");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("out-{}.onnx", std::process::id()));
    for path in models() {
        let bytes = std::fs::read(&path).unwrap();
        let original = proto::ModelProto::decode(&*bytes).unwrap();
        for (what, bytes) in [
            ("as read", bytes),
            ("with unknown fields", craft::with_unknown_fields(&original)),
        ] {
            let input = dir.join(format!("in-{}.onnx", std::process::id()));
            std::fs::write(&input, &bytes).unwrap();
            let model = Model::load(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            model.save(&out).unwrap();
            let again = std::fs::read(&out).unwrap();
            assert!(
                again == bytes,
                "{} ({what}) does not round-trip through a file: {} bytes in, {} out",
                path.display(),
                bytes.len(),
                again.len()
            );
            std::fs::remove_file(&input).unwrap();
        }
    }
    std::fs::remove_file(&out).unwrap();
}

/// Fields the schema does not define, in the model, the graph, a node, an attribute, a
/// tensor (initializer or attribute) and a graph input of every real model, come back
/// byte for byte: a newer ONNX's or a vendor's field survives an identity run.
#[test]
fn unknown_fields_round_trip_byte_for_byte() {
    for path in models() {
        let original = proto::ModelProto::decode(&*std::fs::read(&path).unwrap()).unwrap();
        let bytes = craft::with_unknown_fields(&original);
        let model = Model::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            model.encode() == bytes,
            "{}: the unknown fields do not round-trip",
            path.display()
        );
    }
}

/// A transform's edits leave the unknown fields where they were, and the decoded messages
/// say which numbers they hold.
#[test]
fn unknown_fields_survive_edits_and_are_visible() {
    let mut model = Model::default();
    model
        .graph
        .nodes
        .push(brainsmith_core::ir::Node::new("Relu", ["x"], ["y"]).with_name("n"));
    let bytes = craft::with_unknown_fields(&model.into_proto());
    let mut model = Model::decode(&bytes).unwrap();
    model.graph.nodes[0].name = "renamed".into();
    model.graph.name = "g".into();
    let p = proto::ModelProto::decode(&*model.encode()).unwrap();
    let graph = p.graph.as_ref().unwrap();
    for (what, unknown) in [
        ("model", &p.unknown_fields),
        ("graph", &graph.unknown_fields),
        ("node", &graph.node[0].unknown_fields),
    ] {
        let numbers = unknown.as_ref().map(|u| u.numbers());
        assert_eq!(numbers, Some(craft::UNKNOWN.to_vec()), "{what}");
    }
    assert_eq!(graph.node[0].name.as_deref(), Some("renamed"));
}

/// A proto2 string that is not UTF-8 (a node name and doc string, a graph name) is read as
/// protobuf's reference parser reads it, with each invalid sequence replaced by U+FFFD; the
/// model then round-trips as that text. Valid strings are untouched.
#[test]
fn strings_that_are_not_utf8_are_read_with_replacement() {
    let bytes = craft::with_strings(b"conv\xff\xfe_1 \xc3(");
    let model = Model::decode(&bytes).expect("a model with a non-UTF-8 name is readable");
    let node = &model.graph.nodes[0];
    let replaced = "conv\u{fffd}\u{fffd}_1 \u{fffd}(";
    assert_eq!(node.name, replaced);
    assert_eq!(node.doc_string, replaced);
    assert_eq!(model.graph.name, replaced);
    assert_eq!(
        (node.op_type.as_str(), &*node.inputs),
        ("Relu", &["x".to_owned()][..])
    );
    let again = model.encode();
    assert_eq!(Model::decode(&again).unwrap(), model);
    assert_eq!(again, craft::with_strings(replaced.as_bytes()));
    // The same file with valid text is written back as read.
    let valid = craft::with_strings("conv_1 \u{e9}".as_bytes());
    assert_eq!(Model::decode(&valid).unwrap().encode(), valid);
}

#[test]
fn malformed_files_are_errors_naming_the_file_never_panics() {
    let dir = std::env::temp_dir().join(format!("brainsmith-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for path in models() {
        let bytes = std::fs::read(&path).unwrap();
        // Truncations at many points: every one decodes to an error or a (smaller) model.
        let step = (bytes.len() / 97).max(1);
        for cut in (1..bytes.len()).step_by(step) {
            if let Err(e) = Model::decode(&bytes[..cut]) {
                assert!(!e.to_string().is_empty());
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} truncations were errors");

    let truncated = dir.join("truncated.onnx");
    let bytes = std::fs::read(models()[0].clone()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = Model::load(&truncated).unwrap_err().to_string();
    assert!(
        err.contains("truncated.onnx") && err.contains("not a valid ONNX model"),
        "{err}"
    );

    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let err = Model::load(&empty).unwrap_err().to_string();
    assert!(
        err.contains("empty.onnx") && err.contains("has no graph"),
        "{err}"
    );

    let text = dir.join("notes.onnx");
    std::fs::write(&text, b"this is a text file, not a protobuf message\n").unwrap();
    let err = Model::load(&text).unwrap_err().to_string();
    assert!(err.contains("notes.onnx"), "{err}");

    let err = Model::load(dir.join("missing.onnx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.onnx") && err.contains("cannot access"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_is_atomic_and_leaves_no_temporary_file() {
    let dir = std::env::temp_dir().join(format!("brainsmith-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = Model::load(models()[0].clone()).unwrap();
    let out = dir.join("out.onnx");
    std::fs::write(&out, b"old contents").unwrap();
    model.save(&out).unwrap();
    assert_eq!(Model::load(&out).unwrap(), model);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "a temporary file was left behind");
    // Writing into a directory that does not exist fails and creates nothing.
    assert!(model.save(dir.join("no/such/dir/out.onnx")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An endless input is refused unread, naming the file; it was read until memory ran out.
#[cfg(unix)]
#[test]
fn an_endless_device_is_not_a_model() {
    let err = Model::load("/dev/zero").unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot access '/dev/zero': it is a character device; a model is read from a \
         regular file or a pipe"
    );
}
