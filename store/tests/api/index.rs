//! The event index: add, commit, search, committed position, reopen.

use crate::common::{NOW, log, span};
use std::path::Path;
use weir_store::StoreError;
use weir_store::index::{Signal, SignalIndex, StoredHit, WriterBudget};

const DAY: u64 = 86_400 * 1_000_000_000;

fn open(root: &Path, signal: Signal) -> SignalIndex {
    SignalIndex::open(
        root,
        signal,
        WriterBudget {
            threads: 1,
            heap_bytes: 20 << 20,
        },
    )
    .unwrap()
}

fn search(index: &SignalIndex, query: &str) -> Vec<u64> {
    let q = index.parse_query(query).unwrap();
    index
        .search(q.as_ref(), 0, u64::MAX, 100)
        .unwrap()
        .iter()
        .map(|h: &StoredHit| h.time)
        .collect()
}

#[test]
fn spans_are_searchable_once_committed_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path(), Signal::Spans);
    assert_eq!(index.signal(), Signal::Spans);
    assert_eq!(index.committed_seq(), 0);
    let spans = [
        span(1, "orders", "poll orders-stream", NOW + 1),
        span(2, "orders", "checkout", NOW + 2),
        span(3, "billing", "charge", NOW + 3),
    ];
    index.add_spans(&spans, NOW).unwrap();
    assert_eq!(index.uncommitted_docs(), 3);
    assert!(search(&index, "").is_empty(), "nothing before the commit");

    index.commit(5, NOW).unwrap();
    assert_eq!(index.committed_seq(), 5);
    assert_eq!(index.uncommitted_docs(), 0);
    assert_eq!(index.num_docs(), 3);
    assert_eq!(index.last_commit_nanos(), NOW);
    assert_eq!(
        search(&index, ""),
        [NOW + 3, NOW + 2, NOW + 1],
        "newest first"
    );
    assert_eq!(search(&index, "service:orders"), [NOW + 2, NOW + 1]);
    assert_eq!(search(&index, "name:checkout"), [NOW + 2]);
    assert_eq!(search(&index, "key:order-3"), [NOW + 3]);
    let q = index.parse_query("service:orders").unwrap();
    let window = index.search(q.as_ref(), NOW + 2, NOW + 5, 10).unwrap();
    assert_eq!(window.len(), 1);
    let stored: weir_core::Span = serde_json::from_slice(&window[0].doc).unwrap();
    assert_eq!(stored, spans[1], "the whole span is stored");
    let trace = index
        .term_query("trace_id", &spans[2].trace_id.to_hex())
        .unwrap();
    assert_eq!(index.lookup(trace.as_ref(), 10).unwrap().len(), 1);
    assert!(matches!(
        index.parse_query("name:(unclosed"),
        Err(StoreError::BadQuery(_))
    ));

    // Uncommitted work is lost on reopen; the last commit is kept.
    index
        .add_spans(&[span(4, "orders", "lost", NOW + 4)], NOW)
        .unwrap();
    assert_eq!(index.reopen().unwrap(), 5);
    assert_eq!(index.uncommitted_docs(), 0);
    assert_eq!(index.committed_seq(), 5);
    assert!(search(&index, "name:lost").is_empty());
    index
        .add_spans(&[span(5, "orders", "after", NOW + 5)], NOW)
        .unwrap();
    index.commit(7, NOW).unwrap();
    assert_eq!(index.committed_seq(), 7);
    drop(index);

    // Opened again, as after a restart: the position comes from the commit payload.
    let index = open(dir.path(), Signal::Spans);
    assert_eq!(index.committed_seq(), 7);
    assert_eq!(index.num_docs(), 4);
    assert_eq!(search(&index, "name:after"), [NOW + 5]);
}

#[test]
fn the_committed_position_spans_daily_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path(), Signal::Spans);
    // Ingested yesterday, committed today: the writer then moves on.
    index
        .add_spans(&[span(1, "orders", "yesterday", NOW - DAY)], NOW - DAY)
        .unwrap();
    index.commit(3, NOW).unwrap();
    index
        .add_spans(&[span(2, "orders", "today", NOW)], NOW)
        .unwrap();
    index.commit(8, NOW).unwrap();
    drop(index);
    let mut days: Vec<String> = std::fs::read_dir(dir.path().join("spans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    days.sort();
    assert_eq!(days, ["20270114", "20270115"]);
    let index = open(dir.path(), Signal::Spans);
    assert_eq!(index.committed_seq(), 8, "the highest of all partitions");
    assert_eq!(search(&index, ""), [NOW, NOW - DAY]);
    assert_eq!(index.drop_partitions_before(20_270_115).unwrap(), 1);
    assert_eq!(search(&index, ""), [NOW]);
}

#[test]
fn logs_are_indexed_apart_from_spans() {
    let dir = tempfile::tempdir().unwrap();
    let logs = open(dir.path(), Signal::Logs);
    let spans = open(dir.path(), Signal::Spans);
    logs.add_logs(
        &[
            log(1, "orders", "payment declined", NOW),
            log(2, "billing", "card expired", NOW + 1),
        ],
        NOW,
    )
    .unwrap();
    logs.commit(4, NOW).unwrap();
    assert_eq!(logs.committed_seq(), 4);
    assert_eq!(spans.committed_seq(), 0);
    assert_eq!(search(&logs, "declined"), [NOW]);
    assert_eq!(search(&logs, "severity:error"), [NOW + 1, NOW]);
    assert!(search(&spans, "").is_empty());
    drop(logs);
    assert_eq!(open(dir.path(), Signal::Logs).committed_seq(), 4);
}
