//! Repository hygiene checks that run as tests.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::util::workspace_root;

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() && name != "target" && name != "ui" && !name.starts_with('.') {
                sources(&path, out);
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }

    /// Every module of the project starts with a `//!` doc saying what it is for
    /// (generated files after their header; UI cases are exempt, they are inputs).
    #[test]
    fn every_module_has_a_doc_comment() {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in ["crates", "examples", "tests", "xtask"] {
            sources(&root.join(dir), &mut files);
        }
        assert!(files.len() > 40, "found only {} files", files.len());
        let missing: Vec<String> = files
            .iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                !text
                    .lines()
                    .find(|l| !l.starts_with("// ") && !l.trim().is_empty())
                    .is_some_and(|l| l.starts_with("//!"))
            })
            .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "modules without a `//!` doc: {missing:?}"
        );
    }
}
