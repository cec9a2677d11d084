//! Typed node attributes: what a kernel or backend reads from, and writes to, each node it
//! implements.
//!
//! A kernel declares its per-node attributes as a struct deriving
//! [`NodeAttrs`](macro@crate::NodeAttrs). Each named field is an ONNX attribute of the
//! node: its name is the field's (or `#[attr(name = "MW")]`), its documentation the field's
//! doc comment, its ONNX kind follows from the Rust type ([`AttrValue`]), and
//! `#[attr(default = expr)]` makes it optional (an `Option` field is optional too; any
//! other field is required). `#[attr(check = f)]` names a `fn(&T) -> Result<(), String>`
//! one value must pass; `#[node_attrs(check = f)]` on the struct names a
//! `fn(&Self, &mut AttrCheck)` for rules across attributes ("MW divisible by SIMD").
//! An enum with unit variants derives [`AttrEnum`](macro@crate::AttrEnum) to be a string
//! attribute with a closed set of values; `#[attr(name = "value", alias = "older")]` on a
//! variant also reads an older spelling (FINN's `mem_mode` was `const` before it was
//! `internal_embedded`), and writing sets the current one.
//!
//! [`NodeAttrs::read`] reports every problem of a node at once, naming the node, the
//! attribute, what was expected and what was found (the rules across attributes run once
//! every attribute reads, since they need the values); [`NodeAttrs::write`] sets the values
//! back. The [`AttrSpec`] table is what `plugins show`, the manifest and `inspect` print.
//!
//! ```
//! use brainsmith_core::prelude::*;
//! use brainsmith_core::attrs::{AttrCheck, NodeAttrs};
//! use brainsmith_core::ir::QuantType;
//!
//! /// Where the weights live.
//! #[derive(AttrEnum, Clone, Copy, Debug, PartialEq)]
//! enum MemMode {
//!     /// In the kernel's own memory.
//!     #[attr(name = "internal_embedded", alias = "const")]
//!     Embedded,
//!     /// Streamed in from a separate memory.
//!     #[attr(name = "internal_decoupled")]
//!     Decoupled,
//! }
//!
//! #[derive(NodeAttrs, Debug)]
//! #[node_attrs(check = simd_divides_mw)]
//! struct MatrixAttrs {
//!     /// Input vector length.
//!     #[attr(name = "MW")]
//!     mw: u32,
//!     /// Input elements read per cycle.
//!     #[attr(name = "SIMD", default = 1)]
//!     simd: u32,
//!     /// Weight datatype.
//!     #[attr(name = "weightDataType")]
//!     weights: QuantType,
//!     /// Where the weights live.
//!     #[attr(name = "mem_mode", default = MemMode::Embedded)]
//!     mem_mode: MemMode,
//! }
//!
//! fn simd_divides_mw(a: &MatrixAttrs, c: &mut AttrCheck) {
//!     c.divides("SIMD", a.simd, "MW", a.mw);
//! }
//!
//! let node = Node::new("MVAU", ["x", "w"], ["y"])
//!     .with_name("fc0")
//!     .with_attribute("MW", AttributeValue::Int(64))
//!     .with_attribute("SIMD", AttributeValue::Int(3))
//!     .with_attribute("weightDataType", AttributeValue::string("INT9000"))
//!     .with_attribute("mem_mode", AttributeValue::string("external"));
//! let error = MatrixAttrs::read(&node).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "node 'fc0' (MVAU) has 2 attribute problems:\n  \
//!      attribute 'weightDataType': unknown QONNX datatype 'INT9000'; expected FLOAT32, \
//!      FLOAT16, BINARY, BIPOLAR, TERNARY, INT<n>, UINT<n>, FIXED<w,i>, SCALEDINT<n> or \
//!      FLOAT<e,m,b>\n  \
//!      attribute 'mem_mode': 'external' is not one of internal_embedded, internal_decoupled"
//! );
//!
//! // Rules across attributes run once every attribute reads.
//! let node = node
//!     .with_attribute("weightDataType", AttributeValue::string("INT4"))
//!     .with_attribute("mem_mode", AttributeValue::string("internal_decoupled"));
//! assert_eq!(
//!     MatrixAttrs::read(&node).unwrap_err().to_string(),
//!     "node 'fc0' (MVAU): attribute 'SIMD': SIMD (3) does not divide MW (64); choose a divisor of 64"
//! );
//!
//! let mut node = node.with_attribute("SIMD", AttributeValue::Int(4));
//! let mut attrs = MatrixAttrs::read(&node).unwrap();
//! assert_eq!((attrs.mw, attrs.simd, attrs.mem_mode), (64, 4, MemMode::Decoupled));
//! attrs.simd = 8;
//! attrs.write(&mut node);
//! assert_eq!(node.attr_int("SIMD"), Some(8));
//! assert_eq!(MatrixAttrs::SCHEMA[1].default_text().as_deref(), Some("1"));
//!
//! // An older spelling reads as its variant, and writes back as the current one.
//! let mut node = node
//!     .with_attribute("SIMD", AttributeValue::Int(4))
//!     .with_attribute("mem_mode", AttributeValue::string("const"));
//! let attrs = MatrixAttrs::read(&node).unwrap();
//! assert_eq!(attrs.mem_mode, MemMode::Embedded);
//! attrs.write(&mut node);
//! assert_eq!(node.attribute("mem_mode"), Some(&AttributeValue::string("internal_embedded")));
//! ```

use std::fmt;

use crate::ir::{AttributeValue, Node, QuantType};

/// The ONNX form and meaning of one attribute, for schemas and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// `INT`.
    Int,
    /// `INT` holding 0 or 1.
    Bool,
    /// `INTS`.
    Ints,
    /// `FLOAT`.
    Float,
    /// `FLOATS`.
    Floats,
    /// `STRING`.
    String,
    /// `STRINGS`.
    Strings,
    /// `STRING` naming a QONNX datatype (`INT8`, `BIPOLAR`, ...).
    DataType,
    /// `STRING` with a closed set of values ([`AttrSpec::allowed`]).
    Choice,
}

impl AttrType {
    /// How the schema names it: `int`, `ints`, `float`, `string`, `datatype`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            AttrType::Int => "int",
            AttrType::Bool => "bool",
            AttrType::Ints => "ints",
            AttrType::Float => "float",
            AttrType::Floats => "floats",
            AttrType::String => "string",
            AttrType::Strings => "strings",
            AttrType::DataType => "datatype",
            AttrType::Choice => "choice",
        }
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declared node attribute.
#[derive(Clone, Copy, Debug)]
pub struct AttrSpec {
    /// The ONNX attribute name.
    pub name: &'static str,
    /// Its form.
    pub ty: AttrType,
    /// The field's doc comment.
    pub doc: &'static str,
    /// Whether a node must carry it.
    pub required: bool,
    /// The value an absent attribute takes, when it has one.
    pub default: Option<fn() -> AttributeValue>,
    /// The legal values of a [`AttrType::Choice`].
    pub allowed: &'static [&'static str],
}

impl AttrSpec {
    /// The default as a person reads it (`1`, `"const"`, `[1, 1]`), if any.
    pub fn default_text(&self) -> Option<String> {
        self.default.map(|f| show_value(&f()))
    }
}

/// An attribute value as it is printed in schemas and messages.
pub fn show_value(value: &AttributeValue) -> String {
    match value {
        AttributeValue::Int(v) => v.to_string(),
        AttributeValue::Float(v) => format!("{v:?}"),
        AttributeValue::Ints(v) => format!("{v:?}"),
        AttributeValue::Floats(v) => format!("{v:?}"),
        AttributeValue::String(s) => format!("{:?}", String::from_utf8_lossy(s)),
        AttributeValue::Strings(v) => {
            let v: Vec<String> = v
                .iter()
                .map(|s| format!("{:?}", String::from_utf8_lossy(s)))
                .collect();
            format!("[{}]", v.join(", "))
        }
        AttributeValue::Tensor(_) => "a TENSOR".into(),
        AttributeValue::Graph(_) | AttributeValue::Graphs(_) => "a GRAPH".into(),
        AttributeValue::Undefined => "an undefined value".into(),
        _ => "a value of another kind".into(),
    }
}

/// What a node's attribute value is, for "found ..." in messages.
fn found(value: &AttributeValue) -> String {
    let kind = match value {
        AttributeValue::Int(_) => "INT",
        AttributeValue::Float(_) => "FLOAT",
        AttributeValue::Ints(_) => "INTS",
        AttributeValue::Floats(_) => "FLOATS",
        AttributeValue::String(_) => "STRING",
        AttributeValue::Strings(_) => "STRINGS",
        _ => return show_value(value),
    };
    format!("{kind} {}", crate::suggest::shorten(&show_value(value), 60))
}

/// A Rust type one node attribute reads into: the derive's field types.
pub trait AttrValue: Sized {
    /// The attribute's form.
    const TYPE: AttrType;
    /// The legal values, for a [`AttrType::Choice`].
    const ALLOWED: &'static [&'static str] = &[];

    /// Reads a value; the error says what was expected and what was found.
    fn from_attr(value: &AttributeValue) -> Result<Self, String>;

    /// The value as an ONNX attribute.
    fn to_attr(&self) -> AttributeValue;
}

fn expected(what: &str, value: &AttributeValue) -> String {
    format!("expected {what}, found {}", found(value))
}

macro_rules! int_attr {
    ($($t:ty),*) => {$(
        impl AttrValue for $t {
            const TYPE: AttrType = AttrType::Int;

            fn from_attr(value: &AttributeValue) -> Result<Self, String> {
                match value {
                    AttributeValue::Int(v) => <$t>::try_from(*v).map_err(|_| {
                        format!("{v} is out of range for {} ({}..={})", stringify!($t), <$t>::MIN, <$t>::MAX)
                    }),
                    other => Err(expected("INT", other)),
                }
            }

            fn to_attr(&self) -> AttributeValue {
                AttributeValue::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}

int_attr!(i64, i32, u32, u64, usize);

impl AttrValue for bool {
    const TYPE: AttrType = AttrType::Bool;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::Int(0) => Ok(false),
            AttributeValue::Int(1) => Ok(true),
            other => Err(expected("INT 0 or 1", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::Int(i64::from(*self))
    }
}

impl AttrValue for f32 {
    const TYPE: AttrType = AttrType::Float;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::Float(v) => Ok(*v),
            other => Err(expected("FLOAT", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::Float(*self)
    }
}

impl AttrValue for f64 {
    const TYPE: AttrType = AttrType::Float;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        f32::from_attr(value).map(f64::from)
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::Float(*self as f32)
    }
}

impl AttrValue for String {
    const TYPE: AttrType = AttrType::String;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::String(s) => String::from_utf8(s.clone())
                .map_err(|_| "expected a UTF-8 STRING, found invalid UTF-8".to_owned()),
            other => Err(expected("STRING", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::string(self)
    }
}

impl AttrValue for Vec<String> {
    const TYPE: AttrType = AttrType::Strings;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::Strings(v) => v
                .iter()
                .map(|s| {
                    String::from_utf8(s.clone())
                        .map_err(|_| "expected UTF-8 STRINGS, found invalid UTF-8".to_owned())
                })
                .collect(),
            other => Err(expected("STRINGS", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::Strings(self.iter().map(|s| s.as_bytes().to_vec()).collect())
    }
}

macro_rules! ints_attr {
    ($($t:ty),*) => {$(
        impl AttrValue for Vec<$t> {
            const TYPE: AttrType = AttrType::Ints;

            fn from_attr(value: &AttributeValue) -> Result<Self, String> {
                match value {
                    AttributeValue::Ints(v) => v
                        .iter()
                        .map(|&x| <$t>::try_from(x).map_err(|_| {
                            format!("{x} is out of range for {} ({}..={})", stringify!($t), <$t>::MIN, <$t>::MAX)
                        }))
                        .collect(),
                    other => Err(expected("INTS", other)),
                }
            }

            fn to_attr(&self) -> AttributeValue {
                AttributeValue::Ints(self.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)).collect())
            }
        }
    )*};
}

ints_attr!(i64, u32, u64, usize);

impl AttrValue for Vec<f32> {
    const TYPE: AttrType = AttrType::Floats;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::Floats(v) => Ok(v.clone()),
            other => Err(expected("FLOATS", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::Floats(self.clone())
    }
}

impl AttrValue for QuantType {
    const TYPE: AttrType = AttrType::DataType;

    fn from_attr(value: &AttributeValue) -> Result<Self, String> {
        match value {
            AttributeValue::String(s) => std::str::from_utf8(s)
                .map_err(|_| "expected a QONNX datatype, found invalid UTF-8".to_owned())?
                .parse(),
            other => Err(expected("a STRING naming a QONNX datatype", other)),
        }
    }

    fn to_attr(&self) -> AttributeValue {
        AttributeValue::string(&self.to_string())
    }
}

/// A closed set of string values: what `#[derive(AttrEnum)]` implements for an enum of
/// unit variants, with [`AttrValue`] (form [`AttrType::Choice`]).
pub trait AttrEnum: Sized + 'static {
    /// The attribute value of this variant.
    fn as_str(&self) -> &'static str;
}

/// The position of `value` among `names`, or of the variant an older spelling in
/// `aliases` stands for; an error lists the names.
#[doc(hidden)]
pub fn choice_index(
    value: &AttributeValue,
    names: &[&'static str],
    aliases: &[(&str, usize)],
) -> Result<usize, String> {
    let AttributeValue::String(s) = value else {
        return Err(expected(
            &format!("a STRING, one of {}", names.join(", ")),
            value,
        ));
    };
    let text = String::from_utf8_lossy(s);
    let alias = || {
        aliases
            .iter()
            .find(|(alias, _)| *alias == text)
            .map(|&(_, i)| i)
    };
    names
        .iter()
        .position(|name| *name == text)
        .or_else(alias)
        .ok_or_else(|| {
            format!(
                "'{}' is not one of {}{}",
                crate::suggest::shorten(&text, 60),
                names.join(", "),
                crate::suggest::did_you_mean(&text, names.iter().copied())
            )
        })
}

/// One problem with one attribute of a node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("attribute '{attr}': {message}")]
pub struct AttrProblem {
    /// The attribute.
    pub attr: String,
    /// What is wrong, with the fix where there is one.
    pub message: String,
}

/// Every problem of one node's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrError {
    /// The node's name.
    pub node: String,
    /// Its op type.
    pub op_type: String,
    /// The problems, in schema order, cross-attribute checks last.
    pub problems: Vec<AttrProblem>,
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = crate::suggest::shorten(&self.node, 80);
        match self.problems.as_slice() {
            [one] => write!(f, "node '{node}' ({}): {one}", self.op_type),
            many => {
                write!(
                    f,
                    "node '{node}' ({}) has {} attribute problems:",
                    self.op_type,
                    many.len()
                )?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for AttrError {}

/// Where cross-attribute checks (`#[node_attrs(check = f)]`) report what they find.
#[derive(Debug, Default)]
pub struct AttrCheck {
    problems: Vec<AttrProblem>,
}

impl AttrCheck {
    /// Reports `message` about attribute `attr`.
    pub fn fail(&mut self, attr: &str, message: impl Into<String>) {
        self.problems.push(AttrProblem {
            attr: attr.to_owned(),
            message: message.into(),
        });
    }

    /// Checks that `divisor` (attribute `d`) divides `whole` (attribute `w`): the folding
    /// rule of every FINN kernel (SIMD divides MW, PE divides MH).
    pub fn divides(&mut self, d: &str, divisor: impl Into<u64>, w: &str, whole: impl Into<u64>) {
        let (divisor, whole) = (divisor.into(), whole.into());
        if divisor == 0 {
            self.fail(d, format!("{d} is 0; it must be at least 1"));
        } else if whole % divisor != 0 {
            self.fail(
                d,
                format!(
                    "{d} ({divisor}) does not divide {w} ({whole}); choose a divisor of {whole}"
                ),
            );
        }
    }

    /// Checks that attribute `attr` is at least `min`.
    pub fn at_least(&mut self, attr: &str, value: impl Into<i128>, min: impl Into<i128>) {
        let (value, min) = (value.into(), min.into());
        if value < min {
            self.fail(
                attr,
                format!("{attr} is {value}; it must be at least {min}"),
            );
        }
    }

    /// The problems reported so far.
    pub fn problems(&self) -> &[AttrProblem] {
        &self.problems
    }
}

/// A struct of typed node attributes: `#[derive(NodeAttrs)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not derive `NodeAttrs`",
    label = "used here as node attributes",
    note = "add `#[derive(NodeAttrs)]` to a struct whose fields are the node's attributes, or use `()` for none"
)]
pub trait NodeAttrs: Sized + Send + Sync + 'static {
    /// The attributes, in declaration order.
    const SCHEMA: &'static [AttrSpec];

    /// Reads the attributes of `node`, reporting every problem at once.
    fn read(node: &Node) -> Result<Self, AttrError>;

    /// Sets every attribute on `node` (an `Option` field that is `None` is left out).
    fn write(&self, node: &mut Node);
}

impl NodeAttrs for () {
    const SCHEMA: &'static [AttrSpec] = &[];

    fn read(_: &Node) -> Result<Self, AttrError> {
        Ok(())
    }

    fn write(&self, _: &mut Node) {}
}

/// What the derive's generated `read` uses; not public API.
#[doc(hidden)]
pub mod __derive {
    use super::*;

    /// A field's `#[attr(check = f)]`.
    pub type ValueCheck<T> = fn(&T) -> Result<(), String>;

    /// Reads field `spec` of `node`: absent is the default (or a problem when required),
    /// present is read and checked.
    pub fn field<T: AttrValue>(
        node: &Node,
        spec: &AttrSpec,
        default: Option<fn() -> T>,
        check: Option<ValueCheck<T>>,
        problems: &mut Vec<AttrProblem>,
    ) -> Option<T> {
        let value = match node.attribute(spec.name) {
            None => match default {
                Some(f) => return Some(f()),
                None => {
                    problems.push(AttrProblem {
                        attr: spec.name.to_owned(),
                        message: format!(
                            "missing; this {} attribute is required{}",
                            spec.ty,
                            doc_hint(spec.doc)
                        ),
                    });
                    return None;
                }
            },
            Some(v) => v,
        };
        match T::from_attr(value) {
            Ok(v) => {
                if let Some(Err(message)) = check.map(|c| c(&v)) {
                    problems.push(AttrProblem {
                        attr: spec.name.to_owned(),
                        message,
                    });
                    return None;
                }
                Some(v)
            }
            Err(message) => {
                problems.push(AttrProblem {
                    attr: spec.name.to_owned(),
                    message,
                });
                None
            }
        }
    }

    /// Reads optional field `spec`: absent is `None`.
    pub fn optional<T: AttrValue>(
        node: &Node,
        spec: &AttrSpec,
        check: Option<ValueCheck<T>>,
        problems: &mut Vec<AttrProblem>,
    ) -> Option<Option<T>> {
        if node.attribute(spec.name).is_none() {
            return Some(None);
        }
        field(node, spec, None, check, problems).map(Some)
    }

    /// Runs a cross-attribute check.
    pub fn check<A>(attrs: &A, f: fn(&A, &mut AttrCheck), problems: &mut Vec<AttrProblem>) {
        let mut c = AttrCheck::default();
        f(attrs, &mut c);
        problems.extend(c.problems);
    }

    /// The error of `node` with `problems`.
    pub fn error(node: &Node, problems: Vec<AttrProblem>) -> AttrError {
        AttrError {
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            problems,
        }
    }

    /// Sets `value` on `node` as attribute `name`.
    pub fn set<T: AttrValue>(node: &mut Node, name: &str, value: &T) {
        node.set_attribute(name, value.to_attr());
    }

    pub use super::choice_index;

    /// A default's attribute form, for the schema.
    pub fn to_attr<T: AttrValue>(value: T) -> AttributeValue {
        value.to_attr()
    }

    fn doc_hint(doc: &str) -> String {
        let first = doc.lines().next().unwrap_or("").trim();
        if first.is_empty() {
            String::new()
        } else {
            format!(" ({})", first.trim_end_matches('.'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_and_report_kind_and_value() {
        assert_eq!(u32::from_attr(&AttributeValue::Int(7)), Ok(7));
        assert_eq!(
            u32::from_attr(&AttributeValue::Int(-1)).unwrap_err(),
            "-1 is out of range for u32 (0..=4294967295)"
        );
        assert_eq!(
            u32::from_attr(&AttributeValue::string("4")).unwrap_err(),
            "expected INT, found STRING \"4\""
        );
        assert_eq!(
            bool::from_attr(&AttributeValue::Int(2)).unwrap_err(),
            "expected INT 0 or 1, found INT 2"
        );
        assert_eq!(
            QuantType::from_attr(&AttributeValue::string("UINT4")),
            Ok(QuantType::UInt(4))
        );
        assert_eq!(
            Vec::<usize>::from_attr(&AttributeValue::Ints(vec![1, -2])).unwrap_err(),
            "-2 is out of range for usize (0..=18446744073709551615)"
        );
        let long = AttributeValue::string(&"x".repeat(10_000));
        assert!(String::from_attr(&long).is_ok());
        assert!(
            u32::from_attr(&long).unwrap_err().len() < 120,
            "quoted values are shortened"
        );
    }

    #[test]
    fn divisibility_names_both_attributes() {
        let mut c = AttrCheck::default();
        c.divides("PE", 3u32, "MH", 64u32);
        c.divides("SIMD", 0u32, "MW", 64u32);
        c.divides("SIMD", 8u32, "MW", 64u32);
        let messages: Vec<String> = c.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "attribute 'PE': PE (3) does not divide MH (64); choose a divisor of 64",
                "attribute 'SIMD': SIMD is 0; it must be at least 1"
            ]
        );
    }
}
