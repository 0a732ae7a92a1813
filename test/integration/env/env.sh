#!/usr/bin/env bash
# Real-server integration environment for mailprobe: Postfix, Dovecot and NSD
# on 127.0.0.1, each with its own config, state and logs under a run
# directory, on ports chosen at run time. See README.md next to this file.
#
#   env.sh install          install the servers (root), or say what is missing
#   env.sh start DIR        render configs into DIR, start, write DIR/env
#   env.sh stop DIR         stop exactly the daemons started for DIR
#   env.sh run -- CMD...    install, start in a temp dir, run CMD, stop
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
TEMPLATES="$HERE/templates"

# libnet-ssleay-perl: swaks only Recommends it, and without it swaks has no TLS.
# libauthen-sasl-perl, libdigest-hmac-perl: swaks's CRAM-MD5 and DIGEST-MD5 (its
# --support says DIGEST-MD5 is there without Digest::HMAC, then it fails).
# libxml2-utils: xmllint validates JUnit output against the Ant and Jenkins xunit XSDs.
# dovecot-managesieved: ManageSieve (RFC 5804) for mailprobe audit.
# chromium: the capture web view driven headless (chromedp).
PACKAGES=(postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved nsd openssl swaks libnet-ssleay-perl libauthen-sasl-perl libdigest-hmac-perl sslscan testssl.sh prometheus libxml2-utils chromium)

SERVERNAME="mail.test.local"
DOMAIN="test.local"
DKIM_SELECTOR="mp2026"
SERIAL="2026112401"
DEFAULT_PASS1="alice-Pass-2026"
DEFAULT_PASS2="bob-Pass-2026"
START_TIMEOUT="${MP_IT_START_TIMEOUT:-20}"

log() { printf 'env.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
	cat >&2 <<'EOF'
usage: env.sh install
       env.sh start DIR
       env.sh stop DIR
       env.sh run -- CMD [ARG...]
EOF
	exit 2
}

# ---------------------------------------------------------------- install

missing_packages() {
	# One dpkg-query for all (unknown packages are just not listed).
	local installed
	installed=" $({ dpkg-query -W -f='${db:Status-Abbrev}|${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true; } |
		awk -F'|' '$1 ~ /^ii/ { printf "%s ", $2 }') "
	local p
	for p in "${PACKAGES[@]}"; do
		[[ "$installed" == *" $p "* ]] || printf '%s\n' "$p"
	done
}

POLICY_RC="/usr/sbin/policy-rc.d"
POLICY_BACKUP=""

restore_policy_rc() {
	if [[ -n "$POLICY_BACKUP" && -e "$POLICY_BACKUP" ]]; then
		mv -f "$POLICY_BACKUP" "$POLICY_RC"
	else
		rm -f "$POLICY_RC"
	fi
}

cmd_install() {
	local missing=()
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} == 0)); then
		log "all packages already installed"
		return 0
	fi
	if ((EUID != 0)); then
		die "not root and missing packages; install them with: apt-get install ${missing[*]}"
	fi
	log "installing: ${missing[*]}"
	if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	fi
	# Keep the maintainer scripts from starting system-wide daemons; put back
	# whatever policy-rc.d was there before (Docker images ship one). In a
	# subshell so that its EXIT trap does not replace the caller's.
	(
		if [[ -e "$POLICY_RC" ]]; then
			POLICY_BACKUP="$(mktemp "$POLICY_RC.mp-it.XXXXXX")"
			cp -p "$POLICY_RC" "$POLICY_BACKUP"
		fi
		trap restore_policy_rc EXIT
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
		export DEBIAN_FRONTEND=noninteractive
		# Wait for another apt/dpkg run (another job on the machine) instead
		# of failing on its lock.
		local lock=(-o DPkg::Lock::Timeout=300)
		apt-get "${lock[@]}" update -qq
		apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	) || die "apt-get failed"
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
	log "installed"
}

# ---------------------------------------------------------------- helpers

# render TEMPLATE OUT KEY=VALUE...: replace @KEY@ with VALUE.
render() {
	local tpl="$1" out="$2" kv k v
	shift 2
	local args=()
	for kv in "$@"; do
		k="${kv%%=*}"
		v="${kv#*=}"
		v="${v//\\/\\\\}"
		v="${v//|/\\|}"
		v="${v//&/\\&}"
		args+=(-e "s|@${k}@|${v}|g")
	done
	sed "${args[@]}" "$tpl" >"$out"
	if grep -q '@[A-Z0-9_]*@' "$out"; then
		die "unrendered placeholder in $out: $(grep -o '@[A-Z0-9_]*@' "$out" | head -1)"
	fi
}

# used_ports: every local TCP/UDP port in use, any state, one per line.
used_ports() {
	if command -v ss >/dev/null 2>&1; then
		ss -Htuan | awk '{ n = split($5, a, ":"); print a[n] }'
	else
		local f
		for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
			[[ -r "$f" ]] || continue
			awk 'NR > 1 { split($2, a, ":"); print a[2] }' "$f"
		done | while read -r hex; do printf '%d\n' "0x$hex"; done
	fi
}

# pick_ports N: N distinct free ports, below the ephemeral range so that
# outgoing connections cannot grab them between the pick and the bind.
pick_ports() {
	local n="$1" lo=10000 hi=32767 eph_lo eph_hi
	if read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
		if ((eph_lo > 12000)); then
			hi=$((eph_lo - 1))
		elif ((eph_hi < 63000)); then
			lo=$((eph_hi + 1))
			hi=65535
		fi
	fi
	local used
	used=" $(used_ports | sort -un | tr '\n' ' ') "
	local picked=() p tries=0
	while ((${#picked[@]} < n)); do
		((++tries < 10000)) || die "could not find $n free ports"
		p=$(((RANDOM * 32768 + RANDOM) % (hi - lo + 1) + lo))
		[[ "$used" == *" $p "* ]] && continue
		used+="$p "
		picked+=("$p")
	done
	printf '%s\n' "${picked[@]}"
}

# probe_tcp PORT: does something accept connections on 127.0.0.1:PORT?
probe_tcp() {
	if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
		exec 3>&-
		return 0
	fi
	return 1
} 2>/dev/null

# read_pid FILE: the first word of FILE (pid files are padded with spaces).
# Builtins only: these helpers run in loops over /proc, where a fork per
# process costs about a second.
read_pid() {
	local pid=""
	[[ -r "$1" ]] && read -r pid _ <"$1" 2>/dev/null
	printf '%s' "$pid"
}

# running PID: the process exists and is not a zombie (daemons are
# reparented to PID 1, which does not always reap them in containers).
running() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat="${stat##*) }"
	[[ "${stat:0:1}" != Z ]]
}

abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

tail_logs() {
	local dir="$1" f
	for f in "$dir/postfix/maillog" "$dir/postfix/start.log" "$dir/dovecot/dovecot.log" \
		"$dir/dovecot/start.log" "$dir/nsd/nsd.log" "$dir/nsd/start.log"; do
		if [[ -s "$f" ]]; then
			printf '==> %s <==\n' "$f" >&2
			tail -n 20 "$f" >&2
		fi
	done
}

# ---------------------------------------------------------------- start

# postfix_quick_start_prep DIR: create Postfix's queue directories the way
# "post-install create-missing" would (from the postfix-files manifest of
# the installed Postfix) and drop a "quick-start" marker so that "postfix
# start" skips its integrity checks: those take about 3 s and cannot find
# anything wrong with a queue created a moment ago. Without the manifest,
# nothing is created and "postfix start" runs its checks as usual.
postfix_quick_start_prep() {
	local dir="$1" queue="$1/postfix-queue" files line path owner group mode
	files="$(postconf -dh meta_directory 2>/dev/null || echo /etc/postfix)/postfix-files"
	[[ -r "$files" ]] || return 0
	local mail_owner setgid_group
	mail_owner="$(postconf -c "$dir/postfix" -h mail_owner)"
	setgid_group="$(postconf -c "$dir/postfix" -h setgid_group)"
	while IFS=: read -r path _ owner group mode _; do
		path="${path#\$queue_directory}"
		owner="${owner/\$mail_owner/$mail_owner}"
		group="${group/\$setgid_group/$setgid_group}"
		[[ "$group" == - ]] && group=0
		mkdir -p "$queue$path"
		chown "$owner:$group" "$queue$path"
		chmod "$mode" "$queue$path"
	done < <(grep -E '^\$queue_directory(/[a-z]+)?:d:' "$files")
	[[ -d "$queue/public" && -d "$queue/private" && -d "$queue/pid" ]] || return 0
	: >"$queue/quick-start"
}

gen_keys() {
	local dir="$1"
	umask 077
	mkdir -p "$dir/dkim"
	# The three RSA keys in parallel: they dominate start-up time.
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/ca.key" 2>/dev/null &
	local p1=$!
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/server.key" 2>/dev/null &
	local p2=$!
	# DKIM key as PKCS#1 ("BEGIN RSA PRIVATE KEY"), like opendkim and
	# most DKIM tooling write it.
	openssl genrsa -traditional -out "$dir/dkim/$DKIM_SELECTOR.key" 2048 2>/dev/null &
	local p3=$!
	# A 1024-bit DH group for the weakened TLS listener (DSA-style
	# parameters: generated in a second instead of a minute).
	openssl dhparam -dsaparam -out "$dir/dh1024.pem" 1024 2>/dev/null &
	local p4=$!
	{ wait "$p1" && wait "$p2" && wait "$p3" && wait "$p4"; } || die "openssl key generation failed"
	umask 022
	local cnf="$dir/openssl.cnf"
	render "$TEMPLATES/openssl.cnf" "$cnf" "SERVERNAME=$SERVERNAME"
	openssl req -new -x509 -config "$cnf" -key "$dir/ca.key" -sha256 -days 30 \
		-subj "/CN=mailprobe integration test CA" -extensions ca_ext \
		-set_serial "0x$(openssl rand -hex 8)" -out "$dir/ca.pem"
	openssl req -new -config "$cnf" -key "$dir/server.key" -subj "/CN=$SERVERNAME" -out "$dir/server.csr"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -sha256 -days 30 \
		-set_serial "0x$(openssl rand -hex 8)" -extfile "$cnf" -extensions server_ext \
		-out "$dir/server.pem" 2>/dev/null
	rm -f "$dir/server.csr"
	openssl rsa -in "$dir/dkim/$DKIM_SELECTOR.key" -pubout -out "$dir/dkim/$DKIM_SELECTOR.pub.pem" 2>/dev/null
	chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/dkim/$DKIM_SELECTOR.pub.pem"
}

# dkim_txt: the DKIM TXT rdata as quoted strings of at most 255 bytes.
dkim_txt() {
	local pub rec out="" i
	pub="$(openssl rsa -pubin -in "$1" -outform DER 2>/dev/null | base64 -w0)"
	rec="v=DKIM1; k=rsa; p=$pub"
	for ((i = 0; i < ${#rec}; i += 255)); do
		out+="\"${rec:i:255}\" "
	done
	printf '%s' "${out% }"
}

spki_sha256() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

check_pass() {
	[[ -n "$1" && "$1" != *[[:space:]:]* ]] || die "test passwords must be non-empty without ':' or spaces"
}

cmd_start() {
	[[ $# -eq 1 ]] || usage
	((EUID == 0)) || die "start needs root (Postfix and Dovecot start as root and drop privileges)"
	local missing=()
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) || die "missing packages: ${missing[*]} (run: env.sh install)"
	local dir
	dir="$(abs_dir "$1")"
	# Dovecot's unix sockets live under DIR/dovecot/run and sun_path is 108 bytes.
	((${#dir} <= 64)) || die "DIR path too long for unix sockets (${#dir} > 64 bytes): $dir"
	if [[ -n "$(master_pids "$dir")" ]]; then
		die "daemons already running for $dir; stop them first"
	fi

	local user1="alice@$DOMAIN" user2="bob@$DOMAIN"
	local pass1="${MP_IT_PASS1:-$DEFAULT_PASS1}" pass2="${MP_IT_PASS2:-$DEFAULT_PASS2}"
	check_pass "$pass1"
	check_pass "$pass2"

	# Postfix processes (as postfix) and Dovecot's delivery (as mail) must be
	# able to traverse DIR to reach sockets and mailboxes.
	chmod 711 "$dir"
	mkdir -p "$dir/postfix" "$dir/postfix-queue" "$dir/postfix-data" "$dir/dovecot/run" "$dir/dovecot/state" \
		"$dir/nsd/xfr" "$dir/mail/$DOMAIN"
	chown postfix:postfix "$dir/postfix-data"
	chmod 700 "$dir/postfix-data"
	chown -R mail:mail "$dir/mail"
	chmod 700 "$dir/mail"

	gen_keys "$dir"

	local ports=()
	mapfile -t ports < <(pick_ports 13)
	((${#ports[@]} == 13)) || die "could not pick free ports"
	local smtp_port="${ports[0]}" submission_port="${ports[1]}" submissions_port="${ports[2]}"
	local imap_port="${ports[3]}" imaps_port="${ports[4]}" pop3_port="${ports[5]}"
	local pop3s_port="${ports[6]}" dns_port="${ports[7]}"
	local openrelay_port="${ports[8]}" strict_port="${ports[9]}" sieve_port="${ports[10]}" proxy_port="${ports[11]}" weaktls_port="${ports[12]}"

	local ssl_dh_line="# no ssl_dh file found"
	if [[ -r /usr/share/dovecot/dh.pem ]]; then
		ssl_dh_line="ssl_dh = </usr/share/dovecot/dh.pem"
	fi
	local runid dkim_txt_rdata tlsa auth_penalty_mode=0
	# See templates/dovecot.conf: Dovecot's default is 0600 (on).
	[[ "${MP_IT_AUTH_PENALTY:-}" == 1 ]] && auth_penalty_mode=0600
	runid="$(openssl rand -hex 4)"
	dkim_txt_rdata="$(dkim_txt "$dir/dkim/$DKIM_SELECTOR.pub.pem")"
	tlsa="$(spki_sha256 "$dir/server.pem")"
	[[ ${#tlsa} -eq 64 && ${#dkim_txt_rdata} -gt 300 ]] || die "could not derive TLSA/DKIM records"
	local vars=(
		"DIR=$dir" "DOVECOT_RUN=$dir/dovecot/run" "SERVERNAME=$SERVERNAME" "DOMAIN=$DOMAIN"
		"SMTP_PORT=$smtp_port" "SUBMISSION_PORT=$submission_port" "SUBMISSIONS_PORT=$submissions_port"
		"IMAP_PORT=$imap_port" "IMAPS_PORT=$imaps_port" "POP3_PORT=$pop3_port" "POP3S_PORT=$pop3s_port"
		"DNS_PORT=$dns_port" "OPENRELAY_PORT=$openrelay_port" "STRICT_PORT=$strict_port" "SIEVE_PORT=$sieve_port" "PROXY_PORT=$proxy_port" "WEAKTLS_PORT=$weaktls_port" "USER1=$user1" "USER2=$user2" "USER1_LOCAL=${user1%@*}" "USER2_LOCAL=${user2%@*}"
		"SSL_DH_LINE=$ssl_dh_line" "RUNID=$runid" "SERIAL=$SERIAL" "DKIM_SELECTOR=$DKIM_SELECTOR"
		"DKIM_TXT=$dkim_txt_rdata" "TLSA=$tlsa" "AUTH_PENALTY_MODE=$auth_penalty_mode"
	)
	render "$TEMPLATES/main.cf" "$dir/postfix/main.cf" "${vars[@]}"
	render "$TEMPLATES/master.cf" "$dir/postfix/master.cf" "${vars[@]}"
	render "$TEMPLATES/vmailbox" "$dir/postfix/vmailbox" "${vars[@]}"
	render "$TEMPLATES/dovecot.conf" "$dir/dovecot/dovecot.conf" "${vars[@]}"
	render "$TEMPLATES/nsd.conf" "$dir/nsd/nsd.conf" "${vars[@]}"
	render "$TEMPLATES/zone.domain" "$dir/nsd/$DOMAIN.zone" "${vars[@]}"
	render "$TEMPLATES/zone.reverse" "$dir/nsd/127.in-addr.arpa.zone" "${vars[@]}"
	# Postfix re-reads a configuration or table file until its mtime is
	# more than a second old (it might still be being written), 300 ms at a
	# time: backdating them saves each Postfix command a second or two.
	touch -d '1 minute ago' "$dir/postfix/main.cf" "$dir/postfix/master.cf" "$dir/postfix/vmailbox"
	(
		umask 077
		# test@DOMAIN has a default-looking password, for mailprobe audit
		# --default-credentials (no other test logs in as it).
		printf '%s:{PLAIN}%s::::::\n' "$user1" "$pass1" "$user2" "$pass2" "test@$DOMAIN" 123456 >"$dir/dovecot/users"
	)
	chown root:dovecot "$dir/dovecot/users" 2>/dev/null || true
	chmod 640 "$dir/dovecot/users"

	# Cheap static checks first: a bad zone would otherwise just go unserved.
	nsd-checkconf "$dir/nsd/nsd.conf" || die "nsd-checkconf failed"
	nsd-checkzone "$DOMAIN" "$dir/nsd/$DOMAIN.zone" >/dev/null || die "nsd-checkzone $DOMAIN failed"
	nsd-checkzone 127.in-addr.arpa "$dir/nsd/127.in-addr.arpa.zone" >/dev/null || die "nsd-checkzone 127.in-addr.arpa failed"

	# From here on, any failure or signal stops what was started (on_exit).
	STOP_DIR="$dir"
	# Start the three in parallel; each daemonizes and writes its pid file.
	postfix_quick_start_prep "$dir"
	postfix -c "$dir/postfix" start >"$dir/postfix/start.log" 2>&1 &
	local ppf=$!
	dovecot -c "$dir/dovecot/dovecot.conf" >"$dir/dovecot/start.log" 2>&1 &
	local pdv=$!
	nsd -c "$dir/nsd/nsd.conf" >"$dir/nsd/start.log" 2>&1 &
	local pns=$!
	local failed=""
	wait "$ppf" || failed+=" postfix"
	wait "$pdv" || failed+=" dovecot"
	wait "$pns" || failed+=" nsd"
	if [[ -n "$failed" ]]; then
		log "failed to start:$failed"
		tail_logs "$dir"
		exit 1
	fi

	local tcp_ports=("$smtp_port" "$submission_port" "$submissions_port" "$imap_port" "$imaps_port"
		"$pop3_port" "$pop3s_port" "$dns_port" "$openrelay_port" "$strict_port" "$sieve_port" "$proxy_port" "$weaktls_port")
	local deadline=$((SECONDS + START_TIMEOUT)) p pending
	while :; do
		pending=()
		for p in "${tcp_ports[@]}"; do
			probe_tcp "$p" || pending+=("$p")
		done
		((${#pending[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			log "ports not answering after ${START_TIMEOUT}s: ${pending[*]}"
			tail_logs "$dir"
			exit 1
		fi
		tcp_ports=("${pending[@]}")
		sleep 0.05
	done

	local pf_pid dv_pid ns_pid
	pf_pid="$(read_pid "$dir/postfix-queue/pid/master.pid")"
	dv_pid="$(read_pid "$dir/dovecot/run/master.pid")"
	ns_pid="$(read_pid "$dir/nsd/nsd.pid")"
	{
		printf '# mailprobe integration environment, written by env.sh start\n'
		local kv v
		for kv in \
			"MP_IT_DIR=$dir" \
			"MP_IT_CA=$dir/ca.pem" \
			"MP_IT_SERVERNAME=$SERVERNAME" \
			"MP_IT_DOMAIN=$DOMAIN" \
			"MP_IT_HOST=127.0.0.1" \
			"MP_IT_CLIENT_ADDR=127.0.0.2" \
			"MP_IT_SMTP_PORT=$smtp_port" \
			"MP_IT_SUBMISSION_PORT=$submission_port" \
			"MP_IT_SUBMISSIONS_PORT=$submissions_port" \
			"MP_IT_IMAP_PORT=$imap_port" \
			"MP_IT_IMAPS_PORT=$imaps_port" \
			"MP_IT_POP3_PORT=$pop3_port" \
			"MP_IT_POP3S_PORT=$pop3s_port" \
			"MP_IT_DNS=127.0.0.1:$dns_port" \
			"MP_IT_OPENRELAY_PORT=$openrelay_port" \
			"MP_IT_STRICT_PORT=$strict_port" \
			"MP_IT_SIEVE_PORT=$sieve_port" \
			"MP_IT_PROXY_PORT=$proxy_port" \
			"MP_IT_WEAKTLS_PORT=$weaktls_port" \
			"MP_IT_USER1=$user1" \
			"MP_IT_PASS1=$pass1" \
			"MP_IT_USER2=$user2" \
			"MP_IT_PASS2=$pass2" \
			"MP_IT_MAILDIR1=$dir/mail/$DOMAIN/${user1%@*}/Maildir" \
			"MP_IT_MAILDIR2=$dir/mail/$DOMAIN/${user2%@*}/Maildir" \
			"MP_IT_DKIM_SELECTOR=$DKIM_SELECTOR" \
			"MP_IT_DKIM_KEY=$dir/dkim/$DKIM_SELECTOR.key" \
			"MP_IT_DKIM_PUB=$dir/dkim/$DKIM_SELECTOR.pub.pem" \
			"MP_IT_SERVER_CERT=$dir/server.pem" \
			"MP_IT_TLSA=3 1 1 $tlsa" \
			"MP_IT_POSTFIX_CONFIG=$dir/postfix" \
			"MP_IT_POSTFIX_PID=$pf_pid" \
			"MP_IT_POSTFIX_LOG=$dir/postfix/maillog" \
			"MP_IT_DOVECOT_CONFIG=$dir/dovecot/dovecot.conf" \
			"MP_IT_DOVECOT_PID=$dv_pid" \
			"MP_IT_DOVECOT_LOG=$dir/dovecot/dovecot.log" \
			"MP_IT_NSD_CONFIG=$dir/nsd/nsd.conf" \
			"MP_IT_NSD_PID=$ns_pid" \
			"MP_IT_NSD_LOG=$dir/nsd/nsd.log" \
			"MP_IT_AUTH_PENALTY=$([[ $auth_penalty_mode == 0 ]] && echo 0 || echo 1)"; do
			v="${kv#*=}"
			printf "export %s='%s'\n" "${kv%%=*}" "${v//\'/\'\\\'\'}"
		done
	} >"$dir/env.tmp"
	chmod 600 "$dir/env.tmp"
	mv "$dir/env.tmp" "$dir/env"
	# Standalone "start" leaves them running; "run" stops them on exit.
	[[ -n "$RUN_MODE" ]] || STOP_DIR=""
	log "started in $dir (smtp $smtp_port, submission $submission_port, submissions $submissions_port," \
		"imap $imap_port, imaps $imaps_port, pop3 $pop3_port, pop3s $pop3s_port, dns $dns_port," \
		"open relay $openrelay_port, strict $strict_port, sieve $sieve_port, proxy $proxy_port, weak TLS $weaktls_port)"
}

# ---------------------------------------------------------------- stop

# session_pids SID...: live (non-zombie) processes in the given sessions.
# Each daemon's master is a session leader (it daemonized with setsid), so
# its session is exactly the master and every process it forked.
session_pids() {
	local f stat st sid s
	for f in /proc/[0-9]*/stat; do
		{ stat="$(<"$f")"; } 2>/dev/null || continue
		read -r st _ _ sid _ <<<"${stat##*) }"
		[[ "$st" == Z ]] && continue
		for s in "$@"; do
			if [[ "$sid" == "$s" ]]; then
				f="${f#/proc/}"
				printf '%s\n' "${f%/stat}"
			fi
		done
	done
}

# master_pids DIR: the processes of each daemon started for DIR, found by
# binary plus configuration (never by name): the pid files, and a scan of
# /proc for the same (which also catches a daemon whose pid file is not
# written yet). Fork-free: "-ef" compares the /proc links by inode.
master_pids() {
	local dir="$1" pf_master dv_bin nsd_bin f pid args=()
	pf_master="$(postconf -dh daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)/master"
	dv_bin="$(command -v dovecot || echo /nonexistent)"
	nsd_bin="$(command -v nsd || echo /nonexistent)"
	{
		read_pid "$dir/postfix-queue/pid/master.pid"; echo
		read_pid "$dir/dovecot/run/master.pid"; echo
		read_pid "$dir/nsd/nsd.pid"; echo
		for f in /proc/[0-9]*; do
			echo "${f#/proc/}"
		done
	} | while read -r pid; do
		[[ "$pid" =~ ^[0-9]+$ ]] || continue
		f="/proc/$pid"
		if [[ "$f/exe" -ef "$pf_master" ]]; then
			[[ "$f/cwd" -ef "$dir/postfix-queue" ]] || continue
		elif [[ "$f/exe" -ef "$dv_bin" || "$f/exe" -ef "$nsd_bin" ]]; then
			{ mapfile -d '' -t args <"$f/cmdline"; } 2>/dev/null || continue
			case " ${args[*]} " in
			*" $dir/dovecot/dovecot.conf "* | *" $dir/nsd/nsd.conf "*) ;;
			*) continue ;;
			esac
		else
			continue
		fi
		running "$pid" && echo "$pid"
	done | sort -un
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	[[ -d "$1" ]] || return 0
	local dir masters=() sids=() pid stat sid left=() i
	dir="$(cd "$1" && pwd -P)"
	mapfile -t masters < <(master_pids "$dir")
	((${#masters[@]} > 0)) || return 0
	for pid in "${masters[@]}"; do
		{ stat="$(<"/proc/$pid/stat")"; } 2>/dev/null || continue
		read -r _ _ _ sid _ <<<"${stat##*) }"
		[[ "$sid" == "$pid" ]] && sids+=("$pid")
	done
	# All three at once: "postfix stop" and "dovecot stop" do the same kill
	# but then poll in 1 s steps; Dovecot's master alone needs about 1 s.
	kill -TERM "${masters[@]}" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		left=()
		for pid in "${masters[@]}"; do
			running "$pid" && left+=("$pid")
		done
		if ((${#left[@]} == 0)) && { ((${#sids[@]} == 0)) || [[ -z "$(session_pids "${sids[@]}")" ]]; }; then
			return 0
		fi
		sleep 0.05
	done
	# Still there after 10 s: kill what is left of those sessions.
	mapfile -t left < <({ printf '%s\n' "${left[@]}"; ((${#sids[@]} == 0)) || session_pids "${sids[@]}"; } | sort -u | grep .)
	log "forcing stop of: ${left[*]}"
	kill -KILL "${left[@]}" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		left=()
		for pid in "${masters[@]}"; do
			running "$pid" && left+=("$pid")
		done
		((${#left[@]} == 0)) && return 0
		sleep 0.05
	done
	log "could not stop: ${left[*]}"
	return 1
}

# ---------------------------------------------------------------- run

RUN_MODE=""
RUN_DIR=""
RUN_CHILD=""
STOP_DIR=""

on_exit() {
	local rc=$?
	trap '' INT TERM
	if [[ -n "$STOP_DIR" ]]; then
		cmd_stop "$STOP_DIR" || log "stop reported a problem"
		STOP_DIR=""
	fi
	if [[ -n "$RUN_DIR" ]]; then
		if ((rc == 0)) && [[ -z "${MP_IT_KEEP:-}" ]]; then
			rm -rf -- "$RUN_DIR"
		else
			log "run directory kept: $RUN_DIR"
		fi
	fi
	exit "$rc"
}

on_signal() {
	local sig="$1" code="$2" i
	trap '' INT TERM
	log "interrupted by SIG$sig"
	if [[ -n "$RUN_CHILD" ]] && kill -0 "$RUN_CHILD" 2>/dev/null; then
		kill -"$sig" -- "-$RUN_CHILD" 2>/dev/null || kill -"$sig" "$RUN_CHILD" 2>/dev/null || true
		for ((i = 0; i < 200; i++)); do
			kill -0 -- "-$RUN_CHILD" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL -- "-$RUN_CHILD" 2>/dev/null || true
	fi
	# Let daemon start commands still in flight finish, so that on_exit
	# finds (and stops) everything they started.
	wait 2>/dev/null || true
	exit "$code"
}

cmd_run() {
	[[ "${1:-}" == "--" ]] && shift
	[[ $# -ge 1 ]] || usage
	if ((EUID == 0)); then
		cmd_install
	else
		local missing=()
		mapfile -t missing < <(missing_packages)
		((${#missing[@]} == 0)) || die "not root and missing packages; install them with: apt-get install ${missing[*]}"
	fi
	((EUID == 0)) || die "run needs root (Postfix and Dovecot start as root and drop privileges)"
	RUN_MODE=1
	# A short path: Dovecot's unix sockets live under it (see cmd_start).
	local tmp="${TMPDIR:-/tmp}"
	((${#tmp} <= 40)) || tmp=/tmp
	RUN_DIR="$(mktemp -d "$tmp/mp-it.XXXXXX")"
	cmd_start "$RUN_DIR"
	set -a
	# shellcheck disable=SC1091
	. "$RUN_DIR/env"
	set +a
	# In the background so that a signal to this script is handled at once
	# instead of after CMD returns; with job control on for the fork, CMD
	# gets its own process group (which on_signal signals as a whole, e.g.
	# go plus its test binary) and does not start with SIGINT ignored.
	set -m
	"$@" <&0 &
	RUN_CHILD=$!
	set +m
	local rc=0
	wait "$RUN_CHILD" || rc=$?
	RUN_CHILD=""
	exit "$rc"
}

# ---------------------------------------------------------------- main

case "${1:-}" in
install) shift; [[ $# -eq 0 ]] || usage; cmd_install ;;
start | run)
	trap on_exit EXIT
	trap 'on_signal INT 130' INT
	trap 'on_signal TERM 143' TERM
	if [[ "$1" == start ]]; then
		shift
		cmd_start "$@"
	else
		shift
		cmd_run "$@"
	fi
	;;
stop) shift; cmd_stop "$@" ;;
*) usage ;;
esac
