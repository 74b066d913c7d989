#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL (Debian's server binaries,
# initdb + pg_ctl on a free loopback port, as the postgres user when run as
# root) and passes its URL in $PG_URL; the server and its files are removed
# afterwards.
#
#   bench/scripts/with-postgres.sh sh -c 'target/release/weir-bench --database-url "$PG_URL"'
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
dir=$(mktemp -d /tmp/weir-bench-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$bin/initdb -D $dir/data -U weir --auth=trust >/dev/null"
as_pg "$bin/pg_ctl -D $dir/data -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on' -l $dir/log -w start >/dev/null"
trap 'as_pg "$bin/pg_ctl -D $dir/data -m fast stop >/dev/null" || true; rm -rf "$dir"' EXIT
as_pg "$bin/createdb -h 127.0.0.1 -p $port -U weir weir"
export PG_URL="postgres://weir@127.0.0.1:$port/weir"
"$@"
