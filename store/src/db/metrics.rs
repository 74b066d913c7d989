//! Metric series and points.

use super::sql::{Tx, sql};
use super::{Database, checkpoints, nanos, pg_copy};
use crate::StoreError;
use crate::checkpoint::{CheckpointKey, Sink};
use sqlx::{Postgres, QueryBuilder, Sqlite};
use weir_core::{Attributes, MetricKind, MetricPoint, MetricValue, Temporality};

/// Rows per multi-row INSERT on SQLite, within its 32,766 bound parameters.
const SQLITE_POINTS_PER_INSERT: usize = 1000;
const SQLITE_SERIES_PER_INSERT: usize = 500;

/// Where metric writes record their WAL position.
const METRICS: CheckpointKey = CheckpointKey::local(Sink::Metrics);

/// The most series ids [`SeriesCache`] remembers; past it, it starts over.
const CACHED_SERIES: usize = 200_000;

/// Series ids known to be stored, so a batch inserts only series it has
/// not seen: series rows are never deleted, so a remembered id stays true.
/// Owned by the one writer of metrics; ids enter only after their
/// transaction committed.
#[derive(Debug, Default)]
pub struct SeriesCache {
    known: std::collections::HashSet<i64>,
}

impl SeriesCache {
    pub(super) fn remember(&mut self, ids: impl IntoIterator<Item = i64>) {
        if self.known.len() >= CACHED_SERIES {
            // Bounded memory; forgetting costs only a redundant
            // `ON CONFLICT DO NOTHING` insert.
            self.known.clear();
        }
        self.known.extend(ids);
    }

    /// How many series ids are remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

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

/// The columns [`decode_point`] reads, in its order.
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
        series_id: series_id(p),
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
        self.checkpoint_of(&METRICS).await
    }

    /// Writes points and records `wal_seq` in the same transaction, so a
    /// replay after a crash writes each point exactly once. A batch at or
    /// below the committed position is already stored and is skipped.
    pub async fn write_metrics(
        &self,
        points: &[MetricPoint],
        wal_seq: u64,
    ) -> Result<(), StoreError> {
        self.write_metrics_cached(points, wal_seq, &mut SeriesCache::default())
            .await
    }

    /// [`Database::write_metrics`] that skips the series `cache` knows are
    /// stored, and remembers the ones it stored.
    pub async fn write_metrics_cached(
        &self,
        points: &[MetricPoint],
        wal_seq: u64,
        cache: &mut SeriesCache,
    ) -> Result<(), StoreError> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("db::write_metrics", |_| Err(super::injected_failure()));
        let mut tx = self.begin_write().await?;
        if tx.checkpoint_of(&METRICS).await? >= wal_seq {
            return Ok(());
        }
        let new_ids = insert_in(&mut tx, points, cache).await?;
        tx.execute(checkpoints::record(&METRICS, wal_seq)).await?;
        tx.commit().await?;
        cache.remember(new_ids);
        Ok(())
    }

    /// Points of a metric in a time range, oldest first.
    pub async fn metric_points(&self, q: &MetricQuery) -> Result<Vec<MetricPoint>, StoreError> {
        let limit = q.limit.clamp(1, 100_000) as i64;
        let rows: Vec<PointTuple> = self
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    point_columns!(),
                    " FROM metric_points p JOIN metric_series s ON s.id = p.series_id \
                     WHERE s.name = $1 AND ($2 IS NULL OR s.service = $2) AND p.time_unix_nano BETWEEN $3 AND $4 \
                     ORDER BY p.time_unix_nano LIMIT $5"
                ))
                .bind(&q.name)
                .bind(q.service.as_deref())
                .bind(nanos(q.from))
                .bind(nanos(q.to))
                .bind(limit),
            )
            .await?;
        rows.into_iter().map(decode_point).collect()
    }

    /// Deletes points older than `before` (Unix nanoseconds); returns how many.
    pub async fn delete_metric_points_before(&self, before: u64) -> Result<u64, StoreError> {
        self.execute(sql("DELETE FROM metric_points WHERE time_unix_nano < $1").bind(nanos(before)))
            .await
    }
}

/// The id a series is stored under: its fingerprint, which must never change
/// for an existing series (the tests pin it).
fn series_id(p: &MetricPoint) -> i64 {
    p.series_fingerprint()
}

fn series_json(a: &impl serde::Serialize) -> String {
    serde_json::to_string(a).expect("attributes serialize")
}

/// Inserts points, and the series `cache` does not know, inside `tx`;
/// returns the series ids it inserted, for the cache once `tx` commits.
pub(super) async fn insert_in(
    tx: &mut Tx,
    points: &[MetricPoint],
    cache: &SeriesCache,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let rows: Vec<PointRow> = points.iter().map(point_row).collect();
    let mut series: Vec<&MetricPoint> = Vec::new();
    let mut new_ids = std::collections::HashSet::new();
    for (p, row) in points.iter().zip(&rows) {
        if !cache.known.contains(&row.series_id) && new_ids.insert(row.series_id) {
            series.push(p);
        }
    }
    if rows.is_empty() {
        return Ok(new_ids);
    }
    // Fork: bulk inserts are where the engines truly differ. PostgreSQL
    // takes points by binary COPY and series as arrays through UNNEST;
    // SQLite has neither, so it gets multi-row VALUES in chunks within
    // its bound-parameter limit.
    match tx {
        Tx::Sqlite(t) => insert_sqlite(t, &series, &rows).await?,
        Tx::Postgres(t) => insert_postgres(t, &series, &rows).await?,
    }
    Ok(new_ids)
}

async fn insert_sqlite(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    series: &[&MetricPoint],
    rows: &[PointRow],
) -> Result<(), StoreError> {
    // One statement per chunk instead of one round trip to SQLite's worker
    // thread per row.
    for chunk in series.chunks(SQLITE_SERIES_PER_INSERT) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO metric_series (id, name, kind, unit, service, temporality, monotonic, description, attributes, resource) ",
        );
        qb.push_values(chunk, |mut b, s| {
            b.push_bind(series_id(s))
                .push_bind(s.name.clone())
                .push_bind(s.kind.as_str())
                .push_bind(s.unit.clone())
                .push_bind(s.service.clone())
                .push_bind(temporality_str(s.temporality))
                .push_bind(s.monotonic)
                .push_bind(s.description.clone())
                .push_bind(series_json(&s.attributes))
                .push_bind(series_json(&s.resource));
        });
        qb.push(" ON CONFLICT (id) DO NOTHING");
        qb.build().execute(&mut **tx).await?;
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
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_postgres(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    series: &[&MetricPoint],
    rows: &[PointRow],
) -> Result<(), StoreError> {
    if !series.is_empty() {
        let column =
            |f: &dyn Fn(&MetricPoint) -> String| series.iter().map(|s| f(s)).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO metric_series (id, name, kind, unit, service, temporality, monotonic, description, attributes, resource) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::text[], $10::text[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(series.iter().map(|s| series_id(s)).collect::<Vec<_>>())
        .bind(column(&|s| s.name.clone()))
        .bind(column(&|s| s.kind.as_str().to_string()))
        .bind(column(&|s| s.unit.clone()))
        .bind(column(&|s| s.service.clone()))
        .bind(column(&|s| temporality_str(s.temporality).to_string()))
        .bind(series.iter().map(|s| s.monotonic).collect::<Vec<_>>())
        .bind(column(&|s| s.description.clone()))
        .bind(column(&|s| series_json(&s.attributes)))
        .bind(column(&|s| series_json(&s.resource)))
        .execute(&mut **tx)
        .await?;
    }
    if !rows.is_empty() {
        let data = pg_copy::encode_points(rows.iter().map(|r| pg_copy::PointCopyRow {
            series_id: r.series_id,
            time: r.time,
            start: r.start,
            value: r.value,
            data: r.data.as_deref(),
        }));
        let mut copy = tx
            .copy_in_raw(
                "COPY metric_points (series_id, time_unix_nano, start_time_unix_nano, value, data) FROM STDIN (FORMAT binary)",
            )
            .await?;
        copy.send(data).await?;
        copy.finish().await?;
    }
    Ok(())
}

/// A point joined with its series, as `point_columns!` selects it.
type PointTuple = (
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
    String,
    i64,
    i64,
    Option<f64>,
    Option<String>,
);

fn decode_point(row: PointTuple) -> Result<MetricPoint, StoreError> {
    let (
        name,
        kind,
        unit,
        service,
        temporality,
        monotonic,
        description,
        attributes,
        resource,
        time,
        start,
        value,
        data,
    ) = row;
    let corrupt = |e: serde_json::Error| StoreError::CorruptRecord(e.to_string());
    let value = match (value, data) {
        (Some(v), _) => MetricValue::Number { value: v },
        (None, Some(d)) => serde_json::from_str(&d).map_err(corrupt)?,
        (None, None) => {
            return Err(StoreError::CorruptRecord(
                "metric point without value".into(),
            ));
        }
    };
    Ok(MetricPoint {
        name,
        kind: MetricKind::parse(&kind)
            .ok_or_else(|| StoreError::CorruptRecord(format!("metric kind {kind}")))?,
        unit,
        service,
        temporality: parse_temporality(&temporality),
        monotonic,
        description,
        attributes: serde_json::from_str::<Attributes>(&attributes).map_err(corrupt)?,
        resource: serde_json::from_str::<std::sync::Arc<Attributes>>(&resource).map_err(corrupt)?,
        time_unix_nano: time as u64,
        start_time_unix_nano: start as u64,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::AttrValue;

    fn series(
        name: &str,
        kind: MetricKind,
        unit: &str,
        service: &str,
        attrs: &[(&str, AttrValue)],
    ) -> MetricPoint {
        MetricPoint {
            name: name.into(),
            description: "not part of the id".into(),
            unit: unit.into(),
            kind,
            temporality: Temporality::Cumulative,
            monotonic: true,
            service: service.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            resource: Default::default(),
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            value: MetricValue::Number { value: 3.0 },
        }
    }

    fn fixed_series() -> Vec<MetricPoint> {
        vec![
            series(
                "pipeline.iterator_age",
                MetricKind::Gauge,
                "ms",
                "orders-consumer",
                &[],
            ),
            series(
                "pipeline.iterator_age",
                MetricKind::Gauge,
                "ms",
                "orders-consumer",
                &[("shard", AttrValue::Str("shard-0001".into()))],
            ),
            series(
                "http.server.request.duration",
                MetricKind::Histogram,
                "s",
                "checkout",
                &[
                    ("http.route", AttrValue::Str("/orders/{id}".into())),
                    ("http.response.status_code", AttrValue::Int(200)),
                    ("retry", AttrValue::Bool(false)),
                ],
            ),
            series(
                "queue.depth",
                MetricKind::Sum,
                "{messages}",
                "",
                &[("ratio", AttrValue::Double(0.5))],
            ),
        ]
    }

    /// Series ids are primary keys of stored rows: a change would split
    /// every existing series in two. These values were computed before the
    /// store's SQL was unified and must never change.
    #[test]
    fn stored_series_ids_are_pinned() {
        let ids: Vec<i64> = fixed_series().iter().map(series_id).collect();
        assert_eq!(
            ids,
            [
                7_535_662_210_757_784_462,
                2_718_981_523_060_185_224,
                6_394_894_276_145_341_237,
                5_755_768_359_657_705_160,
            ]
        );
    }

    #[test]
    fn series_ids_ignore_what_is_not_identity() {
        let base = &fixed_series()[2];
        let mut other = base.clone();
        other.attributes.0.reverse();
        other.description = String::from("another description");
        other.temporality = Temporality::Delta;
        other.time_unix_nano = 99;
        other.value = MetricValue::Number { value: -1.0 };
        assert_eq!(series_id(&other), series_id(base));
        other.unit = String::from("ms");
        assert_ne!(series_id(&other), series_id(base));
    }
}
