//! Rule evaluation over health rollups: one verdict per (rule, component).
//! Pure: the caller reads the rollups for the rule's window.

use crate::rules::{Op, Rule, RuleKind};
use std::collections::BTreeMap;
use weir_core::pipeline::{lag_reading, partition_of};
use weir_core::series::{Aggregate, aggregate};
use weir_core::{HealthRollup, MetricPoint};

/// One (rule, component, partition) evaluation, borrowing the names from
/// the window it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'a> {
    /// The component.
    pub component: &'a str,
    /// The shard or partition, for metric series that have one.
    pub partition: Option<&'a str>,
    /// The value compared, when there is one.
    pub value: Option<f64>,
    /// Whether the condition holds; `None` gives no verdict.
    pub holds: Option<bool>,
}

/// One window of health rollups, read once for every rule that uses it:
/// each component's rollup, and every component to evaluate (seen in the
/// window or known recently, so one that went silent is still evaluated).
#[derive(Debug, Clone, Default)]
pub struct HealthWindow {
    rollups: BTreeMap<String, HealthRollup>,
    components: Vec<String>,
    /// What a silent component reads as.
    empty: HealthRollup,
}

impl HealthWindow {
    /// `rollups` over the window; `known` lists components seen recently.
    pub fn new(rollups: BTreeMap<String, HealthRollup>, known: &[String]) -> Self {
        let mut components: Vec<String> = known.iter().chain(rollups.keys()).cloned().collect();
        components.sort();
        components.dedup();
        HealthWindow {
            rollups,
            components,
            empty: HealthRollup::default(),
        }
    }
}

/// Evaluates a health rule (`lag`, `error_rate`, `cold_start_rate`,
/// `absent`) for every component of the window it selects.
pub fn evaluate<'a>(
    rule: &'a Rule,
    window: &'a HealthWindow,
) -> impl Iterator<Item = Verdict<'a>> + 'a {
    window
        .components
        .iter()
        .filter(|c| rule.component.as_ref().is_none_or(|g| g.is_match(c)))
        .map(|c| {
            let r = window.rollups.get(c).unwrap_or(&window.empty);
            let (value, holds) = match rule.kind {
                RuleKind::Absent => (Some(r.invocations as f64), Some(r.invocations == 0)),
                RuleKind::ErrorRate | RuleKind::ColdStartRate => {
                    let enough = r.invocations >= rule.min_invocations.unwrap_or(1).max(1);
                    let rate = if rule.kind == RuleKind::ErrorRate {
                        r.error_rate()
                    } else {
                        r.cold_start_rate()
                    };
                    match rate.filter(|_| enough) {
                        Some(v) => (Some(v), Some(compare(rule.op, v, rule.threshold))),
                        None => (rate, None),
                    }
                }
                RuleKind::Lag => match r.max_lag_ms.or(r.max_lag_records) {
                    Some(v) => (Some(v), Some(compare(rule.op, v, rule.threshold))),
                    None => (None, None),
                },
                // Metric rules read metric points, not rollups.
                RuleKind::Metric => (None, None),
            };
            Verdict {
                component: c,
                partition: None,
                value,
                holds,
            }
        })
}

/// How a rule's aggregate maps onto the series aggregation.
fn series_aggregate(a: Option<crate::rules::Aggregate>) -> Aggregate {
    use crate::rules::Aggregate as A;
    match a.unwrap_or(A::Max) {
        A::Max => Aggregate::Max,
        A::Min => Aggregate::Min,
        A::Avg => Aggregate::Avg,
        A::Sum => Aggregate::Sum,
        A::Count => Aggregate::Count,
        A::Rate => Aggregate::Rate,
        A::P50 => Aggregate::Quantile(0.5),
        A::P95 => Aggregate::Quantile(0.95),
        A::P99 => Aggregate::Quantile(0.99),
    }
}

/// One metric's points over a window, read once for every rule that uses
/// it, split by (component, partition) and sorted by time.
#[derive(Debug, Clone, Default)]
pub struct SeriesWindow {
    series: BTreeMap<(String, Option<String>), Vec<MetricPoint>>,
    start: u64,
    len: u64,
}

impl SeriesWindow {
    /// The points of `[start, start + len)`.
    pub fn new(points: Vec<MetricPoint>, start: u64, len: u64) -> Self {
        let mut series: BTreeMap<(String, Option<String>), Vec<MetricPoint>> = BTreeMap::new();
        for p in points {
            let partition = partition_of(&p.attributes);
            series
                .entry((p.service.clone(), partition))
                .or_default()
                .push(p);
        }
        for pts in series.values_mut() {
            pts.sort_by_key(|p| p.time_unix_nano);
        }
        SeriesWindow {
            series,
            start,
            len: len.max(1),
        }
    }
}

/// Evaluates a rule over metric points (kind `metric`, or `lag` naming its
/// metric): per component, the window's points reduced by `aggregate`
/// (default max), one verdict per partition where the series name one.
/// Lag readings in time units are compared in milliseconds.
pub fn evaluate_points<'a>(
    rule: &'a Rule,
    window: &'a SeriesWindow,
) -> impl Iterator<Item = Verdict<'a>> + 'a {
    let agg = series_aggregate(rule.aggregate);
    window
        .series
        .iter()
        .filter(|((component, _), _)| {
            rule.component
                .as_ref()
                .is_none_or(|g| g.is_match(component))
        })
        .map(move |((component, partition), pts)| {
            // Every point of the partition in one bucket spanning the window.
            let mut value = aggregate(pts, window.start, window.len, agg)
                .first()
                .map(|(_, v)| *v);
            // Time lag compares in milliseconds; scaling commutes with every
            // aggregate but a count.
            if rule.kind == RuleKind::Lag
                && agg != Aggregate::Count
                && let (Some(v), Some(first)) = (value.as_mut(), pts.first())
            {
                *v *= lag_reading(&first.name, &first.unit, 1.0).1;
            }
            let holds = value.map(|v| compare(rule.op, v, rule.threshold));
            Verdict {
                component,
                partition: partition.as_deref(),
                value,
                holds,
            }
        })
}

fn compare(op: Option<Op>, value: f64, threshold: Option<f64>) -> bool {
    match (op, threshold) {
        (Some(op), Some(t)) => op.holds(value, t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse;
    use weir_core::pipeline::LagUnit;

    fn rule(yaml_rule: &str) -> Rule {
        let text = format!("groups:\n  - name: g\n    rules:\n{yaml_rule}");
        parse(&text, "t.yaml")
            .unwrap()
            .groups
            .remove(0)
            .rules
            .remove(0)
    }

    fn rollup(invocations: u64, errors: u64, lag_ms: Option<f64>) -> HealthRollup {
        let mut r = HealthRollup::default();
        for i in 0..invocations {
            r.add_invocation(1.0, i < errors, None, 0, 1);
        }
        if let Some(l) = lag_ms {
            r.add_lag("age all", LagUnit::Ms, l, 1);
        }
        r
    }

    #[test]
    fn metric_rules_aggregate_points_per_component() {
        use weir_core::{Attributes, MetricKind, Temporality};
        let r = rule(
            "      - alert: GroupBehind\n        kind: metric\n        metric: kafka.consumer_group.lag\n        aggregate: max\n        window: 5m\n        op: \">\"\n        threshold: 1000\n",
        );
        let p = |service: &str, t: u64, v: f64| MetricPoint {
            name: "kafka.consumer_group.lag".into(),
            description: String::new(),
            unit: "{records}".into(),
            kind: MetricKind::Gauge,
            temporality: Temporality::Unspecified,
            monotonic: false,
            service: service.into(),
            attributes: Attributes::default(),
            resource: Default::default(),
            start_time_unix_nano: 0,
            time_unix_nano: t,
            value: weir_core::MetricValue::Number { value: v },
        };
        let pts = vec![p("a", 10, 500.0), p("a", 20, 1500.0), p("b", 15, 10.0)];
        let series = SeriesWindow::new(pts, 0, 300_000_000_000);
        let v: Vec<_> = evaluate_points(&r, &series).collect();
        assert_eq!(
            v[0],
            Verdict {
                component: "a",
                partition: None,
                value: Some(1500.0),
                holds: Some(true)
            }
        );
        assert_eq!(v[1].holds, Some(false));

        let shard = |s: &str, v: f64| {
            let mut point = p("a", 30, v);
            point.attributes = Attributes(vec![(
                "messaging.destination.partition.id".into(),
                weir_core::AttrValue::Str(s.into()),
            )]);
            point
        };
        let series = SeriesWindow::new(
            vec![shard("0", 5.0), shard("1", 5000.0)],
            0,
            300_000_000_000,
        );
        let per_partition: Vec<_> = evaluate_points(&r, &series)
            .map(|v| (v.partition, v.holds))
            .collect();
        assert_eq!(
            per_partition,
            [(Some("0"), Some(false)), (Some("1"), Some(true))],
            "one verdict per partition"
        );
    }

    #[test]
    fn error_rate_needs_enough_invocations() {
        let r = rule(
            "      - alert: Errors\n        kind: error_rate\n        window: 5m\n        op: \">\"\n        threshold: 0.1\n        min_invocations: 20\n",
        );
        let window: BTreeMap<String, HealthRollup> = [
            ("busy".to_string(), rollup(40, 8, None)),
            ("quiet".to_string(), rollup(5, 5, None)),
        ]
        .into_iter()
        .collect();
        let health = HealthWindow::new(window, &[]);
        let v: Vec<_> = evaluate(&r, &health).collect();
        assert_eq!(
            v[0],
            Verdict {
                component: "busy",
                partition: None,
                value: Some(0.2),
                holds: Some(true)
            }
        );
        assert_eq!(v[1].holds, None, "five invocations give no verdict");
    }

    #[test]
    fn lag_compares_per_component_and_absent_sees_silent_ones() {
        let lag = rule(
            "      - alert: Lagging\n        kind: lag\n        component: page-*\n        window: 5m\n        op: \">\"\n        threshold: 60000\n",
        );
        let window: BTreeMap<String, HealthRollup> = [
            (
                "page-view-counter".to_string(),
                rollup(1, 0, Some(90_000.0)),
            ),
            ("kv-writer".to_string(), rollup(1, 0, Some(99_000.0))),
        ]
        .into_iter()
        .collect();
        let health = HealthWindow::new(window.clone(), &[]);
        let v: Vec<_> = evaluate(&lag, &health).collect();
        assert_eq!(v.len(), 1, "the glob selects one component");
        assert_eq!(v[0].holds, Some(true));

        let absent = rule("      - alert: Stalled\n        kind: absent\n        window: 2m\n");
        let health = HealthWindow::new(window, &["stalled-consumer".to_string()]);
        let v: Vec<_> = evaluate(&absent, &health).collect();
        let stalled = v
            .iter()
            .find(|v| v.component == "stalled-consumer")
            .unwrap();
        assert_eq!(stalled.holds, Some(true));
        assert!(
            v.iter()
                .filter(|v| v.component != "stalled-consumer")
                .all(|v| v.holds == Some(false))
        );
    }
}
