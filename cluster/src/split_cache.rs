//! The query side of cluster mode: every split the catalog lists is
//! fetched into a bounded local directory and attached to the node's span
//! or log index, so every read route (search, trace, correlate) runs over
//! all nodes' data exactly as over a single node's.
//!
//! The catalog is polled; a split that left it (retention, a merge) is
//! detached and its files deleted, in the same step that attaches what
//! replaced it, so a query never sees a merge's sources and result together
//! or neither. Past the size cap the splits with the oldest events go first.

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
    /// Splits evicted for space: not fetched again while they are listed.
    evicted: Mutex<HashSet<String>>,
    /// One change at a time: a sync that read the catalog before a merge
    /// committed must not undo the merge's swap.
    changing: tokio::sync::Mutex<()>,
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

/// A split unbundled and ready to attach.
struct Prepared {
    split: SplitRecord,
    dir: PathBuf,
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
            evicted: Mutex::new(HashSet::new()),
            changing: tokio::sync::Mutex::new(()),
        })
    }

    fn index(&self, sink: Sink) -> &SignalIndex {
        match sink {
            Sink::Logs => &self.store.logs,
            _ => &self.store.spans,
        }
    }

    /// Where the split `id` is unbundled, if the cache holds it.
    pub fn dir_of(&self, id: &str) -> Option<PathBuf> {
        self.held.lock().get(id).map(|c| c.dir.clone())
    }

    /// Brings the cache in line with the catalog: new splits fetched, then
    /// attached and departed ones detached in one step per index. Returns
    /// how many were attached.
    pub async fn sync(&self) -> Result<usize, CacheError> {
        let _one = self.changing.lock().await;
        let mut listed: Vec<SplitRecord> = Vec::new();
        for sink in [Sink::Spans, Sink::Logs] {
            listed.extend(self.store.db.splits_covering(sink, 0, u64::MAX).await?);
        }
        let ids: HashSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        let departed: Vec<String> = self
            .held
            .lock()
            .keys()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        self.evicted.lock().retain(|id| ids.contains(id.as_str()));
        let mut fresh = Vec::new();
        for split in listed {
            if self.evicted.lock().contains(&split.id) {
                continue;
            }
            if self.held.lock().contains_key(&split.id) {
                self.telemetry.cache_hits.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.telemetry.cache_misses.fetch_add(1, Ordering::Relaxed);
            let bytes = self.fetch(&split.id).await?;
            fresh.push(self.prepare(split, bytes).await?);
        }
        let attached = fresh.len();
        self.apply(&departed, fresh).await?;
        self.evict();
        Ok(attached)
    }

    /// Attaches a split whose bytes are at hand (this node just built it).
    pub async fn insert(&self, split: &SplitRecord, bytes: &[u8]) -> Result<(), StoreError> {
        self.swap(&[], split, bytes).await
    }

    /// Replaces the splits `replaced` with `merged` (whose bytes are at
    /// hand) in one step: what a merge does once its catalog swap committed.
    pub async fn swap(
        &self,
        replaced: &[String],
        merged: &SplitRecord,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let _one = self.changing.lock().await;
        if self.held.lock().contains_key(&merged.id) {
            return Ok(());
        }
        let prepared = self.prepare(merged.clone(), bytes.to_vec()).await?;
        self.apply(replaced, vec![prepared]).await
    }

    async fn fetch(&self, id: &str) -> Result<Vec<u8>, CacheError> {
        let path = object_store::path::Path::from(id);
        async { self.objects.get(&path).await?.bytes().await }
            .await
            .map(|b| b.to_vec())
            .map_err(|e| CacheError::Fetch {
                id: id.to_string(),
                cause: e.to_string(),
            })
    }

    async fn prepare(&self, split: SplitRecord, bytes: Vec<u8>) -> Result<Prepared, StoreError> {
        let dir = self.dir.join(dir_name(&split.id));
        let target = dir.clone();
        tokio::task::spawn_blocking(move || weir_store::index::split::unbundle(&bytes, &target))
            .await
            .expect("unbundling does not panic")?;
        Ok(Prepared { split, dir })
    }

    /// Detaches `departed` and attaches `fresh`, per index in one step,
    /// then deletes the departed files.
    async fn apply(&self, departed: &[String], fresh: Vec<Prepared>) -> Result<(), StoreError> {
        let gone: Vec<(String, Cached)> = {
            let mut held = self.held.lock();
            departed
                .iter()
                .filter_map(|id| held.remove(id).map(|c| (id.clone(), c)))
                .collect()
        };
        for sink in [Sink::Spans, Sink::Logs] {
            let detach: Vec<&Path> = gone
                .iter()
                .filter(|(_, c)| c.sink == sink)
                .map(|(_, c)| c.dir.as_path())
                .collect();
            let attach: Vec<(&Path, &[u8])> = fresh
                .iter()
                .filter(|p| p.split.sink == sink)
                .map(|p| (p.dir.as_path(), p.split.filter.as_slice()))
                .collect();
            if detach.is_empty() && attach.is_empty() {
                continue;
            }
            self.index(sink).update_splits(&detach, &attach)?;
        }
        let mut held = self.held.lock();
        for p in fresh {
            self.telemetry
                .cache_bytes
                .fetch_add(p.split.bytes, Ordering::Relaxed);
            held.insert(
                p.split.id.clone(),
                Cached {
                    dir: p.dir,
                    sink: p.split.sink,
                    bytes: p.split.bytes,
                    time_max: p.split.time_max,
                },
            );
        }
        drop(held);
        for (id, cached) in gone {
            self.telemetry
                .cache_bytes
                .fetch_sub(cached.bytes, Ordering::Relaxed);
            delete_dir(&id, &cached.dir);
        }
        Ok(())
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
            let Some(id) = oldest else { return };
            let Some(cached) = self.held.lock().remove(&id) else {
                return;
            };
            self.evicted.lock().insert(id.clone());
            tracing::warn!(split = %id, "split cache full (cluster.cache_max_bytes): its oldest split is no longer searched on this node");
            self.index(cached.sink).detach_split(&cached.dir);
            self.telemetry
                .cache_bytes
                .fetch_sub(cached.bytes, Ordering::Relaxed);
            delete_dir(&id, &cached.dir);
        }
    }
}

fn delete_dir(id: &str, dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        // Retention of the index may have removed it already.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(split = id, error = %e, "cannot delete a cached split"),
    }
}

/// A directory name for a split id (`spans/3/…split` → `spans-3-…split`).
fn dir_name(id: &str) -> String {
    id.replace(['/', '\\'], "-")
}
