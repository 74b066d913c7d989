//! Retention: old index partitions are deleted whole, old rows in bulk.

use crate::{Store, StoreError};
use std::time::Duration;

/// How long each signal is kept (`[retention]`).
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Spans, by ingest day.
    pub spans: Duration,
    /// Log records, by ingest day.
    pub logs: Duration,
    /// Metric points, by point time.
    pub metrics: Duration,
    /// Health rollups, by minute.
    pub rollups: Duration,
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Span partitions deleted.
    pub span_partitions: usize,
    /// Log partitions deleted.
    pub log_partitions: usize,
    /// Metric points deleted.
    pub metric_points: u64,
    /// Rollup rows deleted.
    pub rollups: u64,
}

fn cutoff(now: u64, keep: Duration) -> u64 {
    now.saturating_sub(keep.as_nanos().min(u64::MAX as u128) as u64)
}

impl Store {
    /// Deletes everything older than the policy allows, as of `now`. A
    /// partition goes when its whole ingest day is older than the cutoff.
    pub async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: u64,
    ) -> Result<Removed, StoreError> {
        use crate::index::day_of;
        let span_day = day_of(cutoff(now, policy.spans));
        let log_day = day_of(cutoff(now, policy.logs));
        let (spans, logs) = (self.spans.clone(), self.logs.clone());
        let (span_partitions, log_partitions) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((
                spans.drop_partitions_before(span_day)?,
                logs.drop_partitions_before(log_day)?,
            ))
        })
        .await
        .map_err(|e| StoreError::CorruptRecord(format!("retention task: {e}")))??;
        Ok(Removed {
            span_partitions,
            log_partitions,
            metric_points: self
                .db
                .delete_metric_points_before(cutoff(now, policy.metrics))
                .await?,
            rollups: self
                .db
                .delete_rollups_before(cutoff(now, policy.rollups))
                .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatabaseConfig, StoreConfig};
    use crate::{SearchRequest, SearchSignal};
    use weir_core::{MetricPoint, Span, SpanKind, TraceId};

    const DAY: u64 = 86_400 * 1_000_000_000;

    fn span(n: u8, start: u64) -> Span {
        Span {
            kind: SpanKind::Server,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1,
            ..weir_core::fixtures::span(TraceId([n; 16]), n, None, "svc", &format!("span {n}"))
        }
    }

    fn point(time: u64) -> MetricPoint {
        weir_core::fixtures::gauge_point("pipeline.iterator_age", "svc", time, 1.0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_partitions_and_rows_go_new_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::new(dir.path(), DatabaseConfig::default()))
            .await
            .unwrap();
        let now = 1_800_000_000 * 1_000_000_000;
        // Ingested ten days ago, and today. The writer moves to a new day's
        // partition at its first commit in that day.
        store
            .spans
            .add_spans(&[span(1, now - 10 * DAY)], now - 10 * DAY)
            .unwrap();
        store.spans.commit(1, now).unwrap();
        store.spans.add_spans(&[span(2, now)], now).unwrap();
        store.spans.commit(2, now).unwrap();
        store
            .db
            .write_metrics(&[point(now - 40 * DAY), point(now - DAY)], 3)
            .await
            .unwrap();
        let mut old = weir_core::HealthRollup::default();
        old.add_invocation(1.0, false, None, 0, now - 100 * DAY);
        let mut new = weir_core::HealthRollup::default();
        new.add_invocation(1.0, false, None, 0, now);
        let deltas = [
            (("svc".to_string(), now - 100 * DAY), old),
            (("svc".to_string(), now - 60_000_000_000), new),
        ]
        .into_iter()
        .collect();
        store
            .db
            .merge_rollups(&deltas, &Default::default(), "rollups.spans", 4)
            .await
            .unwrap();

        let policy = RetentionPolicy {
            spans: Duration::from_secs(7 * 86_400),
            logs: Duration::from_secs(7 * 86_400),
            metrics: Duration::from_secs(30 * 86_400),
            rollups: Duration::from_secs(90 * 86_400),
        };
        let removed = store.enforce_retention(&policy, now).await.unwrap();
        assert_eq!(
            removed,
            Removed {
                span_partitions: 1,
                log_partitions: 0,
                metric_points: 1,
                rollups: 1
            }
        );

        let all = SearchRequest {
            query: String::new(),
            signal: SearchSignal::Spans,
            from: 0,
            to: u64::MAX,
            limit: 10,
            cursor: None,
        };
        let names: Vec<u64> = store
            .search(&all)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.time())
            .collect();
        assert_eq!(names, [now], "only today's span is left");
        let points = store
            .db
            .metric_points(&crate::db::MetricQuery {
                name: "pipeline.iterator_age".into(),
                service: None,
                from: 0,
                to: i64::MAX as u64,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].time_unix_nano, now - DAY);
        let health = store.db.component_health(0, u64::MAX).await.unwrap();
        assert_eq!(health["svc"].invocations, 1);
        // A second pass finds nothing more to remove.
        assert_eq!(
            store.enforce_retention(&policy, now).await.unwrap(),
            Removed::default()
        );
    }
}
