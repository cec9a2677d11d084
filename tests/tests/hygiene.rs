//! Generated code compiles warning-free even when the user's scope shadows the prelude.
#![deny(warnings)]

use brainsmith_core::ir::{Model, Node};
use brainsmith_core::{
    AttrCheck, AttrEnum, Backend, BackendNode, BuildContext, Generated, Interface, Kernel,
    KernelNode, NodeAttrs, PluginError, StepContext, TensorInfo, Transform, TransformContext,
    backend, kernel, step, transform,
};

#[allow(dead_code, reason = "shadows the prelude name on purpose")]
struct Result;
#[allow(dead_code, reason = "shadows the prelude name on purpose")]
struct Ok;
#[allow(dead_code, reason = "shadows the prelude name on purpose")]
struct Option;
#[allow(dead_code, reason = "shadows the prelude name on purpose")]
struct Some;
#[allow(dead_code, reason = "shadows the prelude name on purpose")]
struct Box;

brainsmith_core::namespace!("hygiene");

/// A kernel in a hostile scope.
#[kernel(op_types = ["Relu"], tags = ["test"])]
#[derive(Default)]
struct HostileKernel;

/// A closed set in a hostile scope.
#[derive(AttrEnum, Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// One.
    #[attr(name = "one")]
    One,
    /// Two.
    Two,
}

/// Node attributes in a hostile scope: required, defaulted, optional, checked.
#[derive(NodeAttrs)]
#[node_attrs(check = cross)]
struct HostileAttrs {
    /// Required.
    #[attr(name = "W", check = nonzero)]
    w: u32,
    /// Defaulted.
    #[attr(default = Mode::Two)]
    mode: Mode,
    /// Optional.
    r#type: core::option::Option<Vec<i64>>,
}

fn nonzero(w: &u32) -> core::result::Result<(), String> {
    if *w == 0 {
        Err("zero".into())
    } else {
        core::result::Result::Ok(())
    }
}

fn cross(a: &HostileAttrs, c: &mut AttrCheck) {
    c.at_least("W", a.w, 1);
}

/// Attributes of a kernel that has none.
#[derive(NodeAttrs)]
struct NoAttrs;

impl Kernel for HostileKernel {
    type Attrs = HostileAttrs;

    fn infer(
        &self,
        node: &KernelNode<'_, HostileAttrs>,
    ) -> core::result::Result<Vec<TensorInfo>, PluginError> {
        let _ = (node.attrs.mode, &node.attrs.r#type);
        core::result::Result::Ok(Vec::new())
    }
}

/// A backend in a hostile scope.
#[backend(kernel = HostileKernel, language = rtl, priority = -3)]
#[derive(Default)]
struct HostileBackend;

impl Backend for HostileBackend {
    type Kernel = HostileKernel;
    type Attrs = NoAttrs;

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> core::result::Result<Generated, PluginError> {
        core::result::Result::Ok(Generated {
            sources: Vec::new(),
            params: Vec::new(),
            interface: Interface {
                top: node.name().into(),
                ports: Vec::new(),
                clock: None,
                reset: None,
            },
        })
    }
}

/// A transform in a hostile scope.
#[transform(infers = HostileKernel, version = "1.0.0-rc.1+build.5", author = "someone")]
#[derive(Default)]
struct HostileTransform;

impl Transform for HostileTransform {
    fn apply(
        &self,
        _: &mut Model,
        _: &mut TransformContext,
    ) -> core::result::Result<bool, PluginError> {
        core::result::Result::Ok(false)
    }
}

/// A step in a hostile scope, returning its own error type.
#[step(name = "hostile_step")]
fn r#hostile(_: &mut Model, _: &mut StepContext<'_>) -> core::result::Result<(), std::io::Error> {
    core::result::Result::Ok(())
}

#[test]
fn hostile_scope_node_attrs_read_and_write() {
    let mut node = Node::new("Relu", ["x"], ["y"]);
    let err = HostileAttrs::read(&node).err().unwrap();
    assert_eq!(err.problems[0].attr, "W");
    node.set_attribute("W", brainsmith_core::ir::AttributeValue::Int(3));
    let attrs = HostileAttrs::read(&node).unwrap_or_else(|_| unreachable!());
    assert_eq!((attrs.w, attrs.mode, &attrs.r#type), (3, Mode::Two, &None));
    let mut out = Node::new("Relu", ["x"], ["y"]);
    attrs.write(&mut out);
    assert_eq!(out.attr_str("mode"), core::option::Option::Some("Two"));
    assert!(out.attribute("type").is_none());
    assert!(NoAttrs::SCHEMA.is_empty());
}

#[test]
fn hostile_scope_plugins_register() {
    let registry = brainsmith_core::Registry::global().unwrap();
    let kernel = registry.kernel("hygiene:HostileKernel").unwrap();
    let backend = kernel.best_backend(None).unwrap();
    assert_eq!(backend.name(), "HostileBackend");
    assert_eq!(backend.priority(), -3);
    let transform = registry.transform("HostileTransform").unwrap();
    assert_eq!(transform.infers().unwrap().name(), "HostileKernel");
    assert_eq!(
        transform.version(),
        core::option::Option::Some("1.0.0-rc.1+build.5")
    );
    assert!(registry.step("hostile_step").is_ok());
}
