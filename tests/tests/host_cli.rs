//! The command line a compiler owns: its name, version and help text, commands of its
//! own beside brainsmith-core's, and colour only where asked for.

use brainsmith_core::cli::{App, clap};
use brainsmith_tests::exit_code;

/// Runs `app` with `args`; returns (exit code, stdout, stderr).
fn run(app: &App, args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("acmec").chain(args.iter().copied());
    let code = app.run(argv, &mut out, &mut err);
    (
        exit_code(code),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn acme() -> App {
    App::new("acmec", "2.1.0")
        .about("Acme's dataflow compiler")
        .command(
            clap::Command::new("hello")
                .about("Greets someone")
                .arg(clap::Arg::new("who").required(true)),
            |args, io| {
                let who = args.get_one::<String>("who").unwrap();
                if who == "nobody" {
                    return Err("nobody to greet".to_owned());
                }
                writeln!(
                    io.out,
                    "hello, {who} ({} plugins, colour {})",
                    io.registry.plugins().len(),
                    io.colour
                )
                .map_err(|e| e.to_string())
            },
        )
}

#[test]
fn the_host_names_and_versions_its_binary() {
    let (code, out, _) = run(&acme(), &["--version"]);
    assert_eq!((code, out.as_str()), (0, "acmec 2.1.0\n"));
    let (code, out, _) = run(&acme(), &["--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Acme's dataflow compiler"), "{out}");
    assert!(out.contains("Usage: acmec"), "{out}");
    // Its own commands are listed beside brainsmith-core's.
    assert!(
        out.contains("hello") && out.contains("Greets someone"),
        "{out}"
    );
    assert!(
        out.contains("plugins") && out.contains("transform"),
        "{out}"
    );
    // The macro takes the calling crate's package name and version.
    let (_, out, _) = run(&brainsmith_core::cli::app!(), &["--version"]);
    assert_eq!(
        out,
        format!("brainsmith-tests {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn host_commands_run_with_the_registry_and_fail_cleanly() {
    let (code, out, err) = run(&acme(), &["hello", "world"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.starts_with("hello, world ("), "{out}");
    assert!(out.ends_with("colour false)\n"), "{out}");
    let (code, out, err) = run(&acme(), &["hello", "nobody"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "error: nobody to greet\n")
    );
    let (code, _, err) = run(&acme(), &["hello"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("<who>"), "{err}");
    // brainsmith-core's commands still work under the host's name.
    let (code, out, _) = run(&acme(), &["plugins", "--kind", "step", "--verbose"]);
    assert_eq!(code, 0);
    assert!(out.contains("cleanup"), "{out}");
}

#[test]
fn a_host_command_may_not_shadow_a_builtin() {
    let app = acme().command(clap::Command::new("plugins"), |_, _| Ok(()));
    let (code, out, err) = run(&app, &["hello", "world"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("`plugins` twice"), "{err}");
    assert!(err.contains("rename"), "{err}");
}

#[test]
fn colour_only_when_asked_for() {
    const ESC: char = '\u{1b}';
    // Into a buffer (not a terminal): plain, in help and in usage errors.
    let (_, out, _) = run(&acme(), &["--help"]);
    assert!(!out.contains(ESC));
    let (code, _, err) = run(&acme(), &["hello", "--bogus"]);
    assert_eq!(code, 2);
    assert!(!err.contains(ESC), "{err:?}");
    // `--color always` forces it, for clap and for the host's command.
    let (_, _, err) = run(&acme(), &["--color", "always", "hello", "--bogus"]);
    assert!(err.contains(ESC), "{err:?}");
    let (_, out, _) = run(&acme(), &["hello", "world", "--color=always"]);
    assert!(out.ends_with("colour true)\n"), "{out}");
    let (_, out, _) = run(&acme(), &["--color", "never", "hello", "world"]);
    assert!(out.ends_with("colour false)\n"), "{out}");
    let (code, _, err) = run(&acme(), &["--color", "sometimes", "plugins"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("possible values: auto, always, never"),
        "{err}"
    );
}
