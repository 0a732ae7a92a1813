#!/usr/bin/env bash
# Whole-command comparisons with peer tools, measured in one run on this
# machine and printed as ratios. Peers that are not installed are skipped
# with a note (the Go benchmarks in `make bench` always run).
#   scripts/bench.sh [path/to/mailprobe]
set -euo pipefail
BIN=${1:-bin/mailprobe}
N=${N:-20}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib-bench.sh"

# A local submission server: mailprobe capture with STARTTLS and AUTH.
start_capture

echo "== smtp check with STARTTLS + AUTH against a local server, mean of $N runs"
mp=$(time_n "$BIN" smtp check 127.0.0.1:"$SP" --role submission --user bench --password-env BENCH_PW \
  --ca-file "$tmp/ca.pem" --servername localhost)
echo "mailprobe smtp check   ${mp} ms"
if command -v swaks >/dev/null; then
  sw=$(time_n swaks --server 127.0.0.1:"$SP" --tls --tls-verify --tls-ca-path "$tmp/ca.pem" \
    --auth PLAIN --auth-user bench --auth-password "$BENCH_PW" --quit-after AUTH --tls-sni localhost)
  echo "swaks --quit-after AUTH ${sw} ms   (mailprobe is $(ratio "$mp" "$sw") faster; it also checks the certificate, banner, SIZE and AUTH before TLS)"
else
  echo "swaks not installed: apt-get install swaks"
fi

echo "== reset send --embedded (the whole flow: compose, SMTP, IMAP, analysis), mean of $N runs"
echo "mailprobe reset send --embedded $(time_n "$BIN" reset send --embedded) ms   (no peer tool does this flow)"

echo "== capture ingest (one client, STARTTLS, each message analysed and stored)"
rate=$(go test -run '^$' -bench '^BenchmarkIngest$' -benchtime 3s ./pkg/capture 2>/dev/null | awk '/msgs\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "msgs/s") print $i }')
if [ -n "$rate" ]; then
  echo "mailprobe capture ${rate} msgs/s; Mailpit publishes 200-300 msgs/s ($(awk -v r="$rate" 'BEGIN { printf "%.1fx", r / 250 }') of its midpoint; not the same machine)"
fi

for extra in scripts/bench-*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra"
  bash "$extra" "$BIN" || echo "($extra failed)"
done
