#!/usr/bin/env bash
# A local cluster-mode cluster for trying things out (not for production):
# one etcd (Debian's etcd-server), one S3-compatible server
# (scripts/s3-server.sh: versitygw) and N sluice brokers sharing them, all
# on free ports of 127.0.0.1, all data under one new temp dir.
#
#   scripts/cluster-up.sh 3          # etcd, S3 and brokers 1..3; prints the
#                                    # bootstrap list, the environment to use
#                                    # and the stop command
#   scripts/cluster-up.sh 0          # etcd and the S3 server only
#   scripts/cluster-up.sh stop DIR   # stops the brokers, etcd and the S3
#                                    # server of DIR and removes DIR
#
# sluice is built once (go build) into DIR. A start that fails stops what
# it started and removes DIR. Environment: TMPDIR (where DIR goes);
# SLUICE_CLUSTER_SASL=MECHANISMS (e.g. SCRAM-SHA-256) gives each broker a
# second listener, SASL_PLAINTEXT with those mechanisms, after its
# PLAINTEXT one, and prints SLUICE_SASL_BROKERS (users: `sluice user set`).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 N | $0 stop DIR" >&2
  exit 2
}

# stop DIR: every process this script started there (pid files), the S3
# server (its own stop command), then the directory. Only a directory with
# the marker this script writes is removed.
stop() {
  local dir=$1
  if [ ! -f "$dir/.sluice-cluster-up" ]; then
    echo "$dir is not a directory made by $0" >&2
    return 1
  fi
  local f pid
  # Brokers first, so that they do not fail against a stopped etcd.
  for f in "$dir"/broker-*.pid "$dir"/etcd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -f "$dir/s3.stop" ]; then
    eval "$(cat "$dir/s3.stop")" || true
  fi
  rm -rf "$dir"
  echo "stopped and removed $dir" >&2
}

freeport() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# waitfor WHAT PID CHECK...: runs CHECK until it succeeds (60 s at most)
# while PID lives.
waitfor() {
  local what=$1 pid=$2
  shift 2
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited" >&2
      return 1
    fi
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "$what did not come up within 60 s" >&2
  return 1
}

if [ "${1:-}" = stop ]; then
  [ $# -eq 2 ] || usage
  stop "$2"
  exit
fi
[ $# -eq 1 ] || usage
n=$1
case $n in '' | *[!0-9]*) usage ;; esac

if ! command -v etcd >/dev/null 2>&1; then
  echo "etcd is not installed: apt-get install etcd-server (Debian's package; scripts/test.sh installs it)" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cluster.XXXXXX")
touch "$dir/.sluice-cluster-up"
fail() {
  echo "cluster-up failed; logs in $dir:" >&2
  for f in "$dir"/*.log; do
    [ -f "$f" ] || continue
    echo "== $f" >&2
    tail -n 20 "$f" >&2
  done
  stop "$dir"
}
trap fail EXIT

# The binary, and whether it has cluster mode, before starting anything.
if [ "$n" -gt 0 ]; then
  echo "building sluice into $dir" >&2
  go build -o "$dir/sluice" ./cmd/sluice
  # The help text first, then grep: grep -q exits at its first match, and
  # under pipefail the writer's SIGPIPE would fail the pipe.
  help=$("$dir/sluice" serve --help 2>&1 || true)
  if ! grep -q -- --etcd <<<"$help"; then
    echo "this sluice has no cluster mode yet: 'sluice serve' has no --etcd flag (being wired in, issue #20)." >&2
    echo "scripts/cluster-up.sh 0 starts etcd and the S3 server alone." >&2
    exit 1
  fi
fi

# etcd: one member, with the settings DESIGN.md asks for (txn size,
# compaction of the hw/ revisions every flush writes).
etcd_port=$(freeport)
peer_port=$(freeport)
etcd_url=http://127.0.0.1:$etcd_port
peer_url=http://127.0.0.1:$peer_port
etcd --name sluice --data-dir "$dir/etcd" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
  --initial-cluster "sluice=$peer_url" \
  --max-txn-ops 4096 --auto-compaction-mode revision --auto-compaction-retention 10000 \
  --logger zap --log-level warn >"$dir/etcd.log" 2>&1 </dev/null &
echo $! >"$dir/etcd.pid"
etcd_health() { curl -sf "$etcd_url/health" | grep -q '"health":"true"'; }
waitfor etcd "$(cat "$dir/etcd.pid")" etcd_health
echo "etcd $(etcd --version | sed -n 's/^etcd Version: //p') at $etcd_url" >&2

# The S3 server, its data and log in $dir.
s3env=$(S3_DATA_DIR="$dir/s3" scripts/s3-server.sh)
eval "$s3env"
echo "$S3_SERVER_STOP" >"$dir/s3.stop"
# The brokers' objects under the prefix cluster/ of the bucket.
object_store=$(printf '%s' "$SLUICE_S3_URL" | sed 's|^s3://\([^/?]*\)/|s3://\1/cluster|')

bootstrap=()
sasl_bootstrap=()
for i in $(seq 1 "$n"); do
  port=$(freeport)
  http=$(freeport)
  listen=(--listen "127.0.0.1:$port" --advertised-addr "127.0.0.1:$port")
  if [ -n "${SLUICE_CLUSTER_SASL:-}" ]; then
    # PLAINTEXT first: brokers send each other WriteTxnMarkers there.
    sasl_port=$(freeport)
    cat >"$dir/broker-$i.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port
sasl.enabled.mechanisms=$SLUICE_CLUSTER_SASL
EOF
    listen=(--config "$dir/broker-$i.properties")
    sasl_bootstrap+=("127.0.0.1:$sasl_port")
  fi
  AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_REGION=$AWS_REGION \
    "$dir/sluice" serve --etcd "$etcd_url" --object-store "$object_store" --node-id "$i" \
    "${listen[@]}" --data-dir "$dir/broker-$i" \
    --http-listen "127.0.0.1:$http" --registry-listen '' >"$dir/broker-$i.log" 2>&1 </dev/null &
  echo $! >"$dir/broker-$i.pid"
  bootstrap+=("127.0.0.1:$port")
done
for i in $(seq 1 "$n"); do
  waitfor "broker $i" "$(cat "$dir/broker-$i.pid")" grep -q 'msg="broker listening"' "$dir/broker-$i.log"
done

trap - EXIT
brokers=$(IFS=,; echo "${bootstrap[*]}")
[ "$n" -gt 0 ] && echo "$n brokers listening: $brokers (logs: $dir/broker-N.log)" >&2
cat <<OUT
# sluice cluster in $dir
export SLUICE_ETCD=$etcd_url
export SLUICE_OBJECT_STORE='$object_store'
export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export AWS_REGION=$AWS_REGION
OUT
if [ "$n" -gt 0 ]; then
  echo "export SLUICE_BROKERS=$brokers"
  if [ ${#sasl_bootstrap[@]} -gt 0 ]; then
    echo "export SLUICE_SASL_BROKERS=$(IFS=,; echo "${sasl_bootstrap[*]}")"
  fi
fi
cat <<OUT
# look at it:  sluice cluster info --etcd \$SLUICE_ETCD
# stop it:     scripts/cluster-up.sh stop $dir
OUT
