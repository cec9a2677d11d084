//! `#[derive(Config)]`: every form of field, and every problem reported at once.

use brainsmith_core::__private::toml::Table;
use brainsmith_core::{Config, ConfigProblem};

#[derive(Config, Debug)]
struct Settings {
    /// Where to write.
    out_dir: String,
    /// How hard to try.
    #[config(default = 3)]
    effort: u32,
    /// Extra flags.
    #[config(default)]
    flags: Vec<String>,
    /// An optional limit.
    limit: Option<u64>,
}

fn table(text: &str) -> Table {
    text.parse().unwrap()
}

#[test]
fn fields_carry_their_type_default_and_docs() {
    let fields: Vec<(&str, &str, Option<&str>, &str)> = Settings::FIELDS
        .iter()
        .map(|f| (f.name, f.ty, f.default, f.doc))
        .collect();
    assert_eq!(
        fields,
        [
            ("out_dir", "String", None, "Where to write."),
            ("effort", "u32", Some("3"), "How hard to try."),
            ("flags", "Vec<String>", Some("[]"), "Extra flags."),
            ("limit", "Option<u64>", Some("none"), "An optional limit."),
        ]
    );
    assert!(Settings::FIELDS[0].is_required());
}

#[test]
fn defaults_fill_what_is_not_given_and_variables_expand() {
    // SAFETY: no other test reads this variable.
    unsafe { std::env::set_var("BRAINSMITH_CONFIG_TEST_OUT", "/build") };
    let s = Settings::from_table(&table("out_dir = \"${BRAINSMITH_CONFIG_TEST_OUT}/x\"")).unwrap();
    assert_eq!(s.out_dir, "/build/x");
    assert_eq!((s.effort, s.flags.len(), s.limit), (3, 0, None));
    let s = Settings::from_table(&table(
        "out_dir = \"a\"\neffort = 9\nflags = [\"-O\"]\nlimit = 7",
    ))
    .unwrap();
    assert_eq!(
        (s.effort, s.flags, s.limit),
        (9, vec!["-O".to_owned()], Some(7))
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = Settings::from_table(&table("efort = 1\nflags = 3\nlimit = -1")).unwrap_err();
    let keys: Vec<&str> = problems.iter().map(ConfigProblem::key).collect();
    assert_eq!(keys, ["efort", "out_dir", "flags", "limit"]);
    assert_eq!(
        problems[0].to_string(),
        "unknown key 'efort'; did you mean 'effort'? (keys: out_dir, effort, flags, limit)"
    );
    assert_eq!(
        problems[1].to_string(),
        "missing required key 'out_dir' (String)"
    );
    assert!(
        problems[2]
            .to_string()
            .starts_with("key 'flags' must be Vec<String>: invalid type"),
        "{}",
        problems[2]
    );
    assert!(
        problems[3]
            .to_string()
            .starts_with("key 'limit' must be Option<u64>"),
        "{}",
        problems[3]
    );
}

/// Derives `Config` without the `config` flag: configured all the same.
#[brainsmith_core::transform(stage = cleanup)]
#[derive(Debug, Config)]
struct Unflagged {
    /// How hard to try.
    #[config(default = 3)]
    level: u32,
}

impl brainsmith_core::Transform for Unflagged {
    fn apply(
        &self,
        _: &mut brainsmith_core::ir::Model,
        _: &mut brainsmith_core::TransformContext,
    ) -> Result<bool, brainsmith_core::PluginError> {
        Ok(self.level == 3)
    }
}

#[test]
fn a_struct_that_derives_config_is_configured_without_the_flag() {
    let registry = brainsmith_core::Registry::global().unwrap();
    let t = registry.transform("Unflagged").unwrap();
    let apply = |table: &str| {
        let table: Table = table.parse().unwrap();
        let transform = t.configure(&table).map_err(|e| e.to_string())?;
        let mut m = brainsmith_core::ir::Model::default();
        Ok::<bool, String>(
            transform
                .apply(&mut m, &mut brainsmith_core::TransformContext::default())
                .unwrap(),
        )
    };
    // The declared default applies (it was ignored without the flag before).
    assert_eq!(apply(""), Ok(true));
    assert_eq!(apply("level = 5"), Ok(false));
    let err = apply("levl = 5").unwrap_err();
    assert!(err.contains("levl"), "{err}");
}

/// A configuration with QONNX datatypes.
#[derive(Config, Debug)]
struct Precision {
    /// The weights' datatype.
    weights: brainsmith_core::ir::QuantType,
    /// Where to stop widening.
    #[config(default = brainsmith_core::ir::QuantType::Int(32))]
    widest: brainsmith_core::ir::QuantType,
}

#[test]
fn a_qonnx_datatype_is_a_configuration_field() {
    use brainsmith_core::ir::QuantType;
    let p = Precision::from_table(&table("weights = \"INT4\"")).unwrap();
    assert_eq!(
        (p.weights, p.widest),
        (QuantType::Int(4), QuantType::Int(32))
    );
    let p = Precision::from_table(&table("weights = \"BIPOLAR\"\nwidest = \"UINT8\"")).unwrap();
    assert_eq!(
        (p.weights, p.widest),
        (QuantType::Bipolar, QuantType::UInt(8))
    );
    let problems = Precision::from_table(&table("weights = \"INT9000\"\nwidest = 4")).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert_eq!(problems.len(), 2, "{all}");
    assert!(all.contains("unknown QONNX datatype 'INT9000'"), "{all}");
    assert!(all.contains("widest"), "{all}");
}

/// Defaults as the TOML values they are, where the expression says so; a check named
/// like its field is the function, not the field's value.
#[derive(Config, Debug)]
struct Written {
    /// A name.
    #[config(default = "lut".to_owned())]
    style: String,
    /// Another.
    #[config(default = String::from("a \"quoted\" name"))]
    label: String,
    /// Sizes.
    #[config(default = vec![1, 2, 3])]
    sizes: Vec<u64>,
    /// A ratio.
    #[config(default = -0.5)]
    ratio: f64,
    /// Checked by a function of its own name.
    #[config(default = 4, check = depth)]
    depth: u64,
    /// A variant, shown as written.
    #[config(default = std::cmp::Ordering::Less as i64)]
    order: i64,
}

fn depth(v: &u64) -> Result<(), String> {
    if v.is_power_of_two() {
        Ok(())
    } else {
        Err(format!("{v} is not a power of two"))
    }
}

#[test]
fn defaults_are_shown_as_toml_and_checks_may_share_their_fields_name() {
    let defaults: Vec<Option<&str>> = Written::FIELDS.iter().map(|f| f.default).collect();
    assert_eq!(
        defaults,
        [
            Some("\"lut\""),
            Some("\"a \\\"quoted\\\" name\""),
            Some("[1, 2, 3]"),
            Some("-0.5"),
            Some("4"),
            Some("std :: cmp :: Ordering :: Less as i64"),
        ]
    );
    // Each shown default reads back as the value it stands for.
    for f in &Written::FIELDS[..5] {
        let text = format!("x = {}", f.default.unwrap());
        assert!(text.parse::<Table>().is_ok(), "{text}");
    }
    let w = Written::from_table(&table("")).unwrap();
    assert_eq!((w.style.as_str(), w.depth, w.sizes.len()), ("lut", 4, 3));
    assert_eq!(
        (w.label.as_str(), w.ratio, w.order),
        ("a \"quoted\" name", -0.5, -1)
    );
    let problems = Written::from_table(&table("depth = 6")).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].to_string().contains("6 is not a power of two"),
        "{}",
        problems[0]
    );
}
