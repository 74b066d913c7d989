//! The pipeline drawn as a graph: each connected pipeline in its own band,
//! nodes in layers from producers to consumers, coloured by health.

use super::{compact, escape};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// How a node is doing, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// No data to judge.
    Unknown,
    /// Fine.
    Ok,
    /// Worth a look.
    Warn,
    /// Failing or far behind.
    Bad,
}

impl Health {
    /// CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Warn => "warn",
            Health::Bad => "bad",
        }
    }

    /// Words for people who cannot see the colour.
    pub fn words(self) -> &'static str {
        match self {
            Health::Unknown => "no data",
            Health::Ok => "healthy",
            Health::Warn => "degraded",
            Health::Bad => "failing",
        }
    }

    /// The colour of a component's status.
    pub fn of_status(level: weir_core::status::Level) -> Health {
        use weir_core::status::Level;
        match level {
            Level::NoData => Health::Unknown,
            Level::Healthy => Health::Ok,
            Level::Degraded => Health::Warn,
            Level::Stalled | Level::Failing => Health::Bad,
        }
    }

    /// The health implied by an error rate and a time lag.
    pub fn of(error_rate: Option<f64>, lag_ms: Option<f64>) -> Health {
        let by_errors = match error_rate {
            None => Health::Unknown,
            Some(r) if r >= 0.2 => Health::Bad,
            Some(r) if r >= 0.05 => Health::Warn,
            Some(_) => Health::Ok,
        };
        let by_lag = match lag_ms {
            None => Health::Unknown,
            Some(l) if l >= 60_000.0 => Health::Bad,
            Some(l) if l >= 10_000.0 => Health::Warn,
            Some(_) => Health::Ok,
        };
        by_errors.max(by_lag)
    }
}

/// A node: a component, or a stream, queue or topic.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// True for components, false for streams, queues and topics.
    pub component: bool,
    /// Its colour.
    pub health: Health,
    /// A second line under the name (invocations, lag).
    pub detail: String,
}

/// A directed edge between two node names.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Source name.
    pub from: String,
    /// Target name.
    pub to: String,
    /// Crossings in the window.
    pub count: u64,
    /// Its colour.
    pub health: Health,
}

const COLUMN: f64 = 200.0;
const ROW: f64 = 54.0;
const BOX_W: f64 = 164.0;
const BOX_H: f64 = 38.0;
const BAND_GAP: f64 = 18.0;

/// Positions: layer (x) and row (y) of every node.
pub fn layout(nodes: &[Node], edges: &[Edge]) -> BTreeMap<String, (usize, f64)> {
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut succ: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut pred: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in edges {
        if names.contains(e.from.as_str()) && names.contains(e.to.as_str()) && e.from != e.to {
            succ.entry(&e.from).or_default().push(&e.to);
            pred.entry(&e.to).or_default().push(&e.from);
        }
    }
    // Connected pipelines, each drawn in its own band.
    let mut band_of: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bands: Vec<Vec<&str>> = Vec::new();
    for &start in &names {
        if band_of.contains_key(start) {
            continue;
        }
        let band = bands.len();
        let mut members = Vec::new();
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if band_of.insert(n, band).is_some() {
                continue;
            }
            members.push(n);
            for m in succ
                .get(n)
                .into_iter()
                .flatten()
                .chain(pred.get(n).into_iter().flatten())
            {
                if !band_of.contains_key(m) {
                    stack.push(m);
                }
            }
        }
        members.sort();
        bands.push(members);
    }
    // Layers: longest path from a source, bounded so cycles end.
    let mut layer: BTreeMap<&str, usize> = names.iter().map(|n| (*n, 0)).collect();
    for _ in 0..names.len().min(12) {
        let mut changed = false;
        for e in edges {
            let (Some(&a), Some(&b)) = (layer.get(e.from.as_str()), layer.get(e.to.as_str()))
            else {
                continue;
            };
            if e.from != e.to && b < a + 1 && a + 1 < 12 {
                layer.insert(names.get(e.to.as_str()).copied().unwrap_or_default(), a + 1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = BTreeMap::new();
    let mut y0 = 0.0;
    for members in bands {
        let mut rows: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for n in members {
            rows.entry(layer[n]).or_default().push(n);
        }
        let height = rows.values().map(Vec::len).max().unwrap_or(1) as f64;
        for (l, ns) in rows {
            // Centre short columns in the band.
            let offset = (height - ns.len() as f64) * ROW / 2.0;
            for (i, n) in ns.into_iter().enumerate() {
                out.insert(n.to_string(), (l, y0 + offset + i as f64 * ROW));
            }
        }
        y0 += height * ROW + BAND_GAP;
    }
    out
}

/// The graph as SVG; each component links to its page.
/// `query` (such as `window=15m`) goes on every component's link, so the
/// page it opens shows the same range.
pub fn pipeline_graph(nodes: &[Node], edges: &[Edge], query: &str) -> String {
    if nodes.is_empty() {
        return String::new();
    }
    let at = layout(nodes, edges);
    let width = (at.values().map(|p| p.0).max().unwrap_or(0) + 1) as f64 * COLUMN + 8.0;
    let height = at.values().map(|p| p.1).fold(0.0, f64::max) + ROW + 8.0;
    let pos = |name: &str| {
        at.get(name)
            .map(|&(l, y)| (8.0 + l as f64 * COLUMN, 8.0 + y))
    };
    let mut out = format!(
        r#"<svg class="graph" role="img" aria-label="pipeline topology: {} nodes, {} edges" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}">"#,
        nodes.len(),
        edges.len()
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>"##);
    for e in edges {
        let (Some((x1, y1)), Some((x2, y2))) = (pos(&e.from), pos(&e.to)) else {
            continue;
        };
        let (sx, sy) = (x1 + BOX_W, y1 + BOX_H / 2.0);
        let (tx, ty) = (x2, y2 + BOX_H / 2.0);
        let bend = ((tx - sx).abs() / 2.0).max(20.0);
        let _ = write!(
            out,
            r#"<path class="edge {}" d="M {sx:.1} {sy:.1} C {:.1} {sy:.1}, {:.1} {ty:.1}, {tx:.1} {ty:.1}" marker-end="url(#arrow)"><title>{} → {}: {} ({})</title></path>"#,
            e.health.class(),
            sx + bend,
            tx - bend,
            escape(&e.from),
            escape(&e.to),
            compact(e.count as f64),
            e.health.words()
        );
    }
    for n in nodes {
        let Some((x, y)) = pos(&n.name) else { continue };
        let shape = if n.component {
            format!(r#"<rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="6"/>"#)
        } else {
            // Streams, queues and topics: a slanted box.
            format!(
                r#"<path d="M {:.1} {y:.1} L {:.1} {y:.1} L {:.1} {:.1} L {x:.1} {:.1} Z"/>"#,
                x + 10.0,
                x + BOX_W,
                x + BOX_W - 10.0,
                y + BOX_H,
                y + BOX_H
            )
        };
        let label = format!(
            r#"<text x="{:.1}" y="{:.1}" class="name">{}</text><text x="{:.1}" y="{:.1}" class="detail">{}</text>"#,
            x + 12.0,
            y + 16.0,
            escape(&truncate(&n.name, 24)),
            x + 12.0,
            y + 30.0,
            escape(&truncate(&n.detail, 30))
        );
        let title = format!(
            "<title>{} ({}, {}): {}</title>",
            escape(&n.name),
            if n.component { "component" } else { "stream" },
            n.health.words(),
            escape(&n.detail)
        );
        if n.component {
            let _ = write!(
                out,
                r#"<a href="/components/{}?{}"><g class="node {}">{title}{shape}{label}</g></a>"#,
                escape(&urlencode(&n.name)),
                escape(query),
                n.health.class()
            );
        } else {
            let _ = write!(
                out,
                r#"<g class="node stream {}">{title}{shape}{label}</g>"#,
                n.health.class()
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// What stays as it is in a path segment or query value: RFC 3986's
/// unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or query value.
pub fn urlencode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, component: bool) -> Node {
        Node {
            name: name.into(),
            component,
            health: Health::Ok,
            detail: String::new(),
        }
    }

    fn edge(from: &str, to: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            count: 1,
            health: Health::Ok,
        }
    }

    #[test]
    fn producers_come_before_streams_before_consumers_and_pipelines_get_bands() {
        let nodes = vec![
            node("web", true),
            node("clicks", false),
            node("counter", true),
            node("api", true),
            node("fn", true),
        ];
        let edges = vec![
            edge("web", "clicks"),
            edge("clicks", "counter"),
            edge("api", "fn"),
        ];
        let at = layout(&nodes, &edges);
        assert_eq!(at["web"].0, 0);
        assert_eq!(at["clicks"].0, 1);
        assert_eq!(at["counter"].0, 2);
        assert_eq!(at["fn"].0, 1);
        assert_ne!(at["api"].1, at["web"].1, "two pipelines, two bands");
        let svg = pipeline_graph(&nodes, &edges, "window=15m");
        assert!(svg.contains(r#"href="/components/counter?window=15m""#));
        assert!(svg.contains("clicks (stream, healthy)"));
    }

    #[test]
    fn cycles_end_and_health_takes_the_worse() {
        let nodes = vec![node("a", true), node("b", true)];
        let at = layout(&nodes, &[edge("a", "b"), edge("b", "a")]);
        assert_eq!(at.len(), 2);
        assert_eq!(Health::of(Some(0.3), Some(10.0)), Health::Bad);
        assert_eq!(Health::of(Some(0.0), Some(20_000.0)), Health::Warn);
        assert_eq!(Health::of(None, None), Health::Unknown);
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
        assert_eq!(urlencode("ü-_.~?&="), "%C3%BC-_.~%3F%26%3D");
    }
}
