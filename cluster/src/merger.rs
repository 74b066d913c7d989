//! The owner's merges: small splits of one partition merged into larger
//! ones, so the number of splits a query opens stays bounded.
//!
//! A stepped policy, as Quickwit's: a split sealed from the event log is at
//! level 0; [`FAN_IN`] splits of one level merge into one of the next, up to
//! [`TOP_LEVEL`]. A merged split keeps its sources' filters end to end, so
//! the level bound also bounds a filter's size. The catalog swap is one
//! transaction; replaced objects are deleted after `cluster.delete_grace`,
//! so a node still reading them (its cache not yet in line with the
//! catalog) finishes.

use crate::indexing::{Indexing, IndexingError};
use object_store::{ObjectStoreExt, PutPayload};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use weir_collector::otlp::SignalKind;
use weir_collector::otlp::partition::Partition;
use weir_core::now_unix_nanos;
use weir_store::db::SplitRecord;
use weir_store::index::split;
use weir_store::index::term_filter::TermFilter;

/// Splits of one level merged at once.
pub const FAN_IN: usize = 8;
/// The highest level: its splits are not merged again.
pub const TOP_LEVEL: u32 = 2;

/// A split's level, from its name (`…-L<level>.split`; sealed splits: 0).
pub fn level_of(id: &str) -> u32 {
    id.strip_suffix(".split")
        .and_then(|stem| stem.rsplit_once("-L"))
        .and_then(|(_, level)| level.parse().ok())
        .unwrap_or(0)
}

/// The splits to merge next among `splits` (one partition's): the oldest
/// [`FAN_IN`] of the lowest level that has that many, below the top.
pub fn pick(splits: &[SplitRecord]) -> Vec<SplitRecord> {
    for level in 0..TOP_LEVEL {
        let mut of_level: Vec<&SplitRecord> =
            splits.iter().filter(|s| level_of(&s.id) == level).collect();
        if of_level.len() >= FAN_IN {
            of_level.sort_by_key(|s| s.seq_from);
            return of_level.into_iter().take(FAN_IN).cloned().collect();
        }
    }
    Vec::new()
}

/// Merges one batch of `partition`'s splits if its policy asks for one;
/// returns whether it merged.
pub async fn merge_once(
    ctx: &Arc<Indexing>,
    signal: SignalKind,
    partition: Partition,
) -> Result<bool, IndexingError> {
    let sink = signal.store_sink();
    let splits = ctx.db.splits_of_partition(sink, partition).await?;
    let sources = pick(&splits);
    if sources.is_empty() {
        return Ok(false);
    }
    let level = level_of(&sources[0].id) + 1;
    let work = ctx.work_dir.join(format!(
        "merge-{}-{partition}-{}",
        sink.as_str(),
        now_unix_nanos()
    ));
    let result = merge_in(ctx, &sources, level, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn merge_in(
    ctx: &Arc<Indexing>,
    sources: &[SplitRecord],
    level: u32,
    work: &std::path::Path,
) -> Result<bool, IndexingError> {
    let fetch = |cause: String| IndexingError::Objects(cause);
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        if let Some(dir) = ctx.cache.as_ref().and_then(|c| c.dir_of(&source.id)) {
            dirs.push(dir);
            continue;
        }
        let path = object_store::path::Path::from(source.id.as_str());
        let bytes = async { ctx.objects.get(&path).await?.bytes().await }
            .await
            .map_err(|e| fetch(format!("cannot fetch split {}: {e}", source.id)))?;
        let dir = work.join(format!("source-{i}"));
        let target = dir.clone();
        tokio::task::spawn_blocking(move || split::unbundle(&bytes, &target))
            .await
            .expect("unbundling does not panic")?;
        dirs.push(dir);
    }
    let out = work.join("merged");
    let (payload, bytes) = tokio::task::spawn_blocking(move || {
        let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
        let payload = split::merge(&refs, &out)?;
        Ok::<_, weir_store::StoreError>((payload, split::bundle(&out)?))
    })
    .await
    .expect("merging does not panic")?;
    let first = &sources[0];
    let seq_from = sources.iter().map(|s| s.seq_from).min().unwrap_or(0);
    let seq_to = sources.iter().map(|s| s.seq_to).max().unwrap_or(0);
    let id = format!(
        "{}/{}/{seq_to:020}-{}-{}-L{level}.split",
        first.sink.as_str(),
        first.partition,
        ctx.node_id,
        now_unix_nanos()
    );
    let filters: Vec<&[u8]> = sources.iter().map(|s| s.filter.as_slice()).collect();
    let merged = SplitRecord {
        id: id.clone(),
        sink: first.sink,
        partition: first.partition,
        seq_from,
        seq_to,
        time_min: payload.min_time,
        time_max: payload.max_time,
        bytes: bytes.len() as u64,
        documents: sources.iter().map(|s| s.documents).sum(),
        filter: TermFilter::merged(&filters),
    };
    let path = object_store::path::Path::from(id.as_str());
    ctx.objects
        .put(&path, PutPayload::from(bytes.clone()))
        .await
        .map_err(|e| fetch(format!("cannot upload merged split {id}: {e}")))?;
    let replaced: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
    if !ctx
        .db
        .replace_splits(&replaced, &merged, now_unix_nanos())
        .await?
    {
        // Another merge or retention changed the sources first.
        let _ = ctx.objects.delete(&path).await;
        return Ok(false);
    }
    ctx.telemetry.merges.fetch_add(1, Ordering::Relaxed);
    if let Some(cache) = &ctx.cache
        && let Err(e) = cache.swap(&replaced, &merged, &bytes).await
    {
        tracing::warn!(split = %id, error = %e, "cannot cache a merged split; it is fetched with the others");
    }
    crate::objects::delete_after(ctx.objects.clone(), replaced, ctx.delete_grace);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_store::checkpoint::Sink;

    fn split(id: &str, seq_from: u64) -> SplitRecord {
        SplitRecord {
            id: id.into(),
            sink: Sink::Spans,
            partition: 0,
            seq_from,
            seq_to: seq_from + 1,
            time_min: 0,
            time_max: 0,
            bytes: 1,
            documents: 1,
            filter: Vec::new(),
        }
    }

    #[test]
    fn levels_are_read_from_names() {
        assert_eq!(level_of("spans/0/00000000000000000042-a-17.split"), 0);
        assert_eq!(
            level_of("spans/0/00000000000000000042-node-L1-17-L2.split"),
            2
        );
        assert_eq!(level_of("spans/0/x-L9x.split"), 0);
    }

    #[test]
    fn the_oldest_of_the_lowest_full_level_merge_first() {
        let mut splits: Vec<SplitRecord> = (0..FAN_IN as u64 + 2)
            .map(|i| split(&format!("s{i}.split"), 100 - i))
            .collect();
        assert!(pick(&splits[..FAN_IN - 1]).is_empty(), "too few to merge");
        let picked = pick(&splits);
        assert_eq!(picked.len(), FAN_IN);
        assert!(picked.iter().all(|s| s.seq_from <= 100 - 2), "the oldest");
        splits = (0..FAN_IN as u64)
            .map(|i| split(&format!("m{i}-L{TOP_LEVEL}.split"), i))
            .collect();
        assert!(
            pick(&splits).is_empty(),
            "the top level is not merged again"
        );
    }
}
