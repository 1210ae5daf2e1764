#!/usr/bin/env bash
# Builds every libFuzzer harness in tests/fuzz (fuzz_*.c: each links the engine sources it fuzzes)
# into build-fuzz/ with clang -fsanitize=fuzzer,address,undefined, then runs each for SECONDS_EACH
# seconds from its seed corpus tests/fuzz/corpus/<name>/ (new inputs go to build-fuzz/corpus/<name>/,
# crashes to build-fuzz/artifacts/<name>/). Exits non-zero if any harness fails to build or crashes.
#
# The filter harness (fuzz_filter.c) is built and run by its own tests/fuzz/run.sh, called from here.
#
# Usage: bash tests/fuzz/run_all.sh [SECONDS_EACH] [NAME ...]
#   SECONDS_EACH  run time per harness (default 20); 0 only builds and replays the seed corpora
#   NAME          run only these harnesses (e.g. topic jwt); default: all of them
# Needs clang and libclang-rt-14-dev (Debian 12: apt-get install clang libclang-rt-14-dev), plus the
# project's build dependencies (cJSON, Lua 5.4, OpenSSL). A binary is rebuilt only when a source is
# newer, so two runs may share build-fuzz/ once it is built.
# Reproduce a crash: build-fuzz/fuzz_<name> build-fuzz/artifacts/<name>/crash-...
{ # the whole script is one block, read before it runs: editing the file mid-run cannot break a run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=${1:-20}
shift || true
OUT=$ROOT/build-fuzz
CC=${CC:-clang}

if ! command -v "$CC" >/dev/null; then
  echo "run_all: $CC not found; install it with: apt-get install clang libclang-rt-14-dev" >&2
  exit 2
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' |
    "$CC" -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "run_all: $CC cannot link -fsanitize=fuzzer; apt-get install libclang-rt-14-dev" >&2
  exit 2
fi

# Longest input per harness, bytes: room for the interesting cases, small enough to stay fast.
max_len() {
  case $1 in
    publish) echo 8192 ;;     # request bodies: nesting past the 64-level limit, long strings
    jwt) echo 4096 ;;         # tokens, and claims payloads to sign
    topic) echo 2048 ;;       # several 255-byte patterns and a topic
    deliver) echo 4096 ;;     # a URL template and event data
    seed) echo 8192 ;;        # a few subscriber entries
    filter) echo 4096 ;;
    *) echo 4096 ;;
  esac
}

# Dictionaries: the tokens each input format is built from, so the fuzzer finds structure sooner.
write_dicts() {
  mkdir -p "$OUT/dict"
  cat > "$OUT/dict/json.dict" <<'DICT'
"{"
"}"
"["
"]"
":"
","
"\""
"null"
"true"
"false"
"1e400"
"-0"
"\\u0000"
"\\ud800"
"\\u00e9"
"\xc3\xa9"
"\xed\xa0\x80"
"\xff"
"\"topic\""
"\"data\""
"\"id\""
"\"deliver_at\""
"\"ttl\""
"\"Topic\""
"\"Payload\""
"\"2026-01-02T03:04:05Z\""
"\"orders.created\""
"\"name\""
"\"filter\""
"\"target_url\""
"\"method\""
"\"headers\""
"\"envelope\""
"\"success_codes\""
"\"discard_codes\""
"\"max_attempts\""
"\"retry_delays_ms\""
"\"timeout_ms\""
"\"rate_limit_per_s\""
"\"max_in_flight\""
"\"enabled\""
"\"secret\""
"\"http://h/\""
"\"orders.*\""
"\"#\""
"\"data.body.total > 100\""
DICT
  cat > "$OUT/dict/jwt.dict" <<'DICT'
"."
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
"eyJhbGciOiJub25lIn0"
"eyJhbGciOiJIUzUxMiJ9"
"eyJhbGciOiJSUzI1NiJ9"
"="
"-"
"_"
"{\"alg\":\"HS256\"}"
"\"exp\":"
"\"nbf\":"
"\"sub\":"
"\"topics\":"
"\"crit\":"
"[\"orders.*\"]"
"1e400"
"Bearer "
"bearer "
"Basic "
DICT
  cat > "$OUT/dict/topic.dict" <<'DICT'
"."
"*"
"#"
"\x0a"
".#"
".*"
"#."
"*."
"a"
"ab"
":"
"-"
"_"
DICT
  cat > "$OUT/dict/deliver.dict" <<'DICT'
"http://"
"https://"
"http://u:p@h:8080/"
":id"
"{id}"
"?"
"#"
"&"
"%"
"\x0a"
"{\"path_params\":{\"id\":"
"\"query_params\":"
"\"headers\":"
"\"http_method\":"
"\"body\":"
"\"\\r\\n\""
"\"\\u0000\""
"\"a b\""
"\"webhook-id\""
"\"content-length\""
"\"x-a\""
DICT
}

# The engine modules (no I/O) as CMakeLists.txt lists them for sy_engine, so a module added there is
# linked here too.
mapfile -t ENGINE_SRCS < <(sed -n '/add_library(sy_engine/,/)/p' "$ROOT/CMakeLists.txt" |
  grep -o 'src/[A-Za-z0-9_]*\.c' | sed 's|src/||; s|\.c$||')
[ ${#ENGINE_SRCS[@]} -gt 0 ] || { echo "run_all: no sy_engine sources in CMakeLists.txt" >&2; exit 2; }
PKGS="libcjson lua5.4 libcrypto"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 $SAN -D_GNU_SOURCE -DSWITCHYARD_VERSION=\"fuzz\" -std=gnu11 -Wall -Wextra -Werror \
 -I$ROOT/src $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm"

newer_than() {   # target, sources...: 0 if target is missing or older than a source
  local t=$1; shift
  [ -e "$t" ] || return 0
  for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
  return 1
}

build() {
  mkdir -p "$OUT/obj"
  local objs=()
  rm -f "$OUT"/obj/*.tmp.*
  for m in "${ENGINE_SRCS[@]}"; do
    local src=$ROOT/src/$m.c obj=$OUT/obj/$m.o
    objs+=("$obj")
    if newer_than "$obj" "$src" "$ROOT"/src/*.h; then
      # shellcheck disable=SC2086
      "$CC" $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj.tmp.$$" && mv "$obj.tmp.$$" "$obj"
    fi
  done
  local failed=0
  for h in "${HARNESSES[@]}"; do
    delegated "$h" && continue
    local src=$ROOT/tests/fuzz/fuzz_$h.c bin=$OUT/fuzz_$h
    if newer_than "$bin" "$src" "${objs[@]}"; then
      echo "== build fuzz_$h"
      # shellcheck disable=SC2086
      if ! "$CC" $CFLAGS -fsanitize=fuzzer "$src" "${objs[@]}" $LIBS -o "$bin.tmp.$$"; then
        echo "run_all: fuzz_$h does not build" >&2
        failed=1
        continue
      fi
      mv "$bin.tmp.$$" "$bin"
    fi
  done
  return $failed
}

# The filter engine's harness has its own script (tests/fuzz/run.sh), which builds and runs it with
# its flags and dictionary; run_all.sh calls it rather than building fuzz_filter a second way.
delegated() { [ "$1" = filter ] && [ -f "$ROOT/tests/fuzz/run.sh" ]; }

HARNESSES=()
if [ $# -gt 0 ]; then
  HARNESSES=("$@")
else
  for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    HARNESSES+=("${n#fuzz_}")
  done
fi

write_dicts
status=0
build || status=1

summary=()
for h in "${HARNESSES[@]}"; do
  bin=$OUT/fuzz_$h
  delegated "$h" || [ -x "$bin" ] || { summary+=("fuzz_$h: NOT BUILT"); status=1; continue; }
  seeds=$ROOT/tests/fuzz/corpus/$h
  work=$OUT/corpus/$h
  arts=$OUT/artifacts/$h
  mkdir -p "$work" "$arts"
  [ -d "$seeds" ] || seeds=$work     # a harness without seeds starts from an empty corpus
  dict=()
  case $h in
    publish|seed) dict=(-dict="$OUT/dict/json.dict") ;;
    jwt|topic|deliver) dict=(-dict="$OUT/dict/$h.dict") ;;
  esac
  log=$OUT/fuzz_$h.log
  echo "== fuzz_$h for ${SECS}s$(delegated "$h" && echo " (tests/fuzz/run.sh)" || echo " (max_len $(max_len "$h"))")"
  if [ "$SECS" = 0 ]; then
    args=(-runs=0)
  else
    args=(-max_total_time="$SECS")
  fi
  set +e
  if delegated "$h"; then
    FUZZ_DIR=$OUT FUZZ_ARGS="$([ "$SECS" = 0 ] && echo -runs=0)" \
      bash "$ROOT/tests/fuzz/run.sh" "$SECS" >"$log" 2>&1
  else
    ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$bin" "${args[@]}" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$arts/" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1
  fi
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  # a crash ends the run before the final stats: take the last progress line's count instead
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ $rc -ne 0 ]; then
    status=1
    summary+=("fuzz_$h: FAILED (exit $rc) after ${execs:-?} runs, $cov; see $log and $arts/")
    grep -E 'ERROR:|runtime error|invariant failed|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
  else
    summary+=("fuzz_$h: ok, ${execs:-?} runs in ${SECS}s, $cov")
  fi
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $status
}
