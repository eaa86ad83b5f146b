#!/usr/bin/env bash
# Zips a prefix of N objects in a standalone versitygw on 127.0.0.1 into one
# zip object, two ways, and prints wall time, peak RSS and bytes written to
# the local disk side by side (from /usr/bin/time -v):
#   s3flow     s3 zip-files: read a few objects at a time, the archive goes
#              up in parts while it is written (nothing on disk);
#   the users' way: aws s3 cp --recursive to disk, zip -r, aws s3 cp up.
# Then the way back: s3flow s3 unzip-file into another prefix. Both archives
# are checked with unzip -t.
#
#   bash bench/zip.sh                          # 1 GiB in 200 objects
#   SIZE_MIB=256 N=200 bash bench/zip.sh       # smaller
#
# Settings (environment): SIZE_MIB (1024), N (200), ZIP_FLAGS (more flags
# for zip-files, e.g. "--parallel-parts 2"), USERS=0 (skip the users' way,
# to try s3flow settings). The data is text
# (base64 of random bytes: it deflates to about 3/4, as CSV and logs do,
# and costs the compressor real work).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
SIZE_MIB=${SIZE_MIB:-1024}
N=${N:-200}

ensure_aws_cli
ensure_versitygw
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -q time >/dev/null
command -v zip >/dev/null && command -v unzip >/dev/null || as_root apt-get install -y -q zip unzip >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-bench-zip.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"

build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "$work/s3flow" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$S3FLOW_TEST_ENDPOINT" --path-style 2>/dev/null
"$work/s3flow" s3 create-bucket -c bench --name bench >/dev/null

awsenv=(env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required)
aws() { "${awsenv[@]}" /usr/bin/aws --endpoint-url "$S3FLOW_TEST_ENDPOINT" --only-show-errors "$@"; }

# N objects of SIZE_MIB in all, in a few folders; uneven sizes (a few large,
# many small) as a reports folder has.
mkdir -p "$work/seed"
head -c "$((SIZE_MIB * 3 / 4 << 20))" /dev/urandom | base64 -w 120 >"$work/all.txt"
split -n "$N" -a 4 -d "$work/all.txt" "$work/seed/part-"
i=0
for f in "$work"/seed/part-*; do
	mkdir -p "$work/seed/day-$((i % 10))"
	mv "$f" "$work/seed/day-$((i % 10))/$(basename "$f").csv"
	i=$((i + 1))
done
rm "$work/all.txt"
aws s3 cp --recursive "$work/seed" s3://bench/src/ >/dev/null
rm -rf "$work/seed"

measure() { # label command...
	local label=$1; shift
	/usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || { cat "$work/time.txt"; return 1; }
	local wall rss disk
	wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.txt")
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
	# File system outputs are 512-byte blocks written by the command and
	# its children.
	disk=$(awk -F': ' '/File system outputs/ {printf "%.0f", $2*512/1048576}' "$work/time.txt")
	printf '%-44s %10s %8s MiB %8s MiB\n' "$label" "$wall" "$rss" "$disk"
}

users_way() {
	set -e
	aws s3 cp --recursive s3://bench/src/ "$work/dl/"
	(cd "$work/dl" && zip -q -r "$work/users.zip" .)
	du -sb "$work/dl" "$work/users.zip" >"$work/du.txt"
	aws s3 cp "$work/users.zip" s3://bench/users.zip
	rm -rf "$work/dl" "$work/users.zip"
}

export work S3FLOW_TEST_ENDPOINT
printf '%-44s %10s %12s %12s\n' "zip ${SIZE_MIB} MiB in ${N} objects" "wall" "peak RSS" "disk written"
# shellcheck disable=SC2086 # ZIP_FLAGS are words
measure "s3flow s3 zip-files ${ZIP_FLAGS:-}" "$work/s3flow" s3 zip-files -c bench --bucket bench --prefix src --to-path s3flow.zip ${ZIP_FLAGS:-}
if [ "${USERS:-1}" != 0 ]; then
	measure "aws s3 cp --recursive + zip -r + aws s3 cp" bash -c "$(declare -p awsenv); $(declare -f aws users_way); users_way"
	awk '{s += $1} END {printf "  the users way held %.0f MiB on disk at its peak (download + archive)\n", s/1048576}' "$work/du.txt"
fi
measure "s3flow s3 unzip-file (the way back)" "$work/s3flow" s3 unzip-file -c bench --bucket bench --path s3flow.zip --to-folder back

# Both archives are whole and hold the same bytes.
aws s3 cp s3://bench/s3flow.zip "$work/check.zip"
unzip -tq "$work/check.zip"
"$work/s3flow" s3 list-files -c bench --bucket bench --prefix src --recursive -o jsonl | sed 's/"lastModified":"[^"]*",//; s#"key":"src/#"key":"#' | sort >"$work/src.list"
"$work/s3flow" s3 list-files -c bench --bucket bench --prefix back --recursive -o jsonl | sed 's/"lastModified":"[^"]*",//; s#"key":"back/#"key":"#' | sort >"$work/back.list"
if cmp -s "$work/src.list" "$work/back.list"; then
	echo "unzipped back: the same $(wc -l <"$work/back.list") keys, sizes and ETags as the source"
else
	echo "unzipped back: the listings differ"; diff "$work/src.list" "$work/back.list" | head; exit 1
fi
