//! `metric`: any metric's points over the window, reduced by an aggregate
//! and compared per component (and per partition where series name one).

use super::file::{Aggregate, RuleEntry};
use super::window::{Reads, SeriesWindow, Verdict, Verdicts, Window};
use super::{Kind, Threshold};
use crate::glob::Glob;
use weir_core::MetricPoint;
use weir_core::series::Aggregate as SeriesAggregate;

/// A `metric` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric read.
    pub metric: String,
    /// How the window is reduced (default max).
    pub aggregate: Aggregate,
    /// The comparison.
    pub threshold: Threshold,
}

impl Metric {
    pub(super) fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        if entry.metric.is_none() {
            problems.push(format!(
                "rule `{}`: kind metric needs `metric: <metric name>`",
                entry.alert
            ));
        }
        let threshold = Threshold::required(entry, problems)?;
        Some(Metric {
            metric: entry.metric.clone()?,
            aggregate: entry.aggregate.unwrap_or(Aggregate::Max),
            threshold,
        })
    }
}

impl Kind for Metric {
    fn name(&self) -> &'static str {
        "metric"
    }

    fn reads(&self) -> Reads<'_> {
        Reads::Points(&self.metric)
    }

    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a> {
        let Window::Points(series) = window else {
            return Box::new(std::iter::empty());
        };
        series_verdicts(series, select, self.aggregate, self.threshold, |_| 1.0)
    }
}

/// Each series' window reduced by `aggregate`, multiplied by `scale` of the
/// series' first point (a unit conversion, which commutes with every
/// aggregate but a count), and judged: what `metric` and a `lag` rule on a
/// named metric share.
pub(super) fn series_verdicts<'a>(
    series: &'a SeriesWindow,
    select: Option<&'a Glob>,
    aggregate: Aggregate,
    threshold: Threshold,
    scale: impl Fn(&MetricPoint) -> f64 + 'a,
) -> Verdicts<'a> {
    let agg = aggregate.series();
    Box::new(series.series(select).map(move |(c, partition, pts)| {
        let mut value = series.reduce(pts, agg);
        if agg != SeriesAggregate::Count
            && let (Some(v), Some(first)) = (value.as_mut(), pts.first())
        {
            *v *= scale(first);
        }
        Verdict {
            observed_at: pts.last().map(|p| p.time_unix_nano),
            ..threshold.judge(c, partition, value)
        }
    }))
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::rule;
    use crate::rules::window::{SeriesWindow, Verdict, Window};
    use weir_core::MetricPoint;

    #[test]
    fn metric_rules_aggregate_points_per_component() {
        let r = rule(
            "      - alert: GroupBehind\n        kind: metric\n        metric: kafka.consumer_group.lag\n        aggregate: max\n        window: 5m\n        op: \">\"\n        threshold: 1000\n",
        );
        let p = |service: &str, t: u64, v: f64| MetricPoint {
            unit: "{records}".into(),
            ..weir_core::fixtures::gauge_point("kafka.consumer_group.lag", service, t, v)
        };
        let pts = vec![p("a", 10, 500.0), p("a", 20, 1500.0), p("b", 15, 10.0)];
        let series = SeriesWindow::new(pts, 0, 300_000_000_000);
        let v: Vec<_> = r.evaluate(Window::Points(&series)).collect();
        assert_eq!(
            v[0],
            Verdict {
                component: "a",
                partition: None,
                value: Some(1500.0),
                holds: Some(true),
                observed_at: Some(20),
            }
        );
        assert_eq!(v[1].holds, Some(false));

        let shard = |s: &str, v: f64| {
            let mut point = p("a", 30, v);
            point.attributes = weir_core::Attributes(vec![(
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
        let per_partition: Vec<_> = r
            .evaluate(Window::Points(&series))
            .map(|v| (v.partition, v.holds))
            .collect();
        assert_eq!(
            per_partition,
            [(Some("0"), Some(false)), (Some("1"), Some(true))],
            "one verdict per partition"
        );
    }
}
