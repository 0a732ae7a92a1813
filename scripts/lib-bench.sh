# Shared by scripts/bench.sh and scripts/bench-*.sh (sourced, not run; its
# name keeps it out of bench.sh's bench-*.sh loop). Expects BIN, N and tmp.

# time_n CMD...: mean wall time of N runs in milliseconds.
time_n() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$N"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  echo $(( (end - start) / N / 1000000 ))
}

# ratio A B: how many times A is faster than B ("3.1x").
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == 0) a = 1; printf "%.1fx", b / a }'; }

# port: a free loopback port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_capture: a local submission server (mailprobe capture: STARTTLS,
# AUTH PLAIN as bench/$BENCH_PW after TLS) in the background; sets SP (its
# SMTP port) and writes its CA to $tmp/ca.pem.
start_capture() {
  SP=$(port)
  local ip
  ip=$(port)
  export BENCH_PW=bench-password
  "$BIN" capture --smtp 127.0.0.1:"$SP" --imap 127.0.0.1:"$ip" --auth bench --password-env BENCH_PW \
    --auth-needs-tls --ca-out "$tmp/ca.pem" --no-dns >/dev/null 2>&1 &
  for _ in $(seq 50); do [ -s "$tmp/ca.pem" ] && break; sleep 0.1; done
}
