#!/usr/bin/env bash
# End-to-end test of the Studio in a real browser: installs what is missing
# (the aws CLI, versitygw, Debian's chromium, playwright-core from
# e2e/package-lock.json), starts a standalone versitygw and a real
# "s3flow server" with its own S3FLOW_HOME, a token and a flow, runs
# e2e/studio.mjs with node (headless Chromium), and stops everything
# whatever happens. Screenshots go to docs/screenshots/ (STUDIO_SCREENSHOTS
# to put them elsewhere).
#
#   bash scripts/studio-e2e.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ensure_aws_cli
ensure_versitygw
if [ ! -x /usr/bin/chromium ]; then
	echo "installing chromium (Debian package)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
		{ as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
(cd e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-studio-e2e.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	stop_versitygw
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

start_versitygw "$work"
echo "versitygw ${VERSITYGW_VERSION} on ${S3FLOW_TEST_ENDPOINT}"

build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
mkdir -p "$S3FLOW_HOME" "$work/flows"
token=$("$work/s3flow" token create studio-e2e --scope admin | tr -d '[:space:]')

# Test data, put there with the aws CLI: a bucket with reports in folders.
bucket=studio-e2e
aws_test() {
	AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY" \
		AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
		"$AWS" --endpoint-url "$S3FLOW_TEST_ENDPOINT" "$@"
}
aws_test s3api create-bucket --bucket "$bucket" >/dev/null
aws_test s3api create-bucket --bucket studio-other >/dev/null
printf 'region,total\neu,10\nus,20\n' >"$work/sales.csv"
printf 'sku,count\na,1\n' >"$work/stock.csv"
printf 'not a report\n' >"$work/readme.txt"
aws_test s3 cp "$work/sales.csv" "s3://$bucket/reports/2026-11-24/sales.csv" >/dev/null
aws_test s3 cp "$work/stock.csv" "s3://$bucket/reports/2026-11-24/stock.csv" >/dev/null
aws_test s3 cp "$work/readme.txt" "s3://$bucket/reports/2026-11-24/readme.txt" >/dev/null
aws_test s3 cp "$work/readme.txt" "s3://$bucket/notes/readme.txt" >/dev/null

# The flow the test runs from the Studio, on the connection it creates.
cat >"$work/flows/archive-reports.yaml" <<'YAML'
name: archive-reports
description: Copy a day's CSV reports into the archive folder and write a manifest of what was copied.
trigger:
  webhook: {secret_env: STUDIO_E2E_HOOK_SECRET}
inputs:
  date: {type: string, required: true, description: "the day, e.g. 2026-11-24"}
  connection: {type: string, default: studio, description: "where the reports live"}
  bucket: {type: string, default: studio-e2e, description: "the bucket holding reports/<date>/"}
steps:
  - id: list
    module: s3.list_files
    connection: "{{ inputs.connection }}"
    with:
      bucket: "{{ inputs.bucket }}"
      prefix: "reports/{{ inputs.date }}"
  - id: csv
    module: flow.filter
    with:
      condition: "{{ steps.list.key endsWith '.csv' }}"
  - id: get
    module: s3.get_file
    connection: "{{ inputs.connection }}"
    with:
      bucket: "{{ inputs.bucket }}"
      path: "{{ steps.list.key }}"
  - id: put
    module: s3.upload_file
    connection: "{{ inputs.connection }}"
    with:
      bucket: "{{ inputs.bucket }}"
      folder: "archive/{{ inputs.date }}"
      file: "{{ steps.get.file }}"
  - id: all
    module: flow.aggregate
    with: {from: put}
  - id: manifest
    module: s3.upload_file
    connection: "{{ inputs.connection }}"
    with:
      bucket: "{{ inputs.bucket }}"
      folder: "archive/{{ inputs.date }}"
      file: "{{ file.text('manifest.csv', csv(steps.all.items)) }}"
YAML

port=$(free_port)
STUDIO_E2E_HOOK_SECRET=unused "$work/s3flow" server --flows "$work/flows" --addr "127.0.0.1:$port" --allow-private-endpoints >"$work/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
	if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then break; fi
	if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "s3flow server exited:"; cat "$work/server.log"; exit 1; fi
	sleep 0.1
done
echo "s3flow server on http://127.0.0.1:$port"

status=0
STUDIO_URL="http://127.0.0.1:$port" STUDIO_TOKEN="$token" STUDIO_BUCKET="$bucket" \
	S3_ENDPOINT="$S3FLOW_TEST_ENDPOINT" S3_ACCESS_KEY="$S3FLOW_TEST_ACCESS_KEY" S3_SECRET_KEY="$S3FLOW_TEST_SECRET_KEY" \
	AWS_CLI="$AWS" STUDIO_WORK="$work" STUDIO_SCREENSHOTS="${STUDIO_SCREENSHOTS:-$repo/docs/screenshots}" \
	node e2e/studio.mjs || status=$?
if [ "$status" -ne 0 ]; then
	echo "== s3flow server log"
	tail -n 80 "$work/server.log"
fi
exit "$status"
