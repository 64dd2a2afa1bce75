#!/usr/bin/env bash
# The full test suite on a busy machine (issue 17): RUNS consecutive runs (default 3), each
# beside `stress-ng --cpu 2` and an exec storm (/bin/true in a loop, 200 at a time), from a copy
# of this tree (built first: npm run build && npm run build:native), as root, as CI runs it.
# Stops at the first failing run. Prints one line per run: tests, passes, failures, wall time and
# the 1-minute load average (min/mean/max, sampled every 15 s); logs are kept in the work dir.
# Needs stress-ng (apt-get install stress-ng); not part of `npm test`.
set -u
runs=${RUNS:-3}
command -v stress-ng >/dev/null || { echo "test-under-load: needs stress-ng (apt-get install stress-ng)" >&2; exit 2; }
tree=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pw-under-load-XXXXXX)
echo "test-under-load: logs in $work"
for n in $(seq "$runs"); do
  snap=$work/tree-$n
  mkdir -p "$snap"
  (cd "$tree" && tar --exclude=./.git -cf - .) | tar -xf - -C "$snap"
  stress-ng --cpu 2 --timeout 3600 >/dev/null 2>&1 & stress=$!
  ( while :; do for _ in $(seq 200); do /bin/true; done; sleep 0.05; done ) & storm=$!
  ( while :; do cut -d' ' -f1 /proc/loadavg; sleep 15; done ) > "$work/load-$n.txt" & sampler=$!
  start=$(date +%s)
  (cd "$snap" && PROCWATCH_REQUIRE_NATIVE=1 PROCWATCH_REQUIRE_BPF=1 node scripts/run-tests.mjs) > "$work/run-$n.log" 2>&1
  rc=$?
  end=$(date +%s)
  kill "$stress" "$storm" "$sampler" 2>/dev/null
  wait "$stress" "$storm" "$sampler" 2>/dev/null
  counts=$(grep -E '^ℹ (tests|pass|fail) ' "$work/run-$n.log" | awk '{printf "%s %s ", $2, $3}')
  load=$(awk '{s+=$1; if(min==""||$1<min)min=$1; if($1>max)max=$1} END {if (NR) printf "%.1f / %.1f / %.1f", min, s/NR, max}' "$work/load-$n.txt")
  echo "run $n: rc=$rc ${counts}wall $((end - start)) s, 1-min load min/mean/max $load"
  [ "$rc" -eq 0 ] || exit 1
done
