//! The single node's checkpoint catalog: the indexes' last commits and the
//! database's `wal_checkpoints` rows behind [`CheckpointCatalog`].

use crate::StoreError;
use crate::checkpoint::{CheckpointCatalog, CheckpointKey, Sink};
use crate::db::Database;
use crate::index::SignalIndex;
use std::sync::Arc;

/// The single node's catalog: span and log positions from the indexes' last
/// commits, the others from the database.
#[derive(Clone)]
pub struct LocalCatalog {
    spans: Arc<SignalIndex>,
    logs: Arc<SignalIndex>,
    db: Database,
}

impl LocalCatalog {
    /// A catalog over these indexes and this database.
    pub fn new(spans: Arc<SignalIndex>, logs: Arc<SignalIndex>, db: Database) -> Self {
        LocalCatalog { spans, logs, db }
    }
}

impl CheckpointCatalog for LocalCatalog {
    async fn committed(&self, key: &CheckpointKey) -> Result<u64, StoreError> {
        let index = match key.sink {
            Sink::Spans => &self.spans,
            Sink::Logs => &self.logs,
            _ => return self.db.checkpoint_of(key).await,
        };
        // A local index holds partition 0 only: it has committed nothing of
        // any other partition.
        Ok(if key.partition == 0 {
            index.committed_seq()
        } else {
            0
        })
    }
}
