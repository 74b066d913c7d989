//! A cluster node's background work: hold a fair share of the partitions
//! (PostgreSQL session advisory locks), run one indexing loop per owned
//! (partition, signal), and keep the local split cache in line with the
//! catalog. What the binary starts when weir.toml has a `[cluster]` section.

use crate::backlog::IndexingBacklog;
use crate::config::ClusterConfig;
use crate::indexer;
use crate::indexing::Indexing;
use crate::objects;
use crate::publish::{ConnectError, Publisher};
use crate::split_cache::SplitCache;
use crate::telemetry::ClusterTelemetry;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_collector::otlp::SignalKind;
use weir_collector::otlp::partition::Partition;
use weir_core::accumulator::InvocationIndex;
use weir_store::index::WriterBudget;
use weir_store::ownership::PartitionOwnership;
use weir_store::{Store, StoreError};

/// How often a node counts the live nodes and takes or gives partitions:
/// a dead node's partitions are taken over within about this long.
const REBALANCE: Duration = Duration::from_secs(2);
/// How often a node records its heartbeat and reads the others': how soon
/// every node knows that a partition's indexing lags.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How often the split cache asks the catalog for new splits.
const CACHE_SYNC: Duration = Duration::from_millis(500);

/// What the node needs from the rest of weir's configuration.
pub struct NodeSettings {
    /// `[cluster]`.
    pub cluster: ClusterConfig,
    /// `database.url` (PostgreSQL).
    pub database_url: String,
    /// The data directory: split builders and, by default, the cache.
    pub data_dir: PathBuf,
    /// How often a split is sealed.
    pub commit_interval: Duration,
    /// Indexing heap of all split builders together, bytes.
    pub index_heap_bytes: usize,
    /// Metric names that are lag series.
    pub lag_metrics: Vec<String>,
    /// Whether rollups are built.
    pub rollups: bool,
    /// How long spans and log records are kept, and how often retention runs.
    pub retention: SplitRetention,
}

/// `[retention]` as it applies to splits.
#[derive(Debug, Clone, Copy)]
pub struct SplitRetention {
    /// How long spans are kept.
    pub spans: Duration,
    /// How long log records are kept.
    pub logs: Duration,
    /// How often retention runs.
    pub every: Duration,
}

/// The node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// JetStream could not be reached or set up.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The object store could not be set up.
    #[error(transparent)]
    Objects(#[from] objects::ObjectStoreError),
    /// PostgreSQL refused the node (or another node has its id).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A running node.
pub struct Node {
    /// Where exports are published (the ingest path's durability point).
    pub publisher: Arc<Publisher>,
    /// Its counters.
    pub telemetry: Arc<ClusterTelemetry>,
    /// Whether this node holds the rule leadership now.
    pub leader: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Connects to the three engines, joins the cluster and starts the
    /// background work. Fails, with what to fix, when an engine is
    /// unreachable or another live node has this node's id.
    pub async fn start(settings: NodeSettings, store: Arc<Store>) -> Result<Node, NodeError> {
        let cluster = &settings.cluster;
        let backlog = Arc::new(IndexingBacklog::new(cluster.max_indexing_lag));
        let publisher = Arc::new(
            Publisher::connect(
                &cluster.nats_urls,
                &cluster.stream_settings(),
                cluster.partitions,
                cluster.ack_timeout,
            )
            .await?
            .refusing_behind(backlog.clone()),
        );
        let objects = objects::open(&cluster.object_store)?;
        let ownership = PartitionOwnership::join(
            &settings.database_url,
            cluster.node_key(),
            cluster.partitions,
        )
        .await?;
        let telemetry = Arc::new(ClusterTelemetry::default());
        let cache_dir = if cluster.cache_dir.as_os_str().is_empty() {
            settings.data_dir.join("split-cache")
        } else {
            cluster.cache_dir.clone()
        };
        let cache = Arc::new(SplitCache::open(
            &cache_dir,
            cluster.cache_max_bytes,
            objects.clone(),
            store.clone(),
            telemetry.clone(),
        )?);
        store.fetch_splits_from(cache.clone());
        let work_dir = settings.data_dir.join("split-build");
        if work_dir.exists() {
            std::fs::remove_dir_all(&work_dir).map_err(|e| StoreError::io(&work_dir, e))?;
        }
        std::fs::create_dir_all(&work_dir).map_err(|e| StoreError::io(&work_dir, e))?;
        let builders = (cluster.partitions as usize * 2).max(1);
        let indexing = Arc::new(Indexing {
            jetstream: publisher.jetstream().clone(),
            stream: cluster.stream.name.clone(),
            db: store.db.clone(),
            objects,
            work_dir,
            node_id: cluster.node_id.trim().to_string(),
            commit_interval: settings.commit_interval,
            max_split_records: 1_000_000,
            budget: WriterBudget {
                threads: 1,
                // tantivy needs at least 15 MB per writer; its arena grows
                // only as documents arrive.
                heap_bytes: (settings.index_heap_bytes / builders).max(16 << 20),
            },
            invocations: Arc::new(InvocationIndex::default()),
            lag_metrics: Arc::new(settings.lag_metrics.iter().cloned().collect()),
            rollups: settings.rollups,
            partitions: cluster.partitions,
            telemetry: telemetry.clone(),
            backlog,
            cache: Some(cache.clone()),
            delete_grace: cluster.delete_grace,
        });
        let (stop, stopped) = watch::channel(false);
        let (leading, leader) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(hold_partitions(
                ownership,
                Session {
                    database_url: settings.database_url.clone(),
                    node_key: cluster.node_key(),
                    partitions: cluster.partitions,
                },
                indexing.clone(),
                leading,
                stopped.clone(),
            )),
            tokio::spawn(keep_cache(cache, stopped.clone())),
            tokio::spawn(keep_heartbeat(indexing.clone(), stopped.clone())),
            tokio::spawn(enforce_split_retention(
                store.db.clone(),
                indexing.objects.clone(),
                settings.retention,
                cluster.delete_grace,
                leader.clone(),
                stopped.clone(),
            )),
            tokio::spawn(sweep_orphans(
                store.db.clone(),
                indexing.objects.clone(),
                telemetry.clone(),
                (cluster.orphan_age, cluster.delete_grace),
                leader.clone(),
                stopped,
            )),
        ];
        tracing::info!(node = %cluster.node_id, partitions = cluster.partitions, "joined the cluster");
        Ok(Node {
            publisher,
            telemetry,
            leader,
            stop,
            tasks,
        })
    }

    /// What `/readyz` and `/metrics` read of the node.
    pub fn probe(&self) -> NodeProbe {
        NodeProbe {
            publisher: self.publisher.clone(),
            telemetry: self.telemetry.clone(),
        }
    }

    /// Stops the background work: unsealed records stay in JetStream for
    /// the partitions' next owner.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// A running node, as probes see it.
#[derive(Clone)]
pub struct NodeProbe {
    publisher: Arc<Publisher>,
    /// Its counters.
    pub telemetry: Arc<ClusterTelemetry>,
}

impl NodeProbe {
    /// Why the node is not ready, if it is not: it must hold its
    /// connection to NATS and its ownership session with PostgreSQL.
    pub fn not_ready(&self) -> Option<&'static str> {
        if !self.publisher.connected() {
            return Some("not connected to NATS (cluster.nats_urls)");
        }
        if !self
            .telemetry
            .session
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Some("no ownership session with PostgreSQL yet");
        }
        None
    }
}

/// One indexing loop per owned (partition, signal).
struct Running {
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

/// How to open the ownership session again.
struct Session {
    database_url: String,
    node_key: i32,
    partitions: u32,
}

/// Takes and gives partitions every [`REBALANCE`], keeps one indexing loop
/// running per owned (partition, signal), and takes the rule leadership
/// when it is free. When PostgreSQL loses the session the locks are gone:
/// every loop stops, leadership is given up, and the node joins again.
async fn hold_partitions(
    ownership: PartitionOwnership,
    session: Session,
    indexing: Arc<Indexing>,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ownership = Some(ownership);
    let mut running: BTreeMap<Partition, Running> = BTreeMap::new();
    loop {
        if ownership.is_none() {
            match PartitionOwnership::join(
                &session.database_url,
                session.node_key,
                session.partitions,
            )
            .await
            {
                Ok(o) => ownership = Some(o),
                Err(e) => tracing::warn!(error = %e, "cannot rejoin the cluster; trying again"),
            }
        }
        if let Some(held) = ownership.as_mut() {
            match round(held, &mut running, &indexing).await {
                Ok(now_leading) => {
                    leading.send_if_modified(|l| std::mem::replace(l, now_leading) != now_leading);
                    indexing
                        .telemetry
                        .set_owned(held.owned().iter().copied().collect());
                    indexing
                        .telemetry
                        .leader
                        .store(now_leading, std::sync::atomic::Ordering::Relaxed);
                    indexing
                        .telemetry
                        .session
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the ownership session; stopping every partition and joining again");
                    leading.send_replace(false);
                    indexing.telemetry.set_owned(Vec::new());
                    indexing
                        .telemetry
                        .session
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    for (p, r) in std::mem::take(&mut running) {
                        stop_partition(r, &indexing, p).await;
                    }
                    ownership = None;
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(REBALANCE) => {}
        }
    }
    leading.send_replace(false);
    for (p, r) in running {
        stop_partition(r, &indexing, p).await;
    }
    if let Some(held) = ownership {
        let _ = held.leave().await;
    }
}

/// One round on a live session: rebalance, one indexing loop per owned
/// (partition, signal) — a loop that ended is started again from its
/// checkpoint — and the rule leadership if it is free. Returns whether this
/// node leads.
async fn round(
    held: &mut PartitionOwnership,
    running: &mut BTreeMap<Partition, Running>,
    indexing: &Arc<Indexing>,
) -> Result<bool, StoreError> {
    held.rebalance().await?;
    let owned: HashSet<Partition> = held.owned().iter().copied().collect();
    let gone: Vec<Partition> = running
        .keys()
        .filter(|p| !owned.contains(p))
        .copied()
        .collect();
    for p in gone {
        stop_partition(running.remove(&p).expect("listed"), indexing, p).await;
    }
    for p in owned {
        let ended = running
            .get(&p)
            .is_some_and(|r| r.loops.iter().any(|l| l.is_finished()));
        if ended {
            stop_partition(running.remove(&p).expect("listed"), indexing, p).await;
        }
        running
            .entry(p)
            .or_insert_with(|| start_partition(indexing, p));
    }
    held.lead().await
}

/// Every [`HEARTBEAT`], tells the catalog what this node owns and how far
/// behind it is (for `GET /api/v1/cluster` on any node), and reads what the
/// other nodes said, for backpressure ([`crate::backlog`]).
async fn keep_heartbeat(indexing: Arc<Indexing>, mut stop: watch::Receiver<bool>) {
    let started_at = weir_core::now_unix_nanos();
    loop {
        let telemetry = &indexing.telemetry;
        let row = weir_store::db::NodeRow {
            node_id: indexing.node_id.clone(),
            started_at,
            seen_at: weir_core::now_unix_nanos(),
            status: weir_store::db::NodeStatus {
                lag: telemetry
                    .lag()
                    .into_iter()
                    .map(|((signal, partition), n)| (signal.to_string(), partition, n))
                    .collect(),
                behind_ms: indexing.backlog.own(),
                partitions: telemetry.owned(),
                leader: telemetry.leader.load(std::sync::atomic::Ordering::Relaxed),
            },
        };
        if let Err(e) = indexing.db.heartbeat(&row).await {
            tracing::warn!(error = %e, "cannot record this node's heartbeat");
        }
        let now = weir_core::now_unix_nanos();
        match indexing
            .db
            .cluster_nodes(now.saturating_sub(crate::backlog::FRESH.as_nanos() as u64))
            .await
        {
            Ok(rows) => indexing.backlog.learn(&indexing.node_id, &rows, now),
            Err(e) => tracing::warn!(error = %e, "cannot read the other nodes' heartbeats"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

fn start_partition(indexing: &Arc<Indexing>, partition: Partition) -> Running {
    let (stop, stopped) = watch::channel(false);
    let loops = SignalKind::ALL
        .into_iter()
        .map(|signal| {
            let (ctx, stopped) = (indexing.clone(), stopped.clone());
            tokio::spawn(async move {
                if let Err(e) = indexer::run(ctx.clone(), signal, partition, stopped).await {
                    tracing::warn!(signal = signal.as_str(), partition, error = %e, "indexing stopped; it starts again from the checkpoint");
                }
                ctx.backlog.forget(signal, partition);
            })
        })
        .collect();
    Running { stop, loops }
}

async fn stop_partition(running: Running, indexing: &Indexing, partition: Partition) {
    let _ = running.stop.send(true);
    for l in running.loops {
        let _ = l.await;
    }
    indexing.telemetry.forget(partition);
}

/// Polls the catalog into the split cache until stopped.
async fn keep_cache(cache: Arc<SplitCache>, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = cache.sync().await {
            tracing::warn!(error = %e, "cannot bring the split cache up to date; trying again");
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(CACHE_SYNC) => {}
        }
    }
}

/// On the rule leader, deletes objects the catalog does not list
/// (`orphans.rs`), a pass every quarter of `orphan_age` (at most 10 min).
async fn sweep_orphans(
    db: weir_store::db::Database,
    objects: Arc<dyn object_store::ObjectStore>,
    telemetry: Arc<ClusterTelemetry>,
    (orphan_age, grace): (Duration, Duration),
    leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let every = (orphan_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut watch = crate::orphans::OrphanWatch::default();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
        if !*leader.borrow() {
            // A new leader waits the grace period afresh.
            watch = Default::default();
            continue;
        }
        match crate::orphans::sweep(&db, &objects, &mut watch, orphan_age, grace).await {
            Ok(0) => {}
            Ok(deleted) => {
                telemetry
                    .orphans_deleted
                    .fetch_add(deleted as u64, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(deleted, "deleted objects the catalog does not list");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot sweep orphaned objects; trying again later")
            }
        }
    }
}

/// On the rule leader (one node is enough), removes splits older than
/// retention: from the catalog first, so no query lists them, then their
/// objects after a grace period for queries already reading them.
async fn enforce_split_retention(
    db: weir_store::db::Database,
    objects: Arc<dyn object_store::ObjectStore>,
    retention: SplitRetention,
    grace: Duration,
    leader: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *leader.borrow() {
            let now = weir_core::now_unix_nanos();
            for (sink, keep) in [
                (weir_store::checkpoint::Sink::Spans, retention.spans),
                (weir_store::checkpoint::Sink::Logs, retention.logs),
            ] {
                let before = now.saturating_sub(keep.as_nanos() as u64);
                match db.delete_splits_before(sink, before).await {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(
                            sink = sink.as_str(),
                            splits = removed.len(),
                            "retention removed old splits"
                        );
                        let ids = removed.into_iter().map(|s| s.id).collect();
                        crate::objects::delete_after(objects.clone(), ids, grace);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "split retention failed; will try again"),
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(retention.every) => {}
        }
    }
}
