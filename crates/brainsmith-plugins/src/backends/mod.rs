//! The standard backends: HLS C++ and RTL SystemVerilog of the standard kernels, one file
//! per kernel and language. Every one is verified by simulation against its kernel's
//! `execute`, bit for bit ([`crate::sim`]).

mod convolution_input_generator_hls;
mod fm_padding_hls;
mod label_select_hls;
mod mvau_hls;
mod streaming_max_pool_hls;
mod thresholding_hls;

pub use convolution_input_generator_hls::ConvolutionInputGeneratorHls;
pub use fm_padding_hls::FmPaddingHls;
pub use label_select_hls::LabelSelectHls;
pub use mvau_hls::{MvauHls, MvauHlsAttrs, ResType};
pub use streaming_max_pool_hls::StreamingMaxPoolHls;
pub use thresholding_hls::ThresholdingHls;

use brainsmith_core::backend::{Port, PortDirection, Protocol};
use brainsmith_core::ir::QuantType;

/// The C++ expression decoding a lane `raw` of `datatype` into its value: bipolar bits
/// as -1/+1, signed types by sign extension, unsigned ones as they are.
fn lane_value(datatype: QuantType) -> String {
    match datatype {
        QuantType::Bipolar => "((long long)raw == 1 ? 1 : -1)".into(),
        QuantType::Int(w) => format!("ap_int<{w}>(raw)"),
        QuantType::Ternary => "ap_int<2>(raw)".into(),
        _ => "(long long)raw".into(),
    }
}

/// An AXI-Stream port.
fn axis_port(name: &str, direction: PortDirection, width: u64) -> Port {
    Port {
        name: name.into(),
        direction,
        width,
        protocol: Protocol::AxiStream,
    }
}
