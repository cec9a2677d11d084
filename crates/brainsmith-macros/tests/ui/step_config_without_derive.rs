use brainsmith_core::prelude::*;

/// Its configuration type does not derive `Config`.
#[step]
fn build(_: &mut Model, _: &mut StepContext<'_>, config: &Settings) -> Result<(), PluginError> {
    let _ = config.level;
    Ok(())
}

struct Settings {
    level: u32,
}

fn main() {}
