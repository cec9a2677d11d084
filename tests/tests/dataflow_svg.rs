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

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brainsmith_plugins::svg::{BOTTLENECK_RED, HLS_FILL, PicNode, Picture, RTL_FILL, Role, render};

/// How long Chromium may take to start, draw and save the screenshot.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// How far a screenshot pixel may be from a colour, per channel, and still count as it.
const CHANNEL_TOLERANCE: u8 = 6;

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

/// The number in `attr="..."` of the `<svg>` element.
fn svg_size(svg: &str, attr: &str) -> u32 {
    let start = svg
        .find(&format!(" {attr}=\""))
        .expect("the <svg> has a size")
        + attr.len()
        + 3;
    let end = start + svg[start..].find('"').unwrap();
    svg[start..end].parse::<f64>().unwrap().ceil() as u32
}

/// Screenshots `svg_file` into `png_file` at `w` x `h` with headless Chromium, or fails
/// with what went wrong; kills it after [`CHROMIUM_TIMEOUT`].
fn screenshot(chromium: &str, dir: &Path, svg_file: &Path, png_file: &Path, w: u32, h: u32) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png_file.display()))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("file://{}", svg_file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {chromium}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{chromium} took more than {CHROMIUM_TIMEOUT:?} to screenshot the picture");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        status.success() && png_file.is_file(),
        "{chromium} failed ({status}) to screenshot {}:\n{stderr}",
        svg_file.display()
    );
}

/// The screenshot's pixels as RGB triples, with its width and height.
fn decode(png_file: &Path) -> (Vec<[u8; 3]>, u32, u32) {
    let file = std::fs::File::open(png_file).unwrap();
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (pixels, info.width, info.height)
}

fn count(pixels: &[[u8; 3]], colour: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| {
            p.iter()
                .zip(colour)
                .all(|(&a, b)| a.abs_diff(b) <= CHANNEL_TOLERANCE)
        })
        .count()
}

#[test]
fn chromium_draws_the_dataflow_picture() {
    if std::env::var_os("BRAINSMITH_SKIP_CHROMIUM").is_some_and(|v| v == "1") {
        eprintln!("chromium_draws_the_dataflow_picture: skipped (BRAINSMITH_SKIP_CHROMIUM=1)");
        return;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let found = Command::new(&chromium)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{chromium} --version` failed: headless Chromium draws the dataflow picture in this \
         test; install it with `apt-get install chromium` (or point CHROMIUM at the binary, \
         or set BRAINSMITH_SKIP_CHROMIUM=1 to skip)"
    );

    let svg = render(&design());
    let dir = tempfile::tempdir().unwrap();
    let svg_file = dir.path().join("dataflow.svg");
    let png_file = dir.path().join("dataflow.png");
    std::fs::write(&svg_file, &svg).unwrap();
    let (w, h) = (svg_size(&svg, "width"), svg_size(&svg, "height"));

    let started = Instant::now();
    screenshot(&chromium, dir.path(), &svg_file, &png_file, w, h);
    eprintln!(
        "chromium screenshot of {w}x{h} took {:?}",
        started.elapsed()
    );

    let (pixels, pw, ph) = decode(&png_file);
    assert_eq!((pw, ph), (w, h), "the screenshot has the window's size");
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
