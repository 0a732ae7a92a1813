#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each.
#
#   scripts/fuzz.sh                 FUZZTIME=15s per target (default)
#   FUZZTIME=10s scripts/fuzz.sh    what CI runs
#   FUZZ_SAVE=1 scripts/fuzz.sh     also copy the corpus the fuzzer grew into
#                                   each package's testdata/fuzz/<Target>/, so
#                                   the next run (and `go test`) starts from it
#   scripts/fuzz.sh FuzzReadReply   only the targets whose name matches
#
# Minimization of a new input is capped (FUZZMINTIME, 5s): unbounded, it
# stalled FuzzAnalyze for minutes on large messages. A crash fails the run
# and leaves the reproducer in testdata/fuzz/<Target>/, as go test does.
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-15s}"
FUZZMINTIME="${FUZZMINTIME:-5s}"
FUZZ_SAVE="${FUZZ_SAVE:-0}"
# Most inputs a saved corpus keeps per target: enough to start from the
# coverage found so far, small enough to review in a diff.
FUZZ_SAVE_MAX="${FUZZ_SAVE_MAX:-64}"
filter="${1:-}"

cache="$($GO env GOCACHE)/fuzz"
module="$($GO list -m)"
n=0
t0=$SECONDS
while IFS= read -r file; do
	dir="$(dirname "$file")"
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		[[ -z "$filter" || "$fn" == *"$filter"* ]] || continue
		echo "== ./$dir $fn ($FUZZTIME)"
		out="$(mktemp)"
		if ! $GO test -run='^$' -fuzz="^${fn}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime="$FUZZMINTIME" "./$dir" 2>&1 | tee "$out"; then
			# The fuzzing engine itself sometimes ends with "context
			# deadline exceeded" when -fuzztime runs out while it is busy
			# with a new input (no crash, no input written). That is the
			# tool's deadline, not a finding: say so and go on. A real
			# failure writes its input to testdata/fuzz and fails here.
			if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
				echo "   $fn: the fuzzing engine stopped at its deadline (no failing input): not a failure"
			else
				rm -f "$out"
				exit 1
			fi
		fi
		rm -f "$out"
		n=$((n + 1))
		if [[ "$FUZZ_SAVE" == 1 ]]; then
			src="$cache/$module/$dir/$fn"
			dst="$dir/testdata/fuzz/$fn"
			if [[ -d "$src" ]]; then
				mkdir -p "$dst"
				# Smallest first: they are the most readable and the cheapest to replay.
				# (awk, not head: head's early exit would SIGPIPE the pipeline.)
				find "$src" -type f -printf '%s %p\n' | sort -n | awk -v max="$FUZZ_SAVE_MAX" 'NR <= max' |
					while read -r _ f; do cp -n "$f" "$dst/"; done
				echo "   saved $(find "$dst" -type f | wc -l) inputs in $dst"
			fi
		fi
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz' pkg internal | sort)
echo "fuzz: $n targets, ${FUZZTIME} each, $((SECONDS - t0))s"
