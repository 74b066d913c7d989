//! `lag`: consumer lag, from the lag readings of the health rollups, or
//! from one named metric's points (time lag compared in milliseconds).

use super::file::{Aggregate, RuleEntry};
use super::metric::series_verdicts;
use super::window::{Reads, Verdicts, Window};
use super::{Kind, Threshold};
use crate::glob::Glob;
use weir_core::pipeline::lag_reading;

/// A `lag` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Lag {
    /// The metric to read; none reads the lag metrics' rollups.
    pub metric: Option<String>,
    /// How a metric's window is reduced (default max).
    pub aggregate: Aggregate,
    /// The comparison.
    pub threshold: Threshold,
}

impl Lag {
    pub(super) fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        Some(Lag {
            metric: entry.metric.clone(),
            aggregate: entry.aggregate.unwrap_or(Aggregate::Max),
            threshold: Threshold::required(entry, problems)?,
        })
    }
}

impl Kind for Lag {
    fn name(&self) -> &'static str {
        "lag"
    }

    fn reads(&self) -> Reads<'_> {
        self.metric.as_deref().map_or(Reads::Health, Reads::Points)
    }

    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a> {
        let threshold = self.threshold;
        match window {
            Window::Health(health) => {
                Box::new(health.components(select).map(move |(c, r)| {
                    threshold.judge(c, None, r.max_lag_ms.or(r.max_lag_records))
                }))
            }
            // Time lag compares in milliseconds.
            Window::Points(series) => {
                series_verdicts(series, select, self.aggregate, threshold, |p| {
                    lag_reading(&p.name, &p.unit, 1.0).1
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{rollup, rule};
    use crate::rules::window::{HealthWindow, Window};
    use std::collections::BTreeMap;
    use weir_core::HealthRollup;

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
        let v: Vec<_> = lag.evaluate(Window::Health(&health)).collect();
        assert_eq!(v.len(), 1, "the glob selects one component");
        assert_eq!(v[0].holds, Some(true));

        let absent = rule("      - alert: Stalled\n        kind: absent\n        window: 2m\n");
        let health = HealthWindow::new(window, &["stalled-consumer".to_string()]);
        let v: Vec<_> = absent.evaluate(Window::Health(&health)).collect();
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
