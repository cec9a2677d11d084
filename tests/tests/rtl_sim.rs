//! The RTL backends, built with Verilator and simulated, against their kernel's
//! `execute`, bit for bit, over a spread of foldings, datatypes and sizes (SIMD = MW,
//! PE = MH, PE = 1, 1-bit and 8-bit, bipolar, no activation, thresholds met exactly,
//! words wider than 64 bits): the MVAU, the thresholding layer, the sliding window
//! generator, the width converter and the FIFO. Each configuration is built once
//! (Verilator builds are slow) and runs its frames four times: stalled at random, with a
//! starved input, with a blocked output (backpressure loses or repeats no word), then
//! without stalls, where the cycles are held to the estimate (the backend's own where it
//! refines the kernel's, as the sliding window generator's does) two ways:
//!
//! - the first frame, from idle (its first input transfer to its last output transfer),
//!   takes the estimate within 15%, give or take the pipeline's latency (at most
//!   [`MAX_LATENCY`] cycles);
//! - frames streamed back to back take the estimate within 15% each (the steady-state
//!   interval).
//!
//! Verilator is required: where it is missing these tests fail with the command that
//! installs it, unless `BRAINSMITH_SKIP_RTL=1`, when they say they were skipped.

use std::time::Instant;

use brainsmith_core::ir::{AttributeValue, Model, Node, QuantType, Tensor};
use brainsmith_core::{BuildContext, Registry};
use brainsmith_plugins::rtlsim::{Stalls, compile_rtl, verilator};
use brainsmith_plugins::sim::{pack, unpack};
use brainsmith_tests::Lcg;
use brainsmith_tests::layers::{ActCase, Case, mapped, mapped_activation, one_node, reference};

/// How far the measured cycles may be from the kernel's estimate, relatively.
const TOLERANCE: f64 = 0.15;

/// The pipeline latency a frame from idle may add to the estimate, in cycles.
const MAX_LATENCY: f64 = 8.0;

/// Whether to run: Verilator is there, or `BRAINSMITH_SKIP_RTL=1` says to skip (and the
/// test says so). Panics with the install command otherwise.
fn verilator_or_skip(test: &str) -> bool {
    if std::env::var_os("BRAINSMITH_SKIP_RTL").is_some_and(|v| v == "1") {
        eprintln!("{test}: skipped (BRAINSMITH_SKIP_RTL=1)");
        return false;
    }
    if let Err(e) = verilator() {
        panic!("{test}: {e} (or set BRAINSMITH_SKIP_RTL=1 to skip the RTL simulations)");
    }
    true
}

/// What one simulated configuration measured.
struct Measured {
    /// Cycles of the first frame, from idle.
    first: f64,
    /// Steady-state cycles per frame.
    interval: f64,
    /// The kernel's estimate.
    estimate: f64,
}

/// Generates the RTL of `m`'s only node with `backend`, builds it under
/// `target/rtl-sim/<dir>`, and runs every frame (values of the node's first input, in
/// its normal shape) through it twice, stalled at random and not, against the kernel's
/// `execute`, bit for bit; the unstalled run's cycles against the kernel's estimate.
fn simulate(kernel: &str, backend: &str, m: &Model, dir: &str, frames: &[Vec<f64>]) -> Measured {
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel(kernel).unwrap().instantiate();
    let rtl = registry.backend(backend).unwrap().instantiate();
    let node = &m.graph.nodes[0];
    kernel
        .check(node, &m.graph)
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let generated = rtl
        .generate(kernel.as_ref(), node, &m.graph, &BuildContext::default())
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let streams = kernel.streams(node, &m.graph).unwrap();
    let (input, output) = (&streams[0], &streams[1]);
    let ports = &generated.interface.ports;
    assert_eq!(
        (ports[0].name.as_str(), ports[0].width),
        ("in0", input.width()),
        "{dir}"
    );
    assert_eq!(
        (ports[1].name.as_str(), ports[1].width),
        ("out0", output.width()),
        "{dir}"
    );
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rtl-sim");
    let path = root.join(dir);
    let _ = std::fs::remove_dir_all(&path);
    let start = Instant::now();
    let sim = compile_rtl(&path, &generated, input.width(), output.width())
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let built = start.elapsed();
    let lanes_in = *input.folded_shape.last().unwrap() as usize;
    let lanes_out = *output.folded_shape.last().unwrap() as usize;
    let mut words = Vec::new();
    let mut expected = Vec::new();
    for x in frames {
        expected.extend(reference(kernel.as_ref(), m, &input.normal_shape, x));
        words.extend(pack(x, lanes_in, input.datatype));
    }
    let per_frame = output.transfers() as usize;
    let count = per_frame * frames.len();
    let mut stalled_cycles = u64::MAX;
    // Stalled both ways, then a starved input (the output side runs ahead of the input),
    // then a blocked output (the input side runs ahead), then none: the last run times.
    let starved = Stalls {
        seed: 12,
        valid_percent: 10,
        ready_percent: 95,
    };
    let blocked = Stalls {
        seed: 13,
        valid_percent: 95,
        ready_percent: 10,
    };
    for (seed, stalls) in [
        (1, Stalls::random(11)),
        (2, starved),
        (3, blocked),
        (4, Stalls::NONE),
    ] {
        let run = sim
            .run(&words, count, stalls)
            .unwrap_or_else(|e| panic!("{dir} (run {seed}): {e}"));
        let cycles = run.out_cycles.last().copied().unwrap_or(0);
        let got = unpack(&run.words, lanes_out, output.datatype);
        assert_eq!(
            got, expected,
            "{dir} (run {seed}, {stalls:?}): simulation against execute"
        );
        if stalls != Stalls::NONE {
            stalled_cycles = stalled_cycles.min(cycles);
        } else {
            assert!(
                stalled_cycles > cycles,
                "{dir}: a stalled run took {stalled_cycles} cycles, the unstalled {cycles}: \
                 the stalls did not slow it"
            );
            // The backend's own estimate where it refines the kernel's.
            let estimate = rtl
                .cycles(kernel.as_ref(), node, &m.graph)
                .unwrap()
                .or(kernel.cycles(node, &m.graph).unwrap())
                .unwrap() as f64;
            let interval = run.interval(per_frame).unwrap();
            let first = run.frames(input.transfers() as usize, per_frame).unwrap()[0];
            let first = first.cycles() as f64;
            eprintln!(
                "{dir}: built in {:.1} s; estimate {estimate}; first frame {first} cycles \
                 (ratio {:.3}), back to back {interval} per frame (ratio {:.3})",
                built.as_secs_f64(),
                first / estimate,
                interval / estimate,
            );
            assert!(
                (first - estimate).abs() <= TOLERANCE * estimate + MAX_LATENCY,
                "{dir}: the first frame took {first} cycles, the kernel estimates {estimate} \
                 (and the pipeline may add {MAX_LATENCY})"
            );
            assert!(
                (interval - estimate).abs() <= TOLERANCE * estimate,
                "{dir}: {interval} cycles per frame back to back, the estimate is {estimate}"
            );
            return Measured {
                first,
                interval,
                estimate,
            };
        }
    }
    unreachable!("the unstalled run returns")
}

/// Prints the ratios of measured to estimated cycles furthest from 1.
fn report(test: &str, measured: &[Measured]) {
    let worst = |ratio: &dyn Fn(&Measured) -> f64| {
        measured.iter().map(ratio).fold(1.0f64, |w, r| {
            if (r - 1.0).abs() > (w - 1.0).abs() {
                r
            } else {
                w
            }
        })
    };
    eprintln!(
        "{test}: worst ratios to the estimate: first frame {:.3}, back to back {:.3}",
        worst(&|m| m.first / m.estimate),
        worst(&|m| m.interval / m.estimate)
    );
}

/// `first` and `more` further seeded frames like it.
fn frames(first: Vec<f64>, datatype: QuantType, seed: u64, more: usize) -> Vec<Vec<f64>> {
    let n = first.len();
    let mut g = Lcg(seed);
    std::iter::once(first)
        .chain((0..more).map(|_| (0..n).map(|_| g.value(datatype)).collect()))
        .collect()
}

#[test]
fn mvau_rtl_matches_the_kernel_bit_for_bit_within_its_cycles() {
    if !verilator_or_skip("mvau_rtl") {
        return;
    }
    use QuantType::*;
    let case = |lead: &[i64], mw, mh, simd, pe, input, weights, out| Case {
        lead: lead.to_vec(),
        mw,
        mh,
        simd,
        pe,
        input,
        weights,
        out,
    };
    let cases = [
        // Standard: 2-bit activations, 2-bit weights, one lane each way (SIMD = PE = 1).
        case(&[1], 16, 8, 1, 1, UInt(2), Int(2), Some(UInt(2))),
        // Fully parallel: SIMD = MW, PE = MH, 4-bit signed everything; one cycle a frame.
        case(&[1], 16, 8, 16, 8, Int(4), Int(4), Some(Int(3))),
        // Binarised: XNOR-popcount, bipolar out, 160-bit input and 800-bit weight words.
        case(&[1], 160, 10, 160, 5, Bipolar, Bipolar, Some(Bipolar)),
        // Bipolar activations times integer weights (FINN's first cybsec layer).
        case(&[1], 24, 6, 4, 3, Bipolar, Int(2), Some(UInt(2))),
        // 8-bit, no activation: the accumulator is the output.
        case(&[1], 12, 4, 2, 2, UInt(8), Int(8), None),
        // A sliding window's 9 vectors per frame, NHWC thresholds.
        case(&[1, 3, 3], 8, 4, 4, 2, UInt(4), Int(4), Some(UInt(2))),
        // 8-bit in 128-bit words, 15 thresholds per output, signed out.
        case(&[1], 32, 16, 16, 4, UInt(8), Int(8), Some(Int(4))),
        // 1-bit activations times bipolar weights (no XNOR), PE = 1, no activation.
        case(&[1], 64, 32, 2, 1, UInt(1), Bipolar, None),
    ];
    let mut measured = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (m, first) = mapped(case, 100 + i as u64);
        let frames = frames(first, case.input, 7 + i as u64, 3);
        measured.push(simulate(
            "MVAU",
            "MVAU_rtl",
            &m,
            &format!("mvau{i}"),
            &frames,
        ));
    }
    report("mvau_rtl", &measured);
}

#[test]
fn the_mvau_rtl_backend_refuses_what_it_does_not_implement_and_says_why() {
    let case = Case {
        lead: vec![1],
        mw: 8,
        mh: 4,
        simd: 1,
        pe: 1,
        input: QuantType::UInt(2),
        weights: QuantType::Int(2),
        out: Some(QuantType::UInt(2)),
    };
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("MVAU").unwrap().instantiate();
    let rtl = registry.backend("MVAU_rtl").unwrap().instantiate();
    let refusal = |m: &Model| {
        rtl.supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
            .map_err(|e| e.to_string())
    };
    let (m, _) = mapped(&case, 1);
    assert_eq!(refusal(&m), Ok(()));
    let (mut m, _) = mapped(&case, 1);
    m.graph.nodes[0].set_attribute("mem_mode", AttributeValue::string("internal_decoupled"));
    let err = refusal(&m).unwrap_err();
    assert!(err.contains("set it to 'internal_embedded'"), "{err}");
    // A weight outside weightDataType (INT2): the sums would not be the kernel's.
    let (mut m, _) = mapped(&case, 1);
    let name = m.graph.nodes[0].inputs[1].clone();
    let w = m.graph.constant(&name).unwrap();
    let mut values: Vec<f32> = w.to_f64().unwrap().iter().map(|&v| v as f32).collect();
    values[5] = 7.0;
    let w = Tensor::from_f32(&name, &[8, 4], &values);
    let slot = m
        .graph
        .initializers
        .iter_mut()
        .find(|t| t.name() == name)
        .unwrap();
    *slot = w;
    let err = refusal(&m).unwrap_err();
    assert!(
        err.contains("weight [1, 1] is 7, not a value of weightDataType INT2"),
        "{err}"
    );
}

#[test]
fn thresholding_rtl_matches_the_kernel_bit_for_bit_within_its_cycles() {
    if !verilator_or_skip("thresholding_rtl") {
        return;
    }
    use QuantType::*;
    let cases = [
        // One lane, per-channel thresholds, 4-bit in, 2-bit out.
        ActCase {
            lead: vec![1],
            channels: 8,
            pe: 1,
            input: UInt(4),
            shared: false,
            out: UInt(2),
        },
        // Every channel at once (PE = C), signed in and out.
        ActCase {
            lead: vec![1],
            channels: 6,
            pe: 6,
            input: Int(8),
            shared: false,
            out: Int(3),
        },
        // A feature map, one shared row, 8-bit in, 4-bit out (15 thresholds).
        ActCase {
            lead: vec![1, 3, 3],
            channels: 4,
            pe: 2,
            input: UInt(8),
            shared: true,
            out: UInt(4),
        },
        // Sign: bipolar out of 1 bit.
        ActCase {
            lead: vec![2],
            channels: 10,
            pe: 5,
            input: Int(4),
            shared: false,
            out: Bipolar,
        },
        // A 1-bit input.
        ActCase {
            lead: vec![1],
            channels: 4,
            pe: 2,
            input: UInt(1),
            shared: false,
            out: UInt(1),
        },
        // Wide words: 64 lanes of 3 bits in, 192-bit input words.
        ActCase {
            lead: vec![1],
            channels: 64,
            pe: 64,
            input: Int(3),
            shared: false,
            out: Int(2),
        },
    ];
    let mut measured = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (m, first) = mapped_activation(case, 200 + i as u64);
        let frames = frames(first, case.input, 9 + i as u64, 3);
        measured.push(simulate(
            "brainsmith:Thresholding",
            "Thresholding_rtl",
            &m,
            &format!("thresholding{i}"),
            &frames,
        ));
    }
    report("thresholding_rtl", &measured);
}

#[test]
fn the_thresholding_rtl_backend_refuses_what_it_does_not_implement_and_says_why() {
    let case = ActCase {
        lead: vec![1],
        channels: 4,
        pe: 2,
        input: QuantType::UInt(4),
        shared: false,
        out: QuantType::UInt(2),
    };
    let registry = Registry::global().unwrap();
    let kernel = registry
        .kernel("brainsmith:Thresholding")
        .unwrap()
        .instantiate();
    let rtl = registry.backend("Thresholding_rtl").unwrap().instantiate();
    let (m, _) = mapped_activation(&case, 1);
    rtl.supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
        .unwrap();
    for (attr, value, reason) in [
        (
            "mem_mode",
            AttributeValue::string("internal_decoupled"),
            "set it to 'internal_embedded'",
        ),
        (
            "runtime_writeable_weights",
            AttributeValue::Int(1),
            "set runtime_writeable_weights to 0",
        ),
    ] {
        let (mut m, _) = mapped_activation(&case, 1);
        m.graph.nodes[0].set_attribute(attr, value);
        let err = rtl
            .supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
            .unwrap_err()
            .to_string();
        assert!(err.contains("node 'act'") && err.contains(reason), "{err}");
    }
}

/// One sliding window: `([H, W], C, [k_h, k_w], [s_h, s_w], [d_h, d_w], SIMD, type)`.
type WindowCase = ([i64; 2], i64, [i64; 2], [i64; 2], [i64; 2], i64, QuantType);

/// A sliding window generator node of `case`, alone in a model.
fn window(i: usize, (ifm, c, k, s, d, simd, dt): WindowCase) -> Model {
    let oh = (ifm[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
    let ow = (ifm[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
    let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
    let node = Node::new("ConvolutionInputGenerator", ["x"], ["y"])
        .with_name(format!("swg {i}"))
        .with_domain("finn.custom_op.fpgadataflow")
        .with_attribute("ConvKernelDim", ints(&k))
        .with_attribute("IFMChannels", AttributeValue::Int(c))
        .with_attribute("IFMDim", ints(&ifm))
        .with_attribute("OFMDim", ints(&[oh, ow]))
        .with_attribute("SIMD", AttributeValue::Int(simd))
        .with_attribute("Stride", ints(&s))
        .with_attribute("Dilation", ints(&d))
        .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()))
        .with_attribute("outputDataType", AttributeValue::string(&dt.to_string()));
    one_node(node, &[1, ifm[0], ifm[1], c], dt)
}

#[test]
fn convolution_input_generator_rtl_matches_the_kernel_bit_for_bit_within_its_cycles() {
    if !verilator_or_skip("convolution_input_generator_rtl") {
        return;
    }
    use QuantType::*;
    let cases: [WindowCase; 8] = [
        // 3x3, stride 1, all channels per word.
        ([5, 5], 4, [3, 3], [1, 1], [1, 1], 4, UInt(4)),
        // One channel per word.
        ([4, 5], 4, [3, 3], [1, 1], [1, 1], 1, Int(3)),
        // 2x2 windows, stride 2 (a pooling-style window).
        ([6, 6], 2, [2, 2], [2, 2], [1, 1], 2, UInt(8)),
        // Dilated.
        ([7, 7], 2, [3, 3], [1, 1], [2, 2], 1, UInt(2)),
        // 1-D: a row.
        ([1, 9], 3, [1, 3], [1, 2], [1, 1], 3, Int(8)),
        // Uneven window and stride, a stride taller than the window: rows dropped.
        ([9, 6], 2, [2, 3], [3, 1], [1, 1], 1, UInt(1)),
        // 1x1 with a stride (FINN's down-sampler case), bipolar.
        ([6, 6], 3, [1, 1], [2, 2], [1, 1], 3, Bipolar),
        // 8-bit, 128-bit words.
        ([4, 4], 16, [3, 3], [1, 1], [1, 1], 16, Int(8)),
    ];
    let mut measured = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        let m = window(i, case);
        let n: i64 = m.graph.inputs[0].static_shape().unwrap().iter().product();
        let mut g = Lcg(300 + i as u64);
        let first = (0..n).map(|_| g.value(case.6)).collect();
        let frames = frames(first, case.6, 310 + i as u64, 2);
        measured.push(simulate(
            "ConvolutionInputGenerator",
            "ConvolutionInputGenerator_rtl",
            &m,
            &format!("swg{i}"),
            &frames,
        ));
    }
    report("convolution_input_generator_rtl", &measured);
}

#[test]
fn the_convolution_input_generator_rtl_backend_refuses_what_it_does_not_implement_and_says_why() {
    let registry = Registry::global().unwrap();
    let kernel = registry
        .kernel("ConvolutionInputGenerator")
        .unwrap()
        .instantiate();
    let rtl = registry
        .backend("ConvolutionInputGenerator_rtl")
        .unwrap()
        .instantiate();
    let case = ([5, 5], 4, [3, 3], [1, 1], [1, 1], 4, QuantType::UInt(4));
    let m = window(0, case);
    rtl.supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
        .unwrap();
    for (attr, reason) in [
        ("depthwise", "(depthwise = 1)"),
        ("parallel_window", "set parallel_window to 0"),
    ] {
        let mut m = window(0, case);
        m.graph.nodes[0].set_attribute(attr, AttributeValue::Int(1));
        let err = rtl
            .supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("node 'swg 0'") && err.contains(reason),
            "{err}"
        );
    }
    // A line buffer too large for one memory: 4 rows of 20,000 single-channel pixels.
    let big = window(
        0,
        (
            [3, 20_000],
            1,
            [3, 3],
            [1, 1],
            [1, 1],
            1,
            QuantType::UInt(4),
        ),
    );
    let err = rtl
        .supports(kernel.as_ref(), &big.graph.nodes[0], &big.graph)
        .unwrap_err()
        .to_string();
    assert!(err.contains("80000 words"), "{err}");
}

#[test]
fn data_width_converter_rtl_matches_the_kernel_bit_for_bit_within_its_cycles() {
    let test = "data_width_converter_rtl";
    if !verilator_or_skip(test) {
        return;
    }
    use QuantType::*;
    // (shape, type, in lanes, out lanes): down, up, a ratio that is not whole (4 to 6),
    // 1-bit values, one lane, 100-bit words.
    let cases = [
        (vec![1, 12], Int(4), 12, 3),
        (vec![2, 12], UInt(2), 2, 6),
        (vec![1, 3, 12], Int(3), 4, 6),
        (vec![1, 16], Bipolar, 16, 1),
        (vec![1, 8], Int(8), 1, 8),
        (vec![1, 10], UInt(20), 5, 2),
    ];
    let mut measured = Vec::new();
    for (i, (shape, dt, li, lo)) in cases.into_iter().enumerate() {
        let bits = i64::from(dt.bitwidth());
        let node = Node::new("StreamingDataWidthConverter", ["x"], ["y"])
            .with_name(format!("dwc {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("shape", AttributeValue::Ints(shape.clone()))
            .with_attribute("inWidth", AttributeValue::Int(li * bits))
            .with_attribute("outWidth", AttributeValue::Int(lo * bits))
            .with_attribute("dataType", AttributeValue::string(&dt.to_string()));
        let m = one_node(node, &shape, dt);
        let n = shape.iter().product::<i64>() as usize;
        let mut g = Lcg(1300 + i as u64);
        let first = (0..n).map(|_| g.value(dt)).collect();
        measured.push(simulate(
            "StreamingDataWidthConverter",
            "StreamingDataWidthConverter_rtl",
            &m,
            &format!("dwc{i}"),
            &frames(first, dt, 1310 + i as u64, 3),
        ));
    }
    report(test, &measured);
}

#[test]
fn streaming_fifo_rtl_matches_the_kernel_bit_for_bit_within_its_cycles() {
    let test = "streaming_fifo_rtl";
    if !verilator_or_skip(test) {
        return;
    }
    use QuantType::*;
    // (depth, folded shape, type): one word deep, two, an odd depth, deeper than a frame,
    // 1-bit and 100-bit words.
    let cases = [
        (1, vec![1, 6, 2], Int(4)),
        (2, vec![1, 4, 1], UInt(8)),
        (5, vec![1, 3, 3, 4], Int(3)),
        (40, vec![1, 8, 16], Bipolar),
        (3, vec![1, 5, 5], UInt(20)),
    ];
    let mut measured = Vec::new();
    for (i, (depth, folded, dt)) in cases.into_iter().enumerate() {
        let node = Node::new("StreamingFIFO", ["x"], ["y"])
            .with_name(format!("fifo {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("depth", AttributeValue::Int(depth))
            .with_attribute("folded_shape", AttributeValue::Ints(folded.clone()))
            .with_attribute("dataType", AttributeValue::string(&dt.to_string()));
        let k = folded.len();
        let mut shape = folded[..k - 2].to_vec();
        shape.push(folded[k - 2] * folded[k - 1]);
        let m = one_node(node, &shape, dt);
        let n = shape.iter().product::<i64>() as usize;
        let mut g = Lcg(1400 + i as u64);
        let first = (0..n).map(|_| g.value(dt)).collect();
        measured.push(simulate(
            "StreamingFIFO",
            "StreamingFIFO_rtl",
            &m,
            &format!("fifo{i}"),
            &frames(first, dt, 1410 + i as u64, 3),
        ));
    }
    report(test, &measured);
    // Deeper than registers should go: refused, with the reason.
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("StreamingFIFO").unwrap().instantiate();
    let rtl = registry.backend("StreamingFIFO_rtl").unwrap().instantiate();
    let node = Node::new("StreamingFIFO", ["x"], ["y"])
        .with_name("deep")
        .with_domain("finn.custom_op.fpgadataflow")
        .with_attribute("depth", AttributeValue::Int(1 << 17))
        .with_attribute("folded_shape", AttributeValue::Ints(vec![1, 4, 2]))
        .with_attribute("dataType", AttributeValue::string("INT4"));
    let m = one_node(node, &[1, 8], Int(4));
    let err = rtl
        .supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("depth 131072 is more than the 65536 words"),
        "{err}"
    );
}
