use brainsmith_core::prelude::*;

/// Keys must be named: a tuple struct has none.
#[derive(Config)]
struct Tuple(u32);

/// Generic configurations are not supported.
#[derive(Config)]
struct Generic<T> {
    value: T,
}

/// Every error of the field attributes at once.
#[derive(Config)]
struct Attributes {
    #[config(defualt = 1)]
    first: u32,
    #[config(default = )]
    second: u32,
}

fn main() {}
