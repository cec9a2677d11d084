use brainsmith_core::prelude::*;

/// Every mistake the derive can see, reported at once.
#[derive(NodeAttrs)]
#[node_attrs(chek = rules)]
struct Attrs {
    /// A misspelt key.
    #[attr(nmae = "MW")]
    mw: u32,
    /// A name that is no ONNX attribute name.
    #[attr(name = "0-SIMD")]
    simd: u32,
    /// Optional twice over.
    #[attr(default = 3)]
    pe: Option<u32>,
    /// Takes the name of another field.
    #[attr(name = "mw")]
    width: u32,
}

/// Not a struct of named fields.
#[derive(NodeAttrs)]
struct Tuple(u32);

/// A variant with data.
#[derive(AttrEnum)]
enum Mode {
    /// Fine.
    Const,
    /// Not a unit variant.
    Decoupled(u32),
}

fn main() {}
