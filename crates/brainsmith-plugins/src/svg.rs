//! The picture of a dataflow accelerator, `dataflow.svg`: one box per node (its name,
//! kernel, backend, folding and cycles), coloured by backend language, with the
//! slowest node marked, and the streams between them as arrows.
//!
//! The input is plain data ([`Picture`](crate::svg::Picture)); this module knows
//! nothing of the model, the registry or the kernels: whoever compiles a design fills a
//! `Picture` from it.
//!
//! The layout is layered: a node's column is the length of the longest path reaching it
//! from a source, the nodes of one column are stacked, and the columns wrap into rows of
//! at most [`COLUMNS_PER_ROW`](crate::svg::COLUMNS_PER_ROW), read left to right, top to
//! bottom, so a chain of 60 kernels stays readable. Edges that close a cycle are found
//! by a depth-first search in node order and drawn dashed, outside the layering. An
//! edge between adjacent columns of one row is a curve; every other edge runs in the
//! gaps between columns and rows, so no line crosses a box. The output is deterministic
//! and self-contained (no fonts, scripts or links): it renders offline.

use std::fmt::Write as _;

/// What a node of the picture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A hardware kernel that computes (MVAU, thresholding, ...).
    Compute,
    /// A stream FIFO (drawn smaller, dashed).
    Fifo,
    /// A stream width converter (drawn smaller, dashed).
    WidthConverter,
    /// A node that runs in software on the host (grey).
    Host,
}

/// One node of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicNode {
    /// The node's name in the model: any text (escaped, shortened in the box, whole in
    /// the tooltip).
    pub name: String,
    /// The kernel, e.g. `MVAU`.
    pub kernel: String,
    /// The backend, e.g. `MVAU_hls` or `MVAU_rtl`; empty for a host (software) node.
    pub backend: String,
    /// The folding, e.g. `SIMD 98, PE 1` (may be empty).
    pub folding: String,
    /// The estimated cycles per frame.
    pub cycles: Option<u64>,
    /// Whether this is the slowest node (a thick red border and a `bottleneck` tag).
    pub bottleneck: bool,
    /// What the node is.
    pub role: Role,
}

/// A dataflow graph to draw: nodes, and edges (producer index, consumer index, label,
/// e.g. the stream width `98 b`). An edge naming a node that does not exist is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picture {
    /// The title at the top of the picture.
    pub title: String,
    /// The nodes.
    pub nodes: Vec<PicNode>,
    /// The edges: (producer index, consumer index, label).
    pub edges: Vec<(usize, usize, String)>,
}

/// The most columns (layers) in one row of the picture; longer chains wrap.
pub const COLUMNS_PER_ROW: usize = 6;

/// The fill of a node whose backend is HLS (its name ends in `_hls`).
pub const HLS_FILL: [u8; 3] = [0x9e, 0xc5, 0xf0];
/// The fill of a node whose backend is RTL (its name ends in `_rtl`).
pub const RTL_FILL: [u8; 3] = [0x9f, 0xdc, 0xa8];
/// The fill of a host (software) node.
pub const HOST_FILL: [u8; 3] = [0xd4, 0xd4, 0xd4];
/// The fill of a node whose backend is neither HLS nor RTL.
pub const OTHER_FILL: [u8; 3] = [0xf3, 0xe3, 0xbd];
/// The border and tag of the bottleneck.
pub const BOTTLENECK_RED: [u8; 3] = [0xd0, 0x1c, 0x1c];

/// Names longer than this many characters are shortened in the box (with an ellipsis).
const NAME_CHARS: usize = 28;
/// The other fields of a box are shortened past this many characters.
const FIELD_CHARS: usize = 30;
/// Edge labels are shortened past this many characters.
const LABEL_CHARS: usize = 16;
/// The title is shortened past this many characters.
const TITLE_CHARS: usize = 120;

const MARGIN: f64 = 60.0;
/// Height of the title and the legend above the graph.
const HEADER: f64 = 104.0;
const BOX_W: f64 = 220.0;
const BOX_H: f64 = 112.0;
const SMALL_W: f64 = 204.0;
const SMALL_H: f64 = 92.0;
/// Horizontal gap between columns (where connectors run vertically).
const COL_GAP: f64 = 70.0;
/// Vertical gap between the nodes stacked in one column.
const STACK_GAP: f64 = 24.0;
/// Space above a row's nodes where its longer edges run.
const CHANNEL: f64 = 36.0;
/// Space below a row, where edges to other rows run.
const ROW_GAP: f64 = 40.0;
const COL_W: f64 = BOX_W + COL_GAP;
const SLOT_H: f64 = BOX_H + STACK_GAP;

/// A placed box, in picture coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn mid_y(&self) -> f64 {
        self.y + self.h / 2.0
    }

    fn right(&self) -> f64 {
        self.x + self.w
    }

    #[cfg(test)]
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// Where everything goes.
#[derive(Debug)]
struct Layout {
    /// Each node's box, by node index.
    boxes: Vec<Rect>,
    /// Each node's column (layer), by node index.
    layer: Vec<usize>,
    /// The top of each row.
    row_top: Vec<f64>,
    /// The bottom of each row's lowest box.
    row_bottom: Vec<f64>,
    /// The valid edges: (edge index, producer, consumer, closes a cycle).
    edges: Vec<(usize, usize, usize, bool)>,
    width: f64,
    height: f64,
}

/// The edges of `p` that name existing nodes, each with whether it closes a cycle (a
/// back edge of a depth-first search from every node in index order, self-loops
/// included).
fn classify_edges(p: &Picture) -> Vec<(usize, usize, usize, bool)> {
    let n = p.nodes.len();
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, &(a, b, _)) in p.edges.iter().enumerate() {
        if a < n && b < n {
            out[a].push((i, b));
        }
    }
    let mut back = vec![false; p.edges.len()];
    // 0: unvisited, 1: on the stack, 2: done.
    let mut state = vec![0u8; n];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&(e, w)) = out[v].get(*next) {
                *next += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    p.edges
        .iter()
        .enumerate()
        .filter(|(_, (a, b, _))| *a < n && *b < n)
        .map(|(i, &(a, b, _))| (i, a, b, back[i]))
        .collect()
}

/// Each node's layer: the longest path to it from a source, over the edges that close
/// no cycle.
fn layers(n: usize, edges: &[(usize, usize, usize, bool)]) -> Vec<usize> {
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for &(_, a, b, back) in edges {
        if !back {
            succ[a].push(b);
            indegree[b] += 1;
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).rev().collect();
    while let Some(v) = ready.pop() {
        for &w in &succ[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    layer
}

fn box_size(role: Role) -> (f64, f64) {
    match role {
        Role::Fifo | Role::WidthConverter => (SMALL_W, SMALL_H),
        Role::Compute | Role::Host => (BOX_W, BOX_H),
    }
}

fn layout(p: &Picture) -> Layout {
    let n = p.nodes.len();
    let edges = classify_edges(p);
    let layer = layers(n, &edges);
    let depth = layer.iter().map(|&l| l + 1).max().unwrap_or(0);

    // The nodes of each layer, ordered by where their producers sit (the mean of their
    // positions in their layers), then by index: fewer crossings, still deterministic.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for v in 0..n {
        members[layer[v]].push(v);
    }
    let mut slot = vec![0usize; n];
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(_, a, b, back) in &edges {
        if !back {
            preds[b].push(a);
        }
    }
    for nodes in members.iter_mut() {
        let key = |v: usize| -> f64 {
            if preds[v].is_empty() {
                v as f64
            } else {
                preds[v].iter().map(|&u| slot[u] as f64).sum::<f64>() / preds[v].len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = nodes.iter().map(|&v| (key(v), v)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *nodes = keyed.into_iter().map(|(_, v)| v).collect();
        for (k, &v) in nodes.iter().enumerate() {
            slot[v] = k;
        }
    }

    let rows = depth.div_ceil(COLUMNS_PER_ROW);
    let mut row_top = Vec::with_capacity(rows);
    let mut row_bottom = Vec::with_capacity(rows);
    let mut y = HEADER;
    for r in 0..rows {
        let stack = members[r * COLUMNS_PER_ROW..depth.min((r + 1) * COLUMNS_PER_ROW)]
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1);
        row_top.push(y);
        let bottom = y + CHANNEL + stack as f64 * SLOT_H - STACK_GAP;
        row_bottom.push(bottom);
        y = bottom + ROW_GAP;
    }

    let mut boxes = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        n
    ];
    for (l, nodes) in members.iter().enumerate() {
        let (r, c) = (l / COLUMNS_PER_ROW, l % COLUMNS_PER_ROW);
        for (k, &v) in nodes.iter().enumerate() {
            let (w, h) = box_size(p.nodes[v].role);
            boxes[v] = Rect {
                x: MARGIN + c as f64 * COL_W + (BOX_W - w) / 2.0,
                y: row_top[r] + CHANNEL + k as f64 * SLOT_H + (BOX_H - h) / 2.0,
                w,
                h,
            };
        }
    }

    let columns = depth.min(COLUMNS_PER_ROW);
    let graph_w = columns as f64 * COL_W - COL_GAP;
    let title_w = shorten(&p.title, TITLE_CHARS).chars().count() as f64 * 12.0;
    let width = (2.0 * MARGIN + graph_w.max(title_w).max(LEGEND_W)).ceil();
    let height = if rows == 0 {
        HEADER + 80.0
    } else {
        y - ROW_GAP + MARGIN
    }
    .ceil();
    Layout {
        boxes,
        layer,
        row_top,
        row_bottom,
        edges,
        width,
        height,
    }
}

/// XML text (or attribute value): `&`, `<`, `>`, `"` and `'` escaped, and the
/// characters XML 1.0 forbids (most control characters) replaced by U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, the last one an ellipsis, when it is longer; line
/// breaks become spaces.
fn shorten(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// `12544` as `12,544`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn fill(node: &PicNode) -> [u8; 3] {
    if node.role == Role::Host || node.backend.is_empty() {
        HOST_FILL
    } else if node.backend.ends_with("_hls") {
        HLS_FILL
    } else if node.backend.ends_with("_rtl") {
        RTL_FILL
    } else {
        OTHER_FILL
    }
}

const EDGE_COLOUR: &str = "#4a4a4a";
const BACK_COLOUR: &str = "#b0600a";
const LEGEND_W: f64 = 1220.0;

/// Writes `<text>` at (x, y).
fn text(out: &mut String, x: f64, y: f64, attrs: &str, content: &str) {
    let _ = writeln!(
        out,
        r##"<text x="{x:.1}" y="{y:.1}"{attrs}>{}</text>"##,
        escape(content)
    );
}

fn render_node(out: &mut String, node: &PicNode, r: &Rect) {
    let small = matches!(node.role, Role::Fifo | Role::WidthConverter);
    let (size, name_size, step, radius) = if small {
        (10.0, 10.5, 14.0, 14.0)
    } else {
        (11.0, 12.0, 16.0, 4.0)
    };
    let mut tooltip = node.name.clone();
    for field in [&node.kernel, &node.backend, &node.folding] {
        if !field.is_empty() {
            tooltip.push('\n');
            tooltip.push_str(field);
        }
    }
    if let Some(c) = node.cycles {
        let _ = write!(tooltip, "\n{} cycles", thousands(c));
    }
    if node.bottleneck {
        tooltip.push_str("\nbottleneck");
    }
    let _ = writeln!(
        out,
        "<g class=\"node\">\n<title>{}</title>",
        escape(&tooltip)
    );
    let (stroke, stroke_w) = if node.bottleneck {
        (hex(BOTTLENECK_RED), 4.0)
    } else {
        ("#333333".to_owned(), 1.2)
    };
    let dash = if small {
        r##" stroke-dasharray="6 3""##
    } else {
        ""
    };
    let _ = writeln!(
        out,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{radius}" fill="{}" stroke="{stroke}" stroke-width="{stroke_w}"{dash}/>"##,
        r.x,
        r.y,
        r.w,
        r.h,
        hex(fill(node)),
    );
    let x = r.x + 9.0;
    let mut y = r.y + if small { 16.0 } else { 19.0 };
    text(
        out,
        x,
        y,
        &format!(r##" font-size="{name_size}" font-weight="bold""##),
        &shorten(&node.name, NAME_CHARS),
    );
    let backend = if node.backend.is_empty() {
        "host (software)"
    } else {
        &node.backend
    };
    let cycles = match node.cycles {
        Some(c) => format!("{} cycles", thousands(c)),
        None => "cycles unknown".to_owned(),
    };
    for line in [&node.kernel, backend, &node.folding, &cycles] {
        y += step;
        if !line.is_empty() {
            text(
                out,
                x,
                y,
                &format!(r##" font-size="{size}""##),
                &shorten(line, FIELD_CHARS),
            );
        }
    }
    if node.bottleneck {
        let (tw, th) = (80.0, if small { 13.0 } else { 16.0 });
        let (tx, ty) = (r.right() - tw - 6.0, r.y + r.h - th - 4.0);
        let _ = writeln!(
            out,
            r##"<rect x="{tx:.1}" y="{ty:.1}" width="{tw}" height="{th}" rx="3" fill="{}"/>"##,
            hex(BOTTLENECK_RED)
        );
        text(
            out,
            tx + tw / 2.0,
            ty + th - 4.0,
            r##" font-size="10.5" font-weight="bold" fill="#ffffff" text-anchor="middle""##,
            "bottleneck",
        );
    }
    out.push_str("</g>\n");
}

fn render_legend(out: &mut String, any_back: bool) {
    let y = 56.0;
    let mut x = MARGIN;
    let items: [(&str, [u8; 3], &str, &str); 5] = [
        ("HLS backend", HLS_FILL, "#333333", ""),
        ("RTL backend", RTL_FILL, "#333333", ""),
        ("host (software)", HOST_FILL, "#333333", ""),
        ("other backend", OTHER_FILL, "#333333", ""),
        (
            "FIFO / width converter",
            [0xff, 0xff, 0xff],
            "#333333",
            r##" stroke-dasharray="6 3""##,
        ),
    ];
    for (label, colour, stroke, dash) in items {
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="26" height="16" rx="3" fill="{}" stroke="{stroke}"{dash}/>"##,
            hex(colour)
        );
        text(out, x + 33.0, y + 12.5, r##" font-size="12""##, label);
        x += 33.0 + label.chars().count() as f64 * 6.8 + 30.0;
    }
    let _ = writeln!(
        out,
        r##"<rect x="{x:.1}" y="{y:.1}" width="26" height="16" rx="3" fill="#ffffff" stroke="{}" stroke-width="4"/>"##,
        hex(BOTTLENECK_RED)
    );
    text(
        out,
        x + 33.0,
        y + 12.5,
        r##" font-size="12""##,
        "bottleneck (slowest node)",
    );
    x += 33.0 + 25.0 * 6.8 + 30.0;
    if any_back {
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{BACK_COLOUR}" stroke-width="1.6" stroke-dasharray="6 4"/>"##,
            y + 8.0,
            x + 26.0,
            y + 8.0
        );
        text(
            out,
            x + 33.0,
            y + 12.5,
            r##" font-size="12""##,
            "edge closing a cycle",
        );
    }
}

fn render_edge(out: &mut String, lay: &Layout, p: &Picture, edge: (usize, usize, usize, bool)) {
    let (i, a, b, back) = edge;
    let (pa, pb) = (&lay.boxes[a], &lay.boxes[b]);
    let (la, lb) = (lay.layer[a], lay.layer[b]);
    let (ra, rb) = (la / COLUMNS_PER_ROW, lb / COLUMNS_PER_ROW);
    // Spreads edges sharing a gap apart, a few pixels each.
    let off = ((i % 5) as f64 - 2.0) * 4.0;
    let (x1, y1) = (pa.right(), pa.mid_y());
    let (x2, y2) = (pb.x, pb.mid_y());
    let (d, lx, ly) = if !back && ra == rb && lb == la + 1 {
        let xm = (x1 + x2) / 2.0;
        (
            format!("M{x1:.1},{y1:.1} C{xm:.1},{y1:.1} {xm:.1},{y2:.1} {x2:.1},{y2:.1}"),
            xm,
            (y1 + y2) / 2.0 - 5.0,
        )
    } else {
        let col = |l: usize| MARGIN + (l % COLUMNS_PER_ROW) as f64 * COL_W;
        let gx1 = col(la) + BOX_W + COL_GAP / 2.0 + off;
        let gx2 = col(lb) - COL_GAP / 2.0 + off;
        let gy = if ra == rb {
            lay.row_top[ra] + CHANNEL / 2.0 + off
        } else {
            lay.row_bottom[ra] + ROW_GAP / 2.0 + off
        };
        (
            format!("M{x1:.1},{y1:.1} H{gx1:.1} V{gy:.1} H{gx2:.1} V{y2:.1} H{x2:.1}"),
            (gx1 + gx2) / 2.0,
            gy - 4.0,
        )
    };
    let (colour, marker, dash) = if back {
        (BACK_COLOUR, "bs-arrow-back", r##" stroke-dasharray="6 4""##)
    } else {
        (EDGE_COLOUR, "bs-arrow", "")
    };
    let _ = writeln!(
        out,
        r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.6"{dash} marker-end="url(#{marker})"/>"##
    );
    let label = &p.edges[i].2;
    if !label.is_empty() {
        text(
            out,
            lx,
            ly,
            r##" font-size="10" text-anchor="middle" fill="#222222" stroke="#ffffff" stroke-width="3" paint-order="stroke""##,
            &shorten(label, LABEL_CHARS),
        );
    }
}

/// The picture as a standalone SVG document.
pub fn render(p: &Picture) -> String {
    let lay = layout(p);
    let (w, h) = (lay.width, lay.height);
    let title = shorten(&p.title, TITLE_CHARS);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" role="img" aria-label="{}">
<title>{}</title>
<defs>
<marker id="bs-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{EDGE_COLOUR}"/></marker>
<marker id="bs-arrow-back" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{BACK_COLOUR}"/></marker>
</defs>
<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##,
        escape(&title),
        escape(&p.title),
    );
    text(
        &mut out,
        MARGIN,
        36.0,
        r##" font-size="20" font-weight="bold""##,
        &title,
    );
    render_legend(&mut out, lay.edges.iter().any(|e| e.3));
    if p.nodes.is_empty() {
        text(
            &mut out,
            MARGIN,
            HEADER + 30.0,
            r##" font-size="14" fill="#555555""##,
            "(empty: this design has no nodes)",
        );
    }
    out.push_str("<g class=\"edges\">\n");
    for &edge in &lay.edges {
        render_edge(&mut out, &lay, p, edge);
    }
    out.push_str("</g>\n<g class=\"nodes\" font-family=\"monospace\">\n");
    for (node, r) in p.nodes.iter().zip(&lay.boxes) {
        render_node(&mut out, node, r);
    }
    out.push_str("</g>\n</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, backend: &str, role: Role) -> PicNode {
        PicNode {
            name: name.to_owned(),
            kernel: backend.split('_').next().unwrap_or("").to_owned(),
            backend: backend.to_owned(),
            folding: "SIMD 8, PE 4".to_owned(),
            cycles: Some(12_544),
            bottleneck: false,
            role,
        }
    }

    fn chain(n: usize) -> Picture {
        Picture {
            title: format!("chain of {n}"),
            nodes: (0..n)
                .map(|i| {
                    let backend = if i % 2 == 0 { "MVAU_hls" } else { "MVAU_rtl" };
                    node(&format!("MVAU_{i}"), backend, Role::Compute)
                })
                .collect(),
            edges: (1..n).map(|i| (i - 1, i, "8 b".to_owned())).collect(),
        }
    }

    fn assert_no_overlap(p: &Picture) {
        let lay = layout(p);
        for (i, a) in lay.boxes.iter().enumerate() {
            assert!(
                a.x >= 0.0 && a.y >= HEADER,
                "box {i} off the picture: {a:?}"
            );
            assert!(
                a.right() <= lay.width && a.y + a.h <= lay.height,
                "box {i} {a:?} past {}x{}",
                lay.width,
                lay.height
            );
            for (j, b) in lay.boxes.iter().enumerate().skip(i + 1) {
                assert!(!a.overlaps(b), "boxes {i} {a:?} and {j} {b:?} overlap");
            }
        }
    }

    /// A well-formed enough document: balanced tags, no raw `<` or `&` in text.
    fn assert_wellformed(svg: &str) {
        assert!(svg.starts_with("<?xml"));
        assert!(svg.trim_end().ends_with("</svg>"));
        for tag in ["g", "text", "title", "marker", "defs"] {
            let open =
                svg.matches(&format!("<{tag}>")).count() + svg.matches(&format!("<{tag} ")).count();
            let close = svg.matches(&format!("</{tag}>")).count();
            assert_eq!(open, close, "<{tag}> unbalanced");
        }
        for (k, _) in svg.match_indices('&') {
            let rest = &svg[k..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "raw & at {k}"
            );
        }
    }

    #[test]
    fn a_hostile_name_is_escaped() {
        let hostile = "</text><script>alert(\"x\")</script> & 'q' \u{1}";
        let mut p = chain(2);
        p.title = hostile.to_owned();
        p.nodes[0].name = hostile.to_owned();
        p.nodes[0].folding = "<b>".to_owned();
        p.edges[0].2 = "a&b".to_owned();
        let svg = render(&p);
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("<b>"));
        assert!(!svg.contains('\u{1}'));
        assert!(svg.contains("&lt;/text&gt;&lt;script&gt;alert(&quot;x&quot;)"));
        assert!(svg.contains("&amp; &apos;q&apos;"));
        assert!(svg.contains("a&amp;b"));
        assert_wellformed(&svg);
    }

    #[test]
    fn a_long_name_is_shortened_with_its_whole_self_in_the_tooltip() {
        let long = "a_very_long_node_name_that_goes_on_and_on_forever";
        let mut p = chain(1);
        p.nodes[0].name = long.to_owned();
        let svg = render(&p);
        assert!(svg.contains(&format!("<title>{long}\n")));
        assert!(svg.contains("a_very_long_node_name_that_…<"));
        assert_eq!(shorten(long, NAME_CHARS).chars().count(), NAME_CHARS);
        assert_eq!(shorten("héllo", 3), "hé…");
    }

    #[test]
    fn the_output_is_deterministic() {
        let mut p = chain(12);
        p.edges.push((3, 9, "skip".to_owned()));
        p.edges.push((9, 3, "back".to_owned()));
        p.nodes[5].bottleneck = true;
        let first = render(&p);
        for _ in 0..3 {
            assert_eq!(render(&p.clone()), first);
        }
    }

    #[test]
    fn a_chain_of_40_wraps_into_rows() {
        let p = chain(40);
        let lay = layout(&p);
        let rows = 40usize.div_ceil(COLUMNS_PER_ROW);
        assert_eq!(lay.row_top.len(), rows);
        let max_w = 2.0 * MARGIN + COLUMNS_PER_ROW as f64 * COL_W;
        assert!(
            lay.width <= max_w.max(2.0 * MARGIN + LEGEND_W),
            "{}",
            lay.width
        );
        assert!(lay.height > (rows as f64) * BOX_H, "{}", lay.height);
        let svg = render(&p);
        assert!(svg.contains(&format!(
            r##"width="{}" height="{}""##,
            lay.width, lay.height
        )));
        assert!(svg.contains(&format!(r##"viewBox="0 0 {} {}""##, lay.width, lay.height)));
        assert_eq!(svg.matches("marker-end").count(), 39);
        assert_no_overlap(&p);
        assert_wellformed(&svg);
    }

    #[test]
    fn branches_and_merges_lay_out_without_overlap() {
        // in -> dwc -> a -> {b1 -> b2, c} -> add -> fifo -> out: a residual block, with
        // a second producer from a separate source into the merge.
        let p = Picture {
            title: "residual".to_owned(),
            nodes: vec![
                node("in", "", Role::Host),
                node(
                    "dwc",
                    "StreamingDataWidthConverter_rtl",
                    Role::WidthConverter,
                ),
                node("a", "MVAU_hls", Role::Compute),
                node("b1", "MVAU_rtl", Role::Compute),
                node("b2", "Thresholding_hls", Role::Compute),
                node("c", "StreamingFIFO_rtl", Role::Fifo),
                node("add", "AddStreams_hls", Role::Compute),
                node("fifo", "StreamingFIFO_rtl", Role::Fifo),
                node("out", "", Role::Host),
                node("bias_source", "Other_cpp", Role::Compute),
            ],
            edges: vec![
                (0, 1, "8 b".into()),
                (1, 2, "16 b".into()),
                (2, 3, "".into()),
                (3, 4, "".into()),
                (2, 5, "".into()),
                (4, 6, "".into()),
                (5, 6, "".into()),
                (9, 6, "".into()),
                (6, 7, "".into()),
                (7, 8, "".into()),
            ],
        };
        let lay = layout(&p);
        assert_eq!(lay.layer, vec![0, 1, 2, 3, 4, 3, 5, 6, 7, 0]);
        assert_no_overlap(&p);
        // The two branches of `a` sit in one column, stacked.
        assert_eq!(
            lay.boxes[3].x + lay.boxes[3].w / 2.0,
            lay.boxes[5].x + lay.boxes[5].w / 2.0
        );
        assert_ne!(lay.boxes[3].y, lay.boxes[5].y);
        let svg = render(&p);
        assert_wellformed(&svg);
        for colour in [HLS_FILL, RTL_FILL, HOST_FILL, OTHER_FILL] {
            assert!(svg.contains(&format!(r##"fill="{}" stroke"##, hex(colour))));
        }
    }

    #[test]
    fn a_cycle_neither_hangs_nor_panics() {
        let mut p = chain(5);
        p.edges.push((4, 0, "back".to_owned()));
        p.edges.push((2, 2, "self".to_owned()));
        p.edges.push((7, 1, "nowhere".to_owned()));
        let lay = layout(&p);
        assert_eq!(lay.layer, vec![0, 1, 2, 3, 4]);
        let back: Vec<_> = lay
            .edges
            .iter()
            .filter(|e| e.3)
            .map(|e| (e.1, e.2))
            .collect();
        assert_eq!(back, vec![(4, 0), (2, 2)]);
        let svg = render(&p);
        assert_eq!(svg.matches("bs-arrow-back)").count(), 2);
        assert!(svg.contains("edge closing a cycle"));
        assert_no_overlap(&p);
        // A graph that is only a cycle.
        let ring = Picture {
            title: "ring".into(),
            nodes: chain(3).nodes,
            edges: vec![(0, 1, "".into()), (1, 2, "".into()), (2, 0, "".into())],
        };
        assert_eq!(layout(&ring).layer, vec![0, 1, 2]);
        assert_wellformed(&render(&ring));
    }

    #[test]
    fn an_empty_picture_says_so() {
        let svg = render(&Picture::default());
        assert!(svg.contains("empty"));
        assert!(svg.contains("viewBox"));
        assert_wellformed(&svg);
    }

    #[test]
    fn cycles_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_544_000), "12,544,000");
    }
}
