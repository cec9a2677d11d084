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

use std::collections::hash_map::Entry;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

pub use error::{LoadError, LoadProblem, LookupError};
pub use plugin::{BackendRef, KernelRef, Location, Plugin, PluginRef, StepRef, TransformRef};

use crate::plugin::{PluginKind, Registered, Stage};
use crate::record::{Details, NAMESPACES, NamespaceRecord, PLUGINS, PluginRecord, name_hash};
use crate::suggest;

/// End of a chain in `Registry::same_name` and `OpIndex::links`.
const NONE: u32 = u32::MAX;

/// Every linked plugin, indexed for lookup; listed sorted by (kind, source, name).
///
/// Building it allocates a fixed number of vectors and hash maps, never one per plugin,
/// and reads no string but each crate's name once: names are indexed by the hash every
/// record carries from compile time ([`name_hash`]), plugins whose names hash alike are
/// chained through `same_name`, and a kernel's backends are one range of `backends`.
/// Indices are positions in `entries` (link order). What only lookups need (the sorted
/// listing, the index by op type and by Rust type) is made on first use.
#[derive(Debug)]
pub struct Registry {
    entries: Vec<Plugin>,
    /// The entries sorted by (kind, source, name), made on first listing.
    sorted: OnceLock<Listing>,
    /// For each kind, [`name_hash`] of a short name -> the first plugin with that hash.
    names: [FxHashMap<u64, u32>; 4],
    /// The next plugin of the same kind and name hash (another source), or `NONE`.
    same_name: Vec<u32>,
    /// Kernel record address -> index.
    kernels: FxHashMap<usize, u32>,
    /// Any record address -> index, made on the first lookup by type.
    by_type: OnceLock<FxHashMap<usize, u32>>,
    /// Backend indices grouped by kernel, highest priority first.
    backends: Vec<u32>,
    /// Kernel index -> its range of `backends`.
    backend_ranges: FxHashMap<u32, (u32, u32)>,
    /// ONNX op type -> kernel indices, made on the first lookup by op type.
    ops: OnceLock<OpIndex>,
    sources: Vec<&'static str>,
}

/// The kernels of each op type: chains through `links`.
#[derive(Debug, Default)]
struct OpIndex {
    /// Op type -> the first link of its chain.
    heads: FxHashMap<&'static str, u32>,
    /// (kernel index, next link).
    links: Vec<(u32, u32)>,
}

/// The sorted listing of a registry.
#[derive(Debug)]
struct Listing {
    plugins: Vec<Plugin>,
    /// For each kind, its range of `plugins`.
    ranges: [(u32, u32); 4],
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
        file: record.file(),
        line: record.line,
        column: record.column,
    }
}

fn address(record: &'static PluginRecord) -> usize {
    record as *const PluginRecord as usize
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

        let mut declared: FxHashMap<&'static str, &'static NamespaceRecord> = FxHashMap::default();
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

        let records = plugins.into_iter();
        let mut plugins: Vec<Plugin> = Vec::with_capacity(records.size_hint().0);
        let mut sources: Vec<&'static str> = Vec::new();
        // Records of one crate are adjacent in link order: read a crate's name and resolve
        // its source once, when the crate hash changes.
        let mut last: Option<(u64, &'static str)> = None;
        for record in records {
            let source = match last {
                Some((hash, source)) if hash == record.crate_hash => source,
                _ => {
                    let crate_name = record.crate_name();
                    let source = declared.get(crate_name).map_or(crate_name, |n| n.namespace);
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                    last = Some((record.crate_hash, source));
                    source
                }
            };
            plugins.push(Plugin {
                record,
                kind: kind_of(record),
                source,
                qualified: OnceLock::new(),
            });
        }
        sources.sort_unstable();

        let n = plugins.len();
        let mut per_kind = [0usize; 4];
        plugins.iter().for_each(|p| per_kind[p.kind as usize] += 1);
        let mut names: [FxHashMap<u64, u32>; 4] =
            per_kind.map(|count| FxHashMap::with_capacity_and_hasher(count, Default::default()));
        let mut same_name = vec![NONE; n];
        let mut kernels = FxHashMap::with_capacity_and_hasher(
            per_kind[PluginKind::Kernel as usize],
            Default::default(),
        );
        'plugins: for (i, plugin) in plugins.iter().enumerate() {
            let i = i as u32;
            let k = plugin.kind as usize;
            match names[k].entry(plugin.record.name_hash) {
                Entry::Occupied(entry) => {
                    let head = *entry.get();
                    let mut other = head;
                    while other != NONE {
                        let twin = &plugins[other as usize];
                        if twin.source == plugin.source && twin.name() == plugin.name() {
                            let (a, b) = (location_of(twin.record), location_of(plugin.record));
                            problems.push(LoadProblem::Duplicate {
                                kind: plugin.kind,
                                qualified_name: plugin.qualified_name().to_owned(),
                                first: a.min(b),
                                second: a.max(b),
                            });
                            continue 'plugins;
                        }
                        other = same_name[other as usize];
                    }
                    same_name[i as usize] = same_name[head as usize];
                    same_name[head as usize] = i;
                }
                Entry::Vacant(entry) => {
                    entry.insert(i);
                }
            }
            if plugin.kind == PluginKind::Kernel {
                kernels.insert(address(plugin.record), i);
            }
        }

        let mut grouped: Vec<(u32, std::cmp::Reverse<i32>, u32)> = Vec::new();
        for (i, plugin) in plugins.iter().enumerate() {
            let (kernel, priority) = match &plugin.record.details {
                Details::Backend(b) => (b.kernel, Some(b.priority)),
                Details::Transform(t) => match t.infers {
                    Some(kernel) => (kernel, None),
                    None => continue,
                },
                _ => continue,
            };
            match kernels.get(&address(kernel)).copied() {
                Some(k) => {
                    if let Some(priority) = priority {
                        grouped.push((k, std::cmp::Reverse(priority), i as u32));
                    }
                }
                None => problems.push(LoadProblem::MissingKernel {
                    plugin: plugin.qualified_name().to_owned(),
                    location: location_of(plugin.record),
                    kernel: kernel.name().to_owned(),
                }),
            }
        }
        grouped.sort_unstable();
        let mut backend_ranges = FxHashMap::default();
        let mut start = 0;
        for (j, &(kernel, priority, backend)) in grouped.iter().enumerate() {
            if j > 0 && grouped[j - 1].0 == kernel && grouped[j - 1].1 == priority {
                let entry = |i: u32| {
                    let p = &plugins[i as usize];
                    (p.qualified_name().to_owned(), location_of(p.record))
                };
                problems.push(LoadProblem::BackendPriorityTie {
                    kernel: plugins[kernel as usize].qualified_name().to_owned(),
                    priority: priority.0,
                    backends: [entry(grouped[j - 1].2), entry(backend)],
                });
            }
            if j + 1 == grouped.len() || grouped[j + 1].0 != kernel {
                backend_ranges.insert(kernel, (start as u32, j as u32 + 1));
                start = j + 1;
            }
        }
        let backends = grouped.into_iter().map(|(_, _, b)| b).collect();

        if !problems.is_empty() {
            problems.sort_by_key(|p| p.to_string());
            return Err(LoadError { problems });
        }
        Ok(Registry {
            entries: plugins,
            sorted: OnceLock::new(),
            names,
            same_name,
            kernels,
            by_type: OnceLock::new(),
            backends,
            backend_ranges,
            ops: OnceLock::new(),
            sources,
        })
    }

    /// The plugins of `kind` whose name is `name`, in chain order (one per source).
    fn chain<'a>(&'a self, kind: PluginKind, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let mut next = self.names[kind as usize]
            .get(&name_hash(name))
            .copied()
            .unwrap_or(NONE);
        std::iter::from_fn(move || {
            let current = next;
            (current != NONE).then(|| {
                next = self.same_name[current as usize];
                current
            })
        })
        .filter(move |&i| self.entries[i as usize].name() == name)
    }

    /// The plugins of `kind` called `name` (one per source), in registry order.
    fn named(&self, kind: PluginKind, name: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self.chain(kind, name).collect();
        self.sort_indices(&mut found);
        found
    }

    /// Orders entry indices as the listing does.
    fn sort_indices(&self, indices: &mut [u32]) {
        indices.sort_unstable_by_key(|&i| {
            let p = &self.entries[i as usize];
            (p.kind, p.source, p.name(), location_of(p.record))
        });
    }

    /// The sorted listing and each kind's range of it, made on first use.
    fn sorted(&self) -> &Listing {
        self.sorted.get_or_init(|| {
            let mut plugins = self.entries.clone();
            plugins.sort_unstable_by(|a, b| {
                (a.kind, a.source, a.name(), location_of(a.record)).cmp(&(
                    b.kind,
                    b.source,
                    b.name(),
                    location_of(b.record),
                ))
            });
            let mut ranges = [(0u32, 0u32); 4];
            for (i, plugin) in plugins.iter().enumerate() {
                let range = &mut ranges[plugin.kind as usize];
                if range.1 == 0 {
                    range.0 = i as u32;
                }
                range.1 = i as u32 + 1;
            }
            Listing { plugins, ranges }
        })
    }

    /// Every plugin, sorted by (kind, source, name).
    pub fn plugins(&self) -> &[Plugin] {
        &self.sorted().plugins
    }

    /// Every plugin of one kind, sorted by (source, name).
    pub fn of_kind(&self, kind: PluginKind) -> &[Plugin] {
        let listing = self.sorted();
        let (start, end) = listing.ranges[kind as usize];
        &listing.plugins[start as usize..end as usize]
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
        PluginRef::new(self, &self.entries[index as usize])
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
        if let Some((source, short)) = name.split_once(':') {
            let mut next = self.names[k]
                .get(&name_hash(short))
                .copied()
                .unwrap_or(NONE);
            while next != NONE {
                let plugin = &self.entries[next as usize];
                if plugin.source == source && plugin.name() == short {
                    return Ok(plugin);
                }
                next = self.same_name[next as usize];
            }
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
        if let Some(&head) = self.names[k].get(&name_hash(name))
            && self.same_name[head as usize] == NONE
        {
            let plugin = &self.entries[head as usize];
            return if plugin.name() == name {
                Ok(plugin)
            } else {
                Err(self.unknown(kind, name))
            };
        }
        let candidates = self.named(kind, name);
        match candidates.as_slice() {
            [] => return Err(self.unknown(kind, name)),
            [only] => return Ok(&self.entries[*only as usize]),
            _ => {}
        }
        let rank = |i: &u32| {
            sources
                .iter()
                .position(|s| *s == self.entries[*i as usize].source)
        };
        match candidates
            .iter()
            .filter(|i| rank(i).is_some())
            .min_by_key(|i| rank(i))
        {
            Some(&i) => Ok(&self.entries[i as usize]),
            None => Err(LookupError::Ambiguous {
                kind,
                name: name.to_owned(),
                candidates: candidates
                    .iter()
                    .map(|&i| self.entries[i as usize].qualified_name().to_owned())
                    .collect(),
            }),
        }
    }

    fn unknown(&self, kind: PluginKind, name: &str) -> LookupError {
        let plugins = self.of_kind(kind);
        let short = name.rsplit(':').next().unwrap_or(name);
        let suggestion = if name.contains(':') {
            suggest::closest(name, plugins.iter().map(|p| p.qualified_name()))
        } else {
            suggest::closest(short, plugins.iter().map(|p| p.name()))
        };
        let other_kinds = PluginKind::ALL
            .iter()
            .copied()
            .filter(|&other| other != kind)
            .filter(|&other| self.chain(other, short).next().is_some())
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
        if self.chain(plugin.kind, plugin.name()).nth(1).is_none() {
            plugin.name().to_owned()
        } else {
            plugin.qualified_name().to_owned()
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
        let ops = self.ops.get_or_init(|| {
            let mut index = OpIndex::default();
            for (i, plugin) in self.entries.iter().enumerate() {
                if plugin.kind == PluginKind::Kernel {
                    for op in plugin.record.op_types() {
                        let link = index.links.len() as u32;
                        let next = std::mem::replace(index.heads.entry(op).or_insert(NONE), link);
                        index.links.push((i as u32, next));
                    }
                }
            }
            index
        });
        let mut found = Vec::new();
        let mut link = ops.heads.get(op_type).copied().unwrap_or(NONE);
        while link != NONE {
            let (kernel, next) = ops.links[link as usize];
            found.push(kernel);
            link = next;
        }
        self.sort_indices(&mut found);
        found
            .into_iter()
            .filter_map(|i| self.typed_at(i).as_kernel())
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
        let by_type = self.by_type.get_or_init(|| {
            self.entries
                .iter()
                .enumerate()
                .map(|(i, p)| (address(p.record), i as u32))
                .collect()
        });
        let &i = by_type.get(&address(T::RECORD))?;
        Some(self.typed_at(i))
    }

    fn backends_of_kernel(&self, kernel: &Plugin) -> &[u32] {
        self.kernels
            .get(&address(kernel.record))
            .and_then(|k| self.backend_ranges.get(k))
            .map_or(&[], |&(start, end)| {
                &self.backends[start as usize..end as usize]
            })
    }

    fn kernel_of_record(&self, record: &'static PluginRecord) -> Option<KernelRef<'_>> {
        let &i = self.kernels.get(&address(record))?;
        self.typed_at(i).as_kernel()
    }
}
