use brainsmith_core::prelude::*;

/// Sorts.
#[transform(stag = cleanup)]
#[derive(Default)]
struct Sort;

fn main() {}
