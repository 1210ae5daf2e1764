#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds twice (plain, and with AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs every unit and integration test with ctest on each build.
# Then a short smoke run of every fuzz harness and of the benchmark harness (they must still run;
# nothing there asserts on speed).
# Usage: bash tests/run.sh [--quick]   (--quick: the plain build and its tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--quick" ]; then bash tests/deps.sh --test; else bash tests/deps.sh --test --fuzz; fi
jobs=$(nproc)

run_build() {   # name, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

echo "== build and test"
run_build build
if [ "${1:-}" != "--quick" ]; then
  echo "== build and test with AddressSanitizer + UndefinedBehaviorSanitizer"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_build build-asan -DSWITCHYARD_SANITIZE=ON
  echo "== fuzz smoke run (5 s per harness)"
  bash tests/fuzz/run_all.sh 5
  echo "== benchmark smoke run (checks that every scenario still runs; no speed is asserted)"
  bash bench/run.sh --quick
fi
