#!/usr/bin/env bash
# The benchmark: s3flow against the aws CLI v2, rclone and s3cmd on the same
# standalone versitygw (POSIX backend) on 127.0.0.1, each workload run for
# every tool in turn (A B C A B C ...), a warm-up round first, then ROUNDS
# recorded rounds. Wall time and peak RSS come from /usr/bin/time -v. Prints
# a table (median time, ratio to the fastest peer, peak RSS) and writes
# docs/benchmarks/compare.tsv, compare.md and compare.png.
#
#   bash bench/compare.sh                 # the full run (about 15 minutes here)
#   QUICK=1 bash bench/compare.sh         # small sizes, one round: checks the script
#   WORKLOADS="list small" bash bench/compare.sh   # some workloads only
#
# Settings (environment): ROUNDS (3), SIZE_MIB (1024), LIST_N (20000),
# SMALL_N (1000), SMALL_KIB (10), OUT (docs/benchmarks).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh

if [ -n "${QUICK:-}" ]; then
	: "${ROUNDS:=1}" "${SIZE_MIB:=64}" "${LIST_N:=2000}" "${SMALL_N:=200}"
fi
ROUNDS=${ROUNDS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
LIST_N=${LIST_N:-20000}
SMALL_N=${SMALL_N:-1000}
SMALL_KIB=${SMALL_KIB:-10}
OUT=${OUT:-$repo/docs/benchmarks}
# WORKLOADS picks some of: up down list small (default: all).
WORKLOADS=${WORKLOADS:-up down list small}
want() { case " $WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }

ensure_aws_cli
ensure_versitygw
missing=()
for tool in rclone s3cmd curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]} (Debian packages)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
		{ as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-compare.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"
ep=$S3FLOW_TEST_ENDPOINT
mkdir -p "$OUT"

echo "building s3flow"
go build -o "$work/" ./cmd/s3flow ./cmd/s3flow-local
export S3FLOW_HOME="$work/home"
s3flow=("$work/s3flow")
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "${s3flow[@]}" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$ep" --path-style >/dev/null

# The peers' settings: defaults, and each one's documented best.
aws_env=(env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=us-east-1
	AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required)
printf '[default]\n' >"$work/aws-default.cfg"
printf '[default]\ns3 =\n  max_concurrent_requests = 16\n  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n' >"$work/aws-tuned.cfg"
aws_default=("${aws_env[@]}" AWS_CONFIG_FILE="$work/aws-default.cfg" /usr/bin/aws --endpoint-url "$ep" --only-show-errors)
aws_tuned=("${aws_env[@]}" AWS_CONFIG_FILE="$work/aws-tuned.cfg" /usr/bin/aws --endpoint-url "$ep" --only-show-errors)
aws_ls=("${aws_env[@]}" AWS_CONFIG_FILE="$work/aws-default.cfg" /usr/bin/aws --endpoint-url "$ep")
# rclone breaks on AWS_CA_BUNDLE (this machine sets it); its remote comes
# from the environment.
rclone_env=(env -u AWS_CA_BUNDLE RCLONE_CONFIG_B_TYPE=s3 RCLONE_CONFIG_B_PROVIDER=Other
	RCLONE_CONFIG_B_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" RCLONE_CONFIG_B_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	RCLONE_CONFIG_B_ENDPOINT="$ep" RCLONE_CONFIG_B_FORCE_PATH_STYLE=true RCLONE_CONFIG=/dev/null)
rclone_default=("${rclone_env[@]}" rclone --ignore-times)
rclone_tuned=("${rclone_env[@]}" rclone --ignore-times --s3-upload-concurrency 8 --s3-chunk-size 16M --multi-thread-streams 8
	--multi-thread-cutoff 64M --transfers 32 --checkers 32 --fast-list --s3-no-check-bucket --s3-no-head)
host=${ep#http://}
cat >"$work/s3cmd.cfg" <<EOF
[default]
access_key = $S3FLOW_TEST_ACCESS_KEY
secret_key = $S3FLOW_TEST_SECRET_KEY
host_base = $host
host_bucket = $host
use_https = False
signature_v2 = False
EOF
s3cmd=(s3cmd -c "$work/s3cmd.cfg" --no-progress -q)

echo "making the data: ${SIZE_MIB} MiB file, ${LIST_N} objects to list, ${SMALL_N} files of ${SMALL_KIB} KiB"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$work/big.bin"
python3 - "$work" "$LIST_N" "$SMALL_N" "$SMALL_KIB" <<'EOF'
import os, sys
work, list_n, small_n, small_kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(f"{work}/listsrc", exist_ok=True)
for i in range(list_n):
    d = f"{work}/listsrc/d{i % 20:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/obj-{i:07d}.txt", "w").write(str(i))
os.makedirs(f"{work}/small", exist_ok=True)
data = os.urandom(small_kib << 10)
for i in range(small_n):
    open(f"{work}/small/f{i:05d}.bin", "wb").write(data[:-8] + i.to_bytes(8, "big"))
EOF
for b in big list small; do "${s3flow[@]}" s3 create-bucket -c bench --name "$b" >/dev/null; done
"${rclone_tuned[@]}" copy "$work/listsrc" b:list
rm -rf "$work/listsrc"
"${s3flow[@]}" s3 upload-file -c bench --bucket big --file "$work/big.bin" --name src.bin >/dev/null
cat >"$work/small-flow.yaml" <<EOF
name: upload-small-files
inputs:
  prefix: {type: string, required: true}
steps:
  - {id: files, module: file.list, concurrency: 16, with: {path: "$work/small"}}
  - id: put
    module: s3.upload_file
    connection: bench
    with: {bucket: small, folder: "{{ inputs.prefix }}", file: "{{ steps.files.file }}"}
EOF
url=$("${s3flow[@]}" s3 presign-url -c bench --bucket big --path src.bin --expires 6h -o jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')

results="$OUT/compare.tsv"
printf 'workload\ttool\tround\tseconds\trss_mib\n' >"$results"

# measure WORKLOAD TOOL ROUND COMMAND...: runs it under /usr/bin/time -v;
# round 0 is the warm-up and is not recorded.
measure() {
	local workload=$1 tool=$2 round=$3
	shift 3
	# Every tool starts with the last one's writes on disk: without this a
	# run pays for the write-back of the run before it.
	sync
	if ! /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt"; then
		echo "FAILED: $workload / $tool:"; grep -v 'Command being timed' "$work/time.txt" | head -n 20; exit 1
	fi
	local secs rss
	secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
	if [ "$round" -gt 0 ]; then printf '%s\t%s\t%s\t%s\t%s\n' "$workload" "$tool" "$round" "$secs" "$rss" >>"$results"; fi
	printf '  %-28s %-26s round %s: %6.2f s %6s MiB\n' "$workload" "$tool" "$round" "$secs" "$rss"
}

up="upload ${SIZE_MIB} MiB"
down="download ${SIZE_MIB} MiB"
list="list ${LIST_N} objects"
small="upload ${SMALL_N} x ${SMALL_KIB} KiB"
for round in $(seq 0 "$ROUNDS"); do
	echo "round $round $( [ "$round" = 0 ] && echo '(warm-up, not counted)')"
	if want up; then
		measure "$up" "s3flow" "$round" "${s3flow[@]}" s3 upload-file -c bench --bucket big --file "$work/big.bin" --name s3flow.bin
		measure "$up" "aws" "$round" "${aws_default[@]}" s3 cp "$work/big.bin" s3://big/aws.bin
		measure "$up" "aws (tuned)" "$round" "${aws_tuned[@]}" s3 cp "$work/big.bin" s3://big/aws.bin
		measure "$up" "rclone" "$round" "${rclone_default[@]}" copyto "$work/big.bin" b:big/rclone.bin
		measure "$up" "rclone (tuned)" "$round" "${rclone_tuned[@]}" copyto "$work/big.bin" b:big/rclone.bin
		measure "$up" "s3cmd" "$round" "${s3cmd[@]}" put "$work/big.bin" s3://big/s3cmd.bin
		measure "$up" "limit: dd with fdatasync" "$round" dd if="$work/big.bin" of="$work/dd.bin" bs=8M conv=fdatasync status=none
	fi
	if want down; then
		for f in s3flow aws rclone s3cmd; do rm -f "$work/$f.dl"; done
		measure "$down" "s3flow" "$round" "${s3flow[@]}" s3 get-file -c bench --bucket big --path src.bin --out "$work/s3flow.dl"
		measure "$down" "aws" "$round" "${aws_default[@]}" s3 cp s3://big/src.bin "$work/aws.dl"
		measure "$down" "aws (tuned)" "$round" "${aws_tuned[@]}" s3 cp s3://big/src.bin "$work/aws.dl"
		rm -f "$work/rclone.dl"
		measure "$down" "rclone" "$round" "${rclone_default[@]}" copyto b:big/src.bin "$work/rclone.dl"
		rm -f "$work/rclone.dl"
		measure "$down" "rclone (tuned)" "$round" "${rclone_tuned[@]}" copyto b:big/src.bin "$work/rclone.dl"
		measure "$down" "s3cmd" "$round" "${s3cmd[@]}" get --force s3://big/src.bin "$work/s3cmd.dl"
		measure "$down" "s3flow to stdout (> /dev/null)" "$round" "${s3flow[@]}" s3 get-file -c bench --bucket big --path src.bin --out -
		measure "$down" "limit: curl GET to /dev/null" "$round" curl -fsS -o /dev/null "$url"
		measure "$down" "limit: curl GET to a file" "$round" curl -fsS -o "$work/curl.dl" "$url"
		cmp "$work/big.bin" "$work/s3flow.dl"
	fi
	if want list; then
		measure "$list" "s3flow" "$round" "${s3flow[@]}" s3 list-files -c bench --bucket list --recursive -o jsonl
		measure "$list" "aws" "$round" "${aws_ls[@]}" s3 ls --recursive s3://list/
		measure "$list" "rclone" "$round" "${rclone_default[@]}" lsf -R b:list
		measure "$list" "rclone (tuned)" "$round" "${rclone_tuned[@]}" lsf -R b:list
		measure "$list" "s3cmd" "$round" "${s3cmd[@]}" ls -r s3://list/
		measure "$list" "limit: curl per page" "$round" env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" \
			AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY" python3 bench/rawlist.py "$ep" list
	fi
	if want small; then
		measure "$small" "s3flow" "$round" "${s3flow[@]}" run "$work/small-flow.yaml" --input "prefix=s3flow-$round"
		measure "$small" "aws" "$round" "${aws_default[@]}" s3 cp --recursive "$work/small" "s3://small/aws-$round/"
		measure "$small" "aws (tuned)" "$round" "${aws_tuned[@]}" s3 cp --recursive "$work/small" "s3://small/awst-$round/"
		measure "$small" "rclone" "$round" "${rclone_default[@]}" copy "$work/small" "b:small/rclone-$round"
		measure "$small" "rclone (tuned)" "$round" "${rclone_tuned[@]}" copy "$work/small" "b:small/rclonet-$round"
	fi
done

# The tools were timed, not checked; check s3flow's listing is whole.
if want list; then
	listed=$("${s3flow[@]}" s3 list-files -c bench --bucket list --recursive -o jsonl | wc -l)
	[ "$listed" -eq "$LIST_N" ] || { echo "s3flow listed $listed objects, want $LIST_N"; exit 1; }
fi

# Start-up and one small download, many times each (too short for one
# /usr/bin/time reading to mean much).
printf 'x%.0s' $(seq 1 1024) >"$work/one-kib.txt"
"${s3flow[@]}" s3 upload-file -c bench --bucket small --file "$work/one-kib.txt" --name one-kib.txt >/dev/null
python3 - "$results" "$work" "${s3flow[0]}" <<'EOF'
import statistics, subprocess, sys, time
results, work, s3flow = sys.argv[1:]
def med(cmd, n=30):
    ts = []
    for _ in range(n + 3):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t)
    return ts[3:]
rows = [("start-up (--version)", "s3flow", med([s3flow, "--version"])),
        ("get-file 1 KiB", "s3flow", med([s3flow, "s3", "get-file", "-c", "bench", "--bucket", "small", "--path", "one-kib.txt", "--out", work + "/one.dl"]))]
with open(results, "a") as f:
    for w, tool, ts in rows:
        for i, t in enumerate(ts):
            f.write(f"{w}\t{tool}\t{i+1}\t{t:.4f}\t0\n")
        print(f"  {w:28} {tool:26} median of {len(ts)}: {statistics.median(ts)*1000:.1f} ms")
EOF

python3 bench/summarize.py "$results" "$OUT/compare.md"
go run ./bench/chart -in "$OUT/compare.tsv" -out "$OUT/compare.png"
echo "wrote $OUT/compare.tsv, $OUT/compare.md, $OUT/compare.png"
