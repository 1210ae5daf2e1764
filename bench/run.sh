#!/usr/bin/env bash
# bench/run.sh [--quick] [--rounds N] [--only 1,2,3,4,5]
# Builds the hub and the bench programs (build-bench/, or $SY_BENCH_BUILD), installs BullMQ into
# bench/bullmq/ (full runs), then runs every scenario against a private redis-server, hub, workers
# and receiver on 127.0.0.1 (free ports, a temp dir, no persistence) and prints one table: each
# figure, its ceiling measured in the same run, and the ratio (medians of interleaved rounds).
# A full run also rewrites the table in bench/RESULTS.md. --quick is a smoke run of a few seconds
# per scenario that only checks that everything still runs: it exits 0 whatever the speed, and 1
# only if a scenario could not run. Every process started here is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
for a in "$@"; do [ "$a" = "--quick" ] && quick=1; done
build=${SY_BENCH_BUILD:-$root/build-bench}

# what the build and the run need (a no-op when everything is installed)
for tool in cmake cc pkg-config redis-server redis-cli python3; do
  command -v "$tool" >/dev/null || { bash tests/deps.sh; break; }
done

echo "building in $build ..."
mkdir -p "$build"
build_step() {   # quietly, into build.log; on failure show its end
  if ! "$@" >>"$build/build.log" 2>&1; then
    tail -30 "$build/build.log"
    echo "bench: build step failed: $* (log: $build/build.log)"
    exit 1
  fi
}
: >"$build/build.log"
build_step cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
build_step cmake --build "$build" --target switchyard -j "$(nproc)"
# bench/ as a project of its own (it builds the C SDK from sdk/c): works whether or not the
# top-level CMakeLists.txt has add_subdirectory(bench)
build_step cmake -S bench -B "$build/bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo
build_step cmake --build "$build/bench" -j "$(nproc)" --target sy_bench_loadgen sy_bench_bare_server \
  sy_bench_receiver sy_bench_curl_ceiling sy_bench_seed

# BullMQ (scenario 4): npm ci into bench/bullmq/ on full runs; a quick run uses it only if present
bullmq_skip=""
if [ ! -d bench/bullmq/node_modules/bullmq ]; then
  if ! command -v npm >/dev/null; then
    bullmq_skip="npm is not installed"
  elif [ "$quick" = 1 ] && [ -z "${SY_BENCH_NPM:-}" ]; then
    bullmq_skip="not installed (a full run installs it; or SY_BENCH_NPM=1)"
  elif ! (cd bench/bullmq && timeout 300 npm ci --no-audit --no-fund >"$build/npm.log" 2>&1); then
    bullmq_skip="npm ci failed: $(grep -m1 -i 'err' "$build/npm.log" || tail -1 "$build/npm.log")"
    echo "bench: $bullmq_skip (log: $build/npm.log)"
  fi
fi

pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true   # bench.py stops every process it started, by PID
    wait "$pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

args=(--bin "$build/switchyard" --bench-bin "$build/bench" --results "$root/bench/RESULTS.md")
[ -n "$bullmq_skip" ] && args+=(--bullmq-skip "$bullmq_skip")
python3 -u bench/bench.py "${args[@]}" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=""
exit "$rc"
