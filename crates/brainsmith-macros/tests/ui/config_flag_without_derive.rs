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
    type Attrs = ();

    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new()).map(|v| { drop(self.width); v })
    }
}

/// A backend that says it is configured, but derives no Config.
#[backend(kernel = ConfiguredKernel, language = hls, config)]
#[derive(Default)]
struct ConfiguredBackend {
    ii: u32,
}

impl Backend for ConfiguredBackend {
    type Kernel = ConfiguredKernel;
    type Attrs = ();

    fn generate(&self, _: &BackendNode<'_, Self>, _: &BuildContext) -> Result<Generated, PluginError> {
        Err(PluginError::new(self.ii))
    }
}

fn main() {}
