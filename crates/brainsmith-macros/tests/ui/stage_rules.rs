use brainsmith_core::prelude::*;

/// A kernel.
#[kernel(op_types = ["Relu"])]
#[derive(Default)]
struct Relu;

impl Kernel for Relu {
    fn check(&self, _: &Node, _: &Graph) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Both a stage and a kernel to infer.
#[transform(stage = cleanup, infers = Relu)]
#[derive(Default)]
struct Both;

/// Neither.
#[transform]
#[derive(Default)]
struct Neither;

fn main() {}
