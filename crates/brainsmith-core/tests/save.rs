//! `Model::save` in a hostile directory: nothing planted beside the output is followed.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use brainsmith_core::ir::Model;

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/save-scratch")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn model() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
    let first = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .min()
        .unwrap();
    Model::load(first).unwrap()
}

#[test]
fn a_symlink_planted_at_the_old_temporary_path_is_not_followed() {
    let dir = scratch("planted");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    // The name the save used to write through, without O_EXCL: `.<name>.<pid>.tmp`.
    let planted = dir.join(format!(".out.onnx.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let out = dir.join("out.onnx");
    let model = model();
    model.save(&out).unwrap();
    assert!(
        std::fs::read(&victim).unwrap() == b"precious",
        "the save wrote through the planted symlink"
    );
    assert!(
        std::fs::symlink_metadata(&planted)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(Model::load(&out).unwrap(), model);
    // Only what was there plus the output: no temporary file is left.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}

#[test]
fn the_output_gets_the_permissions_file_create_gives() {
    let dir = scratch("permissions");
    let reference = dir.join("reference");
    std::fs::File::create(&reference).unwrap();
    let out = dir.join("out.onnx");
    model().save(&out).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&reference));
}
