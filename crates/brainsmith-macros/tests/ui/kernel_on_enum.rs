use brainsmith_core::prelude::*;

/// Not a struct.
#[kernel(op_types = ["Relu"])]
enum Relu {
    A,
}

fn main() {}
