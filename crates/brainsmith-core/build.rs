//! Exists for the `links = "brainsmith_core"` key in Cargo.toml, which Cargo only accepts
//! on a package with a build script: it makes two copies of brainsmith-core in one build
//! a resolution error instead of two half-empty registries at run time.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
