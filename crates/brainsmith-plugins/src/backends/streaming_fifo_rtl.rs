//! [`StreamingFifoRtl`]: SystemVerilog for the FIFO.

use std::fmt::Write as _;

use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use super::rtl;
use crate::kernels::StreamingFifo;

/// Most words the RTL FIFO holds: a register array; deeper buffers belong in a memory
/// block the HLS or vendor tools build.
pub const STREAMING_FIFO_RTL_MAX_DEPTH: u64 = 1 << 16;

/// The FIFO as one SystemVerilog module of our own: `depth` words in a ring of registers
/// with a read and a write pointer; a word written is readable the next cycle, one word
/// moves in and one out per cycle, and it accepts while it is not full or a word leaves
/// (so `in0_tready` follows `out0_tready` through logic when it is full).
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend, ir::Graph};
/// use brainsmith_plugins::{backends::StreamingFifoRtl, kernels::StreamingFifo};
/// use brainsmith_plugins::sketch::{Attrs, finn, ports};
///
/// // 16 words of 2 UINT6 values.
/// let node = finn("StreamingFIFO", ["x"], ["y"]).int("depth", 16).ints("folded_shape", &[1, 4, 2])
///     .text("dataType", "UINT6");
/// let (rtl, g): (&dyn DynBackend, _) = (&StreamingFifoRtl, Graph::default());
/// rtl.supports(&StreamingFifo, &node, &g).unwrap();
/// let out = rtl.generate(&StreamingFifo, &node, &g, &BuildContext::default()).unwrap();
/// assert_eq!(ports(&out), [("in0", 12), ("out0", 12)]);
/// ```
#[backend(kernel = StreamingFifo, language = rtl, name = "StreamingFIFO_rtl", priority = 5, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct StreamingFifoRtl;

impl Backend for StreamingFifoRtl {
    type Kernel = StreamingFifo;
    type Attrs = ();

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let depth = node.attrs_of_kernel().depth;
        if depth > STREAMING_FIFO_RTL_MAX_DEPTH {
            return Err(node.error(format!(
                "depth {depth} is more than the {STREAMING_FIFO_RTL_MAX_DEPTH} words the RTL \
                 FIFO builds in registers"
            )));
        }
        Ok(())
    }

    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        let a = node.attrs_of_kernel();
        let top = identifier(node.name());
        let (w, d) = (a.width(), a.depth);
        let pb = u64::from(rtl::index_bits(d));
        let cb = u64::from(rtl::index_bits(d + 1));
        let mut s = String::new();
        rtl::module_header(
            &mut s,
            &top,
            &format!("a FIFO of {d} words of {w} bits"),
            w,
            w,
        );
        let _ = writeln!(s, "    logic [{}:0] ring [{d}];", w - 1);
        let _ = writeln!(s, "    logic [{}:0] rd, wr;", pb - 1);
        let _ = writeln!(s, "    logic [{}:0] count;", cb - 1);
        let _ = writeln!(s, "    logic in_fire, out_fire;");
        // Full, it still accepts a word in the cycle one leaves (the leaving word is read
        // before the slot is written), so even one word deep it moves a word per cycle.
        let _ = writeln!(
            s,
            "    assign in0_tready = count != {cb}'d{d} || out0_tready;"
        );
        let _ = writeln!(s, "    assign out0_tvalid = count != {cb}'d0;");
        let _ = writeln!(s, "    assign out0_tdata = ring[rd];");
        let _ = writeln!(s, "    assign in_fire = in0_tvalid && in0_tready;");
        let _ = writeln!(s, "    assign out_fire = out0_tvalid && out0_tready;");
        let next = |p: &str| {
            if d == 1 {
                format!("{pb}'d0")
            } else {
                format!("({p} == {pb}'d{}) ? {pb}'d0 : {p} + {pb}'d1", d - 1)
            }
        };
        let _ = writeln!(s, "    always_ff @(posedge ap_clk) begin");
        let _ = writeln!(s, "        if (in_fire) ring[wr] <= in0_tdata;");
        let _ = writeln!(s, "        if (!ap_rst_n) begin");
        let _ = writeln!(
            s,
            "            rd <= '0;\n            wr <= '0;\n            count <= '0;"
        );
        let _ = writeln!(s, "        end else begin");
        let _ = writeln!(s, "            if (in_fire) wr <= {};", next("wr"));
        let _ = writeln!(s, "            if (out_fire) rd <= {};", next("rd"));
        let _ = writeln!(
            s,
            "            if (in_fire && !out_fire) count <= count + {cb}'d1;\n            \
             else if (out_fire && !in_fire) count <= count - {cb}'d1;"
        );
        let _ = writeln!(s, "        end\n    end\nendmodule");
        Ok(rtl::streaming(top, s, None, w, w))
    }
}
