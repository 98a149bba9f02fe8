#!/usr/bin/env bash
# Full-size scale runs (issue #19 items 3 and 4), in-process Go tests with
# their figures in the test log (-v). The test command (scripts/test.sh)
# runs the same tests at small sizes.
#
#   partitions: SLUICE_SCALE_TOPICS topics of SLUICE_SCALE_PARTITIONS
#               partitions (default here 1,000 x 100 = 100,000): creation
#               over the wire in requests of 100 topics, Metadata for all
#               topics, one record to every partition of the first
#               SLUICE_SCALE_TOUCH topics (100: 10,000 partitions), clean restart
#               (time until listening), every partition read back, every
#               partition never written fetched at offset 0 (none created),
#               then a start on a crash image (every partition recovered),
#               every partition read again; RSS, Go heap and open files.
#   group:      SLUICE_SCALE_MEMBERS (1,000) members in one group, and the
#               time for all to resync after one more joins.
#   connections: SLUICE_SCALE_CONNS (5,000) connections, half producing one
#               record a second, with the RSS per connection.
#
# Usage: scripts/scale.sh [partitions|group|connections|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
export SLUICE_SCALE_TOPICS=${SLUICE_SCALE_TOPICS:-1000}
export SLUICE_SCALE_PARTITIONS=${SLUICE_SCALE_PARTITIONS:-100}
export SLUICE_SCALE_TOUCH=${SLUICE_SCALE_TOUCH:-100} # topics written, restarted, read back (each first use costs fsyncs)
export SLUICE_SCALE_OPEN_FILES=${SLUICE_SCALE_OPEN_FILES:-0} # log.open.files.max (0: no cap)
export SLUICE_SCALE_MEMBERS=${SLUICE_SCALE_MEMBERS:-1000}
export SLUICE_SCALE_CONNS=${SLUICE_SCALE_CONNS:-5000}
export SLUICE_SCALE_CONNS_SECS=${SLUICE_SCALE_CONNS_SECS:-10}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
run() { go test -count=1 -timeout 60m -run "^$1\$" -v ./internal/broker/ 2>&1 | grep --line-buffered -E '^\s+scale|^(--- |ok|FAIL|PASS)'; }
case $what in
partitions) run TestScalePartitions ;;
group) run TestScaleGroupRebalance ;;
connections) run TestScaleConnections ;;
all)
	run TestScalePartitions
	run TestScaleGroupRebalance
	run TestScaleConnections
	;;
*) echo "usage: $0 [partitions|group|connections|all]" >&2; exit 2 ;;
esac
