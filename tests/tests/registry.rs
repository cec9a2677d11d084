//! The global registry of the standard and acme plugins: every lookup of the issue.

use brainsmith_core::{Language, PluginKind, Registry, Stage};
use brainsmith_tests as _;

fn registry() -> &'static Registry {
    Registry::global().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lookups_by_short_and_qualified_name() {
    let r = registry();
    assert_eq!(
        r.transform("SortGraph").unwrap().qualified_name(),
        "brainsmith:SortGraph"
    );
    assert_eq!(
        r.transform("brainsmith:SortGraph").unwrap().name(),
        "SortGraph"
    );
    assert_eq!(r.kernel("acme:Thresholding").unwrap().source(), "acme");
    assert!(r.step("cleanup").is_ok());
    let p = r.get(PluginKind::Backend, "acme:ThresholdingRtl").unwrap();
    assert_eq!(p.kind(), PluginKind::Backend);
    assert_eq!(p.crate_name(), "acme-plugins");
    assert_eq!(p.crate_version(), "0.3.0");
    assert_eq!(p.rust_path(), "acme_plugins::codegen::ThresholdingRtl");
    assert!(
        p.location()
            .file
            .ends_with("examples/acme-plugins/src/codegen.rs"),
        "{}",
        p.location()
    );
}

#[test]
fn lookup_by_rust_type() {
    let r = registry();
    let sort = r
        .by_type::<brainsmith_plugins::SortGraph>()
        .unwrap()
        .as_transform()
        .unwrap();
    assert_eq!(sort.qualified_name(), "brainsmith:SortGraph");
    let kernel = r
        .by_type::<acme_plugins::Thresholding>()
        .unwrap()
        .as_kernel()
        .unwrap();
    assert_eq!(kernel.best_backend(None).unwrap().name(), "ThresholdingHls");
    assert!(
        r.by_type::<acme_plugins::ThresholdingRtl>()
            .unwrap()
            .as_backend()
            .is_some()
    );
}

#[test]
fn locations_point_at_the_identifier() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for plugin in registry().plugins() {
        let location = plugin.location();
        let text = std::fs::read_to_string(root.join(location.file)).unwrap();
        let line = text.lines().nth(location.line as usize - 1).unwrap();
        let at = &line[location.column as usize - 1..];
        assert!(
            at.starts_with(plugin.rust_path().rsplit("::").next().unwrap()),
            "{location}: {line}"
        );
    }
}

#[test]
fn listing_by_kind_stage_and_op_type() {
    let r = registry();
    let cleanup: Vec<&str> = r
        .transforms_in_stage(Stage::Cleanup)
        .map(|t| t.name())
        .collect();
    // Sorted by name, exactly the cleanup transforms, the standard ones among them.
    let mut expected: Vec<&str> = r
        .transforms()
        .filter(|t| t.stage() == Stage::Cleanup)
        .map(|t| t.name())
        .collect();
    expected.sort_unstable();
    assert_eq!(cleanup, expected);
    for name in [
        "FoldConstants",
        "InferShapes",
        "RemoveIdentityOps",
        "SortGraph",
    ] {
        assert!(cleanup.contains(&name), "{name} missing from {cleanup:?}");
    }
    assert!(!cleanup.contains(&"InferThresholding"));
    let mapping = r
        .transforms_in_stage(Stage::KernelMapping)
        .map(|t| t.qualified_name().to_owned())
        .collect::<Vec<String>>();
    assert_eq!(
        mapping,
        [
            "acme:InferThresholding",
            "brainsmith:InferAddStreams",
            "brainsmith:InferChannelwiseOp",
            "brainsmith:InferConvInpGen",
            "brainsmith:InferDuplicateStreams",
            "brainsmith:InferGlobalAccPool",
            "brainsmith:InferLabelSelect",
            "brainsmith:InferMvau",
            "brainsmith:InferStreamingMaxPool",
            "brainsmith:InferThresholding"
        ]
    );
    // Two crates implement an op type of the same name, in their own domains.
    let kernels: Vec<String> = r
        .kernels_for_op("Thresholding")
        .map(|k| k.qualified_name().to_owned())
        .collect();
    assert_eq!(kernels, ["acme:Thresholding", "brainsmith:Thresholding"]);
    assert_eq!(
        r.kernels_for_node_type("finn.custom_op.fpgadataflow", "Thresholding")
            .count(),
        1
    );
    assert_eq!(
        r.kernels_for_node_type("acme.fpgadataflow", "Thresholding")
            .count(),
        1
    );
    assert_eq!(r.kernels_for_node_type("", "Thresholding").count(), 0);
    assert_eq!(r.kernels_for_op("Conv").count(), 0);
    let kinds: Vec<PluginKind> = r.plugins().iter().map(|p| p.kind()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "plugins are grouped by kind");
    for kind in PluginKind::ALL {
        assert!(r.of_kind(*kind).iter().all(|p| p.kind() == *kind));
    }
}

#[test]
fn kernel_and_backend_cross_references() {
    let r = registry();
    let kernel = r.kernel("acme:Thresholding").unwrap();
    let backends: Vec<(&str, Language, i32)> = kernel
        .backends()
        .map(|b| (b.name(), b.language(), b.priority()))
        .collect();
    assert_eq!(
        backends,
        [
            ("ThresholdingHls", Language::Hls, 10),
            ("ThresholdingRtl", Language::Rtl, 5)
        ]
    );
    assert_eq!(kernel.best_backend(None).unwrap().name(), "ThresholdingHls");
    assert_eq!(
        kernel.best_backend(Some(Language::Rtl)).unwrap().name(),
        "ThresholdingRtl"
    );
    assert_eq!(
        r.backend("ThresholdingRtl").unwrap().kernel().name(),
        "Thresholding"
    );
    let inferred_by: Vec<&str> = kernel.inferred_by().map(|t| t.name()).collect();
    assert_eq!(inferred_by, ["InferThresholding"]);
    assert_eq!(
        r.transform("acme:InferThresholding")
            .unwrap()
            .infers()
            .unwrap()
            .name(),
        "Thresholding"
    );
}

#[test]
fn free_text_search_ranks_name_matches_first() {
    let r = registry();
    let hits: Vec<&str> = r.search("threshold").iter().map(|p| p.name()).collect();
    assert_eq!(hits.first(), Some(&"InferThresholding"));
    assert!(hits.contains(&"ThresholdingRtl"));
    // "naming" is a tag of the two renaming transforms and a word of other docs
    // (SortGraph's among them); no name matches, so they come sorted by name.
    let hits: Vec<&str> = r.search("naming").iter().map(|p| p.name()).collect();
    for name in [
        "GiveReadableTensorNames",
        "GiveUniqueNodeNames",
        "SortGraph",
    ] {
        assert!(hits.contains(&name), "{name} not in {hits:?}");
    }
    assert!(hits.is_sorted(), "{hits:?}");
    assert!(!hits.contains(&"RemoveUnusedTensors"), "{hits:?}");
    assert!(r.search("no such words anywhere").is_empty());
    assert_eq!(
        r.search("SORTGRAPH topological").len(),
        1,
        "case-insensitive, every term"
    );
}

#[test]
fn unknown_names_get_suggestions_and_the_other_kind() {
    let r = registry();
    let err = r.kernel("Thresholdng").unwrap_err().to_string();
    assert!(
        err.starts_with("unknown kernel 'Thresholdng'; did you mean 'Thresholding'?"),
        "{err}"
    );
    assert!(
        err.contains(
            "available kernels: AddStreams, ChannelwiseOp, ConvolutionInputGenerator, \
             DuplicateStreams, FMPadding, GlobalAccPool, LabelSelect, MVAU, \
             StreamingDataWidthConverter, StreamingFIFO, StreamingMaxPool, \
             acme:Thresholding, brainsmith:Thresholding"
        ),
        "{err}"
    );

    let err = r.transform("Thresholding").unwrap_err().to_string();
    assert!(
        err.contains("'Thresholding' is a kernel, not a transform"),
        "{err}"
    );
    assert!(
        err.contains("available transforms: ")
            && err.contains("GiveReadableTensorNames, GiveUniqueNodeNames"),
        "{err}"
    );

    let err = r.transform("acm:SortGraph").unwrap_err().to_string();
    assert!(
        err.starts_with("unknown source 'acm' in transform 'acm:SortGraph'; did you mean 'acme'?"),
        "{err}"
    );

    let err = r.transform("brainsmith:SortGrph").unwrap_err().to_string();
    assert!(
        err.contains("did you mean 'brainsmith:SortGraph'?"),
        "{err}"
    );
}

/// Every plugin constructs with its defaults, except one with required configuration
/// keys, which refuses an empty configuration naming each of them.
#[test]
fn every_record_constructs_its_plugin_on_demand() {
    let r = registry();
    let mut required_seen = 0;
    for t in r.transforms() {
        let required: Vec<&str> = t
            .config_fields()
            .iter()
            .filter(|f| f.is_required())
            .map(|f| f.name)
            .collect();
        if required.is_empty() {
            let _ = t.instantiate();
            continue;
        }
        required_seen += 1;
        let err = t
            .configure(&toml::Table::new())
            .err()
            .unwrap_or_else(|| panic!("{} built without its required keys", t.name()))
            .to_string();
        for key in required {
            assert!(
                err.contains(key),
                "{}: {err:?} does not name {key}",
                t.name()
            );
        }
    }
    assert!(required_seen >= 1, "ChangeBatchSize has a required key");
    for k in r.kernels() {
        let _ = k.instantiate();
    }
    for b in r.backends() {
        let _ = b.instantiate();
    }
}

#[test]
fn sources_are_namespaces_or_crate_names() {
    let sources = registry().sources();
    assert!(sources.contains(&"acme"));
    assert!(sources.contains(&"brainsmith"));
    assert!(sources.windows(2).all(|w| w[0] < w[1]));
}
