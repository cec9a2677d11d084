use brainsmith_core::prelude::*;

/// Adds.
#[kernel(op_types = ["Add"])]
#[derive(Default)]
struct AddKernel;

impl Kernel for AddKernel {
    type Attrs = ();

    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
    }
}

/// VHDL for adds.
#[backend(kernel = AddKernel, language = vhdl)]
#[derive(Default)]
struct AddVhdl;

fn main() {}
