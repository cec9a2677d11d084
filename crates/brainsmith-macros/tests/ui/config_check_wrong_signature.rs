use brainsmith_core::prelude::*;

fn positive(n: i64) -> bool {
    n > 0
}

fn short(s: &String) -> Result<(), String> {
    if s.len() < 8 { Ok(()) } else { Err("too long".into()) }
}

/// A check takes the value by reference and says why it refuses it.
#[derive(Config)]
struct Settings {
    /// Its check has the wrong signature.
    #[config(default = 1, check = positive)]
    count: i64,
    /// Its check reads another type.
    #[config(default = 1, check = short)]
    width: u32,
}

fn main() {}
