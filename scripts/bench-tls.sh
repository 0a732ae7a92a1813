#!/usr/bin/env bash
# mailprobe tls against the integration environment's Dovecot and Postfix,
# side by side with sslscan and testssl.sh, measured in one run and printed
# as ratios:
#   - every port: `mailprobe tls` (full audit: enumeration, vulnerabilities,
#     resumption) vs sslscan, on loopback and through a 20 ms round-trip
#     proxy (scripts/delayproxy: 10 ms each way; netem is not available),
#     after one untimed run of each on loopback (warm server processes);
#   - one port (IMAPS; every port with BENCH_TESTSSL=all, none with
#     BENCH_TESTSSL=0): testssl.sh's full run, which takes minutes.
# Needs root (env.sh starts the daemons); prints a note and exits 0 otherwise.
#   scripts/bench-tls.sh [path/to/mailprobe]
set -euo pipefail
BIN=$(realpath "${1:-bin/mailprobe}")
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-tls: needs root to start Postfix and Dovecot (test/integration/env/env.sh); skipped"
  exit 0
fi
PROXY=$(mktemp -d)/delayproxy
go build -o "$PROXY" ./scripts/delayproxy
export BIN PROXY BENCH_TESTSSL="${BENCH_TESTSSL:-1}"
exec bash test/integration/env/env.sh run -- bash -c '
set -u
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" "BEGIN { if (a == 0) a = 1; printf \"%.1fx\", b / a }"; }
proxies=()
trap "kill \${proxies[*]} 2>/dev/null" EXIT
for spec in "Postfix MX:$MP_IT_SMTP_PORT:smtp:mx" "Postfix weak TLS:$MP_IT_WEAKTLS_PORT:smtp:mx" "Postfix submission:$MP_IT_SUBMISSION_PORT:smtp:submission" "IMAP STARTTLS:$MP_IT_IMAP_PORT:imap:imap" "IMAPS:$MP_IT_IMAPS_PORT:none:imap" "POP3 STLS:$MP_IT_POP3_PORT:pop3:pop3"; do
  IFS=: read -r name port proto role <<<"$spec"
  case $proto in
    none) mflags="--tls implicit --role $role" ;;
    *) mflags="--tls starttls --role $role" ;;
  esac
  sflag=""
  case $proto in imap) sflag=--starttls-imap ;; pop3) sflag=--starttls-pop3 ;; smtp) sflag=--starttls-smtp ;; esac
  common="--ca-file $MP_IT_CA --servername $MP_IT_SERVERNAME"
  # One untimed run of each first: Postfix starts an smtpd process per
  # concurrent connection and keeps it, so whichever tool came first on a
  # fresh port would pay for the processes the other then reuses.
  ms "$BIN" tls 127.0.0.1:$port $mflags $common >/dev/null
  ms sslscan --no-colour $sflag 127.0.0.1:$port >/dev/null
  mp=$(ms "$BIN" tls 127.0.0.1:$port $mflags $common)
  ss=$(ms sslscan --no-colour $sflag 127.0.0.1:$port)
  line="$name: mailprobe tls ${mp} ms, sslscan ${ss} ms ($(ratio "$mp" "$ss"))"
  # 20 ms of round-trip time through the proxy.
  rm -f /tmp/bench-proxy.$$
  "$PROXY" -target 127.0.0.1:$port > /tmp/bench-proxy.$$ & proxies+=($!)
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/bench-proxy.$$ ] && break; sleep 0.1; done
  paddr=$(cat /tmp/bench-proxy.$$)
  mpr=$(ms "$BIN" tls "$paddr" $mflags $common)
  ssr=$(ms sslscan --no-colour $sflag "$paddr")
  line="$line; 20 ms RTT: ${mpr} ms vs ${ssr} ms ($(ratio "$mpr" "$ssr"))"
  if [ "$BENCH_TESTSSL" = all ] || { [ "$BENCH_TESTSSL" = 1 ] && [ "$name" = IMAPS ]; }; then
    tflag=""
    case $proto in imap|pop3|smtp) tflag="--starttls $proto" ;; esac
    ts=$(ms testssl --quiet --color 0 --nodns none --warnings off $tflag 127.0.0.1:$port)
    line="$line; testssl.sh full run ${ts} ms ($(ratio "$mp" "$ts"))"
  fi
  echo "$line"
done
rm -f /tmp/bench-proxy.$$
'
