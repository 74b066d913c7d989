//! The write path through its public seam: `Ingest` over a real store in a
//! temporary directory — admission, the write-ahead log, the storage workers,
//! their commits and the replay after a restart.
//!
//! The workers run on their own OS threads with real clocks (their commit
//! interval is a `recv_timeout`), so these tests poll with a bound instead of
//! pausing tokio's time.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_collector::fixtures::{exact, fleet};
use weir_collector::otlp::ExportRequest;
use weir_collector::{Ingest, IngestConfig, IngestError, Telemetry};
use weir_store::config::DatabaseConfig;
use weir_store::{Store, StoreConfig};

fn config(dir: &std::path::Path) -> IngestConfig {
    IngestConfig {
        wal_dir: dir.join("wal"),
        commit_interval: Duration::from_millis(100),
        max_pending_bytes: 64 << 20,
        wal_segment_bytes: 1 << 20,
        lag_metrics: vec!["pipeline.iterator_age".into()],
        rollups: true,
        min_free_bytes: 0,
    }
}

async fn open(dir: &std::path::Path) -> (Arc<Store>, Arc<Ingest>) {
    let store = Arc::new(
        Store::open(&StoreConfig::new(dir, DatabaseConfig::default()))
            .await
            .expect("the store opens"),
    );
    let ingest = Ingest::start(config(dir), store.clone(), Arc::new(Telemetry::default()))
        .await
        .expect("ingest starts");
    (store, ingest)
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn invocations(store: &Store) -> u64 {
    store
        .db
        .component_health(0, u64::MAX)
        .await
        .unwrap()
        .values()
        .map(|r| r.invocations)
        .sum()
}

async fn stop(ingest: Arc<Ingest>) {
    tokio::task::spawn_blocking(move || ingest.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_are_indexed_and_rolled_up_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ingest) = open(dir.path()).await;
    let mut seq = 0;
    for _ in 0..5 {
        let request = ExportRequest::Traces(fleet::spans(0, &mut seq, 100));
        let rejections = ingest.export(request).await.expect("acknowledged");
        assert_eq!(rejections.accepted, 100);
    }
    eventually("500 spans searchable", async || {
        store.spans.num_docs() == 500
    })
    .await;
    // One span in four is a function's invocation: the root of its trace.
    eventually("125 invocations rolled up", async || {
        invocations(&store).await == 125
    })
    .await;
    stop(ingest).await;
    drop(store);

    // Replay after the restart finds everything committed: nothing twice.
    let (store, ingest) = open(dir.path()).await;
    eventually("replay done", async || ingest.replay_done()).await;
    assert_eq!(store.spans.num_docs(), 500);
    assert_eq!(invocations(&store).await, 125);
    stop(ingest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_are_dropped_with_a_reason_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ingest) = open(dir.path()).await;
    let trace = exact::trace_id(7);
    let mut zero_trace = exact::span(trace, 2, "broken");
    zero_trace.trace_id = vec![0; 16];
    let request = exact::spans_request("checkout", vec![exact::span(trace, 1, "good"), zero_trace]);
    let rejections = ingest
        .export(ExportRequest::Traces(request))
        .await
        .expect("the good span is acknowledged");
    assert_eq!(rejections.accepted, 1);
    assert_eq!(
        rejections.by_reason.values().sum::<u64>(),
        1,
        "{rejections:?}"
    );
    eventually("the good span searchable", async || {
        store.spans.num_docs() == 1
    })
    .await;
    stop(ingest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shut_down_ingest_refuses_exports_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, ingest) = open(dir.path()).await;
    let mut seq = 0;
    let request = ExportRequest::Metrics(fleet::metrics(0, &mut seq, 10));
    stop(ingest.clone()).await;
    assert!(matches!(
        ingest.export(request).await,
        Err(IngestError::Unavailable(_))
    ));
}

/// The log entries of `signal` in the WAL under `dir`, in order.
fn logged(dir: &std::path::Path, signal: weir_collector::otlp::SignalKind) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    weir_collector::wal::reader(&dir.join("wal"))
        .read(signal, 0, u64::MAX, &mut |entry| {
            payloads.push(entry.payload)
        })
        .expect("the WAL reads");
    payloads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_keeps_the_bytes_that_arrived_unless_validation_dropped_a_record() {
    use prost::Message;
    use weir_collector::otlp::SignalKind;
    let dir = tempfile::tempdir().unwrap();
    let (store, ingest) = open(dir.path()).await;
    // A field this version of OTLP does not know (number 1000, varint 7):
    // decoding skips it, so only the bytes as sent still hold it.
    let unknown_field = [0xC0, 0x3E, 0x07];
    let trace = exact::trace_id(9);
    let clean = exact::spans_request("checkout", vec![exact::span(trace, 1, "good")]);
    let mut sent = clean.encode_to_vec();
    sent.extend_from_slice(&unknown_field);
    let decoded = ExportRequest::decode_protobuf(SignalKind::Traces, &sent).unwrap();
    ingest
        .export_as_sent(decoded, bytes::Bytes::from(sent.clone()))
        .await
        .expect("acknowledged");

    let mut bad = exact::span(trace, 2, "broken");
    bad.span_id = vec![0; 8];
    let dirty = exact::spans_request("checkout", vec![exact::span(trace, 3, "kept"), bad]);
    let mut dirty_sent = dirty.encode_to_vec();
    dirty_sent.extend_from_slice(&unknown_field);
    let decoded = ExportRequest::decode_protobuf(SignalKind::Traces, &dirty_sent).unwrap();
    let rejections = ingest
        .export_as_sent(decoded, bytes::Bytes::from(dirty_sent.clone()))
        .await
        .expect("the good span is acknowledged");
    assert_eq!(rejections.accepted, 1);

    let payloads = logged(dir.path(), SignalKind::Traces);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0], sent, "stored as sent, not encoded again");
    assert_ne!(payloads[1], dirty_sent, "a dropped record is not stored");
    let ExportRequest::Traces(stored) =
        ExportRequest::decode_protobuf(SignalKind::Traces, &payloads[1]).unwrap()
    else {
        panic!("traces")
    };
    let names: Vec<&str> = stored.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["kept"]);
    eventually("both good spans searchable", async || {
        store.spans.num_docs() == 2
    })
    .await;
    stop(ingest).await;
}
