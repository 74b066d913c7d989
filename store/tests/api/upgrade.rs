//! Partitions written by an older weir (FST term dictionaries, the fixture
//! under `tests/fixtures/fst-index`, written by weir 0a153b7 from two spans
//! and two log records sent over OTLP/JSON) are re-indexed at open, keep
//! every record and their commit position, and a crash at any step of the
//! swap is finished at the next open.

use crate::common::open_index as open;
use std::path::{Path, PathBuf};
use weir_store::index::{Signal, SignalIndex};

const DAY: &str = "20261202";
const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn fixture(signal: Signal) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fst-index")
        .join(signal.as_str())
        .join(DAY)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A data root holding the older partition of `signal`.
fn older_root(signal: Signal) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &fixture(signal),
        &dir.path().join(signal.as_str()).join(DAY),
    );
    dir
}

fn hits(index: &SignalIndex, query: &str) -> usize {
    let q = index.parse_query(query).unwrap();
    index.search(q.as_ref(), 0, u64::MAX, 100).unwrap().len()
}

fn leftovers(root: &Path, signal: Signal) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(signal.as_str()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_spans_answer(index: &SignalIndex) {
    assert_eq!(index.num_docs(), 2);
    assert_eq!(hits(index, &format!("trace_id:{TRACE}")), 2);
    assert_eq!(
        hits(index, "key:order-4711"),
        2,
        "correlation by an attribute value"
    );
    assert_eq!(
        hits(index, "key:retry-key-99"),
        1,
        "an event attribute's value"
    );
    assert_eq!(
        hits(index, "link_trace_id:0af7651916cd43dd8448eb211c80319c"),
        1
    );
    assert_eq!(hits(index, "status:error"), 1);
    assert_eq!(hits(index, "ProvisionedThroughputExceededException"), 1);
    assert_eq!(hits(index, "attributes.rpc.service:DynamoDB"), 1);
    assert_eq!(hits(index, "resource.cloud.region:eu-west-1"), 2);
    assert_eq!(hits(index, "service:billing"), 0);
}

#[test]
fn an_older_span_partition_is_reindexed_with_every_record_and_its_position() {
    let root = older_root(Signal::Spans);
    let index = open(root.path(), Signal::Spans);
    assert!(index.committed_seq() > 0, "the WAL position carries over");
    let committed = index.committed_seq();
    assert_spans_answer(&index);
    assert_eq!(leftovers(root.path(), Signal::Spans), [DAY]);
    let trace = index.term_query("trace_id", TRACE).unwrap();
    let stored = index.lookup(trace.as_ref(), 10).unwrap();
    assert_eq!(stored.len(), 2, "records read back whole");
    assert!(stored.iter().all(|h| !h.doc.is_empty()));
    drop(index);

    // Reopened: today's format, nothing rebuilt again, same answers.
    let marker = root
        .path()
        .join("spans")
        .join(DAY)
        .join("weir-index-format");
    let before = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let index = open(root.path(), Signal::Spans);
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(index.committed_seq(), committed);
    assert_spans_answer(&index);
}

#[test]
fn an_older_log_partition_is_reindexed_and_searchable_by_text_and_trace() {
    let root = older_root(Signal::Logs);
    let index = open(root.path(), Signal::Logs);
    assert_eq!(index.num_docs(), 2);
    assert_eq!(hits(&index, "declined"), 1);
    assert_eq!(hits(&index, "\"declined for order-4711\""), 1);
    assert_eq!(hits(&index, &format!("trace_id:{TRACE}")), 1);
    assert_eq!(
        hits(&index, "key:order-4712"),
        1,
        "a body that is exactly an id"
    );
    assert_eq!(hits(&index, "severity:error"), 1);
}

#[test]
fn a_rebuild_cut_off_before_its_commit_starts_again_from_the_original() {
    let root = older_root(Signal::Spans);
    let half_built = root.path().join("spans").join(format!("{DAY}.rebuilding"));
    std::fs::create_dir_all(&half_built).unwrap();
    std::fs::write(half_built.join("meta.json"), b"{ not finished").unwrap();
    let index = open(root.path(), Signal::Spans);
    assert_spans_answer(&index);
    assert_eq!(leftovers(root.path(), Signal::Spans), [DAY]);
}

#[test]
fn a_swap_cut_off_between_its_renames_is_finished() {
    // A completed rebuild, to stand in for one a crash left behind.
    let done = older_root(Signal::Spans);
    drop(open(done.path(), Signal::Spans));
    let rebuilt = done.path().join("spans").join(DAY);

    // Cut off after the old partition was moved aside.
    let root = tempfile::tempdir().unwrap();
    let spans = root.path().join("spans");
    copy_dir(
        &fixture(Signal::Spans),
        &spans.join(format!("{DAY}.replaced")),
    );
    copy_dir(&rebuilt, &spans.join(format!("{DAY}.rebuilding")));
    let index = open(root.path(), Signal::Spans);
    assert_spans_answer(&index);
    drop(index);
    assert_eq!(leftovers(root.path(), Signal::Spans), [DAY]);

    // Cut off after the new one was moved in, before the old one was removed.
    let root = tempfile::tempdir().unwrap();
    let spans = root.path().join("spans");
    copy_dir(
        &fixture(Signal::Spans),
        &spans.join(format!("{DAY}.replaced")),
    );
    copy_dir(&rebuilt, &spans.join(DAY));
    let index = open(root.path(), Signal::Spans);
    assert_spans_answer(&index);
    assert_eq!(leftovers(root.path(), Signal::Spans), [DAY]);
}

#[test]
fn an_older_partition_whose_records_cannot_be_read_is_left_untouched_and_open_fails() {
    let root = older_root(Signal::Spans);
    let live = root.path().join("spans").join(DAY);
    let store = std::fs::read_dir(&live)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "store"))
        .unwrap();
    let mut bytes = std::fs::read(&store).unwrap();
    // Past the block's length prefix: the compressed frame itself is damaged.
    bytes[8..64].fill(0xff);
    std::fs::write(&store, &bytes).unwrap();

    let budget = weir_store::index::WriterBudget {
        threads: 1,
        heap_bytes: 20 << 20,
    };
    let error = SignalIndex::open(root.path(), Signal::Spans, budget)
        .err()
        .expect("a partition that cannot be re-indexed stops the start");
    let message = error.to_string();
    assert!(
        message.contains("cannot re-index") && message.contains(DAY) && message.contains("move"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        bytes,
        "the original is not touched"
    );
    assert!(
        !live.join("weir-index-format").exists(),
        "still the older format"
    );
    assert!(
        !root
            .path()
            .join("spans")
            .join(format!("{DAY}.replaced"))
            .exists()
    );
}
