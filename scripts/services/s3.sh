# S3-compatible server for the tests: TEST_S3_ENDPOINT, TEST_S3_REGION,
# TEST_S3_BUCKET, TEST_S3_ACCESS_KEY_ID, TEST_S3_SECRET_ACCESS_KEY.
#
# Runs versitygw (it checks SigV4 signatures strictly) with its posix backend
# on a directory of the test run, on a free high loopback port, with a root
# key pair made up for this run. The binary is built once into
# $SIMPLEDRIVE_CACHE/bin, so later runs cost nothing.

VERSITYGW_VERSION=v1.8.0

# free_port prints a loopback TCP port nothing listens on, below the
# kernel's ephemeral range (32768 and up) so no outgoing connection holds it.
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	log "S3: no free port found"
	return 1
}

start_s3() {
	if [ -n "${TEST_S3_ENDPOINT:-}" ]; then
		log "S3: using TEST_S3_ENDPOINT from the environment"
		return
	fi
	install_go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
	local dir="$SIMPLEDRIVE_TEST_DIR/s3" port access secret pid
	mkdir -p "$dir/root"
	access="sdtest$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	# A port can be taken between choosing and binding it: try a few.
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		ROOT_ACCESS_KEY_ID="$access" ROOT_SECRET_ACCESS_KEY="$secret" \
			"$SIMPLEDRIVE_CACHE/bin/versitygw" --port "127.0.0.1:$port" --region us-east-1 --quiet \
			posix "$dir/root" >"$dir/log" 2>&1 &
		pid=$!
		on_exit "kill $pid 2>/dev/null"
		if wait_for_port 127.0.0.1 "$port" 30 "$pid"; then
			break
		fi
		log "S3: versitygw did not start on port $port (attempt $attempt):"
		cat "$dir/log" >&2
		((attempt < 5)) || return 1
	done
	export TEST_S3_ENDPOINT="http://127.0.0.1:$port"
	export TEST_S3_REGION=us-east-1
	export TEST_S3_BUCKET=simpledrive-test
	export TEST_S3_ACCESS_KEY_ID="$access"
	export TEST_S3_SECRET_ACCESS_KEY="$secret"
	# Create the bucket with a signed request (curl signs SigV4 itself).
	command -v curl >/dev/null || apt_install curl ca-certificates
	local status
	# The key pair goes in a config file, not on the command line, where
	# any user could read it in the process list.
	(umask 077 && printf 'user = "%s:%s"\n' "$access" "$secret" >"$dir/curl.conf")
	status=$(curl -sS -K "$dir/curl.conf" -o "$dir/create-bucket.xml" -w '%{http_code}' -X PUT \
		--aws-sigv4 "aws:amz:$TEST_S3_REGION:s3" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$TEST_S3_ENDPOINT/$TEST_S3_BUCKET")
	if [ "$status" != 200 ]; then
		log "S3: creating bucket $TEST_S3_BUCKET failed with HTTP $status"
		cat "$dir/create-bucket.xml" >&2
		return 1
	fi
	log "S3: versitygw $VERSITYGW_VERSION (pid $pid) on $TEST_S3_ENDPOINT, bucket $TEST_S3_BUCKET"
}
