//! Errors of reading and writing model files; each names the file.

use std::fmt;
use std::path::PathBuf;

/// A model that could not be read, decoded or written.
#[derive(Debug)]
pub enum ModelError {
    /// The file could not be opened, read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf message.
    Decode {
        /// The file, or `<memory>`.
        path: PathBuf,
        /// What the decoder found wrong.
        source: prost::DecodeError,
    },
    /// The message decoded but is not a usable model.
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

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Io { path, source } => {
                write!(f, "cannot access '{}': {source}", path.display())
            }
            ModelError::Decode { path, source } => write!(
                f,
                "'{}' is not a valid ONNX model (protobuf decoding failed: {source}); is the file truncated or not an .onnx file?",
                path.display()
            ),
            ModelError::Invalid { path, message } => write!(
                f,
                "'{}' is not a usable ONNX model: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Io { source, .. } => Some(source),
            ModelError::Decode { source, .. } => Some(source),
            ModelError::Invalid { .. } => None,
        }
    }
}
