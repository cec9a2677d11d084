//! The standard backends: HLS C++ and RTL SystemVerilog of the standard kernels, one file
//! per kernel and language. Every one is verified by simulation against its kernel's
//! `execute`, bit for bit ([`crate::sim`]).

mod mvau_hls;

pub use mvau_hls::{MvauHls, MvauHlsAttrs, ResType};
