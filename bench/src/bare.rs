//! The physical limit: the same span documents weir is sent, indexed
//! straight into weir's own span index (same schema, heap and threads) with
//! no receive, decode, validation, write-ahead log, rollups or commit
//! bookkeeping — one commit at the end.

use crate::profile::Profile;
use anyhow::{Context, Result};
use std::time::Instant;
use weir_collector::otlp::ExportRequest;
use weir_collector::otlp::convert::convert;
use weir_core::{Span, now_unix_nanos};
use weir_store::config::DatabaseConfig;
use weir_store::{Store, StoreConfig};

/// weir's default span indexing heap (`ingest.span_index_heap_mib`).
const SPAN_INDEX_HEAP_BYTES: usize = 128 << 20;

/// Indexes the spans `clients` exporters would send in batches of `batch`
/// (`total` in all); returns documents per second, from the first document
/// added to the commit that made the last one durable.
pub async fn run(profile: Profile, total: u64, clients: usize, batch: usize) -> Result<f64> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench-bare")
        .tempdir_in(std::env::var("WEIR_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    let mut config = StoreConfig::new(root.path(), DatabaseConfig::default());
    config.span_index_heap_bytes = SPAN_INDEX_HEAP_BYTES;
    let store = Store::open(&config).await.context("bare index")?;
    // The documents are built before the clock starts: decoding is not the
    // index's work.
    let now = now_unix_nanos();
    let per_client = total / clients as u64;
    let mut batches: Vec<Vec<Span>> = Vec::new();
    for client in 0..clients as u64 {
        let mut offset = 0;
        while offset < per_client {
            let n = batch.min((per_client - offset) as usize);
            let request = ExportRequest::Traces(profile.spans(client, offset, n));
            batches.push(convert(request, now).spans);
            offset += n as u64;
        }
    }
    let documents: usize = batches.iter().map(Vec::len).sum();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for spans in &batches {
            store.spans.add_spans(spans, now)?;
        }
        store.spans.commit(1, now)?;
        let rate = documents as f64 / started.elapsed().as_secs_f64();
        drop(root);
        anyhow::Ok(rate)
    })
    .await?
}
