//! `plugins check --strict` certifies a crate: acme's example crate passes it, and a
//! plugin that falls short fails it, every shortfall listed.

use acme_plugins as _;
use brainsmith_core::prelude::*;
use brainsmith_tests::cli as brainsmith;

/// Does nothing.
#[transform(stage = cleanup)]
#[derive(Default)]
struct Bare;

impl Transform for Bare {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(false)
    }
}

#[test]
fn acme_passes_plugins_check_strict() {
    let (code, out, err) = brainsmith(&["plugins", "check", "--strict", "--source", "acme"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("5 plugins checked; 0 fall short of a check"),
        "{out}"
    );
}

#[test]
fn a_plugin_that_falls_short_fails_strict_with_what_it_lacks() {
    let (code, out, err) = brainsmith(&["plugins", "check", "--source", "brainsmith-tests"]);
    assert_eq!(code, 0, "without --strict the grades are a report: {err}");
    // The grades still go to stdout; the verdict is the exit code and the message.
    let (code, strict, err) = brainsmith(&[
        "plugins",
        "check",
        "--strict",
        "--source",
        "brainsmith-tests",
    ]);
    assert_eq!((code, &strict), (1, &out));
    for lack in [
        "brainsmith-tests:Bare",
        "docs: 13 characters",
        "example: no example",
        "version: no version",
        "tags: no tags",
    ] {
        assert!(strict.contains(lack), "{lack}: {strict}");
    }
    assert!(
        err.contains("--strict:") && err.contains("fall short"),
        "{err}"
    );
}
