#!/usr/bin/env bash
# make test: unit tests (GoogleTest), then integration tests (real nginx,
# redis-server, supervisord and workers on loopback), then, when clang is
# installed, each fuzz target for TEST_FUZZ_SECONDS (default 5; 0 skips).
# Ends with one line
# 'tests: N passed, N failed'. Exit 1 if anything failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== unit tests"
"$BUILD/bin/unit_tests" --gtest_output="json:$out/unit.json" 2>&1 | tail -n 30
unit_rc=${PIPESTATUS[0]}
read -r u_pass u_fail < <($PYTHON - "$out/unit.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(d["tests"] - d["failures"] - d.get("disabled", 0), d["failures"])
except Exception:
    print(0, 1)
PY
)

echo "== integration tests"
$PYTHON tests/integration/run.py 2>&1 | tee "$out/integration.log"
int_rc=${PIPESTATUS[0]}
line=$(grep -E '^integration: [0-9]+ passed' "$out/integration.log" | tail -n 1)
i_pass=$(echo "$line" | sed -E 's/^integration: ([0-9]+) passed.*/\1/')
i_fail=$(echo "$line" | sed -E 's/^integration: [0-9]+ passed, ([0-9]+) failed.*/\1/')
[ -n "$i_pass" ] || { i_pass=0; i_fail=1; }

f_pass=0
f_fail=0
if [ "${TEST_FUZZ_SECONDS:-5}" != 0 ] && command -v "${FUZZ_CXX:-clang++-14}" >/dev/null; then
  echo "== fuzz targets (${TEST_FUZZ_SECONDS:-5} s each)"
  if make --no-print-directory -j"${JOBS:-2}" fuzz-build >"$out/fuzz-build.log" 2>&1; then
    bash tests/fuzz/run.sh "${TEST_FUZZ_SECONDS:-5}" | tee "$out/fuzz.log"
    f_pass=""
    read -r f_pass f_fail < <(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed/\1 \2/p' "$out/fuzz.log")
    [ -n "${f_pass:-}" ] || { f_pass=0; f_fail=1; }
  else
    tail -n 20 "$out/fuzz-build.log"
    f_fail=1
  fi
fi

passed=$((u_pass + i_pass + f_pass))
failed=$((u_fail + i_fail + f_fail))
[ "$unit_rc" -ne 0 ] && [ "$u_fail" -eq 0 ] && failed=$((failed + 1))
[ "$int_rc" -ne 0 ] && [ "$i_fail" -eq 0 ] && failed=$((failed + 1))
echo "unit: $u_pass passed, $u_fail failed"
echo "fuzz: $f_pass passed, $f_fail failed"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
