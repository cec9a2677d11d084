//! `Model::save` in a hostile directory: nothing planted beside the output is followed, a
//! symlinked output is written through to its target, and a path that is not a regular
//! file (a FIFO, a directory) is refused, never replaced.
#![cfg(unix)]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
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

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
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

#[test]
fn a_fifo_or_a_directory_is_refused_and_left_as_it_was() {
    let dir = scratch("fifo");
    let fifo = dir.join("out.onnx");
    mkfifo(&fifo);
    let err = model().save(&fifo).unwrap_err().to_string();
    assert!(
        err.contains("out.onnx") && err.contains("is a FIFO"),
        "{err}"
    );
    assert!(err.contains("not a regular file"), "{err}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let err = model().save(&sub).unwrap_err().to_string();
    assert!(
        err.contains("sub") && err.contains("is a directory"),
        "{err}"
    );
    assert!(std::fs::symlink_metadata(&sub).unwrap().is_dir());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "nothing is left beside them"
    );

    // Through a symlink, the message names both.
    let link = dir.join("link.onnx");
    std::os::unix::fs::symlink("out.onnx", &link).unwrap();
    let err = model().save(&link).unwrap_err().to_string();
    assert!(
        err.contains("is a FIFO") && err.contains("where") && err.contains("link.onnx"),
        "{err}"
    );
}

#[test]
fn a_symlinked_output_replaces_its_target_and_stays_a_link() {
    let dir = scratch("symlink");
    std::fs::create_dir(dir.join("real")).unwrap();
    let target = dir.join("real/model.onnx");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.onnx");
    std::os::unix::fs::symlink("real/model.onnx", &link).unwrap();
    let model = model();
    model.save(&link).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(Model::load(&target).unwrap(), model);

    // A dangling link is followed too: its target is created.
    let dangling = dir.join("dangling.onnx");
    std::os::unix::fs::symlink("real/new.onnx", &dangling).unwrap();
    model.save(&dangling).unwrap();
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(Model::load(dir.join("real/new.onnx")).unwrap(), model);
    assert_eq!(std::fs::read_dir(dir.join("real")).unwrap().count(), 2);

    // A loop is an error, not a hang.
    let a = dir.join("a.onnx");
    std::os::unix::fs::symlink("b.onnx", &a).unwrap();
    std::os::unix::fs::symlink("a.onnx", dir.join("b.onnx")).unwrap();
    let err = model.save(&a).unwrap_err().to_string();
    assert!(err.contains("chain of more than 40 symlinks"), "{err}");
}

#[test]
fn another_users_symlink_in_a_shared_directory_is_not_followed() {
    // Making a link owned by another user takes root.
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        eprintln!("skipped: needs root to give a symlink another owner");
        return;
    }
    let dir = scratch("shared");
    let shared = dir.join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let link = shared.join("x.onnx");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(4242), Some(4242)).unwrap();
    let err = model().save(&link).unwrap_err().to_string();
    assert!(
        err.contains("owned by another user (uid 4242)") && err.contains("x.onnx"),
        "{err}"
    );
    assert!(
        std::fs::read(&victim).unwrap() == b"precious",
        "the save followed another user's symlink"
    );
    // The directory's owner's (and our own) links are followed as usual.
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
    model().save(&link).unwrap();
    assert!(std::fs::read(&victim).unwrap().len() > 8);
}

/// Weights larger than the save's buffers go to the file whole and in order: the file is what `encode` gives, and no temporary file is left.
#[test]
fn a_model_with_large_weights_is_written_whole() {
    use brainsmith_core::ir::{ElemType, Tensor};
    let dir = scratch("large");
    let mut model = model();
    for (i, len) in [(1usize << 20) * 9 + 3, 5, 1 << 16, (1 << 20) * 17]
        .into_iter()
        .enumerate()
    {
        let raw: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        model.graph.initializers.push(Tensor::from_raw(
            &format!("big{i}"),
            ElemType::Uint8,
            &[len as i64],
            raw,
        ));
    }
    let out = dir.join("out.onnx");
    std::fs::write(&out, b"old").unwrap();
    model.save(&out).unwrap();
    assert!(std::fs::read(&out).unwrap() == model.encode());
    assert_eq!(Model::load(&out).unwrap(), model);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["out.onnx"]);
}
