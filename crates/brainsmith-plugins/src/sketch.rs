//! Tiny models in a few lines: what the plugins' examples are built from, and what a test
//! of a plugin crate can build its cases from.
//!
//! A [`Sketch`] names graph inputs, constants and nodes in order; [`Sketch::build`] then
//! records shapes and datatypes as [`InferShapes`] and [`InferDataTypes`] find them, which
//! is how a model reaches every transform after the cleanup. [`apply`] runs a transform
//! and says whether it changed the model; [`op_types`] lists the nodes' op types, which
//! is what most examples assert on.
//!
//! ```
//! use brainsmith_plugins::sketch::{Sketch, apply, op_types};
//! use brainsmith_plugins::transforms::GiveUniqueNodeNames;
//!
//! let mut model = Sketch::new()
//!     .input("x", &[2, 3])
//!     .op("Transpose", ["x"], ["t"])
//!     .op("Relu", ["t"], ["y"])
//!     .output("y")
//!     .build();
//! let t = model.graph.value_info_of("t").unwrap();
//! assert_eq!(t.static_shape(), Some(vec![3, 2]));
//! assert!(!apply(&GiveUniqueNodeNames, &mut model), "already named so");
//! assert_eq!(op_types(&model), ["Transpose", "Relu"]);
//! ```
//!
//! Kernel nodes are made with [`finn`] and given their attributes by name, as a FINN model
//! carries them, with the [`Attrs`] methods:
//!
//! ```
//! use brainsmith_plugins::sketch::{Attrs, finn};
//!
//! let node = finn("DuplicateStreams", ["x"], ["a", "b"]).int("NumChannels", 8);
//! assert_eq!(node.attr_int("NumChannels"), Some(8));
//! assert_eq!(node.domain, "finn.custom_op.fpgadataflow");
//! ```

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::{Generated, Transform, TransformContext};

use crate::kernels::FINN_DOMAIN;

/// QONNX's domain of custom ops.
const QONNX_DOMAIN: &str = "qonnx.custom_op.general";
use crate::transforms::{InferDataTypes, InferShapes};

/// A model being written down, node by node; see the [module](self) documentation.
#[derive(Clone, Debug, Default)]
pub struct Sketch {
    model: Model,
}

impl Sketch {
    /// An empty model of ONNX opset 17 (for the older form of an op, [`Sketch::opset`]).
    pub fn new() -> Sketch {
        Sketch::default().opset(17)
    }

    /// The model's version of the standard ONNX opset.
    pub fn opset(mut self, version: i64) -> Sketch {
        self.model.set_opset_version("", version);
        self
    }

    /// A float32 graph input of `shape`.
    pub fn input(mut self, name: &str, shape: &[i64]) -> Sketch {
        let input = ValueInfo::tensor(name, ElemType::Float, shape);
        self.model.graph.inputs.push(input);
        self
    }

    /// A float32 graph input of `shape` whose values are of the QONNX `datatype`
    /// (`"UINT4"`, `"BIPOLAR"`...): the `finn_datatype` annotation of quantized models.
    ///
    /// # Panics
    ///
    /// When `datatype` is not a QONNX datatype's name.
    pub fn int_input(self, name: &str, shape: &[i64], datatype: &str) -> Sketch {
        self.input(name, shape).datatype(name, datatype)
    }

    /// A float32 constant (an initializer) of `shape` holding `values`.
    pub fn constant(mut self, name: &str, shape: &[i64], values: &[f32]) -> Sketch {
        let tensor = Tensor::from_f32(name, shape, values);
        self.model.graph.initializers.push(tensor);
        self
    }

    /// An int64 constant (shapes, axes, pads) of `shape` holding `values`.
    pub fn ints(mut self, name: &str, shape: &[i64], values: &[i64]) -> Sketch {
        let tensor = Tensor::from_i64(name, shape, values);
        self.model.graph.initializers.push(tensor);
        self
    }

    /// Annotates `tensor` with the QONNX `datatype` (`finn_datatype`).
    ///
    /// # Panics
    ///
    /// When `datatype` is not a QONNX datatype's name.
    pub fn datatype(mut self, tensor: &str, datatype: &str) -> Sketch {
        let datatype: QuantType = datatype.parse().unwrap_or_else(|e| panic!("{e}"));
        self.model.graph.set_datatype(tensor, datatype);
        self
    }

    /// A standard ONNX node, named `<op_type>_<n>` (`n` counting the nodes of that op type
    /// already written, as [`GiveUniqueNodeNames`](crate::GiveUniqueNodeNames) names them).
    pub fn op<const I: usize, const O: usize>(
        self,
        op_type: &str,
        inputs: [&str; I],
        outputs: [&str; O],
    ) -> Sketch {
        let n = self
            .model
            .graph
            .nodes
            .iter()
            .filter(|n| n.op_type == op_type)
            .count();
        let name = format!("{op_type}_{n}");
        self.node(Node::new(op_type, inputs, outputs).with_name(name))
    }

    /// Any node: one with attributes, or of another domain.
    pub fn node(mut self, node: Node) -> Sketch {
        self.model.graph.nodes.push(node);
        self
    }

    /// A graph output; its type and shape are inferred by [`Sketch::build`].
    pub fn output(mut self, name: &str) -> Sketch {
        let mut output = ValueInfo::default();
        output.name = name.to_owned();
        self.model.graph.outputs.push(output);
        self
    }

    /// The model as written, nothing inferred.
    pub fn unshaped(self) -> Model {
        self.model
    }

    /// The model, with every tensor's shape and every datatype recorded ([`InferShapes`],
    /// then [`InferDataTypes`]).
    ///
    /// # Panics
    ///
    /// When either inference fails: the sketch is not a valid model.
    pub fn build(self) -> Model {
        let mut model = self.model;
        apply(&InferShapes, &mut model);
        apply(&InferDataTypes, &mut model);
        model
    }
}

/// Applies `transform` to `model` with a fresh context; whether it changed the model.
///
/// # Panics
///
/// When the transform fails, with its error.
pub fn apply(transform: &dyn Transform, model: &mut Model) -> bool {
    transform
        .apply(model, &mut TransformContext::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The op types of the model's nodes, in graph order.
pub fn op_types(model: &Model) -> Vec<&str> {
    model
        .graph
        .nodes
        .iter()
        .map(|n| n.op_type.as_str())
        .collect()
}

/// The node of `model` named `name`.
///
/// # Panics
///
/// When there is none.
pub fn node<'m>(model: &'m Model, name: &str) -> &'m Node {
    model
        .graph
        .nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node '{name}'"))
}

/// A node of FINN's dataflow domain (`finn.custom_op.fpgadataflow`), named after its op
/// type: what the kernel-mapping transforms write, and what the kernels implement.
pub fn finn<const I: usize, const O: usize>(
    op_type: &str,
    inputs: [&str; I],
    outputs: [&str; O],
) -> Node {
    custom(FINN_DOMAIN, Node::new(op_type, inputs, outputs))
}

/// A node of QONNX's domain (`qonnx.custom_op.general`: `Quant`, `MultiThreshold`,
/// `Im2Col`...), named after its op type.
pub fn qonnx<const I: usize, const O: usize>(
    op_type: &str,
    inputs: [&str; I],
    outputs: [&str; O],
) -> Node {
    custom(QONNX_DOMAIN, Node::new(op_type, inputs, outputs))
}

/// `node` in `domain`, named after its op type.
fn custom(domain: &str, node: Node) -> Node {
    let name = node.op_type.clone();
    node.with_name(name).with_domain(domain)
}

/// The values of the constant `tensor` of `model`, as `f64`.
///
/// # Panics
///
/// When `tensor` is not an initializer of the model, or its values cannot be read.
pub fn values(model: &Model, tensor: &str) -> Vec<f64> {
    let t = model
        .graph
        .initializer(tensor)
        .unwrap_or_else(|| panic!("no initializer '{tensor}'"));
    t.to_f64().unwrap_or_else(|e| panic!("{e}"))
}

/// The ports of a generated interface, as (name, width in bits), in order.
pub fn ports(generated: &Generated) -> Vec<(&str, u64)> {
    generated
        .interface
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.width))
        .collect()
}

/// Node attributes by name and plain value, as a model file carries them.
pub trait Attrs: Sized {
    /// An integer attribute.
    fn int(self, name: &str, value: i64) -> Self;
    /// A list of integers.
    fn ints(self, name: &str, values: &[i64]) -> Self;
    /// A string attribute (a QONNX datatype's name, a mode).
    fn text(self, name: &str, value: &str) -> Self;
}

impl Attrs for Node {
    fn int(self, name: &str, value: i64) -> Node {
        self.with_attribute(name, AttributeValue::Int(value))
    }

    fn ints(self, name: &str, values: &[i64]) -> Node {
        self.with_attribute(name, AttributeValue::Ints(values.to_vec()))
    }

    fn text(self, name: &str, value: &str) -> Node {
        self.with_attribute(name, AttributeValue::string(value))
    }
}
