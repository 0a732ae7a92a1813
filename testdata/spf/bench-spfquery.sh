#!/bin/sh
# Compare mailprobe's SPF evaluation with libspf2's spfquery
# (apt-get install -y spfquery) on the same zone data, for agreement and
# speed. spfquery asks the resolver of /etc/resolv.conf on port 53, so the
# comparison runs in private mount and network namespaces (unshare -mn,
# needs root): the loopback test DNS server listens on 127.0.0.1:53 there,
# and a private resolv.conf points at it. Nothing outside changes.
#
#   sh testdata/spf/bench-spfquery.sh [RUNS]      (from the repository root)
set -eu
RUNS=${1:-200}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v spfquery >/dev/null || { echo "spfquery is not installed (apt-get install -y spfquery)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$ROOT" && go build -o "$TMP/mailprobe" ./cmd/mailprobe && go test -c -o "$TMP/dnstest.test" ./internal/dnstest)
cat > "$TMP/inner.sh" <<'EOF'
set -eu
TMP=$1 ROOT=$2 RUNS=$3
ip link set lo up
echo "nameserver 127.0.0.1" > "$TMP/resolv.conf"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf
DNSTEST_SERVE="$ROOT/testdata/dns/dnsauth.zone" DNSTEST_ADDR=127.0.0.1:53 DNSTEST_ADDR_FILE="$TMP/addr" \
  "$TMP/dnstest.test" -test.run TestServe -test.timeout 0 >/dev/null 2>&1 &
SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
i=0; while [ ! -s "$TMP/addr" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

# ip sender: one line per case, results compared.
cat > "$TMP/cases" <<'CASES'
198.51.100.7 a@good.test
192.0.2.10 a@good.test
2001:db8::10 a@good.test
203.0.113.1 a@good.test
192.0.2.99 x@redirect.spf.test
203.0.113.1 x@neutral.spf.test
203.0.113.1 x@noall.spf.test
203.0.113.1 x@plusall.spf.test
203.0.113.1 x@missing.spf.test
203.0.113.1 x@multi.spf.test
203.0.113.1 x@syntax.spf.test
203.0.113.1 x@over.spf.test
203.0.113.1 x@nine.spf.test
203.0.113.1 x@void.spf.test
203.0.113.1 x@onevoid.spf.test
203.0.113.1 x@missinc.spf.test
203.0.113.1 x@loop.spf.test
203.0.113.1 x@broken.spf.test
203.0.113.1 x@toomanymx.spf.test
CASES
printf '%-40s %-10s %-10s\n' "case" mailprobe spfquery
agree=0; total=0
while read -r ip sender; do
  dom=${sender#*@}
  mp=$("$TMP/mailprobe" spf "$dom" --ip "$ip" --sender "$sender" --resolver 127.0.0.1:53 --format json 2>/dev/null \
        | sed -n 's/.*"spf\.result\.\([a-z]*\)".*/\1/p' | head -1)
  # spfquery prints an error block (StartError ... EndError) before the
  # result line when something went wrong, and "(invalid)" for a record
  # it cannot compile, which is RFC 7208's permerror.
  sq=$(spfquery -ip "$ip" -sender "$sender" -helo mail.example 2>/dev/null \
        | grep -E '^(pass|fail|softfail|neutral|none|permerror|temperror|error|unknown|\(invalid\))$' | head -1 \
        | sed 's/^(invalid)$/permerror/' || true)
  total=$((total+1)); [ "$mp" = "$sq" ] && agree=$((agree+1))
  printf '%-40s %-10s %-10s\n' "$ip $sender" "$mp" "$sq"
done < "$TMP/cases"
echo "agreement: $agree of $total. Expected differences: libspf2 1.2.10 (2012) predates RFC 7208 and"
echo "applies neither the void-lookup limit nor the 10-lookup limit across includes; the RFC 7208"
echo "suite's void-over-limit and include-over-limit cases require permerror for void/over.spf.test."

# Speed: one process per evaluation, as a mail server's policy daemon
# would not be, but as a user runs either tool.
t0=$(date +%s%N)
n=0; while [ $n -lt "$RUNS" ]; do "$TMP/mailprobe" spf good.test --ip 198.51.100.7 --resolver 127.0.0.1:53 --format json >/dev/null || true; n=$((n+1)); done
t1=$(date +%s%N)
n=0; while [ $n -lt "$RUNS" ]; do spfquery -ip 198.51.100.7 -sender a@good.test -helo mail.example >/dev/null || true; n=$((n+1)); done
t2=$(date +%s%N)
# spfquery's batch mode: many queries in one process.
n=0; : > "$TMP/batch"; while [ $n -lt "$RUNS" ]; do echo "198.51.100.7 a@good.test mail.example" >> "$TMP/batch"; n=$((n+1)); done
t3=$(date +%s%N); spfquery -file "$TMP/batch" >/dev/null 2>&1 || true; t4=$(date +%s%N)
echo "mailprobe spf --ip (record check + check_host), per process: $(( (t1-t0)/RUNS/1000 )) us"
echo "spfquery (check_host only), per process:                   $(( (t2-t1)/RUNS/1000 )) us"
echo "spfquery -file, per query in one process:                  $(( (t4-t3)/RUNS/1000 )) us"
EOF
unshare -mn sh "$TMP/inner.sh" "$TMP" "$ROOT" "$RUNS"
