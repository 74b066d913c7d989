//! Metric points, raw or aggregated into series of one value per step.

use crate::{ReadError, blocking};
use serde::Serialize;
use std::sync::Arc;
use weir_core::series::{self, Aggregate};
use weir_core::{Attributes, MetricKind, MetricPoint};
use weir_store::Store;

pub use weir_store::db::MetricQuery;

/// Which points to read and how to shape them.
#[derive(Debug, Clone)]
pub struct MetricsRequest {
    /// Name, component, time range and point limit.
    pub query: MetricQuery,
    /// Only points whose attribute `key` equals `value`, for each pair.
    pub matchers: Vec<(String, String)>,
    /// Aggregate into steps; raw points when `None`.
    pub step: Option<Step>,
}

/// How points become series.
#[derive(Debug, Clone)]
pub struct Step {
    /// Bucket width, nanoseconds; more than zero.
    pub step_ns: u64,
    /// How a bucket's points become one value.
    pub agg: Aggregate,
    /// The aggregation as the user named it, echoed in the answer.
    pub agg_name: String,
}

/// `GET /api/v1/metrics`: raw points, or series when a step was asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Metrics {
    /// Without `step`.
    Points(Points),
    /// With `step`.
    Series(SeriesSet),
}

/// Raw points, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct Points {
    /// The metric.
    pub name: String,
    /// How many points `points` holds.
    pub count: usize,
    /// The points.
    pub points: Vec<MetricPoint>,
}

/// Every series of a metric, aggregated per step.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSet {
    /// The metric.
    pub name: String,
    /// Bucket width, nanoseconds.
    pub step_ns: u64,
    /// The aggregation, as asked for.
    pub agg: String,
    /// One per (component, attributes).
    pub series: Vec<Series>,
}

/// One series' values.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The component that sent it.
    pub service: String,
    /// Its point attributes.
    pub attributes: Attributes,
    /// Its unit.
    pub unit: String,
    /// Its metric type.
    pub kind: MetricKind,
    /// `[bucket start, value]` pairs, oldest first.
    pub values: Vec<(u64, f64)>,
}

/// Reads the points of `request`, filtered and aggregated off the async
/// executor: a range may hold a hundred thousand points.
pub async fn metrics(store: &Arc<Store>, request: MetricsRequest) -> Result<Metrics, ReadError> {
    let points = store.db.metric_points(&request.query).await?;
    blocking::run(move || Ok(shape(request, points))).await
}

fn shape(request: MetricsRequest, points: Vec<MetricPoint>) -> Metrics {
    let points: Vec<MetricPoint> = points
        .into_iter()
        .filter(|p| series::matches(p, &request.matchers))
        .collect();
    let name = request.query.name;
    let Some(step) = request.step else {
        return Metrics::Points(Points {
            name,
            count: points.len(),
            points,
        });
    };
    // Buckets align to the step, from the first point when no start is given.
    let start = if request.query.from > 0 {
        request.query.from
    } else {
        points
            .first()
            .map_or(0, |p| p.time_unix_nano / step.step_ns * step.step_ns)
    };
    let series = series::group(points)
        .iter()
        .filter_map(|(key, pts)| {
            let first = pts.first()?;
            Some(Series {
                service: key.0.clone(),
                attributes: series::key_attributes(key),
                unit: first.unit.clone(),
                kind: first.kind,
                values: series::aggregate(pts, start, step.step_ns, step.agg),
            })
        })
        .collect();
    Metrics::Series(SeriesSet {
        name,
        step_ns: step.step_ns,
        agg: step.agg_name,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::AttrValue;

    const SECOND: u64 = 1_000_000_000;

    fn point(time: u64, shard: &str, value: f64) -> MetricPoint {
        MetricPoint {
            attributes: Attributes(vec![("shard".into(), AttrValue::Str(shard.into()))]),
            ..weir_core::fixtures::gauge_point("lag", "consumer", time, value)
        }
    }

    fn request(step: Option<Step>, matchers: &[(&str, &str)]) -> MetricsRequest {
        MetricsRequest {
            query: MetricQuery {
                name: "lag".into(),
                ..Default::default()
            },
            matchers: matchers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            step,
        }
    }

    #[test]
    fn matchers_filter_raw_points() {
        let points = vec![point(SECOND, "a", 1.0), point(2 * SECOND, "b", 2.0)];
        let Metrics::Points(p) = shape(request(None, &[("shard", "b")]), points) else {
            panic!("no step asks for raw points");
        };
        assert_eq!((p.count, p.points[0].time_unix_nano), (1, 2 * SECOND));
    }

    #[test]
    fn a_step_makes_one_series_per_attribute_set_aligned_to_the_step() {
        let points = vec![
            point(61 * SECOND, "a", 1.0),
            point(62 * SECOND, "a", 5.0),
            point(63 * SECOND, "b", 2.0),
        ];
        let step = Step {
            step_ns: 60 * SECOND,
            agg: Aggregate::Max,
            agg_name: "max".into(),
        };
        let Metrics::Series(s) = shape(request(Some(step), &[]), points) else {
            panic!("a step asks for series");
        };
        assert_eq!((s.agg.as_str(), s.series.len()), ("max", 2));
        assert_eq!(s.series[0].attributes.get_str("shard"), Some("a"));
        assert_eq!(s.series[0].values, [(60 * SECOND, 5.0)]);
    }
}
