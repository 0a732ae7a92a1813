#!/usr/bin/env bash
# mailprobe tls against the integration environment's Dovecot and Postfix,
# side by side with sslscan (and testssl.sh with BENCH_TESTSSL=1: it takes
# minutes per port), measured in one run and printed as ratios.
# Needs root (env.sh starts the daemons); prints a note and exits 0 otherwise.
#   scripts/bench-tls.sh [path/to/mailprobe]
set -euo pipefail
BIN=$(realpath "${1:-bin/mailprobe}")
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-tls: needs root to start Postfix and Dovecot (test/integration/env/env.sh); skipped"
  exit 0
fi
export BIN
exec bash test/integration/env/env.sh run -- bash -c '
set -u
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" "BEGIN { if (a == 0) a = 1; printf \"%.1fx\", b / a }"; }
for spec in "IMAP STARTTLS:$MP_IT_IMAP_PORT:imap" "IMAPS:$MP_IT_IMAPS_PORT:none" "POP3 STLS:$MP_IT_POP3_PORT:pop3" "submission:$MP_IT_SUBMISSION_PORT:smtp"; do
  IFS=: read -r name port proto <<<"$spec"
  case $proto in
    none) mflags="--tls implicit" ;;
    smtp) mflags="--tls starttls --role submission" ;;
    *) mflags="--tls starttls --role $proto" ;;
  esac
  mp=$(ms "$BIN" tls 127.0.0.1:$port $mflags --ca-file "$MP_IT_CA" --servername "$MP_IT_SERVERNAME")
  line="$name: mailprobe tls ${mp} ms"
  if command -v sslscan >/dev/null; then
    sflag=""
    case $proto in imap) sflag=--starttls-imap ;; pop3) sflag=--starttls-pop3 ;; smtp) sflag=--starttls-smtp ;; esac
    ss=$(ms sslscan --no-colour $sflag 127.0.0.1:$port)
    line="$line, sslscan ${ss} ms ($(ratio "$mp" "$ss"))"
  fi
  if [ "${BENCH_TESTSSL:-0}" = 1 ] && command -v testssl >/dev/null; then
    tflag=""
    case $proto in imap|pop3|smtp) tflag="--starttls $proto" ;; esac
    ts=$(ms testssl --quiet --color 0 $tflag 127.0.0.1:$port)
    line="$line, testssl.sh ${ts} ms ($(ratio "$mp" "$ts"))"
  fi
  echo "$line"
done
'
