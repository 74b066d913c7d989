//! Rule evaluation over health rollups: one verdict per (rule, component).
//! Pure: the caller reads the rollups for the rule's window.

use crate::rules::{Op, Rule, RuleKind};
use std::collections::BTreeMap;
use weir_core::pipeline::{lag_reading, partition_of};
use weir_core::series::{Aggregate, aggregate};
use weir_core::{HealthRollup, MetricPoint, MetricValue};

/// One (rule, component) evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The component.
    pub component: String,
    /// The shard or partition, for metric series that have one.
    pub partition: Option<String>,
    /// The value compared, when there is one.
    pub value: Option<f64>,
    /// Whether the condition holds; `None` gives no verdict.
    pub holds: Option<bool>,
}

/// Whether `name` matches a glob with `*` wildcards.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Evaluates a health rule (`lag`, `error_rate`, `cold_start_rate`,
/// `absent`) for every known component it selects. `window` holds each
/// component's rollup over the rule's window; `known` lists the components
/// seen recently, so a component that went silent is still evaluated.
pub fn evaluate(
    rule: &Rule,
    window: &BTreeMap<String, HealthRollup>,
    known: &[String],
) -> Vec<Verdict> {
    let empty = HealthRollup::default();
    let mut components: Vec<&String> = known.iter().chain(window.keys()).collect();
    components.sort();
    components.dedup();
    components
        .into_iter()
        .filter(|c| rule.component.as_deref().is_none_or(|p| glob_matches(p, c)))
        .map(|c| {
            let r = window.get(c).unwrap_or(&empty);
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
                component: c.clone(),
                partition: None,
                value,
                holds,
            }
        })
        .collect()
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

/// Evaluates a rule over metric points (kind `metric`, or `lag` naming its
/// metric): per component, the window's points reduced by `aggregate`
/// (default max), one verdict per partition where the series name one.
/// Lag readings in time units are compared in milliseconds.
pub fn evaluate_points(
    rule: &Rule,
    points: &[MetricPoint],
    window_start: u64,
    window: u64,
) -> Vec<Verdict> {
    let mut by_series: BTreeMap<(String, Option<String>), Vec<MetricPoint>> = BTreeMap::new();
    for p in points {
        if rule
            .component
            .as_deref()
            .is_none_or(|g| glob_matches(g, &p.service))
        {
            let mut p = p.clone();
            if rule.kind == RuleKind::Lag
                && let MetricValue::Number { value } = p.value
            {
                p.value = MetricValue::Number {
                    value: lag_reading(&p.name, &p.unit, value).1,
                };
            }
            let partition = partition_of(&p.attributes);
            by_series
                .entry((p.service.clone(), partition))
                .or_default()
                .push(p);
        }
    }
    let agg = series_aggregate(rule.aggregate);
    by_series
        .into_iter()
        .map(|((component, partition), mut pts)| {
            pts.sort_by_key(|p| p.time_unix_nano);
            // Every series of the partition in one bucket spanning the window.
            let value = aggregate(&pts, window_start, window.max(1), agg)
                .first()
                .map(|(_, v)| *v);
            let holds = value.map(|v| compare(rule.op, v, rule.threshold));
            Verdict {
                component,
                partition,
                value,
                holds,
            }
        })
        .collect()
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
            r.add_lag(LagUnit::Ms, l, 1);
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
            value: MetricValue::Number { value: v },
        };
        let pts = vec![p("a", 10, 500.0), p("a", 20, 1500.0), p("b", 15, 10.0)];
        let v = evaluate_points(&r, &pts, 0, 300_000_000_000);
        assert_eq!(
            v[0],
            Verdict {
                component: "a".into(),
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
        let v = evaluate_points(
            &r,
            &[shard("0", 5.0), shard("1", 5000.0)],
            0,
            300_000_000_000,
        );
        let per_partition: Vec<_> = v
            .iter()
            .map(|v| (v.partition.as_deref(), v.holds))
            .collect();
        assert_eq!(
            per_partition,
            [(Some("0"), Some(false)), (Some("1"), Some(true))],
            "one verdict per partition"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_matches("page-view-*", "page-view-counter"));
        assert!(glob_matches("*-writer", "kv-writer"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("page-*", "kv-writer"));
        assert!(glob_matches("exact", "exact") && !glob_matches("exact", "exactly"));
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
        let v = evaluate(&r, &window, &[]);
        assert_eq!(
            v[0],
            Verdict {
                component: "busy".into(),
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
        let v = evaluate(&lag, &window, &[]);
        assert_eq!(v.len(), 1, "the glob selects one component");
        assert_eq!(v[0].holds, Some(true));

        let absent = rule("      - alert: Stalled\n        kind: absent\n        window: 2m\n");
        let v = evaluate(&absent, &window, &["stalled-consumer".to_string()]);
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
