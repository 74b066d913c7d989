//! weir's fuzz targets: every parser that reads what a user or a disk hands
//! weir, as plain functions of bytes that must never panic.
//!
//! The same functions run twice: briefly in `cargo test`, over the seed corpus
//! in `corpus/<target>/` and a fixed number of seeded mutations of it (so a
//! regression of a fixed crash fails CI), and for as long as you like under
//! libFuzzer through the cargo-fuzz project in `cargo-fuzz/` (see
//! `docs/FUZZING.md`). Each target goes past decoding into what weir does
//! next with the result (validation and conversion, running the query,
//! checking the rules), since that is where input shapes the parser allowed
//! meet weir's own code.

pub mod mutate;

use std::sync::OnceLock;
use weir_collector::otlp::{ExportRequest, SignalKind};
use weir_store::index::{Signal, SignalIndex, WriterBudget};

/// Receive time used by the targets: fixed, so a crash reproduces.
const NOW: u64 = 1_764_000_000_000_000_000;

fn validate_and_convert(mut request: ExportRequest) {
    let _ = weir_collector::otlp::validate::validate(&mut request, NOW);
    let converted = weir_collector::otlp::convert::convert(request.clone(), NOW);
    // What the WAL stores must decode again.
    let again = ExportRequest::decode_protobuf(request.signal(), &request.encode())
        .expect("a re-encoded request decodes");
    assert_eq!(again.signal(), request.signal());
    drop(converted);
}

/// The first byte picks the signal, the rest is the body `decode` reads.
fn decode_validate_convert(
    data: &[u8],
    decode: impl FnOnce(SignalKind, &[u8]) -> Option<ExportRequest>,
) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    if let Some(request) = decode(SignalKind::ALL[pick as usize % 3], body) {
        validate_and_convert(request);
    }
}

/// OTLP protobuf of every signal (the first byte picks it), then
/// validation and conversion to weir's records.
pub fn otlp_protobuf(data: &[u8]) {
    decode_validate_convert(data, |signal, body| {
        ExportRequest::decode_protobuf(signal, body).ok()
    });
}

/// OTLP/JSON of every signal (the first byte picks it), bad ids included,
/// then validation and conversion.
pub fn otlp_json(data: &[u8]) {
    decode_validate_convert(data, |signal, body| {
        ExportRequest::decode_json(signal, body).ok()
    });
}

/// A small span and log index, built once per process from the OTLP
/// specification's examples.
fn sample_indexes() -> &'static (SignalIndex, SignalIndex) {
    static INDEXES: OnceLock<(SignalIndex, SignalIndex)> = OnceLock::new();
    INDEXES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.keep();
        let budget = WriterBudget {
            threads: 1,
            heap_bytes: 15 << 20,
        };
        let spans = SignalIndex::open(&root, Signal::Spans, budget).expect("span index");
        let logs = SignalIndex::open(&root, Signal::Logs, budget).expect("log index");
        for (signal, json) in [
            (
                SignalKind::Traces,
                &include_bytes!("../../tests/fixtures/otlp-spec-trace.json")[..],
            ),
            (
                SignalKind::Logs,
                &include_bytes!("../../tests/fixtures/otlp-spec-logs.json")[..],
            ),
        ] {
            let request = ExportRequest::decode_json(signal, json).expect("spec example decodes");
            let records = weir_collector::otlp::convert::convert(request.clone(), NOW);
            spans.add_spans(&records.spans, NOW).expect("spans added");
            logs.add_logs(&records.logs, NOW).expect("logs added");
        }
        spans.commit(1, NOW).expect("span commit");
        logs.commit(1, NOW).expect("log commit");
        (spans, logs)
    })
}

/// libFuzzer's panic hook aborts on every panic, even one weir catches: a
/// panic inside tantivy during a search is caught by the store and answered
/// as a bad query, so for those the hook lets the unwinding reach that
/// guard. A tantivy panic no guard catches still reaches libFuzzer (its
/// `catch_unwind` around the target reports it).
fn let_guarded_tantivy_panics_unwind() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_tantivy = info
                .location()
                .is_some_and(|l| l.file().contains("/tantivy-"));
            if !in_tantivy {
                previous(info);
            }
        }));
    });
}

/// A search query (tantivy syntax) parsed and run on both indexes.
pub fn search_query(data: &[u8]) {
    let_guarded_tantivy_panics_unwind();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (spans, logs) = sample_indexes();
    for index in [spans, logs] {
        if let Ok(query) = index.parse_query(text) {
            let _ = index.search(query.as_ref(), 0, u64::MAX, 10);
        }
    }
}

/// A rule file, with its line-numbered checks.
pub fn rule_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = weir_alerts::rules::parse(text, "fuzz.yaml");
    }
}

/// A weir.toml, loaded and checked as `weir serve` does at start.
pub fn config_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = weir::config::check_toml(text);
    }
}

/// One write-ahead log segment, damaged in any way: scanned, then opened
/// as a log directory holding it (torn tails are cut, damage is skipped).
pub fn wal_segment(data: &[u8]) {
    let mut last = 0;
    let report = weir_collector::wal::scan_segment(data, 0, |record| {
        assert!(record.position > last, "sequence numbers increase");
        last = record.position;
    });
    assert!(report.intact_end <= data.len());
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(format!("{:020}.wal", 1)), data).expect("segment written");
    let mut replayed = 0;
    let wal = weir_collector::wal::Wal::open(dir.path(), 0, 0, 1 << 20, |_| replayed += 1)
        .expect("a damaged segment opens");
    assert!(wal.next_seq() > last || replayed == 0);
}

/// A fuzz target: bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("search_query", search_query),
    ("rule_file", rule_file),
    ("config_file", config_file),
    ("wal_segment", wal_segment),
];
