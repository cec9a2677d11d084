//! Build steps, one per file.

mod cleanup;

pub use cleanup::CLEANUP_ORDER;

pub use cleanup::cleanup;
