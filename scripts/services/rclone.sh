# rclone for the S3 interoperability tests and the sync measurement:
# TEST_RCLONE, the path of Debian's rclone binary.
#
# Installs Debian's rclone when no rclone is on PATH. The tests give it its
# whole configuration through RCLONE_CONFIG_* variables, so it never reads
# or writes a config file of the user's. Without it, tests that need it
# fail under SIMPLEDRIVE_REQUIRE_SERVICES=1.

start_rclone() {
	if [ -n "${TEST_RCLONE:-}" ] && [ -x "$TEST_RCLONE" ]; then
		log "rclone: using TEST_RCLONE from the environment"
		return
	fi
	command -v rclone >/dev/null || apt_install rclone || return 1
	TEST_RCLONE=$(command -v rclone) || {
		log "rclone: installed, yet no rclone on PATH"
		return 1
	}
	export TEST_RCLONE
	log "rclone: $("$TEST_RCLONE" version 2>/dev/null | head -1)"
}
