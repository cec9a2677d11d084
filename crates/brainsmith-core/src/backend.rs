//! The backend contract: an HLS or RTL code generator for one kernel.
//!
//! A backend names its kernel as a type ([`Backend::Kernel`]), so it reads the kernel's
//! typed attributes and calls its hooks directly, and may declare node attributes of its
//! own ([`Backend::Attrs`], FINN's HLS-only `resType` say). It answers:
//!
//! - [`Backend::supports`]: whether it can implement a node, and the reason when not, so
//!   a build falls back to another backend and says why;
//! - [`Backend::generate`]: sources and parameter files apart, and the [`Interface`]
//!   (top name, stream ports with widths and directions, clock and reset) a stitcher
//!   connects without reading the sources.
//!
//! Architecture invariant: this module knows the IR and the kernel contract, nothing above
//! them.

use std::fmt;
use std::path::PathBuf;

use crate::attrs::NodeAttrs;
use crate::error::PluginError;
use crate::ir::Node;
use crate::kernel::{DynKernel, Kernel, KernelNode, Target, Tensors};

/// One node as a backend sees it: the kernel's view of the node and the backend's own
/// attributes.
pub struct BackendNode<'a, B: Backend> {
    /// The kernel instance of the build (configured).
    pub kernel: &'a B::Kernel,
    /// The node as the kernel sees it: `node.attrs` are the kernel's attributes.
    pub node: KernelNode<'a, <B::Kernel as Kernel>::Attrs>,
    /// The backend's own attributes.
    pub attrs: B::Attrs,
}

impl<'a, B: Backend> BackendNode<'a, B> {
    /// The kernel's attributes of the node (`self.node.attrs`).
    pub fn attrs_of_kernel(&self) -> &<B::Kernel as Kernel>::Attrs {
        &self.node.attrs
    }
}

impl<'a, B: Backend> std::ops::Deref for BackendNode<'a, B> {
    type Target = KernelNode<'a, <B::Kernel as Kernel>::Attrs>;

    fn deref(&self) -> &Self::Target {
        &self.node
    }
}

/// Where and for what a backend generates.
#[derive(Clone, Debug, Default)]
pub struct BuildContext {
    /// Device and clock.
    pub target: Target,
    /// Where the node's files go, when the build writes files.
    pub output_dir: Option<PathBuf>,
}

/// One file a backend generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the node's output directory.
    pub path: String,
    /// The file's text.
    pub contents: String,
}

/// How a port moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// AXI-Stream: `<name>_tdata`, `<name>_tvalid`, `<name>_tready`.
    AxiStream,
    /// A plain wire or bus.
    Wire,
}

/// Which way a port faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortDirection {
    /// Into the module.
    In,
    /// Out of the module.
    Out,
}

/// One port of a generated top.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Port {
    /// Its name (the prefix of an AXI-Stream's signals).
    pub name: String,
    /// Which way it faces.
    pub direction: PortDirection,
    /// Data bits (`tdata` of a stream).
    pub width: u64,
    /// How it moves data.
    pub protocol: Protocol,
}

/// What a stitcher needs to connect a generated node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// The top module or function.
    pub top: String,
    /// Its data ports.
    pub ports: Vec<Port>,
    /// The clock input, if it has one.
    pub clock: Option<String>,
    /// The reset input (active low), if it has one.
    pub reset: Option<String>,
}

/// What a backend generated for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Sources (`.hpp`, `.cpp`, `.sv`).
    pub sources: Vec<GeneratedFile>,
    /// Parameter and weight files the sources read.
    pub params: Vec<GeneratedFile>,
    /// The top and its ports.
    pub interface: Interface,
}

/// An HLS or RTL code generator for one kernel, registered with `#[backend]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is registered with #[backend] but does not implement `brainsmith_core::Backend`",
    label = "needs `impl brainsmith_core::Backend for {Self}`"
)]
pub trait Backend: Sized + Send + Sync + 'static {
    /// The kernel it implements: the type the attribute's `kernel = ...` names.
    type Kernel: Kernel;
    /// Node attributes only this backend reads (`()` for none).
    type Attrs: NodeAttrs;

    /// Whether it can implement this node; the error is the reason when not.
    fn supports(&self, node: &BackendNode<'_, Self>) -> Result<(), PluginError> {
        let _ = node;
        Ok(())
    }

    /// Generates the node's sources, parameter files and interface.
    fn generate(
        &self,
        node: &BackendNode<'_, Self>,
        ctx: &BuildContext,
    ) -> Result<Generated, PluginError>;

    /// Expected cycles per frame of this backend's implementation of the node, where its
    /// design differs from what the kernel's [`Kernel::cycles`] estimates (FINN, too, has
    /// one formula for its HLS sliding window generator and another for its RTL one);
    /// `None`, the default, means the kernel's estimate holds.
    fn cycles(&self, node: &BackendNode<'_, Self>) -> Option<u64> {
        let _ = node;
        None
    }
}

/// What [`DynBackend::ask_backend`] is asked.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum BackendQuery<'c> {
    /// [`Backend::supports`].
    Supports,
    /// [`Backend::generate`].
    Generate(&'c BuildContext),
    /// [`Backend::cycles`].
    Cycles,
}

/// What [`DynBackend::ask_backend`] answers.
#[doc(hidden)]
pub enum BackendAnswer {
    /// The node is supported.
    Supported,
    /// The generated files.
    Generated(Generated),
    /// The backend's own estimate.
    Cycles(Option<u64>),
}

/// A backend as the registry holds it: the hooks of [`Backend`] on plain nodes, given the
/// build's kernel instance, through the inherent methods of `dyn DynBackend`
/// ([`supports`](#method.supports), [`generate`](#method.generate),
/// [`cycles`](#method.cycles)). Implemented for every
/// [`Backend`]; never implement it by hand. One dispatch method, as for
/// [`DynKernel`]: a vtable entry per hook would be a relocation per backend type.
pub trait DynBackend: Send + Sync + 'static {
    #[doc(hidden)]
    fn ask_backend(
        &self,
        kernel: &dyn DynKernel,
        node: &Node,
        tensors: &dyn Tensors,
        query: BackendQuery<'_>,
    ) -> Result<BackendAnswer, PluginError>;
}

fn view<'a, B: Backend>(
    kernel: &'a dyn DynKernel,
    node: &'a Node,
    tensors: &'a dyn Tensors,
) -> Result<BackendNode<'a, B>, PluginError> {
    let kernel = kernel.downcast::<B::Kernel>().ok_or_else(|| {
        PluginError::new(format!(
            "a backend of `{}` was handed another kernel",
            std::any::type_name::<B::Kernel>()
        ))
    })?;
    let kernel_attrs = <B::Kernel as Kernel>::Attrs::read(node);
    let own = B::Attrs::read(node);
    let (kernel_attrs, attrs) = match (kernel_attrs, own) {
        (Ok(k), Ok(b)) => (k, b),
        (Err(mut e), Err(b)) => {
            e.problems.extend(b.problems);
            return Err(e.into());
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    Ok(BackendNode {
        kernel,
        node: KernelNode::new(node, kernel_attrs, tensors),
        attrs,
    })
}

impl<B: Backend> DynBackend for B {
    fn ask_backend(
        &self,
        kernel: &dyn DynKernel,
        node: &Node,
        tensors: &dyn Tensors,
        query: BackendQuery<'_>,
    ) -> Result<BackendAnswer, PluginError> {
        let view = view::<B>(kernel, node, tensors)?;
        if let BackendQuery::Cycles = query {
            return Ok(BackendAnswer::Cycles(Backend::cycles(self, &view)));
        }
        Kernel::check(view.kernel, &view.node)?;
        Backend::supports(self, &view)?;
        match query {
            BackendQuery::Generate(ctx) => {
                Backend::generate(self, &view, ctx).map(BackendAnswer::Generated)
            }
            _ => Ok(BackendAnswer::Supported),
        }
    }
}

impl dyn DynBackend {
    /// [`Backend::supports`], after reading the kernel's and the backend's attributes and
    /// the kernel's own check.
    pub fn supports(
        &self,
        kernel: &dyn DynKernel,
        node: &Node,
        tensors: &dyn Tensors,
    ) -> Result<(), PluginError> {
        self.ask_backend(kernel, node, tensors, BackendQuery::Supports)
            .map(drop)
    }

    /// [`Backend::cycles`]: the backend's own estimate of the node's cycles per frame,
    /// `None` where the kernel's holds.
    pub fn cycles(
        &self,
        kernel: &dyn DynKernel,
        node: &Node,
        tensors: &dyn Tensors,
    ) -> Result<Option<u64>, PluginError> {
        match self.ask_backend(kernel, node, tensors, BackendQuery::Cycles)? {
            BackendAnswer::Cycles(c) => Ok(c),
            _ => Err(PluginError::new(
                "internal error: the backend answered another question",
            )),
        }
    }

    /// [`Backend::generate`], after the same reading and [`Backend::supports`].
    pub fn generate(
        &self,
        kernel: &dyn DynKernel,
        node: &Node,
        tensors: &dyn Tensors,
        ctx: &BuildContext,
    ) -> Result<Generated, PluginError> {
        match self.ask_backend(kernel, node, tensors, BackendQuery::Generate(ctx))? {
            BackendAnswer::Generated(g) => Ok(g),
            _ => Err(PluginError::new(
                "internal error: the backend generated nothing",
            )),
        }
    }
}

impl<B: Backend> fmt::Debug for BackendNode<'_, B>
where
    <B::Kernel as Kernel>::Attrs: fmt::Debug,
    B::Attrs: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendNode")
            .field("node", &self.node)
            .field("attrs", &self.attrs)
            .finish_non_exhaustive()
    }
}

/// A valid C++ or SystemVerilog identifier made from `name` (a node name from a model):
/// every character outside `[A-Za-z0-9_]` becomes `_`, a leading digit or underscore (the
/// C++ implementation's names: `__LINE__`) or an empty name gets a prefix, and a name
/// that is a keyword of either language (C++20, SystemVerilog 1800-2017) or a name of
/// the HLS headers (`ap_uint`, `hls`) gets a suffix. The same
/// name always gives the same identifier; distinct nodes keep distinct names only if
/// their names differ in the kept characters, so a build checks uniqueness (as
/// [`unique_identifiers`] does).
pub fn identifier(name: &str) -> String {
    let mut id: String = name
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    // A leading underscore is the C++ implementation's (`__LINE__`, `_Bool`).
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit() || c == '_') {
        id.insert_str(0, "n_");
    }
    if KEYWORDS.binary_search(&id.as_str()).is_ok() {
        id.push('_');
    }
    id
}

/// Identifiers for `names`, in order, distinct: a clash gets `_2`, `_3`, ....
pub fn unique_identifiers<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|name| {
            let base = identifier(name);
            let mut id = base.clone();
            let mut n = 2;
            while !seen.insert(id.clone()) {
                id = format!("{base}_{n}");
                n += 1;
            }
            id
        })
        .collect()
}

/// C++ and SystemVerilog keywords (sorted), which no generated identifier may be.
const KEYWORDS: &[&str] = &[
    "NULL",
    "accept_on",
    "alias",
    "alignas",
    "alignof",
    "always",
    "always_comb",
    "always_ff",
    "always_latch",
    "and",
    "and_eq",
    "ap_fixed",
    "ap_int",
    "ap_range_ref",
    "ap_ufixed",
    "ap_uint",
    "asm",
    "assert",
    "assign",
    "assume",
    "auto",
    "automatic",
    "before",
    "begin",
    "bind",
    "bins",
    "binsof",
    "bit",
    "bitand",
    "bitor",
    "bool",
    "break",
    "buf",
    "bufif0",
    "bufif1",
    "byte",
    "case",
    "casex",
    "casez",
    "catch",
    "cell",
    "chandle",
    "char",
    "char16_t",
    "char32_t",
    "char8_t",
    "checker",
    "class",
    "clocking",
    "cmos",
    "co_await",
    "co_return",
    "co_yield",
    "compl",
    "concept",
    "config",
    "const",
    "const_cast",
    "consteval",
    "constexpr",
    "constinit",
    "constraint",
    "context",
    "continue",
    "cover",
    "covergroup",
    "coverpoint",
    "cross",
    "deassign",
    "decltype",
    "default",
    "defparam",
    "delete",
    "design",
    "disable",
    "dist",
    "do",
    "double",
    "dynamic_cast",
    "edge",
    "else",
    "end",
    "endcase",
    "endchecker",
    "endclass",
    "endclocking",
    "endconfig",
    "endfunction",
    "endgenerate",
    "endgroup",
    "endinterface",
    "endmodule",
    "endpackage",
    "endprimitive",
    "endprogram",
    "endproperty",
    "endsequence",
    "endspecify",
    "endtable",
    "endtask",
    "enum",
    "event",
    "eventually",
    "expect",
    "explicit",
    "export",
    "extends",
    "extern",
    "false",
    "final",
    "first_match",
    "float",
    "for",
    "force",
    "foreach",
    "forever",
    "fork",
    "forkjoin",
    "friend",
    "function",
    "generate",
    "genvar",
    "global",
    "goto",
    "highz0",
    "highz1",
    "hls",
    "if",
    "iff",
    "ifnone",
    "ignore_bins",
    "illegal_bins",
    "implements",
    "implies",
    "import",
    "incdir",
    "include",
    "initial",
    "inline",
    "inout",
    "input",
    "inside",
    "instance",
    "int",
    "integer",
    "interconnect",
    "interface",
    "intersect",
    "join",
    "join_any",
    "join_none",
    "large",
    "let",
    "liblist",
    "library",
    "local",
    "localparam",
    "logic",
    "long",
    "longint",
    "macromodule",
    "main",
    "matches",
    "medium",
    "modport",
    "module",
    "mutable",
    "namespace",
    "nand",
    "negedge",
    "nettype",
    "new",
    "nexttime",
    "nmos",
    "noexcept",
    "nor",
    "noshowcancelled",
    "not",
    "not_eq",
    "notif0",
    "notif1",
    "null",
    "nullptr",
    "operator",
    "or",
    "or_eq",
    "output",
    "package",
    "packed",
    "parameter",
    "pmos",
    "posedge",
    "primitive",
    "priority",
    "private",
    "program",
    "property",
    "protected",
    "public",
    "pull0",
    "pull1",
    "pulldown",
    "pullup",
    "pulsestyle_ondetect",
    "pulsestyle_onevent",
    "pure",
    "rand",
    "randc",
    "randcase",
    "randsequence",
    "rcmos",
    "real",
    "realtime",
    "ref",
    "reg",
    "register",
    "reinterpret_cast",
    "reject_on",
    "release",
    "repeat",
    "requires",
    "restrict",
    "return",
    "rnmos",
    "rpmos",
    "rtran",
    "rtranif0",
    "rtranif1",
    "s_always",
    "s_eventually",
    "s_nexttime",
    "s_until",
    "s_until_with",
    "scalared",
    "sequence",
    "short",
    "shortint",
    "shortreal",
    "showcancelled",
    "signed",
    "sizeof",
    "small",
    "soft",
    "solve",
    "specify",
    "specparam",
    "static",
    "static_assert",
    "static_cast",
    "std",
    "string",
    "strong",
    "strong0",
    "strong1",
    "struct",
    "super",
    "supply0",
    "supply1",
    "switch",
    "sync_accept_on",
    "sync_reject_on",
    "table",
    "tagged",
    "task",
    "template",
    "this",
    "thread_local",
    "throughout",
    "throw",
    "time",
    "timeprecision",
    "timeunit",
    "tran",
    "tranif0",
    "tranif1",
    "tri",
    "tri0",
    "tri1",
    "triand",
    "trior",
    "trireg",
    "true",
    "try",
    "type",
    "typedef",
    "typeid",
    "typename",
    "union",
    "unique",
    "unique0",
    "unsigned",
    "until",
    "until_with",
    "untyped",
    "use",
    "using",
    "uwire",
    "var",
    "vectored",
    "virtual",
    "void",
    "volatile",
    "wait",
    "wait_order",
    "wand",
    "wchar_t",
    "weak",
    "weak0",
    "weak1",
    "while",
    "wildcard",
    "wire",
    "with",
    "within",
    "wor",
    "xnor",
    "xor",
    "xor_eq",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_whatever_the_name() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(identifier("MVAU_0"), "MVAU_0");
        assert_eq!(identifier("../../etc/passwd"), "n_______etc_passwd");
        assert_eq!(identifier("0conv"), "n_0conv");
        assert_eq!(identifier(""), "n_");
        assert_eq!(identifier("module"), "module_");
        for word in [
            "buf",
            "task",
            "posedge",
            "interface",
            "string",
            "nand",
            "co_await",
        ] {
            assert_eq!(identifier(word), format!("{word}_"));
        }
        assert_eq!(identifier("ap_uint"), "ap_uint_");
        assert_eq!(identifier("__LINE__"), "n___LINE__");
        assert_eq!(identifier("añb"), "a_b");
        assert_eq!(identifier(&"x".repeat(10_000)).len(), 200);
        assert_eq!(
            unique_identifiers(["a.b", "a-b", "a_b"]),
            ["a_b", "a_b_2", "a_b_3"]
        );
    }
}
