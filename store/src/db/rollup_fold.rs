//! Folding: once a minute is over, the rows every writer kept for it
//! (`rollups.rs`) become one row, so a day of rollups reads one row per
//! component and minute however many partitions wrote them.

use super::rollups::{self, EdgeDeltas, RollupDeltas, decode, decode_edge, edge_of};
use super::sql::{Tx, sql};
use super::{Database, nanos};
use crate::StoreError;

/// The writer of folded rows; every writer key is ≥ 0.
pub(super) const FOLDED: i64 = -1;

/// Taken for a pass's transaction, so two nodes never fold at once.
const FOLD_LOCK: i64 = 7_467_002;

/// What one fold pass moved into folded rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// Writers' component rows folded.
    pub rollup_rows: u64,
    /// Writers' edge rows folded.
    pub edge_rows: u64,
}

type EdgeRow = (String, String, String, String, i64, String);

impl Database {
    /// Folds every writer's rows of minutes before `before` into one row per
    /// component or edge and minute. Safe beside writers: rows are taken by
    /// `DELETE … RETURNING`, so each is folded exactly once, and a writer
    /// that comes back to such a minute starts a row of its own, folded by a
    /// later pass. Folds nothing while another node is folding.
    pub async fn fold_rollups(&self, before: u64) -> Result<Folded, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Tx::Postgres(_) = tx {
            let ours: Option<(bool,)> = tx
                .fetch_optional(sql("SELECT pg_try_advisory_xact_lock($1)").bind(FOLD_LOCK))
                .await?;
            if ours != Some((true,)) {
                return Ok(Folded::default());
            }
            // A late writer can hold a row of an old minute while waiting
            // for another this pass holds; the pass gives way (and is retried
            // later) long before PostgreSQL would pick a deadlock victim.
            tx.execute(sql("SET LOCAL lock_timeout = '200ms'")).await?;
        }
        let edge_rows: Vec<EdgeRow> = tx
            .fetch_all(
                sql(
                    "DELETE FROM topology_edges WHERE minute < $1 AND writer <> $2 \
                     RETURNING source_kind, source, target_kind, target, minute, data",
                )
                .bind(nanos(before))
                .bind(FOLDED),
            )
            .await?;
        let rollup_rows: Vec<(String, i64, String)> = tx
            .fetch_all(
                sql(
                    "DELETE FROM health_rollups WHERE minute < $1 AND writer <> $2 \
                     RETURNING component, minute, data",
                )
                .bind(nanos(before))
                .bind(FOLDED),
            )
            .await?;
        let folded = Folded {
            rollup_rows: rollup_rows.len() as u64,
            edge_rows: edge_rows.len() as u64,
        };
        let mut edges = EdgeDeltas::new();
        for (sk, source, tk, target, minute, data) in edge_rows {
            let edge = edge_of(&sk, source, &tk, target)?;
            edges
                .entry((edge, minute.max(0) as u64))
                .or_default()
                .merge(&decode_edge(&data)?);
        }
        let mut deltas = RollupDeltas::new();
        for (component, minute, data) in rollup_rows {
            deltas
                .entry((component, minute.max(0) as u64))
                .or_default()
                .merge(&decode(&data)?);
        }
        // Only a pass holding FOLD_LOCK writes folded rows.
        rollups::merge_in(&mut tx, FOLDED, &deltas, &edges).await?;
        tx.commit().await?;
        Ok(folded)
    }
}
