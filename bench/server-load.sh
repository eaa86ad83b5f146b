#!/usr/bin/env bash
# Load test of "s3flow server", loopback only: fires webhook calls (default
# 1000, from 16 callers at a time and again from 64) at a flow whose one
# step is cheap and needs no S3 (flow.iterate over [1]), reads every run
# back through the API and prints how long runs took to start and finish
# after their webhook was sent, how many webhooks were answered a second
# and how many runs were worked a second. Two configurations:
#   sqlite    one "s3flow server --workers 8" on its embedded SQLite
#   postgres  "s3flow server --workers 0" and two "s3flow worker --workers 8"
#             on a throwaway PostgreSQL cluster (start_postgres), once with
#             fsync off and once with fsync and synchronous commits on
# Every process has its own S3FLOW_HOME under a temporary folder that is
# removed at the end, with everything started here.
#
#   bash bench/server-load.sh [RUNS] [CALLERS] [RATE]
#
# CALLERS is a list ("16 64"): each configuration is loaded once per
# number. A caller waits for its answer, and the server answers a webhook
# once its run is committed (with fsync on, once it is on disk), so a few
# callers are bound by that wait and many callers by the CPU: together
# they say what the server takes from senders of either kind.
#
# Without RATE the calls go as fast as the server answers them, faster
# than runs are worked: start latency is then mostly the backlog. With
# RATE (calls per second, e.g. 20) it shows how long an idle queue takes
# to pick a run up.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
runs=${1:-1000}
callers=${2:-16 64}
rate=${3:-0}

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-load.XXXXXX")
pids=()
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
cleanup() { stop_all; stop_postgres; rm -rf "$work"; }
trap cleanup EXIT INT TERM

build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local
go build -o "$work/serverload" ./bench/serverload
mkdir -p "$work/flows"
cat >"$work/flows/tick.yaml" <<'YAML'
name: tick
trigger:
  webhook: {secret_env: BENCH_HOOK_SECRET}
steps:
  - id: one
    module: flow.iterate
    with: {items: [1]}
YAML
S3FLOW_HOME="$work/validate" "$work/s3flow" validate "$work/flows/tick.yaml" >/dev/null
BENCH_HOOK_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BENCH_HOOK_SECRET

# start NAME ARGS... starts s3flow with its own home, logging to NAME.log.
start() {
	local name=$1
	shift
	mkdir -p "$work/$name"
	S3FLOW_HOME="$work/$name" "$work/s3flow" "$@" --flows "$work/flows" >"$work/$name.log" 2>&1 &
	pids+=($!)
}

# wait_log NAME TEXT waits until NAME.log holds TEXT (its process alive).
wait_log() {
	local pid=${pids[-1]}
	for _ in $(seq 1 300); do
		if grep -q "$2" "$work/$1.log"; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "$1 did not start:"
	cat "$work/$1.log"
	return 1
}

# token NAME makes an API token in NAME's home (or its database).
token() {
	mkdir -p "$work/$1"
	BENCH_TOKEN=$(S3FLOW_HOME="$work/$1" "$work/s3flow" token create bench 2>"$work/$1-token.log") ||
		{ cat "$work/$1-token.log"; return 1; }
	export BENCH_TOKEN
}

# load LABEL ADDR runs the load generator once per number of callers; its
# table rows go to table.md.
load() {
	local c
	for c in $callers; do
		"$work/serverload" -url "http://$2" -flow tick -n "$runs" -c "$c" -rate "$rate" -label "$1" >>"$work/table.md"
	done
}

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the test; $runs webhook calls a load, callers at a time: $callers$([ "$rate" = 0 ] || echo ", $rate per second at most")"

addr=127.0.0.1:$(free_port)
token sqlite
start sqlite server --addr "$addr" --workers 8
wait_log sqlite "River client started"
load "SQLite: server --workers 8" "$addr"
stop_all

ensure_postgres
for fsync in off on; do
	PG_FSYNC=$fsync start_postgres "$work"
	"$PG_BIN/psql" -q "$S3FLOW_TEST_POSTGRES" -c 'CREATE DATABASE s3flow_load' >/dev/null
	S3FLOW_DATABASE=${S3FLOW_TEST_POSTGRES%/postgres\?*}/s3flow_load?sslmode=disable
	S3FLOW_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export S3FLOW_DATABASE S3FLOW_ENCRYPTION_KEY
	addr=127.0.0.1:$(free_port)
	token pg-server
	start pg-server server --addr "$addr" --workers 0
	wait_log pg-server "s3flow server listening"
	start pg-w1 worker --id w1 --workers 8
	wait_log pg-w1 "River client started"
	start pg-w2 worker --id w2 --workers 8
	wait_log pg-w2 "River client started"
	load "PostgreSQL (fsync=$fsync): server --workers 0 + 2 × worker --workers 8" "$addr"
	stop_all
	stop_postgres
	rm -rf "$work"/pg-server "$work"/pg-w1 "$work"/pg-w2
done

echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the test"
echo
echo "| config | callers | runs | webhooks answered/s | runs worked/s | start p50 | start p99 | finish p50 | finish p99 | hook answer p50 / p99 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/table.md"
