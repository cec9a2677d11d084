//! The standard library of brainsmith-rs plugins, registered under the source
//! `brainsmith`.
//!
//! | plugin | kind | stage | what it does |
//! |---|---|---|---|
//! | [`RemoveIdentityOps`] | transform | cleanup | removes exact identities |
//! | [`RemoveUnusedTensors`] | transform | cleanup | drops initializers, value infos and annotations nothing uses |
//! | [`SortGraph`] | transform | cleanup | sorts nodes topologically |
//! | [`GiveUniqueNodeNames`] | transform | cleanup | names nodes `OpType_N` |
//! | [`GiveReadableTensorNames`] | transform | cleanup | names tensors after their producer |
//! | [`FoldConstants`] | transform | cleanup | replaces nodes with constant inputs by initializers, in one pass |
//! | [`InferShapes`] | transform | cleanup | records every tensor's element type and shape |
//! | [`cleanup`](steps::cleanup) | step | | runs the five above in order |
//!
//! Link the crate into a compiler to get them (`use brainsmith_plugins as _;`):
//!
//! ```
//! use brainsmith_plugins as _;
//!
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let sort = registry.transform("brainsmith:SortGraph").unwrap();
//! assert_eq!(sort.stage(), brainsmith_core::Stage::Cleanup);
//! ```

brainsmith_core::namespace!("brainsmith");

pub mod eval;
pub mod shapes;
pub mod steps;
pub mod transforms;

pub use transforms::{
    FoldConstants, GiveReadableTensorNames, GiveUniqueNodeNames, InferShapes, RemoveIdentityOps,
    RemoveUnusedTensors, SortGraph,
};
