//! Building a registry from hand-made records: name clashes, priority ties, ambiguous
//! short names and source priority, and the views that disable plugins.

use brainsmith_core::__private::{
    BackendRecord, Details, KernelRecord, NamespaceRecord, PluginRecord, StepRecord,
    TransformRecord,
};
use brainsmith_core::backend::DynBackend;
use brainsmith_core::ir::Model;
use brainsmith_core::kernel::DynKernel;
use brainsmith_core::registry::LookupError;
use brainsmith_core::{
    Backend, BackendNode, BuildContext, Generated, Kernel, KernelNode, Language, PluginError,
    PluginKind, Registry, Stage, StepContext, TensorInfo, Transform, TransformContext,
};

struct Nop;
impl Transform for Nop {
    fn apply(&self, _: &mut Model, _: &mut TransformContext) -> Result<bool, PluginError> {
        Ok(false)
    }
}
impl Kernel for Nop {
    type Attrs = ();
    fn infer(&self, _: &KernelNode<'_, ()>) -> Result<Vec<TensorInfo>, PluginError> {
        Ok(Vec::new())
    }
}
impl Backend for Nop {
    type Kernel = Nop;
    type Attrs = ();
    fn generate(
        &self,
        n: &BackendNode<'_, Self>,
        _: &BuildContext,
    ) -> Result<Generated, PluginError> {
        Err(n.error("nothing to generate"))
    }
}
type Made = Result<Box<dyn Transform>, Vec<brainsmith_core::ConfigProblem>>;
fn new_t(_: &toml::Table) -> Made {
    Ok(Box::new(Nop))
}
static CONSTRUCTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
fn new_counted(_: &toml::Table) -> Made {
    CONSTRUCTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(Box::new(Nop))
}
fn new_k(_: &toml::Table) -> Result<Box<dyn DynKernel>, Vec<brainsmith_core::ConfigProblem>> {
    Ok(Box::new(Nop))
}
fn new_b(_: &toml::Table) -> Result<Box<dyn DynBackend>, Vec<brainsmith_core::ConfigProblem>> {
    Ok(Box::new(Nop))
}
fn run(_: &mut Model, _: &mut StepContext<'_>, _: &toml::Table) -> Result<(), PluginError> {
    Ok(())
}

/// A record as the attributes write it, through the same layout macro.
macro_rules! record {
    ($name:literal, $krate:literal, $file:literal, $line:literal, $details:expr) => {
        brainsmith_core::__private::plugin_record! {
            crate_name: $krate,
            name: $name,
            crate_version: "1.0.0",
            module_path: $krate,
            file: $file,
            type_name: $name,
            version: "",
            author: "",
            tags: [],
            domain: "",
            op_types: ["Relu"],
            summary: "A test plugin.",
            docs: "A test plugin.",
            line: $line,
            column: 1,
            details: $details,
        }
    };
}

static SORT_A: PluginRecord = record!(
    "Sort",
    "crate-a",
    "a/src/lib.rs",
    10,
    Details::Transform(TransformRecord {
        stage: Stage::Cleanup,
        infers: None,
        new: new_t,
        schema: None
    })
);
static SORT_B: PluginRecord = record!(
    "Sort",
    "crate-b",
    "b/src/lib.rs",
    20,
    Details::Transform(TransformRecord {
        stage: Stage::Cleanup,
        infers: None,
        new: new_t,
        schema: None
    })
);
static SORT_A_AGAIN: PluginRecord = record!(
    "Sort",
    "crate-a",
    "a/src/more.rs",
    30,
    Details::Transform(TransformRecord {
        stage: Stage::Cleanup,
        infers: None,
        new: new_t,
        schema: None
    })
);
static KERNEL: PluginRecord = record!(
    "Relu",
    "crate-a",
    "a/src/k.rs",
    1,
    Details::Kernel(KernelRecord {
        new: new_k,
        schema: None
    })
);
static HLS_1: PluginRecord = record!(
    "ReluHls",
    "crate-a",
    "a/src/hls.rs",
    5,
    Details::Backend(BackendRecord {
        kernel: &KERNEL,
        language: Language::Hls,
        priority: 1,
        new: new_b,
        schema: None
    })
);
static RTL_1: PluginRecord = record!(
    "ReluRtl",
    "crate-b",
    "b/src/rtl.rs",
    7,
    Details::Backend(BackendRecord {
        kernel: &KERNEL,
        language: Language::Rtl,
        priority: 1,
        new: new_b,
        schema: None
    })
);
static STEP: PluginRecord = record!(
    "Sort",
    "crate-b",
    "b/src/step.rs",
    3,
    Details::Step(StepRecord {
        run,
        check: |_| Ok(()),
        schema: None
    })
);
static COUNTED: PluginRecord = record!(
    "Counted",
    "crate-c",
    "c/src/lib.rs",
    1,
    Details::Transform(TransformRecord {
        stage: Stage::Cleanup,
        infers: None,
        new: new_counted,
        schema: None
    })
);
static INFER_RELU: PluginRecord = record!(
    "InferRelu",
    "crate-c",
    "c/src/infer.rs",
    4,
    Details::Transform(TransformRecord {
        stage: Stage::KernelMapping,
        infers: Some(&KERNEL),
        new: new_t,
        schema: None
    })
);
static NS_A: NamespaceRecord = NamespaceRecord {
    namespace: "alpha",
    crate_name: "crate-a",
    file: "a/src/lib.rs",
    line: 1,
};
static NS_A2: NamespaceRecord = NamespaceRecord {
    namespace: "beta",
    crate_name: "crate-a",
    file: "a/src/x.rs",
    line: 2,
};

#[test]
fn same_qualified_name_twice_is_a_load_error_with_both_locations() {
    let err = Registry::from_records([&SORT_A, &SORT_A_AGAIN], []).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let text = err.to_string();
    assert!(
        text.contains("transform 'crate-a:Sort' is registered twice"),
        "{text}"
    );
    assert!(
        text.contains("a/src/lib.rs:10:1") && text.contains("a/src/more.rs:30:1"),
        "{text}"
    );
}

/// Equal priorities load; using the kernel without an order is the error, and it says
/// how a blueprint settles it.
#[test]
fn backends_of_one_kernel_with_equal_priority_load_and_are_settled_by_the_build() {
    let registry = Registry::from_records([&KERNEL, &HLS_1, &RTL_1], []).unwrap();
    let kernel = registry.kernel("crate-a:Relu").unwrap();
    let tie = kernel.priority_tie().unwrap();
    let names = tie.backends.map(|b| b.qualified_name().to_owned());
    assert_eq!(names, ["crate-a:ReluHls", "crate-b:ReluRtl"]);
    let text = tie.to_string();
    assert!(
        text.contains("both have priority 1")
            && text.contains(
                "kernels = [{ kernel = \"crate-a:Relu\", backends = [\"crate-a:ReluHls\", \
                 \"crate-b:ReluRtl\"] }]"
            ),
        "{text}"
    );
}

#[test]
fn a_backend_whose_kernel_is_not_registered_is_a_load_error() {
    let err = Registry::from_records([&HLS_1], []).unwrap_err();
    assert!(
        err.to_string()
            .contains("'crate-a:ReluHls' (a/src/hls.rs:5:1) names kernel 'Relu'"),
        "{err}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Registry::from_records([&SORT_A, &SORT_A_AGAIN, &HLS_1, &RTL_1], []).unwrap_err();
    assert_eq!(err.problems.len(), 3, "{err}");
}

#[test]
fn a_crate_declaring_two_namespaces_is_a_load_error() {
    let err = Registry::from_records([&SORT_A], [&NS_A, &NS_A2]).unwrap_err();
    assert!(
        err.to_string()
            .contains("crate 'crate-a' declares its namespace twice"),
        "{err}"
    );
}

#[test]
fn ambiguous_short_names_list_the_candidates_or_follow_a_source_priority() {
    let r = Registry::from_records([&SORT_A, &SORT_B, &STEP], [&NS_A]).unwrap();
    match r.get(PluginKind::Transform, "Sort").unwrap_err() {
        LookupError::Ambiguous { candidates, .. } => {
            assert_eq!(candidates, ["alpha:Sort", "crate-b:Sort"])
        }
        other => panic!("{other}"),
    }
    let text = r
        .get(PluginKind::Transform, "Sort")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("use a qualified name: alpha:Sort, crate-b:Sort"),
        "{text}"
    );
    let chosen = r
        .get_with_priority(PluginKind::Transform, "Sort", &["crate-b", "alpha"])
        .unwrap();
    assert_eq!(chosen.qualified_name(), "crate-b:Sort");
    assert_eq!(
        r.get(PluginKind::Transform, "alpha:Sort")
            .unwrap()
            .location()
            .file,
        "a/src/lib.rs"
    );
    // A step may share a transform's name: the kinds never shadow each other.
    assert_eq!(
        r.get(PluginKind::Step, "Sort").unwrap().kind(),
        PluginKind::Step
    );
    assert_eq!(
        r.display_name(r.get(PluginKind::Step, "Sort").unwrap()),
        "Sort"
    );
    assert_eq!(r.display_name(chosen), "crate-b:Sort");
}

#[test]
fn listing_searching_and_manifests_construct_no_plugin() {
    use std::sync::atomic::Ordering;
    let r = Registry::from_records([&COUNTED, &SORT_A, &KERNEL], []).unwrap();
    let _ = r.plugins().len();
    let _ = r.search("test plugin");
    let stages: Vec<Stage> = r.transforms().map(|t| t.stage()).collect();
    assert_eq!(stages.len(), 2);
    let _ = brainsmith_core::manifest::Manifest::from_registry(&r, None).to_toml();
    assert_eq!(CONSTRUCTED.load(Ordering::SeqCst), 0);
    let _ = r.transform("Counted").unwrap().instantiate();
    assert_eq!(CONSTRUCTED.load(Ordering::SeqCst), 1);
}

/// A record that shares its name hash with `SORT_A` ("Sort"), as two names whose 64-bit
/// hashes collide would. (Its stored hash is not its own name's, so it is reachable by
/// listing only; what matters is that it never answers for "Sort".)
static COLLIDING: PluginRecord = PluginRecord {
    name_hash: brainsmith_core::__private::name_hash("Sort"),
    ..record!(
        "Collide",
        "crate-b",
        "b/src/c.rs",
        9,
        Details::Transform(TransformRecord {
            stage: Stage::Cleanup,
            infers: None,
            new: new_t,
            schema: None
        })
    )
};

#[test]
fn a_shared_name_hash_never_answers_for_another_name() {
    let r = Registry::from_records([&COLLIDING, &SORT_A], []).unwrap();
    let sort = r.get(PluginKind::Transform, "Sort").unwrap();
    assert_eq!(
        sort.qualified_name(),
        "crate-a:Sort",
        "not ambiguous, not the colliding entry"
    );
    assert!(r.get(PluginKind::Transform, "crate-b:Sort").is_err());
    assert_eq!(r.display_name(sort), "Sort");
    assert_eq!(r.plugins().len(), 2);
}

#[test]
fn a_blueprint_settles_equal_priorities_and_an_unsettled_one_is_a_problem() {
    use brainsmith_core::blueprint::Blueprint;
    let registry = Registry::from_records([&KERNEL, &HLS_1, &RTL_1], []).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let path = dir.path().join("b.toml");
        std::fs::write(&path, text).unwrap();
        Blueprint::check_file(&path, &registry).map(|plan| {
            plan.kernels.unwrap()[0]
                .backends
                .iter()
                .map(|b| b.backend.qualified_name().to_owned())
                .collect::<Vec<_>>()
        })
    };
    let e = check("steps = []\nkernels = [\"crate-a:Relu\"]\n").unwrap_err();
    assert!(e.to_string().contains("b.toml:2:"), "{e}");
    assert!(e.to_string().contains("both have priority 1"), "{e}");
    let order = check(
        "steps = []\nkernels = [{ kernel = \"crate-a:Relu\", backends = [\"crate-b:ReluRtl\", \
         \"crate-a:ReluHls\"] }]\n",
    )
    .unwrap();
    assert_eq!(order, ["crate-b:ReluRtl", "crate-a:ReluHls"]);
}

/// Every record with a role in the switches' tests: a kernel with two tied backends (of
/// two crates), a transform inferring it, `Sort` as a transform of two crates and as a
/// step.
fn switchable() -> Registry {
    Registry::from_records(
        [
            &KERNEL,
            &HLS_1,
            &RTL_1,
            &SORT_A,
            &SORT_B,
            &STEP,
            &INFER_RELU,
        ],
        [],
    )
    .unwrap()
}

fn disabled(list: &str) -> brainsmith_core::registry::Disabled {
    brainsmith_core::registry::Disabled::parse(list, "TEST").unwrap()
}

/// `source:Name` disables every plugin of that qualified name, whatever its kind; a lookup
/// resolves as if it were not linked, and naming it says by what it is disabled. The
/// listing still holds it; the registry it was made from is unchanged.
#[test]
fn a_disabled_plugin_is_invisible_to_lookups_and_listed_as_disabled() {
    let registry = switchable();
    let view = registry.with_disabled(&disabled("crate-b:Sort")).unwrap();
    // The short name `Sort` was ambiguous; with crate-b's disabled it is crate-a's.
    assert!(matches!(
        registry.get(PluginKind::Transform, "Sort"),
        Err(LookupError::Ambiguous { .. })
    ));
    assert_eq!(
        view.transform("Sort").unwrap().qualified_name(),
        "crate-a:Sort"
    );
    // The step of that name (another kind) is disabled too: named, it says so.
    let e = view.step("Sort").unwrap_err();
    assert_eq!(
        e.to_string(),
        "step 'Sort' ('crate-b:Sort') is disabled by 'crate-b:Sort' (TEST); drop the pattern \
         to use it, or name another step"
    );
    let e = view.transform("crate-b:Sort").unwrap_err();
    assert!(
        matches!(&e, LookupError::Disabled { qualified_name, by, .. }
            if qualified_name == "crate-b:Sort" && by == "by 'crate-b:Sort' (TEST)"),
        "{e:?}"
    );
    assert!(view.steps().next().is_none());
    let transforms: Vec<&str> = view
        .transforms()
        .map(|t| t.plugin().qualified_name())
        .collect();
    assert_eq!(transforms, ["crate-a:Sort", "crate-c:InferRelu"]);
    // Listed, and said why.
    assert_eq!(view.plugins().len(), 7);
    let off: Vec<String> = view
        .plugins()
        .iter()
        .filter_map(|p| Some(format!("{} {}", p.qualified_name(), view.why_disabled(p)?)))
        .collect();
    assert_eq!(
        off,
        [
            "crate-b:Sort by 'crate-b:Sort' (TEST)",
            "crate-b:Sort by 'crate-b:Sort' (TEST)"
        ]
    );
    assert!(
        registry
            .plugins()
            .iter()
            .all(|p| registry.why_disabled(p).is_none())
    );
    assert!(
        registry.step("Sort").is_ok(),
        "the base registry is unchanged"
    );
    assert_eq!(
        view.disabled().patterns().collect::<Vec<_>>(),
        [("crate-b:Sort", "TEST")]
    );
}

/// A disabled kernel takes its backends and the transforms inferring it along; a disabled
/// backend is never chosen, and disabling one of two tied backends settles the tie. The
/// manifest describes what is linked whatever a view disables.
#[test]
fn a_disabled_kernel_takes_its_backends_and_inferring_transforms_along() {
    use brainsmith_core::ir::Node;
    use brainsmith_core::manifest::Manifest;
    let registry = switchable();
    let relu = Node::new("Relu", ["x"], ["y"]);

    let view = registry.with_disabled(&disabled("crate-a:Relu")).unwrap();
    assert!(view.kernels_for_op("Relu").next().is_none());
    assert!(view.kernels().next().is_none() && view.backends().next().is_none());
    let e = view.backend("ReluRtl").unwrap_err().to_string();
    assert!(
        e.contains("is disabled with its kernel 'crate-a:Relu', by 'crate-a:Relu' (TEST)"),
        "{e}"
    );
    let e = view.transform("InferRelu").unwrap_err().to_string();
    assert!(e.contains("with its kernel 'crate-a:Relu'"), "{e}");
    assert!(StepContext::new(view).kernel_for(&relu).unwrap().is_none());

    // Both backends tie: the build must order them; with one disabled, the other is the
    // only and best one.
    assert!(StepContext::new(&registry).kernel_for(&relu).is_err());
    let view = registry
        .with_disabled(&disabled("crate-b:ReluRtl"))
        .unwrap();
    let kernel = view.kernel("Relu").unwrap();
    let backends: Vec<&str> = kernel
        .backends()
        .map(|b| b.plugin().qualified_name())
        .collect();
    assert_eq!(backends, ["crate-a:ReluHls"]);
    assert!(kernel.priority_tie().is_none());
    assert!(kernel.best_backend(Some(Language::Rtl)).is_none());
    let choice = StepContext::new(view).kernel_for(&relu).unwrap().unwrap();
    assert_eq!(format!("{:?}", choice.backends), "[crate-a:ReluHls]");
    assert_eq!(kernel.inferred_by().count(), 1);

    for list in ["crate-a:Relu", "crate-b:ReluRtl", "crate-a:*, crate-b:*"] {
        let view = registry.with_disabled(&disabled(list)).unwrap();
        assert_eq!(
            Manifest::from_registry(view, None),
            Manifest::from_registry(&registry, None),
            "{list}"
        );
        assert!(
            view.verify(&Manifest::from_registry(&registry, None))
                .is_ok()
        );
    }
}

/// `source:*` disables a whole source; views of views add up; a view is made once per
/// set of patterns.
#[test]
fn a_source_pattern_disables_the_source_and_views_are_kept() {
    let registry = switchable();
    let a = registry.with_disabled(&disabled("crate-a:*")).unwrap();
    let on: Vec<String> = a
        .plugins()
        .iter()
        .filter(|p| a.why_disabled(p).is_none())
        .map(|p| format!("{} {}", p.kind(), p.qualified_name()))
        .collect();
    // crate-b's backend goes with crate-a's kernel, crate-c's transform too.
    assert_eq!(on, ["transform crate-b:Sort", "step crate-b:Sort"]);
    assert_eq!(
        a.transform("Sort").unwrap().qualified_name(),
        "crate-b:Sort"
    );
    let again = registry.with_disabled(&disabled("crate-a:*")).unwrap();
    assert!(std::ptr::eq(a, again), "one view per set of patterns");
    let both = a.with_disabled(&disabled("crate-b:Sort")).unwrap();
    assert!(both.transforms().next().is_none());
    assert!(
        a.transform("Sort").is_ok(),
        "a view is unchanged by the views made of it"
    );
    assert_eq!(both.disabled().patterns().count(), 2);
    assert!(std::ptr::eq(
        registry
            .with_disabled(&brainsmith_core::registry::Disabled::new())
            .unwrap(),
        &registry
    ));
}

/// A malformed pattern or one matching nothing is an error naming where it came from,
/// with the fix or the closest name; every problem at once.
#[test]
fn patterns_that_cannot_apply_are_errors_with_the_fix() {
    use brainsmith_core::registry::Disabled;
    let registry = switchable();
    let e =
        Disabled::parse("Relu, :Relu, crate-a:, a:b:c, crate-a:Re*, , *:Relu", "ENV").unwrap_err();
    let messages: Vec<String> = e
        .problems
        .iter()
        .map(|p| format!("{} {p}", p.index))
        .collect();
    assert_eq!(messages.len(), 7, "{e}");
    assert!(
        messages[0].starts_with("0 ENV: 'Relu' names no source; write `source:Name`"),
        "{e}"
    );
    assert!(messages[1].contains("':Relu' has an empty source"), "{e}");
    assert!(messages[2].contains("'crate-a:' has an empty name"), "{e}");
    assert!(messages[3].contains("'a:b:c' has more than one ':'"), "{e}");
    assert!(
        messages[4].contains("`*` stands alone after the colon"),
        "{e}"
    );
    assert!(messages[5].starts_with("5 ENV: an empty pattern"), "{e}");
    assert!(messages[6].contains("`*` stands alone"), "{e}");
    assert!(Disabled::parse("  ", "ENV").unwrap().is_empty());

    let e = registry
        .with_disabled(&disabled(
            "crate-a:Rleu, crate-a:Sort, crate-d:*, crate-b:Relu",
        ))
        .unwrap_err();
    let messages: Vec<String> = e
        .problems
        .iter()
        .map(|p| format!("{} {p}", p.index))
        .collect();
    assert_eq!(
        messages,
        [
            "0 TEST: 'crate-a:Rleu' matches no linked plugin; did you mean 'crate-a:Relu'? \
             (`plugins --source crate-a` lists that source's plugins)",
            "2 TEST: no linked plugin has source 'crate-d'; did you mean 'crate-a'? (sources: \
             crate-a, crate-b, crate-c)",
            "3 TEST: 'crate-b:Relu' matches no linked plugin; 'Relu' is crate-a:Relu; did you \
             mean 'crate-b:ReluRtl'? (`plugins --source crate-b` lists that source's plugins)",
        ]
    );
}
