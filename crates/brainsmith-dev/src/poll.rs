//! Change detection by polling: the size and modification time of every watched file,
//! compared between scans. Portable, no dependency, and cheap at the size of a few crates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What is watched: whole directory trees, and single files.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watched {
    /// Walked recursively, skipping `target` and hidden directories.
    pub(crate) trees: Vec<PathBuf>,
    /// Watched whether they exist or not (a `build.rs` that appears counts).
    pub(crate) files: Vec<PathBuf>,
}

impl Watched {
    /// A crate directory's inputs to a build: `Cargo.toml`, `build.rs` and `src/`.
    pub(crate) fn add_crate(&mut self, dir: &Path) {
        self.files.push(dir.join("Cargo.toml"));
        self.files.push(dir.join("build.rs"));
        self.trees.push(dir.join("src"));
    }
}

/// The state of every watched file: size and modification time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot(BTreeMap<PathBuf, (u64, Option<SystemTime>)>);

impl Snapshot {
    /// Scans what `watched` names. Files that vanish between listing and reading are
    /// simply absent.
    pub(crate) fn scan(watched: &Watched) -> Snapshot {
        let mut files = BTreeMap::new();
        for file in &watched.files {
            if let Ok(meta) = std::fs::metadata(file) {
                files.insert(file.clone(), (meta.len(), meta.modified().ok()));
            }
        }
        for tree in &watched.trees {
            walk(tree, &mut files);
        }
        Snapshot(files)
    }

    /// Files added, removed or modified from `self` to `now`.
    pub(crate) fn changed<'a>(&'a self, now: &'a Snapshot) -> Vec<&'a Path> {
        let mut out: Vec<&Path> = now
            .0
            .iter()
            .filter(|(p, state)| self.0.get(*p) != Some(state))
            .map(|(p, _)| p.as_path())
            .collect();
        out.extend(
            self.0
                .keys()
                .filter(|p| !now.0.contains_key(*p))
                .map(PathBuf::as_path),
        );
        out
    }

    /// How many files are watched.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, Option<SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name != "target" && !name.starts_with('.') {
                walk(&path, out);
            }
        } else {
            out.insert(path, (meta.len(), meta.modified().ok()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_new_file_an_edit_and_a_removal_but_not_target() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("target")).unwrap();
        std::fs::write(src.join("lib.rs"), "a").unwrap();
        let mut watched = Watched::default();
        watched.add_crate(dir.path());
        let before = Snapshot::scan(&watched);
        assert_eq!(before.len(), 1);
        std::fs::write(src.join("target/x.rs"), "ignored").unwrap();
        assert!(before.changed(&Snapshot::scan(&watched)).is_empty());
        std::fs::write(src.join("lib.rs"), "ab").unwrap();
        std::fs::write(dir.path().join("build.rs"), "fn main() {}").unwrap();
        let after = Snapshot::scan(&watched);
        let changed = before.changed(&after);
        assert_eq!(changed.len(), 2, "{changed:?}");
        std::fs::remove_file(src.join("lib.rs")).unwrap();
        assert_eq!(
            after.changed(&Snapshot::scan(&watched)),
            [src.join("lib.rs")]
        );
    }
}
