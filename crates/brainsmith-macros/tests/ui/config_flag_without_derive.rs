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

fn main() {}
