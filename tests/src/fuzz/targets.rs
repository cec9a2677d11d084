//! The fuzz targets: each reads its seeds from the repository and runs one input through
//! the public API, returning whether the input was accepted (parsed), so that the
//! driver keeps accepted mutants as seeds for deeper ones. A panic is the failure the
//! fuzzer looks for; an input the API refuses with an error is a pass.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use brainsmith_core::blueprint::Blueprint;
use brainsmith_core::ir::Model;
use brainsmith_core::manifest::Manifest;
use brainsmith_core::{Registry, Transform, TransformContext};

use super::mutate;
use super::rng::Rng;

/// One fuzz target.
pub struct Target {
    /// Its name on the command line and in crash files.
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// The seed inputs, read from the repository.
    pub seeds: fn(&Path) -> Vec<Vec<u8>>,
    /// How an input of this target is mutated.
    pub mutate: fn(&mut Rng, &mut Vec<u8>, &[u8]),
    /// Runs one input; true when it was accepted.
    pub run: fn(&Context, &[u8]) -> bool,
}

/// Every target, in the order the driver runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "onnx",
        about: "Model::decode, then encode, decode and encode again (the same bytes)",
        seeds: |root| files(&root.join("testdata/models"), "onnx", usize::MAX),
        mutate: mutate::bytes,
        run: onnx,
    },
    Target {
        name: "blueprint",
        about: "Blueprint::load from a file (extends resolved beside it), then check",
        seeds: |root| {
            let mut seeds = files(&root.join("testdata/blueprints"), "toml", usize::MAX);
            seeds.extend(files(
                &root.join("crates/brainsmith-plugins/blueprints"),
                "toml",
                usize::MAX,
            ));
            seeds
        },
        mutate: mutate::text,
        run: blueprint,
    },
    Target {
        name: "apply",
        about: "the --apply list, every name resolved and configuration read",
        seeds: |_| APPLY.iter().map(|s| s.as_bytes().to_vec()).collect(),
        mutate: mutate::text,
        run: apply,
    },
    Target {
        name: "manifest",
        about: "Manifest::from_toml and from_json, a round trip, Registry::verify",
        seeds: |root| {
            ["plugins.toml", "plugins.json"]
                .iter()
                .filter_map(|f| std::fs::read(root.join(f)).ok())
                .collect()
        },
        mutate: mutate::text,
        run: manifest,
    },
    Target {
        name: "transforms",
        about: "every registered transform on a decoded mutant, alone and chained",
        // The models up to 300 KB: the larger ones add weights, not structure.
        seeds: |root| files(&root.join("testdata/models"), "onnx", 300_000),
        mutate: mutate::bytes,
        run: transforms,
    },
];

/// `--apply` lists: names short and qualified, configurations, the odd spellings.
const APPLY: &[&str] = &[
    "InferShapes,FoldConstants",
    "brainsmith:InferShapes, RemoveIdentityOps(tolerance = 1e-5), FoldConstants",
    "ChangeBatchSize(batch_size = 4)",
    "FoldConstants(max_elements = 1000000)",
    "ApplyFoldingConfig(path = \"folding.json\"),SetFolding",
    "RemoveIdentityOps(tolerance = [1, {a = 'x,)'}])",
    "InferShapes(,),",
    "",
];

/// Configurations for the transforms that have required keys (as the transforms' own
/// sweep in brainsmith-plugins gives them).
const CONFIGS: &[(&str, &str)] = &[
    ("ChangeBatchSize", "batch_size = 2"),
    ("ApplyFoldingConfig", "path = \"/nonexistent/folding.json\""),
];

/// A configured transform and its name.
pub type Named = (&'static str, Box<dyn Transform>);

/// What the targets share, made once per run.
pub struct Context {
    registry: &'static Registry,
    transforms: Vec<Named>,
    /// Where the blueprint target writes its input, beside copies of the test
    /// blueprints that inputs may extend.
    blueprints: tempfile::TempDir,
}

impl Context {
    /// The registry, every transform configured, a directory for blueprints.
    pub fn new(root: &Path) -> Result<Context, String> {
        let registry = Registry::global().map_err(|e| e.to_string())?;
        let transforms = configured_transforms(registry)?;
        let blueprints = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = root.join("testdata/blueprints");
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, blueprints.path().join(name)).map_err(|e| e.to_string())?;
            }
        }
        Ok(Context {
            registry,
            transforms,
            blueprints,
        })
    }
}

/// Every registered transform with its default configuration (or the one in
/// `CONFIGS`, where it has required keys).
pub fn configured_transforms(registry: &'static Registry) -> Result<Vec<Named>, String> {
    let mut transforms = Vec::new();
    for t in registry.transforms() {
        let name = t.plugin().name();
        let config = CONFIGS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, c)| c);
        let table: toml::Table = config.parse().map_err(|e| format!("{e}"))?;
        let transform = t.configure(&table).map_err(|e| {
            format!("{e}: give {name} a configuration in tests/src/fuzz/targets.rs")
        })?;
        transforms.push((name, transform));
    }
    Ok(transforms)
}

/// The files of `dir` ending in `.ext` and at most `max` bytes long, sorted by name.
fn files(dir: &Path, ext: &str, max: usize) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == ext));
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() <= max)
        .collect()
}

fn onnx(_: &Context, input: &[u8]) -> bool {
    let Ok(model) = Model::decode(input) else {
        return false;
    };
    let encoded = model.encode();
    let again = Model::decode(&encoded)
        .unwrap_or_else(|e| panic!("our own encoding of a decoded model does not decode: {e}"));
    assert!(
        again.encode() == encoded,
        "encoding is not stable: decode(encode(m)) encodes differently"
    );
    true
}

fn blueprint(ctx: &Context, input: &[u8]) -> bool {
    let path = ctx.blueprints.path().join("fuzz.toml");
    if std::fs::write(&path, input).is_err() {
        return false;
    }
    let Ok(blueprint) = Blueprint::load(&path) else {
        return false;
    };
    let _ = blueprint.check(ctx.registry);
    true
}

fn apply(ctx: &Context, input: &[u8]) -> bool {
    let spec = String::from_utf8_lossy(input);
    brainsmith_core::cli::__plan_apply(ctx.registry, &spec).is_ok()
}

fn manifest(ctx: &Context, input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let mut accepted = false;
    if let Ok(m) = Manifest::from_toml(&text) {
        let again = Manifest::from_toml(&m.to_toml())
            .unwrap_or_else(|e| panic!("our own TOML of a read manifest does not read: {e}"));
        assert!(again == m, "a manifest changes in a TOML round trip");
        let _ = ctx.registry.verify(&m);
        accepted = true;
    }
    if let Ok(m) = Manifest::from_json(&text) {
        let again = Manifest::from_json(&m.to_json())
            .unwrap_or_else(|e| panic!("our own JSON of a read manifest does not read: {e}"));
        assert!(again == m, "a manifest changes in a JSON round trip");
        let _ = ctx.registry.verify(&m);
        accepted = true;
    }
    accepted
}

fn transforms(ctx: &Context, input: &[u8]) -> bool {
    let Ok(model) = Model::decode(input) else {
        return false;
    };
    let mut chained = model.clone();
    for (name, transform) in &ctx.transforms {
        // Alone, on the model as decoded.
        let mut alone = model.clone();
        guarded(name, "alone", || {
            let _ = transform.apply(&mut alone, &mut TransformContext::default());
        });
        // Chained after the transforms before it, an error undone as the pipeline
        // undoes it.
        let before = chained.clone();
        guarded(name, "chained", || {
            if transform
                .apply(&mut chained, &mut TransformContext::default())
                .is_err()
            {
                chained = before;
            }
        });
    }
    true
}

/// Runs `f`; a panic in it panics again naming the transform.
fn guarded(name: &str, how: &str, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        let message = super::payload_message(payload.as_ref());
        // Keep the first panic's location, which the hook recorded.
        let first = super::take_panic().unwrap_or(message);
        resume_unwind(Box::new(format!("transform {name} ({how}): {first}")));
    }
}
