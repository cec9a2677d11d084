//! Build steps, one per file.

mod cleanup;
mod hardware;

pub use cleanup::{CleanupConfig, cleanup};
pub use hardware::{CHOICE_ATTR, hw_codegen, specialize_layers};
