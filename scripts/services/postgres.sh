# PostgreSQL for the tests: TEST_DATABASE_URL.
#
# Uses the server at 127.0.0.1:5432 when one answers (CI has one with trust
# auth and a database "test"); otherwise installs Debian's postgresql and
# starts a throwaway cluster on a high port owned by the test run.

start_postgres() {
	if [ -n "${TEST_DATABASE_URL:-}" ]; then
		log "PostgreSQL: using TEST_DATABASE_URL from the environment"
		return
	fi
	if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
		export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		log "PostgreSQL: using the server at 127.0.0.1:5432"
		return
	fi
	apt_install postgresql
	local bin port=55432 data="$SIMPLEDRIVE_TEST_DIR/pg"
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	mkdir -p "$data"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$data"
		runuser -u postgres -- "$bin/initdb" -A trust -U postgres -D "$data" >/dev/null
		runuser -u postgres -- "$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1" -l "$data/log" -w start >/dev/null
		on_exit "runuser -u postgres -- '$bin/pg_ctl' -D '$data' -m immediate stop >/dev/null"
	else
		"$bin/initdb" -A trust -U postgres -D "$data" >/dev/null
		"$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1" -l "$data/log" -w start >/dev/null
		on_exit "'$bin/pg_ctl' -D '$data' -m immediate stop >/dev/null"
	fi
	"$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
	export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
	log "PostgreSQL: started a throwaway cluster on port $port"
}
