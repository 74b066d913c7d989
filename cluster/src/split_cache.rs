//! The query side of cluster mode: the splits the catalog lists, fetched
//! into a bounded local directory and attached to the node's span or log
//! index, so every read route (search, trace, correlate) runs over all
//! nodes' data exactly as over a single node's.
//!
//! The catalog is polled, and what it lists is prefetched newest last, so
//! the newest are the last to go. Past the size cap the least recently used
//! splits are detached; a query that needs one (its time range, or a filter
//! that may hold its trace id or key) fetches it again first, through the
//! store's [`SplitSource`] seam. Downloads run outside the cache's lock, so
//! a node whose cache is cold answers a lookup after fetching only the
//! splits the lookup needs.
//!
//! Every change is applied against the latest listing: a split that left
//! the catalog (retention, a merge) is detached in the same step that
//! attaches what replaced it, so a query never sees a merge's sources and
//! result together, or neither.

use crate::telemetry::ClusterTelemetry;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use weir_store::checkpoint::Sink;
use weir_store::db::SplitRecord;
use weir_store::index::SignalIndex;
use weir_store::index::term_filter::TermFilter;
use weir_store::split_source::{SplitNeed, SplitSource, SplitsHeld};
use weir_store::{Store, StoreError};

/// A split held in the cache.
struct Cached {
    dir: PathBuf,
    sink: Sink,
    bytes: u64,
    /// When a query or the prefetch last wanted it (the cache's clock).
    used: u64,
    /// When it was attached: a listing read before then may not list it yet.
    attached: u64,
}

/// The catalog as read at one moment of the cache's clock.
#[derive(Default)]
struct Listing {
    /// The clock when the read began.
    read_at: u64,
    splits: Vec<Listed>,
}

/// A split the catalog lists, with its filter read once.
struct Listed {
    split: SplitRecord,
    filter: Option<TermFilter>,
}

impl Listed {
    fn needed_by(&self, need: &SplitNeed<'_>) -> bool {
        self.split.sink == need.sink
            && self.split.time_max >= need.from
            && self.split.time_min <= need.to
            && (need.values.is_empty()
                || self
                    .filter
                    .as_ref()
                    .is_none_or(|f| need.values.iter().any(|v| f.may_hold(v))))
    }
}

/// The local cache of splits.
pub struct SplitCache {
    dir: PathBuf,
    max_bytes: u64,
    objects: Arc<dyn ObjectStore>,
    store: Arc<Store>,
    telemetry: Arc<ClusterTelemetry>,
    /// For queries, which call in from blocking threads.
    runtime: tokio::runtime::Handle,
    /// The catalog as last read.
    listing: Mutex<Arc<Listing>>,
    held: Mutex<BTreeMap<String, Cached>>,
    /// Splits queries are reading: never evicted meanwhile.
    pins: Arc<Mutex<HashMap<String, usize>>>,
    /// Splits evicted for space: fetched again only when a query needs them.
    evicted: Mutex<HashSet<String>>,
    /// Splits this node's merges replaced, possibly still in a listing read
    /// before the merge: never attached again.
    replaced: Mutex<HashSet<String>>,
    /// One change of the index at a time.
    changing: tokio::sync::Mutex<()>,
    clock: AtomicU64,
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

impl From<CacheError> for StoreError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::Store(e) => e,
            fetch => StoreError::SplitsUnavailable(fetch.to_string()),
        }
    }
}

/// A split unbundled and ready to attach.
struct Prepared {
    split: SplitRecord,
    dir: PathBuf,
}

/// Unpins its splits when the query that needed them is done.
struct Pinned {
    ids: Vec<String>,
    pins: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let mut pins = self.pins.lock();
        for id in &self.ids {
            if let Some(n) = pins.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(id);
                }
            }
        }
    }
}

impl SplitCache {
    /// A cache in `dir` (emptied: what it held is fetched again as needed).
    /// Called on the runtime that its queries' fetches will run on.
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
            runtime: tokio::runtime::Handle::current(),
            listing: Mutex::new(Arc::default()),
            held: Mutex::new(BTreeMap::new()),
            pins: Arc::default(),
            evicted: Mutex::new(HashSet::new()),
            replaced: Mutex::new(HashSet::new()),
            changing: tokio::sync::Mutex::new(()),
            clock: AtomicU64::new(0),
        })
    }

    fn index(&self, sink: Sink) -> &SignalIndex {
        match sink {
            Sink::Logs => &self.store.logs,
            _ => &self.store.spans,
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Where the split `id` is unbundled, if the cache holds it.
    pub fn dir_of(&self, id: &str) -> Option<PathBuf> {
        self.held.lock().get(id).map(|c| c.dir.clone())
    }

    /// Reads the catalog, then fetches what it lists that the cache lacks
    /// (but not what was evicted for space), and applies it. Returns how
    /// many splits were attached.
    pub async fn sync(&self) -> Result<usize, CacheError> {
        let read_at = self.tick();
        let mut listed: Vec<SplitRecord> = Vec::new();
        for sink in [Sink::Spans, Sink::Logs] {
            listed.extend(self.store.db.splits_covering(sink, 0, u64::MAX).await?);
        }
        let ids: HashSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        self.evicted.lock().retain(|id| ids.contains(id.as_str()));
        self.replaced.lock().retain(|id| ids.contains(id.as_str()));
        let mut wanted: Vec<SplitRecord> = {
            let (held, evicted) = (self.held.lock(), self.evicted.lock());
            listed
                .iter()
                .filter(|s| !held.contains_key(&s.id) && !evicted.contains(&s.id))
                .cloned()
                .collect()
        };
        let hits = ids.len().saturating_sub(wanted.len()) as u64;
        self.telemetry.cache_hits.fetch_add(hits, Ordering::Relaxed);
        *self.listing.lock() = Arc::new(Listing {
            read_at,
            splits: listed
                .into_iter()
                .map(|split| Listed {
                    filter: TermFilter::read(&split.filter),
                    split,
                })
                .collect(),
        });
        // Newest last: the last to be evicted.
        wanted.sort_by_key(|s| s.time_max);
        let fresh = self.fetch_all(wanted).await?;
        let _one = self.changing.lock().await;
        let attached = self.apply_listed(fresh).await?;
        self.evict();
        Ok(attached)
    }

    async fn fetch_all(&self, splits: Vec<SplitRecord>) -> Result<Vec<Prepared>, CacheError> {
        let mut fresh = Vec::with_capacity(splits.len());
        for split in splits {
            self.telemetry.cache_misses.fetch_add(1, Ordering::Relaxed);
            let bytes = match self.fetch(&split.id).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    discard(fresh);
                    return Err(e);
                }
            };
            match self.prepare(split, bytes).await {
                Ok(p) => fresh.push(p),
                Err(e) => {
                    discard(fresh);
                    return Err(e.into());
                }
            }
        }
        Ok(fresh)
    }

    /// Attaches what of `fresh` the latest listing still lists, detaching in
    /// the same step whatever it no longer lists (but not what was attached
    /// after it was read: this node's own new and merged splits). Holds
    /// `changing`.
    async fn apply_listed(&self, fresh: Vec<Prepared>) -> Result<usize, StoreError> {
        let listing = self.listing.lock().clone();
        let ids: HashSet<&str> = listing.splits.iter().map(|l| l.split.id.as_str()).collect();
        let replaced = self.replaced.lock().clone();
        let departed: Vec<String> = self
            .held
            .lock()
            .iter()
            .filter(|(id, c)| {
                (!ids.contains(id.as_str()) && c.attached < listing.read_at)
                    || replaced.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let (keep, drop): (Vec<Prepared>, Vec<Prepared>) = {
            let held = self.held.lock();
            let mut seen = HashSet::new();
            fresh.into_iter().partition(|p| {
                ids.contains(p.split.id.as_str())
                    && !replaced.contains(&p.split.id)
                    && !held.contains_key(&p.split.id)
                    && seen.insert(p.split.id.clone())
            })
        };
        discard(drop);
        let attached = keep.len();
        self.apply(&departed, keep).await?;
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
        self.replaced.lock().extend(replaced.iter().cloned());
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
        // Unique: a query and the prefetch may fetch the same split at once.
        let dir = self
            .dir
            .join(format!("{}-{}", dir_name(&split.id), self.tick()));
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
            let now = self.tick();
            held.insert(
                p.split.id.clone(),
                Cached {
                    dir: p.dir,
                    sink: p.split.sink,
                    bytes: p.split.bytes,
                    used: now,
                    attached: now,
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

    /// Drops the least recently used splits no query is reading until the
    /// cache fits.
    fn evict(&self) {
        loop {
            let oldest = {
                let held = self.held.lock();
                let total: u64 = held.values().map(|c| c.bytes).sum();
                if total <= self.max_bytes {
                    return;
                }
                let pins = self.pins.lock();
                held.iter()
                    .filter(|(id, _)| !pins.contains_key(*id))
                    .min_by_key(|(_, c)| c.used)
                    .map(|(id, _)| id.clone())
            };
            let Some(id) = oldest else { return };
            let Some(cached) = self.held.lock().remove(&id) else {
                return;
            };
            self.evicted.lock().insert(id.clone());
            tracing::debug!(split = %id, "split cache full (cluster.cache_max_bytes): evicted its least recently used split");
            self.index(cached.sink).detach_split(&cached.dir);
            self.telemetry
                .cache_bytes
                .fetch_sub(cached.bytes, Ordering::Relaxed);
            delete_dir(&id, &cached.dir);
        }
    }

    /// What [`SplitSource::bring`] does, on the runtime. The listing may
    /// change while splits are fetched (a merge replaced some): then what
    /// the new one names is brought too, a few rounds at most.
    async fn bring_async(&self, need: &SplitNeed<'_>) -> Result<Vec<Pinned>, CacheError> {
        const ROUNDS: usize = 3;
        let mut pinned = Vec::new();
        for _ in 0..ROUNDS {
            let listing = self.listing.lock().clone();
            let needed: Vec<&SplitRecord> = listing
                .splits
                .iter()
                .filter(|l| l.needed_by(need))
                .map(|l| &l.split)
                .collect();
            // Pinned before anything is fetched: what is held stays held.
            pinned.push(self.pin(&needed));
            let missing: Vec<SplitRecord> = {
                let mut held = self.held.lock();
                let now = self.tick();
                needed
                    .iter()
                    .filter(|s| match held.get_mut(&s.id) {
                        Some(c) => {
                            c.used = now;
                            false
                        }
                        None => true,
                    })
                    .map(|s| (*s).clone())
                    .collect()
            };
            let hits = (needed.len() - missing.len()) as u64;
            self.telemetry.cache_hits.fetch_add(hits, Ordering::Relaxed);
            if missing.is_empty() {
                break;
            }
            {
                let mut evicted = self.evicted.lock();
                for s in &missing {
                    evicted.remove(&s.id);
                }
            }
            let fresh = self.fetch_all(missing).await?;
            let _one = self.changing.lock().await;
            self.apply_listed(fresh).await?;
            self.evict();
        }
        Ok(pinned)
    }

    fn pin(&self, splits: &[&SplitRecord]) -> Pinned {
        let mut pins = self.pins.lock();
        for s in splits {
            *pins.entry(s.id.clone()).or_default() += 1;
        }
        Pinned {
            ids: splits.iter().map(|s| s.id.clone()).collect(),
            pins: self.pins.clone(),
        }
    }
}

impl SplitSource for SplitCache {
    fn bring(&self, need: &SplitNeed<'_>) -> Result<SplitsHeld, StoreError> {
        let pinned = self.runtime.block_on(self.bring_async(need))?;
        Ok(Box::new(pinned))
    }
}

/// Deletes prepared splits that will not be attached.
fn discard(prepared: Vec<Prepared>) {
    for p in prepared {
        delete_dir(&p.split.id, &p.dir);
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
