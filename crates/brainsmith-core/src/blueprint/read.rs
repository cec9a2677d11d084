//! Reading a blueprint: TOML with positions, its structure checked, `extends` followed.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use crate::suggest::{self, QUOTED, shorten};

use super::*;

const TOP_KEYS: &[&str] = &[
    "extends", "disable", "steps", "stages", "kernels", "explore",
];
const EXPLORE_KEYS: &[&str] = &["target_cycles", "prefer"];
/// The backend preferences a design-space exploration can try.
const PREFERENCES: &[&str] = &["hls", "rtl", "blueprint"];
const KERNEL_KEYS: &[&str] = &["kernel", "config", "backends"];
const BACKEND_KEYS: &[&str] = &["backend", "config"];
const TRANSFORM_KEYS: &[&str] = &["transform", "config", "repeat"];
const STEP_KEYS: &[&str] = &["step", "config", "stage"];

/// A file being read: its path, text and spans.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
}

impl<'a> Source<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        Source {
            path,
            text,
            lines: LineIndex::new(text),
        }
    }

    fn at(&self, offset: usize) -> Position {
        let (line, column) = self.lines.locate(self.text, offset);
        Position {
            file: self.path.to_owned(),
            line,
            column,
        }
    }

    fn problem(&self, offset: usize, message: impl Into<String>) -> Problem {
        Problem {
            at: self.at(offset),
            message: message.into(),
        }
    }
}

/// Where each line of a text starts and how many characters precede every block of it,
/// computed once per text: locating an offset is then a binary search and a count within
/// one block, whatever the text's size (counting from the start for every entry made
/// checking quadratic in the blueprint's size).
struct LineIndex {
    /// The byte offset of each line's first byte: 0, then one past every `\n`.
    starts: Vec<usize>,
    /// `chars[i]`: how many characters the text has before byte `i * CHAR_BLOCK`.
    chars: Vec<usize>,
}

/// Bytes per entry of `LineIndex::chars`.
const CHAR_BLOCK: usize = 1024;

impl LineIndex {
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let starts = std::iter::once(0)
            .chain(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        let mut chars = Vec::with_capacity(bytes.len() / CHAR_BLOCK + 1);
        let mut count = 0;
        for block in bytes.chunks(CHAR_BLOCK) {
            chars.push(count);
            count += char_starts(block);
        }
        chars.push(count);
        LineIndex { starts, chars }
    }

    /// The 1-based line and column of byte `offset` (clamped to the text). A line ends at
    /// `\n`, so a `\r` before it is the line's last character; columns count characters
    /// (Unicode scalar values), not bytes; the offset just after the last newline is
    /// column 1 of the line after it.
    fn locate(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        // The last line starting at or before `offset`; `starts[0] == 0` so one always does.
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        (
            line,
            self.chars_before(text, offset) - self.chars_before(text, start) + 1,
        )
    }

    /// How many characters precede byte `offset`.
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        let block = offset / CHAR_BLOCK;
        self.chars[block] + char_starts(&text.as_bytes()[block * CHAR_BLOCK..offset])
    }
}

/// How many characters start in `bytes`: every byte but UTF-8's continuation bytes.
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl Blueprint {
    /// Reads `path` and the files it extends; every problem of their structure (TOML
    /// syntax, unknown keys, values of the wrong form, a cycle of `extends`) at once.
    pub fn load(path: &Path) -> Result<Blueprint, BlueprintError> {
        let mut problems = Vec::new();
        let mut chain = Vec::new();
        let blueprint = load_file(path, &mut chain, &mut problems);
        if problems.is_empty() {
            Ok(blueprint)
        } else {
            Err(BlueprintError { problems })
        }
    }
}

pub(super) fn load_file(
    path: &Path,
    chain: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Blueprint {
    let whole = Position {
        file: path.to_owned(),
        line: 1,
        column: 1,
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    if chain.contains(&canonical) {
        let cycle: Vec<String> = chain
            .iter()
            .chain([&canonical])
            .map(|p| p.display().to_string())
            .collect();
        problems.push(Problem {
            at: whole,
            message: format!("`extends` makes a cycle: {}", cycle.join(" -> ")),
        });
        return Blueprint::default();
    }
    let read = crate::fsutil::read_input(path, crate::fsutil::BLUEPRINT_LIMIT, "a blueprint")
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "it is not UTF-8 text (byte {} is not), as TOML must be",
                        e.utf8_error().valid_up_to() + 1
                    ),
                )
            })
        });
    let text = match read {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem {
                at: whole,
                message: format!("cannot read the blueprint: {e}"),
            });
            return Blueprint::default();
        }
    };
    let source = Source::new(path, &text);
    let (table, values) = match (DeTable::parse(&text), text.parse::<Table>()) {
        (Ok(table), Ok(values)) => (table, values),
        (Err(e), _) => {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(source.problem(offset, format!("not valid TOML: {}", e.message())));
            return Blueprint::default();
        }
        (_, Err(e)) => {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(source.problem(offset, format!("not valid TOML: {}", e.message())));
            return Blueprint::default();
        }
    };
    let table = table.get_ref();
    for (key, _) in table.iter() {
        if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
            problems.push(unknown_key(&source, key, TOP_KEYS, "a blueprint"));
        }
    }
    chain.push(canonical);
    let mut blueprint = match (table.get("extends"), values.get("extends")) {
        (Some(spanned), Some(Value::String(base))) => {
            let base = path.parent().unwrap_or(Path::new(".")).join(base);
            if base.exists() {
                load_file(&base, chain, problems)
            } else {
                problems.push(source.problem(
                    spanned.span().start,
                    format!("`extends` names {}, which does not exist", base.display()),
                ));
                Blueprint::default()
            }
        }
        (Some(spanned), Some(_)) => {
            problems.push(source.problem(
                spanned.span().start,
                "`extends` takes the path of a blueprint, relative to this file",
            ));
            Blueprint::default()
        }
        _ => Blueprint::default(),
    };
    chain.pop();
    if let Some(disable) = table.get("disable") {
        read_disable(&source, disable, &mut blueprint.disable, problems);
    }
    if let Some(steps) = table.get("steps") {
        blueprint.steps = read_steps(&source, steps, values.get("steps"), problems);
    }
    if let Some(kernels) = table.get("kernels") {
        blueprint.kernels = Some(read_kernels(
            &source,
            kernels,
            values.get("kernels"),
            problems,
        ));
    }
    if let Some(explore) = table.get("explore") {
        blueprint.explore = Some(read_explore(
            &source,
            explore,
            values.get("explore"),
            problems,
        ));
    }
    if let Some(stages) = table.get("stages") {
        match stages.get_ref() {
            DeValue::Table(stages) => {
                for (stage, list) in stages.iter() {
                    let plain = values
                        .get("stages")
                        .and_then(|s| s.get(stage.get_ref().as_ref()));
                    let entries = read_transforms(&source, stage.get_ref(), list, plain, problems);
                    blueprint.stages.insert(
                        stage.get_ref().to_string(),
                        (source.at(stage.span().start), entries),
                    );
                }
            }
            _ => problems.push(source.problem(
                stages.span().start,
                "`stages` is a table: `[stages]` then `cleanup = [\"Transform\", ...]`",
            )),
        }
    }
    blueprint
}

/// `disable`: patterns of plugins the build does without, added to the base's.
fn read_disable(
    source: &Source<'_>,
    spanned: &Spanned<DeValue<'_>>,
    into: &mut Vec<DisableEntry>,
    problems: &mut Vec<Problem>,
) {
    let form = "`disable` is a list of plugin patterns: [\"source:Name\", \"source:*\"]";
    let DeValue::Array(items) = spanned.get_ref() else {
        problems.push(source.problem(spanned.span().start, form));
        return;
    };
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(pattern) => into.push(DisableEntry {
                pattern: pattern.to_string(),
                at: source.at(item.span().start),
            }),
            _ => problems.push(source.problem(item.span().start, form)),
        }
    }
}

/// `[explore]`: the branch points of a design-space exploration.
fn read_explore(
    source: &Source<'_>,
    spanned: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Explore {
    let at = source.at(spanned.span().start);
    let mut explore = Explore {
        target_cycles: Vec::new(),
        prefer: Vec::new(),
        at: at.clone(),
    };
    let DeValue::Table(table) = spanned.get_ref() else {
        problems.push(source.problem(
            spanned.span().start,
            "`explore` is a table: [explore] target_cycles = [500, 1000], prefer = [\"hls\", \"rtl\"]",
        ));
        return explore;
    };
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        let offset = value.span().start;
        let items = plain.and_then(|p| p.get(name)).and_then(Value::as_array);
        match name {
            "target_cycles" => match items {
                Some(list) if !list.is_empty() => {
                    for v in list {
                        match v.as_integer() {
                            Some(c) if c >= 1 => explore.target_cycles.push(c as u64),
                            _ => problems.push(source.problem(
                                offset,
                                format!(
                                    "`explore.target_cycles` holds cycles per frame, whole \
                                     numbers of at least 1, not {v}"
                                ),
                            )),
                        }
                    }
                }
                _ => problems.push(source.problem(
                    offset,
                    "`explore.target_cycles` is a non-empty list of cycles per frame: [500, 1000]",
                )),
            },
            "prefer" => match items {
                Some(list) if !list.is_empty() => {
                    for v in list {
                        match v.as_str() {
                            Some(p) if PREFERENCES.contains(&p) => {
                                explore.prefer.push(p.to_owned());
                            }
                            _ => problems.push(source.problem(
                                offset,
                                format!(
                                    "`explore.prefer` lists backend preferences, each one of \
                                     \"hls\", \"rtl\" (that language's backends first) or \
                                     \"blueprint\" (the blueprint's own order), not {v}"
                                ),
                            )),
                        }
                    }
                }
                _ => problems.push(source.problem(
                    offset,
                    "`explore.prefer` is a non-empty list: [\"hls\", \"rtl\"]",
                )),
            },
            _ => problems.push(unknown_key(source, key, EXPLORE_KEYS, "`explore`")),
        }
    }
    explore
}

fn unknown_key(
    source: &Source<'_>,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    valid: &[&str],
    what: &str,
) -> Problem {
    let name = key.get_ref().as_ref();
    source.problem(
        key.span().start,
        format!(
            "unknown key '{}' in {what}{} (keys: {})",
            shorten(name, QUOTED),
            suggest::did_you_mean(name, valid.iter().copied()),
            valid.join(", ")
        ),
    )
}

/// The entries of `steps`: `steps` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_steps(
    source: &Source<'_>,
    steps: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<StepEntry> {
    let DeValue::Array(items) = steps.get_ref() else {
        problems.push(source.problem(
            steps.span().start,
            "`steps` is a list: [\"cleanup\", { stage = \"topology_opt\" }, ...]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(StepEntry::Step {
                name: name.to_string(),
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !STEP_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, STEP_KEYS, "a step"));
                    }
                }
                let config = match t.get("config") {
                    None => Table::new(),
                    Some(spanned) => match plain.and_then(|p| p.get(i)?.get("config")) {
                        Some(Value::Table(table)) if t.contains_key("step") => table.clone(),
                        Some(Value::Table(_)) => {
                            problems.push(source.problem(
                                spanned.span().start,
                                "`config` belongs to a step; a stage's transforms take theirs \
                                 in `[stages]`",
                            ));
                            Table::new()
                        }
                        _ => {
                            problems.push(source.problem(
                                spanned.span().start,
                                "`config` is a table: config = { key = value, ... }",
                            ));
                            Table::new()
                        }
                    },
                };
                match (string(t, "step"), string(t, "stage")) {
                    (Some(name), None) => entries.push(StepEntry::Step { name, config, at }),
                    (None, Some(stage)) => entries.push(StepEntry::Stage { stage, at }),
                    _ => problems.push(Problem {
                        at,
                        message: "a step is `{ step = \"name\", config = { ... } }` or \
                                  `{ stage = \"name\" }`"
                            .into(),
                    }),
                }
            }
            _ => problems.push(Problem {
                at,
                message: "a step is a name or `{ stage = \"name\" }`".into(),
            }),
        }
    }
    entries
}

/// The entries of `kernels`: `list` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_kernels(
    source: &Source<'_>,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<KernelEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            "`kernels` is a list: [\"Kernel\", { kernel = \"Name\", config = { ... } }, ...]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        let plain = plain.and_then(|p| p.get(i));
        match item.get_ref() {
            DeValue::String(name) => entries.push(KernelEntry {
                name: name.to_string(),
                config: Table::new(),
                backends: None,
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !KERNEL_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, KERNEL_KEYS, "a kernel entry"));
                    }
                }
                let config = read_config(source, t, plain, problems);
                let backends = t.get("backends").map(|list| {
                    read_backends(
                        source,
                        list,
                        plain.and_then(|p| p.get("backends")),
                        problems,
                    )
                });
                let Some(name) = string(t, "kernel") else {
                    problems.push(Problem {
                        at,
                        message: "a kernel entry needs `kernel = \"Name\"`".into(),
                    });
                    continue;
                };
                entries.push(KernelEntry {
                    name,
                    config,
                    backends,
                    at,
                });
            }
            _ => problems.push(Problem {
                at,
                message: "a kernel is a name or `{ kernel = \"Name\", config = { ... } }`".into(),
            }),
        }
    }
    entries
}

/// The `backends` of a kernel entry.
fn read_backends(
    source: &Source<'_>,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<BackendEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            "`backends` is a list: [\"Backend\", { backend = \"Name\", config = { ... } }]",
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(BackendEntry {
                name: name.to_string(),
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !BACKEND_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(source, key, BACKEND_KEYS, "a backend entry"));
                    }
                }
                let config = read_config(source, t, plain.and_then(|p| p.get(i)), problems);
                match string(t, "backend") {
                    Some(name) => entries.push(BackendEntry { name, config, at }),
                    None => problems.push(Problem {
                        at,
                        message: "a backend entry needs `backend = \"Name\"`".into(),
                    }),
                }
            }
            _ => problems.push(Problem {
                at,
                message: "a backend is a name or `{ backend = \"Name\", config = { ... } }`".into(),
            }),
        }
    }
    entries
}

/// The `config` table of an entry (`plain` is the entry without spans); empty when absent.
fn read_config(
    source: &Source<'_>,
    entry: &DeTable<'_>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Table {
    let Some(spanned) = entry.get("config") else {
        return Table::new();
    };
    match plain.and_then(|p| p.get("config")) {
        Some(Value::Table(table)) => table.clone(),
        _ => {
            problems.push(source.problem(
                spanned.span().start,
                "`config` is a table: config = { key = value, ... }",
            ));
            Table::new()
        }
    }
}

fn string(table: &DeTable<'_>, key: &str) -> Option<String> {
    match table.get(key)?.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The transforms of `stage`: `list` for where things are, `plain` (the same list without
/// spans) for the configuration values.
fn read_transforms(
    source: &Source<'_>,
    stage: &str,
    list: &Spanned<DeValue<'_>>,
    plain: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<TransformEntry> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(source.problem(
            list.span().start,
            format!(
                "stage '{0}' takes a list of transforms: {0} = [\"Transform\", ...]",
                shorten(stage, QUOTED)
            ),
        ));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = source.at(item.span().start);
        match item.get_ref() {
            DeValue::String(name) => entries.push(TransformEntry {
                name: name.to_string(),
                repeat: false,
                config: Table::new(),
                at,
            }),
            DeValue::Table(t) => {
                for (key, _) in t.iter() {
                    if !TRANSFORM_KEYS.contains(&key.get_ref().as_ref()) {
                        problems.push(unknown_key(
                            source,
                            key,
                            TRANSFORM_KEYS,
                            "a transform entry",
                        ));
                    }
                }
                let Some(name) = string(t, "transform") else {
                    problems.push(Problem {
                        at,
                        message: "a transform entry needs `transform = \"Name\"`".into(),
                    });
                    continue;
                };
                let repeat = match t.get("repeat").map(Spanned::get_ref) {
                    None => false,
                    Some(DeValue::Boolean(b)) => *b,
                    Some(_) => {
                        problems.push(Problem {
                            at: at.clone(),
                            message: "`repeat` is true or false".into(),
                        });
                        false
                    }
                };
                let config = read_config(source, t, plain.and_then(|p| p.get(i)), problems);
                entries.push(TransformEntry {
                    name,
                    repeat,
                    config,
                    at,
                });
            }
            _ => problems.push(Problem {
                at,
                message: "a transform is a name or `{ transform = \"Name\", config = { ... } }`"
                    .into(),
            }),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the index replaced: count from the start of the text.
    fn by_counting(text: &str, offset: usize) -> (usize, usize) {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    }

    #[test]
    fn offsets_map_to_lines_and_columns_in_characters() {
        let text = "ab\r\nçé = \"日本\"\n\nlast";
        let index = LineIndex::new(text);
        let at = |offset| index.locate(text, offset);
        assert_eq!(at(0), (1, 1), "the first character");
        assert_eq!(at(2), (1, 3), "a CR is the line's last character");
        assert_eq!(at(4), (2, 1), "after CRLF, the next line");
        // `é` is 2 bytes and `日` 3, but one column each.
        let e = text.find('é').unwrap();
        assert_eq!(at(e), (2, 2));
        assert_eq!(at(text.find('本').unwrap()), (2, 8));
        assert_eq!(at(text.find("\n\n").unwrap() + 1), (3, 1), "an empty line");
        assert_eq!(at(text.find("last").unwrap()), (4, 1));
        assert_eq!(at(text.len()), (4, 5), "the end of the text");
        assert_eq!(at(text.len() + 10), (4, 5), "past the end: clamped");
        let ends_with_newline = "a\n";
        let index = LineIndex::new(ends_with_newline);
        assert_eq!(
            index.locate(ends_with_newline, 2),
            (2, 1),
            "after the last newline"
        );
        assert_eq!(LineIndex::new("").locate("", 0), (1, 1), "an empty text");
    }

    #[test]
    fn the_index_agrees_with_counting_everywhere_across_blocks() {
        // Lines of every length around the block size, multi-byte characters straddling
        // block boundaries, CRLF and LF.
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&"x".repeat(i * 97 % 2500));
            text.push_str(if i % 3 == 0 { "é日\r\n" } else { "\n" });
        }
        text.push_str("tail ü");
        let index = LineIndex::new(&text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            assert_eq!(
                index.locate(&text, offset),
                by_counting(&text, offset),
                "offset {offset}"
            );
        }
    }
}
