use brainsmith_core::prelude::*;

/// Generic.
#[transform(stage = cleanup)]
#[derive(Default)]
struct Sort<T>(T);

fn main() {}
