#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt, clang-14 with
# -fsanitize=fuzzer,address,undefined) into BUILD_DIR, runs each once over
# its regression inputs (fuzz/regressions/TARGET: every crash found is kept
# there), then fuzzes it for SECONDS starting from its seed corpus
# (fuzz/corpus/TARGET; new inputs go to BUILD_DIR/corpus, not into the
# repository). A crash fails the run and leaves the input in
# BUILD_DIR/artifacts.
#
# Usage: fuzz/run.sh BUILD_DIR [SECONDS]
#   SECONDS per target, default 10 (the test suite's); longer runs:
#   fuzz/run.sh build/fuzz 600
# Exit 77 (skipped) when clang++-14 or its libFuzzer runtime is missing.
set -euo pipefail
build="$1"
seconds="${2:-10}"
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v clang++-14 >/dev/null ||
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "SKIP: clang-14 and libclang-rt-14-dev are not installed"
  exit 77
fi
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 >"$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log"; exit 1; }
ninja -C "$build" -j2
mkdir -p "$build/artifacts"
targets=(identities filter resource_names config segment_log jwt keys ingest bundle)
for t in "${targets[@]}"; do
  regressions=("$root"/fuzz/regressions/"$t"/*)
  if [ -e "${regressions[0]}" ]; then
    echo "== $t: ${#regressions[@]} regression inputs"
    "$build/${t}_fuzzer" "${regressions[@]}"
  fi
  mkdir -p "$build/corpus/$t"
  echo "== $t: fuzzing for $seconds s"
  rc=0
  "$build/${t}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" "$build/corpus/$t" \
    "$root/fuzz/corpus/$t" >"$build/$t.log" 2>&1 || rc=$?
  grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" \
    "$build/$t.log" || true
  if [ "$rc" -ne 0 ] || ls "$build/artifacts/$t-"* >/dev/null 2>&1; then
    tail -n 40 "$build/$t.log"
    echo "FAIL: $t exited $rc; inputs in $build/artifacts (add them to fuzz/regressions/$t once fixed)"
    exit 1
  fi
done
echo "PASS: ${#targets[@]} targets, $seconds s each"
