//! An acknowledged export survives kill -9; a clean shutdown commits everything.

use crate::harness::{Weir, wait_for};
use crate::otlp::{span, spans_request, trace_id};
use prost::Message;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

const REQUESTS: u64 = 40;
const SPANS_PER_REQUEST: u64 = 25;

fn send_acknowledged(weir: &Weir, first_trace: u64) {
    std::thread::scope(|s| {
        for t in first_trace..first_trace + REQUESTS {
            s.spawn(move || {
                let spans = (0..SPANS_PER_REQUEST)
                    .map(|n| span(trace_id(t), n, "acked"))
                    .collect();
                let body = spans_request("durable", spans).encode_to_vec();
                let r = weir.post_otlp("/v1/traces", "application/x-protobuf", &[], body);
                assert_eq!(r.status(), 200, "acknowledged");
            });
        }
    });
}

/// Every acknowledged trace holds exactly the spans sent: the same ids, each once.
fn assert_all_present(weir: &Weir, first_trace: u64) {
    let sent: BTreeSet<String> = (0..SPANS_PER_REQUEST)
        .map(|n| hex::encode(span(trace_id(0), n, "acked").span_id))
        .collect();
    for t in first_trace..first_trace + REQUESTS {
        let trace = weir.wait_for_trace(&hex::encode(trace_id(t)), SPANS_PER_REQUEST as usize, 0);
        let stored: BTreeSet<String> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["span_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            stored, sent,
            "trace {t} holds exactly the acknowledged spans"
        );
    }
}

#[test]
fn every_acknowledged_span_survives_kill_9_and_replay_counts_nothing_twice() {
    // A long commit interval: at the kill, acknowledged data is in the WAL only.
    let mut weir = Weir::start("[ingest]\ncommit_interval = \"1h\"");
    send_acknowledged(&weir, 1000);
    weir.kill9();
    weir.restart();
    assert_all_present(&weir, 1000);

    // Restart again: replay must not index the same records a second time.
    weir.kill9();
    weir.restart();
    let total = REQUESTS * SPANS_PER_REQUEST;
    let mut seen = HashSet::new();
    let mut cursor = String::new();
    loop {
        let page = weir.get_json(&format!(
            "/api/v1/search?q=service:durable&signal=spans&limit=300&cursor={cursor}"
        ));
        for hit in page["hits"].as_array().unwrap() {
            let key = format!("{}/{}", hit["trace_id"], hit["span_id"]);
            assert!(seen.insert(key.clone()), "span {key} returned twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(
        seen.len() as u64,
        total,
        "every span exactly once across pages"
    );
}

#[test]
fn sigterm_flushes_and_commits_then_the_wal_is_trimmed() {
    let mut weir = Weir::start("[ingest]\ncommit_interval = \"1h\"");
    send_acknowledged(&weir, 2000);
    let status = weir.terminate();
    assert!(status.success(), "clean exit: {}", weir.log());
    assert!(weir.log().contains("stopped cleanly"));
    let wal_dir = weir.data_dir.join("wal");
    let old_segments: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !old_segments.is_empty(),
        "the first run wrote a WAL segment"
    );
    weir.restart();
    // Committed at shutdown, so nothing needs replaying and it is all there.
    assert!(
        !weir.log().contains("replaying the write-ahead log"),
        "{}",
        weir.log()
    );
    assert_all_present(&weir, 2000);
    // Segments whose records are all committed are deleted as new data flows.
    let mut next = 3000;
    wait_for(
        "committed WAL segments to be deleted",
        Duration::from_secs(30),
        || {
            let body =
                spans_request("durable", vec![span(trace_id(next), 0, "more")]).encode_to_vec();
            next += 1;
            assert_eq!(
                weir.post_otlp("/v1/traces", "application/x-protobuf", &[], body)
                    .status(),
                200
            );
            old_segments.iter().all(|p| !p.exists()).then_some(())
        },
    );
}
