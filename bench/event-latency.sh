#!/usr/bin/env bash
# Latency from an upload to the run it starts, on 127.0.0.1 (issue 17):
# uploads one object at a time (each run finishes before the next upload)
# and reads back from "s3flow server" (GET /api/runs/{id}) when the run was
# accepted (the run's startedAt: the trigger recorded it as queued) and
# when its first step began, both counted from the moment PutObject
# returned (bench/eventlatency). Four modes, each on a server of its own
# (own S3FLOW_HOME, one flow, SQLite):
#   webhook   s3_event: versitygw --event-webhook-url posts to
#             /events/FLOW/TOKEN (the token from "s3flow trigger token")
#   sqs       s3_event reading a goaws queue; goaws cannot receive S3
#             events, so the bench sends the S3-shaped notification right
#             after each PUT: this measures s3flow's part, queue to run
#   local     s3_event on the local connection: "s3flow local serve" (the
#             same home as the server) tells the server of each write
#   watch     watch_files with every: 1m, uploads at random points of the
#             minute (WATCH_N of them, each takes up to a minute)
# Everything started here is stopped at the end and its folder removed.
#
#   bash bench/event-latency.sh            # N=20 per event mode, WATCH_N=3
#   N=5 WATCH_N=1 MODES="webhook sqs" bash bench/event-latency.sh
#   KEEP=1 ...  keeps the temporary folder (logs of every server)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. scripts/lib.sh
N=${N:-20}
WATCH_N=${WATCH_N:-3}
MODES=${MODES:-webhook sqs local watch}
want() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }

ensure_aws_cli
ensure_versitygw
want sqs && ensure_goaws

work=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-latency.XXXXXX")
pids=()
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
cleanup() { stop_all; stop_goaws; if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT INT TERM

echo "building s3flow"
build_s3flow "$work" ./cmd/s3flow ./cmd/s3flow-local ./bench/eventlatency
s3flow=$work/s3flow

# wait_log FILE TEXT waits until FILE holds TEXT while the last process
# started is alive.
wait_log() {
	local pid=${pids[-1]}
	for _ in $(seq 1 300); do
		if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "no \"$2\" in $1:"
	cat "$1"
	return 1
}

# gw_keys picks the next versitygw's port and keys: GW_PORT, GW_ENDPOINT,
# BENCH_ACCESS_KEY and BENCH_SECRET_KEY (known before it starts, for the
# connection a flow's trigger token is checked against).
gw_keys() {
	GW_PORT=$(free_port)
	GW_ENDPOINT=http://127.0.0.1:$GW_PORT
	BENCH_ACCESS_KEY=bench
	BENCH_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export BENCH_ACCESS_KEY BENCH_SECRET_KEY
}

# start_gw NAME [VERSITYGW ARGS...] starts a versitygw of its own (POSIX
# backend in NAME/data) on GW_PORT with the given options.
start_gw() {
	local dir=$work/$1
	shift
	mkdir -p "$dir/data"
	ROOT_ACCESS_KEY=$BENCH_ACCESS_KEY ROOT_SECRET_KEY=$BENCH_SECRET_KEY \
		"$VERSITYGW" --port "127.0.0.1:$GW_PORT" --health /health --quiet "$@" posix "$dir/data" >"$dir/versitygw.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		if curl -fsS -m 2 -o /dev/null "$GW_ENDPOINT/health" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "versitygw did not start:"
	cat "$dir/versitygw.log"
	return 1
}

# home NAME FLOW_YAML makes NAME's home with an API token (BENCH_TOKEN) and
# its one flow, and picks its server's address (ADDR).
home() {
	mkdir -p "$work/$1/home" "$work/$1/flows"
	printf '%s' "$2" >"$work/$1/flows/$1.yaml"
	BENCH_TOKEN=$(S3FLOW_HOME="$work/$1/home" "$s3flow" token create bench 2>>"$work/$1/cli.log")
	export BENCH_TOKEN
	ADDR=127.0.0.1:$(free_port)
}

# connect NAME makes the connection "vg" to GW_ENDPOINT in NAME's home.
connect() {
	printf '%s' "$BENCH_SECRET_KEY" | S3FLOW_HOME="$work/$1/home" "$s3flow" connection create vg \
		--access-key-id "$BENCH_ACCESS_KEY" --secret-access-key-stdin --endpoint "$GW_ENDPOINT" --path-style --no-verify >>"$work/$1/cli.log" 2>&1
}

# serve NAME starts NAME's server and waits until it works runs. The
# stores and the queue are on 127.0.0.1, which a server refuses unless
# allowed.
serve() {
	S3FLOW_HOME="$work/$1/home" "$s3flow" server --addr "$ADDR" --flows "$work/$1/flows" --allow-private-endpoints >"$work/$1/server.log" 2>&1 &
	pids+=($!)
	wait_log "$work/$1/server.log" "River client started"
}

# measure NAME LABEL ARGS... runs bench/eventlatency against NAME's server.
measure() {
	local name=$1 label=$2
	shift 2
	"$work/eventlatency" -url "http://$ADDR" -flow "$name" -label "$label" "$@" >>"$work/table.md"
}

flow() { # flow NAME TRIGGER
	printf 'name: %s\ntrigger:\n  %s\nsteps:\n  - {id: one, module: flow.iterate, with: {items: ["{{ trigger.key }}"]}}\n' "$1" "$2"
}

echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before; $N uploads per event mode, $WATCH_N for watch_files"

if want webhook; then
	home hook "$(flow hook 's3_event: {connection: vg, bucket: bench, prefix: hook/}')"
	gw_keys
	connect hook
	hook_token=$(S3FLOW_HOME="$work/hook/home" "$s3flow" trigger token "$work/hook/flows/hook.yaml" 2>>"$work/hook/cli.log")
	# versitygw posts a test event as it starts, and exits if it cannot.
	serve hook
	start_gw gw-hook --event-webhook-url "http://$ADDR/events/hook/$hook_token"
	measure hook "s3_event, versitygw webhook" -endpoint "$GW_ENDPOINT" -prefix hook/ -n "$N" -timeout 1m
	stop_all
fi

if want sqs; then
	start_goaws "$work"
	queue_url=$(env -u AWS_PROFILE AWS_ACCESS_KEY_ID=goaws AWS_SECRET_ACCESS_KEY=goaws AWS_REGION=us-east-1 \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		"$AWS" --endpoint-url "$S3FLOW_TEST_SQS_ENDPOINT" sqs create-queue --queue-name latency --query QueueUrl --output text)
	home sqs "$(flow sqs "s3_event: {connection: vg, bucket: bench, prefix: sqs/, queue_url: \"$queue_url\", queue_protocol: query}")"
	gw_keys
	start_gw gw-sqs
	connect sqs
	serve sqs
	measure sqs "s3_event, SQS (goaws; notification sent by the bench after the PUT)" \
		-endpoint "$GW_ENDPOINT" -prefix sqs/ -queue-url "$queue_url" -n "$N" -timeout 1m
	stop_all
	stop_goaws
fi

if want local; then
	home onput "$(flow onput 's3_event: {connection: local, bucket: demo, prefix: incoming/}')"
	serve onput
	S3FLOW_HOME="$work/onput/home" "$s3flow" local serve --addr "127.0.0.1:$(free_port)" >"$work/onput/local.log" 2>&1 &
	pids+=($!)
	wait_log "$work/onput/local.log" "secret access key:"
	field() { sed -n "s/^$1:[[:space:]]*//p" "$work/onput/local.log" | head -n 1; }
	BENCH_ACCESS_KEY=$(field "access key id") BENCH_SECRET_KEY=$(field "secret access key") \
		measure onput "s3_event, local endpoint (s3flow local serve)" -endpoint "$(field endpoint)" -bucket demo -prefix incoming/ -n "$N" -timeout 1m
	stop_all
fi

if want watch; then
	home watch "$(flow watch 'watch_files: {connection: vg, bucket: bench, prefix: watch/, every: 1m}')"
	gw_keys
	start_gw gw-watch
	connect watch
	# The first listing records what is there: the bucket must exist.
	env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$BENCH_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$BENCH_SECRET_KEY" AWS_REGION=us-east-1 \
		AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		"$AWS" --endpoint-url "$GW_ENDPOINT" s3api create-bucket --bucket bench >/dev/null
	serve watch
	wait_log "$work/watch/server.log" "first listing recorded"
	measure watch "watch_files, every: 1m" -endpoint "$GW_ENDPOINT" -prefix watch/ -n "$WATCH_N" \
		-gap 0 -jitter 1m -poll 250ms -timeout 3m
	stop_all
fi

echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
echo "From PutObject's return to the run, min / median / p90 / max (p90 from 10 uploads on):"
echo
echo "| mode | uploads | run accepted (startedAt) | first step started |"
echo "|---|---:|---|---|"
cat "$work/table.md"
