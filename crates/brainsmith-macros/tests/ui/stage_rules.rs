use brainsmith_core::prelude::*;

/// A kernel.
#[kernel(op_types = ["Relu"])]
#[derive(Default)]
struct Relu;

impl Kernel for Relu {
    type Attrs = ();

    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
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
