//! The event index: add, commit, search, committed position, reopen.

use crate::common::{NOW, log, open_index as open, span};
use weir_store::StoreError;
use weir_store::index::{Signal, SignalIndex, StoredHit};

const DAY: u64 = 86_400 * 1_000_000_000;

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
    let stored: weir_core::Span = weir_store::index::stored::decode(&window[0].doc).unwrap();
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

fn lookup_count(index: &SignalIndex, value: &str) -> usize {
    let q = index.any_string_value_query(value);
    index.search(q.as_ref(), 0, u64::MAX, 100).unwrap().len()
}

#[test]
fn correlation_keys_are_found_under_every_string_path_and_survive_a_reopen() {
    use weir_core::fixtures::attributes;
    use weir_core::{AttrValue, SpanEvent};
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path(), Signal::Spans);
    let mut nested = span(1, "orders", "nested", NOW + 1);
    nested.attributes = attributes(&[
        (
            "message",
            AttrValue::Map(attributes(&[("id", AttrValue::Str("msg-7".into()))])),
        ),
        (
            "batch.keys",
            AttrValue::Array(vec![
                AttrValue::Str("rec-a".into()),
                AttrValue::Str("rec-b".into()),
            ]),
        ),
        ("attempt", AttrValue::Int(3)),
    ]);
    let mut with_event = span(2, "billing", "event", NOW + 2);
    with_event.events = vec![SpanEvent {
        name: "retry".into(),
        time_unix_nano: NOW + 2,
        attributes: attributes(&[("invoice", AttrValue::Str("inv-9".into()))]),
    }];
    // More keys than the registry holds: the rest are found through `key`.
    let mut wide = span(3, "billing", "wide", NOW + 3);
    wide.attributes = attributes(
        &(0..weir_store::index::MAX_STRING_PATHS + 5)
            .map(|i| (format!("k{i}"), AttrValue::Str(format!("v{i}"))))
            .collect::<Vec<_>>()
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    );
    index
        .add_spans(
            &[
                nested,
                with_event,
                wide,
                span(4, "orders", "plain", NOW + 4),
            ],
            NOW,
        )
        .unwrap();
    index.commit(9, NOW).unwrap();

    let check = |index: &SignalIndex| {
        for (value, time) in [
            ("msg-7", NOW + 1),
            ("rec-b", NOW + 1),
            ("inv-9", NOW + 2),
            ("v0", NOW + 3),
            ("v1024", NOW + 3),
            ("order-4", NOW + 4),
        ] {
            assert_eq!(
                search(index, &format!("key:\"{value}\"")),
                [time],
                "key:{value}"
            );
            assert_eq!(lookup_count(index, value), 1, "any value {value}");
        }
        assert_eq!(
            search(index, "key:orders"),
            [NOW + 4, NOW + 1],
            "resource values"
        );
        assert_eq!(
            search(index, r#"key:"orders" AND name:nested"#),
            [NOW + 1],
            "a resource value, combined with another clause"
        );
        assert_eq!(search(index, "key: IN [rec-a inv-9]"), [NOW + 2, NOW + 1]);
        assert_eq!(search(index, "attributes.message.id:msg-7"), [NOW + 1]);
        assert!(search(index, "key:3").is_empty(), "numbers are no keys");
    };
    check(&index);
    // Indexed once: a value under a known path is not in `key` itself.
    let in_key_field = index.term_query("key", "order-4").unwrap();
    assert!(index.lookup(in_key_field.as_ref(), 10).unwrap().is_empty());
    drop(index);
    // The registry comes back from the commit payload.
    check(&open(dir.path(), Signal::Spans));
}

#[test]
fn numeric_fields_answer_ranges_from_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path(), Signal::Spans);
    let mut slow = span(1, "orders", "slow", NOW + 1);
    slow.end_time_unix_nano = slow.start_time_unix_nano + 900_000_000;
    index
        .add_spans(&[slow, span(2, "orders", "fast", NOW + 2)], NOW)
        .unwrap();
    index.commit(1, NOW).unwrap();
    assert_eq!(search(&index, "duration_ms:>100"), [NOW + 1]);
    assert_eq!(search(&index, "duration_ms:[1 TO 3]"), [NOW + 2]);
    assert_eq!(search(&index, "duration_ms:*"), [NOW + 2, NOW + 1]);
    let q = index.parse_query("").unwrap();
    assert_eq!(
        index
            .search(q.as_ref(), NOW + 2, NOW + 9, 10)
            .unwrap()
            .len(),
        1
    );
    let Err(StoreError::BadQuery(why)) = index.parse_query("duration_ms:2") else {
        panic!("a single value on a column is refused");
    };
    assert!(why.contains("duration_ms:>100"), "{why}");
}

#[test]
fn the_newest_page_is_exact_across_segments_and_partitions_whatever_order_they_hold_times_in() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path(), Signal::Spans);
    // Four commits, four segments, their event times interleaved; the last
    // partition (a later ingest day) holds the oldest events, the first
    // one of the newest.
    let batches: [(&[u64], u64); 5] = [
        (&[10, 50, 90], NOW),
        (&[20, 60, 100], NOW),
        (&[30, 70, 100], NOW),
        (&[1, 2, 3], NOW),
        (&[0, 4, 95], NOW + DAY),
    ];
    let mut id = 0u8;
    for (seq, (times, ingested)) in batches.iter().enumerate() {
        let spans: Vec<_> = times
            .iter()
            .map(|t| {
                id += 1;
                span(id, "orders", "poll", NOW + t)
            })
            .collect();
        index.add_spans(&spans, *ingested).unwrap();
        index.commit(seq as u64 + 1, *ingested).unwrap();
    }
    let newest = |limit: usize| -> Vec<u64> {
        let q = index.parse_query("service:orders").unwrap();
        index
            .search(q.as_ref(), 0, u64::MAX, limit)
            .unwrap()
            .iter()
            .map(|h| h.time - NOW)
            .collect()
    };
    assert_eq!(newest(1), [100]);
    assert_eq!(
        newest(3),
        [100, 100, 95],
        "ties and the other partition included"
    );
    assert_eq!(newest(5), [100, 100, 95, 90, 70]);
    let mut all: Vec<u64> = batches
        .iter()
        .flat_map(|(t, _)| t.iter().copied())
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(newest(100), all, "every match, newest first");
}
