//! Sequences and optionals: the ops among them whose output is a tensor fixed by the
//! op alone (`SequenceLength`, `OptionalHasElement`). Shape rules only: a
//! [`TensorType`] holds no sequence or optional, so the ops that make one, or read a
//! tensor out of one (`SequenceAt`, `ConcatFromSequence`, `OptionalGetElement`), have
//! no rule.

use super::Domain::Onnx;
use super::{Entry, What};
use crate::shapes::{BOOL, Ctx, INT64, typed};
use brainsmith_core::ir::TensorType;

/// What this family registers into the op table (static data: building the table
/// reads it without running any of the family's code).
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        domain: Onnx,
        ops: &["SequenceLength"],
        what: What::Shape(sequence_length),
    },
    Entry {
        domain: Onnx,
        ops: &["OptionalHasElement"],
        what: What::Shape(optional_has_element),
    },
];

/// `SequenceLength`: a scalar count.
fn sequence_length(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![typed(INT64, vec![])])
}

/// `OptionalHasElement`: a scalar boolean.
fn optional_has_element(_: &Ctx<'_>) -> Result<Vec<TensorType>, String> {
    Ok(vec![typed(BOOL, vec![])])
}
