//! The standard backends: HLS C++ and RTL SystemVerilog of the standard kernels, one file
//! per kernel and language. Every one is verified by simulation against its kernel's
//! `execute`, bit for bit: the HLS C++ compiled and run ([`crate::sim`]), the RTL
//! through Verilator ([`crate::rtlsim`]).

mod add_streams_hls;
mod channelwise_op_hls;
mod convolution_input_generator_hls;
mod convolution_input_generator_rtl;
mod data_width_converter_hls;
mod data_width_converter_rtl;
mod duplicate_streams_hls;
mod fm_padding_hls;
mod global_acc_pool_hls;
mod label_select_hls;
mod mvau_hls;
mod mvau_rtl;
mod rtl;
mod streaming_fifo_rtl;
mod streaming_max_pool_hls;
mod thresholding_hls;
mod thresholding_rtl;

pub use add_streams_hls::AddStreamsHls;
pub use channelwise_op_hls::ChannelwiseOpHls;
pub use convolution_input_generator_hls::ConvolutionInputGeneratorHls;
pub use convolution_input_generator_rtl::{
    CONVOLUTION_INPUT_GENERATOR_RTL_MAX_WORDS, ConvolutionInputGeneratorRtl,
};
pub use data_width_converter_hls::StreamingDataWidthConverterHls;
pub use data_width_converter_rtl::StreamingDataWidthConverterRtl;
pub use duplicate_streams_hls::DuplicateStreamsHls;
pub use fm_padding_hls::FmPaddingHls;
pub use global_acc_pool_hls::GlobalAccPoolHls;
pub use label_select_hls::LabelSelectHls;
pub use mvau_hls::{MvauHls, MvauHlsAttrs, ResType};
pub use mvau_rtl::{MVAU_RTL_MAX_STEPS, MvauRtl};
pub use streaming_fifo_rtl::{STREAMING_FIFO_RTL_MAX_DEPTH, StreamingFifoRtl};
pub use streaming_max_pool_hls::StreamingMaxPoolHls;
pub use thresholding_hls::ThresholdingHls;
pub use thresholding_rtl::{THRESHOLDING_RTL_MAX_STEPS, ThresholdingRtl};

use std::fmt::Write as _;

use brainsmith_core::backend::{
    Generated, GeneratedFile, Interface, Port, PortDirection, Protocol,
};
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

/// The includes of a streaming top's header, with its parameter header when it has one.
fn includes(s: &mut String, top: &str, params: bool) {
    s.push_str("#pragma once\n#include <ap_int.h>\n#include <hls_stream.h>\n");
    if params {
        let _ = writeln!(s, "#include \"{top}_params.hpp\"");
    }
    s.push('\n');
}

/// The opening of a streaming top: one AXI-Stream in (`in0`, `in_w` bits), one out
/// (`out0`), no block-level handshake.
fn signature(s: &mut String, top: &str, in_w: u64, out_w: u64) {
    let _ = writeln!(
        s,
        "void {top}(hls::stream<ap_uint<{in_w}>> &in0, hls::stream<ap_uint<{out_w}>> &out0) {{"
    );
    s.push_str("#pragma HLS INTERFACE axis port=in0\n");
    s.push_str("#pragma HLS INTERFACE axis port=out0\n");
    s.push_str("#pragma HLS INTERFACE ap_ctrl_none port=return\n");
}

/// What a one-stream-in, one-stream-out HLS backend generates: `<top>.hpp`, with
/// `<top>_params.hpp` when it has parameters, and the interface a stitcher connects.
fn streaming(
    top: String,
    source: String,
    params: Option<String>,
    in_w: u64,
    out_w: u64,
) -> Generated {
    files(top, source, params, ("hpp", "hpp"), in_w, out_w)
}

/// A streaming top's files, `<top>.<source ext>` and `<top>_params.<params ext>` when it
/// has parameters, and its interface: `in0` and `out0` of `in_w` and `out_w` bits,
/// `ap_clk` and `ap_rst_n`.
fn files(
    top: String,
    source: String,
    params: Option<String>,
    (source_ext, params_ext): (&str, &str),
    in_w: u64,
    out_w: u64,
) -> Generated {
    Generated {
        sources: vec![GeneratedFile {
            path: format!("{top}.{source_ext}"),
            contents: source,
        }],
        params: params
            .map(|contents| GeneratedFile {
                path: format!("{top}_params.{params_ext}"),
                contents,
            })
            .into_iter()
            .collect(),
        interface: Interface {
            ports: vec![
                axis_port("in0", PortDirection::In, in_w),
                axis_port("out0", PortDirection::Out, out_w),
            ],
            top,
            clock: Some("ap_clk".into()),
            reset: Some("ap_rst_n".into()),
        },
    }
}

/// The opening of a streaming top with several streams: `in0, in1, ...` of `ins` bits,
/// then `out0, out1, ...` of `outs` bits, no block-level handshake.
fn signature_streams(s: &mut String, top: &str, ins: &[u64], outs: &[u64]) {
    let params: Vec<String> = ins
        .iter()
        .enumerate()
        .map(|(i, w)| format!("hls::stream<ap_uint<{w}>> &in{i}"))
        .chain(
            outs.iter()
                .enumerate()
                .map(|(o, w)| format!("hls::stream<ap_uint<{w}>> &out{o}")),
        )
        .collect();
    let _ = writeln!(s, "void {top}({}) {{", params.join(", "));
    for i in 0..ins.len() {
        let _ = writeln!(s, "#pragma HLS INTERFACE axis port=in{i}");
    }
    for o in 0..outs.len() {
        let _ = writeln!(s, "#pragma HLS INTERFACE axis port=out{o}");
    }
    s.push_str("#pragma HLS INTERFACE ap_ctrl_none port=return\n");
}

/// [`streaming`] for a top with several streams (see [`signature_streams`]).
fn streaming_many(
    top: String,
    source: String,
    params: Option<String>,
    ins: &[u64],
    outs: &[u64],
) -> Generated {
    let mut generated = streaming(top, source, params, 0, 0);
    generated.interface.ports = ins
        .iter()
        .enumerate()
        .map(|(i, &w)| axis_port(&format!("in{i}"), PortDirection::In, w))
        .chain(
            outs.iter()
                .enumerate()
                .map(|(o, &w)| axis_port(&format!("out{o}"), PortDirection::Out, w)),
        )
        .collect();
    generated
}

/// The C++ statement setting lane `lane` (an expression) of `word`, `bits` wide, to the
/// two's complement of the `long long` expression `value`.
fn set_lane(word: &str, lane: &str, bits: u64, value: &str) -> String {
    format!(
        "{word}.range({lane} * {bits} + {}, {lane} * {bits}) = (unsigned long long)({value});",
        bits - 1
    )
}
