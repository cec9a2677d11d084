use brainsmith_core::prelude::*;

/// Adds.
#[kernel(op_types = ["Add"])]
#[derive(Default)]
struct AddKernel;

impl Kernel for AddKernel {
    fn check(&self, _: &Node, _: &Graph) -> Result<(), PluginError> {
        Ok(())
    }
}

/// VHDL for adds.
#[backend(kernel = AddKernel, language = vhdl)]
#[derive(Default)]
struct AddVhdl;

fn main() {}
