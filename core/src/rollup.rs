//! Health rollups: per component per minute, mergeable, so they can be built
//! at ingest time, combined across minutes and outlive raw events.

use crate::pipeline::LagUnit;
use crate::topology::Edge;
use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};
use std::collections::BTreeMap;

/// Lag series (metric and partition) one rollup keeps apart for charts. A
/// component that reports more partitions still counts toward its maximum
/// lag; only the per-partition detail stops growing.
pub const MAX_LAG_SERIES: usize = 256;

/// Invocation durations in a DDSketch: quantiles within 1 % relative error,
/// mergeable across minutes and components.
#[derive(Clone)]
pub struct DurationSketch(DDSketch);

// An empty sketch's min and max are infinite, which JSON cannot hold: it is
// written as null instead.
impl Serialize for DurationSketch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0.count() > 0).then_some(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for DurationSketch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<DDSketch>::deserialize(d)?
            .map(DurationSketch)
            .unwrap_or_default())
    }
}

impl Default for DurationSketch {
    fn default() -> Self {
        DurationSketch(DDSketch::new(Config::defaults()))
    }
}

impl std::fmt::Debug for DurationSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DurationSketch(count={})", self.0.count())
    }
}

impl DurationSketch {
    /// Adds one duration in milliseconds.
    pub fn add(&mut self, ms: f64) {
        // DDSketch indexes by logarithm: a zero-length span is recorded as 1 µs.
        self.0.add(ms.max(0.001));
    }

    /// Merges another sketch into this one.
    pub fn merge(&mut self, other: &DurationSketch) {
        // Both sketches use the default configuration, so merging cannot fail.
        let _ = self.0.merge(&other.0);
    }

    /// The value at quantile `q` in [0, 1]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    /// Number of durations added.
    pub fn count(&self) -> usize {
        self.0.count()
    }
}

/// What one component did in one minute (or, merged, over a window).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealthRollup {
    /// Entry-point spans.
    pub invocations: u64,
    /// Invocations that failed.
    pub errors: u64,
    /// Invocations that were cold starts.
    pub cold_starts: u64,
    /// Records processed (`messaging.batch.message_count`).
    pub records: u64,
    /// Invocation durations.
    pub duration_ms: DurationSketch,
    /// Cold-start initialization durations reported.
    pub init_duration_ms: DurationSketch,
    /// Durations of the invocations that were cold starts.
    #[serde(default)]
    pub cold_duration_ms: DurationSketch,
    /// Durations of the invocations that were not.
    #[serde(default)]
    pub warm_duration_ms: DurationSketch,
    /// Highest time lag seen, milliseconds.
    pub max_lag_ms: Option<f64>,
    /// Highest record lag seen.
    pub max_lag_records: Option<f64>,
    /// Highest lag per series, keyed `"<metric> <partition>"`, so charts of
    /// lag per partition read rollups instead of every raw reading.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lag_series: BTreeMap<String, LagPeak>,
    /// Latest event time seen, Unix nanoseconds.
    pub last_seen: u64,
}

/// The highest reading of one lag series in a rollup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagPeak {
    /// Milliseconds or records.
    pub unit: LagUnit,
    /// The highest reading.
    pub max: f64,
}

impl LagPeak {
    fn raise(&mut self, value: f64) {
        self.max = self.max.max(value);
    }
}

impl HealthRollup {
    /// Counts one invocation.
    pub fn add_invocation(
        &mut self,
        duration_ms: f64,
        failed: bool,
        cold: Option<Option<f64>>,
        records: u64,
        seen: u64,
    ) {
        self.invocations += 1;
        self.errors += u64::from(failed);
        if let Some(init) = cold {
            self.cold_starts += 1;
            self.cold_duration_ms.add(duration_ms);
            if let Some(ms) = init {
                self.init_duration_ms.add(ms);
            }
        } else {
            self.warm_duration_ms.add(duration_ms);
        }
        self.records += records;
        self.duration_ms.add(duration_ms);
        self.last_seen = self.last_seen.max(seen);
    }

    /// Counts an error learned after its invocation was counted (an exception
    /// log record tied to it).
    pub fn add_late_error(&mut self) {
        self.errors += 1;
    }

    /// Records a lag reading of the series `series` (metric and partition).
    pub fn add_lag(&mut self, series: &str, unit: LagUnit, value: f64, seen: u64) {
        let slot = match unit {
            LagUnit::Ms => &mut self.max_lag_ms,
            LagUnit::Records => &mut self.max_lag_records,
        };
        *slot = Some(slot.map_or(value, |v: f64| v.max(value)));
        self.raise_series(series, LagPeak { unit, max: value });
        self.last_seen = self.last_seen.max(seen);
    }

    fn raise_series(&mut self, series: &str, peak: LagPeak) {
        if let Some(known) = self.lag_series.get_mut(series) {
            known.raise(peak.max);
        } else if self.lag_series.len() < MAX_LAG_SERIES {
            self.lag_series.insert(series.to_string(), peak);
        }
    }

    /// Merges another rollup (another minute, or a later delta of this one).
    pub fn merge(&mut self, other: &HealthRollup) {
        self.invocations += other.invocations;
        self.errors += other.errors;
        self.cold_starts += other.cold_starts;
        self.records += other.records;
        self.duration_ms.merge(&other.duration_ms);
        self.init_duration_ms.merge(&other.init_duration_ms);
        self.cold_duration_ms.merge(&other.cold_duration_ms);
        self.warm_duration_ms.merge(&other.warm_duration_ms);
        for (mine, theirs) in [
            (&mut self.max_lag_ms, other.max_lag_ms),
            (&mut self.max_lag_records, other.max_lag_records),
        ] {
            if let Some(t) = theirs {
                *mine = Some(mine.map_or(t, |m| m.max(t)));
            }
        }
        for (series, peak) in &other.lag_series {
            self.raise_series(series, *peak);
        }
        self.last_seen = self.last_seen.max(other.last_seen);
    }

    /// Errors per invocation in [0, 1]; `None` without invocations.
    pub fn error_rate(&self) -> Option<f64> {
        (self.invocations > 0).then(|| self.errors as f64 / self.invocations as f64)
    }

    /// Cold starts per invocation in [0, 1]; `None` without invocations.
    pub fn cold_start_rate(&self) -> Option<f64> {
        (self.invocations > 0).then(|| self.cold_starts as f64 / self.invocations as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_quantiles_are_within_one_percent() {
        let mut sketch = DurationSketch::default();
        let values: Vec<f64> = (1..=10_000).map(|i| i as f64 * 0.37).collect();
        for v in &values {
            sketch.add(*v);
        }
        for q in [0.5, 0.95, 0.99] {
            let exact = values[((values.len() as f64 - 1.0) * q) as usize];
            let estimate = sketch.quantile(q).unwrap();
            assert!(
                (estimate - exact).abs() / exact <= 0.01,
                "q{q}: {estimate} vs {exact}"
            );
        }
    }

    #[test]
    fn merged_minutes_equal_one_rollup_of_everything() {
        let mut a = HealthRollup::default();
        let mut b = HealthRollup::default();
        let mut all = HealthRollup::default();
        for i in 0..1000u64 {
            let (d, failed, cold) = (i as f64, i % 10 == 0, (i % 25 == 0).then_some(Some(180.0)));
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.add_invocation(d, failed, cold, 3, i);
            all.add_invocation(d, failed, cold, 3, i);
        }
        a.add_lag("age shard-1", LagUnit::Ms, 500.0, 5);
        b.add_lag("age shard-1", LagUnit::Ms, 900.0, 6);
        b.add_lag("age shard-2", LagUnit::Ms, 300.0, 6);
        b.add_lag("lag p0", LagUnit::Records, 40.0, 6);
        a.merge(&b);
        assert_eq!(
            (a.invocations, a.errors, a.cold_starts, a.records),
            (1000, 100, 40, 3000)
        );
        assert_eq!(a.max_lag_ms, Some(900.0));
        assert_eq!(a.max_lag_records, Some(40.0));
        let peaks: Vec<(&str, f64)> = a
            .lag_series
            .iter()
            .map(|(k, p)| (k.as_str(), p.max))
            .collect();
        assert_eq!(
            peaks,
            [
                ("age shard-1", 900.0),
                ("age shard-2", 300.0),
                ("lag p0", 40.0)
            ]
        );
        assert_eq!(a.lag_series["lag p0"].unit, LagUnit::Records);
        assert_eq!(a.last_seen, 999);
        assert_eq!(a.error_rate(), Some(0.1));
        assert_eq!(a.cold_start_rate(), Some(0.04));
        assert_eq!(a.duration_ms.quantile(0.99), all.duration_ms.quantile(0.99));
        assert_eq!(a.init_duration_ms.count(), 40);
        assert_eq!(
            (a.cold_duration_ms.count(), a.warm_duration_ms.count()),
            (40, 960)
        );
        // Cold invocations here are the multiples of 25 up to 975: median 475 ms.
        let cold_p50 = a.cold_duration_ms.quantile(0.5).unwrap();
        assert!((cold_p50 - 475.0).abs() / 475.0 <= 0.06, "{cold_p50}");
    }

    #[test]
    fn per_partition_lag_stops_growing_but_the_maximum_still_counts() {
        let mut r = HealthRollup::default();
        for p in 0..MAX_LAG_SERIES + 10 {
            r.add_lag(&format!("age p{p}"), LagUnit::Ms, p as f64, 1);
        }
        assert_eq!(r.lag_series.len(), MAX_LAG_SERIES);
        assert_eq!(r.max_lag_ms, Some((MAX_LAG_SERIES + 9) as f64));
        // Rollups written before per-partition lag existed still read.
        let old: HealthRollup = serde_json::from_str(
            r#"{"invocations":1,"errors":0,"cold_starts":0,"records":0,"duration_ms":null,
                "init_duration_ms":null,"max_lag_ms":5.0,"max_lag_records":null,"last_seen":1}"#,
        )
        .unwrap();
        assert!(old.lag_series.is_empty());
    }

    #[test]
    fn sketches_survive_serialization() {
        let mut r = HealthRollup::default();
        r.add_invocation(12.0, false, None, 0, 1);
        let json = serde_json::to_string(&r).unwrap();
        let back: HealthRollup = serde_json::from_str(&json).unwrap();
        assert_eq!(back.duration_ms.quantile(0.5), r.duration_ms.quantile(0.5));
    }
}

/// Component rollups keyed by (component, minute): what one flush adds.
pub type RollupDeltas = BTreeMap<(String, u64), HealthRollup>;

/// Edge rollups keyed by (edge, minute): what one flush adds.
pub type EdgeDeltas = BTreeMap<(Edge, u64), EdgeRollup>;

/// Traffic over one edge in one minute (or, merged, a window).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EdgeRollup {
    /// Spans that crossed the edge.
    pub count: u64,
    /// Of those, the ones whose receiving side failed.
    pub errors: u64,
    /// Delivery lag from a linked span's end to the consumer's start, ms.
    pub delivery_lag_ms: DurationSketch,
}

impl EdgeRollup {
    /// Counts one crossing.
    pub fn add(&mut self, failed: bool) {
        self.count += 1;
        self.errors += u64::from(failed);
    }

    /// Records one delivery lag.
    pub fn add_delivery_lag(&mut self, ms: f64) {
        self.delivery_lag_ms.add(ms);
    }

    /// Merges another rollup of the same edge.
    pub fn merge(&mut self, other: &EdgeRollup) {
        self.count += other.count;
        self.errors += other.errors;
        self.delivery_lag_ms.merge(&other.delivery_lag_ms);
    }
}
