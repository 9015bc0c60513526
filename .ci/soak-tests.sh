#!/usr/bin/env bash
# The whole suite SOAK_RUNS times in a row (default 5) with SOAK_LOAD busy processes in the
# background (default 2: Debian's `stress --cpu N`, or a Python busy loop when stress is missing).
# Run as `tox -e soak-tests` (arguments go to pytest). Any failure in any run fails the soak.
# The suite is started as a background job of this non-interactive shell, as CI harnesses do:
# that is how a test relying on an inherited signal disposition (SIGINT ignored) shows itself.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${SOAK_RUNS:-5}
load=${SOAK_LOAD:-2}
log_dir=${TMPDIR:-/tmp}/tailboard-soak.$$
mkdir -p "$log_dir"

if command -v stress >/dev/null 2>&1; then
  stress --cpu "$load" >/dev/null 2>&1 &
else
  python3 -c "
import multiprocessing as mp
def spin():
    while True: pass
ps = [mp.Process(target=spin, daemon=True) for _ in range($load)]
[p.start() for p in ps]; [p.join() for p in ps]" &
fi
loader=$!
trap 'kill -- "$loader" 2>/dev/null; pkill -P "$loader" 2>/dev/null' EXIT

failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  python -m pytest -q -p no:cacheprovider "${@:-tests}" >"$log_dir/run$i.log" 2>&1 &
  wait $!
  status=$?
  summary=$(tail -n 1 "$log_dir/run$i.log")
  echo "run $i/$runs: exit $status in $(( $(date +%s) - start ))s: $summary"
  grep -E "^(FAILED|ERROR) " "$log_dir/run$i.log" || true
  [ "$status" -ne 0 ] && failed=$((failed + 1))
done
echo "soak: $failed of $runs runs failed under $load busy cores (logs in $log_dir)"
[ "$failed" -eq 0 ]
