//! Errors of reading and writing model files; each names the file.

use std::path::PathBuf;

/// A model that could not be read, decoded or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be opened, read or written.
    #[error("cannot access '{}': {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf message.
    #[error(
        "'{}' is not a valid ONNX model (protobuf decoding failed: {source}); is the file \
         truncated or not an .onnx file?",
        path.display()
    )]
    Decode {
        /// The file, or `<memory>`.
        path: PathBuf,
        /// What the decoder found wrong.
        source: prost::DecodeError,
    },
    /// The message decoded but is not a usable model.
    #[error("'{}' is not a usable ONNX model: {message}", path.display())]
    Invalid {
        /// The file, or `<memory>`.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ModelError {
    pub(crate) fn with_path(self, new: &std::path::Path) -> Self {
        match self {
            ModelError::Io { source, .. } => ModelError::Io {
                path: new.to_owned(),
                source,
            },
            ModelError::Decode { source, .. } => ModelError::Decode {
                path: new.to_owned(),
                source,
            },
            ModelError::Invalid { message, .. } => ModelError::Invalid {
                path: new.to_owned(),
                message,
            },
        }
    }
}
