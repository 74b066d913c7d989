//! Cluster mode's split catalog (docs/CLUSTER.md): each sealed index split
//! recorded together with its partition's checkpoint, in one transaction.
//!
//! The checkpoint moves by compare-and-set: a split must start exactly where
//! its partition's checkpoint stands. That is the fence against an owner
//! that lost its partition without knowing: the new owner has moved the
//! checkpoint, so the old one's split is refused and nothing is indexed
//! twice or skipped.

use super::metrics::{self, SeriesCache};
use super::rollups::{self, EdgeDeltas, RollupDeltas};
use super::sql::sql;
use super::{Database, nanos};
use crate::StoreError;
use crate::checkpoint::{CheckpointKey, Sink};
use weir_core::MetricPoint;

/// A sealed split as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRecord {
    /// Its object's name.
    pub id: String,
    /// The index it belongs to: spans or logs.
    pub sink: Sink,
    /// Its partition.
    pub partition: u32,
    /// The event-log positions it holds: after `seq_from`, through `seq_to`.
    pub seq_from: u64,
    /// See `seq_from`.
    pub seq_to: u64,
    /// Earliest event time in it, Unix nanoseconds.
    pub time_min: u64,
    /// Latest event time in it.
    pub time_max: u64,
    /// Its object's size.
    pub bytes: u64,
    /// Documents in it.
    pub documents: u64,
    /// A filter of its trace ids and correlation keys.
    pub filter: Vec<u8>,
}

type SplitRow = (String, String, i64, i64, i64, i64, i64, i64, i64, Vec<u8>);

/// The columns a [`SplitRow`] reads, in its order.
macro_rules! split_columns {
    () => {
        "split_id, sink, partition, seq_from, seq_to, time_min, time_max, bytes, documents, filter"
    };
}

fn split_record(row: SplitRow) -> Result<SplitRecord, StoreError> {
    let (id, sink, partition, seq_from, seq_to, time_min, time_max, bytes, documents, filter) = row;
    Ok(SplitRecord {
        id,
        sink: Sink::parse(&sink).ok_or(StoreError::UnknownSink(sink))?,
        partition: partition as u32,
        seq_from: seq_from as u64,
        seq_to: seq_to as u64,
        time_min: time_min as u64,
        time_max: time_max as u64,
        bytes: bytes as u64,
        documents: documents as u64,
        filter,
    })
}

/// Everything one partition's owner commits for a stretch of the event log,
/// in one transaction with the move of its checkpoint: a sealed split (span
/// and log partitions) or metric points, and the rollup and topology deltas
/// built from the same records.
#[derive(Debug)]
pub struct PartitionCommit<'a> {
    /// Whose checkpoint moves: the signal's sink and the partition.
    pub key: CheckpointKey,
    /// Where the checkpoint must stand now (the last commit's `seq_to`).
    pub seq_from: u64,
    /// Where it stands after: the last event-log position covered.
    pub seq_to: u64,
    /// The split sealed from these positions, if the signal is indexed.
    pub split: Option<&'a SplitRecord>,
    /// The metric points of these positions.
    pub points: &'a [MetricPoint],
    /// Health rollup deltas of these positions.
    pub deltas: &'a RollupDeltas,
    /// Topology edge deltas of these positions.
    pub edges: &'a EdgeDeltas,
}

impl Database {
    /// Records `split` and moves its partition's checkpoint from
    /// `split.seq_from` to `split.seq_to`, both or neither. Refuses with
    /// [`StoreError::CheckpointMoved`] when the checkpoint is elsewhere.
    pub async fn publish_split(&self, split: &SplitRecord, now: u64) -> Result<(), StoreError> {
        let key = CheckpointKey {
            sink: split.sink,
            partition: split.partition,
        };
        self.commit_partition(
            &PartitionCommit {
                key,
                seq_from: split.seq_from,
                seq_to: split.seq_to,
                split: Some(split),
                points: &[],
                deltas: &RollupDeltas::new(),
                edges: &EdgeDeltas::new(),
            },
            &mut SeriesCache::default(),
            now,
        )
        .await
    }

    /// Commits what `commit` holds and moves its checkpoint by
    /// compare-and-set from `seq_from` to `seq_to`, all or nothing. Refuses
    /// with [`StoreError::CheckpointMoved`] when the checkpoint is elsewhere:
    /// another node owns the partition now, or this one already committed.
    pub async fn commit_partition(
        &self,
        commit: &PartitionCommit<'_>,
        series: &mut SeriesCache,
        now: u64,
    ) -> Result<(), StoreError> {
        let key = commit.key;
        let mut tx = self.begin_write().await?;
        tx.execute(
            sql(
                "INSERT INTO wal_checkpoints (sink, partition, seq) VALUES ($1, $2, 0) \
                 ON CONFLICT (sink, partition) DO NOTHING",
            )
            .bind(key.sink.as_str())
            .bind(i64::from(key.partition)),
        )
        .await?;
        // On PostgreSQL a concurrent publisher waits for this row's lock and
        // then finds the checkpoint moved.
        let moved = tx
            .execute(
                sql("UPDATE wal_checkpoints SET seq = $3 \
                     WHERE sink = $1 AND partition = $2 AND seq = $4")
                .bind(key.sink.as_str())
                .bind(i64::from(key.partition))
                .bind(commit.seq_to as i64)
                .bind(commit.seq_from as i64),
            )
            .await?;
        if moved != 1 {
            let found = tx.checkpoint_of(&key).await?;
            return Err(StoreError::CheckpointMoved {
                partition: key.partition,
                expected: commit.seq_from,
                found,
            });
        }
        if let Some(split) = commit.split {
            tx.execute(insert_split(split, now)).await?;
        }
        let new_series = metrics::insert_in(&mut tx, commit.points, series).await?;
        rollups::merge_in(&mut tx, key.writer(), commit.deltas, commit.edges).await?;
        tx.commit().await?;
        series.remember(new_series);
        Ok(())
    }

    /// Whether the catalog lists split `id`.
    pub async fn split_listed(&self, id: &str) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional(sql("SELECT COUNT(*) FROM splits WHERE split_id = $1").bind(id))
            .await?;
        Ok(row.is_some_and(|(n,)| n > 0))
    }

    /// Swaps the splits `replaced` for `merged` in one transaction; false
    /// (and nothing changed) when one of them is no longer listed, because
    /// another merge or retention got there first.
    pub async fn replace_splits(
        &self,
        replaced: &[String],
        merged: &SplitRecord,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        for id in replaced {
            let gone = tx
                .execute(sql("DELETE FROM splits WHERE split_id = $1").bind(id.as_str()))
                .await?;
            if gone != 1 {
                return Ok(false);
            }
        }
        tx.execute(insert_split(merged, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes from the catalog every split of `sink` whose newest event is
    /// older than `before`; returns them, for their objects to be deleted.
    pub async fn delete_splits_before(
        &self,
        sink: Sink,
        before: u64,
    ) -> Result<Vec<SplitRecord>, StoreError> {
        let doomed = self
            .splits_covering(sink, 0, before.saturating_sub(1))
            .await?;
        let doomed: Vec<SplitRecord> = doomed.into_iter().filter(|s| s.time_max < before).collect();
        let mut tx = self.begin_write().await?;
        for split in &doomed {
            tx.execute(sql("DELETE FROM splits WHERE split_id = $1").bind(split.id.as_str()))
                .await?;
        }
        tx.commit().await?;
        Ok(doomed)
    }

    /// The splits of `sink` holding events in `[from, to]`, oldest first.
    pub async fn splits_covering(
        &self,
        sink: Sink,
        from: u64,
        to: u64,
    ) -> Result<Vec<SplitRecord>, StoreError> {
        let rows: Vec<SplitRow> = self
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    split_columns!(),
                    " FROM splits WHERE sink = $1 AND time_max >= $2 AND time_min <= $3 \
                     ORDER BY time_min, split_id"
                ))
                .bind(sink.as_str())
                .bind(nanos(from))
                .bind(nanos(to)),
            )
            .await?;
        rows.into_iter().map(split_record).collect()
    }

    /// Every split of one partition of `sink`, oldest first: what its
    /// owner's merges choose from.
    pub async fn splits_of_partition(
        &self,
        sink: Sink,
        partition: u32,
    ) -> Result<Vec<SplitRecord>, StoreError> {
        let rows: Vec<SplitRow> = self
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    split_columns!(),
                    " FROM splits WHERE sink = $1 AND partition = $2 ORDER BY time_min, split_id"
                ))
                .bind(sink.as_str())
                .bind(i64::from(partition)),
            )
            .await?;
        rows.into_iter().map(split_record).collect()
    }
}

fn insert_split(split: &SplitRecord, now: u64) -> super::sql::Sql<'_> {
    sql(
        "INSERT INTO splits (split_id, sink, partition, seq_from, seq_to, time_min, \
         time_max, bytes, documents, filter, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(split.id.as_str())
    .bind(split.sink.as_str())
    .bind(i64::from(split.partition))
    .bind(split.seq_from as i64)
    .bind(split.seq_to as i64)
    .bind(split.time_min as i64)
    .bind(split.time_max as i64)
    .bind(split.bytes as i64)
    .bind(split.documents as i64)
    .bind(split.filter.as_slice())
    .bind(now as i64)
}
