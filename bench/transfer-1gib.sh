#!/usr/bin/env bash
# Uploads and downloads one 1 GiB file through s3flow and through the aws
# CLI v2 against the same standalone versitygw on 127.0.0.1, and prints wall
# time and peak RSS (from /usr/bin/time -v) side by side.
#
#   bash bench/transfer-1gib.sh [SIZE_MIB]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
size_mib=${1:-1024}

ensure_aws_cli
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
"$work/s3flow" s3 create-bucket -c bench --name bench >/dev/null
head -c "$((size_mib << 20))" /dev/urandom >"$work/src.bin"

measure() { # label command...
	local label=$1; shift
	/usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt"
	local wall rss
	wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.txt")
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
	printf '%-40s %10s %8s MiB\n' "$label" "$wall" "$rss"
}

awsenv=(env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required)

printf '%-40s %10s %12s\n' "workload (${size_mib} MiB)" "wall" "peak RSS"
measure "upload   s3flow upload-file" "$work/s3flow" s3 upload-file -c bench --bucket bench --file "$work/src.bin" --name s3flow.bin
measure "upload   aws s3 cp" "${awsenv[@]}" /usr/bin/aws --endpoint-url "$S3FLOW_TEST_ENDPOINT" s3 cp "$work/src.bin" s3://bench/aws.bin --only-show-errors
measure "download s3flow get-file" "$work/s3flow" s3 get-file -c bench --bucket bench --path s3flow.bin --out "$work/s3flow.dl"
measure "download aws s3 cp" "${awsenv[@]}" /usr/bin/aws --endpoint-url "$S3FLOW_TEST_ENDPOINT" s3 cp s3://bench/aws.bin "$work/aws.dl" --only-show-errors
cmp "$work/src.bin" "$work/s3flow.dl" && echo "s3flow download is byte-identical to the source"
