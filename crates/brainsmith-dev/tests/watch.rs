//! `brainsmith-dev watch` as a user runs it: on the repository's acme compiler, on a copy
//! of it that the test edits while it watches, and on workspaces it must refuse.
//!
//! Every build shares the target directory of the test's own build, so the standard
//! plugins and brainsmith-core are compiled once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use brainsmith_core::manifest::Manifest;

/// Long enough for a cold build of the acme compiler on a busy two-core machine.
const PATIENCE: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The target directory this test was built in: `CARGO_TARGET_DIR` when absolute, else
/// where the tool's binary sits (`<target>/debug/brainsmith-dev`), since a relative one
/// would be read from another directory by the builds the tool starts.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => Path::new(env!("CARGO_BIN_EXE_brainsmith-dev"))
            .ancestors()
            .nth(2)
            .unwrap()
            .to_owned(),
    }
}

fn dev(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brainsmith-dev"));
    command
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The rows of a counts table as words, for comparisons that ignore column widths.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn once_shows_the_acme_compilers_counts() {
    let repo = repo();
    let output = dev(&[
        "watch",
        "--once",
        "--manifest-path",
        repo.to_str().unwrap(),
        "--bin",
        "acme-compiler",
    ])
    .output()
    .unwrap();
    let (out, err) = text(&output);
    assert!(output.status.success(), "{out}\n{err}");
    assert!(
        out.starts_with("build 1 of acme-compiler: ok, "),
        "{out}\n{err}"
    );
    assert!(!out.contains('\x1b'), "no colour when piped:\n{out}");
    let shown = rows(&out);
    assert!(
        shown.contains(&rows("acme 1 1 2 1 5")[0]),
        "acme's row: 1 transform, 1 kernel, 2 backends, 1 step:\n{out}"
    );
    // The committed manifest of the workspace holds the same plugins (xtask links what the
    // acme compiler links): each of its rows, by source and in total, is on screen.
    let committed = Manifest::load(repo.join("plugins.json")).unwrap();
    for row in rows(&brainsmith_dev::report::counts(&committed)) {
        assert!(shown.contains(&row), "row {row:?} missing:\n{out}");
    }
    assert!(
        out.contains(&format!(", {} plugins in ", committed.plugins.len())),
        "{out}"
    );
}

/// A workspace in a temporary directory: the acme crates copied, the root `Cargo.toml`
/// the repository's with its paths pointing back at the repository's crates, and its
/// `Cargo.lock`, so that the dependencies resolve (offline) to what is already built.
fn acme_copy() -> tempfile::TempDir {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    for name in ["acme-plugins", "acme-compiler"] {
        copy_tree(&repo.join("examples").join(name), &dir.path().join(name));
    }
    let root = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    let start = root.find("members = [").unwrap();
    let end = start + root[start..].find(']').unwrap() + 1;
    let root = format!(
        "{}members = [\"acme-plugins\", \"acme-compiler\"]{}",
        &root[..start],
        &root[end..]
    )
    .lines()
    .filter(|l| !l.starts_with("default-members"))
    .collect::<Vec<_>>()
    .join("\n")
    .replace(
        "path = \"crates/",
        &format!("path = \"{}/crates/", repo.display()),
    )
    .replace(
        "path = \"examples/acme-plugins\"",
        "path = \"acme-plugins\"",
    );
    std::fs::write(dir.path().join("Cargo.toml"), root).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_dir() {
            if name != "target" && name != "tests" {
                copy_tree(&entry.path(), &to.join(&name));
            }
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The watcher's stdout, line by line, with what it said so far for failure messages.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
    seen: String,
    deadline: Instant,
}

impl Watcher {
    fn start(workspace: &Path, args: &[&str]) -> Watcher {
        let mut child = dev(&[
            &["watch", "--manifest-path", workspace.to_str().unwrap()],
            args,
        ]
        .concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let (send, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let err_send = send.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_send.send(format!("stderr: {line}"));
            }
        });
        Watcher {
            child,
            lines,
            seen: String::new(),
            deadline: Instant::now() + PATIENCE,
        }
    }

    /// Reads lines until one satisfies `done`; everything read since the last call.
    fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let mut read = String::new();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    read.push_str(&line);
                    read.push('\n');
                    if done(&line) {
                        return read;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "timed out waiting for {what}; the watcher said:\n{}",
                        self.seen
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the watcher ended before {what}; it said:\n{}", self.seen)
                }
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Only a failed test gets here with the watcher still running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_shows_an_added_transform_then_the_compile_error_and_stops() {
    let dir = acme_copy();
    let mut watcher = Watcher::start(dir.path(), &["--max-builds", "3"]);
    // One candidate: the acme compiler is chosen without --bin.
    let first = watcher.until("the first build", |l| l.starts_with("build 1 of"));
    assert!(
        first.contains("build 1 of acme-compiler: ok"),
        "{}",
        watcher.seen
    );
    watcher.until("the watch to start", |l| l.starts_with("watching "));

    let infer = dir.path().join("acme-plugins/src/infer.rs");
    let source = std::fs::read_to_string(&infer).unwrap();
    std::fs::write(
        &infer,
        format!(
            "{source}\n/// A transform added while watching.\n\
             #[transform(stage = cleanup)]\n\
             #[derive(Default)]\n\
             pub struct NewThing;\n\n\
             impl Transform for NewThing {{\n    \
             fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {{\n        \
             Ok(false)\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let second = watcher.until("the second build's report", |l| {
        l.starts_with("watching ") || l.starts_with("stderr:")
    });
    assert!(
        second.contains("build 2 of acme-compiler (acme-plugins/src/infer.rs changed): ok"),
        "{}",
        watcher.seen
    );
    assert!(
        second
            .lines()
            .any(|l| l.trim_start().starts_with("added") && l.contains("transform acme:NewThing")),
        "{}",
        watcher.seen
    );
    assert!(second.contains("since build 1:"), "{}", watcher.seen);

    std::fs::write(
        &infer,
        format!("{source}\nfn broken() -> u32 {{ this_name_is_not_defined }}\n"),
    )
    .unwrap();
    let third = watcher.until("the compile error", |l| {
        l.starts_with("the registry is still") || l.starts_with("stderr:")
    });
    assert!(
        third.contains("build 3 of acme-compiler"),
        "{}",
        watcher.seen
    );
    assert!(third.contains(": failed in "), "{}", watcher.seen);
    assert!(
        third.contains("cannot find value `this_name_is_not_defined`"),
        "{}",
        watcher.seen
    );
    assert!(
        third.contains("acme-plugins/src/infer.rs"),
        "{}",
        watcher.seen
    );
    assert!(
        third.contains("the registry is still build 2's: "),
        "{}",
        watcher.seen
    );
    // Three builds: the watcher stops, with the last build's failure.
    let status = watcher.child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", watcher.seen);
}

/// A workspace of one binary that depends on brainsmith-core, with `main` as given.
fn one_binary(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"liar\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nbrainsmith-core = {{ path = \"{}/crates/brainsmith-core\" }}\n\n\
             [workspace]\n",
            repo().display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("src/main.rs"), main).unwrap();
    std::fs::copy(repo().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    dir
}

#[test]
fn a_binary_that_prints_no_manifest_is_one_clear_error() {
    let dir = one_binary(
        "use brainsmith_core as _;\nfn main() { println!(\"{{\\\"not\\\": \\\"a manifest\\\"}}\"); }\n",
    );
    let output = dev(&[
        "watch",
        "--once",
        "--manifest-path",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("build 1 of liar: failed"), "{out}\n{err}");
    assert!(
        out.contains("`liar manifest --format json` printed no manifest this tool can read"),
        "{out}\n{err}"
    );
    assert!(out.contains("no build has succeeded yet"), "{out}\n{err}");
}

#[test]
fn workspaces_without_a_compiler_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = dev(args).current_dir(dir.path()).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let (out, err) = text(&output);
        assert!(out.is_empty(), "{out}");
        assert!(err.starts_with("error: "), "{err}");
        err
    };
    let err = run(&["watch", "--once"]);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: no Cargo.toml in the current directory"),
        "{err}"
    );
    let err = run(&["watch", "--once", "--manifest-path", "missing/Cargo.toml"]);
    assert!(
        err.contains("--manifest-path missing/Cargo.toml: no such file"),
        "{err}"
    );
    // A package with no binary that depends on brainsmith-core.
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    let err = run(&["watch", "--once"]);
    assert!(
        err.contains("no binary of the workspace at")
            && err.contains("depends on brainsmith-core")
            && err.contains("brainsmith_core::cli::app!().main()"),
        "{err}"
    );
    let err = run(&["watch", "--once", "--bin", "other"]);
    assert!(err.contains("--bin other: no such binary"), "{err}");
    // Not a Cargo.toml cargo can read.
    std::fs::write(dir.path().join("Cargo.toml"), "[package\n").unwrap();
    let err = run(&["watch", "--once"]);
    assert!(
        err.contains("is not a Cargo workspace cargo can read"),
        "{err}"
    );
}
