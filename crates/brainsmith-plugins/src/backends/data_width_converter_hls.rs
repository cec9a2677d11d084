//! [`StreamingDataWidthConverterHls`]: HLS C++ for the width converter.

use std::fmt::Write as _;

use brainsmith_core::backend::identifier;
use brainsmith_core::prelude::*;

use crate::kernels::StreamingDataWidthConverter;

/// The width converter as one HLS C++ function of our own: each output word's lanes are
/// taken in order from the input words, a new input word read whenever the current one's
/// lanes are used up. Any ratio of widths works in one stage (FINN's HLS goes through
/// the least common multiple in two).
///
/// ```
/// use brainsmith_core::{BuildContext, backend::DynBackend, ir::Graph};
/// use brainsmith_plugins::backends::StreamingDataWidthConverterHls;
/// use brainsmith_plugins::kernels::StreamingDataWidthConverter;
/// use brainsmith_plugins::sketch::{Attrs, finn, ports};
///
/// // 12 bipolar values, 6 a word in and 4 a word out.
/// let node = finn("StreamingDataWidthConverter", ["x"], ["y"]).ints("shape", &[1, 12])
///     .int("inWidth", 6).int("outWidth", 4).text("dataType", "BIPOLAR");
/// let (hls, g): (&dyn DynBackend, _) = (&StreamingDataWidthConverterHls, Graph::default());
/// let out = hls.generate(&StreamingDataWidthConverter, &node, &g, &BuildContext::default());
/// assert_eq!(ports(&out.unwrap()), [("in0", 6), ("out0", 4)]);
/// ```
#[backend(kernel = StreamingDataWidthConverter, language = hls, name = "StreamingDataWidthConverter_hls", priority = 10, version = "0.1.0", tags = ["finn"])]
#[derive(Debug, Default)]
pub struct StreamingDataWidthConverterHls;

impl Backend for StreamingDataWidthConverterHls {
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
        let out_words = a.values() / lo;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// {top}: {in_w}-bit words to {out_w}-bit words, {bits}-bit values (generated \
             by brainsmith)"
        );
        super::includes(&mut s, &top, false);
        super::signature(&mut s, &top, in_w, out_w);
        let _ = writeln!(s, "  ap_uint<{in_w}> word = 0;\n  unsigned used = {li};");
        let _ = writeln!(
            s,
            "  for (unsigned long long o = 0; o < {out_words}ULL; o++) {{"
        );
        let _ = writeln!(s, "    ap_uint<{out_w}> out = 0;");
        let _ = writeln!(s, "    for (unsigned l = 0; l < {lo}; l++) {{");
        let _ = writeln!(s, "#pragma HLS pipeline II=1");
        let _ = writeln!(
            s,
            "      if (used == {li}) {{ word = in0.read(); used = 0; }}"
        );
        let _ = writeln!(
            s,
            "      out.range(l * {bits} + {b1}, l * {bits}) = (unsigned long long)word.range(used * {bits} + {b1}, used * {bits});",
            b1 = bits - 1
        );
        let _ = writeln!(s, "      used++;\n    }}\n    out0.write(out);\n  }}\n}}");
        Ok(super::streaming(top, s, None, in_w, out_w))
    }
}
