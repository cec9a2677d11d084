//! `ai.onnx.ml`, the traditional machine-learning ops of the ONNX backend suite:
//! `Binarizer`, `ArrayFeatureExtractor`, `LabelEncoder` and `TreeEnsemble`, typed as
//! onnx's own inference types them. Shape rules only: `FoldConstants` evaluates no op
//! outside the default domain and QONNX's.

use super::Domain::OnnxMl;
use super::{Entry, What};
use crate::shapes::{Ctx, FLOAT, INT64, STRING, open, show, typed};
use brainsmith_core::ir::{AttributeValue, Dim, ElemType, TensorType};

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: OnnxMl,
        ops: &["Binarizer"],
        what: What::Shape(binarizer),
    },
    Entry {
        domain: OnnxMl,
        ops: &["ArrayFeatureExtractor"],
        what: What::Shape(array_feature_extractor),
    },
    Entry {
        domain: OnnxMl,
        ops: &["LabelEncoder"],
        what: What::Shape(label_encoder),
    },
    Entry {
        domain: OnnxMl,
        ops: &["TreeEnsemble"],
        what: What::Shape(tree_ensemble),
    },
];

/// The name of element type `t`, for messages.
fn type_name(t: i32) -> String {
    ElemType::try_from(t).map_or_else(
        |_| format!("element type {t}"),
        |e| e.as_str_name().to_owned(),
    )
}

/// What kind of attribute `v` is, for messages.
fn kind(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::Float(_) => "a FLOAT",
        AttributeValue::Int(_) => "an INT",
        AttributeValue::String(_) => "a STRING",
        AttributeValue::Tensor(_) => "a TENSOR",
        AttributeValue::Floats(_) => "FLOATS",
        AttributeValue::Ints(_) => "INTS",
        AttributeValue::Strings(_) => "STRINGS",
        _ => "neither a number, a string, a tensor nor a list of them",
    }
}

/// `Binarizer`: 0 or 1 for each element, in the input's element type and shape.
fn binarizer(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![cx.input(0)?.clone()])
}

/// `ArrayFeatureExtractor`: `X`'s element type and leading dimensions, then one element
/// per index of `Y` (`Y`'s one symbolic dimension when the others are 1). As in onnx,
/// a 1-D `X` gives no shape (runtimes make it `[1, indices]`).
fn array_feature_extractor(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    if !cx.has_input(1) {
        return Err(
            "input 1 (`Y`, the indices to select) is missing: give it an int64 tensor \
                    of indices into the last axis of `X`"
                .to_owned(),
        );
    }
    let Some(dims) = cx.shape_if_known(0)? else {
        return Ok(vec![open(x.elem_type, None)]);
    };
    let Some((_, lead)) = dims.split_last() else {
        return Err(format!(
            "input 0 (`{}`) is a scalar; it selects along the last axis of a tensor of rank \
             1 or more",
            cx.node.inputs[0]
        ));
    };
    if lead.is_empty() {
        return Ok(vec![open(x.elem_type, None)]);
    }
    let count = match cx.inputs.get(1).copied().flatten() {
        Some(y) if y.elem_type != INT64 => {
            return Err(format!(
                "input 1 (`{}`) is {}; the indices must be INT64",
                cx.node.inputs[1],
                type_name(y.elem_type)
            ));
        }
        Some(_) => match cx.shape_if_known(1)? {
            Some(y) => indices(y)?,
            None => Dim::Unknown,
        },
        None => Dim::Unknown,
    };
    let mut out = lead.to_vec();
    out.push(count);
    Ok(vec![typed(x.elem_type, out)])
}

/// How many indices a tensor of shape `dims` holds: its one symbolic dimension when the
/// others multiply to 1, unknown when that is not a number.
fn indices(dims: &[Dim]) -> Result<Dim, String> {
    let mut count = 1i64;
    let mut symbol = None;
    for d in dims {
        match d {
            Dim::Value(v) => {
                count = count.checked_mul(*v).ok_or_else(|| {
                    format!(
                        "indices of shape {} are more than 64 bits count",
                        show(dims)
                    )
                })?;
            }
            Dim::Param(p) if symbol.is_none() => symbol = Some(p),
            _ => return Ok(Dim::Unknown),
        }
    }
    Ok(match symbol {
        None => Dim::Value(count),
        Some(p) if count == 1 => Dim::Param(p.clone()),
        Some(_) => Dim::Unknown,
    })
}

/// `LabelEncoder`'s keys attributes, with the kind each must be.
const KEYS: [(&str, &str); 4] = [
    ("keys_tensor", "a TENSOR"),
    ("keys_strings", "STRINGS"),
    ("keys_int64s", "INTS"),
    ("keys_floats", "FLOATS"),
];

/// `LabelEncoder`'s values attributes, with the kind each must be.
const VALUES: [(&str, &str); 4] = [
    ("values_tensor", "a TENSOR"),
    ("values_strings", "STRINGS"),
    ("values_int64s", "INTS"),
    ("values_floats", "FLOATS"),
];

/// The one attribute of `names` a node sets, with the element type and the number of
/// entries it lists: `None` when it sets none; an error when it sets several, one of
/// the wrong kind, or a tensor that is not 1-D.
fn listed(
    cx: &Ctx<'_>,
    names: &[(&'static str, &str); 4],
) -> Result<Option<(&'static str, i32, i64)>, String> {
    let mut found: Option<(&'static str, i32, i64)> = None;
    for &(name, wanted) in names {
        let Some(v) = cx.node.attribute(name) else {
            continue;
        };
        let (elem_type, len) = match v {
            AttributeValue::Tensor(t) if name.ends_with("_tensor") => match t.dims() {
                [n] => (t.elem_type() as i32, *n),
                d => {
                    return Err(format!(
                        "attribute `{name}` is a tensor of shape {d:?}; make it 1-D"
                    ));
                }
            },
            AttributeValue::Strings(s) if name.ends_with("_strings") => (STRING, s.len() as i64),
            AttributeValue::Ints(s) if name.ends_with("_int64s") => (INT64, s.len() as i64),
            AttributeValue::Floats(s) if name.ends_with("_floats") => (FLOAT, s.len() as i64),
            other => {
                return Err(format!(
                    "attribute `{name}` is {}; it must be {wanted}",
                    kind(other)
                ));
            }
        };
        if let Some((first, ..)) = found {
            return Err(format!(
                "attributes `{first}` and `{name}` are both set; keep one"
            ));
        }
        found = Some((name, elem_type, len));
    }
    Ok(found)
}

/// `LabelEncoder`: the input's shape, in the element type of the `values_*` attribute
/// set (the tensor's for `values_tensor`); the keys must have the input's element type
/// and one value each. With neither `keys_*` nor `values_*` it is the opset-1 encoder,
/// strings to int64 and back.
fn label_encoder(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let elem_type = match (listed(cx, &KEYS)?, listed(cx, &VALUES)?) {
        (None, None) => match x.elem_type {
            STRING => INT64,
            INT64 => STRING,
            t => {
                return Err(format!(
                    "it sets no `keys_*` or `values_*` attribute, which makes it the opset-1 \
                     encoder of STRING to INT64 and back, but input 0 (`{}`) is {}: set a \
                     `keys_*` and a `values_*` attribute",
                    cx.node.inputs[0],
                    type_name(t)
                ));
            }
        },
        (None, Some((name, ..))) => {
            return Err(format!(
                "it sets `{name}` but no keys: set one of keys_tensor, keys_strings, \
                 keys_int64s, keys_floats"
            ));
        }
        (Some((name, ..)), None) => {
            return Err(format!(
                "it sets `{name}` but no values: set one of values_tensor, values_strings, \
                 values_int64s, values_floats"
            ));
        }
        (Some((keys, key_type, key_count)), Some((values, value_type, value_count))) => {
            if key_type != x.elem_type {
                return Err(format!(
                    "its keys (`{keys}`) are {} but input 0 (`{}`) is {}: the keys must be of \
                     the input's element type",
                    type_name(key_type),
                    cx.node.inputs[0],
                    type_name(x.elem_type)
                ));
            }
            if key_count != value_count {
                return Err(format!(
                    "`{keys}` lists {key_count} keys and `{values}` {value_count} values: \
                     give one value per key"
                ));
            }
            match cx.node.attribute("default_tensor") {
                None => {}
                Some(AttributeValue::Tensor(t)) => {
                    if t.elem_type() as i32 != value_type {
                        return Err(format!(
                            "attribute `default_tensor` is {} but the values (`{values}`) are \
                             {}: give the default in the values' element type",
                            type_name(t.elem_type() as i32),
                            type_name(value_type)
                        ));
                    }
                    if t.dims() != [1] {
                        return Err(format!(
                            "attribute `default_tensor` has shape {:?}; it must hold one \
                             value, shape [1]",
                            t.dims()
                        ));
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "attribute `default_tensor` is {}; it must be a TENSOR",
                        kind(other)
                    ));
                }
            }
            value_type
        }
    };
    Ok(vec![TensorType {
        elem_type,
        shape: x.shape.clone(),
    }])
}

/// `TreeEnsemble`: `[N, n_targets]` for an input `[N, features]`, in the input's element
/// type, which the leaves' weights (tensor attribute `leaf_weights`) must share.
fn tree_ensemble(cx: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    let x = cx.input(0)?;
    let weights = match cx.node.attribute("leaf_weights") {
        Some(AttributeValue::Tensor(t)) => t,
        Some(other) => {
            return Err(format!(
                "attribute `leaf_weights` is {}; it must be a TENSOR of the input's element \
                 type, one weight per leaf",
                kind(other)
            ));
        }
        None => {
            return Err(
                "attribute `leaf_weights` is missing: give the leaves' weights as a \
                        tensor of the input's element type"
                    .to_owned(),
            );
        }
    };
    let weight_type = weights.elem_type() as i32;
    if weight_type != x.elem_type {
        return Err(format!(
            "attribute `leaf_weights` is {} but input 0 (`{}`) is {}: the weights must be of \
             the input's element type",
            type_name(weight_type),
            cx.node.inputs[0],
            type_name(x.elem_type)
        ));
    }
    let targets = match cx.node.attribute("n_targets") {
        None => Dim::Unknown,
        Some(AttributeValue::Int(n)) if *n >= 0 => Dim::Value(*n),
        Some(AttributeValue::Int(n)) => {
            return Err(format!(
                "attribute `n_targets` is {n}; the number of targets cannot be negative"
            ));
        }
        Some(other) => {
            return Err(format!(
                "attribute `n_targets` is {}; it must be an INT, the number of targets",
                kind(other)
            ));
        }
    };
    let batch = match cx.shape_if_known(0)? {
        None => Dim::Unknown,
        Some([n, _]) => n.clone(),
        Some(dims) => {
            return Err(format!(
                "input 0 (`{}`) has shape {}; it must be [batch, features]",
                cx.node.inputs[0],
                show(dims)
            ));
        }
    };
    Ok(vec![typed(weight_type, vec![batch, targets])])
}

#[cfg(test)]
mod tests {
    use brainsmith_core::ir::{AttributeValue, ElemType, Graph, Node, Tensor, ValueInfo};

    use crate::shapes::{FLOAT, INT64, STRING, infer};

    /// A graph with inputs `x` (float [3, 4]), `s` (string [3, 4]), `i` (int64 [3, 4])
    /// and `idx` (int64 [2]), and `nodes`, each in `ai.onnx.ml`.
    fn graph(nodes: Vec<Node>) -> Graph {
        let mut g = Graph::default();
        for (name, elem, dims) in [
            ("x", ElemType::Float, &[3i64, 4][..]),
            ("s", ElemType::String, &[3, 4]),
            ("i", ElemType::Int64, &[3, 4]),
            ("idx", ElemType::Int64, &[2]),
        ] {
            g.inputs.push(ValueInfo::tensor(name, elem, dims));
        }
        g.nodes = nodes
            .into_iter()
            .map(|n| n.with_domain("ai.onnx.ml"))
            .collect();
        g
    }

    /// `name`'s element type and shape, as `ELEM [d, ...]` (`none` for no shape).
    fn signature(g: &Graph, name: &str) -> String {
        let inference = infer(g, 13);
        assert!(inference.problems.is_empty(), "{:?}", inference.problems);
        let t = &inference.types[name];
        let shape = t
            .shape
            .as_deref()
            .map_or("none".to_owned(), crate::shapes::show);
        format!("{} {shape}", t.elem_type)
    }

    /// The one problem inference reports for `g`.
    fn problem(g: &Graph) -> String {
        let inference = infer(g, 13);
        assert_eq!(inference.problems.len(), 1, "{:?}", inference.problems);
        inference.problems[0].message.clone()
    }

    #[test]
    fn binarizer_keeps_its_input_type_and_shape() {
        let g = graph(vec![Node::new("Binarizer", ["i"], ["y"])]);
        assert_eq!(signature(&g, "y"), format!("{INT64} [3, 4]"));
    }

    #[test]
    fn array_feature_extractor_replaces_the_last_axis_by_the_indices() {
        let g = graph(vec![
            Node::new("ArrayFeatureExtractor", ["x", "idx"], ["y"]),
            Node::new("ArrayFeatureExtractor", ["s", "idx"], ["z"]),
        ]);
        assert_eq!(signature(&g, "y"), format!("{FLOAT} [3, 2]"));
        assert_eq!(signature(&g, "z"), format!("{STRING} [3, 2]"));

        // A 1-D input: no shape, as onnx gives.
        let mut g = graph(vec![Node::new(
            "ArrayFeatureExtractor",
            ["v", "idx"],
            ["y"],
        )]);
        g.inputs
            .push(ValueInfo::tensor("v", ElemType::Double, &[5]));
        assert_eq!(
            signature(&g, "y"),
            format!("{} none", ElemType::Double as i32)
        );

        // Indices [1, k, 1]: k of them.
        let mut g = graph(vec![Node::new("ArrayFeatureExtractor", ["x", "k"], ["y"])]);
        let mut k = ValueInfo::tensor("k", ElemType::Int64, &[1, 1, 1]);
        if let Some(brainsmith_core::ir::ValueType::Tensor(t)) = &mut k.ty {
            t.shape.as_mut().unwrap()[1] = brainsmith_core::ir::Dim::Param("k".into());
        }
        g.inputs.push(k);
        assert_eq!(signature(&g, "y"), format!("{FLOAT} [3, k]"));
    }

    #[test]
    fn array_feature_extractor_refuses_missing_or_float_indices() {
        let g = graph(vec![
            Node::new("ArrayFeatureExtractor", ["x"], ["y"]).with_name("afe"),
        ]);
        let m = problem(&g);
        assert!(
            m.contains(
                "node `afe` (ai.onnx.ml:ArrayFeatureExtractor): input 1 (`Y`, the \
                        indices to select) is missing"
            ),
            "{m}"
        );
        let g = graph(vec![Node::new("ArrayFeatureExtractor", ["x", "x"], ["y"])]);
        let m = problem(&g);
        assert!(
            m.contains("input 1 (`x`) is FLOAT; the indices must be INT64"),
            "{m}"
        );
        // Indices whose count leaves 64 bits.
        let mut g = graph(vec![Node::new("ArrayFeatureExtractor", ["x", "k"], ["y"])]);
        g.inputs
            .push(ValueInfo::tensor("k", ElemType::Int64, &[1 << 40, 1 << 40]));
        let m = problem(&g);
        assert!(
            m.contains("indices of shape [1099511627776, 1099511627776] are more than 64 bits"),
            "{m}"
        );
    }

    #[test]
    fn label_encoder_outputs_the_type_of_its_values() {
        let strings =
            |v: &[&str]| AttributeValue::Strings(v.iter().map(|s| s.as_bytes().to_vec()).collect());
        let g = graph(vec![
            Node::new("LabelEncoder", ["s"], ["a"])
                .with_attribute("keys_strings", strings(&["p", "q"]))
                .with_attribute("values_int64s", AttributeValue::Ints(vec![1, 2])),
            Node::new("LabelEncoder", ["i"], ["b"])
                .with_attribute("keys_int64s", AttributeValue::Ints(vec![1]))
                .with_attribute("values_floats", AttributeValue::Floats(vec![0.5])),
            Node::new("LabelEncoder", ["i"], ["c"])
                .with_attribute(
                    "keys_tensor",
                    AttributeValue::Tensor(Tensor::from_i64("", &[2], &[1, 2])),
                )
                .with_attribute(
                    "values_tensor",
                    AttributeValue::Tensor(Tensor::from_f32("", &[2], &[0.5, 1.5])),
                )
                .with_attribute(
                    "default_tensor",
                    AttributeValue::Tensor(Tensor::from_f32("", &[1], &[0.0])),
                ),
            // Opset 1: strings to integers and back.
            Node::new("LabelEncoder", ["i"], ["d"])
                .with_attribute("classes_strings", strings(&["p", "q"])),
        ]);
        assert_eq!(signature(&g, "a"), format!("{INT64} [3, 4]"));
        assert_eq!(signature(&g, "b"), format!("{FLOAT} [3, 4]"));
        assert_eq!(signature(&g, "c"), format!("{FLOAT} [3, 4]"));
        assert_eq!(signature(&g, "d"), format!("{STRING} [3, 4]"));
    }

    #[test]
    fn label_encoder_names_the_attribute_at_fault() {
        let encoder = |attributes: Vec<(&str, AttributeValue)>| {
            let mut node = Node::new("LabelEncoder", ["i"], ["y"]).with_name("enc");
            for (name, value) in attributes {
                node = node.with_attribute(name, value);
            }
            problem(&graph(vec![node]))
        };
        let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
        for (attributes, expected) in [
            (
                vec![
                    ("keys_int64s", ints(&[1])),
                    ("values_int64s", AttributeValue::Int(1)),
                ],
                "attribute `values_int64s` is an INT; it must be INTS",
            ),
            (
                vec![
                    ("keys_int64s", ints(&[1])),
                    ("values_int64s", ints(&[1])),
                    ("values_floats", AttributeValue::Floats(vec![1.0])),
                ],
                "attributes `values_int64s` and `values_floats` are both set; keep one",
            ),
            (
                vec![
                    ("keys_floats", AttributeValue::Floats(vec![1.0])),
                    ("values_int64s", ints(&[1])),
                ],
                "its keys (`keys_floats`) are FLOAT but input 0 (`i`) is INT64",
            ),
            (
                vec![
                    ("keys_int64s", ints(&[1, 2])),
                    ("values_int64s", ints(&[1])),
                ],
                "`keys_int64s` lists 2 keys and `values_int64s` 1 values: give one value per key",
            ),
            (
                vec![("values_int64s", ints(&[1]))],
                "it sets `values_int64s` but no keys",
            ),
            (
                vec![
                    ("keys_int64s", ints(&[1])),
                    ("values_int64s", ints(&[1])),
                    (
                        "default_tensor",
                        AttributeValue::Tensor(Tensor::from_f32("", &[1], &[0.0])),
                    ),
                ],
                "attribute `default_tensor` is FLOAT but the values (`values_int64s`) are INT64",
            ),
            (
                vec![(
                    "keys_tensor",
                    AttributeValue::Tensor(Tensor::from_i64("", &[1, 1], &[1])),
                )],
                "attribute `keys_tensor` is a tensor of shape [1, 1]; make it 1-D",
            ),
        ] {
            let m = encoder(attributes);
            assert!(
                m.contains("node `enc` (ai.onnx.ml:LabelEncoder): ") && m.contains(expected),
                "{m}\n  does not contain\n{expected}"
            );
        }
        // A float input with no keys or values is no opset-1 encoder.
        let g = graph(vec![Node::new("LabelEncoder", ["x"], ["y"])]);
        assert!(problem(&g).contains("input 0 (`x`) is FLOAT: set a `keys_*` and a `values_*`"));
    }

    /// A tree ensemble over `x` with `leaf_weights` and `n_targets` as given.
    fn ensemble(
        input: &str,
        weights: Option<AttributeValue>,
        targets: Option<AttributeValue>,
    ) -> Node {
        let mut node = Node::new("TreeEnsemble", [input], ["y"]).with_name("trees");
        if let Some(w) = weights {
            node = node.with_attribute("leaf_weights", w);
        }
        if let Some(t) = targets {
            node = node.with_attribute("n_targets", t);
        }
        node
    }

    #[test]
    fn tree_ensemble_gives_batch_by_targets_in_the_weights_type() {
        let weights = || {
            Some(AttributeValue::Tensor(Tensor::from_f32(
                "",
                &[3],
                &[1.0; 3],
            )))
        };
        let g = graph(vec![
            ensemble("x", weights(), Some(AttributeValue::Int(2))).with_name("a"),
        ]);
        assert_eq!(signature(&g, "y"), format!("{FLOAT} [3, 2]"));
        let g = graph(vec![ensemble("x", weights(), None)]);
        assert_eq!(signature(&g, "y"), format!("{FLOAT} [3, ?]"));
    }

    #[test]
    fn tree_ensemble_names_the_attribute_at_fault() {
        let weights = || {
            Some(AttributeValue::Tensor(Tensor::from_f32(
                "",
                &[3],
                &[1.0; 3],
            )))
        };
        for (node, expected) in [
            (
                ensemble("x", None, None),
                "attribute `leaf_weights` is missing",
            ),
            (
                ensemble("x", Some(AttributeValue::Floats(vec![1.0])), None),
                "attribute `leaf_weights` is FLOATS; it must be a TENSOR",
            ),
            (
                ensemble("i", weights(), None),
                "attribute `leaf_weights` is FLOAT but input 0 (`i`) is INT64",
            ),
            (
                ensemble("x", weights(), Some(AttributeValue::Int(-2))),
                "attribute `n_targets` is -2; the number of targets cannot be negative",
            ),
            (
                ensemble("x", weights(), Some(AttributeValue::Ints(vec![2]))),
                "attribute `n_targets` is INTS; it must be an INT",
            ),
            (
                ensemble(
                    "idx",
                    Some(AttributeValue::Tensor(Tensor::from_i64("", &[1], &[1]))),
                    None,
                ),
                "input 0 (`idx`) has shape [2]; it must be [batch, features]",
            ),
        ] {
            let m = problem(&graph(vec![node]));
            assert!(
                m.contains("node `trees` (ai.onnx.ml:TreeEnsemble): ") && m.contains(expected),
                "{m}\n  does not contain\n{expected}"
            );
        }
    }

    /// An op type of `ai.onnx.ml` takes no rule of the default domain, nor the reverse.
    #[test]
    fn domains_do_not_share_op_types() {
        let g = graph(vec![Node::new("Relu", ["x"], ["y"]).with_name("relu")]);
        assert!(problem(&g).contains("(ai.onnx.ml:Relu): no shape rule for this op type"));
        for (domain, label) in [
            ("", "Binarizer"),
            ("ai.onnx", "Binarizer"),
            ("acme", "acme:Binarizer"),
        ] {
            let mut g = graph(vec![]);
            g.nodes.push(
                Node::new("Binarizer", ["x"], ["y"])
                    .with_domain(domain)
                    .with_name("bin"),
            );
            let m = problem(&g);
            assert!(
                m.contains(&format!(
                    "node `bin` ({label}): no shape rule for this op type"
                )),
                "{m}"
            );
        }
    }
}
