//! An example of a third-party plugin crate, as a compiler team outside this repository
//! would write it. It depends on `brainsmith-core` alone and registers, under the source
//! `acme`:
//!
//! - the kernel [`Thresholding`] (op type `Thresholding`, domain `acme.fpgadataflow`), its
//!   node attributes typed by [`ThresholdingAttrs`], with every hook: output types,
//!   streams, folding (`PE`), cycles, resources and a reference execution;
//! - its backends [`ThresholdingHls`] (HLS C++, priority 10, with a node attribute of its
//!   own, `ram_style`) and [`ThresholdingRtl`] (SystemVerilog, priority 5, integer inputs
//!   and shared thresholds only: its capability check says so);
//! - the transform [`InferThresholding`], mapping QONNX `MultiThreshold` nodes onto it;
//! - the step [`generate_hardware`], which writes every kernel node's code with the first
//!   backend that supports it and records the choice on the node (`Thresholding_hls`).

brainsmith_core::namespace!("acme");

mod codegen;
mod infer;
mod kernel;

pub use codegen::{HlsAttrs, RamStyle, ThresholdingHls, ThresholdingRtl, generate_hardware};
pub use infer::InferThresholding;
pub use kernel::{DOMAIN, OP_TYPE, Thresholding, ThresholdingAttrs};
