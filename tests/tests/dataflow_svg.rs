//! The dataflow picture (`brainsmith_plugins::svg`) as a browser draws it: a realistic
//! design of ten nodes (HLS and RTL kernels, a FIFO, a width converter, a residual
//! branch, host nodes at both ends, a bottleneck) is rendered to `dataflow.svg`,
//! screenshotted with headless Chromium, and the screenshot's pixels are checked: the
//! HLS fill, the RTL fill and the bottleneck red each cover a real area, and the image
//! is neither blank nor one colour.
//!
//! Chromium is required: where it is missing this test fails with the command that
//! installs it, unless `BRAINSMITH_SKIP_CHROMIUM=1`, when it says it was skipped. The
//! binary is `chromium`, or the one `CHROMIUM` names.

use brainsmith_plugins::svg::{BOTTLENECK_RED, HLS_FILL, PicNode, Picture, RTL_FILL, Role, render};
use brainsmith_tests::chromium::count;

/// The fewest pixels each checked colour must cover.
const MIN_PIXELS: usize = 500;

fn node(
    name: &str,
    kernel: &str,
    backend: &str,
    folding: &str,
    cycles: u64,
    role: Role,
) -> PicNode {
    PicNode {
        name: name.to_owned(),
        kernel: kernel.to_owned(),
        backend: backend.to_owned(),
        folding: folding.to_owned(),
        cycles: Some(cycles),
        bottleneck: false,
        role,
    }
}

/// A small convolutional network with a residual block, as the compiler would see it.
fn design() -> Picture {
    let mut nodes = vec![
        node(
            "global_in_quant",
            "MultiThreshold",
            "",
            "",
            3_072,
            Role::Host,
        ),
        node(
            "ConvolutionInputGenerator_0",
            "ConvolutionInputGenerator",
            "ConvolutionInputGenerator_rtl",
            "SIMD 3",
            9_408,
            Role::Compute,
        ),
        node(
            "MVAU_0",
            "MVAU",
            "MVAU_hls",
            "SIMD 27, PE 16",
            12_544,
            Role::Compute,
        ),
        node(
            "StreamingDataWidthConverter_0",
            "StreamingDataWidthConverter",
            "StreamingDataWidthConverter_rtl",
            "in 64 b, out 32 b",
            1_568,
            Role::WidthConverter,
        ),
        node(
            "MVAU_1_with_a_rather_long_name_from_the_exporter",
            "MVAU",
            "MVAU_rtl",
            "SIMD 32, PE 8",
            50_176,
            Role::Compute,
        ),
        node(
            "StreamingFIFO_0",
            "StreamingFIFO",
            "StreamingFIFO_rtl",
            "depth 256",
            784,
            Role::Fifo,
        ),
        node(
            "Thresholding_0",
            "Thresholding",
            "Thresholding_hls",
            "PE 8",
            3_136,
            Role::Compute,
        ),
        node(
            "AddStreams_0",
            "AddStreams",
            "AddStreams_hls",
            "PE 4",
            6_272,
            Role::Compute,
        ),
        node(
            "MVAU_2",
            "MVAU",
            "MVAU_hls",
            "SIMD 64, PE 10",
            9_800,
            Role::Compute,
        ),
        node("LabelSelect_out", "TopK", "", "", 10, Role::Host),
    ];
    nodes[4].bottleneck = true;
    Picture {
        title: "cnv_residual: dataflow (10 nodes, bottleneck MVAU_1 at 50,176 cycles)".to_owned(),
        nodes,
        edges: vec![
            (0, 1, "24 b".to_owned()),
            (1, 2, "24 b".to_owned()),
            (2, 3, "64 b".to_owned()),
            (3, 4, "32 b".to_owned()),
            (2, 5, "64 b".to_owned()),
            (4, 6, "64 b".to_owned()),
            (6, 7, "32 b".to_owned()),
            (5, 7, "64 b".to_owned()),
            (7, 8, "32 b".to_owned()),
            (8, 9, "10 b".to_owned()),
        ],
    }
}

#[test]
fn chromium_draws_the_dataflow_picture() {
    let Some(chromium) = brainsmith_tests::chromium::find("chromium_draws_the_dataflow_picture")
    else {
        return;
    };
    let svg = render(&design());
    let dir = tempfile::tempdir().unwrap();
    let svg_file = dir.path().join("dataflow.svg");
    std::fs::write(&svg_file, &svg).unwrap();
    let pixels = brainsmith_tests::chromium::screenshot_svg(&chromium, &svg_file).pixels;
    let hls = count(&pixels, HLS_FILL);
    let rtl = count(&pixels, RTL_FILL);
    let red = count(&pixels, BOTTLENECK_RED);
    let white = count(&pixels, [0xff, 0xff, 0xff]);
    let dark = pixels
        .iter()
        .filter(|p| p.iter().all(|&c| c < 0x60))
        .count();
    eprintln!(
        "pixels: {} in all, HLS fill {hls}, RTL fill {rtl}, bottleneck red {red}, white {white}, dark {dark}",
        pixels.len()
    );
    // Four HLS boxes and four RTL ones (two of them small) of roughly 200 x 100 pixels,
    // less their text; one thick red border and tag.
    assert!(hls > 4 * 10_000, "HLS fill covers only {hls} pixels");
    assert!(rtl > 3 * 10_000, "RTL fill covers only {rtl} pixels");
    assert!(red > MIN_PIXELS, "bottleneck red covers only {red} pixels");
    // Not blank: a white background, yet most of the picture is not white, and there is
    // text and lines (dark pixels).
    assert!(
        white > pixels.len() / 4,
        "the background is not white: {white} white pixels"
    );
    assert!(
        white < pixels.len() * 95 / 100,
        "the screenshot is nearly all white"
    );
    assert!(dark > 2_000, "no text or lines drawn: {dark} dark pixels");
    let first = pixels[0];
    assert!(
        pixels.iter().any(|&p| p != first),
        "the screenshot is one colour"
    );
}
