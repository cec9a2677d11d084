//! `brainsmith new`: the scaffolder. It writes a new workspace (a plugin crate with one
//! kernel, its HLS backend, the transform that maps onto it and a step, each documented,
//! with an example and tests, and a compiler binary linking it), or adds one plugin to an
//! existing crate.
//!
//! What it writes compiles, passes its own tests and `plugins check --strict`, and is
//! formatted as `cargo fmt` would (`tests/tests/scaffold.rs` builds a generated workspace
//! and runs all three). Nothing is half-written: a workspace is built in a temporary
//! directory beside its path and renamed into place; adding a plugin writes its new file
//! and then the crate's `lib.rs` atomically, and removes the new file if that fails.
//!
//! ```
//! use brainsmith_plugins::scaffold::{Core, WorkspaceOptions, new_workspace};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let options = WorkspaceOptions::new(dir.path().join("tiny-compiler"), Core::Version("0.1".into()));
//! let written = new_workspace(&options).unwrap();
//! assert!(written.iter().any(|f| f.ends_with("tiny-compiler-plugins/src/streaming_relu.rs")));
//! let cargo = std::fs::read_to_string(dir.path().join("tiny-compiler/Cargo.toml")).unwrap();
//! assert!(cargo.contains("brainsmith-core = \"0.1\""));
//! ```

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A scaffolding failure: what was wrong and how to fix it. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldError(String);

impl fmt::Display for ScaffoldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScaffoldError {}

fn err<T>(message: impl Into<String>) -> Result<T, ScaffoldError> {
    Err(ScaffoldError(message.into()))
}

/// Where the generated workspace takes `brainsmith-core` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Core {
    /// A version requirement on crates.io (`"0.1"`).
    Version(String),
    /// A checkout of brainsmith-rs (its root, or the `brainsmith-core` crate's directory).
    Path(PathBuf),
}

/// What `brainsmith new PATH` writes.
#[derive(Debug, Clone)]
pub struct WorkspaceOptions {
    /// The workspace's directory: must not exist, or be empty.
    pub path: PathBuf,
    /// The compiler's name (the binary crate; the plugin crate is `NAME-plugins`, and the
    /// plugins' source): the path's last component unless given.
    pub name: Option<String>,
    /// Where `brainsmith-core` comes from.
    pub core: Core,
    /// Also link the standard plugins (`brainsmith-plugins`: FINN's kernels, transforms
    /// and flow) into the compiler.
    pub standard_plugins: bool,
}

impl WorkspaceOptions {
    /// A workspace at `path` named after it, on `core`, without the standard plugins.
    pub fn new(path: impl Into<PathBuf>, core: Core) -> Self {
        WorkspaceOptions {
            path: path.into(),
            name: None,
            core,
            standard_plugins: false,
        }
    }
}

/// The plugins of a new workspace.
const KERNEL: &str = "StreamingRelu";
const BACKEND: &str = "StreamingReluHls";
const TRANSFORM: &str = "InferStreamingRelu";
const STEP: &str = "report_kernels";

/// Writes a new workspace; returns the files written (under `options.path`).
pub fn new_workspace(options: &WorkspaceOptions) -> Result<Vec<PathBuf>, ScaffoldError> {
    let path = &options.path;
    let name = match &options.name {
        Some(name) => name.clone(),
        None => match path.file_name().and_then(|n| n.to_str()) {
            Some(n) => n.to_owned(),
            None => {
                return err(format!(
                    "{} has no name to give the compiler; give one with --name",
                    path.display()
                ));
            }
        },
    };
    check_package_name(&name)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return err(format!(
            "{} does not exist; create it first, or choose another path",
            parent.display()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(path)
                .map_err(|e| ScaffoldError(format!("cannot read {}: {e}", path.display())))?
                .next()
                .is_none();
            if !empty {
                return err(format!(
                    "{} exists and is not empty; choose a new path",
                    path.display()
                ));
            }
        }
        Ok(_) => {
            return err(format!(
                "{} exists and is not a directory; choose a new path",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return err(format!("cannot inspect {}: {e}", path.display())),
    }
    let core_dep = core_dependency(&options.core, "brainsmith-core")?;
    let (std_dep, std_use) = if options.standard_plugins {
        (
            core_dependency(&options.core, "brainsmith-plugins")?,
            "use brainsmith_plugins as _;\n".to_owned(),
        )
    } else {
        (String::new(), String::new())
    };
    let ident = name.replace('-', "_");
    let plugins = format!("{name}-plugins");
    let vars = Vars::new()
        .set("name", &name)
        .set("ns", &name)
        .set("domain", &format!("{ident}.fpgadataflow"))
        .set("crate", &format!("{ident}_plugins"))
        .set("kernel_path", "crate")
        .set("Kernel", KERNEL)
        .set("OpType", KERNEL)
        .set("Backend", BACKEND)
        .set("Transform", TRANSFORM)
        .set("step", STEP)
        .set("kernel_mod", &snake_case(KERNEL))
        .set("backend_mod", &snake_case(BACKEND))
        .set("transform_mod", &snake_case(TRANSFORM))
        .set("core_dep", &core_dep)
        .set("std_dep", &std_dep)
        .set("std_use", &std_use);
    let src = format!("{plugins}/src");
    let files: Vec<(String, String)> = vec![
        ("Cargo.toml".into(), vars.render(WORKSPACE_CARGO)),
        ("README.md".into(), vars.render(WORKSPACE_README)),
        (".gitignore".into(), vars.render(GITIGNORE)),
        (format!("{plugins}/Cargo.toml"), vars.render(PLUGINS_CARGO)),
        (format!("{src}/lib.rs"), vars.render(PLUGINS_LIB)),
        (
            format!("{src}/{}.rs", snake_case(KERNEL)),
            vars.render(KERNEL_RS),
        ),
        (
            format!("{src}/{}.rs", snake_case(BACKEND)),
            vars.render(BACKEND_RS),
        ),
        (
            format!("{src}/{}.rs", snake_case(TRANSFORM)),
            vars.render(TRANSFORM_INFER_RS),
        ),
        (format!("{src}/{STEP}.rs"), vars.render(STEP_RS)),
        (format!("{name}/Cargo.toml"), vars.render(COMPILER_CARGO)),
        (format!("{name}/src/main.rs"), vars.render(COMPILER_MAIN)),
        (format!("{name}/tests/cli.rs"), vars.render(COMPILER_TEST)),
    ];
    let io = |what: &Path, e: std::io::Error| {
        ScaffoldError(format!("cannot write {}: {e}", what.display()))
    };
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempdir_in(&parent)
        .map_err(|e| io(&parent, e))?;
    for (file, text) in &files {
        let text = if file.ends_with(".rs") {
            rustfmt(text)
        } else {
            text.clone()
        };
        let target = staging.path().join(file);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::write(&target, text).map_err(|e| io(&target, e))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, path) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io(path, e));
    }
    Ok(files.into_iter().map(|(f, _)| path.join(f)).collect())
}

/// The dependency line of `package` for `core`.
fn core_dependency(core: &Core, package: &str) -> Result<String, ScaffoldError> {
    match core {
        Core::Version(v) => Ok(format!("{package} = \"{v}\"")),
        Core::Path(dir) => {
            let dir = std::path::absolute(dir)
                .map_err(|e| ScaffoldError(format!("cannot resolve {}: {e}", dir.display())))?;
            let crate_dir = [
                dir.join("crates").join(package),
                dir.parent().map_or_else(PathBuf::new, |p| p.join(package)),
            ]
            .into_iter()
            .chain((package == "brainsmith-core").then(|| dir.clone()))
            .find(|d| is_package(d, package));
            match crate_dir {
                Some(d) => {
                    let d = d.to_str().ok_or_else(|| {
                        ScaffoldError(format!("{} is not UTF-8; move the checkout", d.display()))
                    })?;
                    Ok(format!("{package} = {{ path = {} }}", toml_string(d)))
                }
                None => err(format!(
                    "--core-path {}: no {package} crate there (looked for {0}/crates/{package}); \
                     give the root of a brainsmith-rs checkout",
                    dir.display()
                )),
            }
        }
    }
}

fn is_package(dir: &Path, package: &str) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("package")?
                .get("name")?
                .as_str()
                .map(|n| n == package)
        })
        .unwrap_or(false)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Names a package may not take: Rust's keywords and the standard crates'.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

fn check_package_name(name: &str) -> Result<(), ScaffoldError> {
    let shown = brainsmith_core::suggest::shorten(name, 60);
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return err(format!(
            "'{shown}' cannot name the compiler: use lowercase ASCII letters, digits, '-' and \
             '_', starting with a letter, at most 64 characters (it is also the plugins' \
             source); choose another path or give --name"
        ));
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return err(format!(
            "'{shown}' is a Rust keyword or a standard crate's name; give another with --name"
        ));
    }
    if name == "brainsmith" {
        return err(
            "'brainsmith' is the standard plugins' source, reserved to them; give another name with --name",
        );
    }
    Ok(())
}

/// The kinds of plugin `brainsmith new KIND NAME` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginTemplate {
    /// A kernel and its attributes (`NAMEAttrs`), op type `op_type` (default: the name).
    Kernel {
        /// The kernel's type name.
        name: String,
        /// Its op type.
        op_type: Option<String>,
    },
    /// An HLS backend of `kernel`, a kernel of the crate as `new kernel` writes it.
    Backend {
        /// The backend's type name.
        name: String,
        /// The kernel's type name.
        kernel: String,
    },
    /// A transform: a cleanup rewrite, or with `infers` the mapping of ONNX `Relu` nodes
    /// onto that kernel of the crate.
    Transform {
        /// The transform's type name.
        name: String,
        /// The kernel it maps onto.
        infers: Option<String>,
    },
    /// A step (a function).
    Step {
        /// The function's name.
        name: String,
    },
}

impl PluginTemplate {
    fn name(&self) -> &str {
        match self {
            PluginTemplate::Kernel { name, .. }
            | PluginTemplate::Backend { name, .. }
            | PluginTemplate::Transform { name, .. }
            | PluginTemplate::Step { name } => name,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PluginTemplate::Kernel { .. } => "kernel",
            PluginTemplate::Backend { .. } => "backend",
            PluginTemplate::Transform { .. } => "transform",
            PluginTemplate::Step { .. } => "step",
        }
    }
}

/// What [`add_plugin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The plugin's qualified name (`source:Name`).
    pub qualified_name: String,
    /// The new file.
    pub file: PathBuf,
    /// The crate's `lib.rs`, which now declares and re-exports it.
    pub lib: PathBuf,
}

/// A plugin crate as the scaffolder reads it.
struct PluginCrate {
    dir: PathBuf,
    /// The crate's name in Rust (`my_plugins`).
    ident: String,
    /// The plugins' source: its `namespace!`, else its package name.
    source: String,
    /// Every `.rs` file under `src/`, with its text.
    sources: Vec<(PathBuf, String)>,
}

/// Adds `template` to the plugin crate in `crate_dir` (the directory of its
/// `Cargo.toml`): a new file `src/<name in snake case>.rs`, declared and re-exported in
/// `src/lib.rs`.
pub fn add_plugin(crate_dir: &Path, template: &PluginTemplate) -> Result<Added, ScaffoldError> {
    let krate = read_crate(crate_dir)?;
    let name = template.name();
    let module = match template {
        PluginTemplate::Step { .. } => {
            check_snake(name)?;
            name.to_owned()
        }
        _ => {
            check_camel(name, template.kind())?;
            snake_case(name)
        }
    };
    if let Some((file, line)) = krate.defines(name) {
        return err(format!(
            "{name} is already defined at {}:{line}; choose another name",
            file.display()
        ));
    }
    let file = krate.dir.join("src").join(format!("{module}.rs"));
    let lib = krate.dir.join("src/lib.rs");
    let lib_text = krate
        .sources
        .iter()
        .find(|(p, _)| *p == lib)
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    if file.exists()
        || krate.dir.join("src").join(&module).exists()
        || declares_mod(&lib_text, &module)
    {
        return err(format!(
            "the crate already has a module '{module}' ({}); choose another name",
            file.display()
        ));
    }
    let mut vars = Vars::new()
        .set("crate", &krate.ident)
        .set("ns", &krate.source)
        .set(
            "domain",
            &format!("{}.fpgadataflow", krate.source.replace('-', "_")),
        );
    let (text, exports) = match template {
        PluginTemplate::Kernel { name, op_type } => {
            let op_type = op_type.clone().unwrap_or_else(|| name.clone());
            if op_type.is_empty()
                || !op_type
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return err(format!(
                    "--op-type '{}': an op type is ASCII letters, digits and '_'",
                    brainsmith_core::suggest::shorten(&op_type, 60)
                ));
            }
            vars = vars.set("Kernel", name).set("OpType", &op_type);
            (vars.render(KERNEL_RS), format!("{{{name}, {name}Attrs}}"))
        }
        PluginTemplate::Backend { name, kernel } => {
            let k = krate.template_kernel(kernel, "backend")?;
            vars = vars
                .set("Backend", name)
                .set("Kernel", kernel)
                .set("OpType", &k.op_type)
                .set("kernel_path", &k.path);
            (vars.render(BACKEND_RS), name.clone())
        }
        PluginTemplate::Transform { name, infers: None } => {
            vars = vars.set("Transform", name);
            (vars.render(TRANSFORM_RS), name.clone())
        }
        PluginTemplate::Transform {
            name,
            infers: Some(kernel),
        } => {
            let k = krate.template_kernel(kernel, "transform")?;
            vars = vars
                .set("Transform", name)
                .set("Kernel", kernel)
                .set("OpType", &k.op_type)
                .set("kernel_path", &k.path);
            (vars.render(TRANSFORM_INFER_RS), name.clone())
        }
        PluginTemplate::Step { name } => {
            vars = vars.set("step", name);
            (vars.render(STEP_RS), name.clone())
        }
    };
    let text = rustfmt(&text);
    let new_lib = insert_module(&lib_text, &module, &exports);
    let write_err =
        |p: &Path, e: std::io::Error| ScaffoldError(format!("cannot write {}: {e}", p.display()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| {
            let _ = std::fs::remove_file(&file);
            write_err(&file, e)
        })?;
    if let Err(e) = brainsmith_core::fsutil::write_atomic(&lib, new_lib.as_bytes()) {
        let _ = std::fs::remove_file(&file);
        return Err(write_err(&lib, e));
    }
    Ok(Added {
        qualified_name: format!("{}:{name}", krate.source),
        file,
        lib,
    })
}

/// A kernel of the crate that the backend and transform templates can serve.
struct TemplateKernel {
    op_type: String,
    /// Its module path from the crate root (`crate::streaming_relu`).
    path: String,
}

impl PluginCrate {
    /// The file and line defining the type or function `name`, if any.
    fn defines(&self, name: &str) -> Option<(&Path, usize)> {
        for (file, text) in &self.sources {
            for (i, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let words: Vec<&str> = line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .collect();
                if words.windows(2).any(|w| {
                    matches!(w[0], "struct" | "enum" | "fn" | "type" | "trait") && w[1] == name
                }) {
                    return Some((file, i + 1));
                }
            }
        }
        None
    }

    /// The kernel `name` of this crate, with the attributes the templates read.
    fn template_kernel(&self, name: &str, what: &str) -> Result<TemplateKernel, ScaffoldError> {
        check_camel(name, "kernel")?;
        let kernels = self.kernels();
        let Some((file, op_type)) = kernels
            .iter()
            .find(|(_, k, _)| k == name)
            .map(|(f, _, o)| (f, o))
        else {
            let known: Vec<&str> = kernels.iter().map(|(_, k, _)| k.as_str()).collect();
            return err(format!(
                "no #[kernel] struct {name} in {}; its kernels: {}",
                self.dir.display(),
                if known.is_empty() {
                    "none (add one with `brainsmith new kernel NAME`)".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        let Some(op_type) = op_type.clone() else {
            return err(format!(
                "kernel {name} ({}) declares no op type the {what} could match",
                file.display()
            ));
        };
        let text = &self
            .sources
            .iter()
            .find(|(p, _)| p == file)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default();
        let attrs = format!("pub struct {name}Attrs");
        let fields = text.find(&attrs).map(|i| {
            let rest = &text[i..];
            &rest[..rest.find('}').unwrap_or(rest.len())]
        });
        let has = |field: &str| fields.is_some_and(|f| f.contains(&format!("pub {field}:")));
        let consts = text.contains("pub const OP_TYPE") && text.contains("pub const DOMAIN");
        if !(has("channels") && has("pe") && has("datatype") && consts) {
            return err(format!(
                "the {what} template reads `{name}Attrs {{ channels, pe, datatype }}` and \
                 `{name}::OP_TYPE` and `DOMAIN`, as `brainsmith new kernel` writes them, and \
                 {} has not all of them; write this {what} by hand",
                file.display()
            ));
        }
        Ok(TemplateKernel {
            op_type,
            path: module_path(&self.dir.join("src"), file),
        })
    }

    /// (file, struct name, first op type) of every `#[kernel]` struct.
    fn kernels(&self) -> Vec<(PathBuf, String, Option<String>)> {
        let mut found = Vec::new();
        for (file, text) in &self.sources {
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let line = line.trim_start();
                if !line.starts_with("#[kernel") {
                    continue;
                }
                let op_type = line.split_once("op_types").and_then(|(_, rest)| {
                    let rest = &rest[rest.find('"')? + 1..];
                    Some(rest[..rest.find('"')?].to_owned())
                });
                let name = lines[i + 1..].iter().find_map(|l| {
                    let l = l.trim_start();
                    let l = l.strip_prefix("pub ").unwrap_or(l);
                    let rest = l.strip_prefix("struct ")?;
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    Some(rest[..end].to_owned())
                });
                if let Some(name) = name {
                    found.push((file.clone(), name, op_type));
                }
            }
        }
        found
    }
}

/// `text` as `cargo fmt` would write it, when `rustfmt` (or `$RUSTFMT`) runs; else `text`
/// as it is (the templates are written formatted for their default names).
fn rustfmt(text: &str) -> String {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let program = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let child = Command::new(program)
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return text.to_owned();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or_else(|_| text.to_owned())
        }
        _ => text.to_owned(),
    }
}

/// `crate::a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; `crate` for `src/lib.rs`.
fn module_path(src: &Path, file: &Path) -> String {
    let mut path = vec!["crate".to_owned()];
    if let Ok(rel) = file.strip_prefix(src) {
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => n.to_str().map(ToOwned::to_owned),
                _ => None,
            })
            .collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let part = if last {
                part.trim_end_matches(".rs")
            } else {
                part
            };
            if !(last && (part == "lib" || part == "mod")) {
                path.push(part.to_owned());
            }
        }
    }
    path.join("::")
}

fn read_crate(dir: &Path) -> Result<PluginCrate, ScaffoldError> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        ScaffoldError(format!(
            "{}: {e}; give the plugin crate's directory with --crate DIR",
            manifest.display()
        ))
    })?;
    let toml: toml::Table = text
        .parse()
        .map_err(|e| ScaffoldError(format!("{} is not valid TOML: {e}", manifest.display())))?;
    let Some(package) = toml
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
    else {
        let members = toml
            .get("workspace")
            .and_then(|w| w.get("members"))
            .and_then(|m| m.as_array())
            .map(|m| {
                m.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return err(format!(
            "{} is not a package{}; give the plugin crate with --crate DIR",
            manifest.display(),
            if members.is_empty() {
                String::new()
            } else {
                format!(" (a workspace of {members})")
            }
        ));
    };
    let depends = ["dependencies", "dev-dependencies"].iter().any(|t| {
        toml.get(*t)
            .and_then(|d| d.get("brainsmith-core"))
            .is_some()
    });
    if !depends {
        return err(format!(
            "{package} ({}) does not depend on brainsmith-core; run `cargo add brainsmith-core` there first",
            manifest.display()
        ));
    }
    let ident = toml
        .get("lib")
        .and_then(|l| l.get("name"))
        .and_then(|n| n.as_str())
        .map_or_else(|| package.replace('-', "_"), ToOwned::to_owned);
    let src = dir.join("src");
    if !src.join("lib.rs").is_file() {
        return err(format!(
            "{package} has no src/lib.rs: plugins live in a library crate"
        ));
    }
    let mut sources = Vec::new();
    collect_sources(&src, &mut sources)?;
    sources.sort();
    let source = sources
        .iter()
        .find_map(|(_, t)| namespace_of(t))
        .unwrap_or_else(|| package.to_owned());
    Ok(PluginCrate {
        dir: dir.to_owned(),
        ident,
        source,
        sources,
    })
}

fn collect_sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<(), ScaffoldError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ScaffoldError(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_sources(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ScaffoldError(format!("cannot read {}: {e}", path.display())))?;
            out.push((path, text));
        }
    }
    Ok(())
}

/// The source a `namespace!("...")` in `text` declares.
fn namespace_of(text: &str) -> Option<String> {
    let i = text.find("namespace!(")?;
    let rest = &text[i..];
    let rest = &rest[rest.find('"')? + 1..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn declares_mod(lib: &str, module: &str) -> bool {
    lib.lines().any(|l| {
        let l = l.trim_start();
        let l = l.strip_prefix("pub ").unwrap_or(l);
        l.strip_prefix("mod ")
            .is_some_and(|rest| rest.trim_end_matches([';', ' ', '{']) == module)
    })
}

/// `lib` with `mod module;` in its last block of top-level `mod` lines and `pub use
/// module::exports;` in its last block of `pub use` lines, each where it sorts (as
/// rustfmt orders them; at the block's end when the block is not sorted), or at the end
/// of the file when there is no such block.
fn insert_module(lib: &str, module: &str, exports: &str) -> String {
    let mut lines: Vec<String> = lib.lines().map(ToOwned::to_owned).collect();
    let is_mod = |l: &str| l.starts_with("mod ") || l.starts_with("pub mod ");
    let is_use = |l: &str| l.starts_with("pub use ");
    let key = |l: &str| {
        l.trim_start_matches("pub ")
            .trim_start_matches("mod ")
            .trim_start_matches("use ")
            .to_owned()
    };
    let insert = |lines: &mut Vec<String>, is: &dyn Fn(&str) -> bool, line: String| {
        let end = lines.iter().rposition(|l| is(l))?;
        let start = lines[..end]
            .iter()
            .rposition(|l| !is(l))
            .map_or(0, |i| i + 1);
        let block: Vec<String> = lines[start..=end].iter().map(|l| key(l)).collect();
        let sorted = block.windows(2).all(|w| w[0] <= w[1]);
        let new = key(&line);
        let at = if sorted {
            start + block.iter().take_while(|k| **k < new).count()
        } else {
            end + 1
        };
        lines.insert(at, line);
        Some(at)
    };
    let module_line = format!("mod {module};");
    let mod_at = match insert(&mut lines, &is_mod, module_line.clone()) {
        Some(at) => at,
        None => {
            lines.push(module_line);
            lines.len() - 1
        }
    };
    let export = format!("pub use {module}::{exports};");
    if insert(&mut lines, &is_use, export.clone()).is_none() {
        let after = lines[mod_at..]
            .iter()
            .position(|l| !is_mod(l))
            .map_or(lines.len(), |i| mod_at + i);
        lines.insert(after, String::new());
        lines.insert(after + 1, export);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn check_camel(name: &str, kind: &str) -> Result<(), ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        err(format!(
            "'{}' cannot name a {kind}: a {kind} is a type, named in UpperCamelCase (ASCII \
             letters and digits, starting with a capital, at most 64), e.g. 'MyRelu'",
            brainsmith_core::suggest::shorten(name, 60)
        ))
    }
}

fn check_snake(name: &str) -> Result<(), ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64
        && !RESERVED.contains(&name)
        && !matches!(name, "lib" | "main" | "mod");
    if valid {
        Ok(())
    } else {
        err(format!(
            "'{}' cannot name a step: a step is a function, named in snake_case (lowercase \
             ASCII letters, digits and '_', starting with a letter, not a keyword), e.g. \
             'write_report'",
            brainsmith_core::suggest::shorten(name, 60)
        ))
    }
}

/// `StreamingReluHls` -> `streaming_relu_hls`; `MVAUHls` -> `mvau_hls`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Template variables: `{{key}}` in a template becomes the value.
struct Vars(Vec<(String, String)>);

impl Vars {
    fn new() -> Self {
        Vars(Vec::new())
    }

    fn set(mut self, key: &str, value: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self.0.push((format!("{{{{{key}}}}}"), value.to_owned()));
        self
    }

    /// The template with every variable replaced. A variable the template names and
    /// `self` lacks is a bug of the scaffolder (its tests render every template).
    fn render(&self, template: &str) -> String {
        let mut text = template.to_owned();
        for (key, value) in &self.0 {
            text = text.replace(key, value);
        }
        debug_assert!(
            leftover(&text).is_none(),
            "unrendered {:?}",
            leftover(&text)
        );
        text
    }
}

/// The first `{{word}}` left in `text`.
fn leftover(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        if let Some(end) = after.find("}}") {
            let word = &after[..end];
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Some(word);
            }
        }
        rest = after;
    }
    None
}

const WORKSPACE_CARGO: &str = include_str!("templates/workspace_Cargo.toml.in");
const WORKSPACE_README: &str = include_str!("templates/README.md.in");
const GITIGNORE: &str = include_str!("templates/gitignore.in");
const PLUGINS_CARGO: &str = include_str!("templates/plugins_Cargo.toml.in");
const PLUGINS_LIB: &str = include_str!("templates/plugins_lib.rs.in");
const KERNEL_RS: &str = include_str!("templates/kernel.rs.in");
const BACKEND_RS: &str = include_str!("templates/backend.rs.in");
const TRANSFORM_RS: &str = include_str!("templates/transform.rs.in");
const TRANSFORM_INFER_RS: &str = include_str!("templates/transform_infer.rs.in");
const STEP_RS: &str = include_str!("templates/step.rs.in");
const COMPILER_CARGO: &str = include_str!("templates/compiler_Cargo.toml.in");
const COMPILER_MAIN: &str = include_str!("templates/compiler_main.rs.in");
const COMPILER_TEST: &str = include_str!("templates/compiler_test.rs.in");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_names() {
        for (camel, snake) in [
            ("StreamingRelu", "streaming_relu"),
            ("StreamingReluHls", "streaming_relu_hls"),
            ("MVAUHls", "mvau_hls"),
            ("Conv2dRtl", "conv2d_rtl"),
            ("X", "x"),
        ] {
            assert_eq!(snake_case(camel), snake);
        }
    }

    #[test]
    fn modules_are_inserted_after_the_last_mod_and_use() {
        let lib = "//! Docs.\n\nmod a;\nmod b;\n\npub use a::A;\npub use b::B;\n\nfn helper() {}\n";
        let out = insert_module(lib, "c_d", "CD");
        assert_eq!(
            out,
            "//! Docs.\n\nmod a;\nmod b;\nmod c_d;\n\npub use a::A;\npub use b::B;\npub use c_d::CD;\n\nfn helper() {}\n"
        );
        // Where it sorts, as rustfmt orders a block; at the end of an unsorted one.
        let out = insert_module(lib, "ab", "{Ab, AbAttrs}");
        assert!(out.contains("mod a;\nmod ab;\nmod b;\n"), "{out}");
        assert!(
            out.contains("pub use a::A;\npub use ab::{Ab, AbAttrs};\npub use b::B;"),
            "{out}"
        );
        let out = insert_module("mod b;\nmod a;\n", "c", "C");
        assert_eq!(out, "mod b;\nmod a;\nmod c;\n\npub use c::C;\n");
        let out = insert_module("//! Docs.\n", "x", "X");
        assert_eq!(out, "//! Docs.\nmod x;\n\npub use x::X;\n");
        assert!(declares_mod(&out, "x") && !declares_mod(&out, "y"));
    }

    #[test]
    fn module_paths_follow_files() {
        let src = Path::new("/w/src");
        assert_eq!(module_path(src, Path::new("/w/src/lib.rs")), "crate");
        assert_eq!(module_path(src, Path::new("/w/src/k.rs")), "crate::k");
        assert_eq!(module_path(src, Path::new("/w/src/a/mod.rs")), "crate::a");
        assert_eq!(module_path(src, Path::new("/w/src/a/b.rs")), "crate::a::b");
    }

    #[test]
    fn leftover_finds_unrendered_variables_only() {
        assert_eq!(leftover("a {{Kernel}} b"), Some("Kernel"));
        assert_eq!(leftover("format!(\"{{\") {{ x }} }}"), None);
    }

    #[test]
    fn package_names_are_checked() {
        for bad in ["My", "9lives", "a b", "fn", "test", "brainsmith", "", "x/y"] {
            assert!(check_package_name(bad).is_err(), "{bad}");
        }
        for good in ["my-compiler", "acme_2"] {
            check_package_name(good).unwrap();
        }
    }
}
