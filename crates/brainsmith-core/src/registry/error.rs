//! Errors of building the registry ([`LoadError`]) and of looking a name up ([`LookupError`]).

use std::fmt;

use super::plugin::Location;
use super::switch::{DISABLE_VAR, DisableProblem};
use crate::plugin::PluginKind;

/// Why the linked plugins do not form a valid registry. Lists every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Each problem, in a stable order.
    pub problems: Vec<LoadProblem>,
}

/// One problem with the linked plugins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadProblem {
    /// Two plugins of one kind share a qualified name.
    Duplicate {
        /// Their kind.
        kind: PluginKind,
        /// The shared `source:name`.
        qualified_name: String,
        /// Where the first is defined.
        first: Location,
        /// Where the second is defined.
        second: Location,
    },
    /// A backend or transform names a kernel that is not in the registry.
    MissingKernel {
        /// The plugin naming it.
        plugin: String,
        /// Where that plugin is defined.
        location: Location,
        /// The kernel's name.
        kernel: String,
    },
    /// A pattern of [`DISABLE_VAR`] (`BRAINSMITH_DISABLE`) is malformed or matches no
    /// linked plugin.
    Disable(DisableProblem),
    /// One crate declares its namespace twice.
    NamespaceRedeclared {
        /// The crate.
        crate_name: String,
        /// The first declaration.
        first: (String, Location),
        /// The second declaration.
        second: (String, Location),
    },
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadProblem::Duplicate {
                kind,
                qualified_name,
                first,
                second,
            } => write!(
                f,
                "{kind} '{qualified_name}' is registered twice: at {first} and at {second}; \
                 rename one (`name = \"...\"`) or move it to another namespace"
            ),
            LoadProblem::MissingKernel {
                plugin,
                location,
                kernel,
            } => write!(
                f,
                "'{plugin}' ({location}) names kernel '{kernel}', which is not in this registry"
            ),
            LoadProblem::Disable(problem) => write!(f, "{DISABLE_VAR}: {}", problem.message),
            LoadProblem::NamespaceRedeclared {
                crate_name,
                first,
                second,
            } => write!(
                f,
                "crate '{crate_name}' declares its namespace twice: '{}' at {} and '{}' at {}; keep one",
                first.0, first.1, second.0, second.1
            ),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let what = if self
            .problems
            .iter()
            .all(|p| matches!(p, LoadProblem::Disable(_)))
        {
            format!("{DISABLE_VAR} cannot apply; fix or unset it")
        } else {
            "the linked plugins do not form a valid registry".to_owned()
        };
        write!(f, "{what} ({n} problem{}):", if n == 1 { "" } else { "s" })?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Why a name did not resolve to a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No plugin of this kind has that name.
    Unknown {
        /// The kind asked for.
        kind: PluginKind,
        /// The name asked for.
        name: String,
        /// The closest registered name, if one is close.
        suggestion: Option<String>,
        /// Other kinds that do have a plugin of that name.
        other_kinds: Vec<PluginKind>,
        /// Every registered name of the kind, sorted.
        available: Vec<String>,
    },
    /// The short name is registered by several sources.
    Ambiguous {
        /// The kind asked for.
        kind: PluginKind,
        /// The name asked for.
        name: String,
        /// The qualified names that match.
        candidates: Vec<String>,
    },
    /// The name resolves only to plugins the registry disables.
    Disabled {
        /// The kind asked for.
        kind: PluginKind,
        /// The name asked for.
        name: String,
        /// The disabled plugin's qualified name.
        qualified_name: String,
        /// Why it is disabled: "by 'source:*' (BRAINSMITH_DISABLE)".
        by: String,
    },
    /// The `source:` part of a qualified name names no source.
    UnknownSource {
        /// The kind asked for.
        kind: PluginKind,
        /// The qualified name asked for.
        name: String,
        /// The closest source, if one is close.
        suggestion: Option<String>,
        /// Every source, sorted.
        sources: Vec<String>,
    },
}

/// How many names an error lists before "and N more".
const LISTED: usize = 30;

fn list(f: &mut fmt::Formatter<'_>, names: &[String]) -> fmt::Result {
    if names.is_empty() {
        return f.write_str("(none)");
    }
    f.write_str(
        &names
            .iter()
            .take(LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    )?;
    if names.len() > LISTED {
        write!(f, ", and {} more", names.len() - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Unknown {
                kind,
                name,
                suggestion,
                other_kinds,
                available,
            } => {
                write!(f, "unknown {kind} '{name}'")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean '{s}'?")?;
                }
                for other in other_kinds {
                    write!(f, "\n'{name}' is a {other}, not a {kind}")?;
                }
                write!(f, "\navailable {}: ", kind.plural())?;
                list(f, available)
            }
            LookupError::Ambiguous {
                kind,
                name,
                candidates,
            } => {
                write!(
                    f,
                    "{kind} name '{name}' is ambiguous; use a qualified name: "
                )?;
                list(f, candidates)
            }
            LookupError::Disabled {
                kind,
                name,
                qualified_name,
                by,
            } => {
                write!(f, "{kind} '{name}'")?;
                if name != qualified_name {
                    write!(f, " ('{qualified_name}')")?;
                }
                write!(
                    f,
                    " is disabled {by}; drop the pattern to use it, or name another {kind}"
                )
            }
            LookupError::UnknownSource {
                kind,
                name,
                suggestion,
                sources,
            } => {
                let source = name.split(':').next().unwrap_or_default();
                write!(f, "unknown source '{source}' in {kind} '{name}'")?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean '{s}'?")?;
                }
                f.write_str("\nsources: ")?;
                list(f, sources)
            }
        }
    }
}

impl std::error::Error for LookupError {}
