//! `cargo xtask codegen`: the prost bindings of the vendored ONNX schema.
//!
//! protox compiles `onnx-ml.proto` in-process (no system `protoc`), prost-build turns the
//! descriptors into Rust, and the result is committed as `brainsmith-core/src/ir/proto.rs`.

use crate::util::{Mode, ensure_file_contents, generated_header, workspace_root};

const COMMAND: &str = "cargo xtask codegen";

/// Regenerates (or checks) the ONNX bindings.
pub(crate) fn run(mode: Mode) -> Result<(), String> {
    let root = workspace_root();
    let proto_dir = root.join("crates/brainsmith-core/proto");
    let fds = protox::compile(["onnx-ml.proto"], [&proto_dir])
        .map_err(|e| format!("cannot compile {}: {e}", proto_dir.display()))?;
    let out = tempdir()?;
    prost_build::Config::new()
        .out_dir(&out)
        // Weights as reference-counted bytes: cloning a model (the executor's backup before
        // every transform) or encoding it shares them instead of copying megabytes, and
        // decoding from a `Bytes` buffer slices them out of it.
        .bytes([".onnx.TensorProto.raw_data"])
        .compile_fds(fds)
        .map_err(|e| format!("prost-build failed: {e}"))?;
    let generated = std::fs::read_to_string(out.join("onnx.rs"))
        .map_err(|e| format!("prost-build wrote no onnx.rs: {e}"))?;
    let _ = std::fs::remove_dir_all(&out);
    let contents = format!(
        "{}//! Protobuf types of the ONNX schema (`proto/onnx-ml.proto`, package `onnx`).\n\n{generated}",
        generated_header("//", COMMAND)
    );
    ensure_file_contents(
        &root.join("crates/brainsmith-core/src/ir/proto.rs"),
        &contents,
        mode,
        COMMAND,
    )
}

fn tempdir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("brainsmith-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
