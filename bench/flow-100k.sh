#!/usr/bin/env bash
# Runs a flow over a listing of many objects (default 100,000) against a
# standalone versitygw on 127.0.0.1 and prints the run's wall time and peak
# RSS, to show memory does not grow with the listing. The objects are
# written straight into versitygw's POSIX folder (a bucket is a folder).
#
#   bash bench/flow-100k.sh [COUNT]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
count=${1:-100000}

ensure_versitygw
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -q time >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-bench.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"

go build -o "$work/" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "$work/s3flow" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$S3FLOW_TEST_ENDPOINT" --path-style 2>/dev/null
"$work/s3flow" s3 create-bucket -c bench --name many >/dev/null
python3 - "$work/data/many" "$count" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "dir%03d" % (i % 100))
    if i < 100:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "obj%07d.txt" % i), "w") as f:
        f.write("x" * (i % 7))
PY
cat >"$work/flow.yaml" <<'YAML'
name: count-large
steps:
  - id: list
    module: s3.list_files
    connection: bench
    with: {bucket: many, recursive: true}
  - id: big
    module: flow.filter
    with:
      condition: "{{ steps.list.size > 5 && steps.list.key endsWith '.txt' }}"
YAML
for n in $((count / 10)) "$count"; do
	sed -i "s/^    with: {bucket: many.*/    with: {bucket: many, recursive: true, limit: $n}/" "$work/flow.yaml"
	/usr/bin/time -v "$work/s3flow" run "$work/flow.yaml" -o jsonl >"$work/out.json" 2>"$work/time.txt"
	wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.txt")
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
	printf 'flow over %7d listed objects: %s wall, peak RSS %s MiB  %s\n' "$n" "$wall" "$rss" "$(cat "$work/out.json")"
done
