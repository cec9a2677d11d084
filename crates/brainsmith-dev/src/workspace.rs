//! The Cargo workspace being watched, as `cargo metadata` describes it: which binary links
//! the plugins, and which crate directories can change what it registers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The package whose dependency on it makes a binary a compiler.
const CORE: &str = "brainsmith-core";

/// A workspace and the compiler binary chosen in it.
#[derive(Clone, Debug)]
pub(crate) struct Workspace {
    /// The workspace's root directory.
    pub(crate) root: PathBuf,
    /// The `Cargo.toml` given (a member's or the root's).
    pub(crate) manifest_path: PathBuf,
    /// The binary's name (`--bin`).
    pub(crate) bin: String,
    /// The package that holds it (`--package`).
    pub(crate) package: String,
    /// The directories of the workspace members that can change the binary: its package
    /// and every member it depends on, directly or not, by path.
    pub(crate) members: Vec<PathBuf>,
}

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selection<'a> {
    /// `--manifest-path`: a `Cargo.toml` or the directory holding one.
    pub(crate) manifest_path: Option<&'a Path>,
    /// `--bin`.
    pub(crate) bin: Option<&'a str>,
    /// `--package`.
    pub(crate) package: Option<&'a str>,
}

/// One workspace member, as much of it as the choice needs.
struct Member {
    name: String,
    dir: PathBuf,
    /// Normal and build dependencies: (package name, whether by path).
    deps: Vec<(String, bool)>,
    bins: Vec<String>,
}

impl Member {
    fn uses_core(&self) -> bool {
        self.deps.iter().any(|(d, _)| d == CORE)
    }
}

/// Reads the workspace at `sel.manifest_path` (default: `./Cargo.toml`) and chooses the
/// binary: `--bin`, else the one binary of `--package`, else the one binary of the
/// workspace whose package depends on brainsmith-core.
pub(crate) fn locate(cargo: &Path, sel: &Selection<'_>) -> Result<Workspace, String> {
    let manifest_path = manifest_path(sel.manifest_path)?;
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest_path)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{} metadata`: {e}; is cargo installed and on PATH (or CARGO set)?",
                cargo.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a Cargo workspace cargo can read: {}",
            manifest_path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`cargo metadata` printed no JSON ({e}); is cargo too old?"))?;
    let root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or_default());
    let members = members(&meta);
    let (package, bin) = choose(&members, &root, sel)?;
    Ok(Workspace {
        members: closure(&members, &package),
        root,
        manifest_path,
        bin,
        package,
    })
}

/// The `Cargo.toml` to read: the one given (or the one in the directory given), else the
/// current directory's.
fn manifest_path(given: Option<&Path>) -> Result<PathBuf, String> {
    let path = match given {
        Some(p) if p.is_dir() => p.join("Cargo.toml"),
        Some(p) => p.to_owned(),
        None => PathBuf::from("Cargo.toml"),
    };
    if path.is_file() {
        // Absolute, so that messages and children do not depend on the current directory.
        Ok(std::path::absolute(&path).unwrap_or(path))
    } else if given.is_some() {
        Err(format!(
            "--manifest-path {}: no such file; give the Cargo.toml of the workspace that \
             builds the compiler, or its directory",
            path.display()
        ))
    } else {
        Err(
            "no Cargo.toml in the current directory; run in the workspace that builds the \
             compiler, or pass --manifest-path PATH/Cargo.toml"
                .to_owned(),
        )
    }
}

fn members(meta: &Value) -> Vec<Member> {
    let strings = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_default() };
    strings(&meta["packages"])
        .iter()
        .map(|p| Member {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            dir: Path::new(p["manifest_path"].as_str().unwrap_or_default())
                .parent()
                .map(Path::to_owned)
                .unwrap_or_default(),
            deps: strings(&p["dependencies"])
                .iter()
                // Dev-dependencies are not linked into the binary.
                .filter(|d| d["kind"] != "dev")
                .map(|d| {
                    (
                        d["name"].as_str().unwrap_or_default().to_owned(),
                        d["path"].is_string(),
                    )
                })
                .collect(),
            bins: strings(&p["targets"])
                .iter()
                .filter(|t| strings(&t["kind"]).iter().any(|k| k == "bin"))
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect(),
        })
        .collect()
}

/// (package, binary) as the selection says; every refusal lists what there is to choose.
fn choose(
    members: &[Member],
    root: &Path,
    sel: &Selection<'_>,
) -> Result<(String, String), String> {
    let compilers: Vec<(&str, &str)> = members
        .iter()
        // This tool depends on brainsmith-core too, but is no compiler.
        .filter(|m| m.uses_core() && m.name != env!("CARGO_PKG_NAME"))
        .flat_map(|m| m.bins.iter().map(move |b| (m.name.as_str(), b.as_str())))
        .collect();
    let listing = |list: &[(&str, &str)]| -> String {
        list.iter()
            .map(|(p, b)| format!("{b} (package {p})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let known = if compilers.is_empty() {
        format!(
            "no binary of the workspace at {} depends on {CORE}",
            root.display()
        )
    } else {
        format!("binaries that depend on {CORE}: {}", listing(&compilers))
    };
    if let Some(package) = sel.package
        && !members.iter().any(|m| m.name == package)
    {
        return Err(format!(
            "--package {package}: no such member of the workspace at {}; {known}",
            root.display()
        ));
    }
    let in_package = |p: &str| sel.package.is_none_or(|want| want == p);
    if let Some(bin) = sel.bin {
        // Any binary of the workspace may be named: it may reach brainsmith-core through
        // another crate; its `manifest` command says whether it is a compiler.
        let found: Vec<&Member> = members
            .iter()
            .filter(|m| in_package(&m.name) && m.bins.iter().any(|b| b == bin))
            .collect();
        return match found.as_slice() {
            [m] => Ok((m.name.clone(), bin.to_owned())),
            [] => Err(format!(
                "--bin {bin}: no such binary in {}; {known}",
                sel.package
                    .map_or(format!("the workspace at {}", root.display()), |p| {
                        format!("package {p}")
                    })
            )),
            many => Err(format!(
                "--bin {bin}: packages {} each have one; add --package NAME",
                many.iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let candidates: Vec<(&str, &str)> = match sel.package {
        // A package named explicitly: its binaries, whether it names the core or not.
        Some(p) => members
            .iter()
            .filter(|m| m.name == p)
            .flat_map(|m| m.bins.iter().map(move |b| (m.name.as_str(), b.as_str())))
            .collect(),
        None => compilers.clone(),
    };
    match candidates.as_slice() {
        [(p, b)] => Ok(((*p).to_owned(), (*b).to_owned())),
        [] => Err(match sel.package {
            Some(p) => format!("package {p} has no binary; {known}; choose one with --bin NAME"),
            None => format!(
                "{known}; a compiler is a binary whose main runs brainsmith_core::cli \
                 (`brainsmith_core::cli::app!().main()`): add one, or pass --manifest-path \
                 to the workspace that has it"
            ),
        }),
        many => Err(format!(
            "{} binaries could be the compiler: {}; choose one with --bin NAME",
            many.len(),
            listing(many)
        )),
    }
}

/// The directories of `package` and of every member it reaches through dependencies.
fn closure(members: &[Member], package: &str) -> Vec<PathBuf> {
    let by_name: BTreeMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![package];
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(m) = by_name.get(name) {
            stack.extend(
                m.deps
                    .iter()
                    .filter(|(d, by_path)| *by_path && by_name.contains_key(d.as_str()))
                    .map(|(d, _)| d.as_str()),
            );
        }
    }
    members
        .iter()
        .filter(|m| seen.contains(m.name.as_str()))
        .map(|m| m.dir.clone())
        .collect()
}
