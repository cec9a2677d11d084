use brainsmith_core::prelude::*;

struct NotAKernel;

/// Generates code for something that is not a kernel.
#[backend(kernel = NotAKernel, language = hls)]
#[derive(Default)]
struct Hls;

impl Backend for Hls {
    type Kernel = NotAKernel;
    type Attrs = ();

    fn generate(&self, _: &BackendNode<'_, Self>, _: &BuildContext) -> Result<Generated, PluginError> {
        Err(PluginError::new("unreachable"))
    }
}

/// Infers something that does not exist.
#[transform(infers = Missing)]
#[derive(Default)]
struct Infer;

impl Transform for Infer {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(false)
    }
}

fn main() {}
