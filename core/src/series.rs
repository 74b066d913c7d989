//! Metric series over time: grouping points into series, bucketing them by
//! step, and aggregating each bucket. Pure, unit-tested.

use crate::{Attributes, ExponentialHistogram, Histogram, MetricPoint, MetricValue, Temporality};
use std::collections::BTreeMap;

/// How a bucket's points become one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    /// Mean of values.
    Avg,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Sum of values.
    Sum,
    /// Number of points.
    Count,
    /// The last value.
    Last,
    /// Per-second increase of a sum (cumulative: resets handled; delta: summed).
    Rate,
    /// A quantile of histogram observations.
    Quantile(f64),
}

impl Aggregate {
    /// Parses `avg`, `max`, `min`, `sum`, `count`, `last`, `rate`, `p50`, `p95`, `p99`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "avg" => Aggregate::Avg,
            "max" => Aggregate::Max,
            "min" => Aggregate::Min,
            "sum" => Aggregate::Sum,
            "count" => Aggregate::Count,
            "last" => Aggregate::Last,
            "rate" => Aggregate::Rate,
            "p50" => Aggregate::Quantile(0.5),
            "p95" => Aggregate::Quantile(0.95),
            "p99" => Aggregate::Quantile(0.99),
            _ => return None,
        })
    }
}

/// One series' identity: component and point attributes.
pub type SeriesKey = (String, String);

/// Groups points (oldest first) by series.
pub fn group(points: Vec<MetricPoint>) -> BTreeMap<SeriesKey, Vec<MetricPoint>> {
    let mut out: BTreeMap<SeriesKey, Vec<MetricPoint>> = BTreeMap::new();
    for p in points {
        let key = (
            p.service.clone(),
            serde_json::to_string(&p.attributes).unwrap_or_default(),
        );
        out.entry(key).or_default().push(p);
    }
    out
}

/// Whether every `key=value` matcher holds for the point's attributes (or its
/// component, for the key `service`).
pub fn matches(point: &MetricPoint, matchers: &[(String, String)]) -> bool {
    matchers.iter().all(|(k, v)| {
        if k == "service" || k == "component" {
            &point.service == v
        } else {
            point.attributes.get(k).is_some_and(|a| a.to_text() == *v)
        }
    })
}

fn number(p: &MetricPoint) -> Option<f64> {
    match &p.value {
        MetricValue::Number { value } => Some(*value),
        MetricValue::Histogram(h) => Some(h.count as f64),
        MetricValue::ExponentialHistogram(h) => Some(h.count as f64),
        MetricValue::Summary { count, .. } => Some(*count as f64),
    }
}

/// (upper bound, count) buckets of a histogram point, in order.
fn buckets(value: &MetricValue) -> Option<Vec<(f64, f64)>> {
    match value {
        MetricValue::Histogram(Histogram {
            explicit_bounds,
            bucket_counts,
            ..
        }) => Some(
            bucket_counts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY),
                        *c as f64,
                    )
                })
                .collect(),
        ),
        MetricValue::ExponentialHistogram(ExponentialHistogram {
            scale,
            zero_count,
            positive,
            ..
        }) => {
            let base = 2f64.powf(2f64.powi(-scale));
            let mut out = vec![(0.0, *zero_count as f64)];
            for (i, c) in positive.counts.iter().enumerate() {
                out.push((base.powi(positive.offset + i as i32 + 1), *c as f64));
            }
            Some(out)
        }
        _ => None,
    }
}

/// The quantile of a set of (upper bound, count) buckets, interpolating
/// linearly inside the bucket that holds it.
pub fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total: f64 = buckets.iter().map(|b| b.1).sum();
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut seen = 0.0;
    let mut lower = 0.0;
    for &(upper, count) in buckets {
        if count > 0.0 && seen + count >= rank {
            if upper.is_infinite() {
                return Some(lower);
            }
            return Some(lower + (upper - lower) * ((rank - seen) / count));
        }
        seen += count;
        if upper.is_finite() {
            lower = upper;
        }
    }
    Some(lower)
}

fn merge_buckets(into: &mut Vec<(f64, f64)>, other: &[(f64, f64)], sign: f64) {
    for &(upper, count) in other {
        match into.iter_mut().find(|b| b.0 == upper) {
            Some(b) => b.1 += sign * count,
            None => into.push((upper, sign * count)),
        }
    }
    into.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
}

/// Aggregates one series' points (oldest first) into buckets of `step`
/// starting at `from`; returns (bucket start, value) for non-empty buckets.
pub fn aggregate(points: &[MetricPoint], from: u64, step: u64, agg: Aggregate) -> Vec<(u64, f64)> {
    let step = step.max(1);
    let mut by_bucket: BTreeMap<u64, Vec<&MetricPoint>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.time_unix_nano >= from) {
        by_bucket
            .entry(from + (p.time_unix_nano - from) / step * step)
            .or_default()
            .push(p);
    }
    let mut out = Vec::new();
    let mut previous: Option<&MetricPoint> = None;
    for (start, bucket) in by_bucket {
        let values: Vec<f64> = bucket
            .iter()
            .filter_map(|p| number(p))
            .filter(|v| v.is_finite())
            .collect();
        let value = match agg {
            Aggregate::Avg => {
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            }
            Aggregate::Max => values.iter().copied().reduce(f64::max),
            Aggregate::Min => values.iter().copied().reduce(f64::min),
            Aggregate::Sum => Some(values.iter().sum()),
            Aggregate::Count => Some(bucket.len() as f64),
            Aggregate::Last => values.last().copied(),
            Aggregate::Rate => {
                let seconds = step as f64 / 1e9;
                if bucket[0].temporality == Temporality::Cumulative {
                    // Increase since the previous point, counting through resets.
                    let mut increase = 0.0;
                    let mut last = previous.and_then(number);
                    for v in &values {
                        increase += match last {
                            Some(l) if *v >= l => v - l,
                            Some(_) => *v,
                            None => 0.0,
                        };
                        last = Some(*v);
                    }
                    Some(increase / seconds)
                } else {
                    Some(values.iter().sum::<f64>() / seconds)
                }
            }
            Aggregate::Quantile(q) => {
                let mut merged: Vec<(f64, f64)> = Vec::new();
                if bucket[0].temporality == Temporality::Cumulative {
                    // The bucket's observations: its last point minus the one before it.
                    if let Some(b) = buckets(&bucket[bucket.len() - 1].value) {
                        merge_buckets(&mut merged, &b, 1.0);
                    }
                    if let Some(b) = previous.and_then(|p| buckets(&p.value)) {
                        merge_buckets(&mut merged, &b, -1.0);
                    }
                } else {
                    for p in &bucket {
                        if let Some(b) = buckets(&p.value) {
                            merge_buckets(&mut merged, &b, 1.0);
                        }
                    }
                }
                bucket_quantile(&merged, q)
            }
        };
        if let Some(v) = value {
            out.push((start, v));
        }
        previous = bucket.last().copied();
    }
    out
}

/// The attributes of a series key, for the response.
pub fn key_attributes(key: &SeriesKey) -> Attributes {
    serde_json::from_str(&key.1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrValue, MetricKind};

    fn point(t: u64, value: MetricValue, temporality: Temporality, shard: &str) -> MetricPoint {
        MetricPoint {
            name: "m".into(),
            description: String::new(),
            unit: "ms".into(),
            kind: MetricKind::Sum,
            temporality,
            monotonic: true,
            service: "svc".into(),
            attributes: Attributes(vec![("shard".into(), AttrValue::Str(shard.into()))]),
            resource: Default::default(),
            start_time_unix_nano: 0,
            time_unix_nano: t,
            value,
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn gauge_aggregates_per_step() {
        let n = |t, v| {
            point(
                t,
                MetricValue::Number { value: v },
                Temporality::Unspecified,
                "a",
            )
        };
        let pts = vec![n(0, 1.0), n(10 * S, 5.0), n(60 * S, 2.0)];
        assert_eq!(
            aggregate(&pts, 0, 60 * S, Aggregate::Max),
            [(0, 5.0), (60 * S, 2.0)]
        );
        assert_eq!(
            aggregate(&pts, 0, 60 * S, Aggregate::Avg),
            [(0, 3.0), (60 * S, 2.0)]
        );
        assert_eq!(
            aggregate(&pts, 0, 60 * S, Aggregate::Count),
            [(0, 2.0), (60 * S, 1.0)]
        );
    }

    #[test]
    fn rate_of_a_cumulative_counter_survives_a_reset() {
        let c = |t, v| {
            point(
                t,
                MetricValue::Number { value: v },
                Temporality::Cumulative,
                "a",
            )
        };
        // +60 in the first minute, then a restart to 0 and +30.
        let pts = vec![
            c(0, 100.0),
            c(30 * S, 160.0),
            c(60 * S, 10.0),
            c(90 * S, 30.0),
        ];
        let rates = aggregate(&pts, 0, 60 * S, Aggregate::Rate);
        assert_eq!(rates, [(0, 1.0), (60 * S, 0.5)]);
    }

    #[test]
    fn quantiles_from_histogram_buckets() {
        let h = |t, counts: Vec<u64>| {
            point(
                t,
                MetricValue::Histogram(Histogram {
                    count: counts.iter().sum(),
                    sum: None,
                    min: None,
                    max: None,
                    explicit_bounds: vec![10.0, 100.0],
                    bucket_counts: counts,
                }),
                Temporality::Delta,
                "a",
            )
        };
        let pts = vec![h(0, vec![50, 50, 0]), h(S, vec![0, 0, 0])];
        let p50 = aggregate(&pts, 0, 60 * S, Aggregate::Quantile(0.5))[0].1;
        assert!((p50 - 10.0).abs() < 1e-9, "{p50}");
        let p99 = aggregate(&pts, 0, 60 * S, Aggregate::Quantile(0.99))[0].1;
        assert!((p99 - 98.2).abs() < 1e-9, "{p99}");
        assert_eq!(bucket_quantile(&[(1.0, 0.0)], 0.5), None);
    }

    #[test]
    fn exponential_histogram_quantile_lands_in_its_bucket() {
        use crate::BucketCounts;
        let e = point(
            0,
            MetricValue::ExponentialHistogram(ExponentialHistogram {
                count: 100,
                sum: None,
                min: None,
                max: None,
                scale: 0,
                zero_count: 0,
                // scale 0: bucket i covers (2^i, 2^(i+1)]; all in (4, 8].
                positive: BucketCounts {
                    offset: 2,
                    counts: vec![100],
                },
                negative: BucketCounts::default(),
            }),
            Temporality::Delta,
            "a",
        );
        let p50 = aggregate(&[e], 0, 60 * S, Aggregate::Quantile(0.5))[0].1;
        assert!(p50 > 0.0 && p50 <= 8.0, "{p50}");
    }

    #[test]
    fn matchers_and_grouping() {
        let n = |shard| {
            point(
                0,
                MetricValue::Number { value: 1.0 },
                Temporality::Unspecified,
                shard,
            )
        };
        assert!(matches(
            &n("a"),
            &[
                ("shard".into(), "a".into()),
                ("service".into(), "svc".into())
            ]
        ));
        assert!(!matches(&n("b"), &[("shard".into(), "a".into())]));
        assert_eq!(group(vec![n("a"), n("b"), n("a")]).len(), 2);
    }
}
