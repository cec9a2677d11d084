//! ONNX ops by family, each op's shape rule and evaluator side by side (tract and burn
//! organise their ops the same way): the standard ops of the ONNX backend suite, the
//! `ai.onnx.ml` ops it tests, and the QONNX dialect ops (the quantizers,
//! `MultiThreshold`, `Im2Col`).
//!
//! Each family file lists what it knows as static [`Entry`]s: a shape rule (what
//! [`shapes`](crate::shapes) infers with), an evaluator with the number of inputs it needs
//! at least (what [`eval`](crate::eval) folds constants with), and for the ops that only
//! give their input other dimensions, the view rule (what lets `FoldConstants` reuse
//! stored data). An op may have any of the three; one table per domain merges them by op
//! type, so that an op type of one domain never takes the rules of another's.
//!
//! The table covers what has a meaning in ONNX or QONNX itself. A hardware op (FINN's
//! `MVAU`, a plugin crate's kernel) is taught by registering a kernel: shape inference
//! and the model executor ask the registered kernel first, and the table only after.

mod creation;
mod elementwise;
mod linalg;
mod ml;
mod movement;
mod qonnx;
mod reduce;
mod sequence;
mod signal;
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

/// What the table knows of one op type: where its shape rule, evaluator and view rule
/// are among the families' entries ([`Slot`]s, six bytes: the first shape inference of a
/// process builds this table on fresh heap pages, and fn pointers would treble them).
#[derive(Clone, Copy)]
struct Op {
    shape: Slot,
    eval: Slot,
    view: Slot,
}

impl Default for Op {
    fn default() -> Self {
        Op {
            shape: Slot::NONE,
            eval: Slot::NONE,
            view: Slot::NONE,
        }
    }
}

/// An entry of [`FAMILIES`]: family `index >> 8`, entry `index & 0xff`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot(u16);

impl Slot {
    const NONE: Slot = Slot(u16::MAX);

    fn get(self) -> Option<&'static What> {
        if self == Slot::NONE {
            return None;
        }
        let (family, entry) = (usize::from(self.0 >> 8), usize::from(self.0 & 0xff));
        Some(&FAMILIES[family][entry].what)
    }
}

/// The domain an op type is registered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Domain {
    /// The default ONNX domain.
    Onnx,
    /// `ai.onnx.ml`, the traditional machine-learning ops (shape rules only).
    OnnxMl,
    /// QONNX's `qonnx.custom_op.general` (FINN's older `finn.custom_op.general` reads as
    /// it). Its shape rules apply to a custom op of that type in any domain but the
    /// standard ones, as qonnx's own inference does; its evaluators only in this domain.
    Qonnx,
}

impl Domain {
    /// The domain a node is of, as the table sees it: `ai.onnx.ml` for that domain, the
    /// default domain for `""` and `ai.onnx`, QONNX's for every other.
    pub(crate) fn of(node: &Node) -> Domain {
        match canonical_domain(&node.domain) {
            "" => Domain::Onnx,
            ML_DOMAIN => Domain::OnnxMl,
            _ => Domain::Qonnx,
        }
    }

    /// The name a node of this domain is written with.
    #[cfg(test)]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Domain::Onnx => "",
            Domain::OnnxMl => ML_DOMAIN,
            Domain::Qonnx => "qonnx.custom_op.general",
        }
    }
}

/// The name of the `ai.onnx.ml` domain.
pub(crate) const ML_DOMAIN: &str = "ai.onnx.ml";

/// One registration of a family: `what` for each of `ops` in `domain`.
pub(crate) struct Entry {
    pub(crate) domain: Domain,
    pub(crate) ops: &'static [&'static str],
    pub(crate) what: What,
}

/// What an [`Entry`] registers.
pub(crate) enum What {
    /// A shape rule.
    Shape(ShapeRule),
    /// An evaluator and the number of inputs it needs at least.
    Eval(Evaluator, usize),
    /// A view rule (default domain only).
    View(ViewRule),
}

/// Every op type with what is known of it, by domain.
#[derive(Default)]
struct Table {
    onnx: FxHashMap<&'static str, Op>,
    ml: FxHashMap<&'static str, Op>,
    qonnx: FxHashMap<&'static str, Op>,
}

impl Table {
    /// The op types of `domain`.
    fn ops(&self, domain: Domain) -> &FxHashMap<&'static str, Op> {
        match domain {
            Domain::Onnx => &self.onnx,
            Domain::OnnxMl => &self.ml,
            Domain::Qonnx => &self.qonnx,
        }
    }
}

/// The families' registrations, in one place.
const FAMILIES: [&[Entry]; 10] = [
    creation::ENTRIES,
    elementwise::ENTRIES,
    linalg::ENTRIES,
    ml::ENTRIES,
    movement::ENTRIES,
    qonnx::ENTRIES,
    reduce::ENTRIES,
    sequence::ENTRIES,
    signal::ENTRIES,
    window::ENTRIES,
];

/// The table, made once from the families' static entries: a `match` over some hundred
/// op types cost a tenth of shape inference, and running seven registration functions
/// touched seven pages of code in a process's first shape inference.
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Table {
            onnx: FxHashMap::with_capacity_and_hasher(192, Default::default()),
            ml: FxHashMap::with_capacity_and_hasher(8, Default::default()),
            qonnx: FxHashMap::with_capacity_and_hasher(16, Default::default()),
        };
        for (f, family) in FAMILIES.iter().enumerate() {
            for (e, entry) in family.iter().enumerate() {
                let at = Slot(((f as u16) << 8) | e as u16);
                let map = match entry.domain {
                    Domain::Onnx => &mut table.onnx,
                    Domain::OnnxMl => &mut table.ml,
                    Domain::Qonnx => &mut table.qonnx,
                };
                for &op in entry.ops {
                    let slot = map.entry(op).or_default();
                    match entry.what {
                        What::Shape(_) => slot.shape = at,
                        What::Eval(..) => slot.eval = at,
                        What::View(_) => slot.view = at,
                    }
                }
            }
        }
        table
    })
}

/// The shape rule of `node`'s op type among those of its domain ([`Domain::of`]: a
/// custom op by its type among QONNX's).
pub(crate) fn shape_rule(node: &Node) -> Option<ShapeRule> {
    let ops = table().ops(Domain::of(node));
    match ops.get(node.op_type.as_str())?.shape.get()? {
        What::Shape(rule) => Some(*rule),
        _ => None,
    }
}

/// The evaluator of `node`'s op type, with the number of inputs it needs at least.
pub(crate) fn evaluator(node: &Node) -> Option<(Evaluator, usize)> {
    let domain = Domain::of(node);
    if domain == Domain::Qonnx && canonical_domain(&node.domain) != "qonnx.custom_op.general" {
        return None;
    }
    match table().ops(domain).get(node.op_type.as_str())?.eval.get()? {
        What::Eval(eval, needs) => Some((*eval, *needs)),
        _ => None,
    }
}

/// The view rule of `node`'s op type, when it only changes its input's dimensions.
pub(crate) fn view(node: &Node) -> Option<ViewRule> {
    if !node.is_onnx() {
        return None;
    }
    match table().onnx.get(node.op_type.as_str())?.view.get()? {
        What::View(rule) => Some(*rule),
        _ => None,
    }
}

/// Every op type with a shape rule, with its domain.
#[cfg(test)]
pub(crate) fn op_types() -> impl Iterator<Item = (&'static str, Domain)> {
    let t = table();
    [Domain::Onnx, Domain::OnnxMl, Domain::Qonnx]
        .into_iter()
        .flat_map(move |domain| {
            t.ops(domain)
                .iter()
                .filter(|(_, op)| op.shape != Slot::NONE)
                .map(move |(&name, _)| (name, domain))
        })
}
