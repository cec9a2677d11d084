//! [`namespace!`](crate::namespace): a crate's choice of the source name for its plugins.

/// Declares the source name under which this crate's plugins are registered, instead of
/// the crate's package name. Use it once, anywhere in the crate.
///
/// ```
/// brainsmith_core::namespace!("acme");
/// ```
///
/// The name is checked at compile time: lowercase ASCII letters, digits, `_` and `-`,
/// starting with a letter.
///
/// ```compile_fail
/// brainsmith_core::namespace!("Acme Corp");
/// ```
///
/// `brainsmith` is the standard plugins' (brainsmith-plugins'), and no other crate's:
///
/// ```compile_fail
/// brainsmith_core::namespace!("brainsmith");
/// ```
#[macro_export]
macro_rules! namespace {
    ($namespace:literal) => {
        const _: () = {
            $crate::__private::check_namespace($namespace, ::core::env!("CARGO_PKG_NAME"));
            #[$crate::__private::linkme::distributed_slice($crate::__private::NAMESPACES)]
            #[linkme(crate = $crate::__private::linkme)]
            static NAMESPACE: $crate::__private::NamespaceRecord =
                $crate::__private::NamespaceRecord {
                    namespace: $namespace,
                    crate_name: ::core::env!("CARGO_PKG_NAME"),
                    file: ::core::file!(),
                    line: ::core::line!(),
                };
        };
    };
}
