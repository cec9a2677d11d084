use brainsmith_core::prelude::*;

/// Forgot the impl.
#[transform(stage = cleanup)]
#[derive(Default)]
struct Sort;

/// Forgot the impl too.
#[kernel(op_types = ["Relu"])]
#[derive(Default)]
struct Relu;

fn main() {}
