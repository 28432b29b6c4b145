# tus-js-client for the tus tests: TEST_TUS_CLIENT_DIR.
#
# Installs the packages of internal/httpapi/testdata/tusclient/package-lock.json
# with npm ci into $SIMPLEDRIVE_CACHE/tusclient, once per lock file, and
# points the tests at it. Node.js and npm come from Debian when missing.

start_node() {
	if [ -n "${TEST_TUS_CLIENT_DIR:-}" ]; then
		log "tus-js-client: using TEST_TUS_CLIENT_DIR from the environment"
		return
	fi
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		apt_install nodejs npm
	fi
	local src=internal/httpapi/testdata/tusclient dir="$SIMPLEDRIVE_CACHE/tusclient" sum
	sum=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
	if [ "$(cat "$dir/.lock-sum" 2>/dev/null)" != "$sum" ] || [ ! -d "$dir/node_modules/tus-js-client" ]; then
		log "installing tus-js-client into $dir"
		rm -rf "$dir"
		mkdir -p "$dir"
		cp "$src/package.json" "$src/package-lock.json" "$dir/"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
		echo "$sum" >"$dir/.lock-sum"
	fi
	export TEST_TUS_CLIENT_DIR="$dir"
}
