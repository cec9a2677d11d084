//! [`SetFolding`] and [`ApplyFoldingConfig`]

use brainsmith_core::Registry;
use brainsmith_core::kernel::Target;
use brainsmith_core::prelude::*;

use crate::folding::{self, FoldingConfig, problems_error};

/// Sets every kernel node's folding knobs (`SIMD`, `PE`, the sliding window's `SIMD`...)
/// so that the design takes at most `target_cycles` cycles per frame, at the least
/// estimated cost, within an optional budget.
///
/// Each node gets the cheapest legal folding (its kernel's knobs and rules, its cycle and
/// resource estimates; cost in LUT equivalents, see `folding::cost`) that meets the
/// target. Where a node cannot meet it, every node is folded again for the throughput
/// that bottleneck allows, and a diagnostic names it. With `budget_luts`, the fastest
/// design whose cost fits is chosen instead when the target's does not; a budget that not
/// even the slowest design fits is an error. `strategy = "finn"` makes FINN's choices
/// instead (FINN's `SetFolding`: each knob raised in turn until the node is under the
/// target, MVAU's `SIMD` capped by `max_weight_width`), for comparison.
///
/// Unlike FINN, ours folds every registered kernel with knobs, including another crate's,
/// never settles for a costlier folding that meets the same target, and a node whose
/// attributes do not read is named in a diagnostic rather than aborting the build.
///
/// ```
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, qonnx};
/// use brainsmith_plugins::InferThresholding;
/// use brainsmith_core::Registry;
///
/// // 64 channels of thresholds, one a cycle unfolded; at most 16 cycles asks for PE = 4.
/// let mt = qonnx("MultiThreshold", ["x", "th"], ["y"]).text("out_dtype", "UINT1");
/// let mut m = Sketch::new().int_input("x", &[1, 64], "UINT4").constant("th", &[64, 1], &[7.0; 64])
///     .node(mt).output("y").build();
/// assert!(apply(&InferThresholding, &mut m));
/// let registry = Registry::global().unwrap();
/// let set = registry.transform("SetFolding").unwrap();
/// let set = set.configure(&"target_cycles = 16".parse().unwrap()).unwrap();
/// assert!(apply(set.as_ref(), &mut m));
/// assert_eq!(m.graph.nodes[0].attr_int("PE"), Some(4));
/// ```
/// In a blueprint: `kernel_opt = [{ transform = "SetFolding", config = { target_cycles = 16 } }]`.
#[transform(stage = kernel_opt, tags = ["finn", "folding", "performance"], version = "0.1.0", config)]
#[derive(Debug, Config)]
pub struct SetFolding {
    /// Cycles per frame the slowest node may take (FINN's `target_cycles_per_frame`).
    #[config(default = 1000, check = positive)]
    pub target_cycles: u64,
    /// The most the whole design may cost, in LUT equivalents; none by default.
    pub budget_luts: Option<u64>,
    /// `"cheapest"` (ours) or `"finn"` (FINN's algorithm, on the same estimates).
    #[config(default = "cheapest".to_owned(), check = known_strategy)]
    pub strategy: String,
    /// For `"finn"`: the widest weight word an MVAU's `SIMD` may make, in bits (FINN's
    /// `mvau_wwidth_max`).
    #[config(default = 36)]
    pub max_weight_width: u64,
}

fn positive(v: &u64) -> Result<(), String> {
    if *v >= 1 {
        Ok(())
    } else {
        Err("a frame takes at least 1 cycle".into())
    }
}

#[allow(
    clippy::ptr_arg,
    reason = "a configuration check takes its field's type"
)]
fn known_strategy(s: &String) -> Result<(), String> {
    match s.as_str() {
        "cheapest" | "finn" => Ok(()),
        other => Err(format!(
            "unknown strategy '{other}'; the strategies are \"cheapest\" and \"finn\""
        )),
    }
}

impl Default for SetFolding {
    fn default() -> SetFolding {
        SetFolding::from_table(&Default::default()).expect("every key has a default")
    }
}

impl Transform for SetFolding {
    fn apply(&self, model: &mut Model, ctx: &mut TransformContext) -> Result<bool, PluginError> {
        positive(&self.target_cycles).map_err(PluginError::new)?;
        known_strategy(&self.strategy).map_err(PluginError::new)?;
        let registry = Registry::global().map_err(|e| PluginError::new(e.to_string()))?;
        let target = Target::default();
        let (foldables, skipped) = folding::foldables(registry, &model.graph, &target);
        for (node, why) in skipped {
            ctx.warn(node.clone(), format!("not folded: {why}"));
        }
        if self.strategy == "finn" {
            let choices = folding::finn_plan(
                &foldables,
                &model.graph,
                &target,
                self.target_cycles,
                self.max_weight_width,
            );
            let plan = folding::Plan {
                choices: choices.iter().map(|(i, c)| (*i, c)).collect(),
            };
            return Ok(plan.write(&mut model.graph));
        }
        let plan = match self.budget_luts {
            None => folding::plan(&foldables, self.target_cycles),
            Some(budget) => folding::plan_within(&foldables, self.target_cycles, budget)
                .ok_or_else(|| {
                    let slowest = folding::plan(&foldables, u64::MAX);
                    PluginError::new(format!(
                        "no folding fits the budget of {budget} LUT equivalents: the \
                         slowest design costs {}; raise `budget_luts`",
                        slowest.cost()
                    ))
                })?,
        };
        if plan.bottleneck() > self.target_cycles
            && let Some(i) = plan.bottleneck_node()
        {
            let node = &model.graph.nodes[i];
            let why = if self
                .budget_luts
                .is_some_and(|b| folding::plan(&foldables, self.target_cycles).cost() > b)
            {
                "within the budget"
            } else {
                "at its most parallel"
            };
            ctx.warn(
                node.name.clone(),
                format!(
                    "{} '{}' takes {} cycles per frame {why}, more than the target {}; the \
                     design is folded for {} cycles per frame",
                    node.op_type,
                    node.name,
                    plan.bottleneck(),
                    self.target_cycles,
                    plan.bottleneck()
                ),
            );
        }
        Ok(plan.write(&mut model.graph))
    }
}

/// Applies a FINN folding configuration (JSON: per node name, attribute values; a
/// `Defaults` entry by op type) to the model's kernel nodes.
///
/// Every value is checked against the node's kernel (its attribute schema and rules such
/// as "SIMD divides MW"); all problems are reported at once, and on any problem the model
/// is left unchanged.
///
/// ```
/// use brainsmith_plugins::sketch::{Attrs, Sketch, apply, finn};
/// use brainsmith_plugins::ApplyFoldingConfig;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("folding.json");
/// std::fs::write(&path, r#"{ "Defaults": {}, "pool": { "PE": 3 } }"#).unwrap();
/// let pool = finn("GlobalAccPool", ["x"], ["y"]).with_name("pool").int("NumChannels", 6)
///     .ints("numInputVectors", &[1, 2, 2]).text("inputDataType", "UINT4");
/// let mut m = Sketch::new().int_input("x", &[1, 2, 2, 6], "UINT4").node(pool).output("y").build();
/// let apply_json = ApplyFoldingConfig { path: path.display().to_string() };
/// assert!(apply(&apply_json, &mut m));
/// assert_eq!(m.graph.nodes[0].attr_int("PE"), Some(3));
/// ```
#[transform(stage = kernel_opt, tags = ["finn", "folding"], version = "0.1.0", config)]
#[derive(Debug, Config)]
pub struct ApplyFoldingConfig {
    /// The JSON file.
    pub path: String,
}

impl Transform for ApplyFoldingConfig {
    fn apply(&self, model: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| PluginError::new(format!("cannot read '{}': {e}", self.path)))?;
        let config = FoldingConfig::parse(&text)
            .map_err(|e| PluginError::new(format!("'{}': {e}", self.path)))?;
        let registry = Registry::global().map_err(|e| PluginError::new(e.to_string()))?;
        let before = model.graph.nodes.clone();
        config
            .apply(registry, model)
            .map_err(|p| problems_error(&format!("folding configuration '{}'", self.path), &p))?;
        Ok(*model.graph.nodes != *before)
    }
}
