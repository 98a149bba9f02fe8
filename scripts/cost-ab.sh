#!/usr/bin/env bash
# The cost of the operations listener (issue 17: "with the console idle and
# /metrics scraped every 5 s, broker CPU and produce throughput within 2% of
# the HTTP listener turned off"), measured as ABBA pairs. Not part of the
# test command: it takes about a minute per run and wants a quiet machine
# (check `uptime`: a load average above 2 on 2 cores drowns a 2% effect).
#
# Each run starts `sluice serve` on a fresh data directory, with the HTTP
# listener on (console idle, /metrics scraped with curl every 5 s) or off,
# produces COST_RECORDS records of COST_SIZE bytes with `sluice bench
# --skip-consume --broker-pid` (the broker's CPU from /proc), then reads the
# broker's CPU over 10 s idle. Pairs alternate on-off, off-on, ... so a
# drift of the machine's load falls on both modes alike.
#
# Output: one line per run in COST_OUT (default /tmp/cost-ab-results.txt)
# and a summary of the medians per mode.
#
# Environment: COST_PAIRS (default 6), COST_RECORDS (default 4M),
# COST_SIZE (default 200), COST_BIN (a built sluice; default: build this
# tree into a temporary directory), COST_OUT, COST_TMPDIR (where the data
# directories go; /dev/shm takes the disk's writeback, which dominates the
# noise of 2 s runs, out of the comparison).
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=${COST_PAIRS:-6}
records=${COST_RECORDS:-4M}
size=${COST_SIZE:-200}
out=${COST_OUT:-/tmp/cost-ab-results.txt}
work=$(mktemp -d ${COST_TMPDIR:+-p "$COST_TMPDIR"})
pid="" scr=""
cleanup() {
  [ -n "$scr" ] && kill "$scr" 2>/dev/null || true
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

bin=${COST_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/sluice
  go build -o "$bin" ./cmd/sluice
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
: > "$out"

run() {
  local mode=$1 rep=$2 dir=$work/data-$1-$2 kport hport http=""
  kport=$(port)
  if [ "$mode" = on ]; then hport=$(port); http=127.0.0.1:$hport; fi
  "$bin" serve --listen "127.0.0.1:$kport" --data-dir "$dir" --http-listen "$http" --registry-listen= --log-level warn > "$dir.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$kport") 2>/dev/null && break; sleep 0.2; done
  if [ "$mode" = on ]; then
    ( while :; do curl -s -o /dev/null "http://$http/metrics"; sleep 5; done ) &
    scr=$!
  fi
  local la t0 t1
  la=$(cut -d' ' -f1-3 /proc/loadavg)
  "$bin" bench --brokers "127.0.0.1:$kport" --broker-pid "$pid" --records "$records" --record-size "$size" --skip-consume --json > "$dir.json" 2> "$dir.err"
  t0=$(ticks "$pid"); sleep 10; t1=$(ticks "$pid")
  python3 - "$mode" "$rep" "$la" "$dir.json" "$((t1 - t0))" >> "$out" <<'PY'
import json, os, sys
mode, rep, la, f, idle = sys.argv[1:]
p = json.load(open(f))["runs"][0]["produce"]
hz = os.sysconf("SC_CLK_TCK")
print(f'{rep} {mode:3} load {la:18} MB/s {p["mb_per_sec"]:7.1f} broker_cpu_s {p["broker"]["cpu_seconds"]:6.2f} '
      f'cpu_s_per_GB {p["broker"]["cpu_seconds_per_gb"]:6.2f} secs {p["seconds"]:6.2f} idle10s_cpu_s {int(idle)/hz:5.2f}')
PY
  tail -1 "$out"
  if [ -n "$scr" ]; then kill "$scr"; wait "$scr" 2>/dev/null || true; scr=""; fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  rm -rf "$dir"
}

for rep in $(seq "$pairs"); do
  if [ $((rep % 2)) = 1 ]; then run on "$rep"; run off "$rep"; else run off "$rep"; run on "$rep"; fi
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for mode in ("on", "off"):
    r = [x for x in rows if x[1] == mode]
    med[mode] = {k: statistics.median(float(x[x.index(k) + 1]) for x in r) for k in ("MB/s", "cpu_s_per_GB", "idle10s_cpu_s")}
    print(f'{mode:3} median of {len(r)}: MB/s {med[mode]["MB/s"]:.1f} cpu_s_per_GB {med[mode]["cpu_s_per_GB"]:.3f} idle10s_cpu_s {med[mode]["idle10s_cpu_s"]:.3f}')
print(f'on vs off: throughput {100 * (med["on"]["MB/s"] / med["off"]["MB/s"] - 1):+.1f}%, '
      f'CPU per GB {100 * (med["on"]["cpu_s_per_GB"] / med["off"]["cpu_s_per_GB"] - 1):+.1f}%')
# Per pair (the same rep number), on over off: the pairs ran back to back.
pairs = {}
for x in rows:
    pairs.setdefault(x[0], {})[x[1]] = x
ratios = {k: [float(p["on"][p["on"].index(k) + 1]) / float(p["off"][p["off"].index(k) + 1])
              for p in pairs.values() if "on" in p and "off" in p] for k in ("MB/s", "cpu_s_per_GB")}
if ratios["MB/s"]:
    print(f'median of the {len(ratios["MB/s"])} pairs\' ratios: throughput {100 * (statistics.median(ratios["MB/s"]) - 1):+.1f}% '
          f'(from {100 * (min(ratios["MB/s"]) - 1):+.0f}% to {100 * (max(ratios["MB/s"]) - 1):+.0f}%), '
          f'CPU per GB {100 * (statistics.median(ratios["cpu_s_per_GB"]) - 1):+.1f}% '
          f'(from {100 * (min(ratios["cpu_s_per_GB"]) - 1):+.0f}% to {100 * (max(ratios["cpu_s_per_GB"]) - 1):+.0f}%)')
PY
