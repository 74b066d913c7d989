//! Cluster mode's split objects: an index sealed, bundled, unbundled and
//! attached to another node's index answers as the original; splits merged
//! into one keep every document, their time range and their string paths;
//! a split's filter lets a lookup skip it.

use crate::common::{MINUTE, NOW, open_index, span};
use weir_store::index::term_filter::TermSet;
use weir_store::index::{Signal, SignalIndex, split};

/// A split of `spans` numbered `from..to`, sealed and bundled.
fn sealed(dir: &std::path::Path, from: u8, to: u8) -> (Vec<u8>, Vec<u8>) {
    let index = open_index(dir, Signal::Spans);
    let spans: Vec<_> = (from..to)
        .map(|n| span(n, "orders", "POST /orders", NOW + u64::from(n) * MINUTE))
        .collect();
    index.add_spans(&spans, NOW).unwrap();
    index.commit(u64::from(to), NOW).unwrap();
    let parts = index.seal().unwrap();
    assert_eq!(parts.len(), 1);
    let mut terms = TermSet::default();
    spans.iter().for_each(|s| terms.add_span(s));
    (split::bundle(&parts[0].0).unwrap(), terms.filter())
}

fn trace_spans(index: &SignalIndex, n: u8) -> usize {
    let hex = weir_core::TraceId([n; 16]).to_hex();
    let q = index.term_query("trace_id", &hex).unwrap();
    index
        .lookup_holding(q.as_ref(), &[&hex], 100)
        .unwrap()
        .len()
}

#[test]
fn splits_attach_merge_and_skip_by_filter() {
    let work = tempfile::tempdir().unwrap();
    let (a, a_filter) = sealed(&work.path().join("a"), 1, 4);
    let (b, b_filter) = sealed(&work.path().join("b"), 4, 9);

    // Another node: unbundle and attach.
    let reader = open_index(&work.path().join("reader"), Signal::Spans);
    let (a_dir, b_dir) = (work.path().join("cache/a"), work.path().join("cache/b"));
    split::unbundle(&a, &a_dir).unwrap();
    split::unbundle(&b, &b_dir).unwrap();
    reader
        .update_splits(&[], &[(&a_dir, &a_filter), (&b_dir, &b_filter)])
        .unwrap();
    assert_eq!(reader.num_docs(), 8);
    assert_eq!(trace_spans(&reader, 2), 1);
    assert_eq!(trace_spans(&reader, 7), 1);
    // A string path known only from a split is queryable by name.
    let q = reader.parse_query("attributes.order.id:order-6").unwrap();
    assert_eq!(reader.search(q.as_ref(), 0, u64::MAX, 10).unwrap().len(), 1);

    // Merged: every document once, the two time ranges as one.
    let merged_dir = work.path().join("merged");
    let payload = split::merge(&[&a_dir, &b_dir], &merged_dir).unwrap();
    assert_eq!(payload.min_time, NOW + MINUTE);
    assert_eq!(payload.max_time, NOW + 8 * MINUTE);
    assert_eq!(payload.wal_seq, 9);
    let merged = split::bundle(&merged_dir).unwrap();
    let swapped_dir = work.path().join("cache/merged");
    split::unbundle(&merged, &swapped_dir).unwrap();
    let filter = weir_store::index::term_filter::TermFilter::merged(&[&a_filter, &b_filter]);
    reader
        .update_splits(&[&a_dir, &b_dir], &[(&swapped_dir, &filter)])
        .unwrap();
    assert_eq!(
        reader.num_docs(),
        8,
        "the sources are gone, the merge holds all"
    );
    for n in 1..9 {
        assert_eq!(trace_spans(&reader, n), 1, "trace {n}");
    }
    let q = reader.parse_query("attributes.order.id:order-2").unwrap();
    assert_eq!(reader.search(q.as_ref(), 0, u64::MAX, 10).unwrap().len(), 1);

    // A filter that rules the id out keeps the split closed: with a filter
    // of other values attached to the same files, the lookup finds nothing.
    let mut other = TermSet::default();
    other.insert("something else");
    reader
        .update_splits(&[&swapped_dir], &[(&swapped_dir, &other.filter())])
        .unwrap();
    assert_eq!(trace_spans(&reader, 3), 0);
}
