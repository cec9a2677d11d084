//! Two copies of brainsmith-core in one build would be two registries, each seeing part
//! of the plugins. Cargo refuses the build instead, because of the `links` key.

use std::path::Path;
use std::process::Command;

#[test]
fn cargo_refuses_a_second_copy_of_brainsmith_core() {
    let dir = std::env::temp_dir().join(format!("brainsmith-links-{}", std::process::id()));
    let copy = dir.join("copy");
    let app = dir.join("app");
    std::fs::create_dir_all(copy.join("src")).unwrap();
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        copy.join("Cargo.toml"),
        "[package]\nname = \"brainsmith-core\"\nversion = \"0.2.0\"\nedition = \"2021\"\nlinks = \"brainsmith_core\"\nbuild = \"build.rs\"\n",
    )
    .unwrap();
    std::fs::write(copy.join("build.rs"), "fn main() {}\n").unwrap();
    std::fs::write(copy.join("src/lib.rs"), "").unwrap();
    let core = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/brainsmith-core")
        .canonicalize()
        .unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n[dependencies]\n\
             one = {{ package = \"brainsmith-core\", path = {:?} }}\n\
             two = {{ package = \"brainsmith-core\", path = \"../copy\" }}\n",
            core.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(app.join("src/lib.rs"), "").unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(&app)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "cargo resolved two copies of brainsmith-core"
    );
    assert!(
        stderr.contains("links to the native library `brainsmith_core`"),
        "{stderr}"
    );
}
