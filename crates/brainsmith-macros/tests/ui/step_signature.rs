use brainsmith_core::prelude::*;

/// Async.
#[step]
async fn build_async(_: &mut Model, _: &mut StepContext<'_>) -> Result<(), PluginError> {
    Ok(())
}

/// One argument.
#[step]
fn build_one(_: &mut Model) -> Result<(), PluginError> {
    Ok(())
}

/// Generic.
#[step]
fn build_generic<T>(_: &mut Model, _: &mut StepContext<'_>) -> Result<(), PluginError> {
    Ok(())
}

fn main() {}
