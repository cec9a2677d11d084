use brainsmith_core::prelude::*;

/// Cannot be constructed.
#[transform(stage = cleanup)]
struct Sort;

impl Transform for Sort {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(false)
    }
}

fn main() {}
