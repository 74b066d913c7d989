//! What a node's indexing loops and merges share: the engines, the node's
//! settings and counters, and how a loop can end.

use crate::backlog::IndexingBacklog;
use crate::split_cache::SplitCache;
use crate::telemetry::ClusterTelemetry;
use async_nats::jetstream;
use object_store::ObjectStore;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use weir_collector::otlp::partition::Partition;
use weir_core::accumulator::InvocationIndex;
use weir_store::StoreError;
use weir_store::db::Database;
use weir_store::index::WriterBudget;

/// What every partition loop of a node shares.
pub struct Indexing {
    /// The event log.
    pub jetstream: jetstream::Context,
    /// Its stream's name.
    pub stream: String,
    /// The metastore.
    pub db: Database,
    /// Where splits go.
    pub objects: Arc<dyn ObjectStore>,
    /// Where split builders keep their index while it grows.
    pub work_dir: PathBuf,
    /// This node's id, part of each split's name.
    pub node_id: String,
    /// How often a split is sealed (how soon data is searchable).
    pub commit_interval: Duration,
    /// Records at which a split is sealed early.
    pub max_split_records: u64,
    /// Indexing threads and heap of one split builder.
    pub budget: WriterBudget,
    /// Shared with every accumulator of the node.
    pub invocations: Arc<InvocationIndex>,
    /// Metric names that are lag series.
    pub lag_metrics: Arc<HashSet<String>>,
    /// Whether rollups are built.
    pub rollups: bool,
    /// The cluster's partition count: whose links a partition resolves.
    pub partitions: u32,
    /// Counters for `/metrics`.
    pub telemetry: Arc<ClusterTelemetry>,
    /// How far behind each loop reads, for backpressure.
    pub backlog: Arc<IndexingBacklog>,
    /// How long replaced objects stay readable.
    pub delete_grace: Duration,
    /// This node's split cache: told of every split this node committed
    /// or merged, with its bytes, so its own queries need not download it.
    pub cache: Option<Arc<SplitCache>>,
}

/// Why a partition loop ended.
#[derive(Debug, thiserror::Error)]
pub enum IndexingError {
    /// Another node moved the checkpoint: this node no longer owns the partition.
    #[error("partition {0} is owned by another node now")]
    Lost(Partition),
    /// The event log could not be read.
    #[error("cannot read partition {partition} from JetStream: {cause}")]
    Consume {
        /// The partition.
        partition: Partition,
        /// Why.
        cause: String,
    },
    /// The metastore or the split's index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed.
    #[error("{0}")]
    Objects(String),
}
