#!/usr/bin/env bash
# make cluster-stop: stop what make cluster started, by the pids it wrote down
# (newest first: HAProxy, replicas, model server, PostgreSQL, Redis).
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${CLUSTER_DIR:-$PWD/data/cluster}
PIDS=$DIR/pids
[ -s "$PIDS" ] || { echo "no cluster running ($PIDS is empty)"; exit 0; }
tac "$PIDS" | while read -r name pid; do
  if kill -0 "$pid" 2>/dev/null; then
    # PostgreSQL: SIGINT is its fast shutdown; everything else stops on SIGTERM.
    if [ "$name" = postgres ]; then kill -INT "$pid"; else kill -TERM "$pid"; fi
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped $name ($pid)"
  fi
done
: >"$PIDS"
