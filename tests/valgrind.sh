#!/usr/bin/env bash
# Runs a quick subset of the integration suite with every switchyard process (hub, worker, CLI) under
# valgrind memcheck, then reads the valgrind logs: any memory error, or any definitely or indirectly
# lost block, fails the run. The suite's own result counts too.
#
# Usage: bash tests/valgrind.sh [TEST_MODULE ...]
#   default modules: test_delivery test_publish_api test_admin_api test_retry
#   SWITCHYARD_BIN=path  test this binary (built without sanitizers) instead of building
#                        build-valgrind/ (RelWithDebInfo, plain)
#   VALGRIND_KEEP=1      keep the log folder (it is always kept when something is found)
# The harness starts "$SWITCHYARD_BIN"; here that is a wrapper that execs valgrind on the real
# binary with one log file per process (vg-<pid>.log). Processes are 20-50 times slower under
# valgrind; the harness's 15 s readiness wait is enough for the hub and the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v valgrind >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y valgrind >/dev/null
  else
    echo "valgrind: not installed (apt-get install valgrind)" >&2
    exit 2
  fi
fi

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  REAL=$(readlink -f "$SWITCHYARD_BIN")
else
  echo "== build build-valgrind (RelWithDebInfo, no sanitizers: valgrind and ASan do not mix)"
  cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWITCHYARD_SANITIZE=OFF >/dev/null
  cmake --build build-valgrind -j"$(nproc)" --target switchyard >/dev/null
  REAL=$ROOT/build-valgrind/switchyard
fi
[ -x "$REAL" ] || { echo "valgrind: no binary at $REAL" >&2; exit 2; }

MODULES=("$@")
[ ${#MODULES[@]} -gt 0 ] || MODULES=(test_delivery test_publish_api test_admin_api test_retry)

LOGS=$(mktemp -d /tmp/sy-valgrind.XXXXXX)
WRAPPER=$LOGS/switchyard
cat > "$WRAPPER" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \\
  --num-callers=30 --child-silent-after-fork=yes --log-file=$LOGS/vg-%p.log "$REAL" "\$@"
WRAP
chmod +x "$WRAPPER"

echo "== ${MODULES[*]} under valgrind (logs in $LOGS)"
set +e
(cd tests/integration && SWITCHYARD_BIN=$WRAPPER PYTHONDONTWRITEBYTECODE=1 \
  python3 -m unittest "${MODULES[@]}" 2>&1) | tee "$LOGS/unittest.out" | grep -E '^(Ran|OK|FAILED|FAIL:|ERROR:)'
suite=${PIPESTATUS[0]}
set -e

# Each process's verdict, from the summary valgrind prints at its exit.
bad=0
incomplete=0
nlogs=0
for log in "$LOGS"/vg-*.log; do
  [ -e "$log" ] || continue
  nlogs=$((nlogs + 1))
  what=$(grep -m1 -o 'Command: .*' "$log" | sed 's|Command: [^ ]*switchyard|switchyard|')
  if ! grep -q 'ERROR SUMMARY:' "$log"; then
    incomplete=$((incomplete + 1))    # killed (SIGKILL) before valgrind could report
    continue
  fi
  errors=$(grep -o 'ERROR SUMMARY: [0-9,]*' "$log" | tail -1 | grep -o '[0-9,]*$' | tr -d ,)
  definite=$(grep -o 'definitely lost: [0-9,]* bytes' "$log" | tail -1 | grep -o '[0-9,]* bytes' | tr -d ', bytes' || true)
  indirect=$(grep -o 'indirectly lost: [0-9,]* bytes' "$log" | tail -1 | grep -o '[0-9,]* bytes' | tr -d ', bytes' || true)
  if [ "${errors:-0}" != 0 ] || [ "${definite:-0}" != 0 ] || [ "${indirect:-0}" != 0 ]; then
    bad=$((bad + 1))
    echo "---- $(basename "$log"): $what: ${errors:-0} errors, definitely lost ${definite:-0} B, indirectly lost ${indirect:-0} B"
    # the first reports, with their stacks
    awk '/^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination|Argument)|are definitely lost|are indirectly lost/{p=1; n=0}
         p{print; if (/^==[0-9]+== $/ && ++n >= 1) {p=0; shown++}} shown>=5{exit}' "$log"
  fi
done

echo "== valgrind summary"
echo "processes checked: $nlogs; with errors or leaks: $bad; without a final report (killed): $incomplete"
echo "integration suite under valgrind: $([ "$suite" = 0 ] && echo passed || echo "FAILED (exit $suite, see $LOGS/unittest.out)")"
if [ "$bad" = 0 ] && [ "$suite" = 0 ] && [ "$nlogs" -gt 0 ]; then
  [ -n "${VALGRIND_KEEP:-}" ] || rm -rf "$LOGS"
  echo "valgrind: clean"
  exit 0
fi
[ "$nlogs" -gt 0 ] || echo "valgrind: no valgrind logs were written: did the suite start any process?"
echo "valgrind: problems found; logs kept in $LOGS"
exit 1
