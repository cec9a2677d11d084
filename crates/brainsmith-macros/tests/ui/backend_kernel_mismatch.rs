use brainsmith_core::prelude::*;

/// One kernel.
#[kernel(op_types = ["Relu"])]
#[derive(Default)]
struct Relu;

impl Kernel for Relu {
    type Attrs = ();

    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
    }
}

/// Another kernel.
#[kernel(op_types = ["Sigmoid"])]
#[derive(Default)]
struct Sigmoid;

impl Kernel for Sigmoid {
    type Attrs = ();

    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
    }
}

/// Registered for one kernel, implemented for the other.
#[backend(kernel = Relu, language = hls)]
#[derive(Default)]
struct ReluHls;

impl Backend for ReluHls {
    type Kernel = Sigmoid;
    type Attrs = ();

    fn generate(&self, _: &BackendNode<'_, Self>, _: &BuildContext) -> Result<Generated, PluginError> {
        Err(PluginError::new("unreachable"))
    }
}

fn main() {}
