//! The registry: every linked plugin, indexed once on first use.
//!
//! Keys are (kind, source, name). The source is the defining crate's declared namespace
//! ([`crate::namespace!`]) or else its package name; `source:Name` is the qualified name. A
//! short name resolves when one source registers it; otherwise the error lists the
//! qualified candidates, or the caller gives a source priority order.
//!
//! Architecture invariant: [`Registry::global`] builds the index from the linked records on
//! first call and never again; building it is the only work the registry ever does, and
//! it constructs no plugin.
//!
//! ```
//! use brainsmith_core::{PluginKind, Registry};
//!
//! let registry = Registry::global().expect("linked plugins are consistent");
//! // This doctest links no plugin crate, so lookups fail with a helpful message.
//! let err = registry.get(PluginKind::Kernel, "LayerNorm").unwrap_err();
//! assert!(err.to_string().starts_with("unknown kernel 'LayerNorm'"));
//! ```

mod error;
mod plugin;
mod search;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use error::{LoadError, LoadProblem, LookupError};
pub use plugin::{BackendRef, KernelRef, Location, Plugin, PluginRef, StepRef, TransformRef};

use crate::plugin::{PluginKind, Registered, Stage};
use crate::record::{Details, NAMESPACES, NamespaceRecord, PLUGINS, PluginRecord};
use crate::suggest;

/// Every linked plugin, sorted by (kind, source, name) and indexed for lookup.
#[derive(Debug)]
pub struct Registry {
    plugins: Vec<Plugin>,
    /// For each kind, the range of `plugins` holding it.
    kind_ranges: [(u32, u32); 4],
    /// For each kind, qualified name -> index.
    qualified: [HashMap<Box<str>, u32>; 4],
    /// For each kind, short name -> indices (several when sources collide).
    short: [HashMap<&'static str, Vec<u32>>; 4],
    /// Record address -> index.
    by_record: HashMap<usize, u32>,
    /// Kernel index -> backend indices, highest priority first.
    backends: HashMap<u32, Vec<u32>>,
    /// ONNX op type -> kernel indices.
    kernels_by_op: HashMap<&'static str, Vec<u32>>,
    sources: Vec<&'static str>,
}

static GLOBAL: OnceLock<Result<Registry, LoadError>> = OnceLock::new();

fn kind_of(record: &PluginRecord) -> PluginKind {
    match record.details {
        Details::Transform(_) => PluginKind::Transform,
        Details::Kernel(_) => PluginKind::Kernel,
        Details::Backend(_) => PluginKind::Backend,
        Details::Step(_) => PluginKind::Step,
    }
}

fn location_of(record: &PluginRecord) -> Location {
    Location {
        file: record.file,
        line: record.line,
        column: record.column,
    }
}

impl Registry {
    /// The registry of every plugin linked into this binary, built on first call.
    ///
    /// Fails when the linked plugins are inconsistent (a name registered twice, two
    /// backends of a kernel with the same priority, ...); the error lists every problem.
    pub fn global() -> Result<&'static Registry, &'static LoadError> {
        GLOBAL
            .get_or_init(|| Registry::from_records(PLUGINS.iter(), NAMESPACES.iter()))
            .as_ref()
    }

    /// Builds a registry from explicit records (the global one uses the linked slices).
    #[doc(hidden)]
    pub fn from_records(
        plugins: impl IntoIterator<Item = &'static PluginRecord>,
        namespaces: impl IntoIterator<Item = &'static NamespaceRecord>,
    ) -> Result<Registry, LoadError> {
        let mut problems = Vec::new();

        let mut declared: HashMap<&'static str, &'static NamespaceRecord> = HashMap::new();
        let mut namespaces: Vec<&'static NamespaceRecord> = namespaces.into_iter().collect();
        namespaces.sort_by_key(|n| (n.crate_name, n.file, n.line));
        for ns in namespaces {
            if let Some(first) = declared.insert(ns.crate_name, ns) {
                let at = |n: &NamespaceRecord| {
                    (
                        n.namespace.to_owned(),
                        Location {
                            file: n.file,
                            line: n.line,
                            column: 1,
                        },
                    )
                };
                problems.push(LoadProblem::NamespaceRedeclared {
                    crate_name: ns.crate_name.to_owned(),
                    first: at(first),
                    second: at(ns),
                });
            }
        }

        let mut plugins: Vec<Plugin> = plugins
            .into_iter()
            .map(|record| {
                let source = declared
                    .get(record.crate_name)
                    .map_or(record.crate_name, |n| n.namespace);
                Plugin {
                    record,
                    kind: kind_of(record),
                    source,
                    qualified: format!("{source}:{}", record.name).into_boxed_str(),
                }
            })
            .collect();
        plugins.sort_by(|a, b| {
            (a.kind, a.source, a.record.name, location_of(a.record)).cmp(&(
                b.kind,
                b.source,
                b.record.name,
                location_of(b.record),
            ))
        });

        let mut kind_ranges = [(0u32, 0u32); 4];
        let mut qualified: [HashMap<Box<str>, u32>; 4] = Default::default();
        let mut short: [HashMap<&'static str, Vec<u32>>; 4] = Default::default();
        let mut by_record = HashMap::new();
        let mut kernels_by_op: HashMap<&'static str, Vec<u32>> = HashMap::new();
        let mut sources: Vec<&'static str> = Vec::new();
        for (i, plugin) in plugins.iter().enumerate() {
            let i = i as u32;
            let k = plugin.kind as usize;
            if kind_ranges[k].1 == 0 {
                kind_ranges[k].0 = i;
            }
            kind_ranges[k].1 = i + 1;
            if let Some(&first) = qualified[k].get(&plugin.qualified) {
                problems.push(LoadProblem::Duplicate {
                    kind: plugin.kind,
                    qualified_name: plugin.qualified.to_string(),
                    first: location_of(plugins[first as usize].record),
                    second: location_of(plugin.record),
                });
                continue;
            }
            qualified[k].insert(plugin.qualified.clone(), i);
            short[k].entry(plugin.record.name).or_default().push(i);
            sources.push(plugin.source);
            by_record.insert(plugin.record as *const PluginRecord as usize, i);
            if let Details::Kernel(kernel) = &plugin.record.details {
                for op in kernel.op_types {
                    kernels_by_op.entry(op).or_default().push(i);
                }
            }
        }
        sources.sort_unstable();
        sources.dedup();

        let mut backends: HashMap<u32, Vec<u32>> = HashMap::new();
        for (i, plugin) in plugins.iter().enumerate() {
            let kernel = match &plugin.record.details {
                Details::Backend(b) => Some(b.kernel),
                Details::Transform(t) => t.infers,
                _ => None,
            };
            let Some(kernel) = kernel else { continue };
            let registered = by_record.get(&(kernel as *const PluginRecord as usize));
            let registered =
                registered.filter(|&&k| plugins[k as usize].kind == PluginKind::Kernel);
            match registered {
                Some(&k) if plugin.kind == PluginKind::Backend => {
                    backends.entry(k).or_default().push(i as u32);
                }
                Some(_) => {}
                None => problems.push(LoadProblem::MissingKernel {
                    plugin: plugin.qualified.to_string(),
                    location: location_of(plugin.record),
                    kernel: kernel.name.to_owned(),
                }),
            }
        }
        let priority = |i: u32| match &plugins[i as usize].record.details {
            Details::Backend(b) => b.priority,
            _ => 0,
        };
        for (&kernel, list) in &mut backends {
            list.sort_by_key(|&i| (std::cmp::Reverse(priority(i)), i));
            for pair in list.windows(2) {
                if priority(pair[0]) == priority(pair[1]) {
                    let entry = |i: u32| {
                        let p = &plugins[i as usize];
                        (p.qualified.to_string(), location_of(p.record))
                    };
                    problems.push(LoadProblem::BackendPriorityTie {
                        kernel: plugins[kernel as usize].qualified.to_string(),
                        priority: priority(pair[0]),
                        backends: [entry(pair[0]), entry(pair[1])],
                    });
                }
            }
        }

        if !problems.is_empty() {
            problems.sort_by_key(|p| p.to_string());
            return Err(LoadError { problems });
        }
        Ok(Registry {
            plugins,
            kind_ranges,
            qualified,
            short,
            by_record,
            backends,
            kernels_by_op,
            sources,
        })
    }

    /// Every plugin, sorted by (kind, source, name).
    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// Every plugin of one kind, sorted by (source, name).
    pub fn of_kind(&self, kind: PluginKind) -> &[Plugin] {
        let (start, end) = self.kind_ranges[kind as usize];
        &self.plugins[start as usize..end as usize]
    }

    /// The sources (namespaces and crate names) that register plugins, sorted.
    pub fn sources(&self) -> &[&'static str] {
        &self.sources
    }

    /// The plugin seen as its kind.
    pub fn typed<'r>(&'r self, plugin: &'r Plugin) -> PluginRef<'r> {
        PluginRef::new(self, plugin)
    }

    fn typed_at(&self, index: u32) -> PluginRef<'_> {
        PluginRef::new(self, &self.plugins[index as usize])
    }

    /// Looks up a plugin of `kind` by short (`Name`) or qualified (`source:Name`) name.
    pub fn get(&self, kind: PluginKind, name: &str) -> Result<&Plugin, LookupError> {
        self.get_with_priority(kind, name, &[])
    }

    /// Like [`Registry::get`], but a short name registered by several sources resolves to
    /// the one whose source comes first in `sources`.
    pub fn get_with_priority(
        &self,
        kind: PluginKind,
        name: &str,
        sources: &[&str],
    ) -> Result<&Plugin, LookupError> {
        let k = kind as usize;
        if name.contains(':') {
            if let Some(&i) = self.qualified[k].get(name) {
                return Ok(&self.plugins[i as usize]);
            }
            let source = name.split(':').next().unwrap_or_default();
            if !self.sources.contains(&source) {
                return Err(LookupError::UnknownSource {
                    kind,
                    name: name.to_owned(),
                    suggestion: suggest::closest(source, self.sources.iter().copied())
                        .map(str::to_owned),
                    sources: self.sources.iter().map(|s| (*s).to_owned()).collect(),
                });
            }
            return Err(self.unknown(kind, name));
        }
        match self.short[k].get(name).map(Vec::as_slice) {
            Some([i]) => Ok(&self.plugins[*i as usize]),
            Some(candidates) => {
                let rank = |i: &u32| {
                    sources
                        .iter()
                        .position(|s| *s == self.plugins[*i as usize].source)
                };
                match candidates
                    .iter()
                    .filter(|i| rank(i).is_some())
                    .min_by_key(|i| rank(i))
                {
                    Some(&i) => Ok(&self.plugins[i as usize]),
                    None => Err(LookupError::Ambiguous {
                        kind,
                        name: name.to_owned(),
                        candidates: candidates
                            .iter()
                            .map(|&i| self.plugins[i as usize].qualified.to_string())
                            .collect(),
                    }),
                }
            }
            None => Err(self.unknown(kind, name)),
        }
    }

    fn unknown(&self, kind: PluginKind, name: &str) -> LookupError {
        let plugins = self.of_kind(kind);
        let short = name.rsplit(':').next().unwrap_or(name);
        let suggestion = if name.contains(':') {
            suggest::closest(name, plugins.iter().map(|p| &*p.qualified))
        } else {
            suggest::closest(short, plugins.iter().map(|p| p.record.name))
        };
        let other_kinds = PluginKind::ALL
            .iter()
            .copied()
            .filter(|&other| other != kind)
            .filter(|&other| {
                self.short[other as usize].contains_key(short)
                    || self.qualified[other as usize].contains_key(name)
            })
            .collect();
        let mut available: Vec<String> = plugins.iter().map(|p| self.display_name(p)).collect();
        available.sort();
        available.dedup();
        LookupError::Unknown {
            kind,
            name: name.to_owned(),
            suggestion: suggestion.map(str::to_owned),
            other_kinds,
            available,
        }
    }

    /// The short name when it is unique within its kind, else the qualified name.
    pub fn display_name(&self, plugin: &Plugin) -> String {
        let unique = self.short[plugin.kind as usize]
            .get(plugin.record.name)
            .is_some_and(|v| v.len() == 1);
        if unique {
            plugin.record.name.to_owned()
        } else {
            plugin.qualified.to_string()
        }
    }

    /// The transform called `name`.
    pub fn transform(&self, name: &str) -> Result<TransformRef<'_>, LookupError> {
        let plugin = self.get(PluginKind::Transform, name)?;
        Ok(self
            .typed(plugin)
            .as_transform()
            .expect("looked up by kind"))
    }

    /// The kernel called `name`.
    pub fn kernel(&self, name: &str) -> Result<KernelRef<'_>, LookupError> {
        let plugin = self.get(PluginKind::Kernel, name)?;
        Ok(self.typed(plugin).as_kernel().expect("looked up by kind"))
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Result<BackendRef<'_>, LookupError> {
        let plugin = self.get(PluginKind::Backend, name)?;
        Ok(self.typed(plugin).as_backend().expect("looked up by kind"))
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Result<StepRef<'_>, LookupError> {
        let plugin = self.get(PluginKind::Step, name)?;
        Ok(self.typed(plugin).as_step().expect("looked up by kind"))
    }

    /// Every transform, sorted by (source, name).
    pub fn transforms(&self) -> impl Iterator<Item = TransformRef<'_>> {
        self.of_kind(PluginKind::Transform)
            .iter()
            .filter_map(|p| self.typed(p).as_transform())
    }

    /// Every kernel, sorted by (source, name).
    pub fn kernels(&self) -> impl Iterator<Item = KernelRef<'_>> {
        self.of_kind(PluginKind::Kernel)
            .iter()
            .filter_map(|p| self.typed(p).as_kernel())
    }

    /// Every backend, sorted by (source, name).
    pub fn backends(&self) -> impl Iterator<Item = BackendRef<'_>> {
        self.of_kind(PluginKind::Backend)
            .iter()
            .filter_map(|p| self.typed(p).as_backend())
    }

    /// Every step, sorted by (source, name).
    pub fn steps(&self) -> impl Iterator<Item = StepRef<'_>> {
        self.of_kind(PluginKind::Step)
            .iter()
            .filter_map(|p| self.typed(p).as_step())
    }

    /// The transforms of one stage, sorted by (source, name).
    pub fn transforms_in_stage(&self, stage: Stage) -> impl Iterator<Item = TransformRef<'_>> {
        self.transforms().filter(move |t| t.stage() == stage)
    }

    /// The kernels implementing ONNX op type `op_type`, in any domain.
    pub fn kernels_for_op<'r>(
        &'r self,
        op_type: &str,
    ) -> impl Iterator<Item = KernelRef<'r>> + use<'r> {
        self.kernels_by_op
            .get(op_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.typed_at(i).as_kernel())
    }

    /// The kernels implementing `op_type` of ONNX domain `domain` (`""` is the default).
    pub fn kernels_for_node_type<'r>(
        &'r self,
        domain: &'r str,
        op_type: &str,
    ) -> impl Iterator<Item = KernelRef<'r>> + use<'r> {
        let domain = if domain == "ai.onnx" { "" } else { domain };
        self.kernels_for_op(op_type)
            .filter(move |k| k.domain() == domain)
    }

    /// The plugin whose Rust type is `T` (a struct with `#[transform]`, `#[kernel]` or
    /// `#[backend]`), if this registry holds it.
    pub fn by_type<T: Registered>(&self) -> Option<PluginRef<'_>> {
        let &i = self
            .by_record
            .get(&(T::RECORD as *const PluginRecord as usize))?;
        Some(self.typed_at(i))
    }

    fn backends_of_kernel(&self, kernel: &Plugin) -> &[u32] {
        self.by_record
            .get(&(kernel.record as *const PluginRecord as usize))
            .and_then(|k| self.backends.get(k))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn kernel_of_record(&self, record: &'static PluginRecord) -> Option<KernelRef<'_>> {
        let &i = self
            .by_record
            .get(&(record as *const PluginRecord as usize))?;
        self.typed_at(i).as_kernel()
    }
}
