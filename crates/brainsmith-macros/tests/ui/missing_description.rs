use brainsmith_core::prelude::*;

#[transform(stage = cleanup)]
#[derive(Default)]
struct Undocumented;

/// Documented, but the explicit description is empty.
#[transform(stage = cleanup, description = " ")]
#[derive(Default)]
struct EmptyDescription;

fn main() {}
