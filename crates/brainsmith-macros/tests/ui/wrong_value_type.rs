use brainsmith_core::prelude::*;

/// A kernel.
#[kernel(name = 5, op_types = "Relu", tags = [1])]
#[derive(Default)]
struct K;

/// A backend.
#[backend(kernel = "K", language = hls, priority = "high")]
#[derive(Default)]
struct B;

fn main() {}
