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
//! choice through [`StepContext::kernel_for`](crate::StepContext::kernel_for).
//!
//! `steps` is the build, in order: a string (or `{ step = "...", config = { ... } }`) runs a
//! registered step with its configuration,
//! `{ stage = "..." }` runs the transforms the blueprint lists for that stage. A transform
//! is its short or qualified name, or a table with `transform`, its `config` (the keys it
//! declares) and `repeat = true` to apply it until it changes nothing. With `extends`,
//! `steps`, `kernels` and each stage's list replace the base's when given.
//!
//! `disable` lists plugins the build does without, by pattern: `source:Name` (that
//! plugin, whatever its kind) or `source:*` (every plugin of a source); with `extends`, the
//! base's patterns and the file's both apply. The build resolves names as if those plugins
//! were not linked: an entry naming one is a problem saying which pattern disabled it,
//! [`StepContext::kernel_for`](crate::StepContext::kernel_for) never chooses one, and a
//! disabled kernel takes its backends and the transforms inferring it along. A pattern
//! that matches no linked plugin is a problem, with the closest name.
//!
//! ```toml
//! disable = ["acme:*", "brainsmith:MVAU_rtl"]
//! ```
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
//!
//! The module is split as the work is: `read.rs` reads the TOML (positions, structure,
//! `extends`), `check.rs` resolves names and configurations against a registry into a
//! [`Plan`], `run.rs` executes a plan.

mod check;
mod read;
mod run;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use toml::Table;

use crate::hardware::KernelChoice;
use crate::pipeline::Planned;
use crate::plugin::Stage;
use crate::registry::{Registry, StepRef};

pub use run::{ExecError, Options, Progress, execute};

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

/// One pattern of `disable`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisableEntry {
    /// `source:Name` or `source:*`.
    pub pattern: String,
    /// Where it is written.
    pub at: Position,
}

/// A blueprint as read (with its bases merged in), before names are resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Blueprint {
    /// The plugins the build does without, by pattern (the bases' first): the build
    /// resolves names as if they were not linked.
    pub disable: Vec<DisableEntry>,
    /// The build, in order.
    pub steps: Vec<StepEntry>,
    /// Each stage's transforms (keyed by the stage as written), with where the list is.
    pub stages: BTreeMap<String, (Position, Vec<TransformEntry>)>,
    /// The kernels the build may use, in order of preference; `None`: every registered one.
    pub kernels: Option<Vec<KernelEntry>>,
    /// The branch points a design-space exploration tries (`[explore]`), if given.
    pub explore: Option<Explore>,
}

/// `[explore]`: the branch points of a design-space exploration (`brainsmith dse`), each
/// point one folding target and one backend preference.
#[derive(Clone, Debug, PartialEq)]
pub struct Explore {
    /// Folding targets, cycles per frame.
    pub target_cycles: Vec<u64>,
    /// Backend preferences: `"hls"`, `"rtl"` (that language's backends first) or
    /// `"blueprint"` (the blueprint's own order).
    pub prefer: Vec<String>,
    /// Where the table is written.
    pub at: Position,
}

/// A checked blueprint: every name resolved, every plugin configured.
pub struct Plan<'r> {
    /// The registry the names were resolved in: the one checked against, less the
    /// blueprint's `disable`d plugins; steps run with it.
    registry: &'r Registry,
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

impl<'r> Plan<'r> {
    /// The registry the plan's names were resolved in, which its steps get: the one it
    /// was checked against, less the plugins the blueprint disables.
    pub fn registry(&self) -> &'r Registry {
        self.registry
    }
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
