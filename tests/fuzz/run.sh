#!/usr/bin/env bash
# Builds the filter engine's libFuzzer harness (tests/fuzz/fuzz_filter.c) with clang, ASan and UBSan,
# outside the CMake build, and runs it for SECONDS (default 30) on the seeds in tests/fuzz/corpus/filter.
# Exit status: 0 if no crash, hang or sanitizer report; non-zero otherwise (the input that did it is kept
# as $FUZZ_DIR/artifacts/filter/crash-*, timeout-* or oom-*; rerun one with: $FUZZ_DIR/fuzz_filter FILE).
# Same layout as run_all.sh (which runs every harness): new inputs go to $FUZZ_DIR/corpus/filter/.
#
#   tests/fuzz/run.sh [SECONDS]
#   FUZZ_DIR   where the harness and the growing corpus go (default: build-fuzz/ in the checkout)
#   FUZZ_ARGS  extra libFuzzer flags, e.g. "-runs=1000000" or "-fork=2"
#
# Needs what tests/deps.sh installs, plus clang with the libFuzzer runtime; when that is missing it is
# installed with apt-get if this runs as root, and otherwise the script says what to install.
set -euo pipefail

secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_DIR:-$root/build-fuzz}
work=$out/corpus/filter
arts=$out/artifacts/filter
mkdir -p "$work" "$arts"

have_fuzzer() {
  command -v clang >/dev/null 2>&1 || return 1
  local t
  t=$(mktemp -d)
  echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' >"$t/t.c"
  clang -fsanitize=fuzzer "$t/t.c" -o "$t/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$t"
  return $rc
}

if ! have_fuzzer; then
  pkgs="clang libclang-rt-14-dev"
  if [ "$(id -u)" -eq 0 ]; then
    echo "run.sh: installing $pkgs"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  else
    echo "run.sh: clang with the libFuzzer runtime is missing; install it with:" >&2
    echo "  sudo apt-get install -y $pkgs" >&2
    exit 2
  fi
  have_fuzzer || { echo "run.sh: clang still cannot link -fsanitize=fuzzer" >&2; exit 2; }
fi

for p in lua5.4 libcjson; do
  pkg-config --exists "$p" || { echo "run.sh: $p is missing; run tests/deps.sh first" >&2; exit 2; }
done

# The engine's sources, as sy_engine builds them, instrumented.
srcs=("$root/src/filter.c" "$root/src/filter_data.c" "$root/src/filter_lib.c" "$root/src/filter_pattern.c"
      "$root/src/buf.c")
# shellcheck disable=SC2046
clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/src" $(pkg-config --cflags lua5.4 libcjson) \
  "$here/fuzz_filter.c" "${srcs[@]}" \
  $(pkg-config --libs lua5.4 libcjson) -lm -o "$out/fuzz_filter"

echo "run.sh: fuzzing the filter engine for ${secs}s (corpus: $work)"
set +e
# shellcheck disable=SC2086
UBSAN_OPTIONS=print_stacktrace=1 "$out/fuzz_filter" \
  -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -timeout=10 -detect_leaks=0 \
  -dict="$here/filter.dict" -artifact_prefix="$arts/" -print_final_stats=1 \
  ${FUZZ_ARGS:-} "$work" "$here/corpus/filter"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "run.sh: the fuzzer found a problem (exit $rc); see the report above and $arts/" >&2
  exit $rc
fi
echo "run.sh: no crash"
