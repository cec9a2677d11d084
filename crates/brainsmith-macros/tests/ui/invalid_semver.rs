use brainsmith_core::prelude::*;

/// Sorts.
#[transform(stage = cleanup, version = "1.0")]
#[derive(Default)]
struct Sort;

fn main() {}
