#!/usr/bin/env bash
# A local S3-compatible server for cluster mode's documented runs (not for
# the test command, whose unit tests use an in-process fake): versitygw
# (github.com/versity/versitygw) with its posix backend over a temp dir,
# on a free port of 127.0.0.1, with fresh credentials and a bucket.
#
#   eval "$(scripts/s3-server.sh)"     # starts it in the background, exports
#                                      # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
#                                      # AWS_REGION, SLUICE_S3_URL and S3_SERVER_STOP
#   SLUICE_S3_URL=$SLUICE_S3_URL go test ./internal/objstore/   # the store tests against it
#   eval "$S3_SERVER_STOP"             # stops it and removes its data
#
# The binary is built once with `go install` into a cache directory
# (SLUICE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/sluice). Environment:
# S3_BUCKET (default sluice), S3_DATA_DIR (default a new temp dir), S3_PORT
# (default a free port). Human-readable lines go to stderr, the shell
# assignments to stdout.
set -euo pipefail

version=v1.8.0
cache=${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bin=$cache/versitygw-$version/versitygw
if [ ! -x "$bin" ]; then
  echo "building versitygw $version into $cache/versitygw-$version (once)" >&2
  mkdir -p "$cache/versitygw-$version"
  GOBIN=$cache/versitygw-$version GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
fi

bucket=${S3_BUCKET:-sluice}
data=${S3_DATA_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-s3.XXXXXX")}
mkdir -p "$data"
port=${S3_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
access=sluice$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
region=us-east-1
endpoint=http://127.0.0.1:$port

"$bin" --access "$access" --secret "$secret" --region "$region" --port "127.0.0.1:$port" --quiet \
  posix "$data" >"$data.log" 2>&1 </dev/null &
pid=$!
stop="kill $pid 2>/dev/null; rm -rf '$data' '$data.log'"

up=0
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if curl -s -o /dev/null "$endpoint/"; then up=1; break; fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "versitygw did not start; its log ($data.log):" >&2
  cat "$data.log" >&2 || true
  eval "$stop"
  exit 1
fi
# Create the bucket with a signed CreateBucket (curl's SigV4 signing).
code=$(curl -s -o "$data.create" -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:$region:s3" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  --user "$access:$secret" "$endpoint/$bucket")
if [ "$code" != 200 ]; then
  echo "creating bucket $bucket: HTTP $code: $(cat "$data.create")" >&2
  rm -f "$data.create"
  eval "$stop"
  exit 1
fi
rm -f "$data.create"

echo "versitygw $version (pid $pid) at $endpoint, bucket $bucket, data in $data" >&2
echo "stop it with: $stop" >&2
cat <<OUT
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=$region
export SLUICE_S3_URL='s3://$bucket/?endpoint=$endpoint&region=$region&path_style=true'
export S3_SERVER_STOP="$stop"
OUT
