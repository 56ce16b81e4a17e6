#!/usr/bin/env bash
# Tests kill_tree (scripts/lib/common.sh), which scripts/test uses at exit to stop the background
# jobs of a failed run: the processes a job started (cargo, rustc) must stop with it, not only the
# job's subshell. Exits non-zero, naming what is left, when they do not.
set -euo pipefail
# shellcheck source=../../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"

marker="kill-tree-test-$$"
# A background job as scripts/test starts them: a subshell whose command starts its own child,
# which starts a grandchild (cargo → rustc). Each sleeps under a name this test can find.
( bash -c "bash -c 'exec -a $marker-grandchild sleep 300' & exec -a $marker-child sleep 300" ) &

waited=0
until pgrep -f "$marker-grandchild" >/dev/null; do
  ((waited++ < 50)) || { echo "FAIL: the test's processes did not start" >&2; exit 1; }
  sleep 0.1
done

mapfile -t running < <(jobs -p)
kill_tree "${running[@]}"

waited=0
while left="$(pgrep -af "$marker" || true)"; [[ -n "$left" ]]; do
  if ((waited++ > 50)); then
    pkill -f "$marker" || true
    echo "FAIL: kill_tree left these running: $left" >&2
    exit 1
  fi
  sleep 0.1
done
echo "ok    kill_tree stopped a background job's child and grandchild"
