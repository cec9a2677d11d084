use brainsmith_core::prelude::*;

/// Says it is configured, but derives no Config.
#[transform(stage = cleanup, config)]
#[derive(Default)]
struct Configured {
    level: u32,
}

impl Transform for Configured {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(self.level > 0)
    }
}

/// `config` is a flag, not a key with a value.
#[transform(stage = cleanup, config = Settings)]
#[derive(Default)]
struct WithValue;

impl Transform for WithValue {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(false)
    }
}

/// A kernel that says it is configured, but derives no Config.
#[kernel(op_types = ["Relu"], config)]
#[derive(Default)]
struct ConfiguredKernel {
    width: u32,
}

impl Kernel for ConfiguredKernel {
    fn check(&self, _: &Node, _: &Graph) -> Result<(), PluginError> {
        Ok(()).map(|()| drop(self.width))
    }
}

/// A backend that says it is configured, but derives no Config.
#[backend(kernel = ConfiguredKernel, language = hls, config)]
#[derive(Default)]
struct ConfiguredBackend {
    ii: u32,
}

impl Backend for ConfiguredBackend {
    fn generate(&self, _: &Node, _: &Graph) -> Result<Vec<GeneratedFile>, PluginError> {
        Ok(Vec::new()).map(|v| { drop(self.ii); v })
    }
}

fn main() {}
