use brainsmith_core::prelude::*;

/// A struct is not a step.
#[step]
struct Build;

fn main() {}
