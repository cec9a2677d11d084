use brainsmith_core::prelude::*;

struct NotDeserialize;

/// A key's type must be readable from TOML.
#[derive(Config)]
struct Settings {
    /// Cannot be read.
    value: NotDeserialize,
    /// The default must have the field's type.
    #[config(default = "four")]
    count: u32,
}

fn main() {}
