use brainsmith_core::prelude::*;

struct NotAKernel;

/// Generates code for something that is not a kernel.
#[backend(kernel = NotAKernel, language = hls)]
#[derive(Default)]
struct Hls;

impl Backend for Hls {
    fn generate(&self, _: &Node, _: &Graph) -> Result<Vec<GeneratedFile>, PluginError> {
        Ok(Vec::new())
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
