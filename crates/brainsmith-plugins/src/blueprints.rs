//! The blueprints shipped with the standard plugins.
//!
//! [`FINN`] is FINN's flow, from a QONNX export to generated hardware sources: cleanup,
//! QONNX to FINN form and streamlining, kernel mapping, folding (`SetFolding`, 1000
//! cycles per frame unless changed), width converters, backend choice
//! (`specialize_layers`) and generation (`hw_codegen`). Write it to a file to run it or to
//! extend it (`extends = "finn.toml"` and your own `kernel_opt` list, say).
//!
//! ```
//! let path = std::env::temp_dir().join(format!("finn-{}.toml", std::process::id()));
//! std::fs::write(&path, brainsmith_plugins::blueprints::FINN).unwrap();
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let plan = brainsmith_core::blueprint::Blueprint::check_file(&path, registry).unwrap();
//! assert_eq!(plan.items.len(), 7);
//! # std::fs::remove_file(&path).unwrap();
//! ```

/// FINN's flow (`blueprints/finn.toml` in this crate).
pub const FINN: &str = include_str!("../blueprints/finn.toml");
