# Headless Chromium for the console's browser tests: TEST_CHROMIUM.
#
# Installs Debian's chromium when /usr/bin/chromium is missing. The tests
# run it with --no-sandbox and background networking off; without it they
# fail under SIMPLEDRIVE_REQUIRE_SERVICES=1.

start_chromium() {
	if [ -n "${TEST_CHROMIUM:-}" ] && [ -x "$TEST_CHROMIUM" ]; then
		log "Chromium: using TEST_CHROMIUM from the environment"
		return
	fi
	if [ ! -x /usr/bin/chromium ]; then
		apt_install chromium
	fi
	export TEST_CHROMIUM=/usr/bin/chromium
	log "Chromium: $("$TEST_CHROMIUM" --version 2>/dev/null || echo "$TEST_CHROMIUM")"
}
