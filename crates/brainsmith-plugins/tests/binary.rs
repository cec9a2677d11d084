//! The reference `brainsmith` binary links the standard plugins only: the workspace
//! manifest, which also lists acme's, is not its allowlist.

use std::process::Command;

#[test]
fn verify_names_what_the_binary_lacks() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .args(["verify", manifest])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("missing from the binary: kernel acme:Thresholding"),
        "{err}"
    );
    assert!(!err.contains("not in the manifest"), "{err}");
}

#[test]
fn plugins_lists_the_standard_library() {
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .arg("plugins")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // The summary row counts what this test binary's own registry holds.
    use brainsmith_core::PluginKind;
    use brainsmith_plugins as _;
    let registry = brainsmith_core::Registry::global().unwrap();
    let count = |kind| registry.of_kind(kind).len();
    let (t, k, b, s) = (
        count(PluginKind::Transform),
        count(PluginKind::Kernel),
        count(PluginKind::Backend),
        count(PluginKind::Step),
    );
    let row = format!(
        "brainsmith{:>12}{:>9}{:>10}{:>7}{:>7}",
        t,
        k,
        b,
        s,
        t + k + b + s
    );
    assert!(t >= 6, "{t} transforms");
    assert!(text.contains(&row), "no `{row}` in:\n{text}");
}

/// Help and usage errors carry no ANSI escapes into a pipe: clap colours only where its
/// `ColorChoice::Auto` would.
#[test]
fn help_and_usage_errors_are_plain_in_a_pipe() {
    for (args, stdout) in [
        (&["--help"][..], true),
        (&["transform", "--help"][..], true),
        (&["transform"][..], false),
        (&["plugins", "--no-such-flag"][..], false),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
            .args(args)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .unwrap();
        let text = String::from_utf8(if stdout { out.stdout } else { out.stderr }).unwrap();
        assert!(text.contains("Usage"), "{args:?}: {text}");
        assert!(
            !text.contains("\x1b["),
            "{args:?} printed escapes: {text:?}"
        );
    }
}

/// On a terminal, colour unless `NO_COLOR` is set. Runs under `script`, which gives the
/// binary a pseudo-terminal; skipped where it is missing.
#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let on_terminal = |no_color: bool| {
        let mut command = Command::new("script");
        command
            .args(["-qec"])
            .arg(format!("{} transform", env!("CARGO_BIN_EXE_brainsmith")))
            .arg("/dev/null")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        command.output().ok()
    };
    let Some(coloured) = on_terminal(false).filter(|o| !o.stdout.is_empty()) else {
        eprintln!("skipped: `script` cannot give the binary a terminal here");
        return;
    };
    let coloured = String::from_utf8_lossy(&coloured.stdout).into_owned();
    assert!(coloured.contains("Usage"), "{coloured}");
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal: {coloured:?}"
    );
    let plain = on_terminal(true).unwrap();
    let plain = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert!(plain.contains("Usage"), "{plain}");
    assert!(
        !plain.contains("\x1b["),
        "colour despite NO_COLOR: {plain:?}"
    );
}

/// The binary is named and versioned as itself, not as brainsmith-core.
#[test]
fn version_is_the_binarys_own() {
    let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("brainsmith {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The standard library stays certified: every plugin the reference binary ships passes
/// `plugins check --strict` (docs, a tested example, version, tags, documented keys and
/// attributes), and on FINN's models every kernel estimates and every backend generates
/// what it accepts.
#[test]
fn the_standard_plugins_pass_plugins_check_strict() {
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/");
    let with_models = [
        "finn_cybsec_mvau_hls.onnx",
        "finn_tfc_w1a1_multithreshold.onnx",
    ]
    .map(|m| vec!["--model".to_owned(), format!("{models}{m}")]);
    for extra in [vec![]].into_iter().chain(with_models) {
        let out = Command::new(env!("CARGO_BIN_EXE_brainsmith"))
            .args(["plugins", "check", "--strict"])
            .args(&extra)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{extra:?}\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" 0 fall short of a check"), "{text}");
    }
}
