//! The query side of cluster mode: every split the catalog lists is
//! fetched into a bounded local directory and attached to the node's span
//! or log index, so every read route (search, trace, correlate) runs over
//! all nodes' data exactly as over a single node's.
//!
//! The catalog is polled; a split that left it (retention, a merge) is
//! detached and its files deleted. Past the size cap the splits with the
//! oldest events go first.

use crate::telemetry::ClusterTelemetry;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use weir_store::checkpoint::Sink;
use weir_store::db::SplitRecord;
use weir_store::index::SignalIndex;
use weir_store::{Store, StoreError};

/// A split held in the cache.
struct Cached {
    dir: PathBuf,
    sink: Sink,
    bytes: u64,
    time_max: u64,
}

/// The local cache of splits.
pub struct SplitCache {
    dir: PathBuf,
    max_bytes: u64,
    objects: Arc<dyn ObjectStore>,
    store: Arc<Store>,
    telemetry: Arc<ClusterTelemetry>,
    held: Mutex<BTreeMap<String, Cached>>,
}

/// A split could not be brought into the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The object store did not give it.
    #[error("cannot fetch split {id}: {cause}")]
    Fetch {
        /// The split.
        id: String,
        /// Why.
        cause: String,
    },
    /// Its files or its index are unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SplitCache {
    /// A cache in `dir` (emptied: what it held is fetched again as needed).
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        objects: Arc<dyn ObjectStore>,
        store: Arc<Store>,
        telemetry: Arc<ClusterTelemetry>,
    ) -> Result<Self, StoreError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        Ok(SplitCache {
            dir: dir.to_path_buf(),
            max_bytes,
            objects,
            store,
            telemetry,
            held: Mutex::new(BTreeMap::new()),
        })
    }

    fn index(&self, sink: Sink) -> &SignalIndex {
        match sink {
            Sink::Logs => &self.store.logs,
            _ => &self.store.spans,
        }
    }

    /// Brings the cache in line with the catalog: new splits fetched and
    /// attached, departed ones detached and deleted. Returns how many were
    /// attached.
    pub async fn sync(&self) -> Result<usize, CacheError> {
        let mut listed: Vec<SplitRecord> = Vec::new();
        for sink in [Sink::Spans, Sink::Logs] {
            listed.extend(
                self.store
                    .db
                    .splits_covering(sink, 0, i64::MAX as u64)
                    .await?,
            );
        }
        let ids: HashSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        let departed: Vec<String> = self
            .held
            .lock()
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        for id in departed {
            self.remove(&id);
        }
        let mut attached = 0;
        for split in &listed {
            if self.held.lock().contains_key(&split.id) {
                self.telemetry.cache_hits.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.telemetry.cache_misses.fetch_add(1, Ordering::Relaxed);
            let path = object_store::path::Path::from(split.id.as_str());
            let fetched = async { self.objects.get(&path).await?.bytes().await }
                .await
                .map_err(|e| CacheError::Fetch {
                    id: split.id.clone(),
                    cause: e.to_string(),
                })?;
            self.insert(split, &fetched).await?;
            attached += 1;
        }
        self.evict();
        Ok(attached)
    }

    /// Attaches a split whose bytes are at hand (this node just built it).
    pub async fn insert(&self, split: &SplitRecord, bytes: &[u8]) -> Result<(), StoreError> {
        if self.held.lock().contains_key(&split.id) {
            return Ok(());
        }
        let dir = self.dir.join(dir_name(&split.id));
        let bytes = bytes.to_vec();
        let store = self.store.clone();
        let sink = split.sink;
        let target = dir.clone();
        let filter = split.filter.clone();
        tokio::task::spawn_blocking(move || {
            weir_store::index::split::unbundle(&bytes, &target)?;
            match sink {
                Sink::Logs => store.logs.attach_split(&target, &filter),
                _ => store.spans.attach_split(&target, &filter),
            }
        })
        .await
        .expect("attaching does not panic")?;
        self.telemetry
            .cache_bytes
            .fetch_add(split.bytes, Ordering::Relaxed);
        self.held.lock().insert(
            split.id.clone(),
            Cached {
                dir,
                sink: split.sink,
                bytes: split.bytes,
                time_max: split.time_max,
            },
        );
        Ok(())
    }

    fn remove(&self, id: &str) {
        let Some(cached) = self.held.lock().remove(id) else {
            return;
        };
        self.index(cached.sink).detach_split(&cached.dir);
        self.telemetry
            .cache_bytes
            .fetch_sub(cached.bytes, Ordering::Relaxed);
        if let Err(e) = std::fs::remove_dir_all(&cached.dir) {
            tracing::warn!(split = id, error = %e, "cannot delete a cached split");
        }
    }

    /// Drops the splits with the oldest events until the cache fits.
    fn evict(&self) {
        loop {
            let oldest = {
                let held = self.held.lock();
                let total: u64 = held.values().map(|c| c.bytes).sum();
                if total <= self.max_bytes {
                    return;
                }
                held.iter()
                    .min_by_key(|(_, c)| c.time_max)
                    .map(|(id, _)| id.clone())
            };
            match oldest {
                Some(id) => {
                    tracing::warn!(split = %id, "split cache full (cluster.cache_max_bytes): its oldest split is no longer searched on this node");
                    self.remove(&id);
                }
                None => return,
            }
        }
    }
}

/// A directory name for a split id (`spans/3/…split` → `spans-3-…split`).
fn dir_name(id: &str) -> String {
    id.replace(['/', '\\'], "-")
}
