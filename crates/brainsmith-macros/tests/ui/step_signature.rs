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

/// Configuration taken by value.
#[step]
fn build_by_value(_: &mut Model, _: &mut StepContext<'_>, config: Settings) -> Result<(), PluginError> {
    let _ = config;
    Ok(())
}

/// Four arguments.
#[step]
fn build_four(_: &mut Model, _: &mut StepContext<'_>, _: &Settings, _: u8) -> Result<(), PluginError> {
    Ok(())
}

#[derive(Config)]
struct Settings {
    #[config(default = 1)]
    level: u32,
}

fn main() {}
