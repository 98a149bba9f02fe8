#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian machine with Go 1.26:
# installs the external Kafka clients the compatibility tests drive (kcat,
# kafka-python, confluent-kafka, and python3-avro, python3-protobuf and
# protoc for the seed tutorial; python3-requests and python3-jsonschema for
# confluent-kafka's schema_registry module; prometheus for promtool;
# Debian's nodejs and npm when node is missing; chromium for the console's
# browser test; etcd-server for internal/cluster's tests) and the npm schema-registry
# clients and playwright-core from the committed lockfiles
# (internal/compat/testdata/npm, internal/console/testdata/browser: npm ci),
# then vets (go vet, gofmt, staticcheck), runs every test with the race
# detector, runs franz-go's kgo integration suite against the sluice binary
# (scripts/kgo-suite.sh), and gives each fuzz target a short run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || need+=(python3-kafka)
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || need+=(python3-confluent-kafka)
/usr/bin/python3 -c 'import avro' >/dev/null 2>&1 || need+=(python3-avro)
/usr/bin/python3 -c 'import requests' >/dev/null 2>&1 || need+=(python3-requests)
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 || need+=(python3-jsonschema)
/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1 || need+=(python3-protobuf)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v promtool >/dev/null 2>&1 || need+=(prometheus) # promtool check metrics (internal/broker/metrics_test.go)
command -v chromium >/dev/null 2>&1 || need+=(chromium) # the web console's browser test (internal/console/browser_test.go)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server) # cluster mode's metadata tests start a real etcd (internal/cluster)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # A machine whose last dpkg run was interrupted refuses every apt-get
  # install ("dpkg was interrupted, you must manually run 'dpkg --configure
  # -a'"); finish that run and mend half-installed packages first.
  if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || [ -n "$(dpkg --audit 2>/dev/null)" ]; then
    echo "repairing an interrupted dpkg run"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd dpkg --configure -a || true
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -f install -y -qq >/dev/null
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

start=$SECONDS
phase() { echo "== $1 ($((SECONDS - start)) s since start; load average $(cut -d' ' -f1-3 /proc/loadavg))"; }

go mod download

# The npm schema-registry clients (@confluentinc/schemaregistry,
# @kafkajs/confluent-schema-registry) at the versions of the committed
# lockfile; install scripts are not needed and not run.
phase "npm ci"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  echo "warning: node $(node --version) is older than 20, the version the npm registry clients were tested with" >&2
(cd internal/compat/testdata/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# playwright-core, which drives Debian's chromium in the console's browser
# test (it downloads no browser: install scripts are not run).
(cd internal/console/testdata/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

phase vet
go vet ./...
go vet -tags kfake ./internal/bench
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

phase "go test -race"
go test -race -count=1 -timeout 20m ./...

# franz-go's kgo integration suite against the real binary (built with the
# race detector), a SCRAM listener included; about two minutes.
phase "kgo suite"
KGO_BROKER_RACE=1 ./scripts/kgo-suite.sh

# Short fuzz runs of every fuzz target (the seed corpora also run above):
# 20000 executions each keeps the whole command well inside CI's 30 minutes
# on 2 cores; a longer fuzz campaign is `FUZZTIME=1000000x scripts/test.sh`
# or `go test -fuzz` on one target (README.md, "Fuzzing").
# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" failure when the time runs
# out (golang/go#75804, fixed in Go 1.27); a count has no deadline.
fuzztime=${FUZZTIME:-20000x}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
phase done
