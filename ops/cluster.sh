#!/usr/bin/env bash
# make cluster: Redis, PostgreSQL, one shared model server, three replicas on
# 127.0.0.1:8101-8103 and HAProxy on 127.0.0.1:8080, as plain processes whose pids
# are kept in $CLUSTER_DIR/pids (make cluster-stop stops exactly those).
# Environment passes through to the replicas (API_KEYS, RATE_LIMIT, LLM_BASE_URL, ...);
# with LLM_BASE_URL set no model server is started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${CLUSTER_DIR:-$ROOT/data/cluster}
REDIS_PORT=${CLUSTER_REDIS_PORT:-6380}
PG_PORT=${CLUSTER_PG_PORT:-5433}
MODEL_PORT=${CLUSTER_MODEL_PORT:-8100}
FRONT_PORT=${CLUSTER_PORT:-8080}
REPLICA_PORTS=(8101 8102 8103)
PY=$ROOT/.venv/bin/python
mkdir -p "$DIR"
PIDS=$DIR/pids
if [ -s "$PIDS" ]; then
  echo "a cluster seems to run already ($PIDS); make cluster-stop first" >&2
  exit 1
fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if ! command -v redis-server >/dev/null || [ -z "$(pg_bin)" ] || ! command -v haproxy >/dev/null; then
  echo "installing redis-server, postgresql and haproxy (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql haproxy >/dev/null
fi
PG=$(pg_bin)

wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$what did not come up; see $DIR/*.log" >&2; exit 1
}
remember() { echo "$1 $2" >>"$PIDS"; }  # NAME PID

# Redis: no persistence needed for a cache and counters.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$DIR" >"$DIR/redis.log" 2>&1 &
remember redis $!
wait_for Redis 10 redis-cli -p "$REDIS_PORT" ping

# PostgreSQL refuses root: its directory belongs to the postgres user.
PGDATA=$DIR/postgres
AS_PG=()
if [ "$(id -u)" = 0 ]; then AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups); fi
if [ ! -d "$PGDATA" ]; then
  mkdir -p "$PGDATA"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
  "${AS_PG[@]}" "$PG/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 >"$DIR/initdb.log" 2>&1
fi
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR" 2>/dev/null || true
"${AS_PG[@]}" "$PG/postgres" -D "$PGDATA" -p "$PG_PORT" -k "$PGDATA" \
  -c listen_addresses=127.0.0.1 >"$DIR/postgres.log" 2>&1 &
remember postgres $!
wait_for PostgreSQL 30 "$PG/pg_isready" -h 127.0.0.1 -p "$PG_PORT"

if [ -z "${LLM_BASE_URL:-}" ]; then
  "$PY" -m ops.model_server "$MODEL_PORT" >"$DIR/model.log" 2>&1 &
  remember model $!
  wait_for "the model server" 300 curl -sf "http://127.0.0.1:$MODEL_PORT/v1/models"
  export LLM_BASE_URL=http://127.0.0.1:$MODEL_PORT/v1
  # llama-cpp-python's server: one generation at a time, json_object form.
  export LLM_CONCURRENCY=${LLM_CONCURRENCY:-1}
  export LLM_STRUCTURED_OUTPUT=${LLM_STRUCTURED_OUTPUT:-json_object}
fi

export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:$PG_PORT/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}
SERVERS=""
for i in "${!REPLICA_PORTS[@]}"; do
  port=${REPLICA_PORTS[$i]}
  "$PY" -m service.cli serve --host 127.0.0.1 --port "$port" >"$DIR/replica-$((i + 1)).log" 2>&1 &
  remember "replica-$((i + 1))" $!
  SERVERS+="    server replica$((i + 1)) 127.0.0.1:$port check"$'\n'
  SERVERS+="    server replica$((i + 1))-unchecked 127.0.0.1:$port backup"$'\n'
done
for port in "${REPLICA_PORTS[@]}"; do
  wait_for "the replica on $port" 300 curl -sf "http://127.0.0.1:$port/readyz"
done

sed -e "s/@FRONT_PORT@/$FRONT_PORT/" -e "/@SERVERS@/{
r /dev/stdin
d
}" ops/haproxy.cfg.in >"$DIR/haproxy.cfg" <<<"$SERVERS"
haproxy -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 &
remember haproxy $!
wait_for HAProxy 10 curl -sf "http://127.0.0.1:$FRONT_PORT/readyz"
echo "cluster up: http://127.0.0.1:$FRONT_PORT (replicas ${REPLICA_PORTS[*]}; logs and pids in $DIR)"
