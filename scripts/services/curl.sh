# curl and openssl for the README's examples, which TestReadmeExamples
# runs as written: TEST_CURL, the path of curl.
#
# Installs Debian's curl (and openssl, which the examples use for digests)
# when missing.

start_curl() {
	command -v curl >/dev/null || apt_install curl ca-certificates || return 1
	command -v openssl >/dev/null || apt_install openssl || return 1
	TEST_CURL=$(command -v curl)
	export TEST_CURL
	log "curl: $("$TEST_CURL" --version | head -1 | cut -d' ' -f1-2)"
}
