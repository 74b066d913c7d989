//! What a trace's waterfall needs beyond the spans: a time ruler with round
//! ticks, and the critical path (from the root, the child that finished
//! last, all the way down), which is what made the trace as long as it is.

use std::collections::{HashMap, HashSet};
use weir_core::SpanId;
use weir_query::trace::TreeSpan;

/// Round steps for the ruler, in nanoseconds: 1, 2 and 5 of each decade.
fn round_step(total_ns: u64, ticks: u64) -> u64 {
    let raw = (total_ns / ticks.max(1)).max(1);
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= raw {
        decade *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= raw)
        .unwrap_or(10 * decade)
}

/// `0`, `250 µs`, `1.5 ms`, `2 s`: a tick's offset from the trace's start,
/// in the unit of the whole trace (`total_ns`) so the ruler reads in one.
fn tick_label(ns: u64, total_ns: u64) -> String {
    if ns == 0 {
        return "0".into();
    }
    let (per, unit) = match total_ns {
        t if t < 1_000 => (1.0, "ns"),
        t if t < 1_000_000 => (1e3, "µs"),
        t if t < 1_000_000_000 => (1e6, "ms"),
        _ => (1e9, "s"),
    };
    let text = format!("{:.2}", ns as f64 / per);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// The ruler over a trace of `total_ns`: (position in %, label) of about
/// five round ticks, the first at 0.
pub fn ruler(total_ns: u64) -> Vec<(String, String)> {
    let total = total_ns.max(1);
    let step = round_step(total, 5);
    (0..)
        .map(|i| i * step)
        .take_while(|t| *t <= total)
        .map(|t| {
            (
                format!("{:.2}", t as f64 / total as f64 * 100.0),
                tick_label(t, total),
            )
        })
        .collect()
}

/// The spans on the critical path of spans ordered parent before child:
/// the root that ends last, then at each step the child that ends last.
pub fn critical_path(spans: &[TreeSpan]) -> HashSet<SpanId> {
    let mut children: HashMap<SpanId, Vec<&TreeSpan>> = HashMap::new();
    let ids: HashSet<SpanId> = spans.iter().map(|t| t.span.span_id).collect();
    let mut roots = Vec::new();
    for t in spans {
        match t.span.parent_span_id.filter(|p| ids.contains(p)) {
            Some(p) if t.depth > 0 => children.entry(p).or_default().push(t),
            _ => roots.push(t),
        }
    }
    let latest = |list: &[&TreeSpan]| -> Option<SpanId> {
        list.iter()
            .max_by_key(|t| {
                (
                    t.span.end_time_unix_nano,
                    std::cmp::Reverse(t.span.start_time_unix_nano),
                )
            })
            .map(|t| t.span.span_id)
    };
    let mut path = HashSet::new();
    let mut at = latest(&roots);
    while let Some(id) = at {
        if !path.insert(id) {
            break;
        }
        at = children.get(&id).and_then(|kids| latest(kids));
    }
    path
}

/// Which spans have children among `spans`.
pub fn parents(spans: &[TreeSpan]) -> HashSet<SpanId> {
    let ids: HashSet<SpanId> = spans.iter().map(|t| t.span.span_id).collect();
    spans
        .iter()
        .filter(|t| t.depth > 0)
        .filter_map(|t| t.span.parent_span_id)
        .filter(|p| ids.contains(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::TraceId;

    fn span(id: u8, parent: Option<u8>, depth: usize, start: u64, end: u64) -> TreeSpan {
        let mut span = weir_core::fixtures::span(TraceId([1; 16]), id, parent, "c", "op");
        span.start_time_unix_nano = start;
        span.end_time_unix_nano = end;
        TreeSpan { depth, span }
    }

    #[test]
    fn the_ruler_has_round_ticks() {
        let labels: Vec<String> = ruler(37_000_000).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0", "10 ms", "20 ms", "30 ms"]);
        let labels: Vec<String> = ruler(2_400_000_000).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0", "0.5 s", "1 s", "1.5 s", "2 s"]);
        assert_eq!(
            ruler(740_000)[1],
            ("27.03".to_string(), "200 µs".to_string())
        );
    }

    #[test]
    fn the_critical_path_follows_the_child_that_ends_last() {
        let spans = [
            span(1, None, 0, 0, 100),
            span(2, Some(1), 1, 5, 40),
            span(3, Some(1), 1, 10, 95),
            span(4, Some(3), 2, 20, 90),
            span(5, Some(3), 2, 12, 30),
        ];
        let path = critical_path(&spans);
        let mut ids: Vec<u8> = path.iter().map(|s| s.0[0]).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 3, 4]);
        let mut with_children: Vec<u8> = parents(&spans).iter().map(|s| s.0[0]).collect();
        with_children.sort_unstable();
        assert_eq!(with_children, [1, 3]);
    }
}
