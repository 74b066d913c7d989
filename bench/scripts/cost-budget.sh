#!/usr/bin/env bash
# Where weir's CPU goes, per span, while spans saturate ingest: samples the
# release weir with perf (Debian's linux-perf; cpu-clock, DWARF call stacks)
# through a window of the benchmark's gRPC span phase, then sorts every
# sample into a stage by the frames on its stack (bench/scripts/stages.py).
#
#   bench/scripts/cost-budget.sh [--profile realistic] [--weir PATH]
#
# Prints ns of CPU per span for each stage: receive + decode, validate,
# re-encode, WAL, convert, document build, tantivy indexing, merges, rollups
# and topology, commit, other.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/weir-cost-budget}
window=${WINDOW:-15}
mkdir -p "$out"
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
target/release/weir-bench --runs 1 --json-spans 1000 --logs 1000 --points 1000 --lookups 10 "$@" \
  > "$out/bench.txt" 2> "$out/bench.err" &
bench=$!
pid=""
for _ in $(seq 200); do
  pid=$(pgrep -n -x weir || true)
  [ -n "$pid" ] && break
  sleep 0.05
done
[ -n "$pid" ] || { echo "weir did not start; see $out/bench.err" >&2; exit 1; }
# Past start-up and the first commits, inside the span phase.
sleep 3
perf record -q -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" -- sleep "$window" 2>/dev/null
wait "$bench"
rate=$(grep -m1 "spans/s acknowledged (gRPC" "$out/bench.txt" | awk -F'|' '{print $3}' | tr -d ' ')
perf script -i "$out/perf.data" -F comm,ip,sym 2>/dev/null > "$out/stacks.txt"
python3 bench/scripts/stages.py "$out/stacks.txt" --hz 499 --seconds "$window" --spans-per-second "$rate"
