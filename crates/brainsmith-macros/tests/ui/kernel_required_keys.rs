use brainsmith_core::prelude::*;

/// No op types.
#[kernel]
#[derive(Default)]
struct NoOps;

/// Empty and duplicated op types, bad domain.
#[kernel(op_types = [], domain = "finn..custom")]
#[derive(Default)]
struct Empty;

/// Duplicated op type.
#[kernel(op_types = ["Relu", "Relu", "3x"])]
#[derive(Default)]
struct Dup;

/// No kernel, no language.
#[backend(priority = 1)]
#[derive(Default)]
struct Orphan;

fn main() {}
