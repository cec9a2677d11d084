//! [`Model`]: the top of the IR, and reading and writing `.onnx` files.

use std::path::Path;

use prost::Message;

use super::graph::Graph;
use super::io::ModelError;
use super::presence::Presence;
use super::proto;
use super::wire::{UnknownFields, WriteBuf};

const IR_VERSION: u16 = 0;
const PRODUCER_NAME: u16 = 1;
const PRODUCER_VERSION: u16 = 2;
const DOMAIN: u16 = 3;
const MODEL_VERSION: u16 = 4;
const DOC_STRING: u16 = 5;

/// An ONNX model: metadata, opset imports and the main graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    /// The ONNX IR version the file follows.
    ///
    /// Below 4, every initializer must also be a graph input. A model whose transforms
    /// added an initializer (or removed an initializer's input) is written as IR 4, the
    /// version that lifted that rule and changed nothing else ([`Model::written_ir_version`]),
    /// so what is written is always valid under its version.
    pub ir_version: i64,
    /// The operator sets the graph uses, with their versions.
    pub opset_imports: Vec<proto::OperatorSetIdProto>,
    /// The tool that wrote the model.
    pub producer_name: String,
    /// That tool's version.
    pub producer_version: String,
    /// Reverse-DNS name of the model's namespace.
    pub domain: String,
    /// The model's own version.
    pub model_version: i64,
    /// Human-readable documentation.
    pub doc_string: String,
    /// The main graph.
    pub graph: Graph,
    /// Named metadata entries.
    pub metadata_props: Vec<proto::StringStringEntryProto>,
    /// Training information, kept as read.
    pub training_info: Vec<proto::TrainingInfoProto>,
    /// Model-local functions, kept as read.
    pub functions: Vec<proto::FunctionProto>,
    /// Device configurations, kept as read.
    pub configuration: Vec<proto::DeviceConfigurationProto>,
    pub(super) unknown: Option<UnknownFields>,
    pub(super) presence: Presence,
}

impl Model {
    /// Reads and decodes an `.onnx` file: a regular file or a pipe, of at most 2 GiB (the
    /// most a protobuf message can be). A device (`/dev/zero`), a directory or a socket
    /// is refused unread, and so is a larger file; a pipe, once it gives more.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let bytes = crate::fsutil::read_input(path, crate::fsutil::MODEL_LIMIT, "a model")
            .map_err(|source| ModelError::Io {
                path: path.to_owned(),
                source,
            })?;
        Model::decode_shared(bytes.into()).map_err(|e| e.with_path(path))
    }

    /// Decodes an ONNX `ModelProto`, copying the tensors' raw data out of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Model, ModelError> {
        Model::decode_shared(bytes::Bytes::copy_from_slice(bytes))
    }

    /// Decodes an ONNX `ModelProto` whose tensors' raw data stay slices of `bytes`: no
    /// weight is copied, and the buffer lives as long as one of them does.
    pub fn decode_shared(bytes: bytes::Bytes) -> Result<Model, ModelError> {
        let len = bytes.len();
        let proto = proto::ModelProto::decode(bytes).map_err(|source| ModelError::Decode {
            path: "<memory>".into(),
            source,
        })?;
        if proto.graph.is_none() {
            return Err(ModelError::Invalid {
                path: "<memory>".into(),
                message: format!(
                    "the message has no graph ({len} bytes); an ONNX model always has one"
                ),
            });
        }
        Ok(Model::from_proto(proto))
    }

    /// Encodes the model as an ONNX `ModelProto`.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Writes the model to `path` atomically: the bytes go to a temporary file in the same
    /// directory, which then replaces `path`. On error `path` is left as it was.
    ///
    /// When `path` is a symlink, the file it finally points to is replaced and the link
    /// stays. A `path` that exists and is not a regular file (a directory, a FIFO, a device,
    /// a socket) is refused, as is another user's symlink in a sticky, world-writable
    /// directory such as `/tmp` (which the kernel would not follow either).
    ///
    /// The encoding goes straight into the temporary file; it is never held whole in
    /// memory, and no weight stored as `raw_data` is copied on the way. The file is synced
    /// to the disk before it replaces `path` ([`Durability::Synced`]); see
    /// [`save_with`](Model::save_with) to skip that.
    ///
    /// [`Durability::Synced`]: crate::fsutil::Durability::Synced
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        self.save_with(path, crate::fsutil::Durability::Synced)
    }

    /// [`save`](Model::save), synced to the disk before the rename or not as `durability`
    /// says: [`Durability::Unsynced`] is as atomic for every reader while the system
    /// runs, but a power loss soon after may leave `path` empty or short.
    ///
    /// ```
    /// use brainsmith_core::fsutil::Durability;
    /// use brainsmith_core::ir::Model;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("empty.onnx");
    /// let model = Model::default();
    /// model.save_with(&path, Durability::Unsynced)?;
    /// assert_eq!(std::fs::read(&path)?, model.encode());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`Durability::Unsynced`]: crate::fsutil::Durability::Unsynced
    pub fn save_with(
        &self,
        path: impl AsRef<Path>,
        durability: crate::fsutil::Durability,
    ) -> Result<(), ModelError> {
        self.clone().save_owned(path, durability)
    }

    /// [`Model::save_with`] of a model that is not needed after: converted to the
    /// protobuf message without a copy.
    pub(crate) fn save_owned(
        self,
        path: impl AsRef<Path>,
        durability: crate::fsutil::Durability,
    ) -> Result<(), ModelError> {
        let proto = self.into_proto();
        crate::fsutil::write_atomic_durable(path.as_ref(), durability, |file| {
            let mut out = WriteBuf::new(file);
            proto.encode_raw(&mut out);
            out.finish().map(drop)
        })
        .map_err(|source| ModelError::Io {
            path: path.as_ref().to_owned(),
            source,
        })
    }

    /// The protobuf message, the model copied: a tensor's `raw_data` is shared, not
    /// copied (values stored in the typed fields, `float_data` and the like, are).
    fn to_proto(&self) -> proto::ModelProto {
        self.clone().into_proto()
    }

    /// The version of the operator set `domain` (`""` or `"ai.onnx"` for the default one).
    pub fn opset_version(&self, domain: &str) -> Option<i64> {
        let wanted = if domain == "ai.onnx" { "" } else { domain };
        self.opset_imports.iter().find_map(|o| {
            let d = o.domain.as_deref().unwrap_or("");
            let d = if d == "ai.onnx" { "" } else { d };
            (d == wanted).then(|| o.version.unwrap_or(0))
        })
    }

    /// Makes the graph use version `version` of operator set `domain` (`""` or
    /// `"ai.onnx"` for the default domain): the import of that domain changes, or one is
    /// added.
    ///
    /// ```
    /// use brainsmith_core::ir::Model;
    ///
    /// let mut m = Model::default();
    /// m.set_opset_version("", 13);
    /// m.set_opset_version("ai.onnx", 17);
    /// assert_eq!(m.opset_version(""), Some(17));
    /// assert_eq!(m.opset_imports.len(), 1);
    /// ```
    pub fn set_opset_version(&mut self, domain: &str, version: i64) {
        let wanted = if domain == "ai.onnx" { "" } else { domain };
        let existing = self.opset_imports.iter_mut().find(|o| {
            let d = o.domain.as_deref().unwrap_or("");
            (if d == "ai.onnx" { "" } else { d }) == wanted
        });
        match existing {
            Some(o) => o.version = Some(version),
            None => self.opset_imports.push(proto::OperatorSetIdProto {
                domain: Some(domain.to_owned()),
                version: Some(version),
                unknown_fields: None,
            }),
        }
    }

    /// Converts from the protobuf message.
    pub fn from_proto(p: proto::ModelProto) -> Model {
        let mut presence = Presence::default();
        Model {
            ir_version: presence.take(IR_VERSION, p.ir_version),
            opset_imports: p.opset_import,
            producer_name: presence.take(PRODUCER_NAME, p.producer_name),
            producer_version: presence.take(PRODUCER_VERSION, p.producer_version),
            domain: presence.take(DOMAIN, p.domain),
            model_version: presence.take(MODEL_VERSION, p.model_version),
            doc_string: presence.take(DOC_STRING, p.doc_string),
            graph: Graph::from_proto(p.graph.unwrap_or_default()),
            metadata_props: p.metadata_props,
            training_info: p.training_info,
            functions: p.functions,
            configuration: p.configuration,
            unknown: p.unknown_fields,
            presence,
        }
    }

    /// The IR version the model is written with: [`Model::ir_version`], raised to 4 when it
    /// is 1 to 3 and an initializer of the main graph is not one of its inputs (IR 3 and
    /// before require every initializer to be an input; IR 4 lifted that rule and changed
    /// nothing else).
    ///
    /// ```
    /// use brainsmith_core::ir::{Model, Tensor};
    ///
    /// let mut m = Model::default();
    /// m.ir_version = 3;
    /// assert_eq!(m.written_ir_version(), 3);
    /// m.graph.initializers.push(Tensor::from_f32("w", &[1], &[2.0])); // not an input
    /// assert_eq!(m.written_ir_version(), 4);
    /// ```
    pub fn written_ir_version(&self) -> i64 {
        if !(1..4).contains(&self.ir_version) {
            return self.ir_version;
        }
        let inputs: rustc_hash::FxHashSet<&str> =
            self.graph.inputs.iter().map(|i| i.name.as_str()).collect();
        if self
            .graph
            .initializers
            .iter()
            .all(|t| inputs.contains(t.name()))
        {
            self.ir_version
        } else {
            4
        }
    }

    /// Converts to the protobuf message.
    pub fn into_proto(self) -> proto::ModelProto {
        let ir_version = self.written_ir_version();
        let p = self.presence;
        proto::ModelProto {
            ir_version: p.put(IR_VERSION, ir_version),
            opset_import: self.opset_imports,
            producer_name: p.put(PRODUCER_NAME, self.producer_name),
            producer_version: p.put(PRODUCER_VERSION, self.producer_version),
            domain: p.put(DOMAIN, self.domain),
            model_version: p.put(MODEL_VERSION, self.model_version),
            doc_string: p.put(DOC_STRING, self.doc_string),
            graph: Some(self.graph.into_proto()),
            metadata_props: self.metadata_props,
            training_info: self.training_info,
            functions: self.functions,
            configuration: self.configuration,
            unknown_fields: self.unknown,
        }
    }
}
