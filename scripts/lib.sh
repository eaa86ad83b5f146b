# Shared by scripts/test.sh and bench scripts: install and run the test
# S3 servers (versitygw, SeaweedFS). Source it; it defines functions only.

VERSITYGW_VERSION=v1.8.0
# SeaweedFS has no tagged Go module versions; this pseudo-version pins a commit.
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
# goaws, an SQS stand-in for the s3_event trigger's queue source.
GOAWS_VERSION=v0.4.5
# MinIO, the store that takes bucket notification configurations (for
# 's3flow trigger setup'); a pseudo-version pins a commit.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
CACHE_DIR=${S3FLOW_CACHE_DIR:-$HOME/.cache/s3flow-dev}
AWS=/usr/bin/aws

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_aws_cli installs the aws CLI v2 from Debian (/usr/bin/aws); an
# older v1 from pyenv may shadow it on PATH, so tests call /usr/bin/aws.
ensure_aws_cli() {
	if [ -x "$AWS" ]; then return; fi
	echo "installing awscli (Debian package)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli >/dev/null ||
		{ as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli >/dev/null; }
}

# ensure_versitygw installs versitygw at a pinned version into the cache.
ensure_versitygw() {
	VERSITYGW="$CACHE_DIR/versitygw-$VERSITYGW_VERSION/versitygw"
	if [ -x "$VERSITYGW" ]; then return; fi
	echo "installing versitygw $VERSITYGW_VERSION (go install, about a minute)"
	mkdir -p "$(dirname "$VERSITYGW")"
	GOBIN="$(dirname "$VERSITYGW")" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

# ensure_weed builds SeaweedFS's weed binary at a pinned version into the
# cache. go install refuses the module (its go.mod has a replace directive),
# so the module source is downloaded with go mod download, copied out of the
# read-only module cache and built there: a few minutes, once per version.
# Concurrent test runs wait for one build instead of each starting their own.
ensure_weed() {
	WEED="$CACHE_DIR/weed-$WEED_VERSION/weed"
	if [ -x "$WEED" ]; then return; fi
	mkdir -p "$(dirname "$WEED")"
	(
		flock 9
		if [ -x "$WEED" ]; then exit 0; fi
		rm -rf "$(dirname "$WEED")"/build.* # left by a run that was killed
		echo "building SeaweedFS weed $WEED_VERSION (go build, a few minutes; cached afterwards)"
		src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || exit 1
		build=$(mktemp -d "$(dirname "$WEED")/build.XXXXXX")
		trap 'rm -rf "$build"' EXIT
		cp -R "$src/." "$build/"
		chmod -R u+w "$build"
		# Built beside the final path and renamed, so an interrupted build
		# never leaves a half-written binary that the -x check would accept.
		if ! (cd "$build" && GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$build/weed.bin" ./weed) >"$build/build.log" 2>&1; then
			echo "building weed failed:"; tail -n 50 "$build/build.log"; exit 1
		fi
		mv "$build/weed.bin" "$WEED"
	) 9>"$(dirname "$WEED").lock" # beside the folder: "rm -rf build.*" must not take the lock with it
}

# ensure_goaws builds goaws (an SQS stand-in) at a pinned version into the
# cache. Its main listens on 0.0.0.0 with no option to change it, and tests
# talk only to 127.0.0.1: the module source is copied out of the module
# cache and its listen address changed to 127.0.0.1 before building.
ensure_goaws() {
	GOAWS="$CACHE_DIR/goaws-$GOAWS_VERSION/goaws"
	if [ -x "$GOAWS" ]; then return; fi
	mkdir -p "$(dirname "$GOAWS")"
	(
		flock 9
		if [ -x "$GOAWS" ]; then exit 0; fi
		rm -rf "$(dirname "$GOAWS")"/build.*
		echo "building goaws $GOAWS_VERSION (go build, once; cached afterwards)"
		src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "github.com/Admiral-Piett/goaws@$GOAWS_VERSION" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || exit 1
		build=$(mktemp -d "$(dirname "$GOAWS")/build.XXXXXX")
		trap 'rm -rf "$build"' EXIT
		cp -R "$src/." "$build/"
		chmod -R u+w "$build"
		sed -i 's/"0\.0\.0\.0:"/"127.0.0.1:"/g' "$build/app/cmd/goaws.go"
		grep -q '"127.0.0.1:"' "$build/app/cmd/goaws.go" || { echo "goaws: listen address not found to change"; exit 1; }
		if ! (cd "$build" && GOFLAGS=-mod=mod go build -trimpath -buildvcs=false -o "$build/goaws.bin" ./app/cmd) >"$build/build.log" 2>&1; then
			echo "building goaws failed:"; tail -n 50 "$build/build.log"; exit 1
		fi
		mv "$build/goaws.bin" "$GOAWS"
	) 9>"$(dirname "$GOAWS").lock"
}

# ensure_minio installs MinIO's server at a pinned version into the cache
# (go install: a few minutes and about 150 MB, once per version). Tests
# start it themselves, with a webhook target pointing at their own s3flow
# server (S3FLOW_TEST_MINIO_BIN names the binary).
ensure_minio() {
	MINIO="$CACHE_DIR/minio-$MINIO_VERSION/minio"
	if [ -x "$MINIO" ]; then return; fi
	mkdir -p "$(dirname "$MINIO")"
	(
		flock 9
		if [ -x "$MINIO" ]; then exit 0; fi
		echo "installing MinIO $MINIO_VERSION (go install, a few minutes; cached afterwards)"
		# Installed into a folder beside the final one and moved, so an
		# interrupted build never leaves a binary the -x check would accept.
		build=$(mktemp -d "$(dirname "$MINIO")/build.XXXXXX")
		trap 'rm -rf "$build"' EXIT
		if ! (cd "${TMPDIR:-/tmp}" && GOBIN="$build" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION") >"$build/build.log" 2>&1; then
			echo "installing MinIO failed:"; tail -n 50 "$build/build.log"; exit 1
		fi
		mv "$build/minio" "$MINIO"
	) 9>"$(dirname "$MINIO").lock"
}

# start_goaws DIR starts goaws on a free 127.0.0.1 port, with no queues
# (tests make their own), and waits for its /health. It exports
# S3FLOW_TEST_SQS_ENDPOINT. goaws takes any credentials.
start_goaws() {
	local dir=$1/goaws port
	mkdir -p "$dir"
	port=$(free_port)
	# Region is left out: goaws would put it before the host in queue URLs.
	cat >"$dir/goaws.yaml" <<YAML
Local:
  Host: 127.0.0.1
  Port: "$port"
  AccountId: "100010001000"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
YAML
	"$GOAWS" -config "$dir/goaws.yaml" Local >"$dir/goaws.log" 2>&1 &
	GOAWS_PID=$!
	S3FLOW_TEST_SQS_ENDPOINT="http://127.0.0.1:$port"
	for _ in $(seq 1 100); do
		if curl -fsS -m 2 -o /dev/null "$S3FLOW_TEST_SQS_ENDPOINT/health" 2>/dev/null; then
			export S3FLOW_TEST_SQS_ENDPOINT
			return 0
		fi
		if ! kill -0 "$GOAWS_PID" 2>/dev/null; then
			echo "goaws exited:"; tail -n 50 "$dir/goaws.log"; GOAWS_PID=; return 1
		fi
		sleep 0.1
	done
	echo "goaws did not become healthy on $S3FLOW_TEST_SQS_ENDPOINT"; tail -n 50 "$dir/goaws.log"; return 1
}

stop_goaws() {
	if [ -n "${GOAWS_PID:-}" ]; then
		kill "$GOAWS_PID" 2>/dev/null || true
		wait "$GOAWS_PID" 2>/dev/null || true
		GOAWS_PID=
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# free_ports N prints N distinct free 127.0.0.1 ports (all held open while
# choosing, so none is picked twice).
free_ports() {
	python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# start_versitygw DIR starts a standalone versitygw (POSIX backend, data in
# DIR/data) on a free 127.0.0.1 port and waits for its health check. With
# keep-alive, as S3 and the other servers do: by default versitygw answers
# every request with "Connection: close", and each request of every client
# then pays for a new connection.
start_versitygw() {
	local dir=$1 port
	mkdir -p "$dir/data"
	port=$(free_port)
	S3FLOW_TEST_ACCESS_KEY=s3flowtest
	S3FLOW_TEST_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	S3FLOW_TEST_ENDPOINT="http://127.0.0.1:$port"
	ROOT_ACCESS_KEY="$S3FLOW_TEST_ACCESS_KEY" ROOT_SECRET_KEY="$S3FLOW_TEST_SECRET_KEY" \
		"$VERSITYGW" --port "127.0.0.1:$port" --health /health --quiet --keep-alive posix "$dir/data" >"$dir/versitygw.log" 2>&1 &
	VERSITYGW_PID=$!
	for _ in $(seq 1 100); do
		if curl -fsS -m 2 -o /dev/null "$S3FLOW_TEST_ENDPOINT/health" 2>/dev/null; then return 0; fi
		if ! kill -0 "$VERSITYGW_PID" 2>/dev/null; then
			echo "versitygw exited:"; cat "$dir/versitygw.log"; return 1
		fi
		sleep 0.1
	done
	echo "versitygw did not become healthy on $S3FLOW_TEST_ENDPOINT"; cat "$dir/versitygw.log"; return 1
}

stop_versitygw() {
	if [ -n "${VERSITYGW_PID:-}" ]; then
		kill "$VERSITYGW_PID" 2>/dev/null || true
		wait "$VERSITYGW_PID" 2>/dev/null || true
		VERSITYGW_PID=
	fi
}

# start_weed DIR starts SeaweedFS's all-in-one "weed mini" (master, volume,
# filer, S3 gateway and its admin server in one process) with data and logs
# in DIR/weed. Every listener is on 127.0.0.1, on free ports chosen here
# (mini would otherwise pick its well-known defaults, 8333, 9333, ...);
# WebDAV, the Admin UI, the Iceberg and Lance catalogs and the anonymous
# telemetry are off. The S3 keys go in through AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY, which mini turns into an admin identity. It waits
# for the S3 gateway's /healthz. A port taken by someone else between being
# chosen and being bound makes weed exit; it is then started again on other
# ports, up to three times.
start_weed() {
	local attempt
	for attempt in 1 2 3; do
		rm -rf "$1/weed"
		if start_weed_once "$1"; then return 0; fi
		# Still running but not healthy: no point in other ports.
		if [ -n "${WEED_PID:-}" ]; then return 1; fi
		[ "$attempt" -lt 3 ] && echo "starting weed mini again on other ports"
	done
	return 1
}

start_weed_once() {
	local dir=$1/weed
	local master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc admin admin_grpc
	mkdir -p "$dir/data" "$dir/logs" "$dir/admin"
	read -r master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc admin admin_grpc <<<"$(free_ports 10)"
	S3FLOW_TEST_SEAWEED_ACCESS_KEY=s3flowweed
	S3FLOW_TEST_SEAWEED_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	S3FLOW_TEST_SEAWEED_ENDPOINT="http://127.0.0.1:$s3"
	# Volumes of 64 MiB (mini sizes them from the disk, up to 1 GiB): every
	# bucket is a collection with volumes of its own, and the suite makes
	# many buckets at once.
	AWS_ACCESS_KEY_ID="$S3FLOW_TEST_SEAWEED_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3FLOW_TEST_SEAWEED_SECRET_KEY" \
		"$WEED" -logdir="$dir/logs" mini \
		-dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
		-master.volumeSizeLimitMB=64 \
		-volume.port="$volume" -volume.port.grpc="$volume_grpc" \
		-filer.port="$filer" -filer.port.grpc="$filer_grpc" -filer.localSocket="$dir/filer.sock" \
		-s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.localSocket="$dir/s3.sock" \
		-s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false \
		-webdav=false -admin.ui=false -admin.port="$admin" -admin.port.grpc="$admin_grpc" \
		-admin.port.legacy=0 -admin.dataDir="$dir/admin" \
		>"$dir/weed.log" 2>&1 &
	WEED_PID=$!
	local rc=0
	await_ready "weed mini" "$S3FLOW_TEST_SEAWEED_ENDPOINT/healthz" "$WEED_PID" "$dir/weed.log" || rc=$?
	if [ "$rc" -eq 2 ]; then WEED_PID=; fi
	[ "$rc" -eq 0 ]
}

# await_ready NAME URL PID LOG waits up to a minute for URL to answer 2xx.
# It returns 2 if PID exits first, 1 if the minute passes (printing the
# tail of LOG either way).
await_ready() {
	local name=$1 url=$2 pid=$3 log=$4
	for _ in $(seq 1 600); do
		if curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; then return 0; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$name exited:"; tail -n 50 "$log"; return 2
		fi
		sleep 0.1
	done
	echo "$name did not become ready at $url"; tail -n 50 "$log"; return 1
}

# stop_process PID stops a server: SIGTERM lets it flush; after 15
# seconds it is killed.
stop_process() {
	local pid=$1
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_weed stops weed mini: SIGTERM lets it flush and remove its sockets;
# after 15 seconds it is killed.
stop_weed() {
	if [ -n "${WEED_PID:-}" ]; then
		stop_process "$WEED_PID"
		WEED_PID=
	fi
}

# ensure_postgres installs PostgreSQL's server from Debian if no initdb is
# found (Debian keeps it under /usr/lib/postgresql/VERSION/bin).
ensure_postgres() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then return; fi
	echo "installing postgresql (Debian package)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null ||
		{ as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
}

# as_postgres runs a command as the postgres user when we are root
# (initdb and postgres refuse to run as root).
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR makes a throwaway cluster in DIR/pg (trust auth, no
# fsync: test data only; PG_FSYNC=on makes it durable, for benchmarks),
# starts it on a free 127.0.0.1 port with its socket in DIR/pg, and exports
# S3FLOW_TEST_POSTGRES, the superuser's URL. Tests create a database of
# their own in it.
start_postgres() {
	local dir=$1/pg port durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	[ "${PG_FSYNC:-off}" = on ] && durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
	rm -rf "$dir"
	mkdir -p "$dir"
	# The postgres user must reach DIR/pg through DIR (mktemp makes it 0700).
	if [ "$(id -u)" -eq 0 ]; then chmod o+x "$1"; chown postgres "$dir"; chmod 700 "$dir"; fi
	as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$1/pg-initdb.log" 2>&1 ||
		{ echo "initdb failed:"; cat "$1/pg-initdb.log"; return 1; }
	port=$(free_port)
	PG_DATA=$dir/data
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 60 \
		-o "-h 127.0.0.1 -p $port -k $dir $durability -c max_connections=200" start >/dev/null ||
		{ echo "postgres did not start:"; cat "$dir/postgres.log"; return 1; }
	S3FLOW_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	export S3FLOW_TEST_POSTGRES
}

# stop_postgres stops the cluster start_postgres started.
stop_postgres() {
	if [ -n "${PG_DATA:-}" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
		PG_DATA=
	fi
}

# start_minio DIR starts MinIO (data in DIR/minio) on a free 127.0.0.1 port
# with root keys of its own, and waits until it is ready. It serves STS
# (AssumeRole), versioning and object lock, which the other servers lack.
start_minio() {
	local dir=$1/minio port
	mkdir -p "$dir/data"
	port=$(free_ports 1)
	S3FLOW_TEST_MINIO_ACCESS_KEY=s3flowminio
	S3FLOW_TEST_MINIO_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	S3FLOW_TEST_MINIO_ENDPOINT="http://127.0.0.1:$port"
	MINIO_ROOT_USER="$S3FLOW_TEST_MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3FLOW_TEST_MINIO_SECRET_KEY" \
		MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=on \
		"$MINIO" server --quiet --address "127.0.0.1:$port" "$dir/data" >"$dir/minio.log" 2>&1 &
	MINIO_PID=$!
	await_ready minio "$S3FLOW_TEST_MINIO_ENDPOINT/minio/health/ready" "$MINIO_PID" "$dir/minio.log"
}

stop_minio() {
	if [ -n "${MINIO_PID:-}" ]; then
		stop_process "$MINIO_PID"
		MINIO_PID=
	fi
}

# build_s3flow DIR PKG... builds s3flow's programs into DIR the way
# README.md installs them: pure Go (CGO_ENABLED=0), one static file. A cgo
# build maps libc and the dynamic loader into every process: 1.5-2 MiB
# more RSS for every command (docs/benchmarks.md, "One static file").
# The files are then copied into DIR, as a package or an archive installs
# a program: the linker writes its output through mmap, and until those
# pages leave the page cache the program maps about 2 MiB more of itself
# than the same file written by cp (or read back from disk).
build_s3flow() {
	local out=$1 tmp
	shift
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/s3flow-build.XXXXXX")
	CGO_ENABLED=0 go build -o "$tmp/" "$@" && cp "$tmp"/* "$out/"
	local rc=$?
	rm -rf "$tmp"
	return $rc
}
