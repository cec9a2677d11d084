use brainsmith_core::prelude::*;

struct NotAPlugin;

fn main() {
    let registry = brainsmith_core::Registry::global().unwrap();
    let _ = registry.by_type::<NotAPlugin>();
    let mut ctx = StepContext::new(registry);
    let _ = ctx.apply_type::<String>(&mut Model::default());
}
