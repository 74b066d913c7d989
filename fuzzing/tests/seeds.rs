//! The seeds that are bytes no editor writes: OTLP protobuf bodies (the
//! specification's JSON examples, encoded) and write-ahead log segments.
//! Run with `--ignored` to write them again when a format changes.

use std::path::Path;
use weir_collector::otlp::{ExportRequest, SignalKind};

#[test]
#[ignore = "writes the generated seeds into corpus/; run once when a format changes"]
fn write_generated_seeds() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let wal_dir = tempfile::tempdir().unwrap();
    let mut wal = weir_collector::wal::Wal::open(wal_dir.path(), 0, 0, 1 << 30, |_| {}).unwrap();
    for (pick, name) in [(0u8, "trace"), (1, "logs"), (2, "metrics")] {
        let signal = SignalKind::ALL[pick as usize];
        let json = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../tests/fixtures/otlp-spec-{name}.json")),
        )
        .unwrap();
        let protobuf = ExportRequest::decode_json(signal, &json).unwrap().encode();
        let mut seed = vec![pick];
        seed.extend_from_slice(&protobuf);
        std::fs::write(corpus.join(format!("otlp_protobuf/spec-{name}.pb")), seed).unwrap();
        wal.append(&[(signal, &protobuf), (signal, b"second record")])
            .unwrap();
    }
    drop(wal);
    let segment = std::fs::read_dir(wal_dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(segment, corpus.join("wal_segment/three-batches.wal")).unwrap();
}
