//! A node's cluster counters, for `/metrics` and `GET /api/v1/cluster`.

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use weir_collector::otlp::SignalKind;
use weir_collector::otlp::partition::Partition;
use weir_collector::telemetry::{counters, gauges};

/// Counters of the indexing loops and the split cache.
#[derive(Debug, Default)]
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
    /// Objects the catalog did not list, deleted by the sweep.
    pub orphans_deleted: AtomicU64,
    /// Splits found in the local cache.
    pub cache_hits: AtomicU64,
    /// Splits downloaded into it.
    pub cache_misses: AtomicU64,
    /// Bytes the cache holds.
    pub cache_bytes: AtomicU64,
    /// Messages JetStream still holds for this node's consumers, per
    /// (signal, partition), as of each one's last delivery.
    lag: Mutex<BTreeMap<(&'static str, Partition), u64>>,
    /// The partitions this node owns.
    owned: Mutex<Vec<Partition>>,
    /// Whether it evaluates the rules.
    pub leader: std::sync::atomic::AtomicBool,
    /// Whether its ownership session with PostgreSQL is up.
    pub session: std::sync::atomic::AtomicBool,
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

    /// Records the partitions this node owns now.
    pub fn set_owned(&self, partitions: Vec<Partition>) {
        *self.owned.lock() = partitions;
    }

    /// The partitions this node owns.
    pub fn owned(&self) -> Vec<Partition> {
        self.owned.lock().clone()
    }

    /// Pending messages per (signal, partition).
    pub fn lag(&self) -> BTreeMap<(&'static str, Partition), u64> {
        self.lag.lock().clone()
    }
}

impl Collector for ClusterTelemetry {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let owned = self.owned();
        gauges(
            &mut e,
            "weir_cluster_owned_partitions",
            "Partitions of the event log this node owns (and indexes).",
            [(vec![], owned.len() as u64)],
        )?;
        gauges(
            &mut e,
            "weir_cluster_rule_leader",
            "Whether this node evaluates the alert rules.",
            [(vec![], u64::from(self.leader.load(Ordering::Relaxed)))],
        )?;
        let lag = self.lag();
        let partitions: Vec<String> = lag.keys().map(|(_, p)| p.to_string()).collect();
        gauges(
            &mut e,
            "weir_cluster_consumer_pending",
            "Messages JetStream holds that this node's consumer of a partition has still to read.",
            lag.iter().zip(&partitions).map(|(((signal, _), n), p)| {
                (vec![("signal", *signal), ("partition", p.as_str())], *n)
            }),
        )?;
        for (name, help, n) in [
            (
                "weir_cluster_split_uploads",
                "Splits uploaded to the object store.",
                &self.splits_uploaded,
            ),
            (
                "weir_cluster_split_upload_bytes",
                "Bytes of splits uploaded.",
                &self.split_bytes_uploaded,
            ),
            (
                "weir_cluster_split_upload_failures",
                "Split uploads that failed and were tried again.",
                &self.upload_failures,
            ),
            (
                "weir_cluster_commits",
                "Partition commits (split or points, checkpoint, rollups) recorded.",
                &self.splits_committed,
            ),
            (
                "weir_cluster_commit_failures",
                "Partition commits that failed and were tried again.",
                &self.commit_failures,
            ),
            (
                "weir_cluster_merges",
                "Split merges committed.",
                &self.merges,
            ),
            (
                "weir_cluster_orphaned_objects_deleted",
                "Objects the catalog did not list, deleted by the leader's sweep.",
                &self.orphans_deleted,
            ),
            (
                "weir_cluster_cache_hits",
                "Listed splits found in the local cache.",
                &self.cache_hits,
            ),
            (
                "weir_cluster_cache_misses",
                "Listed splits fetched into the local cache.",
                &self.cache_misses,
            ),
        ] {
            counters(&mut e, name, help, [(vec![], count(n))])?;
        }
        gauges(
            &mut e,
            "weir_cluster_cache_bytes",
            "Bytes of splits the local cache holds.",
            [(vec![], count(&self.cache_bytes))],
        )?;
        Ok(())
    }
}
