#!/usr/bin/env bash
# The archive round trip at the size of a real reports folder, on a
# standalone server on 127.0.0.1 (versitygw or SeaweedFS):
#   2,000 objects from 1 KiB to 64 MiB, 3 GiB in all (text and random
#   bytes), uploaded by the aws CLI;
#   s3flow s3 zip-files zips them into one archive (streamed);
#   Debian's unzip -t and zipinfo judge the archive, and every entry's
#   bytes are compared with the source's (both downloaded by the aws CLI);
#   s3flow s3 unzip-file unzips it into another folder, and the aws CLI
#   lists the same keys, sizes and ETags there as in the source.
# It prints the wall time, CPU time, peak RSS and peak anonymous RSS
# (RssAnon) of each s3flow command, measured by bench/peak.py. Nothing is
# asserted about time or memory; the checks of the data fail the script.
#
#   bash bench/zip-demo.sh                   # versitygw, 2,000 objects, 3 GiB
#   SERVER=weed bash bench/zip-demo.sh       # SeaweedFS
#   N=200 SIZE_MIB=300 bash bench/zip-demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
SERVER=${SERVER:-versitygw}
N=${N:-2000}
SIZE_MIB=${SIZE_MIB:-3072}

ensure_aws_cli
command -v zip >/dev/null && command -v unzip >/dev/null && command -v zipinfo >/dev/null ||
	as_root apt-get install -y -q zip unzip >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-zip-demo.XXXXXX")
case $SERVER in
versitygw)
	ensure_versitygw
	cleanup() { stop_versitygw; rm -rf "$work"; }
	trap cleanup EXIT INT TERM
	start_versitygw "$work"
	endpoint=$S3FLOW_TEST_ENDPOINT key=$S3FLOW_TEST_ACCESS_KEY secret=$S3FLOW_TEST_SECRET_KEY
	;;
weed)
	ensure_weed
	cleanup() { stop_weed; rm -rf "$work"; }
	trap cleanup EXIT INT TERM
	start_weed "$work"
	endpoint=$S3FLOW_TEST_SEAWEED_ENDPOINT key=$S3FLOW_TEST_SEAWEED_ACCESS_KEY secret=$S3FLOW_TEST_SEAWEED_SECRET_KEY
	;;
*)
	echo "SERVER must be versitygw or weed, not $SERVER" >&2
	exit 2
	;;
esac

build_s3flow "$work" ./cmd/s3flow
export S3FLOW_HOME="$work/home"
printf '%s' "$secret" | "$work/s3flow" connection create demo \
	--access-key-id "$key" --secret-access-key-stdin --endpoint "$endpoint" --path-style >/dev/null 2>&1
"$work/s3flow" s3 create-bucket -c demo --name demo >/dev/null

awsenv=(env AWS_ACCESS_KEY_ID="$key" AWS_SECRET_ACCESS_KEY="$secret"
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required)
aws() { "${awsenv[@]}" "$AWS" --endpoint-url "$endpoint" --only-show-errors "$@"; }

# The sizes: one of 1 KiB, one of 64 MiB, the rest spread between them on
# a log scale, skewed to the small end until they add up to SIZE_MIB.
# Half of the files are text (deflates), half random bytes (does not).
python3 - "$work/seed" "$N" "$SIZE_MIB" <<'EOF'
import os, random, sys, base64
dest, n, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
lo, hi = 1 << 10, 64 << 20
rng = random.Random(2026)
us = [rng.random() for _ in range(n - 2)]
def sizes(skew):
    return [lo, hi] + [int(lo * (hi / lo) ** (u ** skew)) for u in us]
a, b = 1.0, 64.0  # bisect the skew: more skew, smaller files
for _ in range(60):
    m = (a + b) / 2
    if sum(sizes(m)) > total:
        a = m
    else:
        b = m
chunk = base64.b64encode(os.urandom(3 << 20))
for i, size in enumerate(sizes(b)):
    folder = os.path.join(dest, f"month-{i % 12 + 1:02d}", f"day-{i % 28 + 1:02d}")
    os.makedirs(folder, exist_ok=True)
    text = i % 2 == 0
    with open(os.path.join(folder, f"report-{i:04d}.{'csv' if text else 'bin'}"), "wb") as f:
        left = size
        while left > 0:
            k = min(left, len(chunk))
            f.write(chunk[:k] if text else os.urandom(k))
            left -= k
EOF
seeded=$(du -sb "$work/seed" | cut -f1)
aws s3 cp --recursive "$work/seed" s3://demo/src/
rm -rf "$work/seed"
printf '%s: %d objects, %d MiB, from 1 KiB to 64 MiB\n\n' "$SERVER" "$N" "$((seeded >> 20))"

# measure LABEL CMD...: wall time, CPU, peak RSS and peak RssAnon of CMD
# (bench/peak.py).
measure() {
	local label=$1 got secs cpu rss anon
	shift
	got=$(/usr/bin/python3 bench/peak.py "$@")
	IFS=$'\t' read -r secs cpu rss anon <<<"$got"
	printf '%-28s %8.1f s %8.1f s CPU %6d MiB peak RSS %6d MiB anonymous\n' "$label" "$secs" "$cpu" "$rss" "$anon"
}

measure "s3flow s3 zip-files" "$work/s3flow" s3 zip-files -c demo --bucket demo --prefix src --to-path archive/src.zip
measure "s3flow s3 unzip-file" "$work/s3flow" s3 unzip-file -c demo --bucket demo --path archive/src.zip --to-folder back
echo

# The judges: Debian's unzip and zipinfo, and the bytes of every entry.
aws s3 cp s3://demo/archive/src.zip "$work/src.zip"
unzip -tq "$work/src.zip"
entries=$(zipinfo -1 "$work/src.zip" | wc -l)
[ "$entries" -eq "$N" ] || { echo "zipinfo lists $entries entries, want $N"; exit 1; }
echo "zipinfo: $entries entries, $(($(stat -c %s "$work/src.zip") >> 20)) MiB archive"
mkdir "$work/unzipped" "$work/source"
(cd "$work/unzipped" && unzip -q "$work/src.zip")
rm "$work/src.zip"
aws s3 cp --recursive s3://demo/src/ "$work/source/"
diff -r "$work/source" "$work/unzipped" && echo "every entry's bytes match the source object's"
rm -rf "$work/source" "$work/unzipped"

# The way back: the same keys, sizes and ETags, as the aws CLI lists them.
listing() {
	"${awsenv[@]}" "$AWS" --endpoint-url "$endpoint" s3api list-objects-v2 --bucket demo --prefix "$1/" --query 'Contents[].[Key,Size,ETag]' --output text |
		sed "s#^$1/##" | sort
}
listing src >"$work/src.list"
listing back >"$work/back.list"
if cmp -s "$work/src.list" "$work/back.list"; then
	echo "unzipped back: the aws CLI lists the same $(wc -l <"$work/back.list") keys, sizes and ETags as the source"
else
	echo "unzipped back: the listings differ"
	diff "$work/src.list" "$work/back.list" | head
	exit 1
fi
