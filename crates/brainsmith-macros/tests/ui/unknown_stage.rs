use brainsmith_core::prelude::*;

/// Sorts.
#[transform(stage = clenup)]
#[derive(Default)]
struct Sort;

fn main() {}
