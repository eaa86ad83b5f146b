#!/usr/bin/env bash
# Recursive listing on four layouts of one standalone versitygw on
# 127.0.0.1: s3flow list-files --recursive against rclone lsf -R (default
# and --fast-list), and for the flat bucket the page floor (every page by
# curl alone, bench/rawlist.py); beside them, the same requests from
# s3flow's S3 client alone with no output (bench/sdkcalls): what the SDK
# costs, the floor under s3flow's CPU. Wall time, client CPU (user + system) and
# peak RSS from /usr/bin/time -v, the server's CPU from /proc; the median
# of ROUNDS rounds after a warm-up. s3flow's listing is checked against the
# aws CLI's in the same run: the same keys, in key order.
#
#   bash bench/list-layouts.sh            # ROUNDS=3
#
# Layouts: "one/" holding 100 folders of 200 objects; a tree 4 levels deep
# with 10 folders at each level (10,000 objects, one per leaf); 20 folders
# of 1,000; a flat folder of 20,000.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
ROUNDS=${ROUNDS:-3}

ensure_aws_cli
ensure_versitygw
command -v rclone >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-layouts.XXXXXX")
cleanup() { stop_versitygw; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_versitygw "$work"
ep=$S3FLOW_TEST_ENDPOINT
vgw_pid=$VERSITYGW_PID

build_s3flow "$work" ./cmd/s3flow ./bench/sdkcalls
export S3FLOW_HOME="$work/home"
s3flow=("$work/s3flow")
# The listing's requests from s3flow's S3 client in a plain loop, with no
# output: the SDK's floor under s3flow's CPU (bench/sdkcalls).
sdkcalls=(env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	"$work/sdkcalls" -endpoint "$ep" -c 4)
printf '%s' "$S3FLOW_TEST_SECRET_KEY" | "${s3flow[@]}" connection create bench \
	--access-key-id "$S3FLOW_TEST_ACCESS_KEY" --secret-access-key-stdin --endpoint "$ep" --path-style >/dev/null
aws=(env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null AWS_REGION=us-east-1 /usr/bin/aws --endpoint-url "$ep")
rclone=(env -u AWS_CA_BUNDLE RCLONE_CONFIG_B_TYPE=s3 RCLONE_CONFIG_B_PROVIDER=Other
	RCLONE_CONFIG_B_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" RCLONE_CONFIG_B_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY"
	RCLONE_CONFIG_B_ENDPOINT="$ep" RCLONE_CONFIG_B_FORCE_PATH_STYLE=true RCLONE_CONFIG=/dev/null rclone)

echo "making the layouts"
python3 - "$work/src" <<'EOF'
import os, sys
root = sys.argv[1]
def put(path, i):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(str(i))
for i in range(20000):
    put(f"{root}/hundred/one/d{i % 100:03d}/obj-{i:06d}.txt", i)
    put(f"{root}/twenty/d{i % 20:02d}/obj-{i:06d}.txt", i)
    put(f"{root}/flat/obj-{i:06d}.txt", i)
for i in range(10000):
    a, b, c, d = f"{i:04d}"
    put(f"{root}/deep/{a}/{b}/{c}/{d}/obj.txt", i)
EOF
for b in hundred deep twenty flat; do
	"${s3flow[@]}" s3 create-bucket -c bench --name "$b" >/dev/null
	"${rclone[@]}" copy --transfers 32 --checkers 32 "$work/src/$b" "b:$b"
done
rm -rf "$work/src"

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)
results="$work/results.tsv"
measure() {
	local layout=$1 tool=$2 round=$3
	shift 3
	local before after
	before=$(cpu_of "$vgw_pid")
	/usr/bin/time -v "$@" >"$work/out.txt" 2>"$work/time.txt" || { cat "$work/time.txt"; exit 1; }
	after=$(cpu_of "$vgw_pid")
	awk -F': ' -v layout="$layout" -v tool="$tool" -v round="$round" -v server="$(((after - before) * 1000 / hz))" '
		/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; wall=s}
		/User time/ {u=$2} /System time/ {sy=$2} /Maximum resident/ {rss=$2/1024}
		END {printf "%s\t%s\t%s\t%.3f\t%.3f\t%.0f\t%.3f\n", layout, tool, round, wall, u+sy, rss, server/1000}' "$work/time.txt" |
		tee -a "$results" | awk -F'\t' '$3 > 0 {printf "  %-8s %-22s round %s: %6.2f s wall, %5.2f s CPU, %4d MiB, server %5.2f s CPU\n", $1, $2, $3, $4, $5, $6, $7}'
}

for round in $(seq 0 "$ROUNDS"); do
	for b in hundred deep twenty flat; do
		measure "$b" "s3flow" "$round" "${s3flow[@]}" s3 list-files -c bench --bucket "$b" --recursive -o jsonl
		measure "$b" "rclone lsf -R" "$round" "${rclone[@]}" lsf -R "b:$b"
		measure "$b" "rclone lsf -R --fast-list" "$round" "${rclone[@]}" lsf -R --fast-list "b:$b"
		measure "$b" "floor: s3flow's client alone" "$round" "${sdkcalls[@]}" list "$b"
		want=$([ "$b" = deep ] && echo 10000 || echo 20000)
		[ "$(cat "$work/out.txt")" = "$want" ] || { echo "$b: the client alone counted $(cat "$work/out.txt") objects, want $want"; exit 1; }
	done
	measure flat "floor: curl per page" "$round" env AWS_ACCESS_KEY_ID="$S3FLOW_TEST_ACCESS_KEY" \
		AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SECRET_KEY" python3 bench/rawlist.py "$ep" flat
done

# Checked in the same run: s3flow lists what the aws CLI lists, in order.
for b in hundred deep twenty flat; do
	"${s3flow[@]}" s3 list-files -c bench --bucket "$b" --recursive -o jsonl |
		python3 -c 'import json,sys; [print(json.loads(l)["key"]) for l in sys.stdin]' >"$work/s3flow.keys"
	"${aws[@]}" s3api list-objects-v2 --bucket "$b" --query 'Contents[].Key' --output text | tr '\t' '\n' >"$work/aws.keys"
	cmp -s "$work/s3flow.keys" "$work/aws.keys" || { echo "$b: s3flow's listing differs from the aws CLI's"; exit 1; }
	LC_ALL=C sort -c "$work/s3flow.keys" || { echo "$b: s3flow's keys are not in key order"; exit 1; }
	echo "$b: $(wc -l <"$work/s3flow.keys") keys, the same as the aws CLI's, in key order"
done

echo
echo "median of $ROUNDS rounds (wall s, client CPU s, peak RSS MiB, server CPU s; ratio to rclone lsf -R):"
python3 - "$results" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]), delimiter="\t") if int(r[2]) > 0]
med = {}
for layout, tool in dict.fromkeys((r[0], r[1]) for r in rows):
    sel = [r for r in rows if r[0] == layout and r[1] == tool]
    med[layout, tool] = [statistics.median(float(r[i]) for r in sel) for i in (3, 4, 5, 6)]
for (layout, tool), (wall, cpu, rss, server) in med.items():
    base = med.get((layout, "rclone lsf -R"))
    ratio = f"  wall {wall / base[0]:.2f}x, CPU {cpu / base[1]:.2f}x, RSS {rss / base[2]:.2f}x" if base and tool != "rclone lsf -R" else ""
    print(f"  {layout:8s} {tool:26s} {wall:6.2f} {cpu:6.2f} {rss:5.0f} {server:6.2f}{ratio}")
EOF
