//! Typed plugin configuration.
//!
//! A transform takes a configuration by deriving [`Config`] on its struct and saying so in
//! its attribute: each field is a key, its doc comment the key's documentation, and
//! `#[config(default = expr)]` its default (an `Option` field defaults to `None`; any
//! other field without a default is required). Values come from TOML (a blueprint, the
//! command line) and are read with `serde`, so a field may be of any `Deserialize` type.
//! `#[config(check = f)]` names a `fn(&T) -> Result<(), String>` that a value of the right
//! type must also pass (a range, a pattern): its refusal is a problem like any other, so
//! `brainsmith blueprint check` reports it before anything runs.
//!
//! ```
//! use brainsmith_core::prelude::*;
//!
//! /// Removes nodes whose constant operand is within `tolerance` of the identity.
//! #[transform(stage = cleanup, config)]
//! #[derive(Config)]
//! pub struct RemoveNearIdentities {
//!     /// Largest distance from 0 (or 1) still taken for it.
//!     #[config(default = 0.0)]
//!     pub tolerance: f64,
//!     /// Op types to leave alone.
//!     pub keep: Option<Vec<String>>,
//!     /// How many passes to make, at least one.
//!     #[config(default = 1, check = at_least_one)]
//!     pub passes: u32,
//! }
//!
//! fn at_least_one(n: &u32) -> Result<(), String> {
//!     if *n >= 1 { Ok(()) } else { Err(format!("{n} passes do nothing; give at least 1")) }
//! }
//!
//! impl Transform for RemoveNearIdentities {
//!     fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
//!         Ok(self.tolerance > 0.0)
//!     }
//! }
//!
//! let keys: Vec<&str> = RemoveNearIdentities::FIELDS.iter().map(|f| f.name).collect();
//! assert_eq!(keys, ["tolerance", "keep", "passes"]);
//! let table: toml::Table = toml::from_str("tolerance = 1e-6").unwrap();
//! assert_eq!(RemoveNearIdentities::from_table(&table).unwrap().tolerance, 1e-6);
//! let typo: toml::Table = toml::from_str("tolerence = 1e-6").unwrap();
//! let problems = RemoveNearIdentities::from_table(&typo).err().unwrap();
//! assert_eq!(
//!     problems[0].to_string(),
//!     "unknown key 'tolerence'; did you mean 'tolerance'? (keys: tolerance, keep, passes)"
//! );
//! let none: toml::Table = toml::from_str("passes = 0").unwrap();
//! let problems = RemoveNearIdentities::from_table(&none).err().unwrap();
//! assert_eq!(problems[0].to_string(), "key 'passes': 0 passes do nothing; give at least 1");
//! ```
//!
//! A string value may name environment variables as `${NAME}`; they are expanded before
//! the value is read, and an unset one is a problem naming it (`$$` is a literal `$`).

use std::fmt;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::suggest;

/// One configuration key, as the derive records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigField {
    /// The key.
    pub name: &'static str,
    /// The Rust type, as written.
    pub ty: &'static str,
    /// The field's doc comment.
    pub doc: &'static str,
    /// The default, as written in the source; `None` when the key is required.
    pub default: Option<&'static str>,
}

impl ConfigField {
    /// Whether the key must be given.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

/// A type whose fields are configuration keys: `#[derive(Config)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not derive `Config`",
    label = "used here as a plugin configuration (the `config` flag of a transform, kernel or backend, or a step's third argument)",
    note = "add `#[derive(Config)]` to the struct: its fields are the configuration keys"
)]
pub trait Config: Sized {
    /// The keys, in declaration order.
    const FIELDS: &'static [ConfigField];

    /// Reads a configuration, reporting every problem at once.
    fn from_table(table: &Table) -> Result<Self, Vec<ConfigProblem>>;
}

/// What is wrong with one key of a configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigProblem {
    /// A key the plugin does not have.
    Unknown {
        /// The key given.
        key: String,
        /// The closest valid key.
        suggestion: Option<String>,
        /// Every valid key.
        valid: Vec<&'static str>,
    },
    /// A required key that is not given.
    Missing {
        /// The key.
        key: &'static str,
        /// Its type.
        ty: &'static str,
    },
    /// A value that does not read as the key's type.
    WrongType {
        /// The key.
        key: String,
        /// Its type.
        ty: &'static str,
        /// What serde said.
        message: String,
    },
    /// A value of the right type that the key's check refuses (`#[config(check = f)]`).
    Invalid {
        /// The key.
        key: String,
        /// What the check said.
        message: String,
    },
    /// `${NAME}` in a value, with `NAME` unset.
    UnsetVariable {
        /// The key.
        key: String,
        /// The variable.
        variable: String,
    },
}

impl ConfigProblem {
    /// The key the problem is about.
    pub fn key(&self) -> &str {
        match self {
            ConfigProblem::Unknown { key, .. }
            | ConfigProblem::WrongType { key, .. }
            | ConfigProblem::Invalid { key, .. }
            | ConfigProblem::UnsetVariable { key, .. } => key,
            ConfigProblem::Missing { key, .. } => key,
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::Unknown {
                key,
                suggestion,
                valid,
            } => {
                write!(
                    f,
                    "unknown key '{}'",
                    suggest::shorten(key, suggest::QUOTED)
                )?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean '{s}'?")?;
                }
                if valid.is_empty() {
                    write!(f, " (it takes no configuration)")
                } else {
                    write!(f, " (keys: {})", valid.join(", "))
                }
            }
            ConfigProblem::Missing { key, ty } => {
                write!(f, "missing required key '{key}' ({ty})")
            }
            ConfigProblem::WrongType { key, ty, message } => {
                write!(f, "key '{key}' must be {ty}: {message}")
            }
            ConfigProblem::Invalid { key, message } => write!(f, "key '{key}': {message}"),
            ConfigProblem::UnsetVariable { key, variable } => write!(
                f,
                "key '{key}' names environment variable '{}', which is not set",
                suggest::shorten(variable, suggest::QUOTED)
            ),
        }
    }
}

/// A plugin's configuration could not be read: the plugin and every problem.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// `kind 'qualified name'`.
    pub plugin: String,
    /// Every problem, in key order.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration of {}: ", self.plugin)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The problems of the keys in `table` that are not among `fields`.
#[doc(hidden)]
pub fn unknown_keys(table: &Table, fields: &[ConfigField], problems: &mut Vec<ConfigProblem>) {
    let valid: Vec<&'static str> = fields.iter().map(|f| f.name).collect();
    for key in table.keys() {
        if !valid.contains(&key.as_str()) {
            problems.push(ConfigProblem::Unknown {
                key: key.clone(),
                suggestion: suggest::closest(key, valid.iter().copied()).map(str::to_owned),
                valid: valid.clone(),
            });
        }
    }
}

/// Reads key `field` of `table` as a `T`, after expanding environment variables; `default`
/// when the key is absent (`None`: the key is required).
#[doc(hidden)]
pub fn field<T: DeserializeOwned>(
    table: &Table,
    field: &ConfigField,
    default: Option<fn() -> T>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    let Some(value) = table.get(field.name) else {
        return match default {
            Some(default) => Some(default()),
            None => {
                problems.push(ConfigProblem::Missing {
                    key: field.name,
                    ty: field.ty,
                });
                None
            }
        };
    };
    let value = match expand(value) {
        Ok(value) => value,
        Err(variable) => {
            problems.push(ConfigProblem::UnsetVariable {
                key: field.name.to_owned(),
                variable,
            });
            return None;
        }
    };
    match T::deserialize(value) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(ConfigProblem::WrongType {
                key: field.name.to_owned(),
                ty: field.ty,
                message: e.to_string().trim().to_owned(),
            });
            None
        }
    }
}

/// Runs a field's `check` on the value read for it, if one was: a refusal is a problem
/// naming the key.
#[doc(hidden)]
pub fn check<T>(
    value: &Option<T>,
    field: &ConfigField,
    check: fn(&T) -> Result<(), String>,
    problems: &mut Vec<ConfigProblem>,
) {
    if let Some(Err(message)) = value.as_ref().map(check) {
        problems.push(ConfigProblem::Invalid {
            key: field.name.to_owned(),
            message,
        });
    }
}

/// `value` with `${NAME}` in every string replaced by the variable's value; `Err` names
/// the first unset variable.
pub fn expand(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(expand_str(s)?),
        Value::Array(items) => Value::Array(items.iter().map(expand).collect::<Result<_, _>>()?),
        Value::Table(t) => Value::Table(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), expand(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn expand_str(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push('$');
            rest = more;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            let name = &body[..end];
            out.push_str(&std::env::var(name).map_err(|_| name.to_owned())?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables_and_names_an_unset_one() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("BRAINSMITH_CONFIG_TEST_DIR", "/opt/x") };
        assert_eq!(
            expand_str("${BRAINSMITH_CONFIG_TEST_DIR}/y").unwrap(),
            "/opt/x/y"
        );
        assert_eq!(expand_str("$$5 and $x").unwrap(), "$5 and $x");
        assert_eq!(
            expand_str("${BRAINSMITH_CONFIG_TEST_UNSET}").unwrap_err(),
            "BRAINSMITH_CONFIG_TEST_UNSET"
        );
        let nested: Value =
            Value::Array(vec![Value::String("${BRAINSMITH_CONFIG_TEST_DIR}".into())]);
        assert_eq!(
            expand(&nested).unwrap(),
            Value::Array(vec![Value::String("/opt/x".into())])
        );
    }
}
