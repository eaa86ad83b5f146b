#!/usr/bin/env bash
# Sweeps s3flow's part size and parallel parts for one large upload and
# download on a standalone versitygw on 127.0.0.1, the aws CLI's default run
# in the same pass for scale. Prints median wall time and peak RSS per
# setting; the defaults in internal/module/s3/tuning.go come from it.
#
#   bash bench/sweep.sh [SIZE_MIB=512] [ROUNDS=3]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
size_mib=${1:-512}
rounds=${2:-3}
ensure_aws_cli
ensure_versitygw
work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-sweep.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"
build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "$work/s3flow" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$S3FLOW_TEST_ENDPOINT" --path-style >/dev/null
"$work/s3flow" s3 create-bucket -c bench --name sweep >/dev/null
head -c "$((size_mib << 20))" /dev/urandom >"$work/src.bin"
"$work/s3flow" s3 upload-file -c bench --bucket sweep --file "$work/src.bin" --name src.bin >/dev/null
aws=(env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
	/usr/bin/aws --endpoint-url "$S3FLOW_TEST_ENDPOINT" --only-show-errors)

# med LABEL CMD...: median wall seconds and the largest peak RSS of ROUNDS runs.
med() {
	local label=$1 ts=() rss=0 r
	shift
	for _ in $(seq 1 "$rounds"); do
		rm -f "$work/dl.bin"
		/usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null
		read -r s m <"$work/t"
		ts+=("$s")
		r=$((m / 1024)); [ "$r" -gt "$rss" ] && rss=$r
	done
	printf '%-40s %6.2f s %5d MiB\n' "$label" "$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p")" "$rss"
}

echo "== upload ${size_mib} MiB"
med "aws s3 cp (defaults)" "${aws[@]}" s3 cp "$work/src.bin" s3://sweep/aws.bin
for part in 8 16 32 64; do
	for par in 4 8 16; do
		med "s3flow part ${part} MiB x ${par}" "$work/s3flow" s3 upload-file -c bench --bucket sweep --file "$work/src.bin" --name up.bin --part-size "$part" --parallel-parts "$par"
	done
done
echo "== download ${size_mib} MiB"
med "aws s3 cp (defaults)" "${aws[@]}" s3 cp s3://sweep/src.bin "$work/dl.bin"
for part in 8 16 32 64; do
	for par in 4 8 16; do
		med "s3flow part ${part} MiB x ${par}" "$work/s3flow" s3 get-file -c bench --bucket sweep --path src.bin --out "$work/dl.bin" --part-size "$part" --parallel-parts "$par"
	done
done
