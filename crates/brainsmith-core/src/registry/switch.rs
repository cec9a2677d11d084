//! Switches: plugins a process or a build disables, by pattern.
//!
//! A [`Disabled`] set holds patterns (`source:Name`, every plugin of that qualified name
//! whatever its kind; `source:*`, every plugin of a source), each with where it was
//! written. [`Registry::with_disabled`] resolves them into a view of the registry in
//! which the plugins they match, the backends of a disabled kernel and the transforms
//! inferring one are invisible to lookups, while listings still show them
//! ([`Registry::why_disabled`]).
//!
//! A view is one copy of the index (a fixed number of flat tables) plus one bit per entry,
//! kept in the registry it was made from for as long as that lives: one per distinct set
//! of patterns, so checking one blueprint twice makes one view.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::index::address;
use super::{Plugin, Registry};
use crate::plugin::PluginKind;
use crate::record::{Details, PluginRecord};
use crate::suggest::{self, QUOTED, shorten};

/// The environment variable a process's registry ([`Registry::global`]) reads its
/// disabled plugins from: comma-separated patterns.
pub const DISABLE_VAR: &str = "BRAINSMITH_DISABLE";

/// Plugins to disable, by pattern: `source:Name` (every plugin of that qualified name,
/// whatever its kind) or `source:*` (every plugin of a source). Each pattern keeps where
/// it was written, which messages name.
///
/// ```
/// use brainsmith_core::registry::Disabled;
///
/// let mut disabled = Disabled::parse("acme:*, brainsmith:FoldConstants", "BRAINSMITH_DISABLE")
///     .unwrap();
/// disabled.add("brainsmith:MVAU_rtl", "my-host --no-rtl").unwrap();
/// assert_eq!(disabled.patterns().count(), 3);
/// let err = Disabled::parse("FoldConstants", "BRAINSMITH_DISABLE").unwrap_err();
/// assert!(err.to_string().contains("write `source:Name`"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disabled {
    /// (pattern, where it was written).
    patterns: Vec<(String, String)>,
}

impl Disabled {
    /// Disables nothing.
    pub fn new() -> Disabled {
        Disabled::default()
    }

    /// The patterns of `list`, separated by commas (whitespace around each is dropped),
    /// as [`DISABLE_VAR`] holds them; all of them written at `origin`. A list of nothing
    /// but whitespace disables nothing; an error lists every malformed entry.
    pub fn parse(list: &str, origin: &str) -> Result<Disabled, DisableError> {
        let mut disabled = Disabled::new();
        if list.trim().is_empty() {
            return Ok(disabled);
        }
        let mut problems = Vec::new();
        for (index, pattern) in list.split(',').map(str::trim).enumerate() {
            match check_form(pattern) {
                Ok(()) => disabled
                    .patterns
                    .push((pattern.to_owned(), origin.to_owned())),
                Err(message) => problems.push(DisableProblem {
                    index,
                    pattern: pattern.to_owned(),
                    origin: origin.to_owned(),
                    message,
                }),
            }
        }
        if problems.is_empty() {
            Ok(disabled)
        } else {
            Err(DisableError { problems })
        }
    }

    /// Adds `pattern`, written at `origin` (`"BRAINSMITH_DISABLE"`, `"build.toml:2:12"`,
    /// ...); an error when it is not of the form `source:Name` or `source:*`.
    pub fn add(&mut self, pattern: &str, origin: &str) -> Result<(), DisableError> {
        check_form(pattern).map_err(|message| DisableError {
            problems: vec![DisableProblem {
                index: self.patterns.len(),
                pattern: pattern.to_owned(),
                origin: origin.to_owned(),
                message,
            }],
        })?;
        self.patterns.push((pattern.to_owned(), origin.to_owned()));
        Ok(())
    }

    /// Whether it disables nothing.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Each (pattern, where it was written), in the order added.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.patterns.iter().map(|(p, o)| (p.as_str(), o.as_str()))
    }
}

/// Why a pattern is not of the form `source:Name` or `source:*`.
fn check_form(pattern: &str) -> Result<(), String> {
    let fix = "write `source:Name` (one plugin by qualified name) or `source:*` (every \
               plugin of a source); `plugins --verbose` lists the qualified names";
    let quoted = shorten(pattern, QUOTED);
    let Some((source, name)) = pattern.split_once(':') else {
        return Err(if pattern.is_empty() {
            format!("an empty pattern; {fix}")
        } else {
            format!("'{quoted}' names no source; {fix}")
        });
    };
    if source.is_empty() || name.is_empty() {
        return Err(format!(
            "'{quoted}' has an empty {}; {fix}",
            if source.is_empty() { "source" } else { "name" }
        ));
    }
    if name.contains(':') {
        return Err(format!("'{quoted}' has more than one ':'; {fix}"));
    }
    if source.contains('*') || (name.contains('*') && name != "*") {
        return Err(format!(
            "'{quoted}': `*` stands alone after the colon, for every plugin of a source; {fix}"
        ));
    }
    Ok(())
}

/// Why some patterns of a [`Disabled`] set cannot apply. Lists every problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisableError {
    /// Each problem, in the order of the patterns.
    pub problems: Vec<DisableProblem>,
}

/// One pattern that cannot apply: malformed, or matching no linked plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisableProblem {
    /// The pattern's position among those given (in the list parsed, or in the set
    /// handed to [`Registry::with_disabled`]).
    pub index: usize,
    /// The pattern.
    pub pattern: String,
    /// Where it was written.
    pub origin: String,
    /// What is wrong, and the fix.
    pub message: String,
}

impl fmt::Display for DisableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl fmt::Display for DisableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DisableError {}

/// Why a plugin is disabled in a registry view ([`Registry::why_disabled`]).
#[derive(Clone, Copy, Debug)]
pub struct DisabledBy<'r> {
    /// The pattern that matched.
    pub pattern: &'r str,
    /// Where the pattern was written.
    pub origin: &'r str,
    /// For a backend of a disabled kernel, or a transform inferring one: that kernel.
    pub kernel: Option<&'r Plugin>,
}

impl fmt::Display for DisabledBy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kernel) = self.kernel {
            write!(f, "with its kernel '{}', ", kernel.qualified_name())?;
        }
        write!(
            f,
            "by '{}' ({})",
            shorten(self.pattern, QUOTED),
            self.origin
        )
    }
}

/// Why an entry is off.
#[derive(Clone, Copy, Debug)]
enum Why {
    /// Pattern `rule` matched it.
    Pattern(u32),
    /// Its kernel (an entry) is off.
    Kernel(u32),
}

/// What a registry view switches off; empty in a registry of everything linked.
#[derive(Debug, Default)]
pub(super) struct Switches {
    /// One bit per entry; empty when nothing is off, so that an unswitched lookup tests
    /// one length.
    off: Vec<u64>,
    /// (entry, why), sorted by entry: one per entry that is off.
    why: Vec<(u32, Why)>,
    /// The patterns in effect.
    rules: Disabled,
    /// The views made from this one, kept while it lives.
    #[expect(
        clippy::vec_box,
        reason = "a view's address is handed out: growing the list must not move it"
    )]
    views: Mutex<Vec<Box<Registry>>>,
}

impl Registry {
    /// Whether this view disables anything (a registry of everything linked does not).
    #[inline]
    pub(super) fn any_off(&self) -> bool {
        !self.switches.off.is_empty()
    }

    /// Whether entry `i` is off in this view.
    #[inline]
    pub(super) fn is_off(&self, i: u32) -> bool {
        let off = &self.switches.off;
        !off.is_empty() && off[i as usize / 64] >> (i % 64) & 1 == 1
    }

    /// Whether `plugin` (of this registry or another view of the same records) is off.
    #[inline]
    pub(super) fn is_off_plugin(&self, plugin: &Plugin) -> bool {
        !self.switches.off.is_empty()
            && self
                .positions
                .get(address(plugin.record))
                .is_some_and(|i| self.is_off(i))
    }

    /// Why the plugin of `record` is disabled here, if it is.
    pub(crate) fn why_disabled_record(&self, record: &PluginRecord) -> Option<DisabledBy<'_>> {
        if self.switches.off.is_empty() {
            return None;
        }
        let i = self.positions.get(address(record))?;
        let at = self
            .switches
            .why
            .binary_search_by_key(&i, |&(entry, _)| entry)
            .ok()?;
        match self.switches.why[at].1 {
            Why::Pattern(rule) => {
                let (pattern, origin) = &self.switches.rules.patterns[rule as usize];
                Some(DisabledBy {
                    pattern,
                    origin,
                    kernel: None,
                })
            }
            Why::Kernel(k) => {
                let kernel = &self.entries[k as usize];
                // A kernel is off by a pattern, never through another kernel.
                let by = self.why_disabled_record(kernel.record)?;
                Some(DisabledBy {
                    kernel: Some(kernel),
                    ..by
                })
            }
        }
    }

    /// Why `plugin` is disabled in this registry, or `None` when it is usable. A disabled
    /// plugin is listed ([`Registry::plugins`], [`Registry::search`]) but invisible to
    /// lookups: [`Registry::get`] says it is disabled and by what, and the typed
    /// iterators ([`Registry::transforms`], [`Registry::kernels_for_op`],
    /// [`KernelRef::backends`](super::KernelRef::backends), ...) skip it.
    pub fn why_disabled(&self, plugin: &Plugin) -> Option<DisabledBy<'_>> {
        self.why_disabled_record(plugin.record)
    }

    /// The patterns this registry disables plugins by (empty for the registry of
    /// everything linked; [`DISABLE_VAR`]'s for [`Registry::global`] when it is set).
    pub fn disabled(&self) -> &Disabled {
        &self.switches.rules
    }

    /// This registry with the plugins `disabled` matches disabled too: they, the backends
    /// of a disabled kernel and the transforms inferring one are invisible to lookups, as
    /// if they were not linked, and [`Registry::why_disabled`] says why. Plugin authors
    /// never need this; a host uses it to switch plugins off for one build (a blueprint's
    /// `disable` list does).
    ///
    /// The view lives as long as this registry, which keeps one per distinct set of
    /// patterns. An error lists every pattern that matches no linked plugin, each with the
    /// closest qualified name or source.
    ///
    /// ```
    /// use brainsmith_core::registry::Disabled;
    /// use brainsmith_core::Registry;
    ///
    /// let registry = Registry::global().unwrap();
    /// // A pattern that matches no linked plugin is an error naming where it was written.
    /// let disabled = Disabled::parse("nowhere:*", "my-host").unwrap();
    /// let err = registry.with_disabled(&disabled).unwrap_err();
    /// assert!(err.to_string().starts_with("my-host: no linked plugin has source 'nowhere'"));
    /// assert!(registry.with_disabled(&Disabled::new()).is_ok());
    /// ```
    pub fn with_disabled(&self, disabled: &Disabled) -> Result<&Registry, DisableError> {
        if disabled.is_empty() {
            return Ok(self);
        }
        let mut rules = self.switches.rules.clone();
        rules.patterns.extend(disabled.patterns.iter().cloned());
        let mut views = self
            .switches
            .views
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(view) = views.iter().find(|v| v.switches.rules == rules) {
            let view: &Registry = view;
            // SAFETY: a view is boxed and never removed from `views` before `self` drops,
            // so it outlives the borrow of `self` the result is tied to.
            return Ok(unsafe { &*(view as *const Registry) });
        }
        let switches = self.switch(rules, self.switches.rules.patterns.len())?;
        let view = Box::new(self.view(switches));
        let at: *const Registry = &*view;
        views.push(view);
        // SAFETY: as above: the box is kept in `views` until `self` drops.
        Ok(unsafe { &*at })
    }

    /// This registry less the plugins `list` (comma-separated patterns, written at
    /// `origin`) matches; an error lists every entry that is malformed or matches nothing,
    /// in the list's order.
    pub(super) fn with_disabled_list(
        &self,
        list: &str,
        origin: &str,
    ) -> Result<&Registry, DisableError> {
        if list.trim().is_empty() {
            return Ok(self);
        }
        let mut disabled = Disabled::new();
        // The list position of each pattern `disabled` holds.
        let mut positions = Vec::new();
        let mut problems = Vec::new();
        for (index, pattern) in list.split(',').map(str::trim).enumerate() {
            match disabled.add(pattern, origin) {
                Ok(()) => positions.push(index),
                Err(e) => problems.extend(
                    e.problems
                        .into_iter()
                        .map(|p| DisableProblem { index, ..p }),
                ),
            }
        }
        let view = self.with_disabled(&disabled);
        if let Err(e) = &view {
            problems.extend(e.problems.iter().map(|p| DisableProblem {
                index: positions[p.index],
                ..p.clone()
            }));
        }
        if problems.is_empty() {
            view
        } else {
            problems.sort_by_key(|p| p.index);
            Err(DisableError { problems })
        }
    }

    /// Resolves `rules` against every entry; only patterns from `first` on are reported
    /// (those before resolved already), with their index counted from `first`.
    fn switch(&self, rules: Disabled, first: usize) -> Result<Switches, DisableError> {
        let n = self.entries.len();
        let mut off = vec![0u64; n.div_ceil(64).max(1)];
        let mut why: Vec<(u32, Why)> = Vec::new();
        let mut set = |off: &mut Vec<u64>, i: u32, reason: Why| {
            let word = &mut off[i as usize / 64];
            if *word >> (i % 64) & 1 == 0 {
                *word |= 1 << (i % 64);
                why.push((i, reason));
            }
        };
        let mut problems = Vec::new();
        for (rule, (pattern, origin)) in rules.patterns.iter().enumerate() {
            let (source, name) = pattern
                .split_once(':')
                .expect("a pattern's form is checked when it is added");
            if name == "*" {
                for (i, plugin) in self.entries.iter().enumerate() {
                    if plugin.source() == source {
                        set(&mut off, i as u32, Why::Pattern(rule as u32));
                    }
                }
            } else {
                for &kind in PluginKind::ALL {
                    for i in self.chain(kind, name) {
                        if self.entries[i as usize].source() == source {
                            set(&mut off, i, Why::Pattern(rule as u32));
                        }
                    }
                }
            }
            if rule >= first && !self.matches_any(source, name) {
                problems.push(DisableProblem {
                    index: rule - first,
                    pattern: pattern.clone(),
                    origin: origin.clone(),
                    message: self.unmatched(source, name),
                });
            }
        }
        if !problems.is_empty() {
            return Err(DisableError { problems });
        }
        // A disabled kernel takes its backends and the transforms inferring it along.
        for &(kernel, _, backend) in &self.backends {
            if off[kernel / 64] >> (kernel % 64) & 1 == 1 {
                set(&mut off, backend, Why::Kernel(kernel as u32));
            }
        }
        for (i, plugin) in self.entries.iter().enumerate() {
            if let Details::Transform(t) = &plugin.record.details
                && let Some(kernel) = t.infers
                && let Some(k) = self.positions.get(address(kernel))
                && off[k as usize / 64] >> (k % 64) & 1 == 1
            {
                set(&mut off, i as u32, Why::Kernel(k));
            }
        }
        why.sort_unstable_by_key(|&(i, _)| i);
        if why.is_empty() {
            off = Vec::new();
        }
        Ok(Switches {
            off,
            why,
            rules,
            views: Mutex::new(Vec::new()),
        })
    }

    /// Whether `source:name` (or `source:*`) names a linked plugin.
    fn matches_any(&self, source: &str, name: &str) -> bool {
        if name == "*" {
            return self.sources.contains(&source);
        }
        PluginKind::ALL.iter().any(|&kind| {
            self.chain(kind, name)
                .any(|i| self.entries[i as usize].source() == source)
        })
    }

    /// Why `source:name` matches nothing, with the closest source or qualified name.
    fn unmatched(&self, source: &str, name: &str) -> String {
        let pattern = format!("{source}:{name}");
        if !self.sources.contains(&source) {
            return format!(
                "no linked plugin has source '{}'{} (sources: {})",
                shorten(source, QUOTED),
                suggest::did_you_mean(source, self.sources.iter().copied()),
                if self.sources.is_empty() {
                    "(none)".to_owned()
                } else {
                    self.sources.join(", ")
                }
            );
        }
        let of_source = self
            .entries
            .iter()
            .filter(|p| p.source() == source)
            .map(|p| p.qualified_name());
        let mut elsewhere: Vec<&str> = self
            .entries
            .iter()
            .filter(|p| p.name() == name)
            .map(|p| p.qualified_name())
            .collect();
        elsewhere.sort_unstable();
        elsewhere.dedup();
        let elsewhere = if elsewhere.is_empty() {
            String::new()
        } else {
            format!("; '{}' is {}", shorten(name, QUOTED), elsewhere.join(", "))
        };
        format!(
            "'{}' matches no linked plugin{elsewhere}{} (`plugins --source {}` lists that \
             source's plugins)",
            shorten(&pattern, QUOTED),
            suggest::did_you_mean(&pattern, of_source),
            shorten(source, QUOTED)
        )
    }

    /// A copy of this registry's index with `switches`; what only some lookups need is
    /// made again on first use.
    fn view(&self, switches: Switches) -> Registry {
        Registry {
            entries: self.entries.clone(),
            sorted: OnceLock::new(),
            names: self.names.clone(),
            positions: self.positions.clone(),
            backends: self.backends.clone(),
            ops: OnceLock::new(),
            inferrers: OnceLock::new(),
            sources: self.sources.clone(),
            switches,
        }
    }
}
