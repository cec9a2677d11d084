//! Folding: how parallel each kernel instance is (its `SIMD`, `PE`, ...), chosen to reach
//! a target number of cycles per frame at the least cost, and read from and written to
//! FINN's folding configuration JSON.
//!
//! Everything here asks the kernels through their hooks (`folding`, `cycles`,
//! `resources`): a kernel of another crate is folded like the standard ones. The
//! transforms [`SetFolding`](crate::SetFolding) and
//! [`ApplyFoldingConfig`](crate::ApplyFoldingConfig) are the way in from a blueprint.
//!
//! ```
//! use brainsmith_core::ir::{AttributeValue, Model};
//! use brainsmith_plugins::folding::FoldingConfig;
//!
//! let json = r#"{
//!     "Defaults": { "ram_style": ["block", ["MVAU"]] },
//!     "fc0": { "PE": 4, "SIMD": 8 }
//! }"#;
//! let config = FoldingConfig::parse(json).unwrap();
//! assert_eq!(config.nodes["fc0"]["PE"], serde_json::json!(4));
//! assert_eq!(config.defaults[0].attr, "ram_style");
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use brainsmith_core::hardware::{kernel_op, resolve};
use brainsmith_core::ir::{AttributeValue, Graph, Model, Node};
use brainsmith_core::kernel::{DynKernel, FoldingKnob, Resources, Target};
use brainsmith_core::{PluginError, Registry};
use rustc_hash::FxHashMap;

/// What a resource estimate costs, in LUT equivalents: a BRAM18 holds 18 Kib, what 288
/// 64-bit LUT RAMs hold; an UltraRAM 288 Kib (4,608 LUTs); a DSP slice does the work of
/// about 200 LUTs of multiplier. One number lets the search trade LUTs for memories.
pub fn cost(r: &Resources) -> u64 {
    r.lut
        .saturating_add(r.bram18.saturating_mul(288))
        .saturating_add(r.uram.saturating_mul(4608))
        .saturating_add(r.dsp.saturating_mul(200))
}

/// The most foldings one node may have: a search over more gives up on the node, with a
/// diagnostic.
pub const MAX_OPTIONS: usize = 1 << 16;

/// One folding of one node: the knob values, and what the kernel estimates for them.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Each knob and its value, in the kernel's order.
    pub values: Vec<(&'static str, u64)>,
    /// Expected cycles per frame.
    pub cycles: u64,
    /// Estimated resources.
    pub resources: Resources,
}

impl Choice {
    /// [`cost`] of its resources.
    pub fn cost(&self) -> u64 {
        cost(&self.resources)
    }
}

/// A kernel node and its legal foldings.
pub struct Foldable {
    /// The node's index in the graph.
    pub index: usize,
    /// Its kernel, with its default configuration.
    pub kernel: Arc<dyn DynKernel>,
    /// Its knobs.
    pub knobs: Vec<FoldingKnob>,
    /// Every legal combination of knob values, with its estimates.
    pub options: Vec<Choice>,
}

/// `node` with `values` written on it.
pub fn with_values(node: &Node, values: &[(&'static str, u64)]) -> Node {
    let mut n = node.clone();
    for &(attr, v) in values {
        n.set_attribute(attr, AttributeValue::Int(v as i64));
    }
    n
}

/// The estimates of `node` folded as `values`; `None` when the kernel refuses them (a rule
/// across attributes) or estimates no cycles.
fn estimate(
    kernel: &dyn DynKernel,
    node: &Node,
    graph: &Graph,
    target: &Target,
    values: Vec<(&'static str, u64)>,
) -> Option<Choice> {
    let trial = with_values(node, &values);
    let cycles = kernel.cycles(&trial, graph).ok()??;
    let resources = kernel
        .resources(&trial, graph, target)
        .ok()
        .flatten()
        .unwrap_or_default();
    Some(Choice {
        values,
        cycles,
        resources,
    })
}

/// Every kernel node of `graph` with folding knobs, and their legal foldings. Nodes that
/// cannot be folded (their attributes do not read, or they have too many foldings) are
/// returned as `(node name, why)` beside.
pub fn foldables(
    registry: &Registry,
    graph: &Graph,
    target: &Target,
) -> (Vec<Foldable>, Vec<(String, String)>) {
    let mut kernels: FxHashMap<String, Arc<dyn DynKernel>> = FxHashMap::default();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        let Ok(Some(implementation)) = resolve(registry, node) else {
            continue;
        };
        let name = implementation.kernel.qualified_name();
        let kernel = match kernels.get(name) {
            Some(k) => Arc::clone(k),
            None => match implementation.kernel.with_defaults() {
                Ok(k) => {
                    let k: Arc<dyn DynKernel> = k.into();
                    kernels.insert(name.to_owned(), Arc::clone(&k));
                    k
                }
                Err(e) => {
                    skipped.push((node.name.clone(), e.to_string()));
                    continue;
                }
            },
        };
        let knobs = match kernel.folding(node, graph) {
            Ok(k) if k.is_empty() => continue,
            Ok(k) => k,
            Err(e) => {
                skipped.push((node.name.clone(), e.to_string()));
                continue;
            }
        };
        let combos = knobs
            .iter()
            .try_fold(1usize, |n, k| n.checked_mul(k.legal.len()))
            .filter(|&n| n <= MAX_OPTIONS);
        let Some(combos) = combos else {
            skipped.push((
                node.name.clone(),
                format!("more than {MAX_OPTIONS} foldings to weigh; fold it by hand"),
            ));
            continue;
        };
        let mut options = Vec::with_capacity(combos);
        for k in 0..combos {
            let mut rest = k;
            let values = knobs
                .iter()
                .map(|knob| {
                    let v = knob.legal[rest % knob.legal.len()];
                    rest /= knob.legal.len();
                    (knob.attr, v)
                })
                .collect();
            options.extend(estimate(kernel.as_ref(), node, graph, target, values));
        }
        if options.is_empty() {
            skipped.push((
                node.name.clone(),
                "no folding of it is legal, or its kernel estimates no cycles".into(),
            ));
            continue;
        }
        found.push(Foldable {
            index,
            kernel,
            knobs,
            options,
        });
    }
    (found, skipped)
}

/// The cheapest folding of `f` that takes at most `target` cycles per frame (the faster
/// one between equals); the fastest (then cheapest) one when none is fast enough.
pub fn cheapest(f: &Foldable, target: u64) -> &Choice {
    let fast_enough = f
        .options
        .iter()
        .filter(|c| c.cycles <= target)
        .min_by_key(|c| (c.cost(), c.cycles));
    fast_enough.unwrap_or_else(|| {
        f.options
            .iter()
            .min_by_key(|c| (c.cycles, c.cost()))
            .expect("a foldable node has options")
    })
}

/// A folding of a whole graph: one choice per foldable node.
#[derive(Clone, Debug)]
pub struct Plan<'f> {
    /// `(node index, choice)`, in graph order.
    pub choices: Vec<(usize, &'f Choice)>,
}

impl Plan<'_> {
    /// The slowest node's cycles per frame: the design's initiation interval.
    pub fn bottleneck(&self) -> u64 {
        self.choices
            .iter()
            .map(|(_, c)| c.cycles)
            .max()
            .unwrap_or(0)
    }

    /// The index of the slowest node.
    pub fn bottleneck_node(&self) -> Option<usize> {
        self.choices
            .iter()
            .max_by_key(|(_, c)| c.cycles)
            .map(|(i, _)| *i)
    }

    /// The summed resources.
    pub fn resources(&self) -> Resources {
        self.choices
            .iter()
            .fold(Resources::default(), |a, (_, c)| a + c.resources)
    }

    /// [`cost`] of the summed resources.
    pub fn cost(&self) -> u64 {
        cost(&self.resources())
    }

    /// Writes the choices onto the graph's nodes; whether any value changed.
    pub fn write(&self, graph: &mut Graph) -> bool {
        let mut changed = false;
        for &(i, choice) in &self.choices {
            let node = &mut graph.nodes[i];
            for &(attr, v) in &choice.values {
                if node.attr_int(attr) != Some(v as i64) {
                    node.set_attribute(attr, AttributeValue::Int(v as i64));
                    changed = true;
                }
            }
        }
        changed
    }
}

/// Our folding for `target` cycles per frame: every node its [`cheapest`] folding for the
/// target; when a node cannot reach it, every node is folded again for what that
/// bottleneck reaches (anything faster would cost without gaining throughput).
pub fn plan(foldables: &[Foldable], target: u64) -> Plan<'_> {
    let first = Plan {
        choices: foldables
            .iter()
            .map(|f| (f.index, cheapest(f, target)))
            .collect(),
    };
    let reached = first.bottleneck();
    if reached <= target {
        return first;
    }
    Plan {
        choices: foldables
            .iter()
            .map(|f| (f.index, cheapest(f, reached)))
            .collect(),
    }
}

/// The fastest plan whose [`cost`] is within `budget`: the smallest target, among the
/// cycle counts any option has, whose plan fits (a larger target never costs more, so a
/// bisection finds it). `None` when not even the slowest plan fits.
pub fn plan_within(foldables: &[Foldable], target: u64, budget: u64) -> Option<Plan<'_>> {
    let wanted = plan(foldables, target);
    if wanted.cost() <= budget {
        return Some(wanted);
    }
    let mut targets: Vec<u64> = foldables
        .iter()
        .flat_map(|f| f.options.iter().map(|c| c.cycles))
        .filter(|&c| c > target)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let fits = |t: u64| plan(foldables, t).cost() <= budget;
    let first = targets.partition_point(|&t| !fits(t));
    targets.get(first).map(|&t| plan(foldables, t))
}

/// FINN's `SetFolding` on the same estimates, for comparison and for users who want
/// FINN's choices: per node in graph order, each knob in the kernel's order raised
/// through its legal values until the node takes fewer than `target` cycles (MVAU's
/// `SIMD` also stops before its weights grow wider than `max_weight_width` bits); a second
/// pass with the bottleneck as the target when the first misses it. Like FINN, it
/// leaves kernels it has no rule for (`StreamingMaxPool`, say) as they are.
pub fn finn_plan(
    foldables: &[Foldable],
    graph: &Graph,
    tensors_target: &Target,
    target: u64,
    max_weight_width: u64,
) -> Vec<(usize, Choice)> {
    let pass = |target: u64| -> Vec<(usize, Choice)> {
        let mut out = Vec::new();
        for f in foldables {
            let node = &graph.nodes[f.index];
            let op = kernel_op(node).1;
            if !matches!(
                op,
                "MVAU"
                    | "Thresholding"
                    | "AddStreams"
                    | "ChannelwiseOp"
                    | "DuplicateStreams"
                    | "GlobalAccPool"
                    | "LabelSelect"
                    | "ConvolutionInputGenerator"
                    | "FMPadding"
            ) {
                continue;
            }
            let weight_bits = node
                .attr_str("weightDataType")
                .and_then(|d| d.parse::<brainsmith_core::ir::QuantType>().ok())
                .map_or(1, |d| u64::from(d.bitwidth()));
            let mut values: Vec<(&'static str, u64)> =
                f.knobs.iter().map(|k| (k.attr, k.legal[0])).collect();
            let at = |values: &[(&'static str, u64)]| {
                estimate(
                    f.kernel.as_ref(),
                    node,
                    graph,
                    tensors_target,
                    values.to_vec(),
                )
            };
            for (k, knob) in f.knobs.iter().enumerate() {
                for &v in &knob.legal {
                    let previous = values[k].1;
                    values[k].1 = v;
                    if op == "MVAU" && knob.attr == "SIMD" && weight_bits * v > max_weight_width {
                        values[k].1 = previous;
                        break;
                    }
                    if at(&values).is_some_and(|c| c.cycles < target) {
                        break;
                    }
                }
            }
            if let Some(choice) = at(&values) {
                out.push((f.index, choice));
            }
        }
        out
    };
    let first = pass(target);
    let reached = first.iter().map(|(_, c)| c.cycles).max().unwrap_or(0);
    if reached > target {
        pass(reached)
    } else {
        first
    }
}

/// A default of FINN's folding configuration: `attr` set to `value` on every node of the
/// listed op types (or of all).
#[derive(Clone, Debug, PartialEq)]
pub struct Default {
    /// The attribute.
    pub attr: String,
    /// Its value.
    pub value: serde_json::Value,
    /// The op types it applies to; `None` for all.
    pub op_types: Option<Vec<String>>,
}

/// FINN's folding configuration: per node name, attribute values, and defaults by op type
/// (`"Defaults": {"ram_style": ["block", ["MVAU_hls"]]}`, or `[value, "all"]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FoldingConfig {
    /// The defaults, in file order.
    pub defaults: Vec<Default>,
    /// Node name -> attribute -> value.
    pub nodes: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl FoldingConfig {
    /// Reads FINN's JSON; an error names the key that is not in FINN's form.
    pub fn parse(text: &str) -> Result<FoldingConfig, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let serde_json::Value::Object(top) = value else {
            return Err("a folding configuration is a JSON object of node names".into());
        };
        let mut config = FoldingConfig {
            defaults: Vec::new(),
            nodes: BTreeMap::new(),
        };
        for (key, entry) in top {
            let serde_json::Value::Object(attrs) = entry else {
                return Err(format!(
                    "'{key}': expected an object of attribute values, found {entry}"
                ));
            };
            if key == "Defaults" {
                for (attr, v) in attrs {
                    let bad = || {
                        format!(
                            "'Defaults.{attr}': expected [value, [op types]] or [value, \"all\"]"
                        )
                    };
                    let serde_json::Value::Array(pair) = v else {
                        return Err(bad());
                    };
                    let [value, ops] = &pair[..] else {
                        return Err(bad());
                    };
                    let op_types = match ops {
                        serde_json::Value::String(s) if s == "all" => None,
                        serde_json::Value::Array(list) => Some(
                            list.iter()
                                .map(|o| o.as_str().map(str::to_owned).ok_or_else(bad))
                                .collect::<Result<_, _>>()?,
                        ),
                        _ => return Err(bad()),
                    };
                    config.defaults.push(Default {
                        attr,
                        value: value.clone(),
                        op_types,
                    });
                }
            } else {
                config.nodes.insert(key, attrs.into_iter().collect());
            }
        }
        Ok(config)
    }

    /// The folding of every named kernel node of `model` with knobs: its knob values,
    /// FINN's form (FINN writes the same, per node).
    pub fn of_model(registry: &Registry, model: &Model) -> FoldingConfig {
        let (foldables, _) = foldables(registry, &model.graph, &Target::default());
        let mut nodes = BTreeMap::new();
        for f in &foldables {
            let node = &model.graph.nodes[f.index];
            if node.name.is_empty() {
                continue;
            }
            let attrs = f
                .knobs
                .iter()
                .filter_map(|k| {
                    node.attr_int(k.attr)
                        .map(|v| (k.attr.to_owned(), serde_json::json!(v)))
                })
                .collect();
            nodes.insert(node.name.clone(), attrs);
        }
        FoldingConfig {
            defaults: Vec::new(),
            nodes,
        }
    }

    /// FINN's JSON, pretty-printed, `Defaults` first.
    pub fn to_json(&self) -> String {
        let mut top = serde_json::Map::new();
        if !self.defaults.is_empty() {
            let defaults = self
                .defaults
                .iter()
                .map(|d| {
                    let ops = match &d.op_types {
                        None => serde_json::json!("all"),
                        Some(ops) => serde_json::json!(ops),
                    };
                    (d.attr.clone(), serde_json::json!([d.value, ops]))
                })
                .collect();
            top.insert("Defaults".into(), serde_json::Value::Object(defaults));
        }
        for (name, attrs) in &self.nodes {
            top.insert(
                name.clone(),
                serde_json::Value::Object(attrs.clone().into_iter().collect()),
            );
        }
        let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(top))
            .expect("JSON values serialise");
        text.push('\n');
        text
    }

    /// Writes the configuration onto `model`'s nodes: defaults first, then each node's own
    /// values; every value is checked by the node's kernel (its schema and its rules).
    /// Every problem is reported at once and, when there is one, the model is left as it
    /// was: a node name the model does not have, an attribute the kernel does not
    /// declare, a value of the wrong kind or breaking a rule.
    pub fn apply(&self, registry: &Registry, model: &mut Model) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut graph = model.graph.clone();
        let by_name: FxHashMap<&str, usize> = model
            .graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.name.is_empty())
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        for name in self.nodes.keys() {
            if !by_name.contains_key(name.as_str()) {
                problems.push(format!(
                    "'{name}': the model has no node of that name{}",
                    did_you_mean(name, by_name.keys().copied())
                ));
            }
        }
        for (i, node) in graph.nodes.iter_mut().enumerate() {
            let op = model.graph.nodes[i].op_type.as_str();
            let base = kernel_op(&model.graph.nodes[i]).1.to_owned();
            let mut values: Vec<(&str, &serde_json::Value)> = self
                .defaults
                .iter()
                .filter(|d| {
                    d.op_types
                        .as_ref()
                        .is_none_or(|ops| ops.iter().any(|o| o == op || *o == base))
                })
                .map(|d| (d.attr.as_str(), &d.value))
                .collect();
            if let Some(own) = self.nodes.get(&node.name) {
                values.extend(own.iter().map(|(a, v)| (a.as_str(), v)));
            }
            if values.is_empty() {
                continue;
            }
            let Ok(Some(implementation)) = resolve(registry, node) else {
                if self.nodes.contains_key(&node.name) {
                    problems.push(format!(
                        "'{}' ({op}): no registered kernel implements it, so it has no folding",
                        node.name
                    ));
                }
                continue;
            };
            let mut schema: Vec<&str> = implementation
                .kernel
                .attrs()
                .iter()
                .map(|a| a.name)
                .collect();
            if let Some(b) = implementation.backend {
                schema.extend(b.attrs().iter().map(|a| a.name));
            }
            for (attr, value) in values {
                if !schema.contains(&attr) {
                    problems.push(format!(
                        "'{}' ({op}): attribute '{attr}' is not one of its kernel's{}",
                        node.name,
                        did_you_mean(attr, schema.iter().copied())
                    ));
                    continue;
                }
                let v = match value {
                    serde_json::Value::Number(n) if n.is_i64() => {
                        AttributeValue::Int(n.as_i64().unwrap_or_default())
                    }
                    serde_json::Value::Number(n) => {
                        AttributeValue::Float(n.as_f64().unwrap_or_default() as f32)
                    }
                    serde_json::Value::String(s) => AttributeValue::string(s),
                    serde_json::Value::Bool(b) => AttributeValue::Int(i64::from(*b)),
                    serde_json::Value::Array(list) if list.iter().all(|x| x.is_i64()) => {
                        AttributeValue::Ints(list.iter().filter_map(|x| x.as_i64()).collect())
                    }
                    other => {
                        problems.push(format!(
                            "'{}' ({op}): attribute '{attr}': {other} is not an attribute value",
                            node.name
                        ));
                        continue;
                    }
                };
                node.set_attribute(attr, v);
            }
            match implementation.kernel.with_defaults() {
                Ok(kernel) => {
                    if let Err(e) = kernel.check_attrs(node) {
                        problems.extend(
                            e.problems
                                .iter()
                                .map(|p| format!("'{}' ({op}): {p}", node.name)),
                        );
                    }
                }
                Err(e) => problems.push(format!("'{}' ({op}): {e}", node.name)),
            }
        }
        if problems.is_empty() {
            model.graph = graph;
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `"; did you mean 'X'?"`, or nothing.
fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    brainsmith_core::suggest::closest(input, candidates)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

/// A [`PluginError`] listing `problems`.
pub(crate) fn problems_error(what: &str, problems: &[String]) -> PluginError {
    PluginError::new(format!(
        "{what}: {} problem{}:\n  {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.join("\n  ")
    ))
}
