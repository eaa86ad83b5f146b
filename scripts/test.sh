#!/usr/bin/env bash
# The one test command: installs what is missing (the aws CLI v2, versitygw),
# starts a standalone versitygw on 127.0.0.1, runs every test against it and
# the local endpoint, and stops the server whatever happens.
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

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-test.XXXXXX")
cleanup() {
	stop_versitygw
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

start_versitygw "$work"
export S3FLOW_TEST_ENDPOINT S3FLOW_TEST_ACCESS_KEY S3FLOW_TEST_SECRET_KEY
echo "versitygw ${VERSITYGW_VERSION} on ${S3FLOW_TEST_ENDPOINT}"

echo "== gofmt, go vet"
unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "== go test"
if [ $# -gt 0 ]; then
	go test "$@"
else
	go test -count=1 -timeout 30m ./...
fi
