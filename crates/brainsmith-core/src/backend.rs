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
/// every character outside `[A-Za-z0-9_]` becomes `_`, a leading digit or an empty name
/// gets a prefix, and a name that is a keyword of either language gets a suffix. The same
/// name always gives the same identifier; distinct nodes keep distinct names only if
/// their names differ in the kept characters, so a build checks uniqueness (as
/// [`unique_identifiers`] does).
pub fn identifier(name: &str) -> String {
    let mut id: String = name
        .chars()
        .take(200)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
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
    "alignas",
    "always",
    "and",
    "asm",
    "assign",
    "auto",
    "begin",
    "bit",
    "bool",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "delete",
    "do",
    "double",
    "else",
    "end",
    "endmodule",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "final",
    "float",
    "for",
    "friend",
    "function",
    "goto",
    "if",
    "initial",
    "inline",
    "input",
    "int",
    "integer",
    "logic",
    "long",
    "module",
    "namespace",
    "new",
    "not",
    "or",
    "output",
    "private",
    "protected",
    "public",
    "reg",
    "register",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "wire",
    "xor",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_whatever_the_name() {
        assert!(KEYWORDS.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(identifier("MVAU_0"), "MVAU_0");
        assert_eq!(identifier("../../etc/passwd"), "______etc_passwd");
        assert_eq!(identifier("0conv"), "n_0conv");
        assert_eq!(identifier(""), "n_");
        assert_eq!(identifier("module"), "module_");
        assert_eq!(identifier("añb"), "a_b");
        assert_eq!(identifier(&"x".repeat(10_000)).len(), 200);
        assert_eq!(
            unique_identifiers(["a.b", "a-b", "a_b"]),
            ["a_b", "a_b_2", "a_b_3"]
        );
    }
}
