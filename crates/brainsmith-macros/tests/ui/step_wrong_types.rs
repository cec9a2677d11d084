use brainsmith_core::prelude::*;

/// Takes the model by value.
#[step]
fn build(_: Model, _: &mut StepContext<'_>) -> Result<(), PluginError> {
    Ok(())
}

fn main() {}
