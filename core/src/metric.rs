//! Metric points of all five OTLP kinds.

use crate::{Attributes, Resource};
use serde::{Deserialize, Serialize};

/// Which OTLP metric type a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Last value.
    Gauge,
    /// A sum, monotonic or not.
    Sum,
    /// Explicit-bucket histogram.
    Histogram,
    /// Base-2 exponential histogram.
    ExponentialHistogram,
    /// Pre-computed quantiles.
    Summary,
}

impl MetricKind {
    /// Stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }

    /// Parses [`MetricKind::as_str`] back.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "gauge" => MetricKind::Gauge,
            "sum" => MetricKind::Sum,
            "histogram" => MetricKind::Histogram,
            "exponential_histogram" => MetricKind::ExponentialHistogram,
            "summary" => MetricKind::Summary,
            _ => return None,
        })
    }
}

/// Aggregation temporality of sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Not applicable (gauges, summaries) or not set.
    #[default]
    Unspecified,
    /// Each point covers the interval since the previous one.
    Delta,
    /// Each point covers the interval since the series started.
    Cumulative,
}

/// Explicit-bucket histogram data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when sent.
    pub sum: Option<f64>,
    /// Minimum, when sent.
    pub min: Option<f64>,
    /// Maximum, when sent.
    pub max: Option<f64>,
    /// Upper bounds; one fewer than `bucket_counts`.
    pub explicit_bounds: Vec<f64>,
    /// Counts per bucket.
    pub bucket_counts: Vec<u64>,
}

/// One side of an exponential histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BucketCounts {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts from `offset` on.
    pub counts: Vec<u64>,
}

/// Base-2 exponential histogram data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialHistogram {
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when sent.
    pub sum: Option<f64>,
    /// Minimum, when sent.
    pub min: Option<f64>,
    /// Maximum, when sent.
    pub max: Option<f64>,
    /// Resolution: bucket bases are 2^(2^-scale).
    pub scale: i32,
    /// Observations of exactly zero.
    pub zero_count: u64,
    /// Positive buckets.
    pub positive: BucketCounts,
    /// Negative buckets.
    pub negative: BucketCounts,
}

/// One quantile of a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryQuantile {
    /// In [0, 1].
    pub quantile: f64,
    /// The value at that quantile.
    pub value: f64,
}

/// The value a point carries, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MetricValue {
    /// A gauge or sum value.
    Number {
        /// The value.
        value: f64,
    },
    /// Histogram buckets.
    Histogram(Histogram),
    /// Exponential histogram buckets.
    ExponentialHistogram(ExponentialHistogram),
    /// Summary quantiles.
    Summary {
        /// Number of observations.
        count: u64,
        /// Sum of observations.
        sum: f64,
        /// The quantiles.
        quantiles: Vec<SummaryQuantile>,
    },
}

/// One data point of one metric series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Metric name.
    pub name: String,
    /// Metric description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Unit (`ms`, `s`, `{records}`, …).
    #[serde(default)]
    pub unit: String,
    /// Metric type.
    pub kind: MetricKind,
    /// Sums and histograms: delta or cumulative.
    #[serde(default)]
    pub temporality: Temporality,
    /// Sums: whether monotonic.
    #[serde(default)]
    pub monotonic: bool,
    /// The component that sent it.
    pub service: String,
    /// Point attributes (partition, consumer group, …).
    #[serde(default)]
    pub attributes: Attributes,
    /// Resource attributes of the producer.
    #[serde(default)]
    pub resource: Resource,
    /// Start of the covered interval, Unix nanoseconds; zero if not sent.
    #[serde(default)]
    pub start_time_unix_nano: u64,
    /// The point's time, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: MetricValue,
}

impl MetricPoint {
    /// A stable 64-bit identity of the series this point belongs to: name,
    /// kind, unit, component and point attributes. FNV-1a, because it must not
    /// change between releases (it is stored).
    pub fn series_fingerprint(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes.iter().chain(std::iter::once(&0xff)) {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(self.name.as_bytes());
        feed(self.kind.as_str().as_bytes());
        feed(self.unit.as_bytes());
        feed(self.service.as_bytes());
        let mut attrs: Vec<_> = self.attributes.0.iter().collect();
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in attrs {
            feed(k.as_bytes());
            feed(v.to_text().as_bytes());
        }
        hash as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttrValue;

    fn point(attrs: Vec<(&str, &str)>) -> MetricPoint {
        MetricPoint {
            attributes: attrs
                .into_iter()
                .map(|(k, v)| (k.to_string(), AttrValue::Str(v.to_string())))
                .collect(),
            ..crate::fixtures::gauge_point("pipeline.iterator_age", "consumer", 1, 1.0)
        }
    }

    #[test]
    fn fingerprint_ignores_attribute_order_but_not_values() {
        let a = point(vec![("shard", "1"), ("group", "g")]);
        let b = point(vec![("group", "g"), ("shard", "1")]);
        let c = point(vec![("group", "g"), ("shard", "2")]);
        assert_eq!(a.series_fingerprint(), b.series_fingerprint());
        assert_ne!(a.series_fingerprint(), c.series_fingerprint());
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in [
            MetricKind::Gauge,
            MetricKind::Sum,
            MetricKind::Histogram,
            MetricKind::ExponentialHistogram,
            MetricKind::Summary,
        ] {
            assert_eq!(MetricKind::parse(kind.as_str()), Some(kind));
        }
    }
}
