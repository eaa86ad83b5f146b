# Shared by scripts/test.sh and bench scripts: install and run the test
# S3 server. Source it; it defines functions only.

VERSITYGW_VERSION=v1.8.0
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

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_versitygw DIR starts a standalone versitygw (POSIX backend, data in
# DIR/data) on a free 127.0.0.1 port and waits for its health check.
start_versitygw() {
	local dir=$1 port
	mkdir -p "$dir/data"
	port=$(free_port)
	S3FLOW_TEST_ACCESS_KEY=s3flowtest
	S3FLOW_TEST_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	S3FLOW_TEST_ENDPOINT="http://127.0.0.1:$port"
	ROOT_ACCESS_KEY="$S3FLOW_TEST_ACCESS_KEY" ROOT_SECRET_KEY="$S3FLOW_TEST_SECRET_KEY" \
		"$VERSITYGW" --port "127.0.0.1:$port" --health /health --quiet posix "$dir/data" >"$dir/versitygw.log" 2>&1 &
	VERSITYGW_PID=$!
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "$S3FLOW_TEST_ENDPOINT/health" 2>/dev/null; then return 0; fi
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
