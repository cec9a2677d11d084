use brainsmith_core::prelude::*;

/// Sorts.
#[transform(name = "sort graph", stage = cleanup)]
#[derive(Default)]
struct Sort;

/// Also sorts.
#[transform(name = "brainsmith:Sort", stage = cleanup)]
#[derive(Default)]
struct Sort2;

fn main() {}
