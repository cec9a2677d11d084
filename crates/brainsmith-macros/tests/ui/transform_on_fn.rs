use brainsmith_core::prelude::*;

/// A function is not a transform.
#[transform(stage = cleanup)]
fn sort() {}

fn main() {}
