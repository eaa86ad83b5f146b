#!/usr/bin/env bash
# The benchmark: s3flow against the aws CLI v2, rclone and s3cmd on the same
# standalone versitygw (POSIX backend) on 127.0.0.1, each workload run for
# every tool in turn (A B C A B C ...), a warm-up round first, then ROUNDS
# recorded rounds. Wall time, CPU time (user + system), peak RSS and peak
# anonymous RSS (RssAnon: the heap, not the program's own pages) come from
# bench/peak.py. Prints a table (median time, ratio to the fastest peer,
# CPU, memory) and writes docs/benchmarks/compare.tsv, compare.md and
# compare.png. The flow rows (upload and copy of many small objects) are
# checked in the same run: the aws CLI must list every object with the
# ETag of its source. Beside them, the same S3 calls from s3flow's S3
# client alone, in a plain loop (bench/sdkcalls): the SDK's floor.
#
#   bash bench/compare.sh                 # the full run (about 15 minutes here)
#   QUICK=1 bash bench/compare.sh         # small sizes, one round: checks the script
#   WORKLOADS="list small" bash bench/compare.sh   # some workloads only
#
# Settings (environment): ROUNDS (3), SIZE_MIB (1024), LIST_N (20000),
# SMALL_N (2000), SMALL_KIB (10), OUT (docs/benchmarks).
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
SMALL_N=${SMALL_N:-2000}
SMALL_KIB=${SMALL_KIB:-10}
OUT=${OUT:-$repo/docs/benchmarks}
# WORKLOADS picks some of: up down list small copy (default: all).
WORKLOADS=${WORKLOADS:-up down list small copy}
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
build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local ./bench/sdkcalls
export S3FLOW_HOME="$work/home"
s3flow=("$work/s3flow")
# The flows' S3 calls made by s3flow's S3 client from a plain loop: the
# floor under the flow rows (bench/sdkcalls).
sdkcalls=(env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	"$work/sdkcalls" -endpoint "$ep" -c 16)
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
for b in big list small copy; do "${s3flow[@]}" s3 create-bucket -c bench --name "$b" >/dev/null; done
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
cat >"$work/copy-flow.yaml" <<EOF
name: copy-small-files
inputs:
  prefix: {type: string, required: true}
steps:
  - {id: list, module: s3.list_files, connection: bench, concurrency: 16, with: {bucket: small, prefix: src/}}
  - id: copy
    module: s3.copy_file
    connection: bench
    with: {bucket: small, path: "{{ steps.list.key }}", size: "{{ steps.list.size }}", to_bucket: copy, to_path: "{{ inputs.prefix }}/"}
EOF
if want copy; then "${rclone_tuned[@]}" copy "$work/small" b:small/src; fi
url=$("${s3flow[@]}" s3 presign-url -c bench --bucket big --path src.bin --expires 6h -o jsonl | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')

results="$OUT/compare.tsv"
printf 'workload\ttool\tround\tseconds\trss_mib\tcpu_seconds\tanon_mib\n' >"$results"

# measure WORKLOAD TOOL ROUND COMMAND...: runs it under bench/peak.py;
# round 0 is the warm-up and is not recorded.
measure() {
	local workload=$1 tool=$2 round=$3
	shift 3
	# Every tool starts with the last one's writes on disk: without this a
	# run pays for the write-back of the run before it.
	sync
	local got secs cpu rss anon
	if ! got=$(/usr/bin/python3 bench/peak.py "$@" 2>"$work/err.txt"); then
		echo "FAILED: $workload / $tool:"; head -n 20 "$work/err.txt"; exit 1
	fi
	IFS=$'\t' read -r secs cpu rss anon <<<"$got"
	if [ "$round" -gt 0 ]; then printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$tool" "$round" "$secs" "$rss" "$cpu" "$anon" >>"$results"; fi
	printf '  %-28s %-34s round %s: %6.2f s, CPU %6.2f s, %4s MiB (%s anonymous)\n' "$workload" "$tool" "$round" "$secs" "$cpu" "$rss" "$anon"
}

up="upload ${SIZE_MIB} MiB"
down="download ${SIZE_MIB} MiB"
list="list ${LIST_N} objects"
small="upload ${SMALL_N} x ${SMALL_KIB} KiB (flow)"
copy="copy ${SMALL_N} objects (flow)"
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
		measure "$small" "s3flow, history as counts only" "$round" "${s3flow[@]}" run --history-detail 0 "$work/small-flow.yaml" --input "prefix=s3flowc-$round"
		measure "$small" "limit: s3flow's S3 client alone" "$round" "${sdkcalls[@]}" upload "$work/small" small "sdk-$round"
		measure "$small" "aws" "$round" "${aws_default[@]}" s3 cp --recursive "$work/small" "s3://small/aws-$round/"
		measure "$small" "aws (tuned)" "$round" "${aws_tuned[@]}" s3 cp --recursive "$work/small" "s3://small/awst-$round/"
		measure "$small" "rclone" "$round" "${rclone_default[@]}" copy "$work/small" "b:small/rclone-$round"
		measure "$small" "rclone --transfers 16" "$round" "${rclone_default[@]}" --transfers 16 copy "$work/small" "b:small/rclone16-$round"
		measure "$small" "rclone (tuned)" "$round" "${rclone_tuned[@]}" copy "$work/small" "b:small/rclonet-$round"
	fi
	if want copy; then
		measure "$copy" "s3flow" "$round" "${s3flow[@]}" run "$work/copy-flow.yaml" --input "prefix=s3flow-$round"
		measure "$copy" "s3flow, history as counts only" "$round" "${s3flow[@]}" run --history-detail 0 "$work/copy-flow.yaml" --input "prefix=s3flowc-$round"
		measure "$copy" "limit: s3flow's S3 client alone" "$round" "${sdkcalls[@]}" copy small src/ copy "sdk-$round"
		measure "$copy" "aws" "$round" "${aws_default[@]}" s3 cp --recursive s3://small/src/ "s3://copy/aws-$round/"
		measure "$copy" "aws (tuned)" "$round" "${aws_tuned[@]}" s3 cp --recursive s3://small/src/ "s3://copy/awst-$round/"
		measure "$copy" "rclone" "$round" "${rclone_default[@]}" copy b:small/src "b:copy/rclone-$round"
		measure "$copy" "rclone --transfers 16" "$round" "${rclone_default[@]}" --transfers 16 copy b:small/src "b:copy/rclone16-$round"
		measure "$copy" "rclone (tuned)" "$round" "${rclone_tuned[@]}" copy b:small/src "b:copy/rclonet-$round"
	fi
done

# The tools were timed; s3flow's work is checked. Its listing is whole and
# in key order; every object its flows wrote is there, as the aws CLI lists
# it, with the ETag (MD5) of its source.
if want list; then
	listed=$("${s3flow[@]}" s3 list-files -c bench --bucket list --recursive -o jsonl |
		python3 -c 'import json,sys; k=[json.loads(l)["key"] for l in sys.stdin]; assert k == sorted(k), "not in key order"; print(len(k))')
	[ "$listed" -eq "$LIST_N" ] || { echo "s3flow listed $listed objects, want $LIST_N"; exit 1; }
	echo "checked: s3flow listed all $LIST_N objects, in key order"
fi
etags() { # BUCKET PREFIX: "name<tab>etag" lines, as the aws CLI lists them
	"${aws_ls[@]}" s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[].[Key,ETag]' --output text |
		sed "s#^$2##; s#\"##g" | sort
}
(cd "$work/small" && md5sum -- * | awk '{print $2 "\t" $1}' | sort) >"$work/small.md5"
for round in $(seq 1 "$ROUNDS"); do
	for p in s3flow s3flowc sdk; do
		if want small && ! etags small "$p-$round/" | cmp -s - "$work/small.md5"; then
			echo "upload flow $p-$round: the objects differ from the files"; exit 1
		fi
		if want copy && ! etags copy "$p-$round/" | cmp -s - "$work/small.md5"; then
			echo "copy flow $p-$round: the copies differ from the sources"; exit 1
		fi
	done
done
if want small || want copy; then echo "checked: every object of s3flow's flows and of its client alone is there with its source's ETag ($SMALL_N per run)"; fi

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
            f.write(f"{w}\t{tool}\t{i+1}\t{t:.4f}\t0\t0\t0\n")
        print(f"  {w:28} {tool:26} median of {len(ts)}: {statistics.median(ts)*1000:.1f} ms")
EOF

python3 bench/summarize.py "$results" "$OUT/compare.md"
go run ./bench/chart -in "$OUT/compare.tsv" -out "$OUT/compare.png"
echo "wrote $OUT/compare.tsv, $OUT/compare.md, $OUT/compare.png"
