//! The owner's loop for one partition of one signal: read the partition's
//! subject in order from its checkpoint, build a split, and every commit
//! interval (or at the size cap) seal it, upload it, and record it with the
//! checkpoint and the rollups of the same records in one PostgreSQL
//! transaction.
//!
//! The checkpoint moves by compare-and-set, so an owner that lost its
//! partition without knowing cannot commit: the loop ends with
//! [`IndexingError::Lost`] and whatever it built is dropped; the new owner
//! replays from the checkpoint. A split uploaded but never recorded is
//! garbage nobody reads.

use crate::backlog::{Pause, waited_for_indexing};
use crate::indexing::{Indexing, IndexingError};
use crate::split_builder::{SealedSplit, SplitBuilder};
use async_nats::jetstream::consumer;
use futures::{FutureExt, StreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_collector::otlp::partition::{Partition, of_trace};
use weir_collector::otlp::{ExportRequest, SignalKind};
use weir_core::accumulator::HealthAccumulator;
use weir_core::now_unix_nanos;
use weir_store::StoreError;
use weir_store::checkpoint::CheckpointKey;
use weir_store::db::{PartitionCommit, SeriesCache, SplitRecord};

/// Messages handed to one blocking indexing step at most.
const BATCH: usize = 256;
/// How often the owner looks for splits to merge, between commits.
const MERGE_EVERY: Duration = Duration::from_secs(5);
/// Merges one tick may run back to back.
const MERGES_PER_TICK: usize = 4;
/// Pause before an upload or commit is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The subject of a signal's partition.
pub fn subject(stream: &str, signal: SignalKind, partition: Partition) -> String {
    format!("{stream}.{}.{partition}", signal.as_str())
}

/// Indexes `partition` of `signal` until `stop` turns true or the
/// partition is lost.
pub async fn run(
    ctx: Arc<Indexing>,
    signal: SignalKind,
    partition: Partition,
    mut stop: watch::Receiver<bool>,
) -> Result<(), IndexingError> {
    let key = CheckpointKey {
        sink: signal.store_sink(),
        partition,
    };
    let consume = |cause: String| IndexingError::Consume { partition, cause };
    let mut checkpoint = ctx.db.checkpoint_of(&key).await?;
    let stream = ctx
        .jetstream
        .get_stream(&ctx.stream)
        .await
        .map_err(|e| consume(e.to_string()))?;
    let filter_subject = subject(&ctx.stream, signal, partition);
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter_subject.clone(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: checkpoint + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| consume(e.to_string()))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| consume(e.to_string()))?;
    let partitions = ctx.partitions;
    // Links into other partitions are counted there, from link stubs.
    let mut accumulator = Some(
        HealthAccumulator::new(ctx.invocations.clone(), ctx.lag_metrics.clone())
            .resolving_links_of(move |trace| of_trace(&trace.0, partitions) == partition),
    );
    let mut series = SeriesCache::default();
    let mut builder = Some(new_builder(&ctx, signal, partition, checkpoint));
    let mut deadline: Option<Instant> = None;
    let mut last_merge = Instant::now();
    let mut last_pause = Pause::default();
    tracing::info!(
        signal = signal.as_str(),
        partition,
        checkpoint,
        "indexing partition"
    );
    loop {
        // Merges run between commits, on their own clock: a partition that
        // went quiet still merges what it sealed.
        let next_merge = (signal != SignalKind::Metrics).then(|| last_merge + MERGE_EVERY);
        let wait = deadline
            .into_iter()
            .chain(next_merge)
            .min()
            .map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
        let mut batch = Vec::new();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {
                builder.take().expect("a builder between steps").discard();
                return Ok(());
            }
            next = messages.next() => {
                match next {
                    Some(Ok(message)) => batch.push(message),
                    Some(Err(e)) => return Err(consume(e.to_string())),
                    None => return Err(consume("the consumer ended".into())),
                }
                while batch.len() < BATCH {
                    match messages.next().now_or_never() {
                        Some(Some(Ok(message))) => batch.push(message),
                        _ => break,
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        if !batch.is_empty() {
            let mut caught_up = false;
            if let Some(info) = batch.last().and_then(|m| m.info().ok()) {
                ctx.telemetry.set_lag(signal, partition, info.pending);
                // A batch cut at BATCH may leave messages in the client's
                // buffer, which `pending` does not count.
                caught_up = info.pending == 0 && batch.len() < BATCH;
            }
            if let Some(info) = batch.first().and_then(|m| m.info().ok()) {
                let published = u64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(0);
                let waited = waited_for_indexing(published, now_unix_nanos(), last_pause);
                ctx.backlog.read(signal, partition, waited);
            }
            let entries: Vec<Entry> = batch
                .into_iter()
                .filter_map(|m| {
                    Some(Entry {
                        position: m.info().ok()?.stream_sequence,
                        message: m.message,
                    })
                })
                .collect();
            let (b, a) = (builder.take(), accumulator.take());
            let rollups = ctx.rollups;
            let (b, a, added) = tokio::task::spawn_blocking(move || {
                let (mut b, mut a) = (b.expect("a builder"), a.expect("an accumulator"));
                let added = add_entries(&mut b, rollups.then_some(&mut a), signal, entries);
                (b, a, added)
            })
            .await
            .expect("indexing does not panic");
            builder = Some(b);
            accumulator = Some(a);
            added?;
            if caught_up {
                ctx.backlog.caught_up(signal, partition);
            }
            deadline.get_or_insert_with(|| Instant::now() + ctx.commit_interval);
        }
        let pause_from = now_unix_nanos();
        let mut paused = false;
        let current = builder.as_ref().expect("a builder");
        let due = deadline.is_some_and(|d| Instant::now() >= d)
            || current.records >= ctx.max_split_records
            || current.full();
        if due && current.last_position > checkpoint {
            let b = builder.take().expect("a builder");
            let mut acc = accumulator.take().expect("an accumulator");
            let outcome = commit(
                &ctx,
                signal,
                partition,
                checkpoint,
                b,
                &mut acc,
                &mut series,
                &mut stop,
            )
            .await;
            acc.deltas.clear();
            acc.edges.clear();
            accumulator = Some(acc);
            match outcome? {
                Some(position) => checkpoint = position,
                None => return Ok(()),
            }
            purge_through(&stream, &filter_subject, checkpoint).await;
            builder = Some(new_builder(&ctx, signal, partition, checkpoint));
            deadline = None;
            paused = true;
        }
        if next_merge.is_some_and(|at| Instant::now() >= at) {
            last_merge = Instant::now();
            paused = true;
            // A few merges per tick, so a backlog of small splits clears
            // without starving the partition's indexing.
            for _ in 0..MERGES_PER_TICK {
                match crate::merger::merge_once(&ctx, signal, partition).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(signal = signal.as_str(), partition, error = %e, "cannot merge splits; trying again later");
                        break;
                    }
                }
            }
        }
        if paused {
            last_pause = Pause {
                from: pause_from,
                to: now_unix_nanos(),
            };
        }
    }
}

fn new_builder(
    ctx: &Indexing,
    signal: SignalKind,
    partition: Partition,
    from: u64,
) -> SplitBuilder {
    let dir = ctx.work_dir.join(format!(
        "{}-{partition}-{from}-{}",
        signal.as_str(),
        now_unix_nanos()
    ));
    SplitBuilder::new(signal, &dir, ctx.budget)
}

/// One event-log message of a partition.
struct Entry {
    position: u64,
    message: async_nats::Message,
}

fn add_entries(
    builder: &mut SplitBuilder,
    mut rollups: Option<&mut HealthAccumulator>,
    signal: SignalKind,
    entries: Vec<Entry>,
) -> Result<(), IndexingError> {
    #[cfg(feature = "failpoints")]
    fail::fail_point!("cluster::index_batch");
    let now = now_unix_nanos();
    for Entry { position, message } in entries {
        // Only weir publishes here, after validation: an entry that does
        // not decode was damaged, and is skipped rather than blocking its
        // partition for ever.
        let payload = match crate::publish::payload_of(&message) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(signal = signal.as_str(), position, error = %e, "skipping an event-log entry that does not decompress");
                builder.last_position = position;
                continue;
            }
        };
        let link_stubs = message
            .headers
            .as_ref()
            .is_some_and(|h| h.get(crate::publish::LINK_STUBS).is_some());
        match ExportRequest::decode_protobuf(signal, &payload) {
            Ok(request) if link_stubs => {
                builder.add_link_stubs(rollups.as_deref_mut(), position, request, now)
            }
            Ok(request) => builder.add(rollups.as_deref_mut(), position, request, now)?,
            Err(e) => {
                tracing::error!(signal = signal.as_str(), position, error = %e, "skipping an undecodable event-log entry");
                builder.last_position = position;
            }
        }
    }
    Ok(())
}

/// Seals, uploads and commits what `builder` holds, from `checkpoint`.
/// Returns the new checkpoint, or `None` when told to stop first.
#[allow(clippy::too_many_arguments)]
async fn commit(
    ctx: &Indexing,
    signal: SignalKind,
    partition: Partition,
    checkpoint: u64,
    builder: SplitBuilder,
    accumulator: &mut HealthAccumulator,
    series: &mut SeriesCache,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<u64>, IndexingError> {
    let seq_to = builder.last_position;
    let (points, sealed) = tokio::task::spawn_blocking(move || {
        let mut builder = builder;
        let sealed = builder.seal();
        let points = std::mem::take(&mut builder.points);
        builder.discard();
        (points, sealed)
    })
    .await
    .expect("sealing does not panic");
    let sealed = sealed?;
    let record = match &sealed {
        Some(split) => {
            match upload(ctx, signal, partition, checkpoint, seq_to, split, stop).await {
                Some(record) => Some(record),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let key = CheckpointKey {
        sink: signal.store_sink(),
        partition,
    };
    loop {
        let result = ctx
            .db
            .commit_partition(
                &PartitionCommit {
                    key,
                    seq_from: checkpoint,
                    seq_to,
                    split: record.as_ref(),
                    points: &points,
                    deltas: &accumulator.deltas,
                    edges: &accumulator.edges,
                },
                series,
                now_unix_nanos(),
            )
            .await;
        match result {
            Ok(()) => break,
            // A commit whose answer was lost may have landed, or another
            // owner (a handover) committed the same range: only a listed
            // split tells which. Without a split the two are the same records.
            Err(StoreError::CheckpointMoved { found, .. }) if found == seq_to => match &record {
                None => break,
                Some(r) if ctx.db.split_listed(&r.id).await? => break,
                Some(_) => return Err(IndexingError::Lost(partition)),
            },
            Err(StoreError::CheckpointMoved { .. }) => return Err(IndexingError::Lost(partition)),
            Err(e) => {
                ctx.backlog.waiting_for_storage(signal, partition);
                ctx.telemetry
                    .commit_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(signal = signal.as_str(), partition, error = %e, "cannot commit a split; trying again");
                // A commit whose answer was lost may have landed: the
                // compare-and-set tells on the next try.
                if pause_or_stop(stop).await {
                    return Ok(None);
                }
            }
        }
    }
    ctx.telemetry
        .splits_committed
        .fetch_add(1, Ordering::Relaxed);
    if let (Some(record), Some(split), Some(cache)) = (&record, &sealed, &ctx.cache)
        && let Err(e) = cache.insert(record, &split.bytes).await
    {
        tracing::warn!(split = %record.id, error = %e, "cannot cache a split just built; it is fetched with the others");
    }
    Ok(Some(seq_to))
}

/// Uploads a sealed split until it is stored; its catalog record, or
/// `None` when told to stop first.
async fn upload(
    ctx: &Indexing,
    signal: SignalKind,
    partition: Partition,
    seq_from: u64,
    seq_to: u64,
    split: &SealedSplit,
    stop: &mut watch::Receiver<bool>,
) -> Option<SplitRecord> {
    // Unique even between two nodes that both believe they own the
    // partition: neither overwrites the other's object.
    let id = format!(
        "{}/{partition}/{seq_to:020}-{}-{}.split",
        signal.store_sink().as_str(),
        ctx.node_id,
        now_unix_nanos()
    );
    let path = object_store::path::Path::from(id.as_str());
    let payload = PutPayload::from(bytes::Bytes::from(split.bytes.clone()));
    loop {
        match ctx.objects.put(&path, payload.clone()).await {
            Ok(_) => break,
            Err(e) => {
                ctx.backlog.waiting_for_storage(signal, partition);
                ctx.telemetry
                    .upload_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(split = %id, error = %e, "cannot upload a split; trying again (JetStream holds its records meanwhile)");
                if pause_or_stop(stop).await {
                    return None;
                }
            }
        }
    }
    ctx.telemetry
        .splits_uploaded
        .fetch_add(1, Ordering::Relaxed);
    ctx.telemetry
        .split_bytes_uploaded
        .fetch_add(split.bytes.len() as u64, Ordering::Relaxed);
    Some(SplitRecord {
        id,
        sink: signal.store_sink(),
        partition,
        seq_from,
        seq_to,
        time_min: split.time_min,
        time_max: split.time_max,
        bytes: split.bytes.len() as u64,
        documents: split.documents,
        filter: split.filter.clone(),
    })
}

/// Drops a partition's messages at or below its committed checkpoint from
/// the stream: the catalog holds them now, and a takeover replays from the
/// checkpoint. Without this the stream keeps every message until
/// `max_age`, and once it reaches `max_bytes` refuses every export until
/// old ones expire. JetStream's duplicate window outlives the purge, so a
/// retried export is still dropped. A failure is harmless (the next
/// commit's purge covers it).
async fn purge_through(stream: &async_nats::jetstream::stream::Stream, subject: &str, seq: u64) {
    if let Err(e) = stream.purge().filter(subject).sequence(seq + 1).await {
        tracing::debug!(subject, seq, error = %e, "cannot purge committed messages; the next commit tries again");
    }
}

/// Waits before a retry; true when told to stop meanwhile.
async fn pause_or_stop(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        _ = tokio::time::sleep(RETRY) => false,
    }
}
