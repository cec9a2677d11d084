//! The HLS backends, compiled with the system's C++ compiler and simulated, against their
//! kernel's `execute`, bit for bit, over a spread of foldings, datatypes and sizes
//! (SIMD = MW, PE = MH, PE = 1, 1-bit and 8-bit): every HLS backend of the standard
//! kernels, the MVAU with embedded and with decoupled weights (its weight streamer's words
//! feeding its second stream). Each configuration is built once; the layer builders are
//! `brainsmith_tests::layers`, shared with the RTL simulations.

use brainsmith_core::ir::{AttributeValue, ElemType, Model, Node, QuantType, Tensor, ValueInfo};
use brainsmith_core::kernel::Direction;
use brainsmith_core::kernel::Stream;
use brainsmith_core::{BuildContext, Registry};
use brainsmith_plugins::sim::{compile_hls, compile_hls_streams, pack, unpack};
use brainsmith_tests::Lcg;
use brainsmith_tests::layers::{ActCase, Case, mapped, mapped_activation, one_node, reference};

/// Generates the HLS of `m`'s only node with `backend`, compiles it under
/// `target/hls-sim/<dir>`, and runs it on each frame (values of the node's first input, in
/// its normal shape) against the kernel's `execute` (the node's other inputs are the
/// model's constants), bit for bit. The kernel's streams, for further checks.
fn simulate(kernel: &str, backend: &str, m: &Model, dir: &str, frames: &[Vec<f64>]) -> Vec<Stream> {
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel(kernel).unwrap().instantiate();
    let hls = registry.backend(backend).unwrap().instantiate();
    let node = &m.graph.nodes[0];
    kernel
        .check(node, &m.graph)
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let generated = hls
        .generate(kernel.as_ref(), node, &m.graph, &BuildContext::default())
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let streams = kernel.streams(node, &m.graph).unwrap();
    let (input, output) = (&streams[0], &streams[1]);
    assert_eq!(generated.interface.ports[0].width, input.width(), "{dir}");
    assert_eq!(generated.interface.ports[1].width, output.width(), "{dir}");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hls-sim");
    let path = root.join(dir);
    let _ = std::fs::remove_dir_all(&path);
    let sim = compile_hls(&path, &generated, input.width(), output.width())
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let lanes_in = *input.folded_shape.last().unwrap() as usize;
    let lanes_out = *output.folded_shape.last().unwrap() as usize;
    for x in frames {
        let expected = reference(kernel.as_ref(), m, &input.normal_shape, x);
        let words = sim
            .run(
                &pack(x, lanes_in, input.datatype),
                output.transfers() as usize,
            )
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        let got = unpack(&words, lanes_out, output.datatype);
        assert_eq!(got, expected, "{dir}: simulation against execute");
    }
    streams
}

/// `count` seeded frames of values of `datatype` for the input of `m`.
fn random_frames(m: &Model, datatype: QuantType, seed: u64, count: usize) -> Vec<Vec<f64>> {
    let n: i64 = m.graph.inputs[0].static_shape().unwrap().iter().product();
    let mut g = Lcg(seed);
    (0..count)
        .map(|_| (0..n).map(|_| g.value(datatype)).collect())
        .collect()
}

#[test]
fn mvau_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    let cases = [
        // Standard: 2-bit activations, 2-bit weights, one lane each way.
        Case {
            lead: vec![1],
            mw: 16,
            mh: 8,
            simd: 1,
            pe: 1,
            input: UInt(2),
            weights: Int(2),
            out: Some(UInt(2)),
        },
        // Fully parallel: SIMD = MW, PE = MH, 4-bit signed everything.
        Case {
            lead: vec![1],
            mw: 16,
            mh: 8,
            simd: 16,
            pe: 8,
            input: Int(4),
            weights: Int(4),
            out: Some(Int(3)),
        },
        // Binarised: XNOR-popcount, bipolar out, 160-bit input words.
        Case {
            lead: vec![1],
            mw: 160,
            mh: 10,
            simd: 160,
            pe: 5,
            input: Bipolar,
            weights: Bipolar,
            out: Some(Bipolar),
        },
        // Bipolar activations times integer weights (FINN's first cybsec layer).
        Case {
            lead: vec![1],
            mw: 24,
            mh: 6,
            simd: 4,
            pe: 3,
            input: Bipolar,
            weights: Int(2),
            out: Some(UInt(2)),
        },
        // 8-bit, no activation: the accumulator is the output.
        Case {
            lead: vec![1],
            mw: 12,
            mh: 4,
            simd: 2,
            pe: 2,
            input: UInt(8),
            weights: Int(8),
            out: None,
        },
        // 8-bit pixels times bipolar weights (CNV's first layer).
        Case {
            lead: vec![1],
            mw: 27,
            mh: 8,
            simd: 9,
            pe: 4,
            input: Int(8),
            weights: Bipolar,
            out: Some(UInt(2)),
        },
        // A sliding window's 9 vectors per frame, NHWC thresholds.
        Case {
            lead: vec![1, 3, 3],
            mw: 8,
            mh: 4,
            simd: 4,
            pe: 2,
            input: UInt(4),
            weights: Int(4),
            out: Some(UInt(2)),
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let (m, first) = mapped(case, 100 + i as u64);
        let n: usize = first.len();
        let mut g = Lcg(7 + i as u64);
        let frames = [
            first,
            (0..n).map(|_| g.value(case.input)).collect(),
            (0..n).map(|_| g.value(case.input)).collect(),
        ];
        simulate("MVAU", "MVAU_hls", &m, &format!("mvau{i}"), &frames);
    }
}

#[test]
fn the_hls_backend_refuses_what_it_does_not_implement_and_says_why() {
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
    let (mut m, _) = mapped(&case, 1);
    m.graph.nodes[0].set_attribute("mem_mode", AttributeValue::string("external"));
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("MVAU").unwrap().instantiate();
    let hls = registry.backend("MVAU_hls").unwrap().instantiate();
    let err = hls
        .supports(kernel.as_ref(), &m.graph.nodes[0], &m.graph)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("set it to 'internal_embedded' or 'internal_decoupled'"),
        "{err}"
    );
    // And FINN's specialised model now reads as kernel plus backend.
    let finn =
        Model::load(brainsmith_tests::models_dir().join("finn_cybsec_mvau_hls.onnx")).unwrap();
    for node in finn.graph.nodes.iter() {
        let found = brainsmith_core::hardware::resolve(registry, node)
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.kernel.name(), found.backend.map(|b| b.name())),
            ("MVAU", Some("MVAU_hls"))
        );
    }
}

#[test]
fn thresholding_hls_matches_the_kernel_bit_for_bit() {
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
        // A feature map, one shared row, 8-bit in, 4-bit out.
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
    ];
    for (i, case) in cases.iter().enumerate() {
        let (m, first) = mapped_activation(case, 200 + i as u64);
        let n = first.len();
        let mut g = Lcg(9 + i as u64);
        let frames = [
            first,
            (0..n).map(|_| g.value(case.input)).collect(),
            (0..n).map(|_| g.value(case.input)).collect(),
        ];
        let streams = simulate(
            "brainsmith:Thresholding",
            "Thresholding_hls",
            &m,
            &format!("thresholding{i}"),
            &frames,
        );
        // FINN's cycle formula: one word per cycle.
        let registry = Registry::global().unwrap();
        let kernel = registry
            .kernel("brainsmith:Thresholding")
            .unwrap()
            .instantiate();
        assert_eq!(
            kernel.cycles(&m.graph.nodes[0], &m.graph).unwrap(),
            Some(streams[1].transfers())
        );
    }
}

/// One sliding window: `([H, W], C, [k_h, k_w], [s_h, s_w], [d_h, d_w], SIMD, type)`.
type WindowCase = ([i64; 2], i64, [i64; 2], [i64; 2], [i64; 2], i64, QuantType);

#[test]
fn convolution_input_generator_hls_matches_the_kernel_bit_for_bit() {
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
        // Uneven window and stride, a stride taller than the window.
        ([9, 6], 2, [2, 3], [3, 1], [1, 1], 1, UInt(1)),
        // 1x1 with a stride (FINN's down-sampler case).
        ([6, 6], 3, [1, 1], [2, 2], [1, 1], 3, Bipolar),
        // 8-bit, wide words.
        ([4, 4], 16, [3, 3], [1, 1], [1, 1], 8, Int(8)),
    ];
    for (i, (ifm, c, k, s, d, simd, dt)) in cases.into_iter().enumerate() {
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
        let m = one_node(node, &[1, ifm[0], ifm[1], c], dt);
        let frames = random_frames(&m, dt, 300 + i as u64, 2);
        let streams = simulate(
            "ConvolutionInputGenerator",
            "ConvolutionInputGenerator_hls",
            &m,
            &format!("swg{i}"),
            &frames,
        );
        assert_eq!(
            streams[1].normal_shape,
            [1, oh, ow, k[0] * k[1] * c],
            "case {i}"
        );
    }
}

/// One max pool: `([H, W], C, [k_h, k_w], PE, ceil mode, type)`.
type PoolCase = ([i64; 2], i64, [i64; 2], i64, bool, QuantType);

#[test]
fn streaming_max_pool_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    let cases: [PoolCase; 6] = [
        ([4, 4], 3, [2, 2], 1, false, UInt(4)),
        // The window does not divide the image: the remainder is dropped.
        ([7, 7], 2, [3, 3], 1, false, Int(4)),
        // Uneven window, 8-bit signed.
        ([6, 7], 4, [2, 3], 1, false, Int(8)),
        // 1-D, two channels per word, ceil mode keeps the last partial window.
        ([1, 9], 4, [1, 2], 2, true, UInt(3)),
        // 1-D, one channel per word.
        ([1, 8], 3, [1, 4], 1, false, Int(2)),
        // Bipolar: the maximum of -1 and +1.
        ([4, 6], 2, [2, 2], 1, false, Bipolar),
    ];
    for (i, (image, c, pool, pe, ceil, dt)) in cases.into_iter().enumerate() {
        let ints = |v: &[i64]| AttributeValue::Ints(v.to_vec());
        let node = Node::new("StreamingMaxPool", ["x"], ["y"])
            .with_name(format!("pool {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("ImgDim", ints(&image))
            .with_attribute("PoolDim", ints(&pool))
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("CeilMode", AttributeValue::Int(i64::from(ceil)))
            .with_attribute("dataType", AttributeValue::string(&dt.to_string()));
        let m = one_node(node, &[1, image[0], image[1], c], dt);
        let frames = random_frames(&m, dt, 400 + i as u64, 3);
        simulate(
            "StreamingMaxPool",
            "StreamingMaxPool_hls",
            &m,
            &format!("pool{i}"),
            &frames,
        );
    }
}

#[test]
fn label_select_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // (vectors, labels, K, PE, type): few bits make ties common.
    let cases = [
        (1, 10, 3, 1, UInt(2)),
        (1, 12, 12, 4, Int(8)),
        (1, 6, 1, 6, Int(3)),
        (3, 8, 2, 2, UInt(4)),
    ];
    for (i, (vectors, labels, k, pe, dt)) in cases.into_iter().enumerate() {
        let node = Node::new("LabelSelect", ["x"], ["y"])
            .with_name(format!("labels {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("Labels", AttributeValue::Int(labels))
            .with_attribute("K", AttributeValue::Int(k))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("numInputVectors", AttributeValue::Ints(vec![vectors]))
            .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()));
        let m = one_node(node, &[vectors, labels], dt);
        let frames = random_frames(&m, dt, 500 + i as u64, 4);
        simulate(
            "LabelSelect",
            "LabelSelect_hls",
            &m,
            &format!("labels{i}"),
            &frames,
        );
    }
}

#[test]
fn fm_padding_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // ([H, W], C, [top, left, bottom, right], SIMD, type)
    let cases = [
        ([3, 3], 2, [1, 1, 1, 1], 2, UInt(4)),
        ([4, 2], 4, [0, 2, 1, 0], 1, Int(8)),
        ([1, 5], 3, [0, 1, 0, 2], 3, Int(2)),
    ];
    for (i, (image, c, pads, simd, dt)) in cases.into_iter().enumerate() {
        let node = Node::new("FMPadding", ["x"], ["y"])
            .with_name(format!("pad {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("ImgDim", AttributeValue::Ints(image.to_vec()))
            .with_attribute("Padding", AttributeValue::Ints(pads.to_vec()))
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("SIMD", AttributeValue::Int(simd))
            .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()));
        let m = one_node(node, &[1, image[0], image[1], c], dt);
        let frames = random_frames(&m, dt, 600 + i as u64, 1);
        simulate(
            "FMPadding",
            "FMPadding_hls",
            &m,
            &format!("pad{i}"),
            &frames,
        );
    }
}

/// [`simulate`] for a node with several stream inputs and outputs: each frame gives the
/// values of every non-constant input, in order; every output is checked against the
/// kernel's `execute`, bit for bit.
fn simulate_streams(kernel: &str, backend: &str, m: &Model, dir: &str, frames: &[Vec<Vec<f64>>]) {
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel(kernel).unwrap().instantiate();
    let hls = registry.backend(backend).unwrap().instantiate();
    let node = &m.graph.nodes[0];
    kernel
        .check(node, &m.graph)
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    hls.supports(kernel.as_ref(), node, &m.graph)
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let generated = hls
        .generate(kernel.as_ref(), node, &m.graph, &BuildContext::default())
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let streams = kernel.streams(node, &m.graph).unwrap();
    let ins: Vec<&Stream> = streams
        .iter()
        .filter(|s| s.direction == Direction::In)
        .collect();
    let outs: Vec<&Stream> = streams
        .iter()
        .filter(|s| s.direction == Direction::Out)
        .collect();
    let widths = |v: &[&Stream]| v.iter().map(|s| s.width()).collect::<Vec<u64>>();
    let ports: Vec<u64> = generated.interface.ports.iter().map(|p| p.width).collect();
    assert_eq!(
        ports,
        [widths(&ins), widths(&outs)].concat(),
        "{dir}: port widths"
    );
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hls-sim");
    let path = root.join(dir);
    let _ = std::fs::remove_dir_all(&path);
    let sim = compile_hls_streams(&path, &generated, &widths(&ins), &widths(&outs))
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
    let lanes = |s: &Stream| *s.folded_shape.last().unwrap() as usize;
    for frame in frames {
        let mut values = frame.iter();
        let inputs: Vec<Tensor> = node
            .inputs
            .iter()
            .enumerate()
            .map(|(i, name)| match m.graph.constant(name) {
                Some(t) => t.clone(),
                None => {
                    let v = values.next().unwrap();
                    let shape = &ins[i.min(ins.len() - 1)].normal_shape;
                    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                    Tensor::from_f32(name, shape, &v)
                }
            })
            .collect();
        let expected = kernel.execute(node, &m.graph, &inputs).unwrap();
        let words: Vec<Vec<Vec<u64>>> = ins
            .iter()
            .zip(frame)
            .map(|(s, v)| pack(v, lanes(s), s.datatype))
            .collect();
        let counts: Vec<usize> = outs.iter().map(|s| s.transfers() as usize).collect();
        let got = sim
            .run_streams(&words, &counts)
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        for (o, s) in outs.iter().enumerate() {
            assert_eq!(
                unpack(&got[o], lanes(s), s.datatype),
                expected[o].to_f64().unwrap(),
                "{dir}: output {o}, simulation against execute"
            );
        }
    }
}

/// `count` seeded frames of `inputs` streams of `len` values of `datatype` each.
fn stream_frames(
    len: i64,
    inputs: usize,
    datatype: QuantType,
    seed: u64,
    count: usize,
) -> Vec<Vec<Vec<f64>>> {
    let mut g = Lcg(seed);
    (0..count)
        .map(|_| {
            (0..inputs)
                .map(|_| (0..len).map(|_| g.value(datatype)).collect())
                .collect()
        })
        .collect()
}

#[test]
fn add_streams_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // (leading dims, channels, PE, types): extremes add up to the widened type's bounds.
    let cases = [
        (vec![1], 6, 1, UInt(4), UInt(4)),
        (vec![1, 2, 2], 8, 4, Int(8), Int(8)),
        (vec![3], 5, 5, Bipolar, Bipolar),
        (vec![2], 4, 2, Int(2), Int(2)),
        // Two widths: an INT3 branch added to an UINT5 one.
        (vec![2], 6, 3, UInt(5), Int(3)),
    ];
    for (i, (lead, c, pe, dt, dt1)) in cases.into_iter().enumerate() {
        let mut node = Node::new("AddStreams", ["x", "y"], ["z"])
            .with_name(format!("add {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("numInputVectors", AttributeValue::Ints(lead.clone()))
            .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()));
        if dt1 != dt {
            node.set_attribute("input1DataType", AttributeValue::string(&dt1.to_string()));
        }
        let shape: Vec<i64> = lead.iter().copied().chain([c]).collect();
        let mut m = one_node(node, &shape, dt);
        m.graph
            .inputs
            .push(ValueInfo::tensor("y", ElemType::Float, &shape));
        let len = shape.iter().product::<i64>() as usize;
        let mut g = Lcg(700 + i as u64);
        let mut frames: Vec<Vec<Vec<f64>>> = (0..3)
            .map(|_| {
                [dt, dt1]
                    .iter()
                    .map(|&t| (0..len).map(|_| g.value(t)).collect())
                    .collect()
            })
            .collect();
        // Both extremes at once: the sums reach the output type's bounds.
        let ((lo, hi), (lo1, hi1)) = (dt.range(), dt1.range());
        frames.push(vec![vec![lo; len], vec![lo1; len]]);
        frames.push(vec![vec![hi; len], vec![hi1; len]]);
        simulate_streams(
            "AddStreams",
            "AddStreams_hls",
            &m,
            &format!("add{i}"),
            &frames,
        );
    }
}

#[test]
fn duplicate_streams_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    let cases = [
        (vec![1, 3, 3], 4, 2, 2, Int(4)),
        (vec![2], 6, 3, 3, UInt(8)),
    ];
    for (i, (lead, c, pe, copies, dt)) in cases.into_iter().enumerate() {
        let outs: Vec<String> = (0..copies).map(|o| format!("y{o}")).collect();
        let node = Node::new("DuplicateStreams", ["x"], outs.iter().map(String::as_str))
            .with_name(format!("dup {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("NumOutputStreams", AttributeValue::Int(copies))
            .with_attribute("numInputVectors", AttributeValue::Ints(lead.clone()))
            .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()));
        let shape: Vec<i64> = lead.iter().copied().chain([c]).collect();
        let m = one_node(node, &shape, dt);
        let frames = stream_frames(shape.iter().product(), 1, dt, 800 + i as u64, 2);
        simulate_streams(
            "DuplicateStreams",
            "DuplicateStreams_hls",
            &m,
            &format!("dup{i}"),
            &frames,
        );
    }
}

#[test]
fn global_acc_pool_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // ([N, H, W], channels, PE, type)
    let cases = [
        ([1, 3, 3], 4, 2, UInt(4)),
        ([2, 2, 5], 3, 1, Int(8)),
        ([1, 7, 7], 2, 2, Bipolar),
    ];
    for (i, (nhw, c, pe, dt)) in cases.into_iter().enumerate() {
        let node = Node::new("GlobalAccPool", ["x"], ["y"])
            .with_name(format!("gap {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("numInputVectors", AttributeValue::Ints(nhw.to_vec()))
            .with_attribute("inputDataType", AttributeValue::string(&dt.to_string()));
        let shape = [nhw[0], nhw[1], nhw[2], c];
        let m = one_node(node, &shape, dt);
        let len: i64 = shape.iter().product();
        let mut frames = stream_frames(len, 1, dt, 900 + i as u64, 2);
        let (lo, hi) = dt.range();
        frames.push(vec![vec![lo; len as usize]]);
        frames.push(vec![vec![hi; len as usize]]);
        simulate_streams(
            "GlobalAccPool",
            "GlobalAccPool_hls",
            &m,
            &format!("gap{i}"),
            &frames,
        );
    }
}

#[test]
fn channelwise_op_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // (function, leading dims, channels, PE, input, parameters, output)
    let cases = [
        ("add", vec![1, 2, 2], 4, 2, UInt(4), Int(3), Int(6)),
        ("mul", vec![3], 6, 3, Int(4), Int(4), Int(8)),
        ("cmp_le", vec![2], 5, 5, Int(8), Int(8), Binary),
        ("cmp_ge", vec![1], 8, 1, UInt(2), UInt(2), Binary),
    ];
    for (i, (func, lead, c, pe, idt, pdt, odt)) in cases.into_iter().enumerate() {
        let node = Node::new("ChannelwiseOp", ["x", "p"], ["y"])
            .with_name(format!("chan {i}"))
            .with_domain("finn.custom_op.fpgadataflow")
            .with_attribute("Func", AttributeValue::string(func))
            .with_attribute("NumChannels", AttributeValue::Int(c))
            .with_attribute("PE", AttributeValue::Int(pe))
            .with_attribute("numInputVectors", AttributeValue::Ints(lead.clone()))
            .with_attribute("inputDataType", AttributeValue::string(&idt.to_string()))
            .with_attribute("paramDataType", AttributeValue::string(&pdt.to_string()))
            .with_attribute("outputDataType", AttributeValue::string(&odt.to_string()));
        let shape: Vec<i64> = lead.iter().copied().chain([c]).collect();
        let mut m = one_node(node, &shape, idt);
        let mut g = Lcg(1000 + i as u64);
        let params: Vec<f32> = (0..c).map(|_| g.value(pdt) as f32).collect();
        m.graph
            .initializers
            .push(Tensor::from_f32("p", &[c], &params));
        let len: i64 = shape.iter().product();
        let mut frames = stream_frames(len, 1, idt, 1100 + i as u64, 3);
        // Every value equal to its channel's parameter: the comparisons meet ties.
        if idt.range().0 <= pdt.range().0 && pdt.range().1 <= idt.range().1 {
            frames.push(vec![
                (0..len as usize)
                    .map(|k| f64::from(params[k % c as usize]))
                    .collect(),
            ]);
        }
        simulate_streams(
            "ChannelwiseOp",
            "ChannelwiseOp_hls",
            &m,
            &format!("chan{i}"),
            &frames,
        );
    }
}

#[test]
fn data_width_converter_hls_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // (shape, type, in lanes, out lanes): down, up, a ratio that is not whole (4 to 6
    // lanes through 12), 1-bit values, one lane, 100-bit words (two 64-bit chunks).
    let cases = [
        (vec![1, 12], Int(4), 12, 3),
        (vec![2, 12], UInt(2), 2, 6),
        (vec![1, 3, 12], Int(3), 4, 6),
        (vec![1, 16], Bipolar, 16, 1),
        (vec![1, 8], Int(8), 1, 8),
        (vec![1, 10], UInt(20), 5, 2),
    ];
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
        let frames = random_frames(&m, dt, 1200 + i as u64, 2);
        let streams = simulate(
            "StreamingDataWidthConverter",
            "StreamingDataWidthConverter_hls",
            &m,
            &format!("dwc{i}"),
            &frames,
        );
        assert_eq!(streams[0].width(), (li * bits) as u64);
        assert_eq!(streams[1].width(), (lo * bits) as u64);
    }
}

#[test]
fn mvau_hls_with_decoupled_weights_matches_the_kernel_bit_for_bit() {
    use QuantType::*;
    // The weights come from the generated streamer, through the unit's second stream.
    let cases = [
        Case {
            lead: vec![1],
            mw: 16,
            mh: 8,
            simd: 4,
            pe: 2,
            input: UInt(2),
            weights: Int(2),
            out: Some(UInt(2)),
        },
        Case {
            lead: vec![1],
            mw: 64,
            mh: 6,
            simd: 32,
            pe: 3,
            input: Bipolar,
            weights: Bipolar,
            out: Some(Bipolar),
        },
        Case {
            lead: vec![1, 2, 2],
            mw: 27,
            mh: 8,
            simd: 3,
            pe: 8,
            input: Int(8),
            weights: Bipolar,
            out: None,
        },
    ];
    let registry = Registry::global().unwrap();
    let kernel = registry.kernel("MVAU").unwrap().instantiate();
    let hls = registry.backend("MVAU_hls").unwrap().instantiate();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/hls-sim");
    for (i, case) in cases.iter().enumerate() {
        let dir = format!("mvau_decoupled{i}");
        let (mut m, first) = mapped(case, 300 + i as u64);
        m.graph.nodes[0].set_attribute("mem_mode", AttributeValue::string("internal_decoupled"));
        let node = &m.graph.nodes[0];
        hls.supports(kernel.as_ref(), node, &m.graph)
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        let generated = hls
            .generate(kernel.as_ref(), node, &m.graph, &BuildContext::default())
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        let streams = kernel.streams(node, &m.graph).unwrap();
        let (input, output) = (&streams[0], &streams[1]);
        let weights = streams
            .iter()
            .find(|s| s.direction == Direction::Weight)
            .expect("decoupled weights are a stream");
        let weight_width = generated.interface.ports[1].width;
        assert_eq!(
            weight_width,
            weights.folded_shape[1] as u64
                * u64::from(if case.input == Bipolar && case.weights == Bipolar {
                    1
                } else {
                    case.weights.bitwidth()
                }),
            "{dir}: the weight port carries PE x SIMD weights"
        );
        // The streamer alone: its words, for every input vector.
        let mut streamer = generated.clone();
        streamer.sources.rotate_left(1);
        streamer.interface.top = format!("{}_memstream", generated.interface.top);
        let path = root.join(format!("{dir}_memstream"));
        let _ = std::fs::remove_dir_all(&path);
        let memstream = compile_hls_streams(&path, &streamer, &[], &[weight_width])
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        let depth = weights.folded_shape[0] as usize;
        let frames = case.lead.iter().product::<i64>() as usize;
        let weight_words = memstream
            .run_streams(&[], &[depth * frames])
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .remove(0);
        // The unit, fed by them.
        let path = root.join(&dir);
        let _ = std::fs::remove_dir_all(&path);
        let sim = compile_hls_streams(&path, &generated, &[input.width()], &[output.width()]);
        assert!(sim.is_err(), "{dir}: the unit has a second input stream");
        let sim = compile_hls_streams(
            &path,
            &generated,
            &[input.width(), weight_width],
            &[output.width()],
        )
        .unwrap_or_else(|e| panic!("{dir}: {e}"));
        let lanes = |s: &Stream| *s.folded_shape.last().unwrap() as usize;
        let mut g = Lcg(17 + i as u64);
        let n = first.len();
        for x in [first, (0..n).map(|_| g.value(case.input)).collect()] {
            let xt = Tensor::from_f32(
                "x",
                &input.normal_shape,
                &x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            );
            let inputs: Vec<Tensor> = std::iter::once(xt)
                .chain(
                    node.inputs[1..]
                        .iter()
                        .map(|n| m.graph.constant(n).unwrap().clone()),
                )
                .collect();
            let expected = kernel.execute(node, &m.graph, &inputs).unwrap()[0]
                .to_f64()
                .unwrap();
            let got = sim
                .run_streams(
                    &[pack(&x, lanes(input), input.datatype), weight_words.clone()],
                    &[output.transfers() as usize],
                )
                .unwrap_or_else(|e| panic!("{dir}: {e}"));
            assert_eq!(
                unpack(&got[0], lanes(output), output.datatype),
                expected,
                "{dir}: simulation against execute"
            );
        }
    }
}
