#!/usr/bin/env bash
# The one test command: installs what is missing (the aws CLI v2, versitygw,
# SeaweedFS's weed, PostgreSQL, goaws, MinIO), starts a standalone versitygw, a SeaweedFS
# "weed mini", MinIO, a throwaway PostgreSQL cluster and goaws (SQS) on 127.0.0.1, runs every test
# against them and the local endpoint, and stops the servers whatever
# happens.
#
#   scripts/test.sh                 # all tests
#   scripts/test.sh -run TestListFiles ./internal/module/s3/   # extra go test args
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_aws_cli
ensure_versitygw
ensure_weed
ensure_postgres
ensure_goaws
ensure_minio

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-test.XXXXXX")
cleanup() {
	stop_versitygw
	stop_weed
	stop_postgres
	stop_goaws
	stop_minio
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

start_versitygw "$work"
export S3FLOW_TEST_ENDPOINT S3FLOW_TEST_ACCESS_KEY S3FLOW_TEST_SECRET_KEY
# Tests that need a versitygw of their own (one sending event
# notifications) start this binary.
export S3FLOW_TEST_VERSITYGW="$VERSITYGW"
# and tests of bucket notification configurations start their own MinIO,
# its webhook target pointing at their s3flow server.
export S3FLOW_TEST_MINIO_BIN="$MINIO"
echo "versitygw ${VERSITYGW_VERSION} on ${S3FLOW_TEST_ENDPOINT}"
start_weed "$work"
export S3FLOW_TEST_SEAWEED_ENDPOINT S3FLOW_TEST_SEAWEED_ACCESS_KEY S3FLOW_TEST_SEAWEED_SECRET_KEY
echo "seaweedfs weed ${WEED_VERSION} on ${S3FLOW_TEST_SEAWEED_ENDPOINT}"
start_minio "$work"
export S3FLOW_TEST_MINIO_ENDPOINT S3FLOW_TEST_MINIO_ACCESS_KEY S3FLOW_TEST_MINIO_SECRET_KEY
echo "minio ${MINIO_VERSION} on ${S3FLOW_TEST_MINIO_ENDPOINT}"
start_postgres "$work"
echo "postgresql ($PG_BIN) on ${S3FLOW_TEST_POSTGRES%%\?*}"
start_goaws "$work"
echo "goaws ${GOAWS_VERSION} (SQS) on ${S3FLOW_TEST_SQS_ENDPOINT}"

echo "== gofmt, go vet"
unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "== go test"
if [ $# -gt 0 ]; then
	go test "$@"
	exit
fi
go test -count=1 -timeout 30m ./...

# The packages whose goroutines share state (a server's workers and
# handlers, the queue, the runs store, the CLI's resolver) again under the
# race detector: a data race there fails the build.
echo "== go test -race (server, engine, runs, cli, store)"
go test -count=1 -race -timeout 30m ./internal/server/ ./internal/engine/ ./internal/runs/ ./internal/cli/ ./internal/store/

# The Studio in a real browser (headless Chromium driven by Playwright),
# against its own server and versitygw; screenshots stay out of the tree.
echo "== studio end to end"
STUDIO_SCREENSHOTS="$work/screenshots" bash scripts/studio-e2e.sh

# Every fuzz target also runs a bounded number of new inputs (a count, not a
# time: Go 1.26's -fuzztime with a duration can end in a spurious deadline
# error). Seed corpora under testdata/fuzz run in every plain go test.
echo "== fuzz (${FUZZ_EXECS:=20000} inputs per target)"
grep -rl --include='*_test.go' '^func Fuzz' cmd internal | sort | while read -r file; do
	pkg=./$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "$pkg $target"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="${FUZZ_EXECS}x" "$pkg" >"$work/fuzz.log" 2>&1 ||
			{ cat "$work/fuzz.log"; exit 1; }
	done
done
