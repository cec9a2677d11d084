use brainsmith_core::prelude::*;

/// Every key is wrong; all are reported together.
#[backend(kernal = X, language = verilog, priority = 1.5, version = "one", tags = "fast")]
#[derive(Default)]
struct Everything;

fn main() {}
