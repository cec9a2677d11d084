//! ONNX ops by family, each op's shape rule and evaluator side by side (tract and burn
//! organise their ops the same way): the standard ops found in real models, and the
//! QONNX dialect ops (the quantizers, `MultiThreshold`, `Im2Col`).
//!
//! Each family file registers its ops into one [`Table`]: a shape rule (what
//! [`shapes`](crate::shapes) infers with), an evaluator with the number of inputs it needs
//! at least (what [`eval`](crate::eval) folds constants with), and for the ops that only
//! give their input other dimensions, the view rule (what lets `FoldConstants` reuse
//! stored data). An op may have any of the three; the table merges them by op type.
//!
//! The table covers what has a meaning in ONNX or QONNX itself. A hardware op (FINN's
//! `MVAU`, a plugin crate's kernel) is taught by registering a kernel: shape inference
//! and the model executor ask the registered kernel first, and the table only after.

mod creation;
mod elementwise;
mod linalg;
mod movement;
mod qonnx;
mod reduce;
#[cfg(test)]
mod tests;
pub(crate) mod window;

use std::sync::OnceLock;

use brainsmith_core::ir::{Node, TensorType, canonical_domain};
use rustc_hash::FxHashMap;

use crate::eval::{Array, Run};
use crate::shapes::Ctx;

/// A shape rule: the output types of a node from what its [`Ctx`] knows.
pub(crate) type ShapeRule = fn(&Ctx<'_>) -> Result<Vec<TensorType>, String>;

/// An evaluator: the outputs of a node from its given inputs (an omitted optional input
/// in between is refused before it runs; it indexes the inputs it needs directly).
pub(crate) type Evaluator = fn(&Node, &[&Array], &Run) -> Result<Vec<Array>, String>;

/// A view rule: the output dimensions of an op that only gives its first input other
/// dimensions, from the data input's dimensions, the other inputs and the opset.
pub(crate) type ViewRule = fn(&Node, &[usize], &[&Array], i64) -> Result<Vec<usize>, String>;

/// What the table knows of one op type.
#[derive(Clone, Copy, Default)]
pub(crate) struct Op {
    /// Its shape rule.
    pub(crate) shape: Option<ShapeRule>,
    /// Its evaluator and the number of inputs that evaluator needs at least.
    pub(crate) eval: Option<(Evaluator, usize)>,
    /// Its view rule, for ops that only change dimensions.
    pub(crate) view: Option<ViewRule>,
}

/// The domain an op type is registered in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    /// The default ONNX domain.
    Onnx,
    /// QONNX's `qonnx.custom_op.general` (FINN's older `finn.custom_op.general` reads as
    /// it). Its shape rules apply to a custom op of that type in any domain, as qonnx's
    /// own inference does; its evaluators only in this domain.
    Qonnx,
}

/// Every op type with what is known of it, by domain.
#[derive(Default)]
pub(crate) struct Table {
    onnx: FxHashMap<&'static str, Op>,
    qonnx: FxHashMap<&'static str, Op>,
}

impl Table {
    fn entry(&mut self, domain: Domain, op: &'static str) -> &mut Op {
        match domain {
            Domain::Onnx => self.onnx.entry(op).or_default(),
            Domain::Qonnx => self.qonnx.entry(op).or_default(),
        }
    }

    /// Registers `rule` as the shape rule of `ops`.
    pub(crate) fn shape(&mut self, domain: Domain, ops: &[&'static str], rule: ShapeRule) {
        for &op in ops {
            let entry = self.entry(domain, op);
            assert!(entry.shape.is_none(), "two shape rules for {op}");
            entry.shape = Some(rule);
        }
    }

    /// Registers `eval`, which needs at least `needs` inputs, as the evaluator of `ops`.
    pub(crate) fn eval(
        &mut self,
        domain: Domain,
        ops: &[&'static str],
        eval: Evaluator,
        needs: usize,
    ) {
        for &op in ops {
            let entry = self.entry(domain, op);
            assert!(entry.eval.is_none(), "two evaluators for {op}");
            entry.eval = Some((eval, needs));
        }
    }

    /// Registers `rule` as the view rule of default-domain `ops`.
    pub(crate) fn view(&mut self, ops: &[&'static str], rule: ViewRule) {
        for &op in ops {
            let entry = self.entry(Domain::Onnx, op);
            assert!(entry.view.is_none(), "two view rules for {op}");
            entry.view = Some(rule);
        }
    }
}

/// The table, made once: looking an op type up among some hundred names by `match` cost
/// a tenth of shape inference.
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        // Sized for every op type at once: growing the maps while registering was half
        // the work of the first shape inference of a process.
        let mut table = Table {
            onnx: FxHashMap::with_capacity_and_hasher(192, Default::default()),
            qonnx: FxHashMap::with_capacity_and_hasher(16, Default::default()),
        };
        creation::register(&mut table);
        elementwise::register(&mut table);
        linalg::register(&mut table);
        movement::register(&mut table);
        qonnx::register(&mut table);
        reduce::register(&mut table);
        window::register(&mut table);
        table
    })
}

/// The shape rule of `node`'s op type: a default-domain op by its type; any other by its
/// type among QONNX's.
pub(crate) fn shape_rule(node: &Node) -> Option<ShapeRule> {
    let t = table();
    let ops = if node.is_onnx() { &t.onnx } else { &t.qonnx };
    ops.get(node.op_type.as_str())?.shape
}

/// The evaluator of `node`'s op type, with the number of inputs it needs at least.
pub(crate) fn evaluator(node: &Node) -> Option<(Evaluator, usize)> {
    let t = table();
    let ops = if node.is_onnx() {
        &t.onnx
    } else if canonical_domain(&node.domain) == "qonnx.custom_op.general" {
        &t.qonnx
    } else {
        return None;
    };
    ops.get(node.op_type.as_str())?.eval
}

/// The view rule of `node`'s op type, when it only changes its input's dimensions.
pub(crate) fn view(node: &Node) -> Option<ViewRule> {
    if !node.is_onnx() {
        return None;
    }
    table().onnx.get(node.op_type.as_str())?.view
}

/// Every op type with a shape rule, and whether it is of the default domain.
#[cfg(test)]
pub(crate) fn op_types() -> impl Iterator<Item = (&'static str, bool)> {
    let t = table();
    let with_rule = |ops: &'static FxHashMap<&'static str, Op>, onnx: bool| {
        ops.iter()
            .filter(|(_, op)| op.shape.is_some())
            .map(move |(&name, _)| (name, onnx))
    };
    with_rule(&t.onnx, true).chain(with_rule(&t.qonnx, false))
}
