#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz/ (make fuzz-build) for SECONDS
# each, at nice 10, on a scratch corpus in build/fuzz/corpus/<name> seeded
# from tests/fuzz/corpus/<name>. Any crash, leak, timeout or sanitizer report
# fails the target; its input is kept as build/fuzz/artifacts/<name>-*.
# Prints one line per target and ends 'fuzz: N passed, N failed'.
# Usage: tests/fuzz/run.sh SECONDS [name ...]
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
dir=build/fuzz
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do n=$(basename "$f" _fuzz.cpp); names+=("$n"); done
fi
mkdir -p "$dir/artifacts" "$dir/logs"
passed=0
failed=0
for n in "${names[@]}"; do
  bin="$dir/${n}_fuzz"
  log="$dir/logs/$n.log"
  mkdir -p "$dir/corpus/$n"
  if [ ! -x "$bin" ]; then
    echo "fuzz $n: FAILED ($bin not built: make fuzz-build)"
    failed=$((failed + 1))
    continue
  fi
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    nice -n "${FUZZ_NICE:-10}" "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/$n-" "$dir/corpus/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  if [ $rc -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
    echo "fuzz $n: ok, ${execs:-?} executions in ${seconds}s"
    passed=$((passed + 1))
  else
    echo "fuzz $n: FAILED (exit $rc, ${execs:-?} executions; log $log)"
    grep -E 'ERROR|runtime error|SUMMARY|Test unit written|abort' "$log" | head -n 8 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
