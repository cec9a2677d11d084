use brainsmith_core::prelude::*;

/// Sorts.
#[transform(stage = cleanup, tags = ["Graph Order", "order", "order"])]
#[derive(Default)]
struct Sort;

fn main() {}
