//! A node's cluster counters, for `/metrics` and `GET /api/v1/cluster`.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use weir_collector::otlp::SignalKind;
use weir_collector::otlp::partition::Partition;

/// Counters of the indexing loops and the split cache.
#[derive(Default)]
pub struct ClusterTelemetry {
    /// Splits uploaded to the object store.
    pub splits_uploaded: AtomicU64,
    /// Their bytes.
    pub split_bytes_uploaded: AtomicU64,
    /// Uploads that failed (and were tried again).
    pub upload_failures: AtomicU64,
    /// Partition commits recorded in the catalog.
    pub splits_committed: AtomicU64,
    /// Partition commits that failed (and were tried again).
    pub commit_failures: AtomicU64,
    /// Merges committed.
    pub merges: AtomicU64,
    /// Splits found in the local cache.
    pub cache_hits: AtomicU64,
    /// Splits downloaded into it.
    pub cache_misses: AtomicU64,
    /// Bytes the cache holds.
    pub cache_bytes: AtomicU64,
    /// Messages JetStream still holds for this node's consumers, per
    /// (signal, partition), as of each one's last delivery.
    lag: Mutex<BTreeMap<(&'static str, Partition), u64>>,
}

impl ClusterTelemetry {
    /// Records a consumer's pending count.
    pub fn set_lag(&self, signal: SignalKind, partition: Partition, pending: u64) {
        self.lag
            .lock()
            .insert((signal.as_str(), partition), pending);
    }

    /// Forgets a partition this node gave up.
    pub fn forget(&self, partition: Partition) {
        self.lag.lock().retain(|(_, p), _| *p != partition);
    }

    /// Pending messages per (signal, partition).
    pub fn lag(&self) -> BTreeMap<(&'static str, Partition), u64> {
        self.lag.lock().clone()
    }
}
