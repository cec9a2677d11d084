//! Generated code compiles warning-free even when the user's scope shadows the prelude.
#![deny(warnings)]

use brainsmith_core::ir::{Graph, Model, Node};
use brainsmith_core::{
    Backend, GeneratedFile, Kernel, PluginError, StepContext, Transform, TransformContext, backend,
    kernel, step, transform,
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

impl Kernel for HostileKernel {
    fn check(&self, _: &Node, _: &Graph) -> core::result::Result<(), PluginError> {
        core::result::Result::Ok(())
    }
}

/// A backend in a hostile scope.
#[backend(kernel = HostileKernel, language = rtl, priority = -3)]
#[derive(Default)]
struct HostileBackend;

impl Backend for HostileBackend {
    fn generate(
        &self,
        _: &Node,
        _: &Graph,
    ) -> core::result::Result<Vec<GeneratedFile>, PluginError> {
        core::result::Result::Ok(Vec::new())
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
