//! Headless Chromium for the tests that look at a picture as a browser draws it: find it
//! (or fail with the command that installs it, unless `BRAINSMITH_SKIP_CHROMIUM=1`),
//! screenshot an SVG, count a colour's pixels, and dump a page's DOM after its scripts ran.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long Chromium may take to start, draw and save the screenshot.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// How far a screenshot pixel may be from a colour, per channel, and still count as it.
const CHANNEL_TOLERANCE: u8 = 6;

/// The Chromium binary (`chromium`, or `CHROMIUM`); `None` when `BRAINSMITH_SKIP_CHROMIUM=1`
/// (the caller skips). Panics with the install command when it cannot be run.
pub fn find(test: &str) -> Option<String> {
    if std::env::var_os("BRAINSMITH_SKIP_CHROMIUM").is_some_and(|v| v == "1") {
        eprintln!("{test}: skipped (BRAINSMITH_SKIP_CHROMIUM=1)");
        return None;
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let found = Command::new(&chromium)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{chromium} --version` failed: this test runs headless Chromium; install it with `apt-get install chromium` (or point CHROMIUM at the binary, \
         or set BRAINSMITH_SKIP_CHROMIUM=1 to skip)"
    );

    Some(chromium)
}

/// A screenshot's pixels (RGB) and size.
pub struct Shot {
    /// Row by row.
    pub pixels: Vec<[u8; 3]>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Screenshots the SVG file `svg_file` at the size its `<svg>` element declares.
pub fn screenshot_svg(chromium: &str, svg_file: &Path) -> Shot {
    let svg = std::fs::read_to_string(svg_file).unwrap();
    let (w, h) = (svg_size(&svg, "width"), svg_size(&svg, "height"));
    let dir = tempfile::tempdir().unwrap();
    let png_file = dir.path().join("shot.png");
    let started = Instant::now();
    screenshot(chromium, dir.path(), svg_file, &png_file, w, h);
    eprintln!(
        "chromium screenshot of {w}x{h} took {:?}",
        started.elapsed()
    );
    let (pixels, width, height) = decode(&png_file);
    assert_eq!(
        (width, height),
        (w, h),
        "the screenshot has the window's size"
    );
    Shot {
        pixels,
        width,
        height,
    }
}

/// The number in `attr="..."` of the `<svg>` element.
pub fn svg_size(svg: &str, attr: &str) -> u32 {
    let start = svg
        .find(&format!(" {attr}=\""))
        .expect("the <svg> has a size")
        + attr.len()
        + 3;
    let end = start + svg[start..].find('"').unwrap();
    svg[start..end].parse::<f64>().unwrap().ceil() as u32
}

/// Screenshots `svg_file` into `png_file` at `w` x `h` with headless Chromium, or fails
/// with what went wrong; kills it after two minutes.
pub fn screenshot(chromium: &str, dir: &Path, svg_file: &Path, png_file: &Path, w: u32, h: u32) {
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
pub fn decode(png_file: &Path) -> (Vec<[u8; 3]>, u32, u32) {
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

/// How many pixels are `colour`, within a small tolerance.
pub fn count(pixels: &[[u8; 3]], colour: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| {
            p.iter()
                .zip(colour)
                .all(|(&a, b)| a.abs_diff(b) <= CHANNEL_TOLERANCE)
        })
        .count()
}

/// The DOM of `url` once its scripts have run, as headless Chromium serialises it
/// (`--dump-dom`), or fails with what went wrong; kills it after two minutes.
pub fn dump_dom(chromium: &str, url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let dom_file = dir.path().join("dom.html");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_file).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {chromium}: {e}"));
    // Stderr goes to a thread, so that a chatty Chromium never blocks on a full pipe.
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{chromium} took more than {CHROMIUM_TIMEOUT:?} to load {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = stderr.join().unwrap_or_default();
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    assert!(
        status.success() && !dom.is_empty(),
        "{chromium} failed ({status}) to dump the DOM of {url}:\n{stderr}"
    );
    dom
}
