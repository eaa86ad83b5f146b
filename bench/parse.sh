#!/usr/bin/env bash
# Parses a large CSV object (default 1024 MiB, generated on the fly) in a
# flow that counts its rows, against a standalone versitygw on 127.0.0.1,
# and prints wall time, rows/s and peak RSS: memory must not grow with the
# file. The object is written straight into versitygw's POSIX folder.
#
#   bash bench/parse.sh [MIB] [--no-history]
#
# The flow is csv.parse, a flow.filter and a flow.aggregate that counts
# the rows and keeps none (items: false); the count must be the number of
# rows written. 's3flow run' keeps the first 1,000 bundles of each step
# in its run history (SQLite) and the rest as counts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
mib=${1:-1024}

ensure_versitygw
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -q time >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-bench.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"

build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "$work/s3flow" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$S3FLOW_TEST_ENDPOINT" --path-style 2>/dev/null
"$work/s3flow" s3 create-bucket -c bench --name data >/dev/null
rows=$(python3 - "$work/data/data/big.csv" "$mib" <<'PY'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
names = ["Ana Lima", "Bo Chen", "Carla Diaz", "Dev Patel", "Eli Novak", "Femi Ade"]
block, n = [], 0
while sum(map(len, block)) < 1 << 20:
    block.append('2026-%02d-%02d,%d,"%s",%s,%d.%02d,paid\n' % (1 + n % 12, 1 + n % 28, 100000 + n, names[n % 6], "PT", n % 10000, n % 100))
    n += 1
data = "".join(block).encode()
with open(path, "wb") as f:
    f.write(b"date,order_id,customer,country,amount,status\n")
    for _ in range(mib):
        f.write(data)
print(n * mib)
PY
)
cat >"$work/flow.yaml" <<'YAML'
name: count-rows
steps:
  - id: rows
    module: csv.parse
    connection: bench
    with: {bucket: data, path: big.csv}
  - id: paid
    module: flow.filter
    with:
      condition: "{{ steps.rows.status == 'paid' }}"
  - id: count
    module: flow.aggregate
    with: {from: paid, items: false}
YAML
/usr/bin/time -v "$work/s3flow" run "$work/flow.yaml" -o jsonl >"$work/out.json" 2>"$work/time.txt" || { cat "$work/time.txt"; exit 1; }
wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.txt")
secs=$(awk -F': ' '/Elapsed/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
db=$(du -sm "$S3FLOW_HOME" | cut -f1)
grep -q "\"paid\":$rows," "$work/out.json" || { echo "the flow counted other than $rows rows: $(cat "$work/out.json")"; exit 1; }
printf 'csv.parse of %d MiB (%d rows) in a flow: %s wall, %.0f rows/s, peak RSS %s MiB, run history %s MiB\n  %s\n' \
	"$mib" "$rows" "$wall" "$(echo "$rows / $secs" | bc -l)" "$rss" "$db" "$(cat "$work/out.json")"
