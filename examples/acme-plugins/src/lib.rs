//! An example of a third-party plugin crate, as a compiler team outside this repository
//! would write it. It depends on `brainsmith-core` alone and registers, under the source
//! `acme`:
//!
//! - the kernel [`Thresholding`] (op type `Thresholding`, domain `acme.fpgadataflow`);
//! - its backends [`ThresholdingHls`] (HLS C++, priority 10) and [`ThresholdingRtl`]
//!   (SystemVerilog, priority 5);
//! - the transform [`InferThresholding`], mapping QONNX `MultiThreshold` nodes onto it;
//! - the step [`generate_hardware`], which writes every kernel node's code.

brainsmith_core::namespace!("acme");

mod codegen;
mod infer;
mod kernel;

pub use codegen::{ThresholdingHls, ThresholdingRtl, generate_hardware};
pub use infer::InferThresholding;
pub use kernel::{DOMAIN, OP_TYPE, Thresholding, ThresholdingParams};
