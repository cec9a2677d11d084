//! Checking a blueprint against a registry: every name and configuration resolved into
//! a [`Plan`], every problem at once.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Table;

use crate::hardware::{BackendChoice, KernelChoice};
use crate::pipeline::Planned;
use crate::plugin::Stage;
use crate::registry::{Disabled, Registry};
use crate::suggest::{QUOTED, shorten, shorten_in};

use super::read::load_file;
use super::*;

impl Blueprint {
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
    ///
    /// Names resolve in `registry` less the plugins the blueprint's `disable` matches
    /// ([`Blueprint::registry`]); the plan keeps that view for its steps.
    pub fn check<'r>(&self, registry: &'r Registry) -> Result<Plan<'r>, BlueprintError> {
        let mut problems = Vec::new();
        let registry = self.view(registry, &mut problems);
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
                // A transform may run in its own stage or a later one: an earlier stage runs
                // before what it needs exists (a kernel mapping in `cleanup`, before the
                // graph is in the form it maps).
                let order = |s: Stage| Stage::ALL.iter().position(|&x| x == s);
                if let Some(stage) = stage
                    && order(transform.stage()) > order(stage)
                {
                    problems.push(Problem {
                        at: entry.at.clone(),
                        message: format!(
                            "'{}' is a {} transform and cannot run in '{stage}', an earlier \
                             stage; list it under '{}' or a later stage",
                            transform.qualified_name(),
                            transform.stage(),
                            transform.stage()
                        ),
                    });
                }
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
        // An empty list (a child blueprint emptying a base's stage) lists nothing to lose.
        for (written, (at, list)) in &self.stages {
            if !list.is_empty()
                && !run.contains(&written.as_str())
                && written.parse::<Stage>().is_ok()
            {
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
            Ok(Plan {
                items,
                kernels,
                registry,
            })
        } else {
            sort(&mut problems);
            Err(BlueprintError { problems })
        }
    }
}

impl Blueprint {
    /// `registry` less the plugins this blueprint's `disable` matches: the registry its
    /// build resolves names in. An error lists every pattern that is malformed or matches
    /// no linked plugin, at its `file:line:column`.
    pub fn registry<'r>(&self, registry: &'r Registry) -> Result<&'r Registry, BlueprintError> {
        let mut problems = Vec::new();
        let view = self.view(registry, &mut problems);
        if problems.is_empty() {
            Ok(view)
        } else {
            Err(BlueprintError { problems })
        }
    }

    /// `registry` less what `disable` matches; the patterns that cannot apply are
    /// problems, and the view is made of the others, so that every problem of the rest of
    /// the blueprint is still found.
    fn view<'r>(&self, registry: &'r Registry, problems: &mut Vec<Problem>) -> &'r Registry {
        let mut disabled = Disabled::new();
        // The entry of each pattern `disabled` holds.
        let mut entries: Vec<&DisableEntry> = Vec::new();
        for entry in &self.disable {
            match disabled.add(&entry.pattern, &entry.at.to_string()) {
                Ok(()) => entries.push(entry),
                Err(e) => problems.extend(e.problems.iter().map(|p| Problem {
                    at: entry.at.clone(),
                    message: format!("`disable`: {}", p.message),
                })),
            }
        }
        match registry.with_disabled(&disabled) {
            Ok(view) => view,
            Err(e) => {
                let mut usable = Disabled::new();
                for (i, entry) in entries.iter().enumerate() {
                    match e.problems.iter().find(|p| p.index == i) {
                        Some(p) => problems.push(Problem {
                            at: entry.at.clone(),
                            message: format!("`disable`: {}", p.message),
                        }),
                        None => usable
                            .add(&entry.pattern, &entry.at.to_string())
                            .expect("its form was checked above"),
                    }
                }
                registry
                    .with_disabled(&usable)
                    .expect("every pattern left matches a linked plugin")
            }
        }
    }
}

/// Resolves and configures `kernels` and their backends; problems go to `problems`.
pub(super) fn check_kernels<'r>(
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
                if let Some(tie) = kernel.priority_tie() {
                    problems.push(Problem {
                        at: entry.at.clone(),
                        message: tie.to_string(),
                    });
                }
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
