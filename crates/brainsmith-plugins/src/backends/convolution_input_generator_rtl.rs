//! [`ConvolutionInputGeneratorRtl`]: SystemVerilog for the sliding window generator.

use std::fmt::Write as _;

use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use super::rtl;
use crate::kernels::ConvolutionInputGenerator;

/// Most words the RTL generator's line buffer may hold (`rows x W x IFMChannels / SIMD`):
/// it is one memory, and a larger one belongs in a block RAM design of its own.
pub const CONVOLUTION_INPUT_GENERATOR_RTL_MAX_WORDS: u64 = 1 << 16;

/// The sliding window generator as one SystemVerilog module of our own (Verilator's
/// subset): a line buffer written and read at once.
///
/// The input side stores each input row some window needs (rows below the last window,
/// and rows between windows when the stride is taller than the window, are read and
/// dropped) into a ring of `span + min(s_h, span)` rows, `span = (k_h - 1) * d_h + 1`,
/// one word of `SIMD` channels per cycle, as long as a row is free. The output side writes
/// each output pixel's window, kernel positions row-major and `SIMD` channels per word
/// (`Im2Col`'s order), one word per cycle, as soon as the window's last row has been read
/// past its last column; when an output row is done, the rows no later window uses are
/// freed. So reading the next rows overlaps writing the current ones, across frames too.
/// `in0_tready` depends on no output signal. Refuses depthwise order, whole-window words,
/// and line buffers of more than [`CONVOLUTION_INPUT_GENERATOR_RTL_MAX_WORDS`] words.
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend, ir::Graph};
/// use brainsmith_plugins::{backends::ConvolutionInputGeneratorRtl, kernels::ConvolutionInputGenerator};
/// use brainsmith_plugins::sketch::{Attrs, finn, ports};
///
/// let node = finn("ConvolutionInputGenerator", ["x"], ["y"]).ints("ConvKernelDim", &[3, 3])
///     .int("IFMChannels", 1).ints("IFMDim", &[5, 5]).ints("OFMDim", &[3, 3])
///     .text("inputDataType", "UINT8").text("outputDataType", "UINT8");
/// let (rtl, g): (&dyn DynBackend, _) = (&ConvolutionInputGeneratorRtl, Graph::default());
/// rtl.supports(&ConvolutionInputGenerator, &node, &g).unwrap();
/// let out = rtl.generate(&ConvolutionInputGenerator, &node, &g, &BuildContext::default()).unwrap();
/// assert_eq!(ports(&out), [("in0", 8), ("out0", 8)]);
/// // A depthwise window generator is refused, with the reason.
/// let depthwise = node.clone().int("depthwise", 1);
/// assert!(rtl.supports(&ConvolutionInputGenerator, &depthwise, &g).is_err());
/// ```
#[backend(kernel = ConvolutionInputGenerator, language = rtl, name = "ConvolutionInputGenerator_rtl", priority = 5, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct ConvolutionInputGeneratorRtl;

/// The ring's rows: a window's span plus the rows the next output row adds.
fn ring_rows(kh: u64, sh: u64, dh: u64) -> (u64, u64, u64) {
    let span = (kh - 1) * dh + 1;
    let step = sh.min(span);
    (span, step, span + step)
}

impl Backend for ConvolutionInputGeneratorRtl {
    type Kernel = ConvolutionInputGenerator;
    type Attrs = ();

    /// Ours, for this design (FINN's formula, the kernel's, counts the line buffer's fill
    /// as if no row were read while windows are written): per frame, the larger of the
    /// words read (`H x W x C / SIMD`) and the words written (`OH x OW x k_h x k_w x C /
    /// SIMD`) plus the rows of the next frame's first window that the ring cannot read
    /// ahead (`(span - step) x W x C / SIMD`, `span = (k_h - 1) x d_h + 1`, `step =
    /// min(s_h, span)`).
    fn cycles(&self, node: &BackendNode<'_, Self>) -> Option<u64> {
        let a = node.attrs_of_kernel();
        let cf = a.folds();
        let (span, step, _) = ring_rows(a.kernel[0], a.stride[0], a.dilation[0]);
        let reads = a.ifm[0] * a.ifm[1] * cf;
        let writes = a.ofm[0] * a.ofm[1] * a.kernel[0] * a.kernel[1] * cf;
        Some(reads.max(writes + (span - step) * a.ifm[1] * cf))
    }

    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let a = node.attrs_of_kernel();
        if a.depthwise {
            return Err(node.error(
                "the RTL generator writes Im2Col's order (channels innermost); a depthwise \
                 consumer needs channel groups first (depthwise = 1)",
            ));
        }
        if a.parallel_window {
            return Err(node.error(
                "the RTL generator writes one word of SIMD channels per cycle, not whole \
                 windows; set parallel_window to 0",
            ));
        }
        let (_, _, rows) = ring_rows(a.kernel[0], a.stride[0], a.dilation[0]);
        let words = rows.saturating_mul(a.ifm[1]).saturating_mul(a.folds());
        if words > CONVOLUTION_INPUT_GENERATOR_RTL_MAX_WORDS {
            return Err(node.error(format!(
                "the RTL generator's line buffer would hold {words} words ({rows} rows of {} \
                 pixels of {} words), more than {CONVOLUTION_INPUT_GENERATOR_RTL_MAX_WORDS}; \
                 use the HLS backend",
                a.ifm[1],
                a.folds()
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
        let width = a.simd * u64::from(a.input.bitwidth());
        let (h, w) = (a.ifm[0], a.ifm[1]);
        let (oh, ow) = (a.ofm[0], a.ofm[1]);
        let (kh, kw) = (a.kernel[0], a.kernel[1]);
        let (sh, sw) = (a.stride[0], a.stride[1]);
        let (dh, dw) = (a.dilation[0], a.dilation[1]);
        let cf = a.folds();
        let (span, step, rows) = ring_rows(kh, sh, dh);
        let depth = rows * w * cf;
        // Row r is stored when a window reaches it.
        let last_row = (oh - 1) * sh + span;
        let keep: Vec<bool> = (0..h)
            .map(|r| r < last_row && (sh <= span || r % sh < span))
            .collect();

        let mut s = String::new();
        rtl::module_header(
            &mut s,
            &top,
            &format!(
                "sliding window {kh}x{kw}, stride {sh}x{sw}, dilation {dh}x{dw}, over \
                 {h}x{w}x{} in words of {} channels",
                a.channels, a.simd
            ),
            width,
            width,
        );
        // Counters, as plain numbers in `int` arithmetic where they meet.
        let bits = |n: u64| rtl::index_bits(n);
        let lit = |v: u64, n: u64| rtl::literal(i128::from(v), bits(n));
        let declare = |s: &mut String, name: &str, n: u64, what: &str| {
            let _ = writeln!(s, "    logic [{}:0] {name}; // {what}", bits(n) - 1);
        };
        let wrap = |name: &str, n: u64| {
            format!(
                "{name} <= {name} == {} ? '0 : {name} + {};",
                lit(n - 1, n),
                lit(1, n)
            )
        };
        let is_last = |name: &str, n: u64| format!("{name} == {}", lit(n - 1, n));
        // Counts of rows run from -1 to the ring's rows: signed, one bit more.
        let cnt_w = rtl::signed_bits(-1, i128::from(rows));
        let _ = writeln!(
            s,
            "    // The line buffer: {rows} rows of {w} pixels of {cf} words, ring-indexed by \
             row."
        );
        let _ = writeln!(s, "    logic [{}:0] lines [{depth}];", width - 1);
        let _ = writeln!(
            s,
            "    logic signed [{}:0] stored;   // rows reserved from base on (the one being read included)",
            cnt_w - 1
        );
        let _ = writeln!(
            s,
            "    logic signed [{}:0] complete; // rows read whole from base on (-1: base's row is \
             still being read)",
            cnt_w - 1
        );
        declare(
            &mut s,
            "base",
            rows,
            "the ring row of the current window's first row",
        );

        // Input side.
        s.push_str("\n    // Input: row r, pixel x, word f; stored in ring row wrow if kept.\n");
        declare(&mut s, "r", h, "input row");
        declare(&mut s, "x", w, "input pixel");
        declare(&mut s, "f", cf, "input word of the pixel");
        declare(&mut s, "wrow", rows, "ring row being written");
        let keep_expr = if keep.iter().all(|&k| k) {
            "1'b1".to_owned()
        } else {
            let mut bits_str = String::new();
            for &k in keep.iter().rev() {
                bits_str.push(if k { '1' } else { '0' });
            }
            let _ = writeln!(
                s,
                "    localparam logic [{}:0] KEEP = {h}'b{bits_str};",
                h - 1
            );
            if h > 1 {
                "KEEP[r]".to_owned()
            } else {
                "KEEP[0]".to_owned()
            }
        };
        s.push_str("    logic kept, starts, take, reserve, row_done;\n");
        let _ = writeln!(s, "    assign kept = {keep_expr};");
        let _ = writeln!(s, "    assign starts = x == '0 && f == '0;");
        let _ = writeln!(
            s,
            "    assign in0_tready = !kept || !starts || stored < {cnt_w}'sd{rows};"
        );
        s.push_str("    assign take = in0_tvalid && in0_tready;\n");
        s.push_str("    assign reserve = take && kept && starts;\n");
        let _ = writeln!(
            s,
            "    assign row_done = take && kept && {} && {};",
            is_last("x", w),
            is_last("f", cf)
        );
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) begin\n");
        s.push_str("            r <= '0;\n            x <= '0;\n            f <= '0;\n            wrow <= '0;\n");
        s.push_str("        end else if (take) begin\n");
        let _ = writeln!(s, "            {}", wrap("f", cf));
        let _ = writeln!(s, "            if ({}) begin", is_last("f", cf));
        let _ = writeln!(s, "                {}", wrap("x", w));
        let _ = writeln!(
            s,
            "                if ({}) {}",
            is_last("x", w),
            wrap("r", h)
        );
        s.push_str("            end\n");
        let _ = writeln!(s, "            if (row_done) {}", wrap("wrow", rows));
        s.push_str("        end\n");
        let addr_w = bits(depth);
        let _ = writeln!(
            s,
            "        if (take && kept) lines[{addr_w}'((int'(wrow) * {w} + int'(x)) * {cf} + int'(f))] <= in0_tdata;"
        );
        s.push_str("    end\n");

        // Output side.
        s.push_str(
            "\n    // Output: row oy, pixel ox, kernel position (ky, kx), word g; one word per\n    \
             // cycle once the window's last row has been read past its last column.\n",
        );
        declare(&mut s, "oy", oh, "output row");
        declare(&mut s, "ox", ow, "output pixel");
        declare(&mut s, "ky", kh, "kernel row");
        declare(&mut s, "kx", kw, "kernel column");
        declare(&mut s, "g", cf, "output word of the pixel");
        s.push_str("    logic en, ready, issue, row_end;\n");
        s.push_str("    assign en = !out0_tvalid || out0_tready;\n");
        let _ = writeln!(
            s,
            "    assign ready = complete >= {cnt_w}'sd{span} || (complete == {cnt_w}'sd{} && kept\n        \
             && int'(x) > int'(ox) * {sw} + {});",
            span - 1,
            (kw - 1) * dw
        );
        s.push_str("    assign issue = en && ready;\n");
        let _ = writeln!(
            s,
            "    assign row_end = {} && {} && {} && {};",
            is_last("ox", ow),
            is_last("ky", kh),
            is_last("kx", kw),
            is_last("g", cf)
        );
        let _ = writeln!(
            s,
            "    // Rows freed at the end of an output row: {step}, or the whole last window."
        );
        let _ = writeln!(s, "    logic signed [{}:0] freed;", cnt_w - 1);
        let _ = writeln!(
            s,
            "    assign freed = !(issue && row_end) ? '0 : {} ? {cnt_w}'sd{span} : {cnt_w}'sd{step};",
            is_last("oy", oh)
        );
        let _ = writeln!(s, "    int row, col;");
        s.push_str("    always_comb begin\n");
        let _ = writeln!(s, "        row = int'(base) + int'(ky) * {dh};");
        let _ = writeln!(s, "        if (row >= {rows}) row = row - {rows};");
        let _ = writeln!(s, "        col = int'(ox) * {sw} + int'(kx) * {dw};");
        s.push_str("    end\n");
        s.push_str("    always_ff @(posedge ap_clk) begin\n");
        s.push_str("        if (!ap_rst_n) begin\n");
        s.push_str("            oy <= '0;\n            ox <= '0;\n            ky <= '0;\n            kx <= '0;\n            g <= '0;\n");
        s.push_str(
            "            base <= '0;\n            stored <= '0;\n            complete <= '0;\n",
        );
        s.push_str("            out0_tvalid <= 1'b0;\n");
        s.push_str("        end else begin\n");
        let _ = writeln!(
            s,
            "            stored <= stored + (reserve ? {cnt_w}'sd1 : '0) - freed;"
        );
        let _ = writeln!(
            s,
            "            complete <= complete + (row_done ? {cnt_w}'sd1 : '0) - freed;"
        );
        s.push_str("            if (en) out0_tvalid <= ready;\n");
        s.push_str("            if (issue) begin\n");
        let _ = writeln!(s, "                {}", wrap("g", cf));
        let _ = writeln!(s, "                if ({}) begin", is_last("g", cf));
        let _ = writeln!(s, "                    {}", wrap("kx", kw));
        let _ = writeln!(s, "                    if ({}) begin", is_last("kx", kw));
        let _ = writeln!(s, "                        {}", wrap("ky", kh));
        let _ = writeln!(
            s,
            "                        if ({}) begin",
            is_last("ky", kh)
        );
        let _ = writeln!(s, "                            {}", wrap("ox", ow));
        let _ = writeln!(
            s,
            "                            if ({}) {}",
            is_last("ox", ow),
            wrap("oy", oh)
        );
        s.push_str("                        end\n                    end\n                end\n");
        s.push_str("                if (row_end) begin\n");
        let _ = writeln!(
            s,
            "                    base <= {rb}'(int'(base) + int'(freed) >= {rows} ? int'(base) + int'(freed) - {rows} : int'(base) + int'(freed));",
            rb = bits(rows)
        );
        s.push_str("                end\n            end\n        end\n");
        let _ = writeln!(
            s,
            "        if (issue) out0_tdata <= lines[{addr_w}'((row * {w} + col) * {cf} + int'(g))];"
        );
        s.push_str("    end\nendmodule\n");
        Ok(rtl::streaming(top, s, None, width, width))
    }
}
