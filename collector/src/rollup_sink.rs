//! The rollup side of a storage worker: feeds each record to core's health
//! accumulator and merges its deltas into the database with the log position
//! they cover, in one transaction, so a replay never counts twice.

use crate::event_log::Position;
use crate::otlp::SignalKind;
use weir_core::accumulator::HealthAccumulator;
use weir_store::LocalCatalog;
use weir_store::checkpoint::{CheckpointCatalog, CheckpointKey, Sink};
use weir_store::db::Database;

/// One worker's rollups since their last durable merge.
pub(crate) struct RollupSink {
    /// Deltas since the last durable merge.
    pub(crate) accumulator: HealthAccumulator,
    db: Database,
    catalog: LocalCatalog,
    /// The checkpoint these rollups record.
    checkpoint: Sink,
    /// Off only to measure what rollups cost.
    pub(crate) enabled: bool,
}

impl RollupSink {
    /// The rollups built from `signal`'s records.
    pub(crate) fn new(
        accumulator: HealthAccumulator,
        db: Database,
        catalog: LocalCatalog,
        signal: SignalKind,
        enabled: bool,
    ) -> Self {
        RollupSink {
            accumulator,
            db,
            catalog,
            checkpoint: signal.rollups_sink(),
            enabled,
        }
    }

    /// Merges the deltas, recording `position`; on success they are cleared.
    /// An error after COMMIT was sent may still have committed, so a failure
    /// asks the checkpoint before reporting one.
    pub(crate) fn commit(
        &mut self,
        position: Position,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), String> {
        let merged = runtime.block_on(self.db.merge_rollups(
            &self.accumulator.deltas,
            &self.accumulator.edges,
            self.checkpoint.as_str(),
            position,
        ));
        if let Err(e) = merged {
            let key = CheckpointKey::local(self.checkpoint);
            match runtime.block_on(self.catalog.committed(&key)) {
                Ok(durable) if durable >= position => {}
                _ => return Err(format!("rollup commit failed: {e}")),
            }
        }
        self.accumulator.deltas.clear();
        self.accumulator.edges.clear();
        Ok(())
    }
}
