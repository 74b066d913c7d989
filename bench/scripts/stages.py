#!/usr/bin/env python3
"""Sorts perf samples of weir into ingest stages and prints ns of CPU per span.

Input: `perf script -F comm,ip,sym` with call stacks (one sample per block:
the thread name, then one frame per line, leaf first). A sample belongs to
the first stage in STAGES whose pattern matches its thread name or any of
its frames; the order puts specific stages before the general ones that
contain them (a commit inside the storage worker is a commit, not
conversion).
"""

import argparse
import re
import sys
from collections import Counter

STAGES = [
    ("merges", r"tantivy::indexer::merger|merge_segments|MergeOperation|^tantivy-merge|merge_thread"),
    ("commit", r"SignalIndex::commit|IndexWriter::commit|prepare_commit|write_metrics|merge_rollups|sqlx"),
    ("tantivy indexing", r"^thrd-tantivy|tantivy::indexer::segment_writer|SegmentWriter|tantivy::postings|tantivy::store::writer|zstd"),
    ("document build", r"weir_store::index::document|weir_store::index::SignalIndex::add_"),
    ("rollups and topology", r"weir_core::accumulator|weir_core::topology|weir_core::rollup|rollup_sink|sketches_ddsketch"),
    ("convert (OTLP → core)", r"weir_collector::otlp::convert"),
    ("WAL", r"weir_collector::wal|^weir-wal|fdatasync|crc32fast"),
    ("validate", r"weir_collector::otlp::validate"),
    ("re-encode for the WAL", r"ExportRequest::encode|Message>::encode|encode_raw|encoded_len"),
    ("receive + decode", r"prost::|decode_protobuf|tonic::codec|h2::|hyper::|tonic::|http_body|flate2|axum::"),
    ("tokio and other", r"."),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in STAGES]


def samples(path):
    """Yields (thread, [frames]) for every sample in a perf script dump."""
    thread, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if thread is not None:
                    yield thread, frames
                thread, frames = None, []
            elif line[0] in " \t":
                parts = line.strip().split(None, 1)
                frames.append(parts[1] if len(parts) > 1 else parts[0])
            else:
                thread = line.strip()
    if thread is not None:
        yield thread, frames


def stage_of(thread, frames):
    for name, pattern in COMPILED:
        if pattern.search(thread) or any(pattern.search(f) for f in frames):
            return name
    return "tokio and other"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stacks")
    parser.add_argument("--hz", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--spans-per-second", type=float, required=True)
    args = parser.parse_args()
    counts = Counter(stage_of(t, f) for t, f in samples(args.stacks))
    total = sum(counts.values())
    if total == 0:
        sys.exit("no samples")
    spans = args.spans_per_second * args.seconds
    ns_per_sample = 1e9 / args.hz
    print(f"| stage | ns of CPU per span | share |")
    print("|---|---|---|")
    for name, _ in STAGES:
        n = counts.get(name, 0)
        print(f"| {name} | {n * ns_per_sample / spans:,.0f} | {100 * n / total:.1f} % |")
    print(f"| all of weir | {total * ns_per_sample / spans:,.0f} | 100 % |")
    print(
        f"\n{total} samples over {args.seconds:.0f} s at {args.hz:.0f} Hz "
        f"({total / args.hz / args.seconds:.2f} cores busy); "
        f"{args.spans_per_second:,.0f} spans/s acknowledged in that run"
    )


if __name__ == "__main__":
    main()
