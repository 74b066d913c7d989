//! The sweep of objects the catalog does not list: a split uploaded by a
//! node that died (or lost its partition) before committing it, or an
//! object whose deletion after its grace period died with its node. Nobody
//! reads them; without a sweep they would stay for ever.
//!
//! An object goes only when both hold: it was written more than
//! `orphan_age` ago (an upload whose commit is still being retried is
//! younger), and the catalog has not listed it for `delete_grace` (a split
//! merged away a moment ago may still be read by a running query). The
//! second is kept in memory, so a new rule leader starts the wait afresh.

use object_store::ObjectStore;
use object_store::path::Path;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use weir_store::checkpoint::Sink;
use weir_store::db::Database;

/// An object as the store lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its key, as the catalog names splits.
    pub id: String,
    /// When it was written, Unix seconds.
    pub written: i64,
}

/// What the sweep remembers between passes: since when each unlisted
/// object has been seen unlisted.
#[derive(Debug, Default)]
pub struct OrphanWatch {
    unlisted_since: HashMap<String, Instant>,
}

impl OrphanWatch {
    /// The objects of `listed` to delete now, given the ids the catalog
    /// lists (read after `listed`, so a split committed between the two
    /// reads is not taken for an orphan).
    pub fn doomed(
        &mut self,
        listed: &[Listed],
        catalog: &HashSet<String>,
        now: Instant,
        now_unix: i64,
        orphan_age: Duration,
        grace: Duration,
    ) -> Vec<String> {
        let mut seen = HashMap::new();
        let mut doomed = Vec::new();
        for object in listed.iter().filter(|o| !catalog.contains(&o.id)) {
            let since = self.unlisted_since.get(&object.id).copied().unwrap_or(now);
            let old = now_unix.saturating_sub(object.written) >= orphan_age.as_secs() as i64;
            if old && now.saturating_duration_since(since) >= grace {
                doomed.push(object.id.clone());
            } else {
                seen.insert(object.id.clone(), since);
            }
        }
        // Objects listed again, or gone, are forgotten: memory stays bounded
        // by the orphans that exist.
        self.unlisted_since = seen;
        doomed
    }
}

/// One pass: lists the split objects, then the catalog, and deletes the
/// orphans `watch` finds. Returns how many it deleted.
pub async fn sweep(
    db: &Database,
    objects: &Arc<dyn ObjectStore>,
    watch: &mut OrphanWatch,
    orphan_age: Duration,
    grace: Duration,
) -> Result<usize, String> {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let mut listed = Vec::new();
    for sink in [Sink::Spans, Sink::Logs] {
        let prefix = Path::from(sink.as_str());
        let metas: Vec<_> = objects
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        listed.extend(metas.into_iter().map(|m| Listed {
            id: m.location.to_string(),
            written: m.last_modified.timestamp(),
        }));
    }
    let mut catalog = HashSet::new();
    for sink in [Sink::Spans, Sink::Logs] {
        let splits = db
            .splits_covering(sink, 0, u64::MAX)
            .await
            .map_err(|e| e.to_string())?;
        catalog.extend(splits.into_iter().map(|s| s.id));
    }
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let doomed = watch.doomed(
        &listed,
        &catalog,
        Instant::now(),
        now_unix,
        orphan_age,
        grace,
    );
    let mut deleted = 0;
    for id in doomed {
        match objects.delete(&Path::from(id.as_str())).await {
            Ok(()) => deleted += 1,
            Err(e) => {
                tracing::warn!(object = %id, error = %e, "cannot delete an orphaned object; trying again later")
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(3600);
    const GRACE: Duration = Duration::from_secs(60);

    fn listed(id: &str, written: i64) -> Listed {
        Listed {
            id: id.into(),
            written,
        }
    }

    #[test]
    fn only_old_objects_unlisted_for_a_grace_period_go() {
        let mut watch = OrphanWatch::default();
        let t0 = Instant::now();
        let now_unix = 100_000;
        let objects = [
            listed("spans/0/kept", 0),
            listed("spans/0/old-orphan", 0),
            listed("spans/1/fresh-upload", now_unix - 10),
        ];
        let catalog: HashSet<String> = ["spans/0/kept".to_string()].into();
        // First seen unlisted: the grace period starts.
        assert!(
            watch
                .doomed(&objects, &catalog, t0, now_unix, AGE, GRACE)
                .is_empty()
        );
        let later = t0 + GRACE;
        assert_eq!(
            watch.doomed(&objects, &catalog, later, now_unix + 60, AGE, GRACE),
            ["spans/0/old-orphan"],
            "listed objects and young uploads stay"
        );
        // The young upload becomes old: it goes at once, having waited.
        let much_later = later + AGE;
        assert_eq!(
            watch.doomed(
                &objects[2..],
                &catalog,
                much_later,
                now_unix + 3700,
                AGE,
                GRACE
            ),
            ["spans/1/fresh-upload"]
        );
    }

    #[test]
    fn an_object_listed_again_waits_afresh() {
        let mut watch = OrphanWatch::default();
        let t0 = Instant::now();
        let objects = [listed("spans/0/s", 0)];
        let none = HashSet::new();
        let with: HashSet<String> = ["spans/0/s".to_string()].into();
        watch.doomed(&objects, &none, t0, 100_000, AGE, GRACE);
        watch.doomed(&objects, &with, t0 + GRACE, 100_000, AGE, GRACE);
        assert!(
            watch
                .doomed(&objects, &none, t0 + GRACE * 2, 100_000, AGE, GRACE)
                .is_empty(),
            "dropped from the catalog just now: its grace period starts again"
        );
        assert_eq!(watch.unlisted_since.len(), 1);
    }
}
