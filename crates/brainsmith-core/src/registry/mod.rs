//! The registry: every linked plugin, indexed once on first use.
//!
//! Keys are (kind, source, name). The source is the defining crate's declared namespace
//! ([`crate::namespace!`]) or else its package name; `source:Name` is the qualified name. A
//! short name resolves when one source registers it; otherwise the error lists the
//! qualified candidates, or the caller gives a source priority order.
//!
//! Plugins can be switched off: [`Registry::with_disabled`] is a view of a registry in
//! which the plugins [`Disabled`] patterns (`source:Name`, `source:*`) match are invisible
//! to lookups but still listed; [`Registry::global`] is the view less `BRAINSMITH_DISABLE`'s
//! patterns, and a blueprint's `disable` list makes one for its build. Plugin authors never
//! meet this.
//!
//! ```
//! use brainsmith_core::registry::{Disabled, LookupError};
//! use brainsmith_core::{PluginKind, Registry, Transform, TransformContext};
//! use brainsmith_core::{PluginError, ir::Model, transform};
//!
//! /// Does nothing.
//! #[transform(stage = cleanup)]
//! #[derive(Default)]
//! struct Idle;
//! impl Transform for Idle {
//!     fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
//!         Ok(false)
//!     }
//! }
//!
//! let registry = Registry::global().unwrap();
//! let idle = registry.transform("Idle").unwrap();
//! let pattern = idle.qualified_name().to_owned();
//! let view = registry
//!     .with_disabled(&Disabled::parse(&pattern, "my-host --no-idle").unwrap())
//!     .unwrap();
//! let err = view.get(PluginKind::Transform, "Idle").unwrap_err();
//! assert!(matches!(err, LookupError::Disabled { .. }));
//! assert!(err.to_string().contains("is disabled by"), "{err}");
//! assert!(view.transforms().all(|t| t.name() != "Idle"));
//! // Still listed, saying why.
//! let listed = view.plugins().iter().find(|p| p.name() == "Idle").unwrap();
//! assert_eq!(
//!     view.why_disabled(listed).unwrap().to_string(),
//!     format!("by '{pattern}' (my-host --no-idle)")
//! );
//! ```
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
mod index;
mod plugin;
mod search;
mod switch;

use std::cmp::Reverse;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

pub use error::{LoadError, LoadProblem, LookupError};
pub use plugin::{
    BackendRef, KernelRef, Location, Plugin, PluginRef, PriorityTie, StepRef, TransformRef,
};
pub use switch::{DISABLE_VAR, DisableError, DisableProblem, Disabled, DisabledBy};

use crate::plugin::{PluginKind, Registered, Stage};
use crate::record::{Details, NAMESPACES, NamespaceRecord, PLUGINS, PluginRecord, name_hash};
use crate::suggest;
use index::{NameIndex, Positions, address};
use switch::Switches;

/// End of a chain in `OpIndex::links`.
const NONE: u32 = u32::MAX;

/// Every linked plugin, indexed for lookup; listed sorted by (kind, source, name).
///
/// Building it makes a fixed number of allocations, never one per plugin, and reads no
/// string but each crate's name once: names are indexed by the hash every record carries
/// from compile time ([`name_hash`]) in one open-addressing table, a record's entry is
/// found from its address by arithmetic (the linked records are one array), and the
/// backends of every kernel are one sorted array. Indices are positions in `entries`
/// (link order). What only some lookups need (the sorted listing, the index by op type)
/// is made on first use.
#[derive(Debug)]
pub struct Registry {
    entries: Vec<Plugin>,
    /// The entries sorted by (kind, source, name), made on first listing.
    sorted: OnceLock<Listing>,
    /// (kind, name hash) -> entries.
    names: NameIndex,
    /// Record address -> entry.
    positions: Positions,
    /// (kernel entry, priority, backend entry), sorted: by kernel, highest priority first.
    backends: Vec<(usize, Reverse<i32>, u32)>,
    /// ONNX op type -> kernel indices, made on the first lookup by op type.
    ops: OnceLock<OpIndex>,
    /// Kernel record address -> the transforms inferring it (listing order), made on
    /// first use: asking each kernel by scanning every transform was quadratic.
    inferrers: OnceLock<FxHashMap<usize, Vec<u32>>>,
    sources: Vec<&'static str>,
    /// The plugins this view disables (nothing, in a registry of everything linked).
    switches: Switches,
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

/// Every linked plugin.
static LINKED: OnceLock<Result<Registry, LoadError>> = OnceLock::new();
/// The process's view: the linked plugins less those `BRAINSMITH_DISABLE` disables.
static GLOBAL: OnceLock<Result<&'static Registry, LoadError>> = OnceLock::new();

fn location_of(record: &PluginRecord) -> Location {
    Location {
        file: record.file(),
        line: record.line,
        column: record.column,
    }
}

impl Registry {
    /// The registry of every plugin linked into this binary, built on first call.
    ///
    /// Fails when the linked plugins are inconsistent (a name registered twice, a backend
    /// of a kernel that is not linked, ...); the error lists every problem. Two backends
    /// of a kernel with equal priority are not one: a build orders them
    /// ([`KernelRef::priority_tie`]).
    ///
    /// The plugins [`DISABLE_VAR`] (`BRAINSMITH_DISABLE`, comma-separated `source:Name`
    /// or `source:*` patterns, read once, here) matches are disabled in it
    /// ([`Registry::with_disabled`]); a pattern that is malformed or matches nothing is a
    /// load error. Building the index reads no environment: the variable only selects
    /// the process's view of it.
    pub fn global() -> Result<&'static Registry, &'static LoadError> {
        GLOBAL
            .get_or_init(|| {
                let linked = LINKED
                    .get_or_init(|| Registry::from_records(PLUGINS.iter(), NAMESPACES.iter()))
                    .as_ref()
                    .map_err(Clone::clone)?;
                let Some(value) = std::env::var_os(DISABLE_VAR) else {
                    return Ok(linked);
                };
                match value.into_string() {
                    Ok(list) => linked.with_disabled_list(&list, DISABLE_VAR),
                    Err(raw) => Err(DisableError {
                        problems: vec![DisableProblem {
                            index: 0,
                            pattern: raw.to_string_lossy().into_owned(),
                            origin: DISABLE_VAR.to_owned(),
                            message: "the value is not UTF-8 text; write comma-separated \
                                      `source:Name` or `source:*` patterns"
                                .to_owned(),
                        }],
                    }),
                }
                .map_err(|e| LoadError {
                    problems: e.problems.into_iter().map(LoadProblem::Disable).collect(),
                })
            })
            .as_ref()
            .map(|registry| *registry)
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

        // One pass over the records reads all that building needs of them.
        let records = plugins.into_iter();
        let mut entries: Vec<Plugin> = Vec::with_capacity(records.size_hint().0);
        let mut names = NameIndex::with_capacity(records.size_hint().0);
        let mut sources: Vec<&'static str> = Vec::new();
        // (kernel, priority, backend entry), the kernel by record address until every
        // entry's position is known, then by entry index.
        let mut backends: Vec<(usize, Reverse<i32>, u32)> = Vec::new();
        // (kernel record, transform entry) of the transforms that infer a kernel.
        let mut infers: Vec<(&'static PluginRecord, u32)> = Vec::new();
        // Records of one crate are adjacent in link order: read a crate's name and resolve
        // its source once, when the crate hash changes.
        let mut last: Option<(u64, Option<&'static NamespaceRecord>)> = None;
        for record in records {
            let namespace = match last {
                Some((hash, namespace)) if hash == record.crate_hash => namespace,
                _ => {
                    let crate_name = record.crate_name();
                    let namespace = declared.get(crate_name).copied();
                    let source = namespace.map_or(crate_name, |n| n.namespace);
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                    last = Some((record.crate_hash, namespace));
                    namespace
                }
            };
            let i = entries.len() as u32;
            let plugin = Plugin::new(record, namespace);
            let kind = plugin.kind();
            match &record.details {
                Details::Backend(b) => backends.push((address(b.kernel), Reverse(b.priority), i)),
                Details::Transform(t) => {
                    if let Some(kernel) = t.infers {
                        infers.push((kernel, i));
                    }
                }
                _ => {}
            }
            if names.is_full() {
                names = NameIndex::with_capacity(2 * (entries.len() + 1));
                for (j, other) in entries.iter().enumerate() {
                    names
                        .insert(other.kind(), other.record.name_hash, j as u32, |_| false)
                        .expect("no twin is looked for");
                }
            }
            let same = |other: u32| {
                let twin = &entries[other as usize];
                twin.source() == plugin.source() && twin.name() == plugin.name()
            };
            if let Err(twin) = names.insert(kind, record.name_hash, i, same) {
                let (a, b) = (
                    location_of(entries[twin as usize].record),
                    location_of(record),
                );
                problems.push(LoadProblem::Duplicate {
                    kind,
                    qualified_name: plugin.qualified_name().to_owned(),
                    first: a.min(b),
                    second: a.max(b),
                });
            }
            entries.push(plugin);
        }
        sources.sort_unstable();
        let positions = Positions::of(entries.iter().map(|p| address(p.record)));

        let kernel_at = |address: usize| {
            positions
                .get(address)
                .filter(|&k| entries[k as usize].kind() == PluginKind::Kernel)
        };
        let mut missing = |i: u32| {
            let plugin = &entries[i as usize];
            let kernel = match &plugin.record.details {
                Details::Backend(b) => Some(b.kernel),
                Details::Transform(t) => t.infers,
                _ => None,
            };
            problems.push(LoadProblem::MissingKernel {
                plugin: plugin.qualified_name().to_owned(),
                location: location_of(plugin.record),
                kernel: kernel.map_or("", |k| k.name()).to_owned(),
            });
        };
        for &(kernel, i) in &infers {
            if kernel_at(address(kernel)).is_none() {
                missing(i);
            }
        }
        backends.retain_mut(|(kernel, _, i)| match kernel_at(*kernel) {
            Some(k) => {
                *kernel = k as usize;
                true
            }
            None => {
                missing(*i);
                false
            }
        });
        // Two backends of one kernel with equal priority are not a load error: a build
        // settles their order in its blueprint (`KernelRef::priority_tie`).
        backends.sort_unstable();

        if !problems.is_empty() {
            problems.sort_by_key(|p| p.to_string());
            return Err(LoadError { problems });
        }
        Ok(Registry {
            entries,
            sorted: OnceLock::new(),
            names,
            positions,
            backends,
            ops: OnceLock::new(),
            inferrers: OnceLock::new(),
            sources,
            switches: Switches::default(),
        })
    }

    /// The plugins of `kind` whose name is `name` (one per source), in link order.
    fn chain<'a>(&'a self, kind: PluginKind, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.names
            .candidates(kind, name_hash(name))
            .filter(move |&i| self.entries[i as usize].name() == name)
    }

    /// The plugins of `kind` whose name is `name` and that this view does not disable.
    fn chain_on<'a>(&'a self, kind: PluginKind, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.chain(kind, name).filter(move |&i| !self.is_off(i))
    }

    /// The plugins of `kind` called `name` (one per source) this view does not disable,
    /// in registry order.
    fn named(&self, kind: PluginKind, name: &str) -> Vec<u32> {
        let mut found: Vec<u32> = self.chain_on(kind, name).collect();
        self.sort_indices(&mut found);
        found
    }

    /// Orders entry indices as the listing does.
    fn sort_indices(&self, indices: &mut [u32]) {
        indices.sort_unstable_by_key(|&i| {
            let p = &self.entries[i as usize];
            (p.kind(), p.source(), p.name(), location_of(p.record))
        });
    }

    /// The sorted listing and each kind's range of it, made on first use.
    fn sorted(&self) -> &Listing {
        self.sorted.get_or_init(|| {
            // Compared field by field, each only on a tie of the ones before: the location
            // (file, line, column) breaks ties of a name defined twice, a load error, and
            // reading it in every comparison cost most of `plugins` at 10,000 plugins. No
            // side array of keys: its fresh pages cost more than the comparisons it saves.
            let mut plugins = self.entries.clone();
            plugins.sort_unstable_by(|a, b| {
                a.kind()
                    .cmp(&b.kind())
                    .then_with(|| a.source().cmp(b.source()))
                    .then_with(|| a.name().cmp(b.name()))
                    .then_with(|| location_of(a.record).cmp(&location_of(b.record)))
            });
            let mut ranges = [(0u32, 0u32); 4];
            for (i, plugin) in plugins.iter().enumerate() {
                let range = &mut ranges[plugin.kind() as usize];
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
        if let Some((source, short)) = name.split_once(':') {
            if let Some(i) = self.qualified(kind, source, short)
                && !self.is_off(i)
            {
                return Ok(&self.entries[i as usize]);
            }
            return Err(self.qualified_failed(kind, name, source, short));
        }
        // Without switches (a registry of everything linked), no candidate is off: the
        // walk skips the per-candidate check.
        let found = if !self.any_off() {
            let mut all = self.chain(kind, name);
            (all.next(), all.next())
        } else {
            let mut on = self.chain_on(kind, name);
            (on.next(), on.next())
        };
        match found {
            (None, _) => {
                return Err(match self.named_off(kind, name) {
                    Some(i) => self.disabled_error(kind, name, i),
                    None => self.unknown(kind, name),
                });
            }
            (Some(only), None) => return Ok(&self.entries[only as usize]),
            _ => {}
        }
        let candidates = self.named(kind, name);
        let rank = |i: &u32| {
            sources
                .iter()
                .position(|s| *s == self.entries[*i as usize].source())
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

    /// The plugin of `kind` that `source` registers as `short`, disabled or not. Always
    /// inlined: a lookup's own loop, not a call (measured by `cargo xtask bench`).
    #[inline(always)]
    fn qualified(&self, kind: PluginKind, source: &str, short: &str) -> Option<u32> {
        // A plain loop over the probe: `Iterator::find` here was left as a call.
        for i in self.names.candidates(kind, name_hash(short)) {
            let entry = &self.entries[i as usize];
            if entry.name() == short && entry.source() == source {
                return Some(i);
            }
        }
        None
    }

    /// Why `source:short` found nothing this view enables. Out of line and cold, so that
    /// a lookup's own path stays short.
    #[cold]
    #[inline(never)]
    fn qualified_failed(
        &self,
        kind: PluginKind,
        name: &str,
        source: &str,
        short: &str,
    ) -> LookupError {
        if let Some(i) = self.qualified(kind, source, short) {
            return self.disabled_error(kind, name, i);
        }
        if !self.sources.contains(&source) {
            return LookupError::UnknownSource {
                kind,
                name: name.to_owned(),
                suggestion: suggest::closest(source, self.sources.iter().copied())
                    .map(str::to_owned),
                sources: self.sources.iter().map(|s| (*s).to_owned()).collect(),
            };
        }
        self.unknown(kind, name)
    }

    /// The first plugin of `kind` called `name` (in registry order) that this view
    /// disables.
    fn named_off(&self, kind: PluginKind, name: &str) -> Option<u32> {
        let mut off: Vec<u32> = self.chain(kind, name).filter(|&i| self.is_off(i)).collect();
        self.sort_indices(&mut off);
        off.first().copied()
    }

    /// `name` (asked for as a `kind`) resolves to entry `i`, which this view disables.
    #[cold]
    #[inline(never)]
    fn disabled_error(&self, kind: PluginKind, name: &str, i: u32) -> LookupError {
        let plugin = &self.entries[i as usize];
        LookupError::Disabled {
            kind,
            name: name.to_owned(),
            qualified_name: plugin.qualified_name().to_owned(),
            by: self
                .why_disabled(plugin)
                .map(|by| by.to_string())
                .unwrap_or_default(),
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown(&self, kind: PluginKind, name: &str) -> LookupError {
        let on: Vec<&Plugin> = self
            .of_kind(kind)
            .iter()
            .filter(|p| !self.is_off_plugin(p))
            .collect();
        let plugins = on.as_slice();
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
            .filter(|&other| self.chain_on(other, short).next().is_some())
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
        if self.chain(plugin.kind(), plugin.name()).nth(1).is_none() {
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

    /// The entries of the transforms inferring the kernel of `record`, in listing order.
    fn inferrers_of(&self, record: &PluginRecord) -> &[u32] {
        let index = self.inferrers.get_or_init(|| {
            let mut index: FxHashMap<usize, Vec<u32>> = FxHashMap::default();
            for plugin in self.of_kind(PluginKind::Transform) {
                if let Details::Transform(t) = &plugin.record.details
                    && let Some(kernel) = t.infers
                    && let Some(i) = self.positions.get(address(plugin.record))
                {
                    index.entry(address(kernel)).or_default().push(i);
                }
            }
            index
        });
        index.get(&address(record)).map_or(&[], Vec::as_slice)
    }

    /// Every transform this registry does not disable, sorted by (source, name) (as for
    /// the other kinds: [`Registry::plugins`] lists the disabled ones too).
    pub fn transforms(&self) -> impl Iterator<Item = TransformRef<'_>> {
        self.of_kind(PluginKind::Transform)
            .iter()
            .filter(|p| !self.is_off_plugin(p))
            .filter_map(|p| self.typed(p).as_transform())
    }

    /// Every kernel this registry does not disable, sorted by (source, name).
    pub fn kernels(&self) -> impl Iterator<Item = KernelRef<'_>> {
        self.of_kind(PluginKind::Kernel)
            .iter()
            .filter(|p| !self.is_off_plugin(p))
            .filter_map(|p| self.typed(p).as_kernel())
    }

    /// Every backend this registry does not disable, sorted by (source, name).
    pub fn backends(&self) -> impl Iterator<Item = BackendRef<'_>> {
        self.of_kind(PluginKind::Backend)
            .iter()
            .filter(|p| !self.is_off_plugin(p))
            .filter_map(|p| self.typed(p).as_backend())
    }

    /// Every step this registry does not disable, sorted by (source, name).
    pub fn steps(&self) -> impl Iterator<Item = StepRef<'_>> {
        self.of_kind(PluginKind::Step)
            .iter()
            .filter(|p| !self.is_off_plugin(p))
            .filter_map(|p| self.typed(p).as_step())
    }

    /// The transforms of one stage, sorted by (source, name).
    pub fn transforms_in_stage(&self, stage: Stage) -> impl Iterator<Item = TransformRef<'_>> {
        self.transforms().filter(move |t| t.stage() == stage)
    }

    /// The kernels implementing ONNX op type `op_type`, in any domain, but those this
    /// registry disables.
    pub fn kernels_for_op<'r>(
        &'r self,
        op_type: &str,
    ) -> impl Iterator<Item = KernelRef<'r>> + use<'r> {
        let ops = self.ops.get_or_init(|| {
            let mut index = OpIndex::default();
            for (i, plugin) in self.entries.iter().enumerate() {
                if plugin.kind() == PluginKind::Kernel {
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
        if self.any_off() {
            found.retain(|&i| !self.is_off(i));
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
        let domain = crate::ir::canonical_domain(domain);
        self.kernels_for_op(op_type)
            .filter(move |k| k.domain() == domain)
    }

    /// The plugin whose Rust type is `T` (a struct with `#[transform]`, `#[kernel]` or
    /// `#[backend]`), if this registry holds it and does not disable it.
    pub fn by_type<T: Registered>(&self) -> Option<PluginRef<'_>> {
        let i = self.positions.get(address(T::RECORD))?;
        (!self.is_off(i)).then(|| self.typed_at(i))
    }

    /// The backends of `kernel`, highest priority first; with `all`, those this registry
    /// disables too.
    fn backends_of_kernel(&self, kernel: &Plugin, all: bool) -> impl Iterator<Item = u32> + '_ {
        let k = self
            .positions
            .get(address(kernel.record))
            .map_or(usize::MAX, |k| k as usize);
        let start = self.backends.partition_point(|&(kernel, ..)| kernel < k);
        self.backends[start..]
            .iter()
            .take_while(move |&&(kernel, ..)| kernel == k)
            .map(|&(.., backend)| backend)
            .filter(move |&backend| all || !self.is_off(backend))
    }

    fn kernel_of_record(&self, record: &'static PluginRecord) -> Option<KernelRef<'_>> {
        let i = self.positions.get(address(record))?;
        self.typed_at(i).as_kernel()
    }
}
