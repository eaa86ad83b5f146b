#!/usr/bin/env bash
# Runs a flow over a listing of many objects (default 100,000; the issue's
# figure is 1,000,000) against a standalone versitygw on 127.0.0.1: the
# listing, a filter and an aggregate that counts what passed and keeps
# none (items: false). Beside it, the bare listing ('s3flow s3 list-files
# --recursive') of the same objects. Prints wall time, CPU, peak RSS, peak
# anonymous RSS (bench/peak.py) and what the run added to the run history,
# at a tenth of the count and at the count: memory and history must not
# grow with the listing. The count must come out right. The objects are
# written straight into versitygw's POSIX folder (a bucket is a folder).
#
#   bash bench/flow-100k.sh [COUNT]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
count=${1:-100000}

ensure_versitygw
work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-bench.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"

build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
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
  - id: count
    module: flow.aggregate
    with: {from: big, items: false, value: "{{ steps.list.size }}"}
YAML
# What passes the filter: sizes 6 (i % 7 == 6).
expect() { python3 -c "import sys; n=int(sys.argv[1]); print(sum(1 for i in range(n) if i % 7 == 6))" "$1"; }
# The listing's order is by key: dir000/obj0000000.txt, dir000/obj0000100.txt, ...
# so a limit takes whole folders first; the count is checked at the full count only.
printf '%-44s %8s %8s %9s %9s %10s\n' "" wall CPU "peak RSS" anonymous "history +"
for n in $((count / 10)) "$count"; do
	sed -i "s/^    with: {bucket: many.*/    with: {bucket: many, recursive: true, limit: $n}/" "$work/flow.yaml"
	got=$(/usr/bin/python3 bench/peak.py "$work/s3flow" s3 list-files -c bench --bucket many --recursive --limit "$n" -o jsonl)
	IFS=$'\t' read -r secs cpu rss anon <<<"$got"
	printf '%-44s %7.1fs %7.1fs %5s MiB %5s MiB %10s\n' "bare listing of $n objects" "$secs" "$cpu" "$rss" "$anon" "-"
	before=$(cat "$S3FLOW_HOME"/s3flow.db* 2>/dev/null | wc -c)
	got=$(PEAK_OUT="$work/out.json" /usr/bin/python3 bench/peak.py "$work/s3flow" run "$work/flow.yaml" -o jsonl)
	IFS=$'\t' read -r secs cpu rss anon <<<"$got"
	after=$(cat "$S3FLOW_HOME"/s3flow.db* | wc -c)
	printf '%-44s %7.1fs %7.1fs %5s MiB %5s MiB %7.1f MB\n' "flow: list, filter, count ($n objects)" "$secs" "$cpu" "$rss" "$anon" "$(echo "($after - $before) / 1000000" | bc -l)"
done
want=$(expect "$count")
python3 - "$work/out.json" "$want" "$count" <<'PY'
import json, sys
out, want, n = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
b = out["bundles"]
assert out["status"] == "succeeded", out
assert b.get("list") == n, f"listed {b.get('list')}, want {n}"
assert b.get("big") == want, f"the filter passed {b.get('big')}, want {want}"
PY
echo "checked: the flow listed all $count objects and counted the $want that pass"
