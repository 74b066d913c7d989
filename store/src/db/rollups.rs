//! Health rollups: read-modify-write merges per (component, minute), with the
//! WAL position they cover recorded in the same transaction.

use super::sql::{Tx, sql};
use super::{Database, checkpoints, nanos};
use crate::StoreError;
use std::collections::BTreeMap;
use weir_core::{Edge, EdgeRollup, HealthRollup, NodeKind};

/// Rollup changes keyed by (component, minute start in Unix nanoseconds).
pub type RollupDeltas = BTreeMap<(String, u64), HealthRollup>;

/// Edge traffic changes keyed by (edge, minute start in Unix nanoseconds).
pub type EdgeDeltas = BTreeMap<(Edge, u64), EdgeRollup>;

/// The edge a stored row names.
pub(super) fn edge_of(
    source_kind: &str,
    source: String,
    target_kind: &str,
    target: String,
) -> Result<Edge, StoreError> {
    let kind = |k: &str| {
        NodeKind::parse(k).ok_or_else(|| StoreError::CorruptRecord(format!("node kind {k}")))
    };
    Ok(Edge {
        source_kind: kind(source_kind)?,
        source,
        target_kind: kind(target_kind)?,
        target,
    })
}

pub(super) fn decode_edge(text: &str) -> Result<EdgeRollup, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::CorruptRecord(format!("edge rollup: {e}")))
}

fn encode(r: &HealthRollup) -> String {
    serde_json::to_string(r).expect("rollups serialize")
}

pub(super) fn decode(text: &str) -> Result<HealthRollup, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::CorruptRecord(format!("health rollup: {e}")))
}

impl Database {
    /// Merges rollup deltas and records that they cover the WAL up to
    /// `wal_seq` for `sink` (`rollups.spans`, `rollups.logs` or
    /// `rollups.metrics`), atomically: a replay never counts twice. Deltas at
    /// or below the sink's committed position are already counted and are
    /// skipped.
    pub async fn merge_rollups(
        &self,
        deltas: &RollupDeltas,
        edges: &EdgeDeltas,
        sink: &str,
        wal_seq: u64,
    ) -> Result<(), StoreError> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("db::merge_rollups", |_| Err(super::injected_failure()));
        let key = checkpoints::local_key(sink)?;
        if !key.sink.is_rollups() {
            return Err(StoreError::UnknownSink(sink.to_string()));
        }
        let mut tx = self.begin_write().await?;
        if tx.checkpoint_of(&key).await? >= wal_seq {
            return Ok(());
        }
        merge_in(&mut tx, key.writer(), deltas, edges).await?;
        tx.execute(checkpoints::record(&key, wal_seq)).await?;
        tx.commit().await
    }

    /// The components with any rollup in `[from, to)`, by name: cheaper
    /// than [`Database::component_health`] when only the names matter.
    pub async fn components_seen(&self, from: u64, to: u64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                sql("SELECT DISTINCT component FROM health_rollups WHERE minute >= $1 AND minute < $2 \
                     ORDER BY component")
                .bind(nanos(from))
                .bind(nanos(to)),
            )
            .await?;
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }

    /// Every component's rollup merged over minutes in `[from, to)`.
    pub async fn component_health(
        &self,
        from: u64,
        to: u64,
    ) -> Result<BTreeMap<String, HealthRollup>, StoreError> {
        let rows: Vec<(String, String)> = self
            .fetch_all(
                sql(
                    "SELECT component, data FROM health_rollups WHERE minute >= $1 AND minute < $2",
                )
                .bind(nanos(from))
                .bind(nanos(to)),
            )
            .await?;
        let mut out: BTreeMap<String, HealthRollup> = BTreeMap::new();
        for (component, data) in rows {
            out.entry(component).or_default().merge(&decode(&data)?);
        }
        Ok(out)
    }

    /// Each minute's rollup of the components in `[from, to)`, optionally of
    /// one component only: what sparklines and charts draw.
    pub async fn component_minutes(
        &self,
        component: Option<&str>,
        from: u64,
        to: u64,
    ) -> Result<BTreeMap<String, BTreeMap<u64, HealthRollup>>, StoreError> {
        let rows: Vec<(String, i64, String)> = self
            .fetch_all(
                sql("SELECT component, minute, data FROM health_rollups \
                     WHERE minute >= $1 AND minute < $2 AND ($3 = '' OR component = $3)")
                .bind(nanos(from))
                .bind(nanos(to))
                .bind(component.unwrap_or("")),
            )
            .await?;
        let mut out: BTreeMap<String, BTreeMap<u64, HealthRollup>> = BTreeMap::new();
        for (component, minute, data) in rows {
            out.entry(component)
                .or_default()
                .entry(minute.max(0) as u64)
                .or_default()
                .merge(&decode(&data)?);
        }
        Ok(out)
    }

    /// Every edge's traffic merged over minutes in `[from, to)`.
    pub async fn topology(
        &self,
        from: u64,
        to: u64,
    ) -> Result<BTreeMap<Edge, EdgeRollup>, StoreError> {
        let rows: Vec<(String, String, String, String, String)> = self
            .fetch_all(
                sql(
                    "SELECT source_kind, source, target_kind, target, data FROM topology_edges \
                     WHERE minute >= $1 AND minute < $2",
                )
                .bind(nanos(from))
                .bind(nanos(to)),
            )
            .await?;
        let mut out: BTreeMap<Edge, EdgeRollup> = BTreeMap::new();
        for (sk, source, tk, target, data) in rows {
            let edge = edge_of(&sk, source, &tk, target)?;
            out.entry(edge).or_default().merge(&decode_edge(&data)?);
        }
        Ok(out)
    }

    /// Deletes rollups and edge traffic of minutes before `before`; returns
    /// how many component rollups went.
    pub async fn delete_rollups_before(&self, before: u64) -> Result<u64, StoreError> {
        let before = nanos(before);
        self.execute(sql("DELETE FROM topology_edges WHERE minute < $1").bind(before))
            .await?;
        self.execute(sql("DELETE FROM health_rollups WHERE minute < $1").bind(before))
            .await
    }
}

/// One writer's row of an edge in a minute.
macro_rules! select_edge {
    () => {
        "SELECT data FROM topology_edges WHERE source_kind = $1 AND source = $2 \
         AND target_kind = $3 AND target = $4 AND minute = $5 AND writer = $6"
    };
}

/// One writer's row of a component in a minute.
macro_rules! select_rollup {
    () => {
        "SELECT data FROM health_rollups WHERE component = $1 AND minute = $2 AND writer = $3"
    };
}

/// Merges rollup and edge deltas into `writer`'s rows inside `tx`, whoever
/// records the position they cover: a single node's rollup checkpoint, or a
/// cluster partition's commit.
///
/// Each row has one writer at a time (one worker per single-node sink; one
/// partition owner, fenced by its checkpoint row), so writers never wait for
/// each other. The rows are still read `FOR UPDATE` on PostgreSQL because
/// folding (`rollup_fold.rs`) deletes them: a merge must see either the row
/// or its absence, never a row already folded.
pub(super) async fn merge_in(
    tx: &mut Tx,
    writer: i64,
    deltas: &RollupDeltas,
    edges: &EdgeDeltas,
) -> Result<(), StoreError> {
    if deltas.is_empty() && edges.is_empty() {
        return Ok(());
    }
    // Fork: SQLite's BEGIN IMMEDIATE already excludes the folder.
    let (select_edge, select_rollup) = match &*tx {
        Tx::Sqlite(_) => (select_edge!(), select_rollup!()),
        Tx::Postgres(_) => (
            concat!(select_edge!(), " FOR UPDATE"),
            concat!(select_rollup!(), " FOR UPDATE"),
        ),
    };
    for ((edge, minute), delta) in edges {
        let existing: Option<(String,)> = tx
            .fetch_optional(
                sql(select_edge)
                    .bind(edge.source_kind.as_str())
                    .bind(&edge.source)
                    .bind(edge.target_kind.as_str())
                    .bind(&edge.target)
                    .bind(nanos(*minute))
                    .bind(writer),
            )
            .await?;
        let mut merged = match existing {
            Some((text,)) => decode_edge(&text)?,
            None => EdgeRollup::default(),
        };
        merged.merge(delta);
        upsert_edge(tx, edge, *minute, writer, &merged).await?;
    }
    for ((component, minute), delta) in deltas {
        let existing: Option<(String,)> = tx
            .fetch_optional(
                sql(select_rollup)
                    .bind(component)
                    .bind(nanos(*minute))
                    .bind(writer),
            )
            .await?;
        let mut merged = match existing {
            Some((text,)) => decode(&text)?,
            None => HealthRollup::default(),
        };
        merged.merge(delta);
        upsert_rollup(tx, component, *minute, writer, &merged).await?;
    }
    Ok(())
}

/// Writes `writer`'s row of `edge` in `minute`.
pub(super) async fn upsert_edge(
    tx: &mut Tx,
    edge: &Edge,
    minute: u64,
    writer: i64,
    merged: &EdgeRollup,
) -> Result<(), StoreError> {
    tx.execute(
        sql("INSERT INTO topology_edges (source_kind, source, target_kind, target, minute, writer, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (source_kind, source, target_kind, target, minute, writer) \
             DO UPDATE SET data = excluded.data")
        .bind(edge.source_kind.as_str())
        .bind(&edge.source)
        .bind(edge.target_kind.as_str())
        .bind(&edge.target)
        .bind(nanos(minute))
        .bind(writer)
        .bind(serde_json::to_string(merged).expect("edges serialize")),
    )
    .await?;
    Ok(())
}

/// Writes `writer`'s row of `component` in `minute`.
pub(super) async fn upsert_rollup(
    tx: &mut Tx,
    component: &str,
    minute: u64,
    writer: i64,
    merged: &HealthRollup,
) -> Result<(), StoreError> {
    tx.execute(
        sql("INSERT INTO health_rollups \
             (component, minute, writer, invocations, errors, cold_starts, last_seen, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (component, minute, writer) DO UPDATE SET invocations = excluded.invocations, \
             errors = excluded.errors, cold_starts = excluded.cold_starts, last_seen = excluded.last_seen, \
             data = excluded.data")
        .bind(component)
        .bind(nanos(minute))
        .bind(writer)
        .bind(merged.invocations as i64)
        .bind(merged.errors as i64)
        .bind(merged.cold_starts as i64)
        .bind(nanos(merged.last_seen))
        .bind(encode(merged)),
    )
    .await?;
    Ok(())
}
