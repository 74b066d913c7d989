//! Metric series and points.

use super::Database;
use crate::StoreError;
use sqlx::{QueryBuilder, Row, Sqlite};
use weir_core::{Attributes, MetricKind, MetricPoint, MetricValue, Temporality};

/// Rows per multi-row INSERT on SQLite, within its 32,766 bound parameters.
const SQLITE_POINTS_PER_INSERT: usize = 1000;
const SQLITE_SERIES_PER_INSERT: usize = 500;

/// The sink name under which metric writes record their WAL position.
const METRICS_SINK: &str = "metrics";

/// Which points to read.
#[derive(Debug, Clone, Default)]
pub struct MetricQuery {
    /// Metric name, exact.
    pub name: String,
    /// Only this component, when set.
    pub service: Option<String>,
    /// From, Unix nanoseconds, inclusive.
    pub from: u64,
    /// To, Unix nanoseconds, inclusive.
    pub to: u64,
    /// At most this many points.
    pub limit: usize,
}

/// The columns `decode_point!` reads, in its order.
macro_rules! point_columns {
    () => {
        "s.name, s.kind, s.unit, s.service, s.temporality, s.monotonic, s.description, s.attributes, s.resource, \
         p.time_unix_nano, p.start_time_unix_nano, p.value, p.data"
    };
}

struct PointRow {
    series_id: i64,
    time: i64,
    start: i64,
    value: Option<f64>,
    data: Option<String>,
}

fn point_row(p: &MetricPoint) -> PointRow {
    let (value, data) = match &p.value {
        MetricValue::Number { value } => (Some(*value), None),
        other => (
            None,
            Some(serde_json::to_string(other).expect("metric values serialize")),
        ),
    };
    PointRow {
        series_id: p.series_fingerprint(),
        time: p.time_unix_nano as i64,
        start: p.start_time_unix_nano as i64,
        value,
        data,
    }
}

fn temporality_str(t: Temporality) -> &'static str {
    match t {
        Temporality::Unspecified => "unspecified",
        Temporality::Delta => "delta",
        Temporality::Cumulative => "cumulative",
    }
}

fn parse_temporality(s: &str) -> Temporality {
    match s {
        "delta" => Temporality::Delta,
        "cumulative" => Temporality::Cumulative,
        _ => Temporality::Unspecified,
    }
}

impl Database {
    /// The WAL position metric writes have committed.
    pub async fn metrics_checkpoint(&self) -> Result<u64, StoreError> {
        self.checkpoint(METRICS_SINK).await
    }

    /// Writes points and records `wal_seq` in the same transaction, so a
    /// replay after a crash writes each point exactly once.
    pub async fn write_metrics(
        &self,
        points: &[MetricPoint],
        wal_seq: u64,
    ) -> Result<(), StoreError> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("db::write_metrics", |_| Err(super::injected_failure()));
        let mut series: Vec<&MetricPoint> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in points {
            if seen.insert(p.series_fingerprint()) {
                series.push(p);
            }
        }
        let rows: Vec<PointRow> = points.iter().map(point_row).collect();
        match self {
            Database::Sqlite(pool) => {
                let mut tx = pool.begin_with(super::SQLITE_WRITE_TRANSACTION).await?;
                // Multi-row inserts: one statement per chunk instead of one
                // round trip to SQLite's worker thread per row.
                for chunk in series.chunks(SQLITE_SERIES_PER_INSERT) {
                    let mut qb = QueryBuilder::<Sqlite>::new(
                        "INSERT INTO metric_series (id, name, kind, unit, service, temporality, monotonic, description, attributes, resource) ",
                    );
                    qb.push_values(chunk, |mut b, s| {
                        b.push_bind(s.series_fingerprint())
                            .push_bind(s.name.clone())
                            .push_bind(s.kind.as_str())
                            .push_bind(s.unit.clone())
                            .push_bind(s.service.clone())
                            .push_bind(temporality_str(s.temporality))
                            .push_bind(s.monotonic)
                            .push_bind(s.description.clone())
                            .push_bind(
                                serde_json::to_string(&s.attributes).expect("attributes serialize"),
                            )
                            .push_bind(
                                serde_json::to_string(&s.resource).expect("attributes serialize"),
                            );
                    });
                    qb.push(" ON CONFLICT (id) DO NOTHING");
                    qb.build().execute(&mut *tx).await?;
                }
                for chunk in rows.chunks(SQLITE_POINTS_PER_INSERT) {
                    let mut qb = QueryBuilder::<Sqlite>::new(
                        "INSERT INTO metric_points (series_id, time_unix_nano, start_time_unix_nano, value, data) ",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.series_id)
                            .push_bind(r.time)
                            .push_bind(r.start)
                            .push_bind(r.value)
                            .push_bind(r.data.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO wal_checkpoints (sink, seq) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                )
                .bind(METRICS_SINK)
                .bind(wal_seq as i64)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if !series.is_empty() {
                    sqlx::query(
                        "INSERT INTO metric_series (id, name, kind, unit, service, temporality, monotonic, description, attributes, resource) \
                         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::text[]) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(series.iter().map(|s| s.series_fingerprint()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.kind.as_str().to_string()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.unit.clone()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.service.clone()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| temporality_str(s.temporality).to_string()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.monotonic).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| s.description.clone()).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| serde_json::to_string(&s.attributes).expect("attributes serialize")).collect::<Vec<_>>())
                    .bind(series.iter().map(|s| serde_json::to_string(&s.resource).expect("attributes serialize")).collect::<Vec<_>>())
                    .execute(&mut *tx)
                    .await?;
                }
                if !rows.is_empty() {
                    sqlx::query(
                        "INSERT INTO metric_points (series_id, time_unix_nano, start_time_unix_nano, value, data) \
                         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[], $5::text[])",
                    )
                    .bind(rows.iter().map(|r| r.series_id).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.time).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.start).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.value).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.data.clone()).collect::<Vec<_>>())
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO wal_checkpoints (sink, seq) VALUES ($1, $2) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                )
                .bind(METRICS_SINK)
                .bind(wal_seq as i64)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Points of a metric in a time range, oldest first.
    pub async fn metric_points(&self, q: &MetricQuery) -> Result<Vec<MetricPoint>, StoreError> {
        let limit = q.limit.clamp(1, 100_000) as i64;
        let rows = match self {
            Database::Sqlite(pool) => {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    point_columns!(),
                    " FROM metric_points p JOIN metric_series s ON s.id = p.series_id \
                     WHERE s.name = ? AND (? IS NULL OR s.service = ?) AND p.time_unix_nano BETWEEN ? AND ? \
                     ORDER BY p.time_unix_nano LIMIT ?"
                ))
                    .bind(&q.name)
                    .bind(q.service.as_deref())
                    .bind(q.service.as_deref())
                    .bind(q.from.min(i64::MAX as u64) as i64)
                    .bind(q.to.min(i64::MAX as u64) as i64)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(sqlite_point)
                    .collect::<Result<Vec<_>, _>>()?
            }
            Database::Postgres(pool) => {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    point_columns!(),
                    " FROM metric_points p JOIN metric_series s ON s.id = p.series_id \
                     WHERE s.name = $1 AND ($2::text IS NULL OR s.service = $2) AND p.time_unix_nano BETWEEN $3 AND $4 \
                     ORDER BY p.time_unix_nano LIMIT $5"
                ))
                    .bind(&q.name)
                    .bind(q.service.as_deref())
                    .bind(q.from.min(i64::MAX as u64) as i64)
                    .bind(q.to.min(i64::MAX as u64) as i64)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(pg_point).collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(rows)
    }

    /// Deletes points older than `before` (Unix nanoseconds); returns how many.
    pub async fn delete_metric_points_before(&self, before: u64) -> Result<u64, StoreError> {
        let before = before.min(i64::MAX as u64) as i64;
        let done = match self {
            Database::Sqlite(p) => {
                sqlx::query("DELETE FROM metric_points WHERE time_unix_nano < ?")
                    .bind(before)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
            Database::Postgres(p) => {
                sqlx::query("DELETE FROM metric_points WHERE time_unix_nano < $1")
                    .bind(before)
                    .execute(p)
                    .await?
                    .rows_affected()
            }
        };
        Ok(done)
    }
}

macro_rules! decode_point {
    ($row:expr, $monotonic:expr) => {{
        let row = $row;
        let kind: String = row.try_get(1)?;
        let attributes: String = row.try_get(7)?;
        let resource: String = row.try_get(8)?;
        let value: Option<f64> = row.try_get(11)?;
        let data: Option<String> = row.try_get(12)?;
        let value = match (value, data) {
            (Some(v), _) => MetricValue::Number { value: v },
            (None, Some(d)) => {
                serde_json::from_str(&d).map_err(|e| StoreError::CorruptRecord(e.to_string()))?
            }
            (None, None) => {
                return Err(StoreError::CorruptRecord(
                    "metric point without value".into(),
                ));
            }
        };
        Ok(MetricPoint {
            name: row.try_get(0)?,
            kind: MetricKind::parse(&kind)
                .ok_or_else(|| StoreError::CorruptRecord(format!("metric kind {kind}")))?,
            unit: row.try_get(2)?,
            service: row.try_get(3)?,
            temporality: parse_temporality(&row.try_get::<String, _>(4)?),
            monotonic: $monotonic,
            description: row.try_get(6)?,
            attributes: serde_json::from_str::<Attributes>(&attributes)
                .map_err(|e| StoreError::CorruptRecord(e.to_string()))?,
            resource: serde_json::from_str::<std::sync::Arc<Attributes>>(&resource)
                .map_err(|e| StoreError::CorruptRecord(e.to_string()))?,
            time_unix_nano: row.try_get::<i64, _>(9)? as u64,
            start_time_unix_nano: row.try_get::<i64, _>(10)? as u64,
            value,
        })
    }};
}

fn sqlite_point(row: &sqlx::sqlite::SqliteRow) -> Result<MetricPoint, StoreError> {
    decode_point!(row, row.try_get::<bool, _>(5)?)
}

fn pg_point(row: &sqlx::postgres::PgRow) -> Result<MetricPoint, StoreError> {
    decode_point!(row, row.try_get::<bool, _>(5)?)
}
