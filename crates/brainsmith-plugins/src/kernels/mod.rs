//! The standard kernels (FINN's set, one file per family), and how the standard inference
//! transforms ask registered kernels about their nodes: a node
//! that a linked kernel implements (its own op type, or a specialised `<Op>_hls`/`_rtl`)
//! gets its output shapes and datatypes from the kernel's `infer` hook, so a plugin crate
//! teaches `InferShapes` and `InferDataTypes` its ops by registering a kernel.

mod add_streams;
mod channelwise_op;
mod convolution_input_generator;
mod data_width_converter;
mod duplicate_streams;
mod fm_padding;
mod global_acc_pool;
mod label_select;
mod mvau;
mod streaming_fifo;
mod streaming_max_pool;
mod thresholding;

pub use add_streams::{AddStreams, AddStreamsAttrs};
pub use channelwise_op::{ChannelwiseOp, ChannelwiseOpAttrs, Func};
pub use convolution_input_generator::{ConvolutionInputGenerator, ConvolutionInputGeneratorAttrs};
pub use data_width_converter::{StreamingDataWidthConverter, StreamingDataWidthConverterAttrs};
pub use duplicate_streams::{DuplicateStreams, DuplicateStreamsAttrs};
pub use fm_padding::{FmPadding, FmPaddingAttrs};
pub use global_acc_pool::{GlobalAccPool, GlobalAccPoolAttrs};
pub use label_select::{LabelSelect, LabelSelectAttrs};
pub use mvau::{FINN_DOMAIN, MemMode, Mvau, MvauAttrs, RamStyle};
pub use streaming_fifo::{StreamingFifo, StreamingFifoAttrs};
pub use streaming_max_pool::{StreamingMaxPool, StreamingMaxPoolAttrs};
pub use thresholding::{ThresholdRam, Thresholding, ThresholdingAttrs};

use brainsmith_core::Registry;
use brainsmith_core::hardware::resolve;
use brainsmith_core::ir::{Node, QuantType};
use brainsmith_core::kernel::{TensorInfo, Tensors};

/// The outputs of `node` as the kernel implementing it infers them; `None` when no linked
/// kernel implements it. An error names the node and says why the kernel could not answer.
pub(crate) fn infer(node: &Node, tensors: &dyn Tensors) -> Option<Result<Vec<TensorInfo>, String>> {
    if node.is_onnx() {
        return None;
    }
    let registry = Registry::global().ok()?;
    let found = match resolve(registry, node) {
        Ok(found) => found?,
        Err(e) => return Some(Err(e)),
    };
    let kernel = match found.kernel.with_defaults() {
        Ok(kernel) => kernel,
        Err(e) => return Some(Err(e.to_string())),
    };
    Some(
        kernel
            .infer(node, tensors)
            .map_err(|e| format!("kernel '{}': {e}", found.kernel.qualified_name())),
    )
}

/// The batch `N` of a channels-last input that must be `[N, H, W, C]` with `[H, W]` =
/// `image` and `C` = `channels` (`names` says which attributes set them, for the
/// error); `default` when the input's shape is not known.
pub(crate) fn nhwc_batch<A>(
    node: &brainsmith_core::kernel::KernelNode<'_, A>,
    image: [u64; 2],
    channels: u64,
    names: &str,
    default: i64,
) -> Result<i64, brainsmith_core::PluginError> {
    match node.input_shape(0) {
        Ok(shape) => match *shape.as_slice() {
            [n, h, w, c] if [h as u64, w as u64] == image && c as u64 == channels => Ok(n),
            _ => Err(node.error(format!(
                "input shape {shape:?} is not [N, {}, {}, {channels}] ({names})",
                image[0], image[1]
            ))),
        },
        Err(_) => Ok(default),
    }
}

/// The narrowest QONNX integer type holding every value of `lo..=hi` (unsigned when
/// `lo >= 0`): what an exact sum or product of integer streams needs.
pub fn integer_type(lo: f64, hi: f64) -> QuantType {
    if lo >= 0.0 {
        let bits = (hi + 1.0).log2().ceil().max(1.0) as u32;
        QuantType::UInt(bits)
    } else {
        let bits = (1..=64)
            .find(|&b| QuantType::Int(b).range().0 <= lo && QuantType::Int(b).range().1 >= hi)
            .unwrap_or(64);
        QuantType::Int(bits)
    }
}
