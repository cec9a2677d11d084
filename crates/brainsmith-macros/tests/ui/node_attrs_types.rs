use brainsmith_core::prelude::*;
use brainsmith_core::AttrCheck;

/// A field of a type no attribute holds, and checks of the wrong signature.
#[derive(NodeAttrs)]
#[node_attrs(check = rules)]
struct Attrs {
    /// Not an attribute type.
    #[attr(name = "MW")]
    mw: std::collections::HashMap<String, u32>,
    /// A check of the wrong type.
    #[attr(name = "SIMD", check = positive)]
    simd: u32,
}

fn positive(n: &i64) -> Result<(), String> {
    if *n > 0 { Ok(()) } else { Err("must be positive".into()) }
}

fn rules(_: &Attrs) -> bool {
    true
}

/// Attributes that are not `NodeAttrs`.
struct Plain;

/// A kernel whose attributes derive nothing.
#[kernel(op_types = ["Relu"])]
#[derive(Default)]
struct Relu;

impl Kernel for Relu {
    type Attrs = Plain;

    fn infer(&self, _: &KernelNode<'_, Plain>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
    }
}

fn _unused(_: &mut AttrCheck) {}

fn main() {}
