//! Registry and model I/O costs, each next to a baseline measured in the same run:
//!
//! - `registry/build` (first access: sort, index, validate) vs `baseline/hashmap_build`
//!   (a `HashMap` of the same names);
//! - `registry/lookup_short` and `registry/lookup_qualified` vs `baseline/hashmap_get`;
//! - `model/decode` and `model/encode` of the largest test model vs plain prost decoding
//!   and encoding of the same bytes (`baseline/prost_*`): the IR's overhead.
//!
//! Run with `cargo bench -p brainsmith-plugins --bench registry`.

use std::collections::HashMap;
use std::hint::black_box;

use brainsmith_core::__private::{NAMESPACES, PLUGINS};
use brainsmith_core::ir::{Model, proto};
use brainsmith_core::{PluginKind, Registry};
use brainsmith_plugins as _;
use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;

fn registry(c: &mut Criterion) {
    let mut group = c.benchmark_group("registry");
    group.bench_function("build", |b| {
        b.iter(|| Registry::from_records(black_box(&PLUGINS).iter(), NAMESPACES.iter()).unwrap())
    });
    let registry = Registry::global().unwrap();
    group.bench_function("lookup_short", |b| {
        b.iter(|| {
            registry
                .get(PluginKind::Transform, black_box("SortGraph"))
                .unwrap()
        })
    });
    group.bench_function("lookup_qualified", |b| {
        b.iter(|| {
            registry
                .get(PluginKind::Transform, black_box("brainsmith:SortGraph"))
                .unwrap()
        })
    });
    group.bench_function("list_all", |b| {
        b.iter(|| black_box(registry.plugins()).len())
    });
    group.finish();

    let mut group = c.benchmark_group("baseline");
    group.bench_function("hashmap_build", |b| {
        b.iter(|| {
            black_box(&PLUGINS)
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name(), i))
                .collect::<HashMap<&str, usize>>()
        })
    });
    let map: HashMap<&str, usize> = PLUGINS
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name(), i))
        .collect();
    group.bench_function("hashmap_get", |b| {
        b.iter(|| map.get(black_box("SortGraph")).copied())
    });
    group.finish();
}

fn model_io(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
    );
    let bytes = std::fs::read(path).unwrap();
    let model = Model::decode(&bytes).unwrap();
    let message = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let mut group = c.benchmark_group("model");
    group.throughput(criterion::Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| Model::decode(black_box(&bytes)).unwrap())
    });
    group.bench_function("encode", |b| b.iter(|| black_box(&model).encode()));
    group.finish();
    let mut group = c.benchmark_group("baseline");
    group.throughput(criterion::Throughput::Bytes(bytes.len() as u64));
    group.bench_function("prost_decode", |b| {
        b.iter(|| proto::ModelProto::decode(black_box(bytes.as_slice())).unwrap())
    });
    group.bench_function("prost_encode", |b| {
        b.iter(|| black_box(&message).encode_to_vec())
    });
    group.finish();
}

criterion_group!(benches, registry, model_io);
criterion_main!(benches);
