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

/// Aliases that clash.
#[derive(AttrEnum)]
enum Style {
    /// An alias that is another variant's value, and an unknown key.
    #[attr(name = "block", alias = "lut", aliaz = "bram")]
    Block,
    /// Fine, once.
    #[attr(name = "lut", alias = "distributed")]
    Lut,
    /// The same alias again.
    #[attr(alias = "distributed")]
    Auto,
}

fn main() {}
