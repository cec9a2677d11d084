//! Build steps, one per file.

mod cleanup;

pub use cleanup::{CleanupConfig, cleanup};
