//! Rule evaluation over health rollups: one verdict per (rule, component).
//! Pure: the caller reads the rollups for the rule's window.

use crate::rules::{Op, Rule, RuleKind};
use std::collections::BTreeMap;
use weir_core::HealthRollup;

/// One (rule, component) evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The component.
    pub component: String,
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
