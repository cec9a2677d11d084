//! Blueprints: the model-independent recipe of a build, in TOML.
//!
//! ```toml
//! extends = "base.toml"            # optional; this file's keys replace the base's
//! steps = ["cleanup", { stage = "topology_opt" }]
//!
//! [stages]
//! topology_opt = [
//!     "ConvertSubToAdd",
//!     { transform = "brainsmith:RemoveIdentityOps", config = { tolerance = 1e-5 } },
//!     { transform = "FoldConstants", repeat = true },
//! ]
//! ```
//!
//! [`Blueprint`] lists the `kernels` the build may map nodes to, in order of preference,
//! each by name or as a table with its `config` and `backends` (names or
//! `{ backend = "...", config = { ... } }`, in order of preference; default: every backend
//! of the kernel by priority):
//!
//! ```toml
//! kernels = [
//!     "MVAU",
//!     { kernel = "Thresholding", config = { max_steps = 15 }, backends = [
//!         { backend = "ThresholdingHls", config = { ii = 2 } },
//!         "ThresholdingRtl",
//!     ] },
//! ]
//! ```
//!
//! Without `kernels`, steps use every registered kernel with its defaults; steps see the
//! choice through [`StepContext::kernel_for`].
//!
//! `steps` is the build, in order: a string (or `{ step = "...", config = { ... } }`) runs a
//! registered step with its configuration,
//! `{ stage = "..." }` runs the transforms the blueprint lists for that stage. A transform
//! is its short or qualified name, or a table with `transform`, its `config` (the keys it
//! declares) and `repeat = true` to apply it until it changes nothing. With `extends`,
//! `steps`, `kernels` and each stage's list replace the base's when given.
//!
//! [`Blueprint::check_file`] reads a blueprint and resolves every name and reads every
//! configuration against a registry before anything runs, and reports every problem at
//! once, each at its `file:line:column`, with the closest valid name.
//!
//! ```
//! use brainsmith_core::blueprint::Blueprint;
//!
//! let dir = std::env::temp_dir().join(format!("blueprint-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("build.toml");
//! std::fs::write(&path, "steps = [{ stage = \"cleanup\" }]\n[stages]\ncleanup = [\"SortGrph\"]\n").unwrap();
//! let registry = brainsmith_core::Registry::global().unwrap();
//! let err = Blueprint::check_file(&path, registry).err().unwrap();
//! assert!(err.to_string().contains("build.toml:3:12: unknown transform 'SortGrph'"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use crate::hardware::{BackendChoice, KernelChoice};
use crate::ir::Model;
use crate::pipeline::{Failure, Planned, Report, run_planned};
use crate::plugin::Stage;
use crate::registry::{Registry, StepRef};
use crate::step::StepContext;
use crate::suggest::{self, QUOTED, shorten, shorten_in};

/// Where something is written: `file:line:column` (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The blueprint file.
    pub file: PathBuf,
    /// Line.
    pub line: usize,
    /// Column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem of a blueprint, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub at: Position,
    /// What, and how to fix it.
    pub message: String,
}

/// Every problem of a blueprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlueprintError {
    /// In file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {}", p.at, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for BlueprintError {}

/// One entry of `steps`.
#[derive(Clone, Debug, PartialEq)]
pub enum StepEntry {
    /// A registered step, by name.
    Step {
        /// Short or qualified name.
        name: String,
        /// Its configuration.
        config: Table,
        /// Where it is written.
        at: Position,
    },
    /// The blueprint's transforms of a stage.
    Stage {
        /// The stage, as written.
        stage: String,
        /// Where it is written.
        at: Position,
    },
}

/// One transform of a stage.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformEntry {
    /// Short or qualified name.
    pub name: String,
    /// Apply until it changes nothing.
    pub repeat: bool,
    /// Its configuration.
    pub config: Table,
    /// Where it is written.
    pub at: Position,
}

/// One kernel of `kernels`.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelEntry {
    /// Short or qualified name.
    pub name: String,
    /// Its configuration.
    pub config: Table,
    /// Its backends in order of preference; `None`: every backend by priority.
    pub backends: Option<Vec<BackendEntry>>,
    /// Where it is written.
    pub at: Position,
}

/// One backend of a kernel entry.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendEntry {
    /// Short or qualified name.
    pub name: String,
    /// Its configuration.
    pub config: Table,
    /// Where it is written.
    pub at: Position,
}

/// A blueprint as read (with its bases merged in), before names are resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blueprint {
    /// The build, in order.
    pub steps: Vec<StepEntry>,
    /// Each stage's transforms (keyed by the stage as written), with where the list is.
    pub stages: BTreeMap<String, (Position, Vec<TransformEntry>)>,
    /// The kernels the build may use, in order of preference; `None`: every registered one.
    pub kernels: Option<Vec<KernelEntry>>,
}

/// A checked blueprint: every name resolved, every plugin configured.
pub struct Plan<'r> {
    /// The build, in order.
    pub items: Vec<PlanItem<'r>>,
    /// The kernels the build may use, configured, in order of preference; `None`: every
    /// registered one with its defaults.
    pub kernels: Option<Vec<KernelChoice<'r>>>,
}

/// One item of a plan.
pub enum PlanItem<'r> {
    /// Run a registered step with its configuration (already checked).
    Step(StepRef<'r>, Table),
    /// Run these transforms, in order.
    Stage(Stage, Vec<Planned<'r>>),
}

const TOP_KEYS: &[&str] = &["extends", "steps", "stages", "kernels"];
const KERNEL_KEYS: &[&str] = &["kernel", "config", "backends"];
const BACKEND_KEYS: &[&str] = &["backend", "config"];
const TRANSFORM_KEYS: &[&str] = &["transform", "config", "repeat"];
const STEP_KEYS: &[&str] = &["step", "config", "stage"];

/// A file being read: its path, text and spans.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            text,
            lines: LineIndex::new(text),
        }
    }

    fn at(&self, offset: usize) -> Position {
        let (line, column) = self.lines.locate(self.text, offset);
        Position {
            file: self.path.to_owned(),
            line,
            column,
        }
    }

    fn problem(&self, offset: usize, message: impl Into<String>) -> Problem {
        Problem {
            at: self.at(offset),
            message: message.into(),
        }
    }
}

/// Where each line of a text starts and how many characters precede every block of it,
/// computed once per text: locating an offset is then a binary search and a count within
/// one block, whatever the text's size (counting from the start for every entry made
/// checking quadratic in the blueprint's size).
struct LineIndex {
    /// The byte offset of each line's first byte: 0, then one past every `\n`.
    starts: Vec<usize>,
    /// `chars[i]`: how many characters the text has before byte `i * CHAR_BLOCK`.
    chars: Vec<usize>,
}

/// Bytes per entry of `LineIndex::chars`.
const CHAR_BLOCK: usize = 1024;

impl LineIndex {
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let starts = std::iter::once(0)
            .chain(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        let mut chars = Vec::with_capacity(bytes.len() / CHAR_BLOCK + 1);
        let mut count = 0;
        for block in bytes.chunks(CHAR_BLOCK) {
            chars.push(count);
            count += char_starts(block);
        }
        chars.push(count);
        LineIndex { starts, chars }
    }

    /// The 1-based line and column of byte `offset` (clamped to the text). A line ends at
    /// `\n`, so a `\r` before it is the line's last character; columns count characters
    /// (Unicode scalar values), not bytes; the offset just after the last newline is
    /// column 1 of the line after it.
    fn locate(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        // The last line starting at or before `offset`; `starts[0] == 0` so one always does.
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        (
            line,
            self.chars_before(text, offset) - self.chars_before(text, start) + 1,
        )
    }

    /// How many characters precede byte `offset`.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / CHAR_BLOCK;
        self.chars[block] + char_starts(&text.as_bytes()[block * CHAR_BLOCK..offset])
    }
}

/// How many characters start in `bytes`: every byte but UTF-8's continuation bytes.
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl Blueprint {
    /// Reads `path` and the files it extends; every problem of their structure (TOML
    /// syntax, unknown keys, values of the wrong form, a cycle of `extends`) at once.
    pub fn load(path: &Path) -> Result<Blueprint, BlueprintError> {
        let mut problems = Vec::new();
        let mut chain = Vec::new();
        let blueprint = load_file(path, &mut chain, &mut problems);
        if problems.is_empty() {
            Ok(blueprint)
        } else {
            Err(BlueprintError { problems })
        }
    }

    /// Reads `path` (and what it extends) and checks it against `registry`: every problem
    /// of either kind at once, in file order.
    pub fn check_file<'r>(path: &Path, registry: &'r Registry) -> Result<Plan<'r>, BlueprintError> {
        let mut problems = Vec::new();
        let blueprint = load_file(path, &mut Vec::new(), &mut problems);
        match blueprint.check(registry) {
            Ok(plan) if problems.is_empty() => Ok(plan),
            Ok(_) => Err(BlueprintError { problems }),
            Err(e) => {
                problems.extend(e.problems);
                sort(&mut problems);
                Err(BlueprintError { problems })
            }
        }
    }

    /// Resolves every step, stage and transform name in `registry` and reads every
    /// configuration; every problem at once.
    pub fn check<'r>(&self, registry: &'r Registry) -> Result<Plan<'r>, BlueprintError> {
        let mut problems = Vec::new();
        let mut stages: BTreeMap<String, (Stage, Vec<Planned<'r>>)> = BTreeMap::new();
        for (written, (at, entries)) in &self.stages {
            let stage = match written.parse::<Stage>() {
                Ok(stage) => Some(stage),
                Err(e) => {
                    problems.push(Problem {
                        at: at.clone(),
                        message: shorten_in(e, written),
                    });
                    None
                }
            };
            let mut planned = Vec::new();
            for entry in entries {
                let transform = match registry.transform(&entry.name) {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(Problem {
                            at: entry.at.clone(),
                            message: first_line(&shorten_in(e.to_string(), &entry.name)),
                        });
                        continue;
                    }
                };
                match transform.configure(&entry.config) {
                    Ok(instance) => planned.push(Planned {
                        transform,
                        instance,
                        repeat: entry.repeat,
                    }),
                    Err(e) => problems.extend(e.problems.iter().map(|p| Problem {
                        at: entry.at.clone(),
                        message: format!("{}: {p}", e.plugin),
                    })),
                }
            }
            if let Some(stage) = stage {
                stages.insert(written.clone(), (stage, planned));
            }
        }
        let mut items = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for step in &self.steps {
            match step {
                StepEntry::Step { name, config, at } => match registry.step(name) {
                    Ok(s) => match s.check_config(config) {
                        Ok(()) => items.push(PlanItem::Step(s, config.clone())),
                        Err(e) => problems.extend(e.problems.iter().map(|p| Problem {
                            at: at.clone(),
                            message: format!("{}: {p}", e.plugin),
                        })),
                    },
                    Err(e) => problems.push(Problem {
                        at: at.clone(),
                        message: first_line(&shorten_in(e.to_string(), name)),
                    }),
                },
                StepEntry::Stage { stage, at } => match stage.parse::<Stage>() {
                    Ok(parsed) => {
                        run.push(stage);
                        let planned = stages
                            .get_mut(stage.as_str())
                            .map(|(_, p)| std::mem::take(p))
                            .unwrap_or_default();
                        items.push(PlanItem::Stage(parsed, planned));
                    }
                    Err(e) => problems.push(Problem {
                        at: at.clone(),
                        message: shorten_in(e, stage),
                    }),
                },
            }
        }
        for (written, (at, _)) in &self.stages {
            if !run.contains(&written.as_str()) && written.parse::<Stage>().is_ok() {
                problems.push(Problem {
                    at: at.clone(),
                    message: format!(
                        "stage '{0}' lists transforms but no step runs it; add \
                         {{ stage = \"{0}\" }} to `steps`",
                        shorten(written, QUOTED)
                    ),
                });
            }
        }
        let kernels = self
            .kernels
            .as_ref()
            .map(|entries| check_kernels(entries, registry, &mut problems));
        if problems.is_empty() {
            Ok(Plan { items, kernels })
        } else {
            sort(&mut problems);
            Err(BlueprintError { problems })
        }
    }
}

/// Resolves and configures `kernels` and their backends; problems go to `problems`.
fn check_kernels<'r>(
    entries: &[KernelEntry],
    registry: &'r Registry,
    problems: &mut Vec<Problem>,
) -> Vec<KernelChoice<'r>> {
    let config_problems = |at: &Position, e: crate::ConfigError| {
        e.problems
            .iter()
            .map(|p| Problem {
                at: at.clone(),
                message: format!("{}: {p}", e.plugin),
            })
            .collect::<Vec<_>>()
    };
    let mut chosen: Vec<KernelChoice<'r>> = Vec::new();
    let mut seen: Vec<(&str, &Position)> = Vec::new();
    for entry in entries {
        let kernel = match registry.kernel(&entry.name) {
            Ok(k) => k,
            Err(e) => {
                problems.push(Problem {
                    at: entry.at.clone(),
                    message: first_line(&shorten_in(e.to_string(), &entry.name)),
                });
                continue;
            }
        };
        if let Some((_, first)) = seen.iter().find(|(q, _)| *q == kernel.qualified_name()) {
            problems.push(Problem {
                at: entry.at.clone(),
                message: format!(
                    "kernel '{}' is listed twice (first at {first}); keep one entry",
                    kernel.qualified_name()
                ),
            });
            continue;
        }
        seen.push((kernel.plugin().qualified_name(), &entry.at));
        let instance = match kernel.configure(&entry.config) {
            Ok(instance) => Some(instance),
            Err(e) => {
                problems.extend(config_problems(&entry.at, e));
                None
            }
        };
        let mut backends = Vec::new();
        match &entry.backends {
            None => {
                for backend in kernel.backends() {
                    match backend.configure(&Table::new()) {
                        Ok(instance) => backends.push(BackendChoice {
                            backend,
                            instance: instance.into(),
                        }),
                        Err(e) => problems.push(Problem {
                            at: entry.at.clone(),
                            message: format!(
                                "{e}; list the kernel's backends with their configuration: \
                                 backends = [{{ backend = \"{}\", config = {{ ... }} }}]",
                                backend.qualified_name()
                            ),
                        }),
                    }
                }
            }
            Some(listed) => {
                for b in listed {
                    let backend = match registry.backend(&b.name) {
                        Ok(backend) => backend,
                        Err(e) => {
                            problems.push(Problem {
                                at: b.at.clone(),
                                message: first_line(&shorten_in(e.to_string(), &b.name)),
                            });
                            continue;
                        }
                    };
                    let of = backend.kernel();
                    if of.qualified_name() != kernel.qualified_name() {
                        let own: Vec<&str> = kernel
                            .backends()
                            .map(|b| b.plugin().qualified_name())
                            .collect();
                        problems.push(Problem {
                            at: b.at.clone(),
                            message: format!(
                                "backend '{}' generates code for kernel '{}', not '{}'; \
                                 the backends of '{}': {}",
                                backend.qualified_name(),
                                of.qualified_name(),
                                kernel.qualified_name(),
                                kernel.qualified_name(),
                                if own.is_empty() {
                                    "none".to_owned()
                                } else {
                                    own.join(", ")
                                }
                            ),
                        });
                        continue;
                    }
                    if backends.iter().any(|c: &BackendChoice<'_>| {
                        c.backend.qualified_name() == backend.qualified_name()
                    }) {
                        problems.push(Problem {
                            at: b.at.clone(),
                            message: format!(
                                "backend '{}' is listed twice for kernel '{}'; keep one entry",
                                backend.qualified_name(),
                                kernel.qualified_name()
                            ),
                        });
                        continue;
                    }
                    match backend.configure(&b.config) {
                        Ok(instance) => backends.push(BackendChoice {
                            backend,
                            instance: instance.into(),
                        }),
                        Err(e) => problems.extend(config_problems(&b.at, e)),
                    }
                }
            }
        }
        if let Some(instance) = instance {
            chosen.push(KernelChoice {
                kernel,
                instance: instance.into(),
                backends,
            });
        }
    }
    chosen
}

/// In file order (a stable sort: problems at one place keep their order).
fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column).cmp(&(&b.at.file, b.at.line, b.at.column))
    });
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

fn load_file(path: &Path, chain: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) -> Blueprint {
    let whole = Position {
        file: path.to_owned(),
        line: 1,
        column: 1,
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    if chain.contains(&canonical) {
        let cycle: Vec<String> = chain
            .iter()
            .chain([&canonical])
            .map(|p| p.display().to_string())
            .collect();
        problems.push(Problem {
            at: whole,
            message: format!("`extends` makes a cycle: {}", cycle.join(" -> ")),
        });
        return Blueprint::default();
    }
    let read = crate::fsutil::read_input(path, crate::fsutil::BLUEPRINT_LIMIT, "a blueprint")
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "it is not UTF-8 text (byte {} is not), as TOML must be",
                        e.utf8_error().valid_up_to() + 1
                    ),
                )
            })
        });
    let text = match read {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem {
                at: whole,
                message: format!("cannot read the blueprint: {e}"),
            });
            return Blueprint::default();
        }
    };
    let source = Source::new(path, &text);
    let (table, values) = match (DeTable::parse(&text), text.parse::<Table>()) {
        (Ok(table), Ok(values)) => (table, values),
        (Err(e), _) => {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(source.problem(offset, format!("not valid TOML: {}", e.message())));
            return Blueprint::default();
        }
        (_, Err(e)) => {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(source.problem(offset, format!("not valid TOML: {}", e.message())));
            return Blueprint::default();
        }
    };
    let table = table.get_ref();
    for (key, _) in table.iter() {
        if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
            problems.push(unknown_key(&source, key, TOP_KEYS, "a blueprint"));
        }
    }
    chain.push(canonical);
    let mut blueprint = match (table.get("extends"), values.get("extends")) {
        (Some(spanned), Some(Value::String(base))) => {
            let base = path.parent().unwrap_or(Path::new(".")).join(base);
            if base.exists() {
                load_file(&base, chain, problems)
            } else {
                problems.push(source.problem(
                    spanned.span().start,
                    format!("`extends` names {}, which does not exist", base.display()),
                ));
                Blueprint::default()
            }
        }
        (Some(spanned), Some(_)) => {
            problems.push(source.problem(
                spanned.span().start,
                "`extends` takes the path of a blueprint, relative to this file",
            ));
            Blueprint::default()
        }
        _ => Blueprint::default(),
    };
    chain.pop();
    if let Some(steps) = table.get("steps") {
        blueprint.steps = read_steps(&source, steps, values.get("steps"), problems);
    }
    if let Some(kernels) = table.get("kernels") {
        blueprint.kernels = Some(read_kernels(
            &source,
            kernels,
            values.get("kernels"),
            problems,
        ));
    }
    if let Some(stages) = table.get("stages") {
        match stages.get_ref() {
            DeValue::Table(stages) => {
                for (stage, list) in stages.iter() {
                    let plain = values
                        .get("stages")
                        .and_then(|s| s.get(stage.get_ref().as_ref()));
                    let entries = read_transforms(&source, stage.get_ref(), list, plain, problems);
                    blueprint.stages.insert(
                        stage.get_ref().to_string(),
                        (source.at(stage.span().start), entries),
                    );
                }
            }
            _ => problems.push(source.problem(
                stages.span().start,
                "`stages` is a table: `[stages]` then `cleanup = [\"Transform\", ...]`",
            )),
        }
    }
    blueprint
}

fn unknown_key(
    source: &Source<'_>,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    valid: &[&str],
    what: &str,
) -> Problem {
    let name = key.get_ref().as_ref();
    source.problem(
        key.span().start,
        format!(
            "unknown key '{}' in {what}{} (keys: {})",
            shorten(name, QUOTED),
            suggest::did_you_mean(name, valid.iter().copied()),
            valid.join(", ")
        ),
    )
}

/// The entries of `steps`: `steps` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_steps(
    source: &Source<'_>,
    steps: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<StepEntry> {
    let DeValue::Array(items) = steps.get_ref() else {
        problems.push(source.problem(
            steps.span().start,
            "`steps` is a list: [\"cleanup\", { stage = \"topology_opt\" }, ...]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(StepEntry::Step {
                name: name.to_string(),
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !STEP_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, STEP_KEYS, "a step"));
                    }
                }
                let config = match t.get("config") {
                    None => Table::new(),
                    Some(spanned) => match plain.and_then(|p| p.get(i)?.get("config")) {
                        Some(Value::Table(table)) if t.contains_key("step") => table.clone(),
                        Some(Value::Table(_)) => {
                            problems.push(source.problem(
                                spanned.span().start,
                                "`config` belongs to a step; a stage's transforms take theirs \
                                 in `[stages]`",
                            ));
                            Table::new()
                        }
                        _ => {
                            problems.push(source.problem(
                                spanned.span().start,
                                "`config` is a table: config = { key = value, ... }",
                            ));
                            Table::new()
                        }
                    },
                };
                match (string(t, "step"), string(t, "stage")) {
                    (Some(name), None) => entries.push(StepEntry::Step { name, config, at }),
                    (None, Some(stage)) => entries.push(StepEntry::Stage { stage, at }),
                    _ => problems.push(Problem {
                        at,
                        message: "a step is `{ step = \"name\", config = { ... } }` or \
                                  `{ stage = \"name\" }`"
                            .into(),
                    }),
                }
            }
            _ => problems.push(Problem {
                at,
                message: "a step is a name or `{ stage = \"name\" }`".into(),
            }),
        }
    }
    entries
}

/// The entries of `kernels`: `list` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_kernels(
    source: &Source<'_>,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<KernelEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            "`kernels` is a list: [\"Kernel\", { kernel = \"Name\", config = { ... } }, ...]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        let plain = plain.and_then(|p| p.get(i));
        match item.get_ref() {
            DeValue::String(name) => entries.push(KernelEntry {
                name: name.to_string(),
                config: Table::new(),
                backends: None,
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !KERNEL_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, KERNEL_KEYS, "a kernel entry"));
                    }
                }
                let config = read_config(source, t, plain, problems);
                let backends = t.get("backends").map(|list| {
                    read_backends(
                        source,
                        list,
                        plain.and_then(|p| p.get("backends")),
                        problems,
                    )
                });
                let Some(name) = string(t, "kernel") else {
                    problems.push(Problem {
                        at,
                        message: "a kernel entry needs `kernel = \"Name\"`".into(),
                    });
                    continue;
                };
                entries.push(KernelEntry {
                    name,
                    config,
                    backends,
                    at,
                });
            }
            _ => problems.push(Problem {
                at,
                message: "a kernel is a name or `{ kernel = \"Name\", config = { ... } }`".into(),
            }),
        }
    }
    entries
}

/// The `backends` of a kernel entry.
fn read_backends(
    source: &Source<'_>,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<BackendEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            "`backends` is a list: [\"Backend\", { backend = \"Name\", config = { ... } }]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(BackendEntry {
                name: name.to_string(),
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !BACKEND_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, BACKEND_KEYS, "a backend entry"));
                    }
                }
                let config = read_config(source, t, plain.and_then(|p| p.get(i)), problems);
                match string(t, "backend") {
                    Some(name) => entries.push(BackendEntry { name, config, at }),
                    None => problems.push(Problem {
                        at,
                        message: "a backend entry needs `backend = \"Name\"`".into(),
                    }),
                }
            }
            _ => problems.push(Problem {
                at,
                message: "a backend is a name or `{ backend = \"Name\", config = { ... } }`".into(),
            }),
        }
    }
    entries
}

/// The `config` table of an entry (`plain` is the entry without spans); empty when absent.
fn read_config(
    source: &Source<'_>,
    entry: &DeTable<'_>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Table {
    let Some(spanned) = entry.get("config") else {
        return Table::new();
    };
    match plain.and_then(|p| p.get("config")) {
        Some(Value::Table(table)) => table.clone(),
        _ => {
            problems.push(source.problem(
                spanned.span().start,
                "`config` is a table: config = { key = value, ... }",
            ));
            Table::new()
        }
    }
}

fn string(table: &DeTable<'_>, key: &str) -> Option<String> {
    match table.get(key)?.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The transforms of `stage`: `list` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_transforms(
    source: &Source<'_>,
    stage: &str,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<TransformEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            format!(
                "stage '{0}' takes a list of transforms: {0} = [\"Transform\", ...]",
                shorten(stage, QUOTED)
            ),
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(TransformEntry {
                name: name.to_string(),
                repeat: false,
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !TRANSFORM_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(
                            source,
                            key,
                            TRANSFORM_KEYS,
                            "a transform entry",
                        ));
                    }
                }
                let Some(name) = string(t, "transform") else {
                    problems.push(Problem {
                        at,
                        message: "a transform entry needs `transform = \"Name\"`".into(),
                    });
                    continue;
                };
                let repeat = match t.get("repeat").map(Spanned::get_ref) {
                    None => false,
                    Some(DeValue::Boolean(b)) => *b,
                    Some(_) => {
                        problems.push(Problem {
                            at: at.clone(),
                            message: "`repeat` is true or false".into(),
                        });
                        false
                    }
                };
                let config = read_config(source, t, plain.and_then(|p| p.get(i)), problems);
                entries.push(TransformEntry {
                    name,
                    repeat,
                    config,
                    at,
                });
            }
            _ => problems.push(Problem {
                at,
                message: "a transform is a name or `{ transform = \"Name\", config = { ... } }`"
                    .into(),
            }),
        }
    }
    entries
}

/// Told before each item of a plan: its index, the item count and its label.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// How to run a plan.
#[derive(Default)]
pub struct Options<'a> {
    /// Write the model after every item of `steps` into this directory, as
    /// `NN_<name>.onnx`.
    pub save_intermediate: Option<&'a Path>,
    /// The build's output directory, handed to steps ([`StepContext::output_dir`]).
    pub output_dir: Option<&'a Path>,
    /// Told before each item.
    pub progress: Option<Progress<'a>>,
}

/// Why a plan stopped.
#[derive(Debug)]
pub enum ExecError {
    /// A transform or step failed; the model is as it was before it.
    Failure(Failure),
    /// An intermediate model could not be written.
    Save(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Failure(failure) => failure.fmt(f),
            ExecError::Save(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ExecError {}

impl PlanItem<'_> {
    /// `step <name>` or `stage <name>`.
    pub fn label(&self) -> String {
        match self {
            PlanItem::Step(s, _) => format!("step {}", s.qualified_name()),
            PlanItem::Stage(stage, _) => format!("stage {stage}"),
        }
    }
}

/// Runs `plan` on `model`, every application transactional: on a failure the model is as
/// it was before the failing transform or step.
pub fn execute(
    model: &mut Model,
    plan: &Plan<'_>,
    registry: &Registry,
    mut options: Options<'_>,
) -> Result<Report, ExecError> {
    let mut report = Report::starting(model);
    let count = plan.items.len();
    for (i, item) in plan.items.iter().enumerate() {
        let label = item.label();
        if let Some(progress) = options.progress.as_mut() {
            progress(i, count, &label);
        }
        match item {
            PlanItem::Stage(_, planned) => {
                run_planned(model, planned, &mut report).map_err(ExecError::Failure)?;
            }
            PlanItem::Step(step, config) => {
                let mut ctx = StepContext::new(registry);
                if let Some(dir) = options.output_dir {
                    ctx = ctx.with_output_dir(dir);
                }
                if let Some(kernels) = &plan.kernels {
                    ctx = ctx.with_kernels(kernels);
                }
                crate::pipeline::run_step(model, *step, config, &mut ctx, &mut report)
                    .map_err(ExecError::Failure)?;
            }
        }
        if let Some(dir) = options.save_intermediate {
            let name: String = label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = dir.join(format!("{:02}_{name}.onnx", i + 1));
            std::fs::create_dir_all(dir)
                .and_then(|()| model.save(&path).map_err(std::io::Error::other))
                .map_err(|e| ExecError::Save(format!("cannot write {}: {e}", path.display())))?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the index replaced: count from the start of the text.
    fn by_counting(text: &str, offset: usize) -> (usize, usize) {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }

    #[test]
    fn offsets_map_to_lines_and_columns_in_characters() {
        let text = "ab\r\nçé = \"日本\"\n\nlast";
        let index = LineIndex::new(text);
        let at = |offset| index.locate(text, offset);
        assert_eq!(at(0), (1, 1), "the first character");
        assert_eq!(at(2), (1, 3), "a CR is the line's last character");
        assert_eq!(at(4), (2, 1), "after CRLF, the next line");
        // `é` is 2 bytes and `日` 3, but one column each.
        let e = text.find('é').unwrap();
        assert_eq!(at(e), (2, 2));
        assert_eq!(at(text.find('本').unwrap()), (2, 8));
        assert_eq!(at(text.find("\n\n").unwrap() + 1), (3, 1), "an empty line");
        assert_eq!(at(text.find("last").unwrap()), (4, 1));
        assert_eq!(at(text.len()), (4, 5), "the end of the text");
        assert_eq!(at(text.len() + 10), (4, 5), "past the end: clamped");
        let ends_with_newline = "a\n";
        let index = LineIndex::new(ends_with_newline);
        assert_eq!(
            index.locate(ends_with_newline, 2),
            (2, 1),
            "after the last newline"
        );
        assert_eq!(LineIndex::new("").locate("", 0), (1, 1), "an empty text");
    }

    #[test]
    fn the_index_agrees_with_counting_everywhere_across_blocks() {
        // Lines of every length around the block size, multi-byte characters straddling
        // block boundaries, CRLF and LF.
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&"x".repeat(i * 97 % 2500));
            text.push_str(if i % 3 == 0 { "é日\r\n" } else { "\n" });
        }
        text.push_str("tail ü");
        let index = LineIndex::new(&text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            assert_eq!(
                index.locate(&text, offset),
                by_counting(&text, offset),
                "offset {offset}"
            );
        }
    }
}
