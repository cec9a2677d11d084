//! `cargo xtask codegen`: the prost bindings of the vendored ONNX schema.
//!
//! protox compiles `onnx-ml.proto` in-process (no system `protoc`), prost-build turns the
//! descriptors into Rust, and the result is committed as `brainsmith-core/src/ir/proto.rs`.
//!
//! prost drops the fields a schema does not know and refuses a proto2 `string` that is not
//! UTF-8; an ONNX model may have both (a newer ONNX's field, a vendor's extension, a name
//! written by a tool that does not check). So the derive is pointed at
//! `brainsmith_core::ir::wire` (`prost_path`), every message gets an `unknown_fields`
//! field, and `proto.rs` ends with the field numbers of every message, from which
//! `wire::messages!` implements `prost::Message` (see `ir/wire.rs`).

use crate::util::{Mode, ensure_file_contents, generated_header, workspace_root};

const COMMAND: &str = "cargo xtask codegen";

/// The derive's path, for the messages and the oneofs (after their derive: it is the
/// derive's helper attribute).
const PROST_PATH: &str = r#"#[prost(prost_path = "crate::ir::wire")]"#;

/// Where the unknown fields go: a `oneof` to the derive, whose number no ONNX field has
/// (the largest protobuf allows), so it is written after every known field. Reading never
/// reaches it by number: `wire::messages!` sends every unknown number to it.
const UNKNOWN_FIELDS: [&str; 3] = [
    "/// Fields the schema does not define, kept as read and written back after the others.",
    r#"#[prost(oneof = "crate::ir::UnknownFields", tags = "536870911")]"#,
    "pub unknown_fields: ::core::option::Option<crate::ir::UnknownFields>,",
];

/// Regenerates (or checks) the ONNX bindings.
pub(crate) fn run(mode: Mode) -> Result<(), String> {
    let root = workspace_root();
    let proto_dir = root.join("crates/brainsmith-core/proto");
    let fds = protox::compile(["onnx-ml.proto"], [&proto_dir])
        .map_err(|e| format!("cannot compile {}: {e}", proto_dir.display()))?;
    let messages = message_numbers(&fds);
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
    let generated = with_unknown_fields(&generated)?;
    let contents = format!(
        "{}//! Protobuf types of the ONNX schema (`proto/onnx-ml.proto`, package `onnx`).\n\n\
         {generated}\n{messages}",
        generated_header("//", COMMAND)
    );
    ensure_file_contents(
        &root.join("crates/brainsmith-core/src/ir/proto.rs"),
        &contents,
        mode,
        COMMAND,
    )
}

/// Points the derive of every message and oneof at `wire` ([`PROST_PATH`]) and adds
/// [`UNKNOWN_FIELDS`] as the last field of every message struct prost-build wrote. A
/// message is not `Copy` (its unknown fields are a `Vec`).
fn with_unknown_fields(generated: &str) -> Result<String, String> {
    let mut out = String::with_capacity(generated.len() * 11 / 10);
    let mut derives_message = false;
    let mut closing: Option<String> = None;
    let mut structs = 0;
    for line in generated.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if closing.as_deref() == Some(line) {
            for field in UNKNOWN_FIELDS {
                out.push_str(&format!("{indent}    {field}\n"));
            }
            closing = None;
        }
        // prost-build writes a derive on one line unless it is long (enums only).
        if trimmed.starts_with("#[derive(") && trimmed.ends_with(")]") {
            derives_message = trimmed.contains("::prost::Message");
            if derives_message || trimmed.contains("::prost::Oneof") {
                let derive = if derives_message {
                    line.replace(" Copy,", "")
                } else {
                    line.to_owned()
                };
                out.push_str(&format!("{derive}\n{indent}{PROST_PATH}\n"));
                continue;
            }
        } else if derives_message && trimmed.starts_with("pub struct ") {
            if !trimmed.ends_with('{') {
                return Err(format!(
                    "unexpected message struct in prost-build's output: {line}"
                ));
            }
            closing = Some(format!("{indent}}}"));
            derives_message = false;
            structs += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if structs == 0 || closing.is_some() {
        return Err("prost-build's output has no message struct, or one left open".into());
    }
    Ok(out)
}

/// `wire::messages! { Type: n | m; ... }`: every message with the numbers of its fields,
/// named as prost-build names it (nested types in the snake-cased module of their parent).
fn message_numbers(fds: &protox::prost_reflect::prost_types::FileDescriptorSet) -> String {
    let mut lines = Vec::new();
    let mut pending: Vec<_> = fds
        .file
        .iter()
        .flat_map(|f| f.message_type.iter().map(|m| (String::new(), m)))
        .collect();
    pending.reverse();
    while let Some((module, message)) = pending.pop() {
        let name = message.name();
        if message.options.as_ref().is_some_and(|o| o.map_entry()) {
            continue;
        }
        let mut numbers: Vec<i32> = message.field.iter().map(|f| f.number()).collect();
        numbers.sort_unstable();
        let numbers: Vec<String> = numbers.iter().map(i32::to_string).collect();
        lines.push(format!("    {module}{name}: {};", numbers.join(" | ")));
        let inner = format!("{module}{}::", snake_case(name));
        pending.extend(message.nested_type.iter().rev().map(|m| (inner.clone(), m)));
    }
    format!(
        "// Field numbers of every message: `prost::Message` keeps the fields of any other\n\
         // number in `unknown_fields`.\n\
         crate::ir::wire::messages! {{\n{}\n}}\n",
        lines.join("\n")
    )
}

/// `TensorShapeProto` → `tensor_shape_proto`, as prost-build names nested modules.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn tempdir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("brainsmith-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
