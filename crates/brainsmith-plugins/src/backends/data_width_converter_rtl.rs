//! [`StreamingDataWidthConverterRtl`]: SystemVerilog for the width converter.

use std::fmt::Write as _;

use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use super::rtl;
use crate::kernels::StreamingDataWidthConverter;

/// The width converter as one SystemVerilog module of our own: a buffer of `in + out`
/// lanes, filled from the bottom by input words and emptied from the bottom by output
/// words, so any two widths that are whole numbers of values work, in one stage. A word
/// moves in and a word moves out in the same cycle when the buffer allows, so a frame
/// takes as many cycles as its side with more words.
///
/// ```
/// use brainsmith_core::{BuildContext, Language, Registry};
/// use brainsmith_plugins::sketch::{Attrs, finn, ports};
///
/// // Through the registry, as a build finds it: the RTL converter of the kernel.
/// let registry = Registry::global().unwrap();
/// let rtl = registry.backend("StreamingDataWidthConverter_rtl").unwrap();
/// assert_eq!(rtl.language(), Language::Rtl);
/// let node = finn("StreamingDataWidthConverter", ["x"], ["y"]).ints("shape", &[1, 2, 8])
///     .int("inWidth", 32).int("outWidth", 16).text("dataType", "INT4");
/// let (kernel, rtl) = (rtl.kernel().with_defaults().unwrap(), rtl.with_defaults().unwrap());
/// let g = brainsmith_core::ir::Graph::default();
/// let out = rtl.generate(kernel.as_ref(), &node, &g, &BuildContext::default()).unwrap();
/// assert_eq!(ports(&out), [("in0", 32), ("out0", 16)]);
/// assert!(out.sources[0].path.ends_with(".sv"));
/// ```
#[backend(kernel = StreamingDataWidthConverter, language = rtl, name = "StreamingDataWidthConverter_rtl", priority = 5, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct StreamingDataWidthConverterRtl;

impl Backend for StreamingDataWidthConverterRtl {
    type Kernel = StreamingDataWidthConverter;
    type Attrs = ();

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        let a = node.attrs_of_kernel();
        let top = identifier(node.name());
        let bits = u64::from(a.datatype.bitwidth());
        let (li, lo) = a.lanes();
        let (in_w, out_w) = (a.in_width, a.out_width);
        let capacity = li + lo;
        let width = capacity * bits;
        let cb = u64::from(rtl::index_bits(capacity + 1));
        let mut s = String::new();
        rtl::module_header(
            &mut s,
            &top,
            &format!("{in_w}-bit words to {out_w}-bit words of {bits}-bit values"),
            in_w,
            out_w,
        );
        let _ = writeln!(s, "    // The buffer's lanes: the oldest value in lane 0.");
        let _ = writeln!(s, "    logic [{}:0] buffer;", width - 1);
        let _ = writeln!(s, "    logic [{}:0] have;", cb - 1);
        let _ = writeln!(s, "    logic out_fire, in_fire;");
        let _ = writeln!(s, "    logic [{}:0] left;", cb - 1);
        let _ = writeln!(s, "    logic [{}:0] shifted;", width - 1);
        let _ = writeln!(s, "    logic [{}:0] placed;", width - 1);
        let _ = writeln!(s, "    assign out0_tvalid = have >= {cb}'d{lo};");
        let _ = writeln!(s, "    assign out0_tdata = buffer[{}:0];", out_w - 1);
        let _ = writeln!(s, "    assign out_fire = out0_tvalid && out0_tready;");
        let _ = writeln!(s, "    assign left = out_fire ? have - {cb}'d{lo} : have;");
        let _ = writeln!(
            s,
            "    assign in0_tready = left <= {cb}'d{};",
            capacity - li
        );
        let _ = writeln!(s, "    assign in_fire = in0_tvalid && in0_tready;");
        let shift = if lo * bits >= width {
            format!("{width}'d0")
        } else {
            format!("buffer >> {}", lo * bits)
        };
        let _ = writeln!(s, "    assign shifted = out_fire ? {shift} : buffer;");
        // The input word at lane `left`: a lane count times the lane width, as a shift.
        let _ = writeln!(
            s,
            "    assign placed = {width}'(in0_tdata) << ({}'({bits}) * {}'(left));",
            u64::from(rtl::index_bits(width + 1)),
            u64::from(rtl::index_bits(width + 1))
        );
        let _ = writeln!(s, "    always_ff @(posedge ap_clk) begin");
        let _ = writeln!(s, "        if (!ap_rst_n) begin");
        let _ = writeln!(s, "            buffer <= '0;\n            have <= '0;");
        let _ = writeln!(s, "        end else begin");
        let _ = writeln!(
            s,
            "            buffer <= in_fire ? (shifted | placed) : shifted;"
        );
        let _ = writeln!(s, "            have <= in_fire ? left + {cb}'d{li} : left;");
        let _ = writeln!(s, "        end\n    end\nendmodule");
        Ok(rtl::streaming(top, s, None, in_w, out_w))
    }
}
