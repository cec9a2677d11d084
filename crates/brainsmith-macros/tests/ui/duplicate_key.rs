use brainsmith_core::prelude::*;

/// Sorts.
#[transform(stage = cleanup, stage = kernel_opt)]
#[derive(Default)]
struct Sort;

fn main() {}
