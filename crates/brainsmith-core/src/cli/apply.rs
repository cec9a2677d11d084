//! The `--apply` list: `InferShapes,RemoveIdentityOps(tolerance = 1e-5),FoldConstants`.
//!
//! Items are separated by commas outside parentheses, brackets and quotes; an item is a
//! transform name (short or qualified), optionally followed by its configuration in
//! parentheses, written as the inside of a TOML inline table (exactly one: a `}` cannot end
//! it early and leave text unchecked). Every problem of every item
//! (an unknown name, unbalanced parentheses, bad TOML, a configuration the transform
//! rejects) is reported at once, before the model is read.

use crate::pipeline::Planned;
use crate::registry::Registry;
use crate::suggest::{QUOTED, shorten, shorten_in};

/// One item of the list, as written.
#[derive(Debug, PartialEq)]
struct Item<'a> {
    name: &'a str,
    config: Option<&'a str>,
}

/// Splits `spec` at the commas that separate items.
fn split(spec: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let mut chars = spec.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "`{}`: unbalanced `{c}` at column {}",
                        shorten(spec, QUOTED),
                        i + 1
                    ));
                }
            }
            (None, ',') if depth == 0 => {
                items.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(format!(
            "`{}`: a quoted string is not closed",
            shorten(spec, QUOTED)
        ));
    }
    if depth > 0 {
        return Err(format!(
            "`{}`: a parenthesis is not closed",
            shorten(spec, QUOTED)
        ));
    }
    items.push(&spec[start..]);
    Ok(items)
}

/// Reads one item: `Name` or `Name(key = value, ...)`.
fn item(text: &str) -> Result<Item<'_>, String> {
    let text = text.trim();
    let Some(open) = text.find('(') else {
        return Ok(Item {
            name: text,
            config: None,
        });
    };
    let Some(inner) = text[open + 1..].strip_suffix(')') else {
        return Err(format!(
            "`{}`: text after the configuration's closing parenthesis; \
             write `Name(key = value, ...)`",
            shorten(text, QUOTED)
        ));
    };
    Ok(Item {
        name: text[..open].trim(),
        config: Some(inner),
    })
}

/// Parses the inside of an inline table: `{` + `inner` + `}` must be exactly one TOML
/// inline table and nothing else, so a `}` inside `inner` cannot close the table early and
/// leave text after it unchecked.
fn config(name: &str, inner: &str) -> Result<toml::Table, String> {
    let braced = format!("{{{inner}}}");
    let problem = |what: String| {
        format!(
            "the configuration of `{}` is not a TOML inline table's contents \
             (`key = value, ...`; strings in quotes): {what}",
            shorten(name, QUOTED)
        )
    };
    match braced.parse::<toml::Value>() {
        Ok(toml::Value::Table(table)) => Ok(table),
        Ok(other) => Err(problem(format!("it reads as a {}", other.type_str()))),
        Err(e) => {
            // Where in `inner` (the span is in `braced`, one byte further on).
            let at = e
                .span()
                .map_or(0, |s| s.start.saturating_sub(1))
                .min(inner.len());
            let at = (0..=at)
                .rev()
                .find(|&i| inner.is_char_boundary(i))
                .unwrap_or(0);
            let rest = &inner[at..];
            let near = if rest.trim().is_empty() {
                "at its end".to_owned()
            } else {
                let excerpt: String = rest.chars().take(30).collect();
                let more = if excerpt.len() < rest.len() {
                    "…"
                } else {
                    ""
                };
                format!(
                    "at column {} (`{}{more}`)",
                    inner[..at].chars().count() + 1,
                    excerpt.escape_debug()
                )
            };
            Err(problem(format!("{} {near}", e.message().trim_end())))
        }
    }
}

/// Resolves and configures every item of the `--apply` values; all problems at once.
pub(super) fn plan<'r>(
    registry: &'r Registry,
    specs: &[String],
) -> Result<Vec<Planned<'r>>, String> {
    let mut planned = Vec::new();
    let mut errors = Vec::new();
    for spec in specs {
        let items = match split(spec) {
            Ok(items) => items,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for text in items.into_iter().filter(|t| !t.trim().is_empty()) {
            let it = match item(text) {
                Ok(it) => it,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let transform = match registry.transform(it.name) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(shorten_in(e.to_string(), it.name));
                    continue;
                }
            };
            let table = match it.config.map(|c| config(it.name, c)).transpose() {
                Ok(t) => t.unwrap_or_default(),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match transform.configure(&table) {
                Ok(instance) => planned.push(Planned {
                    transform,
                    instance,
                    repeat: false,
                }),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\nerror: "));
    }
    if planned.is_empty() {
        return Err(
            "--apply names no transform; list them comma-separated, e.g. \
                    --apply InferShapes,FoldConstants"
                .into(),
        );
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_inside_configurations_do_not_split() {
        assert_eq!(
            split(r#"A,B(x = 1, y = [2, 3]),C(s = "a,)b"),D"#).unwrap(),
            ["A", "B(x = 1, y = [2, 3])", r#"C(s = "a,)b")"#, "D"]
        );
        assert!(split("A(x = 1").unwrap_err().contains("not closed"));
        assert!(
            split("A)")
                .unwrap_err()
                .contains("unbalanced `)` at column 2")
        );
        assert!(split(r#"A(s = "x)"#).unwrap_err().contains("quoted string"));
    }

    #[test]
    fn an_item_is_a_name_and_an_optional_configuration() {
        assert_eq!(
            item(" RemoveIdentityOps(tolerance = 1e-5) ").unwrap(),
            Item {
                name: "RemoveIdentityOps",
                config: Some("tolerance = 1e-5")
            }
        );
        assert_eq!(item("A").unwrap().config, None);
        assert!(
            item("A(x = 1)y")
                .unwrap_err()
                .contains("after the configuration")
        );
        let t = config("A", r#"x = 1e-5, name = "n", flag = true"#).unwrap();
        assert_eq!(t["x"].as_float(), Some(1e-5));
        assert!(
            config("A", "x = ")
                .unwrap_err()
                .contains("configuration of `A`")
        );
    }

    #[test]
    fn a_configuration_cannot_close_its_table_early() {
        // `c = { }` then a second key: text after the early `}` went unchecked.
        let err = config("FoldConstants", "}\nx = { max_elements = -1").unwrap_err();
        assert!(err.contains("configuration of `FoldConstants`"), "{err}");
        assert!(
            err.contains(r"at column 2 (`\nx = { max_elements = -1`)"),
            "{err}"
        );
        for inner in [
            "a = 1 }, { b = 2",
            "a = 1 }\n[t]\nb = 2",
            "a = 1 } # c",
            "} + {",
        ] {
            let err = config("A", inner).unwrap_err();
            assert!(err.contains("configuration of `A`"), "{inner:?}: {err}");
        }
        // What an inline table may hold still reads.
        let t = config("A", "a = { b = 1 }, s = \"}\", c.d = 2,").unwrap();
        assert_eq!(t["a"]["b"].as_integer(), Some(1));
        assert_eq!(t["s"].as_str(), Some("}"));
        assert_eq!(t["c"]["d"].as_integer(), Some(2));
        assert!(config("A", "").unwrap().is_empty());
    }
}
