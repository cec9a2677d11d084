//! [`Plugin`]: a registry entry, and the typed views of each kind.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::Registry;
use crate::attrs::AttrSpec;
use crate::backend::DynBackend;
use crate::config::{ConfigError, ConfigField};
use crate::error::PluginError;
use crate::ir::Model;
use crate::kernel::DynKernel;
use crate::plugin::{Language, PluginKind, Stage, Transform};
use crate::record::{
    BackendRecord, Details, KernelRecord, NamespaceRecord, PluginRecord, Schema, StepRecord,
    TransformRecord,
};
use crate::step::StepContext;

/// Where a plugin is defined in its crate's sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, as the compiler saw it (relative to the workspace for workspace crates).
    pub file: &'static str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One registered plugin: its metadata and its place in the registry. Listing plugins
/// never constructs one; the typed views construct on demand.
///
/// Three words: the registry holds one per plugin, so its size is what the first access
/// allocates and touches.
pub struct Plugin {
    pub(super) record: &'static PluginRecord,
    /// The crate's namespace declaration, if it has one (else the source is the crate).
    pub(super) namespace: Option<&'static NamespaceRecord>,
    /// `source:name`, formatted on first use (building the registry does not need it):
    /// null, or a `Box<String>` this plugin owns.
    pub(super) qualified: AtomicPtr<String>,
}

impl Plugin {
    pub(super) fn new(
        record: &'static PluginRecord,
        namespace: Option<&'static NamespaceRecord>,
    ) -> Plugin {
        Plugin {
            record,
            namespace,
            qualified: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Transform, kernel, backend or step.
    pub fn kind(&self) -> PluginKind {
        match self.record.details {
            Details::Transform(_) => PluginKind::Transform,
            Details::Kernel(_) => PluginKind::Kernel,
            Details::Backend(_) => PluginKind::Backend,
            Details::Step(_) => PluginKind::Step,
        }
    }

    /// The short name.
    pub fn name(&self) -> &'static str {
        self.record.name()
    }

    /// The source: the crate's declared namespace, or the crate name.
    pub fn source(&self) -> &'static str {
        match self.namespace {
            Some(declared) => declared.namespace,
            None => self.record.crate_name(),
        }
    }

    /// `source:name`, unique per kind.
    pub fn qualified_name(&self) -> &str {
        let mut current = self.qualified.load(Ordering::Acquire);
        if current.is_null() {
            let made = Box::into_raw(Box::new(format!("{}:{}", self.source(), self.name())));
            current = match self.qualified.compare_exchange(
                std::ptr::null_mut(),
                made,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => made,
                Err(theirs) => {
                    // SAFETY: `made` came from `Box::into_raw` above and was not shared.
                    drop(unsafe { Box::from_raw(made) });
                    theirs
                }
            };
        }
        // SAFETY: a non-null `qualified` is a `Box<String>` this plugin owns; it is freed
        // only in `drop`, which cannot run while `self` is borrowed.
        unsafe { &*current }
    }

    /// One paragraph saying what the plugin does.
    pub fn summary(&self) -> &'static str {
        self.record.summary()
    }

    /// The whole doc comment.
    pub fn docs(&self) -> &'static str {
        self.record.docs()
    }

    /// The plugin's own version, if declared.
    pub fn version(&self) -> Option<&'static str> {
        self.record.version()
    }

    /// The plugin's author, if declared.
    pub fn author(&self) -> Option<&'static str> {
        self.record.author()
    }

    /// Search tags.
    pub fn tags(&self) -> impl Iterator<Item = &'static str> + Clone + use<> {
        self.record.tags()
    }

    /// The defining crate's package name.
    pub fn crate_name(&self) -> &'static str {
        self.record.crate_name()
    }

    /// The defining crate's version.
    pub fn crate_version(&self) -> &'static str {
        self.record.crate_version()
    }

    /// The Rust path of the struct or function, e.g. `my_crate::kernels::LayerNorm`.
    pub fn rust_path(&self) -> String {
        format!("{}::{}", self.record.module_path(), self.record.type_name())
    }

    /// Where the plugin is defined.
    pub fn location(&self) -> Location {
        Location {
            file: self.record.file(),
            line: self.record.line,
            column: self.record.column,
        }
    }

    #[doc(hidden)]
    pub fn record(&self) -> &'static PluginRecord {
        self.record
    }
}

impl Clone for Plugin {
    fn clone(&self) -> Plugin {
        Plugin::new(self.record, self.namespace)
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let qualified = *self.qualified.get_mut();
        if !qualified.is_null() {
            // SAFETY: a non-null `qualified` is a `Box<String>` this plugin owns.
            drop(unsafe { Box::from_raw(qualified) });
        }
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("kind", &self.kind())
            .field("source", &self.source())
            .field("name", &self.name())
            .field("location", &self.location())
            .finish()
    }
}

/// A plugin seen as its kind.
#[derive(Clone, Copy, Debug)]
pub enum PluginRef<'r> {
    /// A transform.
    Transform(TransformRef<'r>),
    /// A kernel.
    Kernel(KernelRef<'r>),
    /// A backend.
    Backend(BackendRef<'r>),
    /// A step.
    Step(StepRef<'r>),
}

impl<'r> PluginRef<'r> {
    pub(super) fn new(registry: &'r Registry, plugin: &'r Plugin) -> PluginRef<'r> {
        match &plugin.record.details {
            Details::Transform(record) => PluginRef::Transform(TransformRef {
                registry,
                plugin,
                record,
            }),
            Details::Kernel(record) => PluginRef::Kernel(KernelRef {
                registry,
                plugin,
                record,
            }),
            Details::Backend(record) => PluginRef::Backend(BackendRef {
                registry,
                plugin,
                record,
            }),
            Details::Step(record) => PluginRef::Step(StepRef { plugin, record }),
        }
    }

    /// The plugin, whatever its kind.
    pub fn plugin(&self) -> &'r Plugin {
        match self {
            PluginRef::Transform(t) => t.plugin,
            PluginRef::Kernel(k) => k.plugin,
            PluginRef::Backend(b) => b.plugin,
            PluginRef::Step(s) => s.plugin,
        }
    }
}

macro_rules! typed_ref {
    ($(#[$meta:meta])* $name:ident, $record:ty) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        pub struct $name<'r> {
            #[allow(dead_code, reason = "steps have no cross references")]
            registry: &'r Registry,
            plugin: &'r Plugin,
            record: &'static $record,
        }

        impl<'r> Deref for $name<'r> {
            type Target = Plugin;

            fn deref(&self) -> &Plugin {
                self.plugin
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.plugin.qualified_name()).finish()
            }
        }

        impl<'r> $name<'r> {
            /// The underlying registry entry.
            pub fn plugin(&self) -> &'r Plugin {
                self.plugin
            }
        }
    };
}

typed_ref!(
    /// A registered transform.
    TransformRef,
    TransformRecord
);
typed_ref!(
    /// A registered kernel.
    KernelRef,
    KernelRecord
);
typed_ref!(
    /// A registered backend.
    BackendRef,
    BackendRecord
);

/// A registered step.
#[derive(Clone, Copy)]
pub struct StepRef<'r> {
    plugin: &'r Plugin,
    record: &'static StepRecord,
}

impl Deref for StepRef<'_> {
    type Target = Plugin;

    fn deref(&self) -> &Plugin {
        self.plugin
    }
}

impl fmt::Debug for StepRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StepRef")
            .field(&self.plugin.qualified_name())
            .finish()
    }
}

impl<'r> TransformRef<'r> {
    /// The stage it runs in.
    pub fn stage(&self) -> Stage {
        self.record.stage
    }

    /// The op types it consumes (`consumes = [...]` in its attribute).
    pub fn consumes(&self) -> impl Iterator<Item = &'static str> + Clone + use<'r> {
        self.plugin.record.op_types()
    }

    /// The kernel it maps nodes to, for a kernel-inference transform.
    pub fn infers(&self) -> Option<KernelRef<'r>> {
        self.registry.kernel_of_record(self.record.infers?)
    }

    /// Its configuration keys, in declaration order (empty when it takes none).
    pub fn config_fields(&self) -> &'static [ConfigField] {
        Schema::config_of(self.record.schema)
    }

    /// Constructs the transform from `config` (its keys; `${VAR}` in strings expanded).
    /// An error names the transform and lists every problem: unknown keys (with the
    /// closest valid one), missing required keys, values of the wrong type.
    pub fn configure(&self, config: &toml::Table) -> Result<Box<dyn Transform>, ConfigError> {
        (self.record.new)(config).map_err(|problems| ConfigError {
            plugin: format!("transform '{}'", self.plugin.qualified_name()),
            problems,
        })
    }

    /// Constructs the transform with its default configuration.
    ///
    /// # Panics
    ///
    /// When the transform has required configuration keys: use
    /// [`TransformRef::configure`] for those.
    pub fn instantiate(&self) -> Box<dyn Transform> {
        self.configure(&toml::Table::new())
            .unwrap_or_else(|e| panic!("{e}; construct it with TransformRef::configure"))
    }
}

impl<'r> KernelRef<'r> {
    /// The ONNX op types it implements.
    pub fn op_types(&self) -> impl Iterator<Item = &'static str> + Clone + use<'r> {
        self.plugin.record.op_types()
    }

    /// The ONNX domain of those op types (`""` is the default domain).
    pub fn domain(&self) -> &'static str {
        self.plugin.record.domain()
    }

    /// Its backends the registry does not disable, highest priority first.
    pub fn backends(&self) -> impl Iterator<Item = BackendRef<'r>> + use<'r> {
        self.backends_of(false)
    }

    /// Its backends, disabled or not, highest priority first: what is linked (the
    /// manifest's view).
    pub(crate) fn linked_backends(&self) -> impl Iterator<Item = BackendRef<'r>> + use<'r> {
        self.backends_of(true)
    }

    fn backends_of(&self, all: bool) -> impl Iterator<Item = BackendRef<'r>> + use<'r> {
        let registry = self.registry;
        registry
            .backends_of_kernel(self.plugin, all)
            .filter_map(move |i| registry.typed_at(i).as_backend())
    }

    /// Two of its backends with the same priority, the highest such pair, if any: the
    /// registry cannot prefer either, so a build that uses the kernel must order them
    /// (a blueprint's `kernels` entry with `backends = [...]`).
    pub fn priority_tie(&self) -> Option<PriorityTie<'r>> {
        let all: Vec<BackendRef<'r>> = self.backends().collect();
        all.windows(2)
            .find(|w| w[0].priority() == w[1].priority())
            .map(|w| PriorityTie {
                kernel: *self,
                backends: [w[0], w[1]],
            })
    }

    /// The highest-priority backend, optionally of one language.
    pub fn best_backend(&self, language: Option<Language>) -> Option<BackendRef<'r>> {
        self.backends()
            .find(|b| language.is_none_or(|l| b.language() == l))
    }

    /// The transforms that infer this kernel (none when the registry disables it: a
    /// transform inferring a disabled kernel is disabled with it).
    pub fn inferred_by(&self) -> impl Iterator<Item = TransformRef<'r>> + use<'r> {
        self.inferrers(false)
    }

    /// The transforms that infer this kernel, disabled or not (the manifest's view).
    pub(crate) fn linked_inferred_by(&self) -> impl Iterator<Item = TransformRef<'r>> + use<'r> {
        self.inferrers(true)
    }

    fn inferrers(&self, all: bool) -> impl Iterator<Item = TransformRef<'r>> + use<'r> {
        let registry = self.registry;
        registry
            .inferrers_of(self.plugin.record)
            .iter()
            .filter(move |&&i| all || !registry.is_off(i))
            .filter_map(move |&i| registry.typed_at(i).as_transform())
    }

    /// Its configuration keys, in declaration order (empty when it takes none).
    pub fn config_fields(&self) -> &'static [ConfigField] {
        Schema::config_of(self.record.schema)
    }

    /// The node attributes of its instances, in declaration order.
    pub fn attrs(&self) -> &'static [AttrSpec] {
        Schema::attrs_of(self.record.schema)
    }

    /// The op types its inference transforms consume (`MatMul` for a kernel that
    /// `InferMVAU` maps `MatMul` nodes onto), each once, sorted.
    pub fn mapped_from(&self) -> Vec<&'static str> {
        self.mapped_from_of(false)
    }

    /// [`KernelRef::mapped_from`], counting disabled transforms too (the manifest's view).
    pub(crate) fn linked_mapped_from(&self) -> Vec<&'static str> {
        self.mapped_from_of(true)
    }

    fn mapped_from_of(&self, all: bool) -> Vec<&'static str> {
        let mut ops: Vec<&'static str> = self
            .inferrers(all)
            .flat_map(|t| t.plugin.record.op_types())
            .collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }

    /// Constructs the kernel from `config` (its keys; `${VAR}` in strings expanded). An
    /// error names the kernel and lists every problem, as [`TransformRef::configure`]
    /// does.
    pub fn configure(&self, config: &toml::Table) -> Result<Box<dyn DynKernel>, ConfigError> {
        (self.record.new)(config).map_err(|problems| ConfigError {
            plugin: format!("kernel '{}'", self.plugin.qualified_name()),
            problems,
        })
    }

    /// Constructs the kernel with its default configuration; an error when it has
    /// required keys.
    pub fn with_defaults(&self) -> Result<Box<dyn DynKernel>, ConfigError> {
        self.configure(&toml::Table::new())
    }

    /// Constructs the kernel with its default configuration.
    ///
    /// # Panics
    ///
    /// When the kernel has required configuration keys: use [`KernelRef::configure`].
    pub fn instantiate(&self) -> Box<dyn DynKernel> {
        self.configure(&toml::Table::new())
            .unwrap_or_else(|e| panic!("{e}; construct it with KernelRef::configure"))
    }
}

impl<'r> BackendRef<'r> {
    /// The kernel it generates code for.
    pub fn kernel(&self) -> KernelRef<'r> {
        self.registry
            .kernel_of_record(self.record.kernel)
            .expect("registry validation guarantees every backend's kernel is registered")
    }

    /// HLS or RTL.
    pub fn language(&self) -> Language {
        self.record.language
    }

    /// Higher wins.
    pub fn priority(&self) -> i32 {
        self.record.priority
    }

    /// Its configuration keys, in declaration order (empty when it takes none).
    pub fn config_fields(&self) -> &'static [ConfigField] {
        Schema::config_of(self.record.schema)
    }

    /// The node attributes only this backend reads, in declaration order.
    pub fn attrs(&self) -> &'static [AttrSpec] {
        Schema::attrs_of(self.record.schema)
    }

    /// Constructs the backend from `config` (its keys; `${VAR}` in strings expanded). An
    /// error names the backend and lists every problem, as [`TransformRef::configure`]
    /// does.
    pub fn configure(&self, config: &toml::Table) -> Result<Box<dyn DynBackend>, ConfigError> {
        (self.record.new)(config).map_err(|problems| ConfigError {
            plugin: format!("backend '{}'", self.plugin.qualified_name()),
            problems,
        })
    }

    /// Constructs the backend with its default configuration; an error when it has
    /// required keys.
    pub fn with_defaults(&self) -> Result<Box<dyn DynBackend>, ConfigError> {
        self.configure(&toml::Table::new())
    }

    /// Constructs the backend with its default configuration.
    ///
    /// # Panics
    ///
    /// When the backend has required configuration keys: use [`BackendRef::configure`].
    pub fn instantiate(&self) -> Box<dyn DynBackend> {
        self.configure(&toml::Table::new())
            .unwrap_or_else(|e| panic!("{e}; construct it with BackendRef::configure"))
    }
}

impl StepRef<'_> {
    /// Runs the step on `model` with its default configuration (an error, not a panic,
    /// when it has required keys: use [`StepRef::run_configured`]). Transactional: on an
    /// error or a panic the model is restored as it was, and the error names the step.
    pub fn run(&self, model: &mut Model, ctx: &mut StepContext<'_>) -> Result<(), PluginError> {
        self.run_configured(model, ctx, &toml::Table::new())
    }

    /// Runs the step on `model` with `config` (its keys; `${VAR}` in strings expanded),
    /// transactionally, as [`StepRef::run`] does.
    pub fn run_configured(
        &self,
        model: &mut Model,
        ctx: &mut StepContext<'_>,
        config: &toml::Table,
    ) -> Result<(), PluginError> {
        crate::pipeline::step_transaction(model, |m| self.run_unguarded(m, ctx, config))
            .map(drop)
            .map_err(|(message, panicked)| {
                PluginError::new(format!(
                    "step '{}' ({}) {}: {message}; the model is left as it was before it",
                    self.plugin.qualified_name(),
                    self.plugin.location(),
                    if panicked { "panicked" } else { "failed" }
                ))
            })
    }

    /// The step itself, with no transaction: what the executor wraps.
    pub(crate) fn run_unguarded(
        &self,
        model: &mut Model,
        ctx: &mut StepContext<'_>,
        config: &toml::Table,
    ) -> Result<(), PluginError> {
        (self.record.run)(model, ctx, config)
    }

    /// Reads `config` without running the step. An error names the step and lists every
    /// problem: unknown keys (with the closest valid one), missing required keys, values
    /// of the wrong type.
    pub fn check_config(&self, config: &toml::Table) -> Result<(), ConfigError> {
        (self.record.check)(config).map_err(|problems| ConfigError {
            plugin: format!("step '{}'", self.plugin.qualified_name()),
            problems,
        })
    }

    /// The configuration keys it declares (empty when it takes none).
    pub fn config_fields(&self) -> &'static [ConfigField] {
        Schema::config_of(self.record.schema)
    }
}

impl<'r> PluginRef<'r> {
    /// The transform view, if it is one.
    pub fn as_transform(self) -> Option<TransformRef<'r>> {
        match self {
            PluginRef::Transform(t) => Some(t),
            _ => None,
        }
    }

    /// The kernel view, if it is one.
    pub fn as_kernel(self) -> Option<KernelRef<'r>> {
        match self {
            PluginRef::Kernel(k) => Some(k),
            _ => None,
        }
    }

    /// The backend view, if it is one.
    pub fn as_backend(self) -> Option<BackendRef<'r>> {
        match self {
            PluginRef::Backend(b) => Some(b),
            _ => None,
        }
    }

    /// The step view, if it is one.
    pub fn as_step(self) -> Option<StepRef<'r>> {
        match self {
            PluginRef::Step(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::UNREGISTERED;

    #[test]
    fn an_entry_is_three_words() {
        assert_eq!(size_of::<Plugin>(), 3 * size_of::<usize>());
    }

    #[test]
    fn the_qualified_name_is_made_once_even_when_threads_race() {
        let plugin = Plugin::new(&UNREGISTERED, None);
        let names: Vec<usize> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| plugin.qualified_name().as_ptr() as usize))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(
            names.windows(2).all(|w| w[0] == w[1]),
            "one string: {names:?}"
        );
        assert_eq!(plugin.qualified_name(), ":Unregistered");
        let copy = plugin.clone();
        assert_eq!(copy.qualified_name(), ":Unregistered");
        assert_ne!(
            copy.qualified_name().as_ptr(),
            plugin.qualified_name().as_ptr()
        );
    }
}

/// Two backends of one kernel with the same priority ([`KernelRef::priority_tie`]).
#[derive(Clone, Copy, Debug)]
pub struct PriorityTie<'r> {
    /// The kernel.
    pub kernel: KernelRef<'r>,
    /// The two backends.
    pub backends: [BackendRef<'r>; 2],
}

impl fmt::Display for PriorityTie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.backends;
        let k = self.kernel.qualified_name();
        write!(
            f,
            "backends '{}' ({}) and '{}' ({}) of kernel '{k}' both have priority {}, so neither \
             is preferred; settle it for the build in the blueprint, e.g. kernels = [{{ kernel = \
             \"{k}\", backends = [\"{}\", \"{}\"] }}] (or give one a different `priority`)",
            a.qualified_name(),
            a.location(),
            b.qualified_name(),
            b.location(),
            a.priority(),
            a.qualified_name(),
            b.qualified_name()
        )
    }
}
