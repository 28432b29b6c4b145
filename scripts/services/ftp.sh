# vsftpd for the tests: TEST_FTP_ADDR, TEST_FTP_USER, TEST_FTP_PASSWORD,
# TEST_FTP_TLS_ADDR and TEST_FTP_TLS_CA.
#
# Installs Debian's vsftpd, makes (once) a system user without a login shell
# with a random password kept in $SIMPLEDRIVE_CACHE (so that test runs side
# by side do not change it under each other), then starts two vsftpd
# instances on loopback, each in the foreground of a background job whose PID
# is stopped on exit:
#   - plain FTP on a free port, passive ports in a random block of 100;
#   - explicit TLS (AUTH TLS) on another, with passive ports in the next
#     block and a self-signed certificate for 127.0.0.1 (TEST_FTP_TLS_CA).
# The passive ranges lie in 12000-19999: below Linux's ephemeral ports
# (32768 and up), so outgoing connections never hold them, and below the
# ports free_port (s3.sh) picks from (20000-31999). Both instances chroot
# the user into a directory under $SIMPLEDRIVE_TEST_DIR (their local_root,
# not the user's home, which another run side by side may point elsewhere),
# so everything the tests write disappears with it. Needs root.

ftp_user=simpledrive-ftp
ftp_pam_service=simpledrive-ftp

start_ftp() {
	if [ "$(id -u)" -ne 0 ]; then
		log "FTP: need root to install vsftpd and create the user $ftp_user"
		return 1
	fi
	ftp_install_vsftpd || return 1
	apt_install openssl
	local dir="$SIMPLEDRIVE_TEST_DIR/ftp"
	mkdir -p "$dir/empty" "$dir/files"
	ftp_make_user "$dir/files"
	chmod 755 "$dir" "$dir/empty"
	# The chrooted user must reach its directory through the test dir.
	chmod 711 "$SIMPLEDRIVE_TEST_DIR"
	chown "$ftp_user:" "$dir/files"
	ftp_make_cert "$dir"

	local plain tls pasv=$((12000 + RANDOM % 39 * 200))
	plain=$(free_port) && tls=$(free_port) || return 1
	ftp_write_conf "$dir" plain "$plain" "$pasv" $((pasv + 99)) >"$dir/plain.conf"
	ftp_write_conf "$dir" tls "$tls" $((pasv + 100)) $((pasv + 199)) >"$dir/tls.conf"
	cat >>"$dir/tls.conf" <<-EOF
		ssl_enable=YES
		rsa_cert_file=$dir/cert.pem
		rsa_private_key_file=$dir/key.pem
		force_local_logins_ssl=YES
		force_local_data_ssl=YES
		ssl_sslv2=NO
		ssl_sslv3=NO
		ssl_tlsv1=YES
		ssl_ciphers=HIGH
		require_ssl_reuse=YES
	EOF
	ftp_run "$dir/plain.conf" "$plain" || return 1
	ftp_run "$dir/tls.conf" "$tls" || return 1

	export TEST_FTP_ADDR=127.0.0.1:$plain
	export TEST_FTP_TLS_ADDR=127.0.0.1:$tls
	export TEST_FTP_TLS_CA="$dir/cert.pem"
	export TEST_FTP_USER=$ftp_user
	log "FTP: vsftpd on $TEST_FTP_ADDR and, with explicit TLS, on $TEST_FTP_TLS_ADDR"
}

# ftp_vsftpd_bin prints the path of the vsftpd binary, if there is one.
ftp_vsftpd_bin() {
	command -v vsftpd 2>/dev/null && return 0
	[ -x /usr/sbin/vsftpd ] && echo /usr/sbin/vsftpd
}

# ftp_install_vsftpd installs Debian's vsftpd unless its binary exists.
# dpkg's status is not enough: a package removed but not purged (as when
# another FTP server replaced it) is "deinstall ok config-files", with
# no binary, and one whose binary was deleted still says "installed". So
# it installs, or reinstalls, restoring missing configuration files too.
ftp_install_vsftpd() {
	[ -n "$(ftp_vsftpd_bin)" ] && return 0
	log "FTP: no vsftpd binary; installing vsftpd"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --reinstall \
		-o Dpkg::Options::=--force-confmiss vsftpd >/dev/null
	if [ -z "$(ftp_vsftpd_bin)" ]; then
		log "FTP: vsftpd installed, yet neither vsftpd on PATH nor /usr/sbin/vsftpd exists"
		return 1
	fi
}

# ftp_make_user HOME creates the system user once, points its home at HOME
# (vsftpd changes into it at login) and sets its password, random and made
# once per cache, exported as TEST_FTP_PASSWORD. Its PAM service checks only
# the password, so the user needs no login shell.
ftp_make_user() {
	if ! id "$ftp_user" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir "$1" --shell /usr/sbin/nologin "$ftp_user"
	else
		usermod --home "$1" "$ftp_user"
	fi
	local secret="$SIMPLEDRIVE_CACHE/ftp-password"
	[ -s "$secret" ] || (umask 077 && openssl rand -hex 16 >"$secret")
	TEST_FTP_PASSWORD=$(cat "$secret")
	export TEST_FTP_PASSWORD
	printf '%s:%s\n' "$ftp_user" "$TEST_FTP_PASSWORD" | chpasswd
	cat >"/etc/pam.d/$ftp_pam_service" <<-EOF
		# Written by Simple Drive's scripts/services/ftp.sh for its test vsftpd.
		auth    required pam_unix.so nodelay
		account required pam_unix.so
		session required pam_permit.so
	EOF
}

# ftp_make_cert DIR writes a self-signed certificate for 127.0.0.1.
ftp_make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
	chmod 600 "$1/key.pem"
}

# ftp_write_conf DIR NAME PORT PASV_MIN PASV_MAX prints a vsftpd config.
ftp_write_conf() {
	cat <<-EOF
		listen=YES
		listen_ipv6=NO
		listen_address=127.0.0.1
		listen_port=$3
		background=NO
		seccomp_sandbox=NO
		anonymous_enable=NO
		local_enable=YES
		write_enable=YES
		local_umask=022
		local_root=$1/files
		chroot_local_user=YES
		allow_writeable_chroot=YES
		secure_chroot_dir=$1/empty
		pam_service_name=$ftp_pam_service
		userlist_enable=NO
		pasv_enable=YES
		pasv_min_port=$4
		pasv_max_port=$5
		max_per_ip=0
		max_clients=0
		xferlog_enable=NO
		vsftpd_log_file=$1/$2.log
		dual_log_enable=NO
		delay_failed_login=0
	EOF
}

# ftp_run CONF PORT starts vsftpd in the background and waits for its port.
ftp_run() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
		log "FTP: something already listens on 127.0.0.1:$2"
		return 1
	fi
	"$(ftp_vsftpd_bin)" "$1" >>"${1%.conf}.out" 2>&1 &
	local pid=$!
	on_exit "kill $pid"
	if ! wait_for_port 127.0.0.1 "$2" 10; then
		log "FTP: vsftpd with $1 did not start:"
		cat "${1%.conf}.out" >&2
		return 1
	fi
}
