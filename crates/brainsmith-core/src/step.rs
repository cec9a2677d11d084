//! [`StepContext`]: what a step receives besides the model: the registry, the kernels the
//! build uses, the target and where the build writes its files.

use std::path::{Path, PathBuf};

use crate::error::PluginError;
use crate::hardware::KernelChoice;
use crate::ir::{Model, Node};
use crate::kernel::Target;
use crate::plugin::{Registered, Transform, TransformContext};
use crate::registry::{PluginRef, Registry, TransformRef};

/// What a step receives besides the model: the registry it was found in, the kernels the
/// build uses and where the build writes its files.
pub struct StepContext<'a> {
    registry: &'a Registry,
    output_dir: Option<PathBuf>,
    transform: TransformContext,
    kernels: Option<&'a [KernelChoice<'a>]>,
    target: Target,
}

impl<'a> StepContext<'a> {
    /// A context over `registry`, writing nothing to disk.
    pub fn new(registry: &'a Registry) -> Self {
        StepContext {
            registry,
            output_dir: None,
            transform: TransformContext::default(),
            kernels: None,
            target: Target::default(),
        }
    }

    /// Restricts the build to `kernels`, in order of preference, each configured (a
    /// blueprint's `kernels` list); without it every registered kernel is used with its
    /// defaults.
    pub fn with_kernels(mut self, kernels: &'a [KernelChoice<'a>]) -> Self {
        self.kernels = Some(kernels);
        self
    }

    /// The kernel the build uses for `node`, configured, with its backends in order of
    /// preference; `None` when the build uses no kernel for its op type.
    ///
    /// A specialised node (`Thresholding_hls`) is an instance of the kernel it was
    /// specialised from. With a blueprint's `kernels`, the first listed kernel implementing
    /// the node's op type and domain; otherwise the first registered one (by source and name) with its
    /// default configuration and every backend by priority. An error names a kernel or
    /// backend that needs configuration keys and was not given them.
    pub fn kernel_for(&self, node: &Node) -> Result<Option<KernelChoice<'a>>, PluginError> {
        let (domain, op_type) = crate::hardware::kernel_op(node);
        if let Some(kernels) = self.kernels {
            return Ok(kernels
                .iter()
                .find(|k| k.implements(domain, op_type))
                .cloned());
        }
        let Some(kernel) = self
            .registry
            .kernels_for_op(op_type)
            .find(|k| k.domain() == domain)
        else {
            return Ok(None);
        };
        if let Some(tie) = kernel.priority_tie() {
            return Err(PluginError::new(tie.to_string()));
        }
        KernelChoice::defaults(kernel).map(Some).map_err(|e| {
            PluginError::new(format!(
                "{e}\nconfigure it in the blueprint's `kernels` list: \
                 {{ kernel = \"{}\", config = {{ ... }} }}",
                kernel.qualified_name()
            ))
        })
    }

    /// Sets the device and clock the build targets.
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// The device and clock the build targets ([`Target::default`] unless set).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Records a remark about `node` in the run's report ("MVAU_rtl refused node X: ...;
    /// fell back to MVAU_hls").
    pub fn warn(&mut self, node: impl Into<String>, message: impl Into<String>) {
        self.transform.warn(node, message);
    }

    /// Sets the build's output directory.
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// The registry the step was found in; steps find transforms and kernels here.
    pub fn registry(&self) -> &'a Registry {
        self.registry
    }

    /// The build's output directory, if the build writes files.
    pub fn output_dir(&self) -> Option<&Path> {
        self.output_dir.as_deref()
    }

    /// The context handed to transforms the step applies.
    pub fn transform_context(&mut self) -> &mut TransformContext {
        &mut self.transform
    }

    /// Applies `transform` once; returns whether it changed the model. An error names the
    /// transform and where it is defined.
    pub fn apply_transform(
        &mut self,
        transform: TransformRef<'_>,
        model: &mut Model,
    ) -> Result<bool, PluginError> {
        transform
            .instantiate()
            .apply(model, &mut self.transform)
            .map_err(|e| in_transform(e, transform))
    }

    /// Applies `transform`, an instance of a registered transform configured by the step,
    /// once; an error names it and where it is defined, as [`StepContext::apply_type`]
    /// does.
    pub fn apply_with<T: Registered + Transform>(
        &mut self,
        transform: &T,
        model: &mut Model,
    ) -> Result<bool, PluginError> {
        let plugin = self.registered::<T>()?;
        transform
            .apply(model, &mut self.transform)
            .map_err(|e| in_transform(e, plugin))
    }

    /// Applies the transform registered as `name` (short or qualified) once.
    pub fn apply(&mut self, name: &str, model: &mut Model) -> Result<bool, PluginError> {
        let transform = self.registry.transform(name)?;
        self.apply_transform(transform, model)
    }

    /// Applies the transform whose Rust type is `T` once, as registered: a step names its
    /// transforms by type rather than by string.
    pub fn apply_type<T: Registered>(&mut self, model: &mut Model) -> Result<bool, PluginError> {
        let transform = self.registered::<T>()?;
        self.apply_transform(transform, model)
    }

    /// The registry's transform whose Rust type is `T`.
    fn registered<T: Registered>(&self) -> Result<TransformRef<'a>, PluginError> {
        self.registry
            .by_type::<T>()
            .and_then(PluginRef::as_transform)
            .ok_or_else(|| match self.registry.why_disabled_record(T::RECORD) {
                Some(by) => PluginError::new(format!(
                    "transform '{}' is disabled {by}; the step needs it: drop the pattern",
                    T::RECORD.name()
                )),
                None => PluginError::new(format!(
                    "`{}` is not a transform of this registry",
                    std::any::type_name::<T>()
                )),
            })
    }
}

/// `error`, said to come from `transform` and where it is defined.
fn in_transform(error: PluginError, transform: TransformRef<'_>) -> PluginError {
    error.context(format!(
        "transform '{}' ({})",
        transform.qualified_name(),
        transform.location()
    ))
}
