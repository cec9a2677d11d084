//! Design-space exploration: the blueprint's branch points (alternative folding targets,
//! alternative backend preferences) each built and estimated, the Pareto front of the
//! design points marked, and the chosen one compiled whole.
//!
//! A design point is one folding target and one backend preference. Each is run through
//! the blueprint and partitioned, and its accelerator estimated (nothing is written or
//! simulated), which takes milliseconds. A point dominates another when it is no worse in
//! cycles per frame, latency and every resource, and better in one; the front is the
//! points that fit the part and no other point dominates. The chosen point is the fastest
//! on the front (the fewest LUTs among equals); [`explore`] then compiles it like
//! [`super::compile`], with its simulation check, and writes the table beside it.

use std::fmt::Write as _;

use serde::Serialize;

use brainsmith_core::kernel::Resources;
use brainsmith_core::{Language, Registry};

use super::report::{find_part, overuse, thousands};
use super::{Compiled, Options, Progress, compile, prepare};

/// One point of the design space.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// The folding target.
    pub target_cycles: u64,
    /// The backend language put first, if any.
    pub prefer: Option<String>,
    /// The slowest node's cycles per frame.
    pub cycles_per_frame: Option<u64>,
    /// Frames per second at the clock.
    pub fps: Option<f64>,
    /// Estimated latency (the nodes' cycles added up).
    pub latency_cycles: u64,
    /// Estimated resources.
    pub resources: Resources,
    /// What exceeds the part, if anything.
    pub overuse: Vec<String>,
    /// On the Pareto front.
    pub pareto: bool,
    /// The one compiled.
    pub chosen: bool,
    /// The first point explored with the same estimates (its row, from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_as: Option<usize>,
    /// Why it could not be built, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Point {
    fn fits(&self) -> bool {
        self.error.is_none() && self.overuse.is_empty() && self.cycles_per_frame.is_some()
    }

    /// No worse in every measure, better in one.
    fn dominates(&self, o: &Point) -> bool {
        let a = self.key();
        let b = o.key();
        a.iter().zip(&b).all(|(x, y)| x <= y) && a != b
    }

    fn key(&self) -> [u64; 6] {
        let r = &self.resources;
        [
            self.cycles_per_frame.unwrap_or(u64::MAX),
            self.latency_cycles,
            r.lut,
            r.bram18,
            r.uram,
            r.dsp,
        ]
    }
}

/// The explored space and the compile of the chosen point.
#[derive(Debug)]
pub struct Explored {
    /// Every point, in the order explored.
    pub points: Vec<Point>,
    /// The chosen point's compile.
    pub compiled: Compiled,
}

/// Estimates every combination of `targets` and `prefers` (`None`: the blueprint's own
/// order; empty lists: the blueprint's `[explore]`, else [`DEFAULT_TARGETS`] with HLS and
/// RTL first in turn) for `options` (its own target and preference are ignored), marks the front,
/// compiles the chosen point into `options.output`, and writes `dse.json` and `dse.txt`
/// there. An error when no point fits says so with each point's numbers.
pub fn explore(
    registry: &'static Registry,
    options: &Options,
    targets: &[u64],
    prefers: &[Option<Language>],
    progress: Progress<'_>,
) -> Result<Explored, String> {
    let (targets, prefers) = branch_points(options, targets, prefers)?;
    let (targets, prefers) = (targets.as_slice(), prefers.as_slice());
    if targets.is_empty() {
        return Err("give at least one folding target to explore".into());
    }
    if let Some(&0) = targets.iter().find(|&&t| t == 0) {
        return Err("a folding target of 0 cycles: a frame takes at least 1 cycle".into());
    }
    let part = find_part(&options.part)?;
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut points = Vec::new();
    let total = targets.len() * prefers.len();
    for &prefer in prefers {
        for &target in targets {
            progress(&format!(
                "design point {}/{total}: {target} cycles{}",
                points.len() + 1,
                prefer.map_or(String::new(), |l| format!(", {l} first"))
            ));
            let mut o = options.clone();
            o.target_cycles = Some(target);
            o.target_fps = None;
            o.prefer = prefer;
            let mut quiet = |_: &str| {};
            let mut point = Point {
                target_cycles: target,
                prefer: prefer.map(|l| l.to_string()),
                cycles_per_frame: None,
                fps: None,
                latency_cycles: 0,
                resources: Resources::default(),
                overuse: Vec::new(),
                pareto: false,
                chosen: false,
                same_as: None,
                error: None,
            };
            match prepare(registry, &o, scratch.path(), None, &mut quiet) {
                Ok(p) => {
                    let d = &p.design;
                    point.cycles_per_frame = d.bottleneck().and_then(|b| d.nodes[b].cycles);
                    point.fps = point
                        .cycles_per_frame
                        .map(|c| 1e9 / (options.clock_ns * c as f64));
                    point.latency_cycles = d.nodes.iter().filter_map(|n| n.cycles).sum();
                    point.resources = d.total_resources();
                    point.overuse = overuse(&point.resources, part);
                }
                Err(e) => point.error = Some(e),
            }
            points.push(point);
        }
    }
    for i in 0..points.len() {
        if points[i].fits() {
            points[i].same_as = (0..i)
                .find(|&j| points[j].fits() && points[j].key() == points[i].key())
                .map(|j| j + 1);
        }
    }
    let front: Vec<bool> = points
        .iter()
        .map(|p| {
            p.fits() && p.same_as.is_none() && !points.iter().any(|q| q.fits() && q.dominates(p))
        })
        .collect();
    for (p, f) in points.iter_mut().zip(front) {
        p.pareto = f;
    }
    let chosen = (0..points.len())
        .filter(|&i| points[i].pareto)
        .min_by_key(|&i| (points[i].cycles_per_frame, points[i].resources.lut, i));
    let Some(chosen) = chosen else {
        return Err(format!(
            "no design point fits {} ({}):\n{}",
            part.name,
            part.board,
            table(&points)
        ));
    };
    points[chosen].chosen = true;
    let mut o = options.clone();
    o.target_cycles = Some(points[chosen].target_cycles);
    o.target_fps = None;
    o.prefer = prefers
        .iter()
        .copied()
        .find(|l| l.map(|l| l.to_string()) == points[chosen].prefer)
        .flatten();
    progress("compiling the chosen design point");
    let compiled = compile(registry, &o, progress)?;
    let dir = &compiled.dir;
    let json = serde_json::to_string_pretty(&points).map_err(|e| e.to_string())? + "\n";
    std::fs::write(dir.join("dse.json"), json).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("dse.txt"), table(&points)).map_err(|e| e.to_string())?;
    Ok(Explored { points, compiled })
}

/// The folding targets tried when neither the command line nor the blueprint's
/// `[explore]` names any: a ladder from 250 to 50,000 cycles per frame.
pub const DEFAULT_TARGETS: &[u64] = &[250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000];

/// The branch points: those given (the command line's), else the blueprint's `[explore]`,
/// else [`DEFAULT_TARGETS`] and both languages first in turn.
fn branch_points(
    options: &Options,
    targets: &[u64],
    prefers: &[Option<Language>],
) -> Result<(Vec<u64>, Vec<Option<Language>>), String> {
    let explore = match &options.blueprint {
        Some(path) => {
            brainsmith_core::blueprint::Blueprint::load(path)
                .map_err(|e| e.to_string())?
                .explore
        }
        None => None,
    };
    let targets = if !targets.is_empty() {
        targets.to_vec()
    } else if let Some(e) = &explore {
        e.target_cycles.clone()
    } else {
        DEFAULT_TARGETS.to_vec()
    };
    let prefers = if !prefers.is_empty() {
        prefers.to_vec()
    } else if let Some(e) = &explore {
        e.prefer.iter().map(|p| language(p)).collect()
    } else {
        vec![Some(Language::Hls), Some(Language::Rtl)]
    };
    let mut unique = Vec::new();
    for p in prefers {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    Ok((targets, unique))
}

/// `"hls"`, `"rtl"`: that language first; anything else (`"blueprint"`): the blueprint's
/// own order.
pub fn language(name: &str) -> Option<Language> {
    match name {
        "rtl" => Some(Language::Rtl),
        "hls" => Some(Language::Hls),
        _ => None,
    }
}

/// The table of design points: `*` on the front, `>` the chosen one.
pub fn table(points: &[Point]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ROW    TARGET  PREFER  CYCLES/FRAME     FRAMES/S   LATENCY      LUT  BRAM18  URAM   DSP  NOTE"
    );
    for (row, p) in points.iter().enumerate() {
        let mark = match (p.chosen, p.pareto) {
            (true, _) => ">*",
            (false, true) => " *",
            _ => "  ",
        };
        let num = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), thousands);
        let note = if let Some(e) = &p.error {
            format!("not built: {}", brainsmith_core::suggest::shorten(e, 80))
        } else if !p.overuse.is_empty() {
            format!("does not fit: {}", p.overuse.join(", "))
        } else if let Some(row) = p.same_as {
            format!("the same estimates as row {row}")
        } else {
            String::new()
        };
        let r = &p.resources;
        let _ = writeln!(
            s,
            "{:>3} {mark} {:>6}  {:<6}  {:>12}  {:>11}  {:>8}  {:>7}  {:>6}  {:>4}  {:>4}  {note}",
            row + 1,
            thousands(p.target_cycles),
            p.prefer.as_deref().unwrap_or("-"),
            num(p.cycles_per_frame),
            p.fps.map_or_else(|| "-".to_owned(), |f| format!("{f:.0}")),
            thousands(p.latency_cycles),
            thousands(r.lut),
            r.bram18,
            r.uram,
            r.dsp,
        );
    }
    s.push_str("* on the Pareto front (fits the part; no other point is as good in every measure and better in one)\n> chosen: the fastest point on the front\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(cycles: u64, lut: u64) -> Point {
        Point {
            target_cycles: cycles,
            prefer: None,
            cycles_per_frame: Some(cycles),
            fps: None,
            latency_cycles: cycles,
            resources: Resources {
                lut,
                ..Resources::default()
            },
            overuse: Vec::new(),
            pareto: false,
            chosen: false,
            same_as: None,
            error: None,
        }
    }

    #[test]
    fn domination_needs_every_measure() {
        let (fast_big, slow_small, slow_big) = (point(100, 900), point(400, 300), point(400, 950));
        assert!(!fast_big.dominates(&slow_small));
        assert!(!slow_small.dominates(&fast_big));
        assert!(fast_big.dominates(&slow_big));
        assert!(slow_small.dominates(&slow_big));
        assert!(!slow_big.dominates(&slow_big));
    }
}
