#!/usr/bin/env bash
# `batch -- dns` at scale (issue 13): N synthetic domains (default 10,000)
# served by NSD on loopback with response-rate limiting off, so that the
# client is what is measured; the run at the default --parallel beside the
# same list at --parallel 1 (the baseline), each with its rate and peak
# memory (/usr/bin/time -v). Goal: >= 1,000 domains/s, <= 100 MB.
#   scripts/bench-batch.sh [path/to/mailprobe]
# BENCH_DOMAINS=N sets the list's length; BENCH_RRL=1 leaves NSD's default
# rate limiting on (to watch the pacing); BENCH_PARALLEL adds --parallel.
set -euo pipefail
BIN=$(realpath "${1:-bin/mailprobe}")
N=${BENCH_DOMAINS:-10000}
command -v nsd >/dev/null || { echo "nsd not installed: apt-get install nsd (skipping the batch benchmark)"; exit 0; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not installed: apt-get install time"; exit 0; }
tmp=$(mktemp -d /tmp/mp-bench.XXXXXX)
nsd_pid=""
cleanup() {
  if [ -n "$nsd_pid" ]; then kill "$nsd_pid" 2>/dev/null || true; wait "$nsd_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"

# The zones: N domains shaped like a small organisation's (two MX with
# addresses and reverse DNS, SPF including a shared provider, DMARC, a
# DKIM key, TLS-RPT), as BenchmarkAudit_1000Domains builds them.
awk -v n="$N" 'BEGIN {
  print "$ORIGIN bench."; print "$TTL 300"
  print "@ IN SOA ns1.bench. hostmaster.bench. 1 3600 600 86400 300"
  print "@ IN NS ns1.bench."; print "ns1 IN A 127.0.0.1"
  print "_spf.provider IN TXT \"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:100::/48 -all\""
  for (i = 0; i < n; i++) {
    d = sprintf("d%05d", i); ip = sprintf("10.%d.%d.", int(i / 250), i % 250)
    print d " IN MX 10 mx1." d ".bench."
    print d " IN MX 20 mx2." d ".bench."
    print "mx1." d " IN A " ip "1"
    print "mx2." d " IN A " ip "2"
    print d " IN TXT \"v=spf1 mx include:_spf.provider.bench -all\""
    print "_dmarc." d " IN TXT \"v=DMARC1; p=quarantine; rua=mailto:dmarc@" d ".bench\""
    print "selector1._domainkey." d " IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""
    print "_smtp._tls." d " IN TXT \"v=TLSRPTv1; rua=mailto:tls@" d ".bench\""
  }
}' >"$tmp/bench.zone"
awk -v n="$N" 'BEGIN {
  print "$ORIGIN 10.in-addr.arpa."; print "$TTL 300"
  print "@ IN SOA ns1.bench. hostmaster.bench. 1 3600 600 86400 300"
  print "@ IN NS ns1.bench."
  for (i = 0; i < n; i++) {
    d = sprintf("d%05d", i)
    printf "1.%d.%d IN PTR mx1.%s.bench.\n", i % 250, int(i / 250), d
    printf "2.%d.%d IN PTR mx2.%s.bench.\n", i % 250, int(i / 250), d
  }
}' >"$tmp/reverse.zone"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "d%05d.bench\n", i }' >"$tmp/domains.txt"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rrl="rrl-ratelimit: 0"
[ "${BENCH_RRL:-0}" = 1 ] && rrl="# rrl: NSD's defaults"
cat >"$tmp/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$port
  port: $port
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$tmp"
  pidfile: "$tmp/nsd.pid"
  logfile: "$tmp/nsd.log"
  database: ""
  zonelistfile: "$tmp/zone.list"
  xfrdfile: "$tmp/xfrd.state"
  xfrdir: "$tmp"
  server-count: 1
  $rrl
remote-control:
  control-enable: no
zone:
  name: "bench"
  zonefile: "bench.zone"
zone:
  name: "10.in-addr.arpa"
  zonefile: "reverse.zone"
CONF
nsd -d -c "$tmp/nsd.conf" >"$tmp/nsd.out" 2>&1 &
nsd_pid=$!
for _ in $(seq 100); do
  "$BIN" dns d00000.bench --resolver "127.0.0.1:$port" --dns-timeout 200ms --dns-retries 0 >/dev/null 2>&1 && break
  sleep 0.1
done

# run LABEL ARGS...: one batch over the list; prints domains/s and peak RSS.
run() {
  local label=$1; shift
  local start end code=0
  start=$(date +%s%N)
  /usr/bin/time -v -o "$tmp/time" "$BIN" batch -i "$tmp/domains.txt" --resolver "127.0.0.1:$port" "$@" -- dns {} >"$tmp/out.jsonl" 2>"$tmp/err" || code=$?
  end=$(date +%s%N)
  local lines incomplete rss cpu
  lines=$(wc -l <"$tmp/out.jsonl")
  incomplete=$(grep -c '"status":"error"' "$tmp/out.jsonl" || true)
  rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print int($2 / 1024) }' "$tmp/time")
  cpu=$(awk -F: '/User time|System time/ { c += $2 } END { print c }' "$tmp/time")
  # The CPU time is given too: on a shared machine the wall-clock rate is
  # what the others left over, the CPU cost per domain is ours alone.
  awk -v l="$label" -v n="$lines" -v ns=$((end - start)) -v rss="$rss" -v inc="$incomplete" -v code="$code" -v cpu="$cpu" 'BEGIN {
    s = ns / 1e9; printf "%-12s %6d domains in %6.2f s = %6.0f domains/s, peak RSS %3d MB, client CPU %.2f s (%.2f ms/domain) (exit %d, %d incomplete)\n", l, n, s, n / s, rss, cpu, cpu * 1000 / n, code, inc }'
  echo "$(( lines * 1000000000 / (end - start) ))" >"$tmp/rate.$label"
  grep -v '^$' "$tmp/err" | head -3 || true
}

echo "batch -- dns {} over $N synthetic domains served by NSD $(nsd -v 2>&1 | awk 'NR==1 {print $3}') on loopback ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) before; ${rrl})"
run default ${BENCH_PARALLEL:+--parallel "$BENCH_PARALLEL"}
run parallel-1 --parallel 1
awk -v a="$(cat "$tmp/rate.default")" -v b="$(cat "$tmp/rate.parallel-1")" 'BEGIN { if (b > 0) printf "default / --parallel 1: %.1fx\n", a / b }'
