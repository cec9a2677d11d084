//! The compile errors of the attributes: one failure mode per file in `tests/ui`, each
//! with its expected `.stderr` committed beside it. Regenerate after an intended change
//! with `TRYBUILD=overwrite cargo test -p brainsmith-macros --test compiletest`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

/// Every UI case has its expected output, and every expected output its case.
#[test]
fn every_ui_case_has_its_stderr() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("rs") => {
                cases += 1;
                assert!(
                    path.with_extension("stderr").exists(),
                    "{} has no .stderr",
                    path.display()
                );
            }
            Some("stderr") => assert!(
                path.with_extension("rs").exists(),
                "{} has no .rs",
                path.display()
            ),
            _ => panic!("unexpected file {}", path.display()),
        }
    }
    assert!(cases >= 15, "only {cases} UI cases");
}
