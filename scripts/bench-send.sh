#!/usr/bin/env bash
# smtp send against swaks: the same message through the same local
# submission server (mailprobe capture: STARTTLS, AUTH PLAIN), mean wall
# time of N runs each, and the in-process floor (a bare go-smtp client
# doing the same transaction, BenchmarkSend_* in pkg/smtpprobe).
#   scripts/bench-send.sh [path/to/mailprobe]
set -euo pipefail
BIN=${1:-bin/mailprobe}
N=${N:-20}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib-bench.sh"
start_capture

mp=$(time_n "$BIN" smtp send 127.0.0.1:"$SP" --role submission --tls starttls --user bench --password-env BENCH_PW \
  --ca-file "$tmp/ca.pem" --servername localhost --no-ptr --from a@bench.test --to b@bench.test --body "bench")
echo "mailprobe smtp send ${mp} ms"
if command -v swaks >/dev/null; then
  sw=$(time_n swaks --server 127.0.0.1:"$SP" --tls --tls-verify --tls-ca-path "$tmp/ca.pem" --tls-sni localhost \
    --auth PLAIN --auth-user bench --auth-password "$BENCH_PW" --from a@bench.test --to b@bench.test --body "bench")
  echo "swaks (same message)  ${sw} ms   (mailprobe takes $(awk -v a="$mp" -v b="$sw" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }')x swaks' time; the goal is at most 0.3x)"
else
  echo "swaks not installed: apt-get install swaks"
fi
go test -run '^$' -bench '^BenchmarkSend_' -benchtime 2s ./pkg/smtpprobe 2>/dev/null | awk '
  /^BenchmarkSend_mailprobe/ { mp = $3 } /^BenchmarkSend_goSMTP/ { gs = $3 }
  END { if (mp && gs) printf "in process: mailprobe %.0f µs, bare go-smtp %.0f µs per send (%.2fx; the goal is at most 1.2x)\n", mp/1000, gs/1000, mp/gs }'
